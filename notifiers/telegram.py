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
import json
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field
from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from monitor.config.channels import ChannelBase
from monitor.config.values import parse_duration
from monitor.errors import DeliveryError
from monitor.model import Alert
from notifiers.base import Digest, register
from notifiers.ratelimit import RateLimiter
from notifiers.redact import protect, redact
from notifiers.render import DigestPart, render_digest_telegram, render_telegram

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from notifiers.builtin import Shared

__all__ = ["TelegramClient", "TelegramNotifier", "check_telegram"]

_NOT_MODIFIED = "message is not modified"

# BadRequest descriptions (lower case) that are about the chat, not the
# message: Telegram answers 400, not 403, to a misspelt chat and to a bot
# that may not write there.
_CHAT_UNUSABLE = (
    "chat not found",
    "not enough rights",
    "need administrator rights",
    "have no rights to send",
    "chat_write_forbidden",
    "chat_admin_required",
    "chat_restricted",
    "group chat was upgraded",
    "peer_id_invalid",
)

# What Telegram answered to the failed call in this task: (HTTP status,
# description). PTB keeps only a reworded description ("Bad Request: chat not
# found" becomes "Chat not found"), and none at all for non-JSON error pages.
_FAILURE: ContextVar[tuple[int, str | None] | None] = ContextVar("telegram_failure", default=None)


