"""Digests: several stories in one message (or a few), grouped by province. [IO]

Two occasions send one:

* a channel with ``mode: digest`` gets one on its cron ``schedule``
  (:class:`ScheduledDigest`, an APScheduler job): every post queued to it
  since the last digest;
* an instant channel whose queue grew past ``backlog_digest`` (the service
  was down for hours, a first run found a hundred stories) gets its backlog as
  one digest instead of a flood (:class:`BacklogDigests`, run at the start of
  every drain of the outbox).

Both go through :class:`DigestSender`, which keeps the outbox's promises:
the rows are *claimed* first (so one replica sends them), each message of
the digest marks the rows of the stories it lists as sent only once the
service accepted it, a permanent refusal marks them failed, and a transient
one defers them (they come back in the next digest, or one by one).

A row sent in a digest keeps no message id: a later outlet joining the story
does not edit the digest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.clock import CHINA  # schedules and headings are in China time
from monitor.cron import cron_trigger
from monitor.errors import DeliveryError, StoreError
from monitor.model import Story
from notifiers.base import Digest, Notifier, accepts
from notifiers.filters import story_text
from notifiers.render import DEFAULT_LANGUAGE, DigestPart, in_language
from storage.runner import DbRunner
from storage.store import CHANNEL_DOWN, OutboxRow, Store, utcnow

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

    from monitor.config.channels import ChannelFilter
    from monitor.metrics import Metrics
    from notifiers.deliver import Deliverer, DeliveryReport

log = logging.getLogger("monitor.digest")

MAX_DIGEST = 5000  # stories in one digest at most; the rest go in the next one
MAX_BACKOFF = 600.0
SUBSCRIBER_BACKLOG = 30  # a subscriber's chat gets a digest past this many waiting posts


def digest_heading(kind: str, stories_first_seen: list[datetime], until: datetime) -> str:
    """The first line of a digest, in China time. Pure.

    ``kind`` is ``scheduled`` or ``backlog``; the span runs from the first
    story found to ``until``.
    """
    count = len(stories_first_seen)
    end = until.astimezone(CHINA)
    start = min(stories_first_seen).astimezone(CHINA) if stories_first_seen else end
    fmt = "%m-%d %H:%M"
    span = (
        f"{start:{fmt}} – {end:{fmt}}"
        if start.date() != end.date()
        else (f"{end:%m-%d} {start:%H:%M}–{end:%H:%M}")
    )
    title = "质量强省动态摘要" if kind == "scheduled" else "积压消息摘要"
    return f"{title} · {span} 北京时间 · {count} 条"


@dataclass
class DigestReport:
    stories: int = 0  # stories sent in a digest
    messages: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


class DigestSender:
    """Claims a channel's pending posts and sends them as one digest."""

    def __init__(
        self,
        store: Store,
        db: DbRunner,
        *,
        owner: str,
        lease: float,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
        languages: Mapping[str, str] | None = None,
    ) -> None:
        """``languages``: each channel's language (default ``zh-Hans``); a digest
        lists each story as its best report in it tells it (:func:`in_language`)."""
        self._store = store
        self._db = db
        self._owner = owner
        self._lease = lease
        self._clock = clock
        self._metrics = metrics
        self._languages = dict(languages or {})

    async def send(
        self,
        channel_id: str,
        notifier: Notifier,
        *,
        kind: str,
        min_posts: int = 1,
        skip_edits: bool = False,
        pace: Callable[[str, float], Awaitable[None]] | None = None,
    ) -> DigestReport:
        """Send what is queued to ``channel_id`` as a digest, when at least
        ``min_posts`` posts are due. ``skip_edits``: a digest channel lets go of
        the edits of stories it already listed (a digest is never edited)."""
        report = DigestReport()
        now = self._clock()
        rows = await self._db(
            self._store.claim_outbox,
            self._owner,
            now,
            self._lease,
            channels=[channel_id],
            limit=MAX_DIGEST,
        )
        posts = [r for r in rows if r.kind == "post"]
        edits = [r for r in rows if r.kind == "edit"]
        if skip_edits:
            for row in edits:
                await self._db(self._store.skip, row.id, "digest channel: digests are not edited")
            edits = []
        if len(posts) < min_posts:
            await self._db(self._store.release_claims, self._owner, [r.id for r in rows])
            return report
        if edits:  # posts sent one by one earlier: their edits go the usual way
            await self._db(self._store.release_claims, self._owner, [r.id for r in edits])
        stories = []
        by_story: dict[int, OutboxRow] = {}
        language = self._languages.get(channel_id, DEFAULT_LANGUAGE)
        for row in posts:
            story = await self._db(self._store.story, row.story_id)
            if story is None:
                await self._db(self._store.mark_failed, row.id, "story vanished", now)
                continue
            stories.append(in_language(story, language))
            by_story[story.id] = row
        if not stories:
            return report
        heading = digest_heading(kind, [s.first_seen or now for s in stories], now)
        parts = notifier.render_digest(Digest(channel_id, heading, tuple(stories)))
        log.info(
            "channel %s: %d stories as a %s digest in %d messages",
            channel_id,
            len(stories),
            kind,
            len(parts),
        )
        for index, part in enumerate(parts):
            part_rows = [by_story[i] for i in part.story_ids if i in by_story]
            if pace is not None:
                await pace(channel_id, notifier.min_interval)
            lost = [
                r
                for r in part_rows
                if not await self._db(
                    self._store.confirm_claim, r.id, self._owner, self._clock(), self._lease
                )
            ]
            if lost:
                log.warning(
                    "channel %s: %d digest rows are no longer claimed by %s; stopping",
                    channel_id,
                    len(lost),
                    self._owner,
                )
                await self._release(parts[index:], by_story)
                return report
            try:
                await notifier.send_digest_part(part)
            except DeliveryError as exc:
                if exc.permanent:
                    report.failed += len(part_rows)
                    report.errors.append(f"[{channel_id}] digest: {exc}")
                    log.error("channel %s: digest message refused: %s", channel_id, exc)
                    for row in part_rows:
                        await self._db(self._store.mark_failed, row.id, str(exc), self._clock())
                    if self._metrics is not None:
                        self._metrics.failed.labels(channel_id).inc(len(part_rows))
                    continue
                attempts = max((r.attempts for r in part_rows), default=0)
                wait = exc.retry_after
                if wait is None:
                    wait = min(MAX_BACKOFF, 2.0 * 2**attempts)
                # A channel that cannot take posts keeps its rows due: a rerun
                # after the fix sends them at once (notifiers/deliver.py).
                until = self._clock() + timedelta(seconds=0 if exc.channel else wait)
                reason = (CHANNEL_DOWN if exc.channel else "") + str(exc)
                log.warning("channel %s: digest deferred %.0fs: %s", channel_id, wait, exc)
                for row in part_rows:
                    await self._db(self._store.defer, row.id, reason, until)
                report.deferred += len(part_rows)
                if self._metrics is not None:
                    self._metrics.deferred.labels(channel_id).inc()
                await self._release(parts[index + 1 :], by_story)
                return report
            sent_at = self._clock()
            try:
                for row in part_rows:
                    await self._db(self._store.mark_sent, row.id, None, sent_at, self._owner)
            except StoreError:
                log.exception("channel %s: digest sent but not marked", channel_id)
                raise
            report.messages += 1
            report.stories += len(part_rows)
            if self._metrics is not None:
                self._metrics.sent.labels(channel_id, "digest").inc(len(part_rows))
        return report

    async def _release(self, parts: list[DigestPart], by_story: Mapping[int, OutboxRow]) -> None:
        ids = [by_story[i].id for p in parts for i in p.story_ids if i in by_story]
        if ids:
            await self._db(self._store.release_claims, self._owner, ids)


