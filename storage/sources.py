"""What is known about each source: its state and health, the validators of
what it fetched, the entries it listed, its schedule, and its fetch log. [IO]"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from monitor.model import HealthRecord, PollLine
from storage.rows import (
    SourceState,
    health_columns,
    log_columns,
    poll_line_of,
    source_state_of,
    utc,
    utcnow,
)
from storage.schema import articles, entries, fetch_log, http_cache, source_schedule, source_state
from storage.tx import Database, TxBase, upsert_insert

__all__ = ["Cached", "Schedule", "SourceState", "Sources", "SourcesTx"]


# Statements run at every poll, built once: building and keying a statement cost
# more than running it against SQLite. Parameters named b_* are the WHERE's.
STATE_OF = select(source_state).where(source_state.c.source_id == bindparam("b_source_id"))
CACHED_OF = select(http_cache.c.etag, http_cache.c.last_modified, http_cache.c.content_hash).where(
    http_cache.c.url == bindparam("b_url")
)
UPDATE_STATE = update(source_state).where(source_state.c.source_id == bindparam("b_source_id"))
# A success after failures that made the row: the first success is the first poll
# (the backlog rule applied to it), so first_polled_at is set now if still empty.
UPDATE_SUCCESS = UPDATE_STATE.values(
    first_polled_at=func.coalesce(source_state.c.first_polled_at, bindparam("b_first_polled"))
)
_UPDATE_SCHEDULE = update(source_schedule).where(
    source_schedule.c.source_id == bindparam("b_source_id")
)
_UPDATE_CACHE = update(http_cache).where(http_cache.c.url == bindparam("b_url"))
_LISTED_KEYS = select(entries.c.key).where(
    entries.c.source_id == bindparam("b_source_id"),
    entries.c.key.in_(bindparam("b_values", expanding=True)),
)
_LISTED_GUIDS = select(entries.c.guid).where(
    entries.c.source_id == bindparam("b_source_id"),
    entries.c.guid.in_(bindparam("b_values", expanding=True)),
)
_STORED_URLS = select(articles.c.canonical_url).where(
    articles.c.canonical_url.in_(bindparam("b_values", expanding=True))
)


@dataclass(frozen=True, slots=True)
class Cached:
    """What is remembered about a fetched URL: its validators and its content's hash."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a source is polled next, and by which replica."""

    source_id: str
    owner: str | None
    next_poll_at: datetime | None
    updated_at: datetime


class SourcesTx(TxBase):
    """A poll's statements about its source."""

    def save_validators(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
        content_hash: str | None = None,
    ) -> None:
        values = {
            "etag": etag,
            "last_modified": last_modified,
            "updated_at": now,
            "content_hash": content_hash,
        }
        done = self.conn.execute(_UPDATE_CACHE, {"b_url": url, **values})
        if done.rowcount == 0:
            self.conn.execute(http_cache.insert(), {"url": url, **values})

    def source_polled(self, source_id: str, now: datetime, entries_found: int | None) -> None:
        values: dict[str, Any] = {
            "last_polled_at": now,
            "last_success_at": now,
            "consecutive_failures": 0,
        }
        if entries_found is not None:
            values["entries_last_poll"] = entries_found
        done = self.conn.execute(
            UPDATE_SUCCESS, {"b_source_id": source_id, "b_first_polled": now, **values}
        )
        if done.rowcount == 0:
            self.conn.execute(
                source_state.insert(), {"source_id": source_id, "first_polled_at": now, **values}
            )

    def save_health(self, source_id: str, health: HealthRecord) -> None:
        self.conn.execute(UPDATE_STATE, {"b_source_id": source_id, **health_columns(health)})

    def log_poll(self, source_id: str, line: PollLine) -> None:
        self.conn.execute(fetch_log.insert(), log_columns(source_id, line))

    def set_schedule(
        self, source_id: str, owner: str | None, next_poll_at: datetime | None, now: datetime
    ) -> None:
        values = {"owner": owner, "next_poll_at": next_poll_at, "updated_at": now}
        done = self.conn.execute(_UPDATE_SCHEDULE, {"b_source_id": source_id, **values})
        if done.rowcount == 0:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(source_schedule.insert(), {"source_id": source_id, **values})
            except IntegrityError:  # another replica wrote it first: ours is newer
                self.conn.execute(_UPDATE_SCHEDULE, {"b_source_id": source_id, **values})

    def source_failed(self, source_id: str, error: str, now: datetime) -> None:
        values = {"last_polled_at": now, "last_error": error[:2000], "last_error_at": now}
        done = self.conn.execute(
            update(source_state)
            .where(source_state.c.source_id == source_id)
            .values(consecutive_failures=source_state.c.consecutive_failures + 1, **values)
        )
        if done.rowcount == 0:
            # first_polled_at stays empty: the backlog rule still applies to the first success
            self.conn.execute(
                source_state.insert().values(source_id=source_id, consecutive_failures=1, **values)
            )

    def mark_seen(
        self, source_id: str, keys: Iterable[tuple[str, str | None]], now: datetime
    ) -> None:
        rows = [
            {"source_id": source_id, "key": key, "guid": guid, "first_seen": now}
            for key, guid in keys
        ]
        if not rows:
            return
        upsert = upsert_insert(self.conn.dialect.name)
        if upsert is not None:
            # One statement for the whole list (a first poll marks every item seen):
            # an entry a concurrent poll listed first is simply not inserted again.
            self.conn.execute(upsert(entries).on_conflict_do_nothing(), rows)
            return
        for key, guid in ((r["key"], r["guid"]) for r in rows):
            try:
                with self.conn.begin_nested():
                    self.conn.execute(
                        entries.insert().values(
                            source_id=source_id, key=key, guid=guid, first_seen=now
                        )
                    )
            except IntegrityError:
                continue  # listed again by a concurrent poll: already seen


