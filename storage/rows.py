"""Rows to the value types of ``monitor.model`` and back: the one place that
knows both the columns and the models. [pure, but for :func:`read_story`]

Every module of ``storage`` reads a story, a source's state or a fingerprint
through these functions, and builds an article's or a story's columns with
them; ``notifiers/bot.py`` turns the dashboard's rows into stories with
:func:`story_of` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import Connection, select

from monitor.model import (
    AlertStatus,
    Fingerprint,
    HealthRecord,
    Mention,
    PollLine,
    Processed,
    Story,
    StoryArticle,
)
from storage.schema import articles, stories

__all__ = [
    "SourceState",
    "alert_status_of",
    "article_columns",
    "fingerprint_of",
    "health_columns",
    "log_columns",
    "poll_line_of",
    "read_story",
    "source_state_of",
    "story_article_of",
    "story_columns",
    "story_of",
    "utc",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
@overload
def utc(value: datetime | None) -> datetime | None: ...
def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ── stories ─────────────────────────────────────────────────────────────────


def story_of(row: Any, also: Iterable[Mention] = ()) -> Story:
    """A story from a row of ``stories`` (or anything with its columns: a
    dashboard's :class:`~storage.dashboard.StoryRow`), with the other outlets'
    articles ``also`` attached."""
    return Story(
        id=row.id,
        title=row.title,
        url=row.url,
        summary=row.summary,
        province=row.province,
        category=row.category,
        language=row.language,
        source_name=row.source_name,
        published=utc(row.published),
        first_seen=utc(row.first_seen),
        score=row.score,
        also=tuple(also),
    )


def mention_of(row: Any) -> Mention:
    """An attached article, as a story lists it."""
    return Mention(
        row.source_name,
        row.url,
        row.language,
        title=row.title,
        summary=row.summary,
        published=utc(row.published),
        score=row.score,
    )


def read_story(conn: Connection, story_id: int) -> Story | None:
    """A stored story with the articles attached to it (those that matched it)."""
    row = conn.execute(select(stories).where(stories.c.id == story_id)).first()
    if row is None:
        return None
    others = conn.execute(
        select(
            articles.c.source_name,
            articles.c.url,
            articles.c.language,
            articles.c.title,
            articles.c.summary,
            articles.c.published,
            articles.c.score,
        )
        .where(articles.c.story_id == story_id, articles.c.match_level.is_not(None))
        .order_by(articles.c.id)
    ).all()
    return story_of(row, (mention_of(o) for o in others))


def story_article_of(row: Any) -> StoryArticle:
    """An article of a story, as its page lists it (a row of ``articles``'
    id, source, URL, title, language and match columns)."""
    return StoryArticle(
        id=row.id,
        source_id=row.source_id,
        source_name=row.source_name,
        url=row.url,
        title=row.title,
        language=row.language,
        match_level=row.match_level,
        match_score=row.match_score,
        match_reason=row.match_reason,
    )


def alert_status_of(row: Any) -> AlertStatus:
    """A story's outbox row: channel, kind, status, when sent, last error."""
    return AlertStatus(
        story_id=row.story_id,
        channel_id=row.channel_id,
        kind=row.kind,
        status=row.status,
        sent_at=utc(row.sent_at),
        last_error=row.last_error,
    )


def story_columns(source_id: str, source_name: str, p: Processed, now: datetime) -> dict[str, Any]:
    """The ``stories`` row of a story that ``p`` leads."""
    a, v = p.article, p.verdict
    return {
        "title": a.title,
        "url": a.url,
        "summary": p.summary,
        "province": v.province,
        "category": v.category,
        "language": a.language,
        "source_id": source_id,
        "source_name": source_name,
        "relevant": v.relevant,
        "score": v.score,
        "published": a.published,
        "first_seen": now,
        "updated_at": now,
    }


def article_columns(
    source_id: str,
    source_name: str,
    p: Processed,
    now: datetime,
    story_id: int,
    match: tuple[str, float, str] | None,
) -> dict[str, Any]:
    """The ``articles`` row of ``p``, in story ``story_id``; ``match`` is (level,
    score, reason) for an article that joined the story, None for its lead."""
    a, v, fp = p.article, p.verdict, p.fingerprint
    level, score, reason = match if match is not None else (None, None, None)
    return {
        "source_id": source_id,
        "source_name": source_name,
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
        "minhash": list(fp.minhash),
        "concepts": sorted(fp.concepts),
        "doc_numbers": sorted(fp.doc_numbers),
        "story_id": story_id,
        **(
            {"match_level": level, "match_score": score, "match_reason": reason}
            if match is not None
            else {}
        ),
    }


def fingerprint_of(row: Any) -> Fingerprint:
    """An article's stored fingerprint (its ``text_hash``, ``minhash``,
    ``concepts``, ``doc_numbers`` and ``language`` columns)."""
    return Fingerprint(
        text_hash=row.text_hash,
        minhash=tuple(row.minhash),
        concepts=frozenset(row.concepts),
        doc_numbers=frozenset(row.doc_numbers),
        language=row.language,
    )


# ── sources ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's row: its last poll, its failures and its health (monitor/health.py)."""

    source_id: str
    first_polled_at: datetime | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    entries_last_poll: int | None
    last_status: str | None = None  # ok | not_modified | error
    last_elapsed: float | None = None  # seconds the last poll took
    failing_since: datetime | None = None
    backoff_until: datetime | None = None  # failing: no poll before then
    cadence_seconds: float | None = None
    usual_entries: float | None = None
    newest_entry_at: datetime | None = None
    health_flags: tuple[str, ...] = ()  # empty | stale | failing | selectors
    health_note: str | None = None
    health_changed_at: datetime | None = None

    @property
    def healthy(self) -> bool:
        return not self.health_flags


def source_state_of(row: Any) -> SourceState:
    return SourceState(
        source_id=row.source_id,
        first_polled_at=utc(row.first_polled_at),
        last_polled_at=utc(row.last_polled_at),
        last_success_at=utc(row.last_success_at),
        last_error=row.last_error,
        last_error_at=utc(row.last_error_at),
        consecutive_failures=row.consecutive_failures or 0,
        entries_last_poll=row.entries_last_poll,
        last_status=row.last_status,
        last_elapsed=row.last_elapsed,
        failing_since=utc(row.failing_since),
        backoff_until=utc(row.backoff_until),
        cadence_seconds=row.cadence_seconds,
        usual_entries=row.usual_entries,
        newest_entry_at=utc(row.newest_entry_at),
        health_flags=tuple(row.health_flags or ()),
        health_note=row.health_note,
        health_changed_at=utc(row.health_changed_at),
    )


def health_columns(health: HealthRecord) -> dict[str, Any]:
    """The ``source_state`` columns of what monitor.health learned from a poll."""
    return {
        "last_status": health.status,
        "last_elapsed": health.elapsed,
        "failing_since": health.failing_since,
        "backoff_until": health.backoff_until,
        "cadence_seconds": health.cadence_seconds,
        "usual_entries": health.usual_entries,
        "newest_entry_at": health.newest_entry_at,
        "health_flags": sorted(health.flags),
        "health_note": health.note[:2000] if health.note else None,
        "health_changed_at": health.changed_at,
    }


def poll_line_of(row: Any) -> PollLine:
    """A line of the fetch log, from its row."""
    return PollLine(
        started_at=utc(row.started_at),
        status=row.status,
        seconds=row.seconds,
        replica=row.replica,
        entries=row.entries,
        new=row.new,
        articles=row.articles,
        stories=row.stories,
        error=row.error,
    )


def log_columns(source_id: str, line: PollLine) -> dict[str, Any]:
    """The columns of one line of the fetch log."""
    return {
        "source_id": source_id,
        "replica": line.replica,
        "started_at": line.started_at,
        "status": line.status,
        "seconds": line.seconds,
        "entries": line.entries,
        "new": line.new,
        "articles": line.articles,
        "stories": line.stories,
        "error": line.error[:2000] if line.error else None,
    }
