"""The Bot API client of :mod:`notifiers.telegram`, on python-telegram-bot (PTB).

A module of its own so that PTB (a tenth of a second of imports) is imported
only when a client is made, that is when a bot token is set: a configuration
that names a Telegram channel but runs without a token (``run --once`` on a
test machine, ``check``) never loads it.
"""

from __future__ import annotations

import json
import warnings
from contextvars import ContextVar
from datetime import timedelta
from http import HTTPStatus
from typing import Any

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

from monitor.errors import DeliveryError
from notifiers.ratelimit import RateLimiter
from notifiers.redact import protect, redact

__all__ = ["TelegramClient"]

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
