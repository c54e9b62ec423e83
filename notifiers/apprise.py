"""WeCom, DingTalk, Feishu, Slack, Discord, e-mail and the rest through Apprise. [IO]

One channel is one Apprise URL (``dingtalk://token/``, ``wecombot://key``,
``feishu://token``, ``slack://…``, ``mailto://…``, ``json://host/path`` …),
usually written ``url: ${DINGTALK_URL}`` so the key stays in the environment.
Apprise speaks to the service; this module renders the story (Markdown or
plain text, within the service's length), and sorts failures once:

* an answer with an HTTP status in Apprise's log (``error=400``) that is not
  408, 425, 429 or 5xx is permanent: the service refused the message (a wrong
  key, a keyword check that fails) and will refuse it again;
* anything else (a connection error, a time-out, 5xx) is worth another try.

Apprise logs the reason of a failure instead of raising it; the reason is
taken from the call's own log capture (``AppriseResult.logs``), so that the
outbox row says what the service answered. Apprise writes URLs in logs with
their keys masked; request URLs that ``urllib3`` logs at DEBUG go through
:func:`notifiers.redact.protect`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr

from monitor.config.channels import ChannelBase
from monitor.config.values import parse_duration
from monitor.errors import DeliveryError
from monitor.model import Alert
from notifiers.base import Digest, register
from notifiers.redact import protect
from notifiers.render import (
    DigestPart,
    apprise_title,
    render_apprise,
    render_digest_markdown,
    render_digest_plain,
)

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from notifiers.builtin import Shared

__all__ = ["AppriseNotifier", "check_url"]

MAX_BODY = 4000  # even where a service takes more, a post this long is not read
_STATUS = re.compile(r"error=(\d{3})\b")
_RETRYABLE = frozenset({408, 425, 429})


def _apprise() -> Any:
    # Apprise's e-mail plugin imports the deprecated ``imghdr`` on Python 3.11-3.12
    # when the plugins are first loaded; that is Apprise's business, not a fault here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        import apprise

        apprise.Apprise().add("json://localhost")  # loads the plugins, once per process
    return apprise


def _secret_parts(url: str) -> list[str]:
    """The pieces of an Apprise URL that may be keys (long path parts, user, query values)."""
    rest = url.split("://", 1)[-1]
    return [p for p in re.split(r"[/:@?&=#,]", rest) if len(p) >= 8]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Apprise logs a URL it cannot read in full, key included; we report it ourselves."""
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_url(url: str) -> str | None:
    """None when Apprise understands ``url``, else why not (for ``check``)."""
    protect(*_secret_parts(url))
    apprise = _apprise()
    with _quiet():
        if apprise.Apprise().add(url):
            return None
    scheme = url.split("://", 1)[0] if "://" in url else url[:12]
    return f"Apprise does not understand the URL (scheme {scheme!r})"


