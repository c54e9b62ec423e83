"""Which replica polls which source. [IO]

Several ``quality-monitor run`` processes on one PostgreSQL share the sources
between them: each source is *owned* by one replica at a time, and only its
owner polls it. Ownership is a PostgreSQL session advisory lock held on one
connection the replica keeps open for the purpose; when a replica dies, its
connection closes, PostgreSQL drops its locks, and the other replicas take
its sources over at their next round.

Every live replica also holds one shared "member" lock, so each replica sees
who else is alive (``pg_locks``) without a heartbeat table. Sources are
spread by rendezvous hashing over the members' backend ids: for each source
every replica computes the same preferred owner, takes the sources it is
preferred for, and lets go of the ones it holds for a live peer, so the work
spreads evenly and moves as little as possible when a replica comes or goes.
A source that stays free for two rounds is taken by whoever sees it, so a
slow peer never leaves a source unpolled.

On SQLite (one process) :class:`LocalLocks` owns every source.

Both run in the database thread (:class:`~storage.runner.DbRunner`): the
connection is used by one thread only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from storage.locks import LOCK_MEMBER, LOCK_SOURCE, lock_key, schema_key
from storage.store import Store

log = logging.getLogger("monitor.replicas")

FREE_ROUNDS = 2  # a source free for this many rounds is taken by whoever sees it


class SourceOwnership(Protocol):
    """What the scheduler asks about sources and replicas."""

    @property
    def owned(self) -> frozenset[str]: ...

    def members(self) -> int: ...

    def rebalance(
        self, source_ids: Iterable[str], busy: Iterable[str] = ()
    ) -> tuple[set[str], set[str]]:
        """One round: (sources gained, sources lost or let go)."""
        ...

    def try_acquire(self, source_ids: Iterable[str]) -> set[str]:
        """Take whichever of these sources nobody owns (``run --once``)."""
        ...

    def holds(self, source_id: str) -> bool:
        """Whether this replica still owns the source (asked right before a poll)."""
        ...

    def close(self) -> None: ...


class LocalLocks:
    """One process, one database file: it owns every source."""

    def __init__(self) -> None:
        self._owned: set[str] = set()

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self._owned)

    def members(self) -> int:
        return 1

    def rebalance(
        self, source_ids: Iterable[str], busy: Iterable[str] = ()
    ) -> tuple[set[str], set[str]]:
        wanted = set(source_ids)
        gained, lost = wanted - self._owned, self._owned - wanted
        self._owned = wanted
        return gained, lost

    def try_acquire(self, source_ids: Iterable[str]) -> set[str]:
        self._owned |= set(source_ids)
        return set(source_ids)

    def holds(self, source_id: str) -> bool:
        return source_id in self._owned

    def close(self) -> None:
        self._owned.clear()


class AdvisoryLocks:
    """Source ownership through PostgreSQL session advisory locks."""

    def __init__(self, store: Store, *, replica: str, member: bool = True) -> None:
        self._store = store
        self._replica = replica
        self._member = member  # `run --once` takes sources but is no member
        self._conn: Connection | None = None
        self._pid = 0
        self._schema = ""
        self._owned_keys: set[int] = set()
        self._sources_of: dict[int, set[str]] = {}  # lock key → source ids (collisions share)
        self._free_rounds: dict[int, int] = {}

    # ── the connection ──────────────────────────────────────────────────────

    def _connection(self) -> Connection:
        if self._conn is not None:
            return self._conn
        conn = self._store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": f"quality-monitor {self._replica}"[:63]},
            )
            self._pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            self._schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
            if self._member:
                conn.execute(
                    text("SELECT pg_advisory_lock_shared(:ns, :key)"),
                    {"ns": LOCK_MEMBER, "key": schema_key(conn)},
                )
        except SQLAlchemyError:
            conn.invalidate()
            conn.close()
            raise
        self._conn = conn
        self._owned_keys = set()
        log.info("replica %s joined (database session %d)", self._replica, self._pid)
        return conn

    def _drop_connection(self, exc: Exception) -> set[str]:
        """The connection broke: PostgreSQL released every lock with it."""
        lost = self._sources(self._owned_keys)
        log.error("replica %s lost its database session: %s", self._replica, exc)
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.invalidate()
                self._conn.close()
        self._conn = None
        self._owned_keys = set()
        return lost

    def _key(self, source_id: str) -> int:
        return lock_key(self._schema, source_id)

    def _sources(self, keys: Iterable[int]) -> set[str]:
        return {s for k in keys for s in self._sources_of.get(k, ())}

    def _map(self, source_ids: Iterable[str]) -> None:
        self._sources_of = {}
        for source_id in source_ids:
            self._sources_of.setdefault(self._key(source_id), set()).add(source_id)

    # ── what the scheduler asks ─────────────────────────────────────────────

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self._sources(self._owned_keys))

    def members(self) -> int:
        return len(self._member_pids(self._connection())) if self._member else 1

    def _member_pids(self, conn: Connection) -> list[int]:
        return sorted(
            conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid::bigint = :ns AND objid::bigint = :key AND objsubid = 2"
                ),
                {"ns": LOCK_MEMBER, "key": lock_key(self._schema)},
            ).scalars()
        )

    def _locked(self, conn: Connection) -> dict[int, int]:
        """Every source lock held by anyone: key → backend pid."""
        return {
            int(key): int(pid)
            for key, pid in conn.execute(
                text(
                    "SELECT objid::bigint, pid FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND classid::bigint = :ns AND objsubid = 2"
                ),
                {"ns": LOCK_SOURCE},
            )
        }

    def _try(self, conn: Connection, key: int) -> bool:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": LOCK_SOURCE, "key": key}
        ).scalar_one()
        if got:
            self._owned_keys.add(key)
        return bool(got)

    def _release(self, conn: Connection, key: int) -> None:
        conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": LOCK_SOURCE, "key": key})
        self._owned_keys.discard(key)

    def rebalance(
        self, source_ids: Iterable[str], busy: Iterable[str] = ()
    ) -> tuple[set[str], set[str]]:
        """Take the sources this replica is preferred for, let go of the others.

        ``busy`` sources (a poll in flight) are not let go this round.
        """
        before = self._sources(self._owned_keys)
        ids = list(source_ids)
        try:
            conn = self._connection()
            self._map(ids)
            locked = self._locked(conn)
            # What PostgreSQL says we hold is the truth (a lock can be lost with a session).
            self._owned_keys = {k for k, pid in locked.items() if pid == self._pid}
            members = self._member_pids(conn) or [self._pid]
            busy_keys = {self._key(s) for s in busy}
            for key in sorted(self._sources_of):
                preferred = _preferred(members, key)
                holder = locked.get(key)
                if key in self._owned_keys:
                    self._free_rounds.pop(key, None)
                    if preferred != self._pid and key not in busy_keys:
                        self._release(conn, key)  # its preferred replica takes it next round
                    continue
                if holder is not None:
                    self._free_rounds.pop(key, None)
                    continue
                rounds = self._free_rounds.get(key, 0) + 1
                self._free_rounds[key] = rounds
                if (preferred == self._pid or rounds >= FREE_ROUNDS) and self._try(conn, key):
                    self._free_rounds.pop(key, None)
            for key in list(self._owned_keys - set(self._sources_of)):
                self._release(conn, key)  # a source no longer configured
        except SQLAlchemyError as exc:
            lost = self._drop_connection(exc)
            return set(), lost | before
        after = self._sources(self._owned_keys)
        return after - before, before - after

    def try_acquire(self, source_ids: Iterable[str]) -> set[str]:
        ids = list(source_ids)
        try:
            conn = self._connection()
            self._map(ids)
            for key in self._sources_of:
                if key not in self._owned_keys:
                    self._try(conn, key)
        except SQLAlchemyError as exc:
            self._drop_connection(exc)
            raise StoreError(f"cannot take sources: {exc}") from exc
        return self._sources(self._owned_keys)

    def holds(self, source_id: str) -> bool:
        key = self._key(source_id)
        if key not in self._owned_keys or self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid::bigint = :ns"
                    " AND objid::bigint = :key AND objsubid = 2"
                ),
                {"ns": LOCK_SOURCE, "key": key},
            ).first()
        except SQLAlchemyError as exc:
            self._drop_connection(exc)
            return False
        if held is None:
            self._owned_keys.discard(key)
        return held is not None

    def close(self) -> None:
        """Let go of every source at once (closing the session releases the locks)."""
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
        self._owned_keys = set()


def _preferred(members: list[int], key: int) -> int:
    """Rendezvous hashing: the member this source's lock key prefers."""
    return max(members, key=lambda pid: (lock_key(str(pid), str(key)), pid))


def ownership_for(store: Store, *, replica: str, member: bool = True) -> SourceOwnership:
    """Advisory locks on PostgreSQL; on SQLite (one process) everything is ours."""
    if store.engine.dialect.name == "postgresql":
        return AdvisoryLocks(store, replica=replica, member=member)
    return LocalLocks()


__all__ = ["AdvisoryLocks", "LocalLocks", "SourceOwnership", "ownership_for"]
