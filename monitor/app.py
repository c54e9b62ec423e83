"""Wiring: builds the store, fetcher, notifiers and context from the settings,
and runs one pass or the scheduler. [IO]"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

from monitor.classify import Lexicon
from monitor.config import Config, Settings
from monitor.dedup import Concepts
from monitor.fetch import Fetcher
from monitor.pipeline import Context, PollReport, poll_all
from notifiers import builtin  # noqa: F401  (registers the built-in notifier kinds)
from notifiers.base import NOTIFIERS, Notifier
from notifiers.console import ConsoleNotifier
from notifiers.deliver import Deliverer
from storage.runner import DbRunner
from storage.store import Store

log = logging.getLogger("monitor")

# How long `run --once` waits for a deferred post (429 retry_after, a 5xx
# backoff) before leaving it pending for the next run.
ONCE_MAX_WAIT = 90.0


def build_notifiers(config: Config, settings: Settings) -> dict[str, Notifier]:
    """The active channels. A channel that cannot run here (Telegram without a
    token) is said once and left out; with no active channel at all, alerts go
    to the console so that a first run shows what it found."""
    active: dict[str, Notifier] = {}
    for channel in config.channels:
        if not channel.enabled:
            continue
        notifier = NOTIFIERS[channel.kind](channel, settings)
        if notifier is None:
            log.warning(
                "channel %s (%s) is inactive: TELEGRAM_BOT_TOKEN or its chat is not set",
                channel.id,
                channel.kind,
            )
            continue
        active[channel.id] = notifier
    if not active:
        log.warning("no active channel: alerts are printed to the console")
        active["console"] = ConsoleNotifier()
    return active


def _filters(config: Config, active: dict[str, Notifier]) -> list[tuple[str, Any]]:
    from monitor.config import ChannelFilter

    by_id = {c.id: c.filter for c in config.channels}
    return [(cid, by_id.get(cid, ChannelFilter())) for cid in active]


async def run(config: Config, settings: Settings, *, once: bool) -> int:
    store = Store(settings.db_url)
    store.migrate()
    db = DbRunner()
    notifiers = build_notifiers(config, settings)
    try:
        async with AsyncExitStack() as stack:
            fetcher = await stack.enter_async_context(
                Fetcher(
                    concurrency=config.http.concurrency,
                    per_host=config.http.per_host,
                    user_agent=config.http.user_agent,
                    max_bytes=config.http.max_bytes,
                    max_redirects=config.http.max_redirects,
                )
            )
            for notifier in notifiers.values():
                stack.push_async_callback(notifier.aclose)
            ctx = Context(
                config=config,
                store=store,
                db=db,
                fetcher=fetcher,
                lexicon=Lexicon.load(),
                concepts=Concepts.load(),
                channels=_filters(config, notifiers),
            )
            configured = {c.id for c in config.channels} | set(notifiers)
            deliverer = Deliverer(store, db, notifiers, configured=configured)
            if once:
                reports = await poll_all([s for s in config.sources if s.enabled], ctx)
                _summarise(reports)
                delivery = await deliverer.drain(max_wait=ONCE_MAX_WAIT)
                log.info(
                    "delivered %d, edited %d, failed %d, still pending %d",
                    delivery.sent,
                    delivery.edited,
                    delivery.failed,
                    delivery.deferred,
                )
                return 0
            from monitor.scheduler import Runner

            await Runner(ctx, deliverer).run()
            return 0
    finally:
        db.close()
        store.close()


def _summarise(reports: list[PollReport]) -> None:
    failed = [r for r in reports if r.status == "error"]
    log.info(
        "polled %d sources: %d new entries, %d articles, %d new stories, %d alerts queued; "
        "%d failed%s",
        len(reports),
        sum(r.new for r in reports),
        sum(r.articles for r in reports),
        sum(r.stories for r in reports),
        sum(r.alerts for r in reports),
        len(failed),
        (": " + ", ".join(f"{r.source_id} ({r.error})" for r in failed)) if failed else "",
    )


async def check_fetch(config: Config, settings: Settings) -> list[dict[str, Any]]:
    """Fetch and parse each enabled source once; store nothing."""
    import asyncio
    import time

    from monitor import sources
    from monitor.errors import SourceError

    async with Fetcher(
        concurrency=config.http.concurrency,
        per_host=config.http.per_host,
        user_agent=config.http.user_agent,
        max_bytes=config.http.max_bytes,
        max_redirects=config.http.max_redirects,
        retries=0,
    ) as fetcher:

        async def one(source: Any) -> dict[str, Any]:
            started = time.perf_counter()
            row: dict[str, Any] = {
                "source": source.id,
                "status": "ok",
                "entries": 0,
                "newest": None,
                "error": None,
            }
            try:
                result = await fetcher.get(
                    source.url,
                    source_id=source.id,
                    timeout=config.timeout(source),
                    encoding=source.encoding,
                )
                entries = sources.parse(result, source)
                row["entries"] = len(entries)
                newest = max((e.published for e in entries if e.published), default=None)
                row["newest"] = newest.date().isoformat() if newest else None
            except SourceError as exc:
                row["status"], row["error"] = "error", exc.reason
            except Exception as exc:  # report, never crash the table
                row["status"], row["error"] = "error", f"{type(exc).__name__}: {exc}"
            row["seconds"] = time.perf_counter() - started
            return row

        return list(await asyncio.gather(*(one(s) for s in config.sources if s.enabled)))
