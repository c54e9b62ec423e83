"""Post stories to a Telegram channel through the Bot API (python-telegram-bot).

This is the one place PTB exceptions are caught; they leave as
:class:`monitor.errors.DeliveryError`:

==========================================  =========  ==========================
PTB exception                               permanent  note
==========================================  =========  ==========================
``RetryAfter`` (429)                        no         ``retry_after`` in seconds
``BadRequest`` (400), ``Forbidden`` (403)   yes        Telegram's description
``InvalidToken`` (401/404), ``ChatMigrated``  yes
``TimedOut``, ``NetworkError`` (5xx, I/O)   no
anything else PTB raises                    no
==========================================  =========  ==========================

The bot token is a password: it never appears in ``repr``, in error messages,
or (through a logging filter) in log records of ``httpx`` and PTB, both of
which would otherwise print the request URL ``…/bot<token>/sendMessage``.

PTB's plain ``telegram.Bot`` neither retries nor rate-limits (those live in
``telegram.ext``); pacing and retries are the dispatcher's job.
"""

from __future__ import annotations

import json
import logging
import warnings
from contextvars import ContextVar
from datetime import timedelta
from http import HTTPStatus
from typing import Any, ClassVar

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
from monitor.model import Alert
from notifiers.render import render_telegram

__all__ = ["TelegramNotifier"]

_REDACTED = "<token>"
_NOT_MODIFIED = "message is not modified"

# Loggers that write the request URL, token included: httpx at INFO for every
# request ("HTTP Request: POST https://api.telegram.org/bot<token>/sendMessage"),
# PTB's Bot and ExtBot at DEBUG when built ("Set Bot API URL: ...").
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot")


def _redact(text: str, tokens: set[str] | frozenset[str]) -> str:
    for token in tokens:
        text = text.replace(token, _REDACTED).replace(token.replace(":", "%3A"), _REDACTED)
    return text


class _RedactTokens(logging.Filter):
    """Rewrites log records that contain a known bot token."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: frozenset[str] = frozenset()

    def add(self, token: str) -> None:
        self.tokens = self.tokens | {token}

    def filter(self, record: logging.LogRecord) -> bool:
        tokens = self.tokens
        if not tokens:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging system's problem, not ours
            return True
        redacted = _redact(message, tokens)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _RedactTokens()


def _protect_logs(token: str) -> None:
    _REDACTOR.add(token)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


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


class TelegramNotifier:
    """Posts alerts to one Telegram chat (a channel ``@name`` or a numeric id)."""

    kind: ClassVar[str] = "telegram"
    supports_edit: ClassVar[bool] = True
    # Telegram allows about 20 posts a minute to one group or channel.
    min_interval: float = 3.0

    def __init__(
        self,
        *,
        token: str,
        chat: str,
        api_url: str = "https://api.telegram.org",
        link_preview: bool = False,
        request_timeout: float = 20.0,
        min_interval: float = 3.0,
    ) -> None:
        if not token:
            raise ValueError("Telegram bot token is empty")
        self._token = token
        self.chat = chat
        self.api_url = api_url.rstrip("/")
        self.link_preview = link_preview
        self.request_timeout = request_timeout
        self.min_interval = min_interval
        # Before the Bot exists: its constructor already logs the URL.
        _protect_logs(token)
        self._request = _Request(
            connection_pool_size=8,
            connect_timeout=request_timeout,
            read_timeout=request_timeout,
            write_timeout=request_timeout,
            pool_timeout=request_timeout,
            media_write_timeout=request_timeout,
        )
        # One request object for both roles: this notifier never calls
        # getUpdates, and the Bot would otherwise open a second client that
        # nobody closes (Bot.shutdown does nothing unless initialize() ran).
        self._bot = Bot(
            token,
            base_url=f"{self.api_url}/bot",
            base_file_url=f"{self.api_url}/file/bot",
            request=self._request,
            get_updates_request=self._request,
        )
        self._preview = None if link_preview else LinkPreviewOptions(is_disabled=True)

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat={self.chat!r}, api_url={self.api_url!r})"

    async def __aenter__(self) -> TelegramNotifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def send(self, alert: Alert) -> str:
        """Post the alert's story; returns Telegram's message_id as a string.

        A time-out is reported as not permanent, although Telegram may have
        posted the message: retrying can then post it twice.
        """
        text = render_telegram(alert.story)
        _FAILURE.set(None)
        try:
            message = await self._bot.send_message(
                chat_id=self.chat,
                text=text,
                parse_mode=ParseMode.HTML,
                link_preview_options=self._preview,
            )
        except TelegramError as exc:
            error = self._translate("sendMessage", exc)
            if self._token in _chain_text(exc):
                raise error from None  # the cause would print the token
            raise error from exc
        return str(message.message_id)

    async def edit(self, alert: Alert) -> None:
        """Replace the text of the earlier post ``alert.message_id``.

        "message is not modified" (same text as before) counts as success.
        """
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
        text = render_telegram(alert.story)
        _FAILURE.set(None)
        try:
            await self._bot.edit_message_text(
                text=text,
                chat_id=self.chat,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=self._preview,
            )
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and _NOT_MODIFIED in self._description(exc).lower():
                return
            error = self._translate("editMessageText", exc)
            if self._token in _chain_text(exc):
                raise error from None
            raise error from exc

    async def aclose(self) -> None:
        """Close the HTTP connections (idempotent)."""
        await self._bot.shutdown()
        await self._request.shutdown()

    # ---------------------------------------------------------------- errors

    def _description(self, exc: TelegramError) -> str:
        """Telegram's own words when it sent some, else PTB's, token removed."""
        failure = _FAILURE.get()
        if failure is not None:
            code, description = failure
            if description:
                return _redact(description, {self._token})
            if not isinstance(exc, RetryAfter | ChatMigrated):
                try:
                    phrase = HTTPStatus(code).phrase
                except ValueError:
                    phrase = "unknown status"
                return f"HTTP {code} {phrase}"
        return _redact(exc.message, {self._token})

    def _translate(self, method: str, exc: TelegramError) -> DeliveryError:
        where = f"telegram {method} to {self.chat}"
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
                permanent=True,
            )
        description = self._description(exc)
        # BadRequest subclasses NetworkError, so it must be decided on first.
        if isinstance(exc, BadRequest | Forbidden | InvalidToken | EndPointNotFound):
            return DeliveryError(f"{where}: {description}", permanent=True)
        # TimedOut, NetworkError (connection errors and 5xx), Conflict, and a
        # garbled answer ("Invalid server response"): all worth another try.
        return DeliveryError(f"{where}: {description}", permanent=False)