class BacklogDigests:
    """A drain hook: an instant channel with more than its ``backlog_digest``
    posts waiting gets them as one digest before the one-by-one delivery starts."""

    def __init__(
        self,
        sender: DigestSender,
        store: Store,
        db: DbRunner,
        notifiers: Mapping[str, Notifier],
        thresholds: Callable[[str], int],
    ) -> None:
        """``notifiers``: the channels that may be sent to now (paused ones are not
        in it); ``thresholds``: a channel's ``backlog_digest`` (0: never)."""
        self._sender = sender
        self._store = store
        self._db = db
        self._notifiers = notifiers
        self._thresholds = thresholds

    async def __call__(self, deliverer: Deliverer, report: DeliveryReport) -> None:
        waiting = await self._db(self._store.pending_by_channel)
        active = set(self._notifiers)
        for channel_id, count in sorted(waiting.items()):
            threshold = self._thresholds(channel_id)
            if not threshold or count <= threshold or channel_id not in active:
                continue
            if deliverer.holds_back(channel_id):
                continue  # it cannot take posts: no digest until it is tried again
            result = await self._sender.send(
                channel_id,
                self._notifiers[channel_id],
                kind="backlog",
                min_posts=threshold + 1,
                pace=deliverer.pace,
            )
            report.sent += result.stories
            report.failed += result.failed
            report.deferred += result.deferred
            report.errors += result.errors


