"""Stories and their articles: the reads of a story, and the statements that
store an article, start a story, join or merge stories. [IO]"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from monitor.model import Fingerprint, Story, StoryArticle
from storage.locks import LOCK_STORIES, schema_key
from storage.outbox import OutboxTx
from storage.rows import fingerprint_of, read_story, story_article_of, utc
from storage.schema import articles, outbox, stories
from storage.tx import Database

__all__ = ["IndexRow", "KnownArticle", "Stories", "StoriesTx"]


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One stored article as the story index needs it."""

    article_id: int
    story_id: int
    province: str | None
    when: datetime | None  # the story's publication date, else when it was first seen
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class KnownArticle:
    id: int
    story_id: int | None
    source_id: str


class StoriesTx(OutboxTx):
    """A poll's statements on stories and articles."""

    def known_article(self, canonical_url: str, text_hash: str) -> KnownArticle | None:
        row = self.conn.execute(
            select(articles.c.id, articles.c.story_id, articles.c.source_id)
            .where(
                (articles.c.canonical_url == canonical_url) | (articles.c.text_hash == text_hash)
            )
            .order_by(articles.c.id)
            .limit(1)
        ).first()
        return KnownArticle(row.id, row.story_id, row.source_id) if row else None

    def url_known(self, canonical_url: str) -> bool:
        return (
            self.conn.execute(
                select(articles.c.id).where(articles.c.canonical_url == canonical_url)
            ).first()
            is not None
        )

    def indexed_ids(self, *, after_id: int) -> list[int]:
        """Ids of the stored articles of a story above ``after_id``: what the story
        index may lack (cheap: ids only, the fingerprints are read for the missing)."""
        return list(
            self.conn.execute(
                select(articles.c.id)
                .where(articles.c.id > after_id, articles.c.story_id.is_not(None))
                .order_by(articles.c.id)
            ).scalars()
        )

    def fingerprints(
        self,
        *,
        after_id: int = 0,
        since: datetime | None = None,
        ids: Collection[int] | None = None,
        limit: int | None = None,
        irrelevant_since: datetime | None = None,
    ) -> list[IndexRow]:
        """Stored articles with their fingerprints, oldest first, for the story index:
        every article whose id is above ``after_id`` (and first seen since ``since``,
        and, when its story is not relevant, since ``irrelevant_since``, and among
        ``ids`` when given), the first ``limit`` of them when given."""
        query = (
            select(
                articles.c.id,
                articles.c.story_id,
                stories.c.province,
                # the article's own date, as the pipeline gives the index (not its story's)
                articles.c.published,
                articles.c.first_seen,
                articles.c.text_hash,
                articles.c.minhash,
                articles.c.concepts,
                articles.c.doc_numbers,
                articles.c.language,
            )
            .join(stories, articles.c.story_id == stories.c.id)
            .where(articles.c.id > after_id)
            .order_by(articles.c.id)
        )
        if since is not None:
            query = query.where(articles.c.first_seen >= since)
        if irrelevant_since is not None:
            query = query.where(
                or_(stories.c.relevant.is_(True), articles.c.first_seen >= irrelevant_since)
            )
        if ids is not None:
            query = query.where(articles.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        return [
            IndexRow(
                article_id=r.id,
                story_id=r.story_id,
                province=r.province,
                when=utc(r.published) or utc(r.first_seen),
                fingerprint=fingerprint_of(r),
            )
            for r in self.conn.execute(query)
        ]

    def lock_stories(self) -> None:
        """Serialise story matching and creation across replicas (PostgreSQL).

        "Look up recent stories, then insert" must not interleave between two
        processes, or one event reported by two outlets polled by two
        replicas at once would become two stories and be posted twice. The
        lock is held until this transaction ends; within one process the
        database thread already serialises polls, and SQLite has one writer.
        """
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": LOCK_STORIES, "key": schema_key(self.conn)},
            )

    # The values go as parameters of one constant statement, not into the statement
    # (``.values(**values)``): building and keying a 27-column statement for every
    # article cost more than the insert itself.
    def insert_story(self, values: dict[str, Any]) -> int:
        key = self.conn.execute(stories.insert(), values).inserted_primary_key
        assert key is not None  # an INSERT of one row always has one
        return int(key[0])

    def insert_article(self, values: dict[str, Any]) -> int | None:
        """Insert one article; None when another poll stored the same URL first."""
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(articles.insert(), values)
        except IntegrityError:
            return None
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row always has one
        return int(key[0])

    def story_updated(self, story_id: int, now: datetime) -> None:
        self.conn.execute(update(stories).where(stories.c.id == story_id).values(updated_at=now))

    def merge_stories(self, into: int, merged: Sequence[int], now: datetime) -> None:
        """Fold stories into ``into``: an article reported the events of all of them.

        Their articles move to ``into``; what they had queued and not sent is
        dropped (``into``'s post lists their articles from now on); a post
        already sent stays, and ``into``'s posts are edited or followed up as
        each channel's ``on_update`` says (the delivery loop reads it).
        """
        if not merged:
            return
        ids = list(merged)
        self.conn.execute(
            update(articles).where(articles.c.story_id.in_(ids)).values(story_id=into)
        )
        self.conn.execute(
            delete(outbox).where(outbox.c.story_id.in_(ids), outbox.c.status == "pending")
        )
        self.story_updated(into, now)
        self.enqueue_edits(into, now)


class Stories(Database):
    """The stories part of :class:`~storage.store.Store`."""

    def fingerprints(
        self,
        *,
        after_id: int = 0,
        since: datetime | None = None,
        limit: int | None = None,
        irrelevant_since: datetime | None = None,
    ) -> list[IndexRow]:
        with self.read() as conn:
            return StoriesTx(conn).fingerprints(
                after_id=after_id, since=since, limit=limit, irrelevant_since=irrelevant_since
            )

    def story(self, story_id: int) -> Story | None:
        with self.read() as conn:
            return read_story(conn, story_id)

    def recent_stories(self, limit: int = 50) -> list[Story]:
        with self.read() as conn:
            ids = (
                conn.execute(
                    select(stories.c.id)
                    .order_by(stories.c.first_seen.desc(), stories.c.id.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            return [s for i in ids if (s := read_story(conn, i)) is not None]

    def story_articles(self, story_id: int) -> list[StoryArticle]:
        with self.read() as conn:
            rows = conn.execute(
                select(
                    articles.c.id,
                    articles.c.source_id,
                    articles.c.source_name,
                    articles.c.url,
                    articles.c.title,
                    articles.c.language,
                    articles.c.match_level,
                    articles.c.match_score,
                    articles.c.match_reason,
                )
                .where(articles.c.story_id == story_id)
                .order_by(articles.c.id)
            ).all()
        return [story_article_of(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.read() as conn:
            result = {
                "articles": conn.execute(select(func.count()).select_from(articles)).scalar_one(),
                "stories": conn.execute(select(func.count()).select_from(stories)).scalar_one(),
            }
            for status, n in conn.execute(
                select(outbox.c.status, func.count()).group_by(outbox.c.status)
            ):
                result[f"outbox_{status}"] = n
        return result
