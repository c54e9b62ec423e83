"""One source poll, from fetch to the transaction that stores it.

::

    fetch list ─► parse ─► drop entries seen ─► (first poll: newest `backlog` only)
        ─► (at most `max_articles`, oldest first)
        ─► fetch article ─► extract ─► normalise ─► classify ─► summarise ─► fingerprint
        ─► [db thread] same URL/text? + candidate stories ─► decide ─► write, one commit

The pure steps run off the event loop in worker threads so that fetching
never waits on parsing; the commit runs in the database thread, where
"look up recent stories, then insert" cannot interleave with another poll.
The commit only orchestrates: it gathers what storage knows of each article
and the candidate stories of the index, :func:`monitor.decide.decide_article`
says where the article goes (an :class:`~monitor.decide.Intent`), and
:meth:`storage.poll.Tx.write` maps that to rows.
An entry whose article could not be read is not marked seen: the next poll
tries again, so nothing is lost; one whose page is too short to keep, or
whose link the fetcher refuses (an internal address), is: asking again
would give the same answer. Reading stops at nine tenths of the source's
interval: what was read is stored, and the poll counts as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from monitor import sources
from monitor.classify import Lexicon, classify
from monitor.config import AnySource, ChannelFilter, Config
from monitor.decide import NEW, decide_article
from monitor.dedup import Candidate, Concepts, StoryIndex, fingerprint
from monitor.errors import ExtractError, FetchError, MonitorError, SourceError, StoreError
from monitor.extract import extract_article, html_to_text, is_date_only
from monitor.fetch import Fetcher
from monitor.health import Health, HealthPolicy, Poll, observe
from monitor.listing import read_listing
from monitor.model import Article, Entry, HealthRecord, PollLine, PollReport, Processed
from monitor.normalize import canonical_url, normalize_article, text_hash
from monitor.summarize import headline, summarize
from storage.runner import DbRunner
from storage.store import Cached, IndexRow, PollEnd, SourceState, Store, Tx, utcnow

log = logging.getLogger("monitor.pipeline")

Source = AnySource
INDEX_WINDOW = timedelta(days=180)  # how far back the story index reaches at start
# ... and for the articles of stories that are not relevant: those are never
# posted, and a relevant article that joined one would not be either (a joined
# story's posts are edited, and it has none). Other outlets restate an event
# within days; a month holds them. With 70 % of the stored articles irrelevant
# (bench.memory), the index of 100,000 articles loses about half its size.
IRRELEVANT_WINDOW = timedelta(days=30)
_FEED_TEXT_ENOUGH = 200  # a feed entry with this much text can stand in for its page
POLL_SHARE = 0.9  # of a source's interval, the most its poll may spend reading
TITLE_MAX = 300  # characters of a title kept (a feed once sent 9 million)


@dataclass
class Context:
    """What a poll needs, built once per process."""

    config: Config
    store: Store
    db: DbRunner
    fetcher: Fetcher
    # The lexicon and the event concepts are built when the first article is read
    # (:attr:`lexicon`, :attr:`concepts`): a pass that finds nothing new needs neither.
    make_lexicon: Callable[[], Lexicon]
    make_concepts: Callable[[], Concepts]
    channels: list[tuple[str, ChannelFilter]]  # the active channels and their filters
    clock: Callable[[], datetime] = utcnow
    # The recent stories, kept in step; loaded (from storage, in the database thread)
    # when the first article is to be matched: a pass that stores nothing never reads
    # them (100,000 stored articles: some 15 s of CPU on a slow machine, and 75 MB).
    make_index: Callable[[], StoryIndex] = StoryIndex
    replica: str | None = None  # named in the fetch log
    last_writes: GroupCommit = field(init=False)
    # The reads every poll makes, many polls to a visit of the database thread.
    first_reads: Batched[tuple[str, str | None], tuple[SourceState | None, Cached]] = field(
        init=False
    )
    entry_reads: Batched[tuple[str, list[tuple[str, str | None]]], tuple[set[str], set[str]]] = (
        field(init=False)
    )
    # When each source this process polled may be tried again (monitor/health.py's
    # backoff), as its last poll recorded it: `run` checks it before each poll.
    backoff_until: dict[str, datetime | None] = field(default_factory=dict)

    _index: StoryIndex | None = field(init=False, default=None)
    _index_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.last_writes = GroupCommit(self.db, self.store)
        self.first_reads = Batched(self.db, self.store.poll_states)
        self.entry_reads = Batched(self.db, self.store.new_entries)

    @functools.cached_property
    def lexicon(self) -> Lexicon:
        return self.make_lexicon()

    @functools.cached_property
    def concepts(self) -> Concepts:
        return self.make_concepts()

    @property
    def index(self) -> StoryIndex:
        with self._index_lock:
            if self._index is None:
                self._index = self.make_index()
            return self._index

    def forget_index(self) -> None:
        """Drop the story index; the next article to be matched loads it again
        (``make_index``: the windows counted from then). Called in the database
        thread, between commits, as the index is only used there: nothing is
        matched against a half-made one, and the old one is freed before the
        new one is read. A long ``run`` calls it daily, so that what aged out of
        the windows leaves memory (the index only grows otherwise)."""
        with self._index_lock:
            self._index = None

    def canonical(self, url: str) -> str:
        """The canonical form of an entry's URL under this configuration."""
        return canonical_url(url, mobile_hosts=self.config.dedup.mobile_hosts)