class AppriseNotifier:
    """Posts alerts to one Apprise URL."""

    kind: ClassVar[str] = "apprise"
    supports_edit: ClassVar[bool] = False  # group bots cannot edit a message
    min_interval: float = 3.0

    def __init__(
        self,
        *,
        url: str,
        markdown: bool = True,
        min_interval: float = 3.0,
        timeout: float = 30.0,
    ) -> None:
        protect(*_secret_parts(url))
        apprise = _apprise()
        self._apprise = apprise.Apprise()
        with _quiet():
            added = self._apprise.add(url)
        if not added:
            raise ValueError(check_url(url) or "Apprise does not understand the URL")
        service = self._apprise[0]
        self.service = str(getattr(service, "service_name", None) or type(service).__name__)
        self._where = f"apprise {self.service}"
        self.markdown = markdown
        self._format = apprise.NotifyFormat.MARKDOWN if markdown else apprise.NotifyFormat.TEXT
        self._info = apprise.NotifyType.INFO
        self.max_body = max(200, min(MAX_BODY, int(getattr(service, "body_maxlen", MAX_BODY))))
        title_maxlen = int(getattr(service, "title_maxlen", 250) or 0)
        # WeCom and Feishu have no title: Apprise puts it on the body's first line.
        self.title_in_body = title_maxlen == 0
        self.max_title = title_maxlen or 200
        # The title is Markdown where the service writes it into a Markdown message
        # (DingTalk's "# {title}") or Apprise puts it into the body (Mattermost, WeCom);
        # elsewhere (an e-mail's subject, a JSON field) it is plain text.
        self.title_markdown = markdown and (
            self.title_in_body
            or service.resolve_format(apprise.NotifyFormat.MARKDOWN)
            == apprise.NotifyFormat.MARKDOWN
        )
        self.min_interval = min_interval
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AppriseNotifier({self.service!r})"

    async def send(self, alert: Alert) -> str:
        """Post the story; Apprise gives no message id, so the outbox row's id stands in."""
        title = render_apprise(alert.story, markdown=self.markdown, max_chars=self.max_body)[0]
        title = apprise_title(title, markdown=self.title_markdown, max_chars=self.max_title)
        room = self.max_body - (len(title) + 2 if self.title_in_body else 0)
        body = render_apprise(alert.story, markdown=self.markdown, max_chars=room)[1]
        await self._notify(title, body)
        return f"apprise-{alert.outbox_id}"

    async def edit(self, alert: Alert) -> None:
        """Group bots cannot edit a post; a later outlet is not worth a second post."""

    def render_digest(self, digest: Digest) -> list[DigestPart]:
        """Markdown or plain parts within the service's length (the heading is the title)."""
        if self.markdown:
            return render_digest_markdown(digest.stories, digest.heading, max_chars=self.max_body)
        return render_digest_plain(digest.stories, digest.heading, max_chars=self.max_body)

    async def send_digest_part(self, part: DigestPart) -> str:
        heading, _, body = part.text.partition("\n")
        plain = heading.strip("*").replace("\\", "")  # the heading, without its Markdown
        title = apprise_title(plain, markdown=self.title_markdown, max_chars=self.max_title)
        await self._notify(title, body.strip("\n") or heading)
        return f"apprise-digest-{part.story_ids[0] if part.story_ids else 0}"

    async def _notify(self, title: str, body: str) -> None:
        try:
            result = await self._apprise.async_notify(
                body=body,
                title=title[: self.max_title],
                notify_type=self._info,
                body_format=self._format,
                timeout=self.timeout,
                log_level=logging.INFO,
            )
        except Exception as exc:  # a plugin's own bug: report it, try again later
            raise DeliveryError(
                f"{self._where}: {type(exc).__name__}: {exc}", permanent=False
            ) from None
        try:
            if result:
                return
            messages = [
                entry.message
                for entry in result.logs()
                if str(entry.level).upper() in ("WARNING", "ERROR", "CRITICAL")
            ]
        finally:
            result.close()
        reason = " | ".join(dict.fromkeys(messages)) or f"status {result.status.name}"
        statuses = [int(s) for s in _STATUS.findall(reason)]
        permanent = bool(statuses) and all(s not in _RETRYABLE and s < 500 for s in statuses)
        raise DeliveryError(f"{self._where}: {reason}"[:1000], permanent=permanent)

    async def aclose(self) -> None:
        """Nothing is kept open between posts."""


# ── the kind: its schema in sources.yaml, and its factory ──────────────────


class AppriseChannel(ChannelBase):
    """WeCom, DingTalk, Feishu, Slack, Discord, e-mail … through an Apprise URL."""

    kind: Literal["apprise"]
    url: SecretStr = Field(
        description="an Apprise URL (dingtalk://…, wecombot://…, feishu://…); secret: use ${ENV}"
    )
    format: Literal["markdown", "text"] = Field(
        "markdown", description="what the posts are written in; Apprise converts as needed"
    )
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        3.0, ge=0, le=600, description="seconds between two posts (group bots allow ~20 a minute)"
    )


@register(AppriseChannel, inactive="its url is empty")
def _apprise_channel(
    channel: AppriseChannel, settings: Settings, shared: Shared
) -> AppriseNotifier | None:
    url = channel.url.get_secret_value().strip()
    if not url:
        return None  # ${DINGTALK_URL:-} left empty: inactive, said once at start
    return AppriseNotifier(
        url=url, markdown=channel.format == "markdown", min_interval=channel.pace
    )
