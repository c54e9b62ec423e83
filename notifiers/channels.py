"""The channels the delivery loop sends to, as they change while it runs. [IO]

:class:`Channels` is the mapping the :class:`~notifiers.deliver.Deliverer`
is given. It holds the configured instant channels and, when the bot runs,
one notifier per subscriber's private chat (channel ``chat:<id>``). Its
:meth:`Channels.refresh` runs at the start of every drain:

* subscribers are read back from the database (another replica's bot may
  have added some), and each new story that matches a subscription is queued
  to its chat (:meth:`storage.chats.ChatStore.fan_out`);
* a chat whose user blocked the bot is unsubscribed;
* paused channels (``/pause``) are read back.

Iterating gives the channels to claim rows for *now*: paused ones are left
out, so their posts wait in the outbox. Looking one up works for every
channel it knows, paused or not. :attr:`Channels.known` is every channel whose
rows must be kept (the deliverer lets go of the rest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from notifiers.base import Notifier
from storage.chats import ALL_CHANNELS, ChatStore, chat_channel
from storage.runner import DbRunner
from storage.store import utcnow

if TYPE_CHECKING:
    from notifiers.deliver import Deliverer, DeliveryReport

log = logging.getLogger("monitor.channels")

# Makes the notifier of a subscriber's chat (a TelegramNotifier on the shared client).
ChatNotifier = Callable[[int], Notifier]


class Channels(Mapping[str, Notifier]):
    def __init__(
        self,
        configured: Mapping[str, Notifier],
        *,
        known: set[str],
        chats: ChatStore | None = None,
        db: DbRunner | None = None,
        chat_notifier: ChatNotifier | None = None,
        subscribers: bool = False,
    ) -> None:
        """``configured``: the active instant channels; ``known``: every configured
        channel id (kept up to date with the subscribers' chats); ``chats`` and
        ``db``: where pauses (and subscriptions) are read; ``subscribers``: the
        bot is configured, so subscribers' alerts are queued and kept;
        ``chat_notifier``: how to send to them (None without a token)."""
        self._configured = dict(configured)
        self._chats: dict[str, Notifier] = {}
        self._paused: frozenset[str] = frozenset()
        self.known = known
        self._store = chats
        self._db = db
        self._chat_notifier = chat_notifier
        self._subscribers = subscribers
        self._subscribed: set[str] = set()

    # ── the mapping ─────────────────────────────────────────────────────────

    def __getitem__(self, channel_id: str) -> Notifier:
        if channel_id in self._configured:
            return self._configured[channel_id]
        return self._chats[channel_id]

    def __iter__(self) -> Iterator[str]:
        if ALL_CHANNELS in self._paused:
            return iter(())
        return iter([c for c in (*self._configured, *self._chats) if c not in self._paused])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def paused(self, channel_id: str) -> bool:
        return channel_id in self._paused or ALL_CHANNELS in self._paused

    def notifiers(self) -> list[Notifier]:
        """Every notifier, to close at the end."""
        return [*self._configured.values(), *self._chats.values()]

    # ── the drain hook ──────────────────────────────────────────────────────

    async def __call__(self, deliverer: Deliverer, report: DeliveryReport) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Read back pauses and subscribers, queue subscribers' alerts."""
        if self._store is None or self._db is None:
            return
        store = self._store
        paused = await self._db(store.paused)
        if set(paused) != set(self._paused):
            log.info("paused channels: %s", ", ".join(sorted(paused)) or "none")
        self._paused = frozenset(paused)
        if not self._subscribers:
            return
        gone = await self._db(store.drop_unreachable)
        for chat_id in gone:
            log.info("channel %s: the chat is gone; unsubscribed", chat_channel(chat_id))
        chats = {chat_channel(c): c for c in await self._db(store.subscriber_chats)}
        for channel_id in self._subscribed - set(chats):
            self.known.discard(channel_id)
            if (notifier := self._chats.pop(channel_id, None)) is not None:
                await notifier.aclose()
        # Kept even where they cannot be sent from (no token here): they wait.
        self._subscribed = set(chats)
        self.known.update(chats)
        if self._chat_notifier is not None:
            for channel_id, chat_id in chats.items():
                if channel_id not in self._chats:
                    self._chats[channel_id] = self._chat_notifier(chat_id)
        queued = await self._db(store.fan_out, utcnow())
        if queued:
            log.info("%d alerts queued to subscribers", queued)