A = TypeVar("A")
R = TypeVar("R")


class Batched(Generic[A, R]):
    """One read of many polls, made for all of those waiting in one call in the
    database thread (``read`` takes their arguments, gives their results in
    order). The calls that arrive while a batch is read go in the next one.

    A visit of the database thread per read cost its hand-off (a wake-up of
    the event loop for each result) and a connection checkout; at the start of
    a pass every poll reads at once, so one visit serves hundreds. An error
    fails every call of its batch (a StoreError: the database is down).
    """

    BATCH = 1000
    FIRST = 50

    def __init__(self, db: DbRunner, read: Callable[[list[A]], list[R]]) -> None:
        self._db, self._read = db, read
        self._queue: list[tuple[A, asyncio.Future[R]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def __call__(self, argument: A) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((argument, done))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._drain())
        return await done

    async def _drain(self) -> None:
        # The first visit takes a few, the next ones twice as many each, up to
        # BATCH: when a pass starts, every poll reads at once, and the first
        # requests go out after a visit of FIRST reads, not of BATCH (1,000
        # states: ~0.1 s before the first request, the network idle).
        size = self.FIRST
        while self._queue:
            batch, self._queue = self._queue[:size], self._queue[size:]
            size = min(size * 2, self.BATCH)
            try:
                results = await self._db(self._read, [argument for argument, _ in batch])
            except BaseException as exc:
                for _, done in batch:
                    if done.done():  # its poll was cancelled meanwhile
                        continue
                    if isinstance(exc, Exception):
                        done.set_exception(exc)
                    else:
                        done.cancel()
                if not isinstance(exc, Exception):
                    raise
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)


class GroupCommit(Batched[PollEnd, None]):
    """The polls' last writes (health, fetch log; see :class:`PollEnd`), many
    polls to a transaction.

    A poll waits until its write is committed, as it would alone; the writes
    that arrive while one batch is being committed go together in the next.
    One transaction per poll cost more than its statements (two thirds of an
    unchanged poll's database time). A batch that fails fails each of its
    polls with the same error (a StoreError: the database is down or locked).
    """

    BATCH = 200

    def __init__(self, db: DbRunner, store: Store) -> None:
        super().__init__(db, self._commit)
        self._store = store

    def _commit(self, ends: list[PollEnd]) -> list[None]:
        self._store.finish_polls(ends)
        return [None] * len(ends)


