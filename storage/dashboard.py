"""The dashboard's queries: stories by province, category, date and words,
their chart, their facets and their alerts. [IO]"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select

from monitor.model import AlertStatus
from storage.rows import alert_status_of, utc, utcnow
from storage.schema import articles, outbox, stories
from storage.tx import Database

__all__ = ["Dashboard", "StoryFilter", "StoryRow"]


@dataclass(frozen=True, slots=True)
class StoryRow:
    """A story as the dashboard lists it."""

    id: int
    title: str
    url: str
    summary: str
    province: str | None
    category: str
    language: str
    source_name: str
    relevant: bool
    score: float
    published: datetime | None
    first_seen: datetime
    sources: tuple[str, ...]  # the names of every outlet that reported it, lead first
    articles: int


@dataclass(frozen=True, slots=True)
class StoryFilter:
    """What the dashboard asks for; every field is optional."""

    province: str | None = None
    category: str | None = None
    since: datetime | None = None  # on the story's date: published, else first seen
    until: datetime | None = None  # exclusive
    query: str | None = None  # in the titles and summary, case-insensitive
    relevant: bool | None = None


class Dashboard(Database):
    """The dashboard part of :class:`~storage.store.Store`."""

    def find_stories(
        self, where: StoryFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoryRow], int]:
        """Stories matching ``where``, newest first, and how many match in all."""
        day = _story_day()
        conditions = _story_conditions(where)
        with self.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(stories).where(*conditions)
            ).scalar_one()
            rows = conn.execute(
                select(stories)
                .where(*conditions)
                .order_by(day.desc(), stories.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            names: dict[int, list[str]] = {r.id: [] for r in rows}
            counts: dict[int, int] = dict.fromkeys(names, 0)
            if names:
                for story_id, source_name in conn.execute(
                    select(articles.c.story_id, articles.c.source_name)
                    .where(articles.c.story_id.in_(list(names)))
                    .order_by(articles.c.id)
                ):
                    counts[story_id] += 1
                    if source_name not in names[story_id]:
                        names[story_id].append(source_name)
        found = [
            StoryRow(
                id=r.id,
                title=r.title,
                url=r.url,
                summary=r.summary,
                province=r.province,
                category=r.category,
                language=r.language,
                source_name=r.source_name,
                relevant=r.relevant,
                score=r.score,
                published=utc(r.published),
                first_seen=utc(r.first_seen) or utcnow(),
                sources=tuple(names[r.id]) or (r.source_name,),
                articles=counts[r.id],
            )
            for r in rows
        ]
        return found, int(total)

    def story_days(self, where: StoryFilter, span: timedelta) -> list[tuple[str | None, datetime]]:
        """(province, date) of the stories matching ``where`` that fall within
        ``span`` up to the newest of them (the dashboard's chart bins them)."""
        day = _story_day()
        conditions = _story_conditions(where)
        with self.read() as conn:
            newest = conn.execute(select(func.max(day)).where(*conditions)).scalar_one()
            if newest is None:
                return []
            newest = utc(newest)
            assert newest is not None
            rows = conn.execute(
                select(stories.c.province, day.label("day")).where(*conditions, day > newest - span)
            ).all()
        return [(r.province, d) for r in rows if (d := utc(r.day)) is not None]

    def story_facets(self) -> dict[str, list[tuple[str, int]]]:
        """The provinces and categories that stories have, with how many each."""
        with self.read() as conn:
            return {
                column: [
                    (value, n)
                    for value, n in conn.execute(
                        select(stories.c[column], func.count())
                        .where(stories.c[column].is_not(None))
                        .group_by(stories.c[column])
                        .order_by(func.count().desc(), stories.c[column])
                    )
                ]
                for column in ("province", "category")
            }

    def story_alerts(self, story_ids: Collection[int]) -> dict[int, list[AlertStatus]]:
        """Each story's outbox rows: channel, kind, status, when sent, last error."""
        found: dict[int, list[AlertStatus]] = {i: [] for i in story_ids}
        if not found:
            return found
        with self.read() as conn:
            for r in conn.execute(
                select(
                    outbox.c.story_id,
                    outbox.c.channel_id,
                    outbox.c.kind,
                    outbox.c.status,
                    outbox.c.sent_at,
                    outbox.c.last_error,
                )
                .where(outbox.c.story_id.in_(list(found)))
                .order_by(outbox.c.id)
            ):
                found[r.story_id].append(alert_status_of(r))
        return found


def _story_day() -> Any:
    """A story's date: published, else first seen."""
    return func.coalesce(stories.c.published, stories.c.first_seen)


def _story_conditions(where: StoryFilter) -> list[Any]:
    """``where`` as SQL conditions on ``stories``."""
    day = _story_day()
    conditions: list[Any] = []
    if where.province:
        conditions.append(stories.c.province == where.province)
    if where.category:
        conditions.append(stories.c.category == where.category)
    if where.since is not None:
        conditions.append(day >= where.since)
    if where.until is not None:
        conditions.append(day < where.until)
    if where.relevant is not None:
        conditions.append(stories.c.relevant.is_(where.relevant))
    if where.query:
        # At most 8 words of 100 characters: SQLite refuses a LIKE pattern past
        # 50,000 bytes ("pattern too complex"), and no title holds a longer word.
        # Titles and summaries are stored in their normal form (simplified,
        # glosses dropped, half-width digits: monitor/normalize.py), so each
        # word is looked for in that form too: 質量強省 finds 质量强省.
        from monitor.normalize import normalize_text

        words = [w[:100] for w in where.query.split() if w][:8]
        for raw in words:
            forms = [w for w in dict.fromkeys((raw, normalize_text(raw)[:100])) if w]
            conditions.append(or_(*(_contains(word) for word in forms)))
    return conditions


def _contains(word: str) -> Any:
    """A story whose title, summary or one of whose articles (title, original
    title, outlet) holds ``word``."""
    in_articles = exists().where(
        articles.c.story_id == stories.c.id,
        or_(
            articles.c.title.icontains(word, autoescape=True),
            articles.c.original_title.icontains(word, autoescape=True),
            articles.c.source_name.icontains(word, autoescape=True),
        ),
    )
    return or_(
        stories.c.title.icontains(word, autoescape=True),
        stories.c.summary.icontains(word, autoescape=True),
        in_articles,
    )
