"""Retention: what is old enough to go, and which replica does the work. [IO]

``monitor/retention.py`` decides when and with which limits; these are its statements.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from storage.schema import articles, entries, fetch_log, http_cache, maintenance, outbox, stories
from storage.tx import Database

__all__ = ["Retention"]


class Retention(Database):
    """The retention part of :class:`~storage.store.Store`."""

    def claim_task(self, task: str, owner: str, now: datetime, every: float | None) -> bool:
        """True when ``task`` last ran more than ``every`` seconds ago, or never, or
        ``every`` is None (forced): it is then recorded as run by ``owner`` now, so
        that one replica does it."""
        with self.write() as conn:
            query = update(maintenance).where(maintenance.c.task == task)
            if every is not None:
                query = query.where(maintenance.c.last_run_at <= now - timedelta(seconds=every))
            done = conn.execute(query.values(last_run_at=now, owner=owner))
            if done.rowcount == 1:
                return True
            if conn.execute(select(maintenance.c.task).where(maintenance.c.task == task)).first():
                return False
            try:
                with conn.begin_nested():
                    conn.execute(
                        maintenance.insert().values(task=task, last_run_at=now, owner=owner)
                    )
            except IntegrityError:
                return False  # another replica claimed it this very moment
            return True

    def prune(
        self,
        *,
        articles_before: datetime | None,
        entries_before: datetime | None,
        fetch_log_before: datetime | None,
        batch: int = 500,
    ) -> dict[str, int]:
        """Delete what is older than the retention allows; return what went.

        A story goes, with its articles and alerts, when nothing has been
        added to it since ``articles_before`` and no alert of it is still
        pending. Entries (which listings were seen) and HTTP validators go
        after ``entries_before``; fetch-log lines after ``fetch_log_before``.
        Works in batches of ``batch`` stories, one transaction each, so that
        polls are never held up for long.
        """
        gone = {"stories": 0, "articles": 0, "outbox": 0, "entries": 0, "fetch_log": 0}
        if articles_before is not None:
            pending = exists().where(
                outbox.c.story_id == stories.c.id, outbox.c.status == "pending"
            )
            while True:
                with self.write() as conn:
                    ids = list(
                        conn.execute(
                            select(stories.c.id)
                            .where(stories.c.updated_at < articles_before, ~pending)
                            .order_by(stories.c.id)
                            .limit(batch)
                        ).scalars()
                    )
                    if not ids:
                        break
                    gone["outbox"] += conn.execute(
                        delete(outbox).where(outbox.c.story_id.in_(ids))
                    ).rowcount
                    gone["articles"] += conn.execute(
                        delete(articles).where(articles.c.story_id.in_(ids))
                    ).rowcount
                    gone["stories"] += conn.execute(
                        delete(stories).where(stories.c.id.in_(ids))
                    ).rowcount
        with self.write() as conn:
            if entries_before is not None:
                gone["entries"] = conn.execute(
                    delete(entries).where(entries.c.first_seen < entries_before)
                ).rowcount
                conn.execute(delete(http_cache).where(http_cache.c.updated_at < entries_before))
            if fetch_log_before is not None:
                gone["fetch_log"] = conn.execute(
                    delete(fetch_log).where(fetch_log.c.started_at < fetch_log_before)
                ).rowcount
        return gone