async def poll(
    source: Source, ctx: Context, *, schedule: tuple[str, datetime | None] | None = None
) -> PollReport:
    """Poll one source once. Never raises for the source's own faults: the
    report carries the error, and the source's state records it. ``schedule``
    (the replica and when it polls the source next) is written with the poll's
    last write, for the dashboard."""
    started, started_at = time.perf_counter(), ctx.clock()
    report = PollReport(source.id)
    try:  # the list's first request: its validators are read with the state, in one visit
        first = sources.request(source, 1)
    except Exception:  # the poll itself reports what is wrong with it
        first = None
    key = first.key if first is not None else None
    # A StoreError here (and in the last write) is the caller's: the database is down.
    state, known = await ctx.first_reads((source.id, key))
    quiet: _Quiet | None = None
    try:
        quiet = await _poll(source, ctx, report, state, (key, known))
    except SourceError as exc:
        report.status, report.error = "error", exc.reason
        report.answered = not isinstance(exc, FetchError)  # a parse error follows an answer
        log.error("source %s: %s", source.id, exc.reason)
        await _record_failure(ctx, source.id, exc.reason)
    except StoreError:
        raise  # the database is down: not this source's fault, the caller decides
    except Exception as exc:  # a bug or a library surprise must not stop the other sources
        reason = f"unexpected {type(exc).__name__}: {exc}"
        report.status, report.error = "error", reason
        log.exception("source %s: %s", source.id, reason)
        await _record_failure(ctx, source.id, reason)
    report.elapsed = time.perf_counter() - started
    await _finish(ctx, source, report, state, started_at, quiet, schedule)
    return report


@dataclass(frozen=True)
class _Quiet:
    """A poll that stored no article: what it leaves for the last write to record
    (one transaction instead of two, and that one shared by many polls): when it
    polled, the entries it found, the list's validators (None for an unchanged
    list) and the entries it now counts as seen (a first poll's backlog)."""

    at: datetime
    entries: int | None = None
    validators: tuple[str, Cached] | None = None
    seen: tuple[tuple[str, str | None], ...] = ()  # entries now seen (none stored)


def health_of(state: SourceState) -> Health:
    """The health a source's state row holds (what :func:`observe` learns from)."""
    return Health(
        failing_since=state.failing_since,
        backoff_until=state.backoff_until,
        cadence=state.cadence_seconds,
        usual_entries=state.usual_entries,
        newest=state.newest_entry_at,
        flags=frozenset(state.health_flags),
        note=state.health_note,
        changed_at=state.health_changed_at,
    )


async def _finish(
    ctx: Context,
    source: Source,
    report: PollReport,
    state: SourceState | None,
    started_at: datetime,
    quiet: _Quiet | None,
    schedule: tuple[str, datetime | None] | None,
) -> None:
    """Learn from this poll (monitor/health.py), say a flag once, when it changes,
    and write it down in one transaction with the poll's line in the fetch log
    (and, for a poll that found nothing new, that the source was polled).

    ``state`` is the source's row as the poll found it: the poll itself only
    changed its failure count (reset by a success, one more for a failure),
    so the row is not read again (a read per poll was a fifth of an
    unchanged poll's database time).
    """
    failures = 0 if report.status != "error" else 1 + (state.consecutive_failures if state else 0)
    try:
        previous = health_of(state) if state is not None else Health()
        poll_seen = Poll(
            now=ctx.clock(),
            status=report.status,
            interval=ctx.config.interval(source),
            failures=failures,
            answered=report.answered,
            entries=report.entries if report.status != "not_modified" else None,
            dates=tuple(report.dates),
            error=report.error,
            list_origin=report.origin,
            list_notice=report.notice,
        )
        policy = HealthPolicy(
            max_backoff=ctx.config.defaults.max_backoff,
            failing_after=ctx.config.defaults.failing_after,
        )
        health, changes = observe(previous, poll_seen, policy, jitter=random.random())
    except Exception:  # a bug in the health rules must not fail the poll, nor lose its record
        log.exception("source %s: could not judge its health", source.id)
        health, changes = None, []
    end = PollEnd(
        source.id,
        health=None
        if health is None
        else HealthRecord(
            status=report.status,
            elapsed=report.elapsed,
            failing_since=health.failing_since,
            backoff_until=health.backoff_until,
            cadence_seconds=health.cadence,
            usual_entries=health.usual_entries,
            newest_entry_at=health.newest,
            flags=health.flags,
            note=health.note,
            changed_at=health.changed_at,
        ),
        log=PollLine.of(report, started_at, ctx.replica),
        polled_at=quiet.at if quiet is not None else None,
        entries_found=quiet.entries if quiet is not None else None,
        validators=quiet.validators if quiet is not None else None,
        seen=quiet.seen if quiet is not None else (),
        has_state=state is not None,
        schedule=schedule,
        health_unchanged=health is not None and state is not None and health == previous,
    )
    await ctx.last_writes(end)
    if health is not None:
        ctx.backoff_until[source.id] = health.backoff_until
    for change in changes:
        if change.raised:
            log.warning("source %s: health: %s: %s", source.id, change.flag, change.message)
        else:
            log.info("source %s: health: %s ok again: %s", source.id, change.flag, change.message)


