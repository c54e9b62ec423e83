"""Everything alerts go out through, built from the configuration. [IO]

:func:`build_notifiers` makes one notifier per active channel through the
registry; :func:`build_outlets` adds what a running process needs around
them: the live channel map the delivery loop drains (instant channels and
subscribers' chats, paused ones held back), the backlog digests, the jobs of
``mode: digest`` channels, and the bot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.config.channels import ChannelFilter
from monitor.config.settings import Settings
from notifiers import builtin  # noqa: F401  (registers the built-in notifier kinds)
from notifiers.base import INACTIVE, NOTIFIERS, Notifier
from notifiers.builtin import Shared
from notifiers.channels import Channels
from notifiers.console import ConsoleNotifier
from notifiers.deliver import DrainHook
from notifiers.digest import SUBSCRIBER_BACKLOG, BacklogDigests, DigestSender, ScheduledDigest
from notifiers.telegram import TelegramNotifier
from storage.chats import CHAT_PREFIX, ChatStore
from storage.runner import DbRunner
from storage.store import Store

if TYPE_CHECKING:
    from monitor.config.root import Config
    from monitor.metrics import Metrics
    from notifiers.bot import BotService

__all__ = ["Outlets", "build_notifiers", "build_outlets"]

log = logging.getLogger("monitor")


def build_notifiers(
    config: Config, settings: Settings, shared: Shared, *, fallback: bool = True
) -> dict[str, Notifier]:
    """The active channels, digest ones included. A channel that cannot run
    here (Telegram without a token, an empty Apprise URL) is said once and
    left out; with no active channel at all and ``fallback``, alerts go to the
    console so that a first run shows what it found."""
    active: dict[str, Notifier] = {}
    for channel in config.channels:
        if not channel.enabled:
            continue
        try:
            notifier = NOTIFIERS[channel.kind](channel, settings, shared)
        except ValueError as exc:
            log.error("channel %s (%s) is inactive: %s", channel.id, channel.kind, exc)
            continue
        if notifier is None:
            why = INACTIVE.get(channel.kind, "not configured here")
            log.warning("channel %s (%s) is inactive: %s", channel.id, channel.kind, why)
            continue
        active[channel.id] = notifier
    if not active and fallback:
        log.warning("no active channel: alerts are printed to the console")
        active["console"] = ConsoleNotifier()
    return active


@dataclass
class Outlets:
    shared: Shared
    notifiers: dict[str, Notifier]  # every active configured channel
    channels: Channels  # what the delivery loop drains
    hooks: list[DrainHook]  # run at the start of every drain
    # (channel id, filter) of every active channel: what the pipeline queues for
    filters: list[tuple[str, ChannelFilter]] = field(default_factory=list)
    digests: list[ScheduledDigest] = field(default_factory=list)
    bot: BotService | None = None  # when configured and a token is set

    async def aclose(self) -> None:
        """Stop the bot and close every notifier and the shared client."""
        if self.bot is not None:
            await self.bot.stop()
        every = {id(n): n for n in [*self.notifiers.values(), *self.channels.notifiers()]}
        for notifier in every.values():
            try:
                await notifier.aclose()
            except Exception as exc:  # closing one must not keep the others open
                log.warning("closing %r: %s", notifier, exc)
        await self.shared.aclose()


def build_outlets(
    config: Config,
    settings: Settings,
    *,
    store: Store,
    db: DbRunner,
    owner: str,
    lease: float,
    metrics: Metrics | None = None,
    bot: bool = True,
) -> Outlets:
    """Notifiers, the live channel map, digests and (with ``bot``) the bot."""
    shared = Shared(settings)
    notifiers = build_notifiers(config, settings, shared)
    by_id = {c.id: c for c in config.channels}
    instant = {
        cid: n for cid, n in notifiers.items() if cid not in by_id or by_id[cid].mode == "instant"
    }
    known = {c.id for c in config.channels} | set(notifiers)
    bot_settings = config.bot if config.bot is not None and config.bot.enabled else None
    client = shared.telegram() if bot_settings is not None else None

    def chat_notifier(chat_id: int) -> Notifier:
        assert client is not None and bot_settings is not None
        return TelegramNotifier(client=client, chat=str(chat_id), min_interval=bot_settings.pace)

    channels = Channels(
        instant,
        known=known,
        chats=ChatStore(store),  # pauses hold with or without the bot
        db=db,
        chat_notifier=chat_notifier if client is not None else None,
        subscribers=bot_settings is not None,
    )
    sender = DigestSender(
        store,
        db,
        owner=owner,
        lease=lease,
        metrics=metrics,
        languages={c.id: c.language for c in config.channels},
    )

    def threshold(channel_id: str) -> int:
        if channel_id.startswith(CHAT_PREFIX):
            return SUBSCRIBER_BACKLOG
        channel = by_id.get(channel_id)
        return channel.backlog_digest if channel is not None else 0

    hooks: list[DrainHook] = [channels, BacklogDigests(sender, store, db, channels, threshold)]
    digests = [
        ScheduledDigest(sender, cid, notifier, schedule=by_id[cid].schedule, paused=channels.paused)
        for cid, notifier in notifiers.items()
        if cid in by_id and by_id[cid].mode == "digest"
    ]
    service = None
    if bot and bot_settings is not None and client is not None:
        from notifiers.bot import BotService

        assert settings.telegram_token is not None
        service = BotService(
            settings=bot_settings,
            config=config,
            token=settings.telegram_token.get_secret_value(),
            api_url=settings.telegram_api_url,
            store=store,
            db=db,
            limiter=client.limiter,
            replica=owner,
        )
    elif bot_settings is not None and client is None:
        log.warning("bot: inactive: TELEGRAM_BOT_TOKEN is not set")
    filters = [(cid, by_id[cid].filter if cid in by_id else ChannelFilter()) for cid in notifiers]
    return Outlets(
        shared=shared,
        notifiers=notifiers,
        channels=channels,
        hooks=hooks,
        digests=digests,
        bot=service,
        filters=filters,
    )
