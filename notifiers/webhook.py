"""POST each alert as JSON to a URL of the operator's (``kind: webhook``). [IO]

The body (schema ``quality-monitor.alert/1``, documented in docs/channels.md) is
built by :func:`alert_payload` and :func:`digest_payload`, pure functions.
When the channel has a ``secret``, each request carries::

    X-Quality-Monitor-Timestamp: 1726023723
    X-Quality-Monitor-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">

so the receiver can check that the body came from us and is fresh (signing
the timestamp with the body stops a captured request from being replayed
later). :func:`signature` computes it; :func:`verify` checks it.

Answers are sorted once, here: 2xx is delivered; 429 (with its
``Retry-After``), 408, 5xx and network errors are worth another try (the
delivery loop retries with backoff); any other answer is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, TypedDict
from urllib.parse import urlsplit

import httpx
from pydantic import BeforeValidator, Field, SecretStr, model_validator

from monitor import __version__
from monitor.config.channels import ChannelBase
from monitor.config.values import Duration, HttpUrl, parse_duration
from monitor.errors import DeliveryError
from monitor.model import CATEGORY_LABELS_ZH, Alert, Story
from notifiers.base import Digest, register
from notifiers.redact import protect, redact_url
from notifiers.render import DigestPart, province_label_zh

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from notifiers.builtin import Shared

__all__ = [
    "SCHEMA",
    "AlertPayload",
    "DigestPayload",
    "MentionPayload",
    "StoryPayload",
    "WebhookNotifier",
    "alert_payload",
    "digest_payload",
    "signature",
    "story_payload",
    "verify",
]

SCHEMA = "quality-monitor.alert/1"
SIGNATURE_HEADER = "X-Quality-Monitor-Signature"
TIMESTAMP_HEADER = "X-Quality-Monitor-Timestamp"
EVENT_HEADER = "X-Quality-Monitor-Event"
DELIVERY_HEADER = "X-Quality-Monitor-Delivery"
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class MentionPayload(TypedDict):
    source: str
    url: str
    language: str


class StoryPayload(TypedDict):
    id: int
    title: str
    url: str
    summary: str
    province: str | None
    province_name: str | None
    category: str
    category_name: str
    language: str
    source: str
    published: str | None
    first_seen: str | None
    score: float
    also: list[MentionPayload]


class AlertPayload(TypedDict):
    """The body of a ``story.new`` or ``story.updated`` request."""

    schema: str
    event: str
    channel: str
    delivery: str
    sent_at: str | None
    story: StoryPayload


class DigestPayload(TypedDict):
    """The body of a ``digest`` request."""

    schema: str
    event: str
    channel: str
    delivery: str
    sent_at: str | None
    heading: str
    stories: list[StoryPayload]


def story_payload(story: Story) -> StoryPayload:
    """A story as the webhook JSON carries it."""
    return {
        "id": story.id,
        "title": story.title,
        "url": story.url,
        "summary": story.summary,
        "province": story.province,
        "province_name": province_label_zh(story.province),
        "category": story.category,
        "category_name": CATEGORY_LABELS_ZH.get(story.category, story.category),
        "language": story.language,
        "source": story.source_name,
        "published": _iso(story.published),
        "first_seen": _iso(story.first_seen),
        "score": story.score,
        "also": [
            {"source": m.source_name, "url": m.url, "language": m.language} for m in story.also
        ],
    }


def alert_payload(alert: Alert, *, event: str, now: datetime) -> AlertPayload:
    """The body of a ``story.new`` or ``story.updated`` request."""
    return {
        "schema": SCHEMA,
        "event": event,
        "channel": alert.channel_id,
        "delivery": str(alert.outbox_id),
        "sent_at": _iso(now),
        "story": story_payload(alert.story),
    }


def digest_payload(digest: Digest, *, now: datetime) -> DigestPayload:
    """The body of a ``digest`` request: every story of the digest, in one request."""
    first = digest.stories[0].id if digest.stories else 0
    return {
        "schema": SCHEMA,
        "event": "digest",
        "channel": digest.channel_id,
        "delivery": f"digest-{first}-{len(digest.stories)}",
        "sent_at": _iso(now),
        "heading": digest.heading,
        "stories": [story_payload(s) for s in digest.stories],
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or not given:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class WebhookNotifier:
    """POSTs alerts to one URL as JSON, signed when a secret is configured."""

    kind: ClassVar[str] = "webhook"
    supports_edit: ClassVar[bool] = True  # an edit is a "story.updated" request
    min_interval: float = 0.0

    def __init__(
        self,
        *,
        url: str,
        channel_id: str,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        min_interval: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = url
        self.channel_id = channel_id
        self.min_interval = min_interval
        self._secret = secret or None
        self._clock = clock
        parts = urlsplit(url)
        self._where = "webhook POST to " + redact_url(f"{parts.scheme}://{parts.netloc}")
        # A hook URL often carries its key in the path or query: keep it out of logs.
        protect(*(p for p in (parts.path.strip("/"), parts.query) if len(p) >= 16))
        if secret:
            protect(secret)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            headers={
                "User-Agent": f"quality-monitor/{__version__}",
                **dict(headers or {}),
            },
        )

    def __repr__(self) -> str:
        return f"WebhookNotifier({self._where!r}, signed={self._secret is not None})"

    async def __aenter__(self) -> WebhookNotifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def send(self, alert: Alert) -> str:
        """POST a ``story.new`` event; the delivery id (the outbox row) is the message id."""
        await self._post(alert_payload(alert, event="story.new", now=self._clock()))
        return str(alert.outbox_id)

    async def edit(self, alert: Alert) -> None:
        """POST a ``story.updated`` event: same story id, the outlets that joined it."""
        await self._post(alert_payload(alert, event="story.updated", now=self._clock()))

    def render_digest(self, digest: Digest) -> list[DigestPart]:
        """One request with every story: a receiver has no length limit to respect."""
        body = json.dumps(digest_payload(digest, now=self._clock()), ensure_ascii=False)
        return [DigestPart(body, tuple(s.id for s in digest.stories))]

    async def send_digest_part(self, part: DigestPart) -> str:
        payload: DigestPayload = json.loads(part.text)  # render_digest's JSON, read back
        await self._post(payload)
        return str(payload["delivery"])

    async def _post(self, payload: AlertPayload | DigestPayload) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            EVENT_HEADER: payload["event"],
            DELIVERY_HEADER: payload["delivery"],
            TIMESTAMP_HEADER: timestamp,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, timestamp, body)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"{self._where}: timed out ({type(exc).__name__})", permanent=False
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"{self._where}: {type(exc).__name__}: {exc}", permanent=False
            ) from None
        if response.is_success:
            return
        status = response.status_code
        text = " ".join(response.text.split())[:200]
        reason = f"{self._where}: HTTP {status} {response.reason_phrase}" + (
            f": {text}" if text else ""
        )
        if response.is_redirect:
            location = response.headers.get("Location", "?")
            raise DeliveryError(
                f"{reason}; redirected to {location}: update the url", permanent=True
            )
        if status in _RETRYABLE:
            raise DeliveryError(
                reason,
                permanent=False,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        raise DeliveryError(reason, permanent=True)

    async def aclose(self) -> None:
        """Close the HTTP connections (idempotent)."""
        await self._client.aclose()


# ── the kind: its schema in sources.yaml, and its factory ──────────────────


class WebhookChannel(ChannelBase):
    """POST each alert as JSON (schema in docs/channels.md) to a URL of yours."""

    kind: Literal["webhook"]
    url: HttpUrl
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key (${ENV}): signs each body in X-Quality-Monitor-Signature"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    timeout: Duration = Field(10.0, description="connect and read timeout of one request")
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        0.0, ge=0, le=600, description="seconds between two requests"
    )

    @model_validator(mode="after")
    def _empty_secret(self) -> WebhookChannel:
        if self.secret is not None and not self.secret.get_secret_value():
            object.__setattr__(self, "secret", None)  # ${WEBHOOK_SECRET:-} left empty: unsigned
        return self


@register(WebhookChannel)
def _webhook(channel: WebhookChannel, settings: Settings, shared: Shared) -> WebhookNotifier:
    return WebhookNotifier(
        url=channel.url,
        channel_id=channel.id,
        secret=channel.secret.get_secret_value() if channel.secret is not None else None,
        headers=channel.headers,
        timeout=channel.timeout,
        min_interval=channel.pace,
    )