async def _record_failure(ctx: Context, source_id: str, reason: str) -> None:
    try:
        await ctx.db(ctx.store.record_failure, source_id, reason, ctx.clock())
    except StoreError:
        log.exception("source %s: could not record the failure", source_id)


async def _poll(
    source: Source,
    ctx: Context,
    report: PollReport,
    state: SourceState | None,
    prefetched: tuple[str | None, Cached],
) -> _Quiet | None:
    """Read the list and what is new on it, and commit what was read; or, when
    nothing is new, leave the bookkeeping to the poll's last write."""
    config = ctx.config
    first_poll = state is None or state.first_polled_at is None

    async def cached(key: str) -> Cached:
        if key == prefetched[0]:
            return prefetched[1]
        return await ctx.db(ctx.store.cached, key)

    async def all_new(found: list[Entry]) -> bool:
        keys = {ctx.canonical(e.url) for e in found}
        return len(await ctx.db(ctx.store.unseen, source.id, keys)) == len(keys)

    # The poll's deadline: nine tenths of its interval (the rest for its commit),
    # so that a poll never runs into its own next one (APScheduler would skip
    # that). Each request has its own deadline besides (the source's timeout);
    # this bounds their sum.
    budget = POLL_SHARE * config.interval(source)
    deadline = asyncio.get_running_loop().time() + budget
    try:
        async with asyncio.timeout_at(deadline):
            listing = await read_listing(
                source,
                ctx.fetcher,
                timeout=config.timeout(source),
                cached=cached,
                all_new=None if first_poll else all_new,  # a first poll reads its backlog only
            )
    except TimeoutError as exc:
        raise FetchError(
            source.id, f"poll overran its deadline ({budget:g}s) while reading the list"
        ) from exc
    report.answered, report.pages = True, listing.pages
    report.origin, report.notice = listing.origin, listing.notice
    for warning in listing.warnings:
        report.warnings.append(warning)
        log.warning("source %s: %s", source.id, warning)
    if listing.unchanged:
        # A 304 or the same bytes: nothing parsed, nothing read; poll() records it.
        report.status = "not_modified"
        return _Quiet(ctx.clock())
    entries = listing.entries
    report.entries = len(entries)
    report.dates = [e.published for e in entries if e.published]
    report.newest = max(report.dates, default=None)

    keyed: dict[str, Entry] = {}
    for entry in entries:
        keyed.setdefault(ctx.canonical(entry.url), entry)  # the first listing wins
    canonical = {id(e): key for key, e in keyed.items()}  # computed once an entry
    # What the source has not listed before, and of that, the same feed item under
    # a new link (a site moved its pages): known by its GUID. One read.
    unseen, guids = await ctx.entry_reads((source.id, [(k, e.guid) for k, e in keyed.items()]))
    new = [e for key, e in keyed.items() if key in unseen]
    if not new:  # the list changed (a date, a counter) but lists nothing new
        return _Quiet(ctx.clock(), len(entries), (listing.key, listing.validators))
    moved = [e for e in new if e.guid in guids]
    new = [e for e in new if e.guid not in guids]
    report.new = len(new)
    to_read = _newest(new, config.backlog(source)) if first_poll else new
    backlog_only = [e for e in new if e not in to_read]  # seen, never posted
    known = (
        await ctx.db(ctx.store.known_urls, [canonical[id(e)] for e in to_read])
        if to_read
        else set()
    )
    to_read = [e for e in to_read if canonical[id(e)] not in known]
    skipped = [*moved, *(e for e in new if canonical[id(e)] in known)]
    waiting = _over_cap(to_read, config.max_articles(source))
    if waiting:
        to_read = [e for e in to_read if e not in waiting]
        message = (
            f"{len(waiting)} more new articles wait for the next poll "
            f"(max_articles: {config.max_articles(source)})"
        )
        report.warnings.append(message)
        log.warning("source %s: %s", source.id, message)

    outcomes = await _read_all(to_read, source, ctx, deadline)
    processed: list[Processed] = []
    settled: list[Entry] = []  # answered with nothing to keep: not asked for again
    overran = 0
    for entry, outcome in zip(to_read, outcomes, strict=True):
        if isinstance(outcome, Processed):
            processed.append(outcome)
        elif outcome is None:
            overran += 1
        elif isinstance(outcome, SourceError):
            if _settled(outcome):
                settled.append(entry)
            report.warnings.append(outcome.reason)
            log.warning("source %s: %s", source.id, outcome.reason)
        else:
            message = f"{entry.url}: unexpected {type(outcome).__name__}: {outcome}"
            report.warnings.append(message)
            log.error("source %s: %s", source.id, message, exc_info=outcome)

    seen = [(canonical[id(e)], e.guid) for e in (*backlog_only, *skipped, *settled)]
    seen += [(p.article.canonical_url, p.entry.guid) for p in processed]
    # An article that could not be read is retried by the next poll, and so are those
    # past the cap: keep no validators then, or a 304 (or the same bytes) would hide
    # them until the list changes.
    complete = not waiting and len(processed) + len(settled) == len(to_read)
    validators = listing.validators if complete else Cached()
    if not processed and not overran:
        # Nothing to store but what is now seen (a first poll's backlog, links
        # stored already): the poll's last write records it, many polls to a
        # transaction, instead of a transaction of its own.
        return _Quiet(ctx.clock(), len(entries), (listing.key, validators), tuple(seen))
    stories, alerts = await ctx.db(
        commit,
        ctx.store,
        source,
        listing.key,
        validators,
        seen,
        processed,
        ctx.channels,
        ctx.clock(),
        len(entries),
        lambda: ctx.index,
    )
    report.articles, report.stories, report.alerts = len(processed), stories, alerts
    if overran:  # what was read is stored; the poll is still a failure, as any overrun
        raise FetchError(
            source.id,
            f"poll overran its deadline ({budget:g}s): {overran} articles left unread "
            "for the next poll",
        )
    return None


