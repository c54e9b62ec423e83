"""The writes of one poll: the article its decision placed (``monitor/decide.py``
gives the :class:`~monitor.decide.Intent`, :meth:`Tx.write` maps it to rows),
and what polls write last, many to a transaction (:class:`PollEnd`). [IO]"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from monitor.model import HealthRecord, Known, PollLine, Processed
from storage.rows import article_columns, health_columns, log_columns, story_columns, utcnow
from storage.schema import fetch_log
from storage.sources import UPDATE_STATE, Cached, SourcesTx
from storage.stories import StoriesTx
from storage.tx import Database, short_error

if TYPE_CHECKING:
    from monitor.decide import Intent

__all__ = ["PollEnd", "PollWrites", "Tx"]


@dataclass(frozen=True)
class PollEnd:
    """What a poll writes last: its health, its line in the fetch log, and,
    for a poll that found nothing new and so committed nothing of its own, that
    it polled successfully at ``polled_at`` (with ``entries_found`` when it read
    the list) and the list's new ``validators`` (its key, what to store)."""

    source_id: str
    health: HealthRecord | None  # None: not judged (left as it was)
    log: PollLine | None = None
    polled_at: datetime | None = None
    entries_found: int | None = None
    validators: tuple[str, Cached] | None = None
    has_state: bool = True  # the source's state row exists (it has been polled before)
    schedule: tuple[str, datetime | None] | None = None  # (owner, next poll) for `run`


class Tx(SourcesTx, StoriesTx):
    """The statements of one poll's transaction."""

    def known(self, canonical_url: str, text_hash: str) -> Known | None:
        """A stored article with this canonical URL or this text, the oldest,
        and whether an article at this very URL is stored (itself, then)."""
        found = self.known_article(canonical_url, text_hash)
        if found is None:
            return None
        same_url = found.story_id is not None and self.url_known(canonical_url)
        return Known(found.id, found.story_id, same_url)

    def write(
        self, intent: Intent, source_id: str, source_name: str, p: Processed, now: datetime
    ) -> tuple[int, int] | None:
        """Store ``p`` as ``intent`` says: (story id, article id), or None when
        nothing was stored (the same article, or another poll stored its URL first)."""
        match = intent.match
        if intent.action == "join" and match is not None:
            if intent.merged:
                # One article reports the events of several stories: they are one.
                self.merge_stories(match.story_id, intent.merged, now)
            article_id = self.insert_article(
                article_columns(
                    source_id,
                    source_name,
                    p,
                    now,
                    match.story_id,
                    (match.level, match.score, match.reason),
                )
            )
            if article_id is None:
                return None
            self.story_updated(match.story_id, now)
            self.enqueue_edits(match.story_id, now)
            return match.story_id, article_id
        if intent.action != "new":
            return None
        story_id = self.insert_story(story_columns(source_id, source_name, p, now))
        article_id = self.insert_article(
            article_columns(source_id, source_name, p, now, story_id, None)
        )
        if article_id is None:
            raise StoreError(f"article {p.article.canonical_url} was stored twice at once")
        for channel_id in intent.posts:
            self.enqueue(story_id, channel_id, now)
        return story_id, article_id

    def finish_polls(self, ends: Iterable[PollEnd]) -> None:
        """See :class:`PollEnd`. The state updates and the fetch log lines go as
        one executemany each (per set of columns)."""
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        lines: list[dict[str, Any]] = []
        for end in ends:
            values: dict[str, object] = {"b_source_id": end.source_id}
            if end.health is not None:
                values |= health_columns(end.health)
            if end.polled_at is not None:
                if not end.has_state:
                    self.source_polled(end.source_id, end.polled_at, end.entries_found)
                values |= {
                    "last_polled_at": end.polled_at,
                    "last_success_at": end.polled_at,
                    "consecutive_failures": 0,
                }
                if end.entries_found is not None:
                    values["entries_last_poll"] = end.entries_found
                if end.validators is not None:
                    key, new = end.validators
                    self.save_validators(
                        key, new.etag, new.last_modified, end.polled_at, new.content_hash
                    )
            if len(values) > 1:
                updates.setdefault(tuple(sorted(values)), []).append(values)
            if end.log is not None:
                lines.append(log_columns(end.source_id, end.log))
            if end.schedule is not None:
                owner, next_poll_at = end.schedule
                self.set_schedule(end.source_id, owner, next_poll_at, utcnow())
        for rows in updates.values():
            self.conn.execute(UPDATE_STATE, rows)
        if lines:
            self.conn.execute(fetch_log.insert(), lines)


class PollWrites(Database):
    """The transactions of :class:`~storage.store.Store`."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.engine.begin() as conn:
                yield Tx(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {short_error(exc)}") from exc

    def finish_polls(self, ends: list[PollEnd]) -> None:
        """What polls write last, in one transaction for many of them (group
        commit: one transaction per poll cost more than its statements)."""
        with self.transaction() as tx:
            tx.finish_polls(ends)