class Sources(Database):
    """The sources part of :class:`~storage.store.Store`."""

    def validators(self, url: str) -> tuple[str | None, str | None]:
        with self.read() as conn:
            row = conn.execute(
                select(http_cache.c.etag, http_cache.c.last_modified).where(http_cache.c.url == url)
            ).first()
        return (row.etag, row.last_modified) if row else (None, None)

    def cached(self, url: str) -> Cached:
        """The validators and content hash stored for a URL (or request key)."""
        with self.read() as conn:
            row = conn.execute(CACHED_OF, {"b_url": url}).first()
        return Cached(row.etag, row.last_modified, row.content_hash) if row else Cached()

    def source_health(self) -> list[SourceState]:
        """Every source's state and health, flagged ones first: what a status page shows."""
        states = self.all_source_states().values()
        return sorted(states, key=lambda s: (not s.health_flags, s.source_id))

    def save_health(self, source_id: str, **health: Any) -> None:
        """Store what monitor.health learned from a poll (the row exists by then):
        the fields of :class:`~monitor.model.HealthRecord`."""
        with self.write() as conn:
            SourcesTx(conn).save_health(source_id, HealthRecord(**health))

    def poll_state(self, source_id: str, key: str | None) -> tuple[SourceState | None, Cached]:
        """What a poll reads first, in one visit: the source's state and what is
        stored for the key of its list's first request."""
        with self.read() as conn:
            row = conn.execute(STATE_OF, {"b_source_id": source_id}).first()
            hit = conn.execute(CACHED_OF, {"b_url": key}).first() if key is not None else None
        cached = Cached(hit.etag, hit.last_modified, hit.content_hash) if hit else Cached()
        return (source_state_of(row) if row else None), cached

    def source_state(self, source_id: str) -> SourceState | None:
        with self.read() as conn:
            row = conn.execute(STATE_OF, {"b_source_id": source_id}).first()
        return source_state_of(row) if row else None

    def all_source_states(self) -> dict[str, SourceState]:
        with self.read() as conn:
            return {r.source_id: source_state_of(r) for r in conn.execute(select(source_state))}

    def record_failure(self, source_id: str, error: str, now: datetime) -> None:
        with self.write() as conn:
            SourcesTx(conn).source_failed(source_id, error, now)

    def _present(self, query: Any, values: Iterable[str], **params: Any) -> set[str]:
        """Which of ``values`` the query finds (its ``b_values`` takes them), asked
        in chunks of 500 so that a long list never exceeds a driver's limit."""
        wanted = [v for v in dict.fromkeys(values) if v]
        found: set[str] = set()
        if not wanted:
            return found
        with self.read() as conn:
            for i in range(0, len(wanted), 500):
                found.update(
                    conn.execute(query, {"b_values": wanted[i : i + 500], **params}).scalars()
                )
        return found

    def unseen(self, source_id: str, keys: Iterable[str]) -> set[str]:
        """Which of these entry keys this source has not listed before."""
        wanted = set(keys)
        return wanted - self._present(_LISTED_KEYS, wanted, b_source_id=source_id)

    def seen_guids(self, source_id: str, guids: Iterable[str]) -> set[str]:
        """Which of these feed GUIDs this source has listed before (under any link)."""
        return self._present(_LISTED_GUIDS, guids, b_source_id=source_id)

    def known_urls(self, canonical_urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs are stored articles already (from any source)."""
        return self._present(_STORED_URLS, canonical_urls)

    # ── replicas: who polls what, and when ──────────────────────────────────

    def set_schedule(
        self, source_id: str, owner: str | None, next_poll_at: datetime | None, now: datetime
    ) -> None:
        """Record when ``owner`` polls this source next (None: nobody polls it now)."""
        with self.write() as conn:
            SourcesTx(conn).set_schedule(source_id, owner, next_poll_at, now)

    def drop_schedule(self, source_ids: Collection[str], owner: str) -> None:
        """``owner`` no longer polls these sources (handed over, or stopping)."""
        if not source_ids:
            return
        with self.write() as conn:
            conn.execute(
                update(source_schedule)
                .where(
                    source_schedule.c.source_id.in_(list(source_ids)),
                    source_schedule.c.owner == owner,
                )
                .values(owner=None, next_poll_at=None)
            )

    def schedules(self) -> dict[str, Schedule]:
        with self.read() as conn:
            return {
                r.source_id: Schedule(
                    r.source_id, r.owner, utc(r.next_poll_at), utc(r.updated_at) or utcnow()
                )
                for r in conn.execute(select(source_schedule))
            }

    # ── the fetch log ───────────────────────────────────────────────────────

    def log_poll(self, source_id: str, line: PollLine | None = None, **fields: Any) -> None:
        """One line of the fetch log, alone (polls write theirs with their health,
        in :meth:`~storage.poll.PollWrites.finish_polls`): a
        :class:`~monitor.model.PollLine`, or its fields."""
        with self.write() as conn:
            SourcesTx(conn).log_poll(source_id, line or PollLine(**fields))

    def recent_polls(self, source_id: str, limit: int = 50) -> list[PollLine]:
        """The source's last ``limit`` lines of the fetch log, newest first."""
        with self.read() as conn:
            rows = conn.execute(
                select(fetch_log)
                .where(fetch_log.c.source_id == source_id)
                .order_by(fetch_log.c.started_at.desc(), fetch_log.c.id.desc())
                .limit(limit)
            )
            return [poll_line_of(r) for r in rows]