def _settled(error: SourceError) -> bool:
    """An article whose answer is final: a page too short to keep, or a link to an
    address the fetcher refuses. Marked seen, so it is not fetched every poll."""
    return isinstance(error, ExtractError) or (isinstance(error, FetchError) and error.refused)


def _over_cap(entries: list[Entry], cap: int) -> list[Entry]:
    """The entries past the per-poll cap: the newest ones, so that the oldest are
    read first. Those left unseen keep page 1 all new at the next poll, and the
    listing reads on (monitor/listing.py) down to what this poll read: no gap."""
    if len(entries) <= cap:
        return []
    return _newest(entries, len(entries) - cap)


async def _read_all(
    entries: list[Entry], source: Source, ctx: Context, deadline: float
) -> list[Processed | BaseException | None]:
    """Read these entries concurrently until the poll's deadline: each one's
    Processed or error, None for a read the deadline cut short."""
    tasks = [asyncio.ensure_future(_read(e, source, ctx)) for e in entries]
    if not tasks:
        return []
    try:
        _done, pending = await asyncio.wait(
            tasks, timeout=max(0.0, deadline - asyncio.get_running_loop().time())
        )
    finally:  # the deadline, or this poll cancelled: nothing keeps running
        for task in tasks:
            task.cancel()
    if pending:
        await asyncio.wait(pending)
    outcomes: list[Processed | BaseException | None] = []
    for task in tasks:
        if task in pending or task.cancelled():
            outcomes.append(None)
        elif (error := task.exception()) is not None:
            if not isinstance(error, Exception):
                raise error
            outcomes.append(error)
        else:
            outcomes.append(task.result())
    return outcomes


def _newest(entries: list[Entry], count: int) -> list[Entry]:
    """The ``count`` newest entries: by date where dates are known, else page order."""
    if count <= 0:
        return []
    dated = sorted(
        entries,
        key=lambda e: (e.published is not None, e.published or datetime.min),
        reverse=True,
    )
    return dated[:count] if any(e.published for e in entries) else entries[:count]


