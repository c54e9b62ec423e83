"""Polls each source on its interval and drains the outbox, until stopped. [IO]

APScheduler's asyncio scheduler runs one job per source (interval with
jitter, first runs spread over the first minute so that a restart does not
fire every source at once, never two polls of one source at a time) and one
delivery job. SIGINT/SIGTERM stop it: no new poll starts, polls in flight get
a grace period to commit, the outbox is drained once more, and the process
exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import StoreError
from monitor.pipeline import Context, PollReport, Source, poll
from notifiers.deliver import Deliverer

log = logging.getLogger("monitor.scheduler")

DELIVERY_EVERY = 5.0
GRACE = 8.0  # seconds polls in flight get to finish after a stop signal


class Runner:
    def __init__(self, ctx: Context, deliverer: Deliverer) -> None:
        self.ctx = ctx
        self.deliverer = deliverer
        self._tasks: set[asyncio.Task[object]] = set()
        self._stop = asyncio.Event()
        self._wake_delivery = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def _poll_job(self, source: Source) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            report = await poll(source, self.ctx)
            _log_report(report)
            if report.alerts:
                self._wake_delivery.set()
        except StoreError as exc:
            log.error("source %s: database error: %s", source.id, exc)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = await self.deliverer.drain()
                if report.sent or report.failed:
                    log.info("delivered %d, failed %d", report.sent, report.failed)
            except StoreError as exc:
                log.error("delivery: database error: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_delivery.wait(), DELIVERY_EVERY)
            self._wake_delivery.clear()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        enabled = [s for s in self.ctx.config.sources if s.enabled]
        now = self.ctx.clock()
        spread = min(60.0, max(1.0, len(enabled) / 20))
        for source in enabled:
            interval = self.ctx.config.interval(source)
            scheduler.add_job(
                self._poll_job,
                IntervalTrigger(
                    seconds=interval, jitter=interval * self.ctx.config.defaults.jitter
                ),
                args=[source],
                id=source.id,
                name=source.id,
                next_run_time=now + timedelta(seconds=random.uniform(0, spread)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(interval),
            )
        scheduler.start()
        log.info("watching %d sources; stop with Ctrl-C or SIGTERM", len(enabled))
        delivery = asyncio.create_task(self._delivery_loop())
        try:
            await self._stop.wait()
        finally:
            log.info("stopping: no new polls; waiting up to %.0fs for polls in flight", GRACE)
            scheduler.shutdown(wait=False)
            if self._tasks:
                _done, pending = await asyncio.wait(set(self._tasks), timeout=GRACE)
                for task in pending:
                    task.cancel()
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
            with contextlib.suppress(StoreError):
                await asyncio.wait_for(self.deliverer.drain(), GRACE)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            log.info("stopped")


def _log_report(report: PollReport) -> None:
    if report.status == "error":
        return  # already logged with its cause by the pipeline
    log.info(
        "source %s: %s, %d entries, %d new, %d articles, %d stories, %d alerts (%.1fs)",
        report.source_id,
        report.status,
        report.entries,
        report.new,
        report.articles,
        report.stories,
        report.alerts,
        report.elapsed,
    )
