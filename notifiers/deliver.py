"""The outbox loop: claim → render → send → mark. [IO]

Rows are taken oldest first. A row is marked sent only after the service
accepted it; a permanent refusal (chat not found, bad request) marks it
failed with the service's reason and never blocks the rows behind it; a
transient one (429, 5xx, network) defers it — for ``retry_after`` when the
service says so, with exponential backoff otherwise — and holds that
channel's later rows back so that posts arrive in order. Posts to one chat
are paced by the notifier's ``min_interval``.

A *channel* failure (a wrong bot token, a misspelt chat, a bot removed from
the channel: :class:`~monitor.errors.DeliveryError` with ``channel``) is not
the message's fault, so no alert is given up for it: the row stays pending
and due, its reason is written on it (:data:`storage.store.CHANNEL_DOWN`, which
is what ``/status``, the dashboard, ``/healthz`` and the metrics read), the
failure is logged once, and this process leaves the channel alone for a
while (30 s, doubling to 10 minutes) before trying its oldest alert again.
A new process tries at once, so a rerun after the fix delivers everything,
in order.

A crash between the service accepting a post and the row being marked is the
one window in which a post can be sent twice; it lasts one database write.

Several replicas may drain one outbox: each *claims* the rows it sends
(:meth:`storage.store.Store.claim_outbox`, ``SELECT … FOR UPDATE SKIP
LOCKED``) for ``lease`` seconds, renews the claim right before each send and
never sends a row whose claim it lost. A replica that dies mid-batch leaves
claims that expire after the lease; a replica that stops cleanly hands them
back at once (:meth:`Deliverer.release`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.errors import DeliveryError, StoreError
from monitor.model import Alert
from notifiers.base import Notifier
from notifiers.render import DEFAULT_LANGUAGE, in_language
from storage.runner import DbRunner
from storage.store import CHANNEL_DOWN, OutboxRow, Store, utcnow

if TYPE_CHECKING:
    from monitor.metrics import Metrics

log = logging.getLogger("monitor.deliver")

MAX_BACKOFF = 600.0
CHANNEL_RETRY = 30.0  # first wait before a failing channel is tried again (doubles)
DEFAULT_LEASE = 60.0  # seconds a claim on an outbox row lasts (MONITOR_LEASE)


@dataclass
class DeliveryReport:
    sent: int = 0
    edited: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)
    # channels that cannot take posts now: channel id → why (alerts wait for them)
    failing: dict[str, str] = field(default_factory=dict)


# Work done at the start of every drain (notifiers/digest.py, notifiers/channels.py):
# queue subscribers' alerts, turn a long backlog into a digest.
DrainHook = Callable[["Deliverer", DeliveryReport], Awaitable[None]]


class Deliverer:
    def __init__(
        self,
        store: Store,
        db: DbRunner,
        notifiers: Mapping[str, Notifier],
        *,
        configured: Collection[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        owner: str = "local",
        lease: float = DEFAULT_LEASE,
        metrics: Metrics | None = None,
        hooks: Sequence[DrainHook] = (),
        on_update: Mapping[str, str] | None = None,
        languages: Mapping[str, str] | None = None,
    ) -> None:
        """``owner`` names this replica in its claims; ``lease`` is how long a
        claim holds (it must outlast one send: the request timeout and the pace).
        ``notifiers`` may be a live mapping: the channels it iterates are the ones
        claimed; ``hooks`` run at the start of every drain. ``on_update`` says per
        channel what a story update does: ``edit`` (the default), ``follow_up``
        (post the story again, with its other outlets) or ``none``. ``languages``
        gives each channel's language (default ``zh-Hans``): a post, and each
        edit of it, shows the story's best report in it (:func:`in_language`)."""
        self._hooks = tuple(hooks)
        self._on_update = dict(on_update or {})
        self._languages = dict(languages or {})
        self._store = store
        self._db = db
        self._notifiers = notifiers
        self._configured = set(notifiers) if configured is None else configured
        self._clock = clock
        self._owner = owner
        self._lease = lease
        self._metrics = metrics
        self._last_post: dict[str, float] = {}
        # failing channels: id → (reason, time.monotonic() of the next try, wait)
        self._down: dict[str, tuple[str, float, float]] = {}
        self._no_sends_after: float | None = None  # time.monotonic(); set by stop()

    def stop(self, *, after: float = 0.0) -> None:
        """Start no new send after ``after`` seconds from now; a send in flight
        is finished and marked (no half-sent post is lost)."""
        self._no_sends_after = time.monotonic() + after

    def _stopping(self) -> bool:
        return self._no_sends_after is not None and time.monotonic() >= self._no_sends_after

    async def release(self) -> int:
        """Hand back the claims of rows this replica has not sent (at shutdown)."""
        return await self._db(self._store.release_claims, self._owner)

    async def drain(self, *, max_wait: float = 0.0) -> DeliveryReport:
        """Deliver everything due; wait up to ``max_wait`` s for deferred rows to come due."""
        report = DeliveryReport()
        try:
            await self._drain(report, time.monotonic() + max_wait)
        finally:
            # every channel still failing here, whether tried in this drain or not
            report.failing.update({c: down[0] for c, down in self._down.items()})
        return report

    async def _drain(self, report: DeliveryReport, deadline: float) -> None:
        for hook in self._hooks:
            await hook(self, report)
        await self._db(self._store.skip_unconfigured, self._configured)
        while not self._stopping():
            # A channel that failed in this drain is not tried again in it.
            rows = await self._db(
                self._store.claim_outbox,
                self._owner,
                self._clock(),
                self._lease,
                channels=sorted(
                    c for c in self._notifiers if not self.holds_back(c) and c not in report.failing
                ),
            )
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
                return
            wait = (upcoming - self._clock()).total_seconds()
            if wait <= 0:
                # due but not deliverable now (inactive channel, edit waiting for its post)
                return
            if time.monotonic() + wait > deadline:
                return
            await asyncio.sleep(wait)

    async def _channel(
        self, channel_id: str, rows: list[OutboxRow], report: DeliveryReport
    ) -> None:
        notifier = self._notifiers[channel_id]
        for i, row in enumerate(rows):
            if self._stopping():
                left = await self._db(
                    self._store.release_claims, self._owner, [r.id for r in rows[i:]]
                )
                log.info("channel %s: stopping; %d alerts handed back for later", channel_id, left)
                return
            # Taken before the story is read: an edit armed after this moment
            # may carry an article the post does not show (mark_sent keeps it).
            rendered_at = self._clock()
            story = await self._db(self._store.story, row.story_id)
            if story is None:
                await self._db(self._store.mark_failed, row.id, "story vanished", self._clock())
                continue
            language = self._languages.get(channel_id, DEFAULT_LANGUAGE)
            alert = Alert(
                outbox_id=row.id,
                channel_id=channel_id,
                story=in_language(story, language),
                message_id=row.message_id,
                attempts=row.attempts,
            )
            await self._pace(channel_id, notifier.min_interval)
            claimed = await self._db(
                self._store.confirm_claim, row.id, self._owner, self._clock(), self._lease
            )
            if not claimed:
                # Another replica took it after our lease ran out, or a later
                # article re-armed the edit: it is not ours to send any more.
                log.warning(
                    "channel %s: story %s: outbox row %d is no longer claimed by %s; not sent",
                    channel_id,
                    story.id,
                    row.id,
                    self._owner,
                )
                await self._db(
                    self._store.release_claims, self._owner, [r.id for r in rows[i + 1 :]]
                )
                return
            changed: bool | None = True
            try:
                update = self._on_update.get(channel_id, "edit")
                if row.kind == "edit" and update == "follow_up":
                    await notifier.send(alert)
                    message_id = None
                elif row.kind == "edit":
                    if update == "edit" and notifier.supports_edit and row.message_id:
                        changed = await notifier.edit(alert)
                    message_id = None
                else:
                    message_id = await notifier.send(alert)
            except DeliveryError as exc:
                if exc.channel:
                    await self._channel_down(channel_id, row, exc)
                    report.deferred += 1
                    report.failing[channel_id] = str(exc)
                    await self._db(
                        self._store.release_claims, self._owner, [r.id for r in rows[i + 1 :]]
                    )
                    return
                if exc.permanent:
                    report.failed += 1
                    report.errors.append(f"[{channel_id}] story {story.id}: {exc}")
                    log.error("channel %s: story %s refused: %s", channel_id, story.id, exc)
                    await self._db(self._store.mark_failed, row.id, str(exc), self._clock())
                    if self._metrics is not None:
                        self._metrics.failed.labels(channel_id).inc()
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
                if self._metrics is not None:
                    self._metrics.deferred.labels(channel_id).inc()
                # keep this channel's order: later rows wait for this one (and for
                # whichever replica claims them when it comes due)
                await self._db(
                    self._store.release_claims, self._owner, [r.id for r in rows[i + 1 :]]
                )
                return
            self._channel_up(channel_id)
            report.failing.pop(channel_id, None)
            sent_at = self._clock()
            try:
                await self._db(
                    self._store.mark_sent,
                    row.id,
                    message_id,
                    sent_at,
                    self._owner,
                    rendered_at=rendered_at,
                )
            except StoreError:
                # Sent but not marked: the documented double-send window. Say it loudly.
                log.exception("channel %s: story %s sent but not marked", channel_id, story.id)
                raise
            if self._metrics is not None and changed is not False:
                self._metrics.sent.labels(channel_id, row.kind).inc()
                if row.kind == "post" and story.first_seen is not None:
                    self._metrics.delivery_latency.observe(
                        max(0.0, (sent_at - story.first_seen).total_seconds())
                    )
            if row.kind == "edit":
                if changed is not False:  # False: Telegram said it already read so
                    report.edited += 1
            else:
                report.sent += 1
                log.info("channel %s: posted story %s", channel_id, story.id)

    async def _channel_down(self, channel_id: str, row: OutboxRow, exc: DeliveryError) -> None:
        """The channel cannot take posts: keep the row pending and due (a new
        process tries it at once), write why on it, say so once, and leave the
        channel alone here for a while."""
        reason = str(exc)
        previous = self._down.get(channel_id)
        wait = CHANNEL_RETRY if previous is None else min(MAX_BACKOFF, previous[2] * 2)
        self._down[channel_id] = (reason, time.monotonic() + wait, wait)
        if previous is None or previous[0] != reason:
            log.error(
                "channel %s: cannot post: %s. Its alerts are kept, in order, and go out once "
                "this is fixed (trying again every few minutes; `quality-monitor check "
                "--fetch` checks the token and the chat)",
                channel_id,
                reason,
            )
        await self._db(self._store.defer, row.id, CHANNEL_DOWN + reason, self._clock())
        if self._metrics is not None:
            self._metrics.deferred.labels(channel_id).inc()

    def _channel_up(self, channel_id: str) -> None:
        if self._down.pop(channel_id, None) is not None:
            log.warning(
                "channel %s: posting works again; the alerts that waited go out", channel_id
            )

    def holds_back(self, channel_id: str) -> bool:
        """The channel cannot take posts and is not due for another try here."""
        down = self._down.get(channel_id)
        return down is not None and down[1] > time.monotonic()

    async def pace(self, channel_id: str, interval: float) -> None:
        """Wait until ``channel_id`` may take its next post (digests share the pace)."""
        await self._pace(channel_id, interval)

    async def _pace(self, channel_id: str, interval: float) -> None:
        last = self._last_post.get(channel_id)
        now = time.monotonic()
        if last is not None and now - last < interval:
            await asyncio.sleep(interval - (now - last))
        self._last_post[channel_id] = time.monotonic()