async def _read(entry: Entry, source: Source, ctx: Context) -> Processed:
    """Fetch, extract and run the pure steps for one entry."""
    title, body, published = entry.title, "", entry.published
    feed_text = (
        html_to_text(entry.content_html or entry.summary)
        if (entry.content_html or entry.summary)
        else ""
    )
    if source.follow:
        try:
            page = await ctx.fetcher.get(
                entry.url,
                source_id=source.id,
                timeout=ctx.config.timeout(source),
                encoding=source.encoding,
                render=source.render == "browser",
                origin=source.url,  # the link is the feed's word: internal hosts are refused
            )
        except FetchError:
            if len(feed_text) < _FEED_TEXT_ENOUGH:
                raise
            body = feed_text  # the feed carries the article: better than nothing
        else:
            extracted = await asyncio.to_thread(
                extract_article, page.text, page.final_url, source.article
            )
            body = extracted.text
            title = title or extracted.title
            published = _better_date(published, extracted.published)
    if not body.strip():
        body = feed_text
    if not body.strip():
        raise ExtractError(source.id, f"{entry.url}: no article text found")
    return await asyncio.to_thread(_process, entry, source, title, body, published, ctx)


def _better_date(listed: datetime | None, page: datetime | None) -> datetime | None:
    """The list's date, completed by the page's time when the list gave only the day."""
    if listed is None or page is None:
        return listed or page
    if is_date_only(listed) and abs((page - listed).total_seconds()) < 86400:
        return page
    return listed


def _process(
    entry: Entry, source: Source, title: str, body: str, published: datetime | None, ctx: Context
) -> Processed:
    """The pure steps, in order."""
    if len(title) > TITLE_MAX:  # cut before any step spends time on it
        title = title[: TITLE_MAX - 1] + "…"
    normal = normalize_article(title, body)
    if len(normal.text) < 20:
        raise ExtractError(source.id, f"{entry.url}: article text too short after cleaning")
    article = Article(
        source_id=source.id,
        url=entry.url,
        canonical_url=ctx.canonical(entry.url),
        title=(normal.title or headline(normal.text, normal.language))[:TITLE_MAX],
        text=normal.text,
        language=normal.language,
        text_hash=text_hash(normal.text),
        original_title=title,
        guid=entry.guid,
        published=published,
    )
    verdict = classify(article.title, article.text, ctx.lexicon, source_province=source.province)
    summary = summarize(article.title, article.text, article.language, facts=verdict.facts)
    fp = fingerprint(
        article.title,
        article.text,
        article.language,
        article.text_hash,
        ctx.concepts,
        doc_titles=verdict.facts.titles,
        province=verdict.province,
    )
    return Processed(entry, article, verdict, summary, fp)


# ── the commit, in the database thread ──────────────────────────────────────


def commit(
    store: Store,
    source: Source,
    url: str,
    validators: Cached,
    seen: list[tuple[str, str | None]],  # (canonical URL, GUID) of every entry now seen
    processed: list[Processed],
    channels: list[tuple[str, ChannelFilter]],
    now: datetime,
    entries_found: int,
    index: StoryIndex | Callable[[], StoryIndex] | None = None,
) -> tuple[int, int]:
    """Store one poll in one transaction; return (stories created, alerts queued).

    The story index (or what gives it: it is only asked for when there are
    articles, before the transaction) is brought up to date with what other
    processes stored first, and learns this poll's articles only once the
    transaction commits.
    """
    if not processed:
        index = StoryIndex()  # unused: nothing is matched
    elif index is None:
        index = StoryIndex()
    elif not isinstance(index, StoryIndex):
        index = index()
    stories_created = alerts = 0
    added: list[IndexRow] = []
    merges: list[tuple[int, tuple[int, ...]]] = []
    with store.transaction() as tx:
        if processed:
            tx.lock_stories()  # replicas match and create stories one poll at a time
            catch_up(tx, index)  # only matching needs the index in step: not a poll without news
        tx.save_validators(
            url, validators.etag, validators.last_modified, now, validators.content_hash
        )
        tx.mark_seen(source.id, seen, now)
        for p in processed:
            created, queued = _store_article(tx, source, p, channels, now, index, added, merges)
            stories_created += created
            alerts += queued
        tx.source_polled(source.id, now, entries_found)
    for row in added:
        index.add(row.story_id, row.province, row.when, row.fingerprint, article_id=row.article_id)
    for into, merged in merges:
        index.merge_stories(into, merged)
    return stories_created, alerts


