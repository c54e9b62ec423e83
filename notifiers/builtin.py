"""The built-in notifier kinds, loaded through the same door plug-ins use,
and :class:`Shared`, what the notifiers of one process share.

Each kind is one module (``notifiers/<kind>.py``) that declares its schema
and its factory with :func:`notifiers.base.register`; :data:`BUILTIN` lists
those modules, in the order kinds are named in messages and docs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, TypeVar

from monitor.config.settings import Settings
from notifiers import base
from notifiers.ratelimit import RateLimiter

if TYPE_CHECKING:  # python-telegram-bot is imported when a client is made
    from notifiers.telegram_api import TelegramClient

BUILTIN = ("telegram", "console", "webhook", "apprise")


class Shared:
    """What the notifiers of one process share: one Telegram client (one
    connection pool, one bot-wide rate limit) for every Telegram chat, the
    channels' and the subscribers' alike. Closed once, by its owner."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._telegram: TelegramClient | None = None

    def telegram(self) -> TelegramClient | None:
        """The bot's client, made on first use; None without a token."""
        if self._telegram is None and self.settings.telegram_token is not None:
            from notifiers.telegram_api import TelegramClient

            self._telegram = TelegramClient(
                token=self.settings.telegram_token.get_secret_value(),
                api_url=self.settings.telegram_api_url,
                limiter=RateLimiter(),
            )
        return self._telegram

    async def aclose(self) -> None:
        if self._telegram is not None:
            await self._telegram.aclose()
            self._telegram = None


def load() -> None:
    """Import the built-in kinds (each registers itself), then order the registry
    as :data:`BUILTIN` lists them; other kinds follow in the order they came."""
    for name in BUILTIN:
        importlib.import_module(f"notifiers.{name}")
    rank = {f"notifiers.{name}": i for i, name in enumerate(BUILTIN)}
    order = sorted(base.SCHEMAS, key=lambda k: rank.get(base.SCHEMAS[k].__module__, len(rank)))
    _reorder(base.SCHEMAS, order)
    _reorder(base.NOTIFIERS, order)
    _reorder(base.INACTIVE, order)


V = TypeVar("V")


def _reorder(table: dict[str, V], order: list[str]) -> None:
    items = dict(table)
    table.clear()
    table.update((k, items[k]) for k in order if k in items)


load()
