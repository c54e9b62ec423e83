"""Post stories to a Telegram channel through the Bot API (python-telegram-bot).

This is the one place PTB exceptions are caught; they leave as
:class:`monitor.errors.DeliveryError`, sorted by what the delivery loop should
do next:

==============================================  ==========  ===========================
what Telegram answered                          kind        the delivery loop
==============================================  ==========  ===========================
``RetryAfter`` (429)                            transient   waits ``retry_after`` s
``TimedOut``, ``NetworkError`` (5xx, I/O),      transient   backs off, retries
anything else PTB raises
401 Unauthorized, 404 (``InvalidToken``,        channel     holds the channel's alerts,
``EndPointNotFound``): the token is wrong                   reports it failing, retries
``Forbidden`` (403): bot blocked, kicked, not   channel     (same)
a member of the chat
``BadRequest`` naming the chat (chat not        channel     (same)
found, not enough rights, need administrator
rights, write forbidden), ``ChatMigrated``
any other ``BadRequest`` (400): can't parse     permanent   gives the message up
entities, message too long, message to edit                 (visible; ``/resend``)
not found
400 "message is not modified" (edit)            done        nothing to change
==============================================  ==========  ===========================

A *channel* failure is not a property of the message: posting anything else
to that chat would fail the same way, and once someone fixes the token or
the chat every alert can still go out, in order. Only what Telegram will
never accept from any chat is given up.

The bot token is a password: it never appears in ``repr``, in error messages,
or (through a logging filter) in log records of ``httpx`` and PTB, both of
which would otherwise print the request URL ``…/bot<token>/sendMessage``.

PTB's plain ``telegram.Bot`` neither retries nor rate-limits (those live in
``telegram.ext``): retries and the pace of each chat are the delivery loop's
job, the bot-wide rate (about 30 a second) is :class:`TelegramClient`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field

from monitor.config.channels import ChannelBase
from monitor.config.values import parse_duration
from monitor.errors import DeliveryError
from monitor.model import Alert
from notifiers.base import Digest, register
from notifiers.render import DigestPart, render_digest_telegram, render_telegram

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from notifiers.builtin import Shared
    from notifiers.telegram_api import TelegramClient

__all__ = ["TelegramClient", "TelegramNotifier", "check_telegram"]


class TelegramNotifier:
    """Posts alerts to one Telegram chat (a channel ``@name`` or a numeric id).

    Given a ``client``, it shares that bot connection (and its rate limit)
    with the other chats; given a ``token``, it opens its own and closes it
    in :meth:`aclose`.
    """

    kind: ClassVar[str] = "telegram"
    supports_edit: ClassVar[bool] = True
    # Telegram allows about 20 posts a minute to one group or channel.
    min_interval: float = 3.0

    def __init__(
        self,
        *,
        chat: str,
        token: str | None = None,
        client: TelegramClient | None = None,
        api_url: str = "https://api.telegram.org",
        link_preview: bool = False,
        request_timeout: float = 20.0,
        min_interval: float = 3.0,
    ) -> None:
        if client is None:
            if not token:
                raise ValueError("Telegram bot token is empty")
            from notifiers.telegram_api import TelegramClient

            client = TelegramClient(token=token, api_url=api_url, request_timeout=request_timeout)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.chat = chat
        self.api_url = client.api_url
        self.link_preview = link_preview
        self.min_interval = min_interval

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat={self.chat!r}, api_url={self.api_url!r})"

    async def __aenter__(self) -> TelegramNotifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def send(self, alert: Alert) -> str:
        """Post the alert's story; returns Telegram's message_id as a string."""
        return await self.client.send(
            self.chat, render_telegram(alert.story), link_preview=self.link_preview
        )

    async def edit(self, alert: Alert) -> bool:
        """Replace the text of the earlier post ``alert.message_id``; False when
        Telegram says it already reads so (nothing edited)."""
        if alert.message_id is None:
            raise DeliveryError(
                f"telegram editMessageText to {self.chat}: alert {alert.outbox_id} "
                "has no message_id",
                permanent=True,
            )
        try:
            message_id = int(alert.message_id)
        except ValueError:
            raise DeliveryError(
                f"telegram editMessageText to {self.chat}: message_id "
                f"{alert.message_id!r} is not a Telegram message id",
                permanent=True,
            ) from None
        return await self.client.edit(
            self.chat, message_id, render_telegram(alert.story), link_preview=self.link_preview
        )

    def render_digest(self, digest: Digest) -> list[DigestPart]:
        """The digest as Telegram HTML messages of at most 4096 units each."""
        return render_digest_telegram(digest.stories, digest.heading)

    async def send_digest_part(self, part: DigestPart) -> str:
        """Post one message of a digest (no link previews: they would show the first link)."""
        return await self.client.send(self.chat, part.text, link_preview=False)

    async def aclose(self) -> None:
        """Close the HTTP connections if they are this notifier's own (idempotent)."""
        if self._owns_client:
            await self.client.aclose()


async def check_telegram(
    client: TelegramClient, chats: Mapping[str, str], *, timeout: float = 15.0
) -> list[tuple[bool, str]]:
    """Whether the token works (getMe) and the bot may post to each channel's
    chat (getChat, getChatMember): one ``(ok, line)`` each, token first, for
    the log at start and for ``check --fetch``. ``chats``: channel id → chat.
    Never raises: a check that cannot be made is a line that says why."""
    lines: list[tuple[bool, str]] = []
    try:
        bot_id, name = await asyncio.wait_for(client.whoami(), timeout)
    except (DeliveryError, TimeoutError) as exc:
        why = str(exc) or f"no answer within {timeout:g}s"
        if isinstance(exc, DeliveryError) and exc.channel:
            line = f"telegram: the bot token does not work: {why}; check TELEGRAM_BOT_TOKEN"
        else:  # 5xx, 429, the network: nothing is wrong with the configuration
            line = f"telegram: the Bot API did not answer the check: {why}"
        lines.append((False, line))
        return lines
    lines.append((True, f"telegram: token accepted: bot {name}"))
    for channel_id, chat in chats.items():
        try:
            what = await asyncio.wait_for(client.check_chat(chat, bot_id), timeout)
        except (DeliveryError, TimeoutError) as exc:
            lines.append(
                (False, f"channel {channel_id}: cannot post to {chat}: {exc or 'no answer'}")
            )
            continue
        lines.append((True, f"channel {channel_id}: may post to {chat}: {what}"))
    return lines


# ── the kind: its schema in sources.yaml, and its factory ──────────────────


class TelegramChannel(ChannelBase):
    kind: Literal["telegram"]
    chat: str = Field(description='"@channel_name" or a numeric chat id; may be ${ENV}')
    link_preview: bool = False
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        3.0, ge=0, le=600, description="seconds between two posts (Telegram allows ~20 a minute)"
    )


@register(TelegramChannel, inactive="TELEGRAM_BOT_TOKEN or its chat is not set")
def _telegram(
    channel: TelegramChannel, settings: Settings, shared: Shared
) -> TelegramNotifier | None:
    client = shared.telegram()
    if client is None or not channel.chat.strip():
        return None  # not configured here: the channel is inactive, said once at start
    return TelegramNotifier(
        client=client,
        chat=channel.chat.strip(),
        link_preview=channel.link_preview,
        min_interval=channel.pace,
    )


def __getattr__(name: str) -> object:
    """``TelegramClient`` lives in :mod:`notifiers.telegram_api` (with PTB, imported
    at first use); ``from notifiers.telegram import TelegramClient`` still works."""
    if name == "TelegramClient":
        from notifiers.telegram_api import TelegramClient

        return TelegramClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
