"""Polls each source on its interval and drains the outbox, until stopped. [IO]

APScheduler's asyncio scheduler runs one job per source (interval with
jitter, first runs spread over the first minute so that a restart does not
fire every source at once, never two polls of one source at a time) and one
delivery job. SIGINT/SIGTERM stop it within 10 s (a container's stop
timeout): no new poll starts, polls in flight get 5 s to commit, the outbox is
drained once more (a send in flight is finished and marked, none is started
after 6 s), claims and sources are handed back, and the process exits 0.

With several replicas on one PostgreSQL, a replica only has jobs for the
sources it owns (storage/replicas.py). Every round (a third of the lease,
between 2 and 20 s) it takes the sources it is preferred for and lets go of
the others; a source it gains is first polled one interval after its last
poll by whichever replica, so a hand-over neither skips nor repeats a poll.
Before each poll the job checks that it still owns the source. One replica a
day applies the retention (monitor/retention.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.clock import iso
from monitor.clock import shown as shown_time
from monitor.errors import StoreError
from monitor.model import PollReport
from monitor.pipeline import Context, Source, poll
from monitor.retention import CHECK_EVERY, apply_retention
from notifiers.deliver import Deliverer
from storage.replicas import LocalLocks, SourceOwnership

if TYPE_CHECKING:  # APScheduler is imported when a Runner runs: `run --once` needs none of it
    from apscheduler.events import JobSubmissionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.metrics import Metrics
    from monitor.web import Status
    from notifiers.bot import BotService
    from notifiers.digest import ScheduledDigest

log = logging.getLogger("monitor.scheduler")

DELIVERY_EVERY = 5.0
HEARTBEAT = 5.0  # seconds between two beats of the event loop (/healthz)
POLL_GRACE = 5.0  # seconds polls in flight get to commit after a stop signal
LAST_SEND = 6.0  # no send starts later than this after a stop signal
STOP_BUDGET = 9.5  # everything is handed back and closed by then (docker waits 10 s)
BOT_STOP = 2.0  # seconds the bot gets to stop polling and hand its lease over
INDEX_RENEW_EVERY = 86400.0  # the story index is read again this often (its windows move)


class Runner:
    def __init__(
        self,
        ctx: Context,
        deliverer: Deliverer,
        *,
        ownership: SourceOwnership | None = None,
        replica: str = "local",
        metrics: Metrics | None = None,
        status: Status | None = None,
        lease: float = 60.0,
        digests: Sequence[ScheduledDigest] = (),
        bot: BotService | None = None,
    ) -> None:
        """``ownership`` says which sources this replica polls (all of them on
        SQLite); ``status`` is what /healthz and /readyz report; ``digests`` are
        the cron jobs of ``mode: digest`` channels; ``bot`` answers private chats."""
        self.ctx = ctx
        self.deliverer = deliverer
        self.ownership: SourceOwnership = ownership or LocalLocks()
        self.replica = replica
        self.metrics = metrics
        self.status = status
        self.round_every = min(20.0, max(2.0, lease / 3))
        self._tasks: set[asyncio.Task[object]] = set()
        self._busy: set[str] = set()  # sources with a poll in flight
        self._stop = asyncio.Event()
        self._wake_delivery = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self.digests = tuple(digests)
        self.bot = bot
        if bot is not None:
            bot.on_queued = self._wake_delivery.set  # /resend, /resume: deliver now
        # The cycle in progress: polls since the last cycle line, and what went out.
        self._cycle: list[PollReport] = []
        self._cycle_delivered = [0, 0, 0]  # sent, edited, failed
        self._unreachable_said = False

    def stop(self) -> None:
        self._stop.set()

    async def _poll_job(self, source: Source) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._busy.add(source.id)
        try:
            holds = self.ownership.holds
            owned = (
                holds(source.id)
                if isinstance(self.ownership, LocalLocks)  # in memory: no trip to the db thread
                else await self.ctx.db(holds, source.id)
            )
            if not owned:
                log.info("source %s: no longer polled by this replica; skipped", source.id)
                return
            if await self._backing_off(source):
                await self._record_schedule(source.id)
                return
            # When it is polled next goes in the poll's last write (one transaction).
            report = await poll(
                source, self.ctx, schedule=(self.replica, self._next_run(source.id))
            )
            record_poll(report, metrics=self.metrics)
            self._count_poll(report)
            if report.alerts:
                self._wake_delivery.set()
        except StoreError as exc:
            log.error("source %s: database error: %s", source.id, exc)
        finally:
            self._busy.discard(source.id)
            if task is not None:
                self._tasks.discard(task)

    def _count_poll(self, report: PollReport) -> None:
        """Add a poll to the cycle; a cycle ends when every source this replica
        polls has been polled, or when one comes round again: then one line says
        what the cycle did and when the next poll is due."""
        if any(r.source_id == report.source_id for r in self._cycle):
            self._end_cycle()
        self._cycle.append(report)
        if {r.source_id for r in self._cycle} >= set(self.ownership.owned):
            self._end_cycle()

    def _end_cycle(self) -> None:
        reports, self._cycle = self._cycle, []
        if not reports:
            return
        delivered = (self._cycle_delivered[0], self._cycle_delivered[1], self._cycle_delivered[2])
        self._cycle_delivered = [0, 0, 0]
        jobs = self._scheduler.get_jobs() if self._scheduler is not None else []
        due = [j.next_run_time for j in jobs if j.next_run_time is not None]
        log.info(
            "%s", cycle_line(reports, delivered=delivered, next_poll=min(due) if due else None)
        )
        hint = every_source_failed(reports)
        if hint is not None and not self._unreachable_said:
            log.warning("%s", hint)
        self._unreachable_said = hint is not None

    def _next_run(self, source_id: str) -> datetime | None:
        """When the scheduler runs this source's job next (it has moved on by the
        time the job runs)."""
        job = self._scheduler.get_job(source_id) if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    async def _record_schedule(self, source_id: str) -> None:
        """Write when this replica polls the source next (the dashboard shows it)."""
        try:
            await self.ctx.db(
                self.ctx.store.set_schedule,
                source_id,
                self.replica,
                self._next_run(source_id),
                self.ctx.clock(),
            )
        except StoreError as exc:
            log.warning("source %s: could not record its schedule: %s", source_id, exc)

    async def _backing_off(self, source: Source) -> bool:
        """A source that keeps failing is polled less often (monitor/health.py sets
        when it may be tried again); the first success brings its interval back.
        The source's last poll here says when; a source this replica has not
        polled yet is looked up (another replica may have polled it)."""
        if source.id in self.ctx.backoff_until:
            until = self.ctx.backoff_until[source.id]
        else:
            state = await self.ctx.db(self.ctx.store.source_state, source.id)
            until = state.backoff_until if state is not None else None
        if until is None or until <= self.ctx.clock():
            return False
        log.debug("source %s: failing, next try after %s", source.id, iso(until))
        return True

    async def _delivery_loop(self, finish: asyncio.Event) -> None:
        """Drain the outbox whenever a poll queued alerts, and every few seconds;
        once ``finish`` is set, drain one last time and return."""
        while True:
            last = finish.is_set()
            try:
                report = await self.deliverer.drain()
                if report.sent or report.failed:
                    log.info("delivered %d, failed %d", report.sent, report.failed)
                for i, n in enumerate((report.sent, report.edited, report.failed)):
                    self._cycle_delivered[i] += n
            except StoreError as exc:
                log.error("delivery: database error: %s", exc)
            if last:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_delivery.wait(), DELIVERY_EVERY)
            self._wake_delivery.clear()

    async def _heartbeat(self) -> None:
        while True:
            if self.status is not None:
                self.status.beat()
            await asyncio.sleep(HEARTBEAT)

    async def _rebalance(self, scheduler: AsyncIOScheduler, *, first: bool = False) -> None:
        """One ownership round, then the jobs follow what this replica owns: a job
        for each source it owns, none for the others (a lost session included)."""
        enabled = {s.id: s for s in self.ctx.config.sources if s.enabled}
        await self.ctx.db(self.ownership.rebalance, list(enabled), set(self._busy))
        owned = set(self.ownership.owned) & set(enabled)
        scheduled = {job.id for job in scheduler.get_jobs()}
        gained, lost = owned - scheduled, scheduled - owned
        for source_id in sorted(lost):
            scheduler.remove_job(source_id)
            log.info("source %s: handed over to another replica", source_id)
        if lost:
            with contextlib.suppress(StoreError):
                await self.ctx.db(self.ctx.store.drop_schedule, lost, self.replica)
        if gained:
            states = await self.ctx.db(self.ctx.store.all_source_states)
            now = self.ctx.clock()
            spread = min(60.0, max(1.0, len(gained) / 20))
            for source_id in sorted(gained):
                source = enabled[source_id]
                state = states.get(source_id)
                first_run = _first_run(
                    now,
                    state.last_polled_at if state is not None else None,
                    self.ctx.config.interval(source),
                    spread,
                )
                self._add_job(scheduler, source, first_run)
                if not first:
                    log.info(
                        "source %s: taken over, next poll at %s",
                        source_id,
                        iso(first_run),
                    )
            with contextlib.suppress(StoreError):
                for source_id in gained:
                    await self._record_schedule(source_id)
        if self.metrics is not None:
            self.metrics.sources_owned.set(len(self.ownership.owned))
            self.metrics.replicas.set(await self.ctx.db(self.ownership.members))

    def _add_job(self, scheduler: AsyncIOScheduler, source: Source, first_run: datetime) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        interval = self.ctx.config.interval(source)
        scheduler.add_job(
            self._poll_job,
            IntervalTrigger(seconds=interval, jitter=interval * self.ctx.config.defaults.jitter),
            args=[source],
            id=source.id,
            name=source.id,
            next_run_time=first_run,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(interval),
            replace_existing=True,
        )

    async def _ownership_loop(self, scheduler: AsyncIOScheduler) -> None:
        while True:
            await asyncio.sleep(self.round_every)
            try:
                await self._rebalance(scheduler)
            except StoreError as exc:
                log.error("replicas: database error: %s", exc)

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.ctx.db(
                    apply_retention,
                    self.ctx.store,
                    self.ctx.config.retention,
                    owner=self.replica,
                    now=self.ctx.clock(),
                )
            except StoreError as exc:
                log.error("retention: database error: %s", exc)
            await asyncio.sleep(CHECK_EVERY)

    async def _index_loop(self) -> None:
        """Reload the story index once a day (:meth:`Context.forget_index`)."""
        while True:
            await asyncio.sleep(INDEX_RENEW_EVERY)
            await self.ctx.db(self.ctx.forget_index)
            log.info("story index: dropped, to be read again at the next article")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        scheduler.add_listener(_still_running, EVENT_JOB_MAX_INSTANCES)
        self._scheduler = scheduler
        enabled = [s for s in self.ctx.config.sources if s.enabled]
        await self._rebalance(scheduler, first=True)
        for digest in self.digests:
            scheduler.add_job(
                digest.run,
                digest.trigger(),
                id=f"digest:{digest.channel_id}",
                name=f"digest:{digest.channel_id}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        scheduler.start()
        if self.bot is not None:
            await self.bot.start()
        log.info(
            "watching %d sources (%d polled by this replica, %s); stop with Ctrl-C or SIGTERM",
            len(enabled),
            len(self.ownership.owned),
            self.replica,
        )
        finish = asyncio.Event()
        delivery = asyncio.create_task(self._delivery_loop(finish))
        helpers = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._ownership_loop(scheduler)),
            asyncio.create_task(self._retention_loop()),
            asyncio.create_task(self._index_loop()),
        ]
        if self.status is not None:
            self.status.set_ready()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(scheduler, delivery, finish, helpers)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            log.info("stopped")

    async def _shutdown(
        self,
        scheduler: AsyncIOScheduler,
        delivery: asyncio.Task[None],
        finish: asyncio.Event,
        helpers: list[asyncio.Task[None]],
    ) -> None:
        """Stop within STOP_BUDGET: polls commit or roll back, sends in flight are
        marked, the rest is handed back for another replica or the next start."""
        began = time.monotonic()
        if self.status is not None:
            self.status.set_not_ready("stopping")
        log.info("stopping: no new polls; waiting up to %.0fs for polls in flight", POLL_GRACE)
        scheduler.shutdown(wait=False)
        if self.bot is not None:
            try:
                await asyncio.wait_for(self.bot.stop(), BOT_STOP)
            except (TimeoutError, StoreError) as exc:
                log.warning("bot: not stopped cleanly: %r", exc)
        for helper in helpers:
            helper.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=POLL_GRACE)
            for task in pending:
                task.cancel()  # its transaction rolls back; the next poll reads it again
        # One last drain for what the polls just stored; nothing starts after LAST_SEND.
        self.deliverer.stop(after=max(0.0, LAST_SEND - (time.monotonic() - began)))
        finish.set()
        self._wake_delivery.set()
        remaining = STOP_BUDGET - (time.monotonic() - began)
        _finished, late = await asyncio.wait({delivery}, timeout=max(0.1, remaining))
        for hung in late:
            hung.cancel()  # a send that hangs: its row stays claimed until the lease ends
        with contextlib.suppress(asyncio.CancelledError, StoreError):
            await asyncio.gather(delivery, *helpers, return_exceptions=True)
            released = await self.deliverer.release()
            if released:
                log.info("handed back %d unsent alerts", released)
            owned = set(self.ownership.owned)
            await self.ctx.db(self.ownership.close)
            if owned:
                await self.ctx.db(self.ctx.store.drop_schedule, owned, self.replica)


def _still_running(event: JobSubmissionEvent) -> None:
    """A poll due while the source's last one still runs. A poll's deadline is its
    interval (monitor/pipeline.py), so this should not happen; if it does, say so
    by the source's name rather than leave only APScheduler's line."""
    log.warning("source %s: poll skipped: the previous poll is still running", event.job_id)


def record_poll(report: PollReport, *, metrics: Metrics | None) -> None:
    """After a poll: one log line and the metrics. (The poll wrote its own line
    in the fetch log, in the transaction that recorded its health.)"""
    _log_report(report)
    if metrics is not None:
        metrics.observe_poll(report)


def _first_run(
    now: datetime, last_polled: datetime | None, interval: float, spread: float
) -> datetime:
    """When a source this replica just took is first polled: one interval after
    its last poll (by any replica), or soon, spread out, when that is past."""
    soon = now + timedelta(seconds=random.uniform(0, spread))
    if last_polled is None:
        return soon
    return max(soon, last_polled + timedelta(seconds=interval))


# ── one line per cycle ──────────────────────────────────────────────────────

NO_SOURCE_ANSWERS = (
    "every source failed ({failed} of {polled}): most likely this machine cannot reach "
    "them (no network, or a proxy is needed: HTTPS_PROXY and HTTP_PROXY are read from the "
    "environment). Try `make demo` (a local news site, no network needed) and "
    "`quality-monitor check --fetch` (each source's error)"
)


def cycle_line(
    reports: Sequence[PollReport],
    *,
    delivered: tuple[int, int, int] | None = None,
    next_poll: datetime | None = None,
) -> str:
    """The one line a cycle of polls gets: sources polled, what they brought,
    what went out (``delivered``: sent, edited, failed), when the next poll is."""
    failed = [r for r in reports if r.status == "error"]
    line = (
        f"polled {len(reports)} sources: {sum(r.new for r in reports)} new entries, "
        f"{sum(r.articles for r in reports)} articles, {sum(r.stories for r in reports)} "
        f"new stories, {sum(r.alerts for r in reports)} alerts queued; {len(failed)} failed"
    )
    if failed:
        shown = ", ".join(f"{r.source_id} ({r.error})" for r in failed[:5])
        line += f": {shown}" + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    if delivered is not None:
        line += f"; delivered {delivered[0]}, edited {delivered[1]}, failed {delivered[2]}"
    if next_poll is not None:
        line += f"; next poll at {shown_time(next_poll)}"
    return line


def every_source_failed(reports: Sequence[PollReport]) -> str | None:
    """What to say when no source answered at all (said once, not per source)."""
    if reports and all(r.status == "error" for r in reports):
        return NO_SOURCE_ANSWERS.format(failed=len(reports), polled=len(reports))
    return None


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
