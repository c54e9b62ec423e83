"""Secrets kept out of what is shown: log records, messages, pages. [logging]

Two means, for two kinds of secret:

- Known secrets. Bot tokens, webhook URLs with keys in them and Apprise URLs
  (a DingTalk ``access_token``) end up in request URLs, which ``httpx`` logs
  at INFO and ``urllib3`` (under Apprise) at DEBUG. Every notifier that holds
  such a secret calls :func:`protect` with it; the filter is process-wide
  because the loggers are, and it only ever learns secrets, never forgets them.
- Secrets written into a URL. A source or webhook URL may carry
  ``user:password@`` or ``?apikey=…``; whoever reads ``/sources``, ``/status``,
  the dashboard, ``check`` or a log line must not learn them. :func:`redact_url`
  is the one function that shows a URL, or a text containing URLs (an error
  message): the userinfo and the values of secret-looking query parameters
  become ``***``. It is a pure string function, cheap enough to apply to every
  log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["REDACTED", "protect", "redact", "redact_url"]

REDACTED = "<token>"
HIDDEN = "***"  # what stands for a secret part of a URL

# Loggers that write request URLs: httpx at INFO for every request ("HTTP
# Request: POST https://api.telegram.org/bot<token>/sendMessage"), PTB's Bot and
# ExtBot at DEBUG when built ("Set Bot API URL: ..."), PTB's Updater and
# Application about polling, urllib3 (Apprise's requests) at DEBUG.
URL_LOGGERS = (
    "httpx",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.ext.Application",
    "urllib3.connectionpool",
    "apprise",
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret (and its URL-encoded ``:``) replaced by ``<token>``."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED).replace(secret.replace(":", "%3A"), REDACTED)
    return text


# A URL in free text: a scheme, "//", then everything up to a space, a quote or
# an angle bracket (the characters that end a URL in a message or an HTML page).
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
# A query parameter or fragment field "name=value".
_PARAM = re.compile(r"(?P<sep>[?&;#])(?P<name>[^=&;#?]+)=(?P<value>[^&;#]*)")
_SECRET_NAMES = frozenset(
    {"key", "sig", "pass", "pwd", "auth", "code", "session", "sessionid", "jwt", "hash"}
)
_SECRET_ENDINGS = (
    "apikey",
    "appkey",
    "accesskey",
    "secretkey",
    "privatekey",
    "authkey",
    "signkey",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "credentials",
    "auth",
    "authorization",
)


def _secret_name(name: str) -> bool:
    """Whether a query parameter's name says its value is a secret: ``apikey``,
    ``api_key``, ``access_token``, ``X-Amz-Signature``, ``client_secret``, …"""
    lowered = name.lower()
    plain = re.sub(r"[^a-z0-9]", "", lowered)
    return (
        plain in _SECRET_NAMES
        or plain.endswith(_SECRET_ENDINGS)
        or re.search(r"[^a-z0-9]key$", lowered) is not None
    )


def _redact_one(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    # userinfo: everything before the last "@" of the authority
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = HIDDEN + "@" + authority.rpartition("@")[2]

    def param(m: re.Match[str]) -> str:
        if m.group("value") and _secret_name(m.group("name")):
            return f"{m.group('sep')}{m.group('name')}={HIDDEN}"
        return m.group(0)

    return scheme + sep + authority + _PARAM.sub(param, tail)


def redact_url(text: str) -> str:
    """``text`` (a URL, or a message with URLs in it) with each URL's userinfo and
    secret-looking query values replaced by ``***``::

        >>> redact_url("GET https://bob:pw@x.org/feed?apikey=s3&page=2 failed")
        'GET https://***@x.org/feed?apikey=***&page=2 failed'
    """
    if "://" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        core = url.rstrip(".,;:!?)]}")  # punctuation after a URL in a sentence
        return _redact_one(core) + url[len(core) :]

    return _URL.sub(one, text)


class _Redact(logging.Filter):
    """Rewrites log records that contain a known secret."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging system's problem, not ours
            return True
        redacted = redact(message, secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _Redact()


def protect(*secrets: str) -> None:
    """Keep these strings out of the records of every URL-writing logger."""
    found = {s for s in secrets if s and len(s) >= 6}
    if not found:
        return
    _FILTER.secrets = _FILTER.secrets | found
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
