"""Secrets of chat services kept out of log records. [logging]

Bot tokens, webhook URLs with keys in them and Apprise URLs (a DingTalk
``access_token``) end up in request URLs, which ``httpx`` logs at INFO and
``urllib3`` (under Apprise) at DEBUG. Every notifier that holds such a secret
calls :func:`protect` with it; the filter is process-wide because the
loggers are, and it only ever learns secrets, never forgets them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

__all__ = ["REDACTED", "protect", "redact"]

REDACTED = "<token>"

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