class _Request(HTTPXRequest):
    """HTTPXRequest that remembers the last error answer, verbatim."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if not 200 <= code <= 299:
            description: str | None = None
            try:
                answer = json.loads(payload)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and isinstance(answer.get("description"), str):
                description = answer["description"]
            # Same task as the Bot call awaiting us, so the caller sees this value.
            _FAILURE.set((code, description))
        return code, payload


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 returns int or timedelta depending on PTB_TIMEDELTA, and warns
    # about the int form; both mean seconds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(str(current))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


class TelegramClient:
    """One bot's connection to the Bot API, shared by every chat it posts to.

    Every send and edit first waits for the bot-wide :class:`RateLimiter`
    (about 30 messages a second over all chats); PTB errors leave as
    :class:`DeliveryError` (the table at the top of this module).
    """

    def __init__(
        self,
        *,
        token: str,
        api_url: str = "https://api.telegram.org",
        request_timeout: float = 20.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not token:
            raise ValueError("Telegram bot token is empty")
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.request_timeout = request_timeout
        self.limiter = limiter or RateLimiter()
        # Before the Bot exists: its constructor already logs the URL.
        protect(token)
        self._request = _Request(
            connection_pool_size=16,
            connect_timeout=request_timeout,
            read_timeout=request_timeout,
            write_timeout=request_timeout,
            pool_timeout=request_timeout,
            media_write_timeout=request_timeout,
        )
        # One request object for both roles: this client never calls
        # getUpdates, and the Bot would otherwise open a second client that
        # nobody closes (Bot.shutdown does nothing unless initialize() ran).
        self.bot = Bot(
            token,
            base_url=f"{self.api_url}/bot",
            base_file_url=f"{self.api_url}/file/bot",
            request=self._request,
            get_updates_request=self._request,
        )

    def __repr__(self) -> str:
        return f"TelegramClient(api_url={self.api_url!r})"

    async def send(self, chat: str | int, text: str, *, link_preview: bool) -> str:
        """Post Telegram HTML to ``chat``; returns the message_id as a string.

        A time-out is reported as not permanent, although Telegram may have
        posted the message: retrying can then post it twice.
        """
        await self.limiter.acquire()
        _FAILURE.set(None)
        try:
            message = await self.bot.send_message(
                chat_id=chat,
                text=text,
                parse_mode=ParseMode.HTML,
                link_preview_options=_preview(link_preview),
            )
        except TelegramError as exc:
            error = self._translate("sendMessage", chat, exc)
            if self._token in _chain_text(exc):
                raise error from None  # the cause would print the token
            raise error from exc
        return str(message.message_id)

    async def edit(
        self, chat: str | int, message_id: int, text: str, *, link_preview: bool
    ) -> bool:
        """Replace the text of message ``message_id`` in ``chat``.

        Returns False when Telegram says "message is not modified" (the post
        already reads so): done, but nothing was edited.
        """
        await self.limiter.acquire()
        _FAILURE.set(None)
        try:
            await self.bot.edit_message_text(
                text=text,
                chat_id=chat,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=_preview(link_preview),
            )
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and _NOT_MODIFIED in self._description(exc).lower():
                return False
            error = self._translate("editMessageText", chat, exc)
            if self._token in _chain_text(exc):
                raise error from None
            raise error from exc
        return True

    # ---------------------------------------------------------------- checks

    async def whoami(self) -> tuple[int, str]:
        """The bot's id and @username (getMe); DeliveryError when the token is refused."""
        _FAILURE.set(None)
        try:
            me = await self.bot.get_me()
        except TelegramError as exc:
            error = self._translate("getMe", "the bot", exc)
            raise error from (None if self._token in _chain_text(exc) else exc)
        return me.id, f"@{me.username}"

    async def check_chat(self, chat: str | int, bot_id: int) -> str:
        """Whether this bot may post to ``chat``: getChat, then getChatMember of
        the bot itself. Returns what the chat is; raises DeliveryError
        (``channel``) saying what is missing when it may not post."""
        _FAILURE.set(None)
        try:
            found = await self.bot.get_chat(chat_id=chat)
            if found.type == "private":
                return f"private chat with {found.full_name or found.id}"
            _FAILURE.set(None)
            member = await self.bot.get_chat_member(chat_id=chat, user_id=bot_id)
        except TelegramError as exc:
            error = self._translate("getChat", chat, exc)
            raise error from (None if self._token in _chain_text(exc) else exc)
        title = f"{found.type} “{found.title or found.id}”"
        status = member.status
        if found.type == "channel":
            allowed = status == "creator" or (
                status == "administrator" and bool(getattr(member, "can_post_messages", False))
            )
            need = "an administrator of the channel allowed to post messages"
        else:
            allowed = status in ("creator", "administrator", "member") or (
                status == "restricted" and bool(getattr(member, "can_send_messages", False))
            )
            need = "a member of the group allowed to send messages"
        if not allowed:
            raise DeliveryError(
                f"telegram getChatMember of {chat}: the bot is {status} in the {title}; "
                f"make it {need}",
                permanent=False,
                channel=True,
            )
        return f"{title}, the bot is {status}"

    async def aclose(self) -> None:
        """Close the HTTP connections (idempotent)."""
        await self.bot.shutdown()
        await self._request.shutdown()

    # ---------------------------------------------------------------- errors

    def _description(self, exc: TelegramError) -> str:
        """Telegram's own words when it sent some, else PTB's, token removed."""
        failure = _FAILURE.get()
        if failure is not None:
            code, description = failure
            if description:
                return redact(description, {self._token})
            if not isinstance(exc, RetryAfter | ChatMigrated):
                try:
                    phrase = HTTPStatus(code).phrase
                except ValueError:
                    phrase = "unknown status"
                return f"HTTP {code} {phrase}"
        return redact(exc.message, {self._token})

    def _translate(self, method: str, chat: str | int, exc: TelegramError) -> DeliveryError:
        where = f"telegram {method} to {chat}"
        if isinstance(exc, RetryAfter):
            seconds = _retry_after_seconds(exc)
            return DeliveryError(
                f"{where}: flood control, retry after {seconds:g}s",
                permanent=False,
                retry_after=seconds,
            )
        if isinstance(exc, ChatMigrated):
            return DeliveryError(
                f"{where}: the group became a supergroup with id {exc.new_chat_id}; "
                "update the chat in the configuration",
                permanent=False,
                channel=True,
            )
        description = self._description(exc)
        # Forbidden (403) and InvalidToken (401/404) concern every post to this
        # chat, or from this bot. BadRequest subclasses NetworkError, so it
        # must be decided on before the transient cases below.
        if isinstance(exc, Forbidden | InvalidToken | EndPointNotFound):
            return DeliveryError(f"{where}: {description}", permanent=False, channel=True)
        if isinstance(exc, BadRequest):
            if any(words in description.lower() for words in _CHAT_UNUSABLE):
                return DeliveryError(f"{where}: {description}", permanent=False, channel=True)
            return DeliveryError(f"{where}: {description}", permanent=True)
        # TimedOut, NetworkError (connection errors and 5xx), Conflict, and a
        # garbled answer ("Invalid server response"): all worth another try.
        return DeliveryError(f"{where}: {description}", permanent=False)


def _preview(link_preview: bool) -> LinkPreviewOptions | None:
    return None if link_preview else LinkPreviewOptions(is_disabled=True)


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
