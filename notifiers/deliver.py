"""The outbox loop: claim → render → send → mark. [IO]

Rows are taken oldest first. A row is marked sent only after the service
accepted it; a permanent refusal (chat not found, bad request) marks it
failed with the service's reason and never blocks the rows behind it; a
transient one (429, 5xx, network) defers it — for ``retry_after`` when the
service says so, with exponential backoff otherwise — and holds that
channel's later rows back so that posts arrive in order. Posts to one chat
are paced by the notifier's ``min_interval``.

A crash between the service accepting a post and the row being marked is the
one window in which a post can be sent twice; it lasts one database write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.errors import DeliveryError, StoreError
from monitor.model import Alert
from notifiers.base import Notifier
from storage.runner import DbRunner
from storage.store import OutboxRow, Store, utcnow

log = logging.getLogger("monitor.deliver")

MAX_BACKOFF = 600.0


@dataclass
class DeliveryReport:
    sent: int = 0
    edited: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


class Deliverer:
    def __init__(
        self,
        store: Store,
        db: DbRunner,
        notifiers: dict[str, Notifier],
        *,
        configured: set[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._db = db
        self._notifiers = notifiers
        self._configured = set(notifiers) if configured is None else configured
        self._clock = clock
        self._last_post: dict[str, float] = {}

    async def drain(self, *, max_wait: float = 0.0) -> DeliveryReport:
        """Deliver everything due; wait up to ``max_wait`` s for deferred rows to come due."""
        report = DeliveryReport()
        deadline = time.monotonic() + max_wait
        while True:
            rows = await self._db(self._store.due_outbox, self._clock())
            rows = [r for r in rows if self._deliverable(r, report)]
            if rows:
                by_channel: defaultdict[str, list[OutboxRow]] = defaultdict(list)
                for row in rows:
                    by_channel[row.channel_id].append(row)
                await asyncio.gather(
                    *(self._channel(cid, batch, report) for cid, batch in by_channel.items())
                )
                continue
            upcoming = await self._db(self._store.next_due, self._clock())
            if upcoming is None:
                return report
            wait = (upcoming - self._clock()).total_seconds()
            if wait <= 0:
                # due but not deliverable now (inactive channel, edit waiting for its post)
                return report
            if time.monotonic() + wait > deadline:
                return report
            await asyncio.sleep(wait)

    def _deliverable(self, row: OutboxRow, report: DeliveryReport) -> bool:
        if row.channel_id in self._notifiers:
            return True
        if row.channel_id not in self._configured:
            # the channel was removed from sources.yaml: say so once and let the row go
            asyncio.get_running_loop().create_task(
                self._db(self._store.skip, row.id, "channel no longer configured")
            )
        return False  # configured but inactive here (no token): stays pending

    async def _channel(
        self, channel_id: str, rows: list[OutboxRow], report: DeliveryReport
    ) -> None:
        notifier = self._notifiers[channel_id]
        for row in rows:
            story = await self._db(self._store.story, row.story_id)
            if story is None:
                await self._db(self._store.mark_failed, row.id, "story vanished", self._clock())
                continue
            alert = Alert(
                outbox_id=row.id,
                channel_id=channel_id,
                story=story,
                message_id=row.message_id,
                attempts=row.attempts,
            )
            await self._pace(channel_id, notifier.min_interval)
            try:
                if row.kind == "edit":
                    if notifier.supports_edit and row.message_id:
                        await notifier.edit(alert)
                    message_id = None
                else:
                    message_id = await notifier.send(alert)
            except DeliveryError as exc:
                if exc.permanent:
                    report.failed += 1
                    report.errors.append(f"[{channel_id}] story {story.id}: {exc}")
                    log.error("channel %s: story %s refused: %s", channel_id, story.id, exc)
                    await self._db(self._store.mark_failed, row.id, str(exc), self._clock())
                    continue
                wait = exc.retry_after
                if wait is None:
                    wait = min(MAX_BACKOFF, 2.0 * 2**row.attempts)
                report.deferred += 1
                log.warning(
                    "channel %s: story %s deferred %.0fs: %s", channel_id, story.id, wait, exc
                )
                until = self._clock() + timedelta(seconds=wait)
                await self._db(self._store.defer, row.id, str(exc), until)
                return  # keep this channel's order: later rows wait for this one
            try:
                await self._db(self._store.mark_sent, row.id, message_id, self._clock())
            except StoreError:
                # Sent but not marked: the documented double-send window. Say it loudly.
                log.exception("channel %s: story %s sent but not marked", channel_id, story.id)
                raise
            if row.kind == "edit":
                report.edited += 1
            else:
                report.sent += 1
                log.info("channel %s: posted story %s", channel_id, story.id)

    async def _pace(self, channel_id: str, interval: float) -> None:
        last = self._last_post.get(channel_id)
        now = time.monotonic()
        if last is not None and now - last < interval:
            await asyncio.sleep(interval - (now - last))
        self._last_post[channel_id] = time.monotonic()