class ScheduledDigest:
    """The job of a ``mode: digest`` channel: what was queued to it, as one digest."""

    def __init__(
        self,
        sender: DigestSender,
        channel_id: str,
        notifier: Notifier,
        *,
        schedule: str,
        paused: Callable[[str], bool],
    ) -> None:
        self.sender = sender
        self.channel_id = channel_id
        self.notifier = notifier
        self.schedule = schedule
        self._paused = paused
        self._pace = _Pacer()

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger: the cron schedule in China time."""
        return cron_trigger(self.schedule)

    async def run(self) -> DigestReport:
        if self._paused(self.channel_id):
            log.info("channel %s: paused; the digest waits for the next schedule", self.channel_id)
            return DigestReport()
        try:
            report = await self.sender.send(
                self.channel_id, self.notifier, kind="scheduled", skip_edits=True, pace=self._pace
            )
        except StoreError as exc:
            log.error("channel %s: digest: database error: %s", self.channel_id, exc)
            return DigestReport()
        if report.stories:
            log.info(
                "channel %s: digest of %d stories sent in %d messages",
                self.channel_id,
                report.stories,
                report.messages,
            )
        return report


class _Pacer:
    """The pace between the messages of one digest (a digest channel has no
    other sender to share it with)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    async def __call__(self, channel_id: str, interval: float) -> None:
        last = self._last.get(channel_id)
        now = time.monotonic()
        if last is not None and now - last < interval:
            await asyncio.sleep(interval - (now - last))
        self._last[channel_id] = time.monotonic()


# ── the `digest` command ────────────────────────────────────────────────────


def select_stories(found: list[tuple[Story, bool]], channel_filter: ChannelFilter) -> list[Story]:
    """The stories of ``found`` (story, relevant) that a channel's filter lets through. Pure."""
    return [
        story
        for story, relevant in found
        if accepts(
            channel_filter,
            relevant=relevant,
            province=story.province,
            category=story.category,
            language=story.language,
            score=story.score,
            text=story_text(story.title, story.summary, story.source_name),
        )
    ]


async def send_digest_now(
    notifier: Notifier, digest: Digest, *, attempts: int = 5, max_wait: float = 60.0
) -> list[str]:
    """Send a digest outside the outbox (``quality-monitor digest``): each message
    is retried on transient errors (waiting ``retry_after`` on a 429) up to
    ``attempts`` times. Returns the message ids; raises the last DeliveryError."""
    ids: list[str] = []
    pacer = _Pacer()
    for part in notifier.render_digest(digest):
        for attempt in range(attempts):
            await pacer(digest.channel_id, notifier.min_interval)
            try:
                ids.append(await notifier.send_digest_part(part))
                break
            except DeliveryError as exc:
                if exc.permanent or exc.channel or attempt == attempts - 1:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 2.0 * 2**attempt
                log.warning(
                    "channel %s: digest message deferred %.0fs: %s", digest.channel_id, wait, exc
                )
                await asyncio.sleep(min(wait, max_wait))
    return ids