CATCH_UP_LOOKBACK = 1000  # ids another process may have committed after a higher one


def catch_up(tx: Tx, index: StoryIndex) -> None:
    """Add what other processes stored since the index last looked.

    The ids of the lookback window are read first and the fingerprints only of
    those the index lacks: reading the whole window's fingerprints at every
    commit made a cycle that stores N articles cost O(N × window).
    """
    after = max(0, index.last_article_id - CATCH_UP_LOOKBACK)
    missing = [i for i in tx.indexed_ids(after_id=after) if not index.knows(i)]
    if not missing:
        return
    for row in tx.fingerprints(after_id=after, ids=missing if len(missing) < 500 else None):
        if not index.knows(row.article_id):
            index.add(
                row.story_id, row.province, row.when, row.fingerprint, article_id=row.article_id
            )


LOAD_BATCH = 1000  # rows read at a time when the index is built at start


def load_index(
    store: Store, since: datetime, *, irrelevant_since: datetime | None = None
) -> StoryIndex:
    """The story index of everything first seen since ``since`` (the articles of
    stories that are not relevant: since ``irrelevant_since``), from storage.

    Read in batches: the rows of 100,000 articles at once (a tuple of 64
    Python ints each) took some 200 MB for a moment, several times the index;
    what the batches freed is then handed back to the system (bench.memory).
    """
    index = StoryIndex()
    after = 0
    while True:
        rows = store.fingerprints(
            after_id=after, since=since, limit=LOAD_BATCH, irrelevant_since=irrelevant_since
        )
        for row in rows:
            index.add(
                row.story_id, row.province, row.when, row.fingerprint, article_id=row.article_id
            )
        if len(rows) < LOAD_BATCH:
            break
        after = rows[-1].article_id
    _trim_heap()
    return index


def _trim_heap() -> None:
    """Return freed heap pages to the system (glibc's malloc_trim; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _pending(added: list[IndexRow]) -> list[Candidate]:
    """This transaction's stories, not yet in the index."""
    by_story: dict[int, list[IndexRow]] = {}
    for row in added:
        by_story.setdefault(row.story_id, []).append(row)
    return [
        Candidate(
            rows[0].story_id,
            rows[0].province,
            rows[0].when,
            rows[0].fingerprint,
            tuple(r.fingerprint for r in rows[1:]),
            dates=tuple(r.when for r in rows),
        )
        for rows in by_story.values()
    ]


def _store_article(
    tx: Tx,
    source: Source,
    p: Processed,
    channels: list[tuple[str, ChannelFilter]],
    now: datetime,
    index: StoryIndex,
    added: list[IndexRow],
    merges: list[tuple[int, tuple[int, ...]]],
) -> tuple[int, int]:
    """Gather what the decision needs, decide (monitor/decide.py), and have
    storage write it; return (stories created, alerts queued)."""
    a, v = p.article, p.verdict
    known = tx.known(a.canonical_url, a.text_hash)
    when = a.published or now
    candidates: list[Candidate] = []
    if known is None:  # a stored URL or text places the article: no matching needed
        candidates = index.candidates(p.fingerprint, v.province, when) + _pending(added)
    intent = decide_article(p, source.name, known, candidates, index.rarity, channels, when=when)
    if intent.merged and intent.story_id is not None:
        merges.append((intent.story_id, intent.merged))
    written = tx.write(intent, source.id, source.name, p, now)
    if written is None:
        return 0, 0
    story_id, article_id = written
    added.append(IndexRow(article_id, story_id, v.province, when, p.fingerprint))
    return (1, len(intent.posts)) if intent.action == NEW else (0, 0)


async def poll_all(sources_: list[Source], ctx: Context) -> list[PollReport]:
    """Poll these sources concurrently (the fetcher bounds what is in flight).

    A StoreError (the database is unreachable, or locked by another writer past
    its timeout) ends the pass at once: the other polls are cancelled — their
    transactions never commit, so the next pass reads again what they read —
    and the error is raised. Left running, every one of them would wait out
    the database's timeout in turn in the single database thread.
    """
    tasks = [asyncio.ensure_future(poll(s, ctx)) for s in sources_]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


__all__ = ["Context", "MonitorError", "PollReport", "Processed", "commit", "poll", "poll_all"]
