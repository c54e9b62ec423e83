"""One source poll, from fetch to the transaction that stores it.

::

    fetch list ─► parse ─► drop entries seen ─► (first poll: newest `backlog` only)
        ─► fetch article ─► extract ─► normalise ─► classify ─► summarise ─► fingerprint
        ─► [db thread] same URL/text? ─► match story ─► articles + stories + outbox, one commit

The pure steps run off the event loop in worker threads so that fetching
never waits on parsing; the commit runs in the database thread, where
"look up recent stories, then insert" cannot interleave with another poll.
An entry whose article could not be read is not marked seen: the next poll
tries again, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor import sources
from monitor.classify import Lexicon, classify
from monitor.config import ChannelFilter, Config, HtmlSource, RssSource
from monitor.dedup import Concepts, Fingerprint, fingerprint, match_story
from monitor.errors import ExtractError, FetchError, MonitorError, SourceError, StoreError
from monitor.extract import extract_article, html_to_text
from monitor.fetch import Fetcher
from monitor.model import Article, Entry, Verdict
from monitor.normalize import canonical_url, normalize_article, text_hash
from monitor.summarize import summarize
from notifiers.base import accepts
from storage.runner import DbRunner
from storage.store import Store, Tx, utcnow

log = logging.getLogger("monitor.pipeline")

Source = RssSource | HtmlSource
STORY_WINDOW = timedelta(days=14)  # how far back a new article looks for its story
_FEED_TEXT_ENOUGH = 200  # a feed entry with this much text can stand in for its page


@dataclass(frozen=True, slots=True)
class Processed:
    """One article through every pure step, ready to store."""

    entry: Entry
    article: Article
    verdict: Verdict
    summary: str
    fingerprint: Fingerprint


@dataclass
class PollReport:
    source_id: str
    status: str = "ok"  # ok | not_modified | error
    entries: int = 0
    new: int = 0
    articles: int = 0
    stories: int = 0
    alerts: int = 0
    newest: datetime | None = None
    elapsed: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What a poll needs, built once per process."""

    config: Config
    store: Store
    db: DbRunner
    fetcher: Fetcher
    lexicon: Lexicon
    concepts: Concepts
    channels: list[tuple[str, ChannelFilter]]  # the active channels and their filters
    clock: Callable[[], datetime] = utcnow


async def poll(source: Source, ctx: Context) -> PollReport:
    """Poll one source once. Never raises for the source's own faults: the
    report carries the error, and the source's state records it."""
    started = time.perf_counter()
    report = PollReport(source.id)
    try:
        await _poll(source, ctx, report)
    except SourceError as exc:
        report.status, report.error = "error", exc.reason
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
    return report


async def _record_failure(ctx: Context, source_id: str, reason: str) -> None:
    try:
        await ctx.db(ctx.store.record_failure, source_id, reason, ctx.clock())
    except StoreError:
        log.exception("source %s: could not record the failure", source_id)


async def _poll(source: Source, ctx: Context, report: PollReport) -> None:
    config = ctx.config
    etag, last_modified = await ctx.db(ctx.store.validators, source.url)
    result = await ctx.fetcher.get(
        source.url,
        source_id=source.id,
        timeout=config.timeout(source),
        etag=etag,
        last_modified=last_modified,
        encoding=source.encoding,
    )
    if result.not_modified:
        report.status = "not_modified"
        await ctx.db(_commit_unchanged, ctx.store, source.id, ctx.clock())
        return
    entries = await asyncio.to_thread(sources.parse, result, source)
    report.entries = len(entries)
    report.newest = max((e.published for e in entries if e.published), default=None)

    keyed: dict[str, Entry] = {}
    for entry in entries:
        keyed.setdefault(canonical_url(entry.url), entry)  # the first listing wins
    unseen = await ctx.db(ctx.store.unseen, source.id, keyed)
    new = [e for key, e in keyed.items() if key in unseen]
    report.new = len(new)
    state = await ctx.db(ctx.store.source_state, source.id)
    first_poll = state is None or state.first_polled_at is None
    to_read = _newest(new, config.backlog(source)) if first_poll else new
    backlog_only = [e for e in new if e not in to_read]  # seen, never posted
    known = await ctx.db(ctx.store.known_urls, [canonical_url(e.url) for e in to_read])
    to_read = [e for e in to_read if canonical_url(e.url) not in known]
    skipped = [e for e in new if canonical_url(e.url) in known]

    outcomes = await asyncio.gather(
        *(_read(e, source, ctx) for e in to_read), return_exceptions=True
    )
    processed: list[Processed] = []
    for entry, outcome in zip(to_read, outcomes, strict=True):
        if isinstance(outcome, Processed):
            processed.append(outcome)
        elif isinstance(outcome, SourceError):
            report.warnings.append(outcome.reason)
            log.warning("source %s: %s", source.id, outcome.reason)
        elif isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome
            message = f"{entry.url}: unexpected {type(outcome).__name__}: {outcome}"
            report.warnings.append(message)
            log.error("source %s: %s", source.id, message, exc_info=outcome)

    seen = [*backlog_only, *skipped, *(p.entry for p in processed)]
    stories, alerts = await ctx.db(
        commit,
        ctx.store,
        source,
        result.url,
        (result.etag, result.last_modified),
        seen,
        processed,
        ctx.channels,
        ctx.concepts,
        ctx.clock(),
        len(entries),
    )
    report.articles, report.stories, report.alerts = len(processed), stories, alerts


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
            published = published or extracted.published
    if not body.strip():
        body = feed_text
    if not body.strip():
        raise ExtractError(source.id, f"{entry.url}: no article text found")
    return await asyncio.to_thread(_process, entry, source, title, body, published, ctx)


def _process(
    entry: Entry, source: Source, title: str, body: str, published: datetime | None, ctx: Context
) -> Processed:
    """The pure steps, in order."""
    normal = normalize_article(title, body)
    if len(normal.text) < 20:
        raise ExtractError(source.id, f"{entry.url}: article text too short after cleaning")
    article = Article(
        source_id=source.id,
        url=entry.url,
        canonical_url=canonical_url(entry.url),
        title=normal.title or normal.text[:60],
        text=normal.text,
        language=normal.language,
        text_hash=text_hash(normal.text),
        original_title=title,
        guid=entry.guid,
        published=published,
    )
    verdict = classify(article.title, article.text, ctx.lexicon, source_province=source.province)
    summary = summarize(article.title, article.text, article.language)
    fp = fingerprint(article.title, article.text, article.language, article.text_hash, ctx.concepts)
    return Processed(entry, article, verdict, summary, fp)


# ── the commit, in the database thread ──────────────────────────────────────


def _commit_unchanged(store: Store, source_id: str, now: datetime) -> None:
    with store.transaction() as tx:
        tx.source_polled(source_id, now, None)


def commit(
    store: Store,
    source: Source,
    url: str,
    validators: tuple[str | None, str | None],
    seen: list[Entry],
    processed: list[Processed],
    channels: list[tuple[str, ChannelFilter]],
    concepts: Concepts,
    now: datetime,
    entries_found: int,
) -> tuple[int, int]:
    """Store one poll in one transaction; return (stories created, alerts queued)."""
    stories_created = alerts = 0
    with store.transaction() as tx:
        tx.save_validators(url, validators[0], validators[1], now)
        tx.mark_seen(source.id, ((canonical_url(e.url), e.guid) for e in seen), now)
        for p in processed:
            created, queued = _store_article(tx, source, p, channels, concepts, now)
            stories_created += created
            alerts += queued
        tx.source_polled(source.id, now, entries_found)
    return stories_created, alerts


def _store_article(
    tx: Tx,
    source: Source,
    p: Processed,
    channels: list[tuple[str, ChannelFilter]],
    concepts: Concepts,
    now: datetime,
) -> tuple[int, int]:
    a, v = p.article, p.verdict
    values: dict[str, Any] = {
        "source_id": source.id,
        "source_name": source.name,
        "url": a.url,
        "canonical_url": a.canonical_url,
        "guid": a.guid,
        "title": a.title,
        "original_title": a.original_title,
        "text": a.text,
        "language": a.language,
        "text_hash": a.text_hash,
        "published": a.published,
        "first_seen": now,
        "relevant": v.relevant,
        "score": v.score,
        "province": v.province,
        "category": v.category,
        "evidence": [
            {"term": e.term, "where": e.where, "weight": e.weight, "kind": e.kind}
            for e in v.evidence
        ],
        "summary": p.summary,
        "minhash": list(p.fingerprint.minhash),
        "concepts": sorted(p.fingerprint.concepts),
        "doc_numbers": sorted(p.fingerprint.doc_numbers),
    }
    known = tx.known_article(a.canonical_url, a.text_hash)
    if known is not None:
        if known.story_id is None or tx.url_known(a.canonical_url):
            return 0, 0  # the very same article: nothing to add
        values |= {
            "story_id": known.story_id,
            "match_level": "same_text",
            "match_score": 1.0,
            "match_reason": f"same normalised text as article {known.id}",
        }
        if tx.insert_article(values) is not None:
            tx.story_updated(known.story_id, now)
            tx.enqueue_edits(known.story_id, now)
        return 0, 0
    when = a.published or now
    match = match_story(
        p.fingerprint, v.province, when, tx.candidates(now - STORY_WINDOW), concepts
    )
    if match is not None:
        values |= {
            "story_id": match.story_id,
            "match_level": match.level,
            "match_score": match.score,
            "match_reason": match.reason,
        }
        if tx.insert_article(values) is not None:
            tx.story_updated(match.story_id, now)
            tx.enqueue_edits(match.story_id, now)
        return 0, 0
    story_id = tx.insert_story(
        {
            "title": a.title,
            "url": a.url,
            "summary": p.summary,
            "province": v.province,
            "category": v.category,
            "language": a.language,
            "source_id": source.id,
            "source_name": source.name,
            "relevant": v.relevant,
            "score": v.score,
            "published": a.published,
            "first_seen": now,
            "updated_at": now,
        }
    )
    if tx.insert_article(values | {"story_id": story_id}) is None:
        raise StoreError(f"article {a.canonical_url} was stored twice at once")
    queued = 0
    for channel_id, channel_filter in channels:
        if accepts(
            channel_filter,
            relevant=v.relevant,
            province=v.province,
            category=v.category,
            language=a.language,
            score=v.score,
        ):
            tx.enqueue(story_id, channel_id, now)
            queued += 1
    return 1, queued


async def poll_all(sources_: list[Source], ctx: Context) -> list[PollReport]:
    """Poll these sources concurrently (the fetcher bounds what is in flight)."""
    return list(await asyncio.gather(*(poll(s, ctx) for s in sources_)))


__all__ = ["Context", "MonitorError", "PollReport", "Processed", "commit", "poll", "poll_all"]
