"""The only SQL of quality-monitor. [IO]

A :class:`Store` wraps one SQLAlchemy engine (SQLite in WAL mode by default,
PostgreSQL via ``postgresql+psycopg://``). Reads are methods of the store;
writes of one poll happen inside :meth:`Store.transaction`, whose
:class:`Tx` offers the few statements a poll needs, so that articles, stories
and outbox rows are committed together or not at all.

Rows never leave this module: callers get the value types of
``monitor.model`` or the small records defined here.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from monitor.dedup import Fingerprint
from monitor.errors import StoreError
from monitor.model import Mention, Story
from storage.schema import (
    articles,
    entries,
    fetch_log,
    http_cache,
    maintenance,
    outbox,
    source_schedule,
    source_state,
    stories,
)

_ALEMBIC_INI = Path(__file__).parent / "alembic.ini"
# How long an SQLite statement waits for another writer's lock before the
# database counts as locked (StoreError); ``sqlite:///file.db?timeout=S`` sets it.
SQLITE_BUSY_TIMEOUT = 30.0
# How an outbox row's last_error starts when the channel, not the message, was
# refused (wrong token, chat not found, the bot not allowed to post): the row
# stays pending, and :meth:`Store.held_channels` reports the channel failing.
CHANNEL_DOWN = "channel cannot take posts: "
_UPSERT: dict[str, Any] = {"sqlite": sqlite_insert, "postgresql": pg_insert}

# PostgreSQL advisory lock namespaces (the first int4 key; the second is a hash
# of the schema and, for sources, the source id). Several installations can
# share one database in different schemas without sharing locks.
LOCK_MIGRATE = 0x716D0001  # transaction lock: one schema upgrade at a time
LOCK_STORIES = 0x716D0002  # transaction lock: story matching and creation, one poll at a time
LOCK_SOURCE = 0x716D0003  # session lock per source: the replica that polls it
LOCK_MEMBER = 0x716D0004  # shared session lock: every live replica holds it


def lock_key(*parts: str) -> int:
    """A stable non-negative int4 for an advisory lock's second key."""
    return zlib.crc32("\x00".join(parts).encode("utf-8")) & 0x7FFFFFFF


def schema_key(conn: Connection) -> int:
    """The lock key of the schema this connection works in (PostgreSQL)."""
    return lock_key(str(conn.execute(text("SELECT current_schema()")).scalar_one()))


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(_ALEMBIC_INI.parent / "migrations"))


def _known_revision(script: ScriptDirectory, revision: str) -> bool:
    """Whether this code has the migration ``revision`` (alembic raises when not)."""
    try:
        return script.get_revision(revision) is not None
    except AlembicError:
        return False


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def normalize_db_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLite paths get their folder created."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# Statements run at every poll, built once: building and keying a statement cost
# more than running it against SQLite. Parameters named b_* are the WHERE's.
_STATE_OF = select(source_state).where(source_state.c.source_id == bindparam("b_source_id"))
_CACHED_OF = select(http_cache.c.etag, http_cache.c.last_modified, http_cache.c.content_hash).where(
    http_cache.c.url == bindparam("b_url")
)
_UPDATE_STATE = update(source_state).where(source_state.c.source_id == bindparam("b_source_id"))
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


@dataclass(frozen=True, slots=True)
class Cached:
    """What is remembered about a fetched URL: its validators and its content's hash."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True)
class PollEnd:
    """What a poll writes last: its health (the columns of ``Tx.save_health``),
    its line in the fetch log (``log``: the columns of ``Tx.log_poll``), and,
    for a poll that found nothing new and so committed nothing of its own, that
    it polled successfully at ``polled_at`` (with ``entries_found`` when it read
    the list) and the list's new ``validators`` (its key, what to store)."""

    source_id: str
    health: dict[str, Any] | None  # None: not judged (left as it was)
    log: dict[str, Any] | None = None
    polled_at: datetime | None = None
    entries_found: int | None = None
    validators: tuple[str, Cached] | None = None
    has_state: bool = True  # the source's state row exists (it has been polled before)
    schedule: tuple[str, datetime | None] | None = None  # (owner, next poll) for `run`


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    story_id: int
    channel_id: str
    kind: str  # post | edit
    attempts: int
    message_id: str | None  # for an edit: the post's message id


@dataclass(frozen=True, slots=True)
class Revision:
    """One schema revision, as ``migrate history`` lists it."""

    revision: str
    title: str
    applied: bool
    current: bool
    head: bool


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a source is polled next, and by which replica."""

    source_id: str
    owner: str | None
    next_poll_at: datetime | None
    updated_at: datetime


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


class Store:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_db_url(url)
        if self.url.startswith("sqlite:///") and not self.url.startswith("sqlite:///:memory:"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        busy = SQLITE_BUSY_TIMEOUT
        if self.url.startswith("sqlite"):
            busy = _sqlite_timeout(self.url)
            kwargs["connect_args"] = {"timeout": busy, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database {self.safe_url}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":

            def pragmas(dbapi_connection: Any, _record: Any) -> None:
                _sqlite_pragmas(dbapi_connection, busy)

            event.listen(self.engine, "connect", pragmas)

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs."""
        return (
            self.engine.url.render_as_string(hide_password=True)
            if hasattr(self, "engine")
            else self.url
        )

    def close(self) -> None:
        self.engine.dispose()

    # ── schema ──────────────────────────────────────────────────────────────

    def _alembic(self, connection: Connection) -> AlembicConfig:
        cfg = AlembicConfig(str(_ALEMBIC_INI))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest revision; refuse a database newer than the code."""
        try:
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    # Replicas starting together upgrade one after the other; the
                    # lock ends with this transaction.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                        {"ns": LOCK_MIGRATE, "key": schema_key(conn)},
                    )
                cfg = self._alembic(conn)
                script = ScriptDirectory.from_config(cfg)
                current = MigrationContext.configure(conn).get_current_revision()
                if current is not None and not _known_revision(script, current):
                    raise StoreError(
                        f"the database is at schema revision {current}, newer than this "
                        f"version of quality-monitor knows; upgrade quality-monitor"
                    )
                command.upgrade(cfg, "head")
        except StoreError:
            raise
        except Exception as exc:  # alembic raises assorted errors; all mean "cannot migrate"
            raise StoreError(f"cannot migrate {self.safe_url}: {exc}") from exc

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def history(self) -> list[Revision]:
        """Every schema revision this code knows, oldest first, and which are applied.

        A database at a revision this code does not know (newer) shows every
        known revision as applied; :meth:`migrate` refuses to run on it.
        """
        current = self.revision()
        chain = list(reversed(list(_scripts().walk_revisions())))
        applied = current is not None
        found: list[Revision] = []
        for rev in chain:
            first_line = (rev.doc or "").strip().splitlines()
            found.append(
                Revision(
                    revision=rev.revision,
                    title=first_line[0] if first_line else "",
                    applied=applied,
                    current=rev.revision == current,
                    head=rev.is_head,
                )
            )
            if rev.revision == current:
                applied = False  # the revisions after the current one are not applied yet
        return found

    def head_revision(self) -> str | None:
        """The newest revision this code knows."""
        return _scripts().get_current_head()

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url} does not answer: {exc}") from exc

    # ── reads ───────────────────────────────────────────────────────────────

    def validators(self, url: str) -> tuple[str | None, str | None]:
        with self._read() as conn:
            row = conn.execute(
                select(http_cache.c.etag, http_cache.c.last_modified).where(http_cache.c.url == url)
            ).first()
        return (row.etag, row.last_modified) if row else (None, None)

    def cached(self, url: str) -> Cached:
        """The validators and content hash stored for a URL (or request key)."""
        with self._read() as conn:
            row = conn.execute(_CACHED_OF, {"b_url": url}).first()
        return Cached(row.etag, row.last_modified, row.content_hash) if row else Cached()

    def source_health(self) -> list[SourceState]:
        """Every source's state and health, flagged ones first: what a status page shows."""
        states = self.all_source_states().values()
        return sorted(states, key=lambda s: (not s.health_flags, s.source_id))

    def save_health(self, source_id: str, **health: Any) -> None:
        """Store what monitor.health learned from a poll (the row exists by then):
        ``status``, ``elapsed``, ``failing_since``, ``backoff_until``,
        ``cadence_seconds``, ``usual_entries``, ``newest_entry_at``, ``flags``,
        ``note``, ``changed_at``."""
        with self.transaction() as tx:
            tx.save_health(source_id, **health)

    def poll_state(self, source_id: str, key: str | None) -> tuple[SourceState | None, Cached]:
        """What a poll reads first, in one visit: the source's state and what is
        stored for the key of its list's first request."""
        with self._read() as conn:
            row = conn.execute(_STATE_OF, {"b_source_id": source_id}).first()
            hit = conn.execute(_CACHED_OF, {"b_url": key}).first() if key is not None else None
        cached = Cached(hit.etag, hit.last_modified, hit.content_hash) if hit else Cached()
        return (_state(row) if row else None), cached

    def finish_polls(self, ends: list[PollEnd]) -> None:
        """What polls write last, in one transaction for many of them (group
        commit: one transaction per poll cost more than its statements)."""
        with self.transaction() as tx:
            tx.finish_polls(ends)

    def source_state(self, source_id: str) -> SourceState | None:
        with self._read() as conn:
            row = conn.execute(_STATE_OF, {"b_source_id": source_id}).first()
        return _state(row) if row else None

    def all_source_states(self) -> dict[str, SourceState]:
        with self._read() as conn:
            return {r.source_id: _state(r) for r in conn.execute(select(source_state))}

    def _present(self, query: Any, values: Iterable[str], **params: Any) -> set[str]:
        """Which of ``values`` the query finds (its ``b_values`` takes them), asked
        in chunks of 500 so that a long list never exceeds a driver's limit."""
        wanted = [v for v in dict.fromkeys(values) if v]
        found: set[str] = set()
        if not wanted:
            return found
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                found.update(
                    conn.execute(query, {"b_values": wanted[i : i + 500], **params}).scalars()
                )
        return found

    def unseen(self, source_id: str, keys: Iterable[str]) -> set[str]:
        """Which of these entry keys this source has not listed before."""
        wanted = set(keys)
        return wanted - self._present(_LISTED_KEYS, wanted, b_source_id=source_id)

    def fingerprints(
        self, *, after_id: int = 0, since: datetime | None = None, limit: int | None = None
    ) -> list[IndexRow]:
        with self.transaction() as tx:
            return tx.fingerprints(after_id=after_id, since=since, limit=limit)

    def seen_guids(self, source_id: str, guids: Iterable[str]) -> set[str]:
        """Which of these feed GUIDs this source has listed before (under any link)."""
        return self._present(_LISTED_GUIDS, guids, b_source_id=source_id)

    def known_urls(self, canonical_urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs are stored articles already (from any source)."""
        return self._present(_STORED_URLS, canonical_urls)

    def story(self, story_id: int) -> Story | None:
        with self._read() as conn:
            return _story(conn, story_id)

    def recent_stories(self, limit: int = 50) -> list[Story]:
        with self._read() as conn:
            ids = (
                conn.execute(
                    select(stories.c.id)
                    .order_by(stories.c.first_seen.desc(), stories.c.id.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            return [s for i in ids if (s := _story(conn, i)) is not None]

    def story_articles(self, story_id: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = (
                conn.execute(
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
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            result = {
                "articles": conn.execute(select(func.count()).select_from(articles)).scalar_one(),
                "stories": conn.execute(select(func.count()).select_from(stories)).scalar_one(),
            }
            for status, n in conn.execute(
                select(outbox.c.status, func.count()).group_by(outbox.c.status)
            ):
                result[f"outbox_{status}"] = n
        return result

    # ── the outbox ──────────────────────────────────────────────────────────
    #
    # Several replicas may drain one outbox. A replica *claims* the rows it is
    # about to send (claimed_by, claimed_until) in a short transaction that
    # locks them with SELECT … FOR UPDATE SKIP LOCKED, so two replicas never
    # take the same row; it renews the claim right before each send
    # (confirm_claim) and clears it when it marks the row. A replica that dies
    # leaves its claims behind; they expire after the lease, and another
    # replica takes the rows then.

    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first, in order per channel.

        A post that waits (deferred after a 429 or an outage) holds back the
        later posts of its channel, so that a channel receives its stories in
        the order they were found. An edit waits for its post. Claims are not
        looked at: this is the single-process view; replicas use
        :meth:`claim_outbox`.
        """
        with self._read() as conn:
            rows = conn.execute(
                _outbox_view()
                .where(outbox.c.status == "pending")
                .order_by(outbox.c.id)
                .limit(limit * 5)
            ).all()
        return _pick_due(rows, now, limit)

    def claim_outbox(
        self,
        owner: str,
        now: datetime,
        lease: float,
        *,
        channels: Collection[str] | None = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        """Claim for ``owner`` the rows it may send now, for ``lease`` seconds.

        The rules of :meth:`due_outbox` apply, and a channel whose oldest
        pending post is locked or claimed by another replica is held back
        whole, so that posts to one chat still go out in order when several
        replicas deliver. Rows already claimed by ``owner`` are claimed again.
        Only rows of ``channels`` are taken (the channels this replica can
        deliver to), when given.
        """
        with self._write() as conn:
            pending = outbox.c.status == "pending"
            if channels is not None:
                pending = pending & outbox.c.channel_id.in_(list(channels))
            lockable = set(
                conn.execute(
                    select(outbox.c.id)
                    .where(pending)
                    .order_by(outbox.c.id)
                    .limit(limit * 5)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not lockable:
                return []
            rows = conn.execute(
                _outbox_view().where(pending, outbox.c.id <= max(lockable)).order_by(outbox.c.id)
            ).all()
            picked = _pick_due(rows, now, limit, owner=owner, lockable=lockable)
            if picked:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in picked]))
                    .values(claimed_by=owner, claimed_until=now + timedelta(seconds=lease))
                )
        return picked

    def confirm_claim(self, row_id: int, owner: str, now: datetime, lease: float) -> bool:
        """Renew ``owner``'s claim on a row right before sending it, and on the
        rows of the same channel it still holds (they wait behind this one).

        False when the claim was lost: the lease ran out and another replica
        took the row, or (an edit) a later article re-armed it. Do not send then.
        """
        until = now + timedelta(seconds=lease)
        with self._write() as conn:
            channel = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row_id,
                    outbox.c.claimed_by == owner,
                    outbox.c.status == "pending",
                )
                .values(claimed_until=until)
                .returning(outbox.c.channel_id)
            ).scalar_one_or_none()
            if channel is None:
                return False
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.claimed_by == owner,
                    outbox.c.channel_id == channel,
                    outbox.c.status == "pending",
                )
                .values(claimed_until=until)
            )
        return True

    def release_claims(self, owner: str, row_ids: Collection[int] | None = None) -> int:
        """Give back ``owner``'s claims on rows it did not send (all, or these)."""
        with self._write() as conn:
            query = update(outbox).where(outbox.c.claimed_by == owner, outbox.c.status == "pending")
            if row_ids is not None:
                if not row_ids:
                    return 0
                query = query.where(outbox.c.id.in_(list(row_ids)))
            return conn.execute(query.values(claimed_by=None, claimed_until=None)).rowcount

    def next_due(self, now: datetime) -> datetime | None:
        """When the earliest deferred row comes due (None: nothing is waiting for time)."""
        with self._read() as conn:
            value = conn.execute(
                select(func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.status == "pending", outbox.c.next_attempt_at > now
                )
            ).scalar_one_or_none()
        return _utc(value)

    def mark_sent(
        self,
        row_id: int,
        message_id: str | None,
        now: datetime,
        owner: str | None = None,
        *,
        rendered_at: datetime | None = None,
    ) -> None:
        """The service accepted the row. An edit that a later article re-armed
        while it was being sent (its claim cleared) stays pending: the newer
        text still has to go out.

        A post rendered at ``rendered_at`` already shows every article that
        had joined its story by then: an edit armed before that moment (an
        article arrived while the post waited) would send the same text again,
        so it is marked done too.
        """
        with self._write() as conn:
            if rendered_at is not None:
                post = conn.execute(
                    select(outbox.c.story_id, outbox.c.channel_id).where(
                        outbox.c.id == row_id, outbox.c.kind == "post"
                    )
                ).one_or_none()
                if post is not None:
                    conn.execute(
                        update(outbox)
                        .where(
                            outbox.c.story_id == post.story_id,
                            outbox.c.channel_id == post.channel_id,
                            outbox.c.kind == "edit",
                            outbox.c.status == "pending",
                            outbox.c.claimed_by.is_(None),
                            outbox.c.next_attempt_at <= rendered_at,
                        )
                        .values(status="sent", sent_at=now, last_error=None)
                    )
            values: dict[str, Any] = {
                "status": "sent",
                "sent_at": now,
                "last_error": None,
                "claimed_by": None,
                "claimed_until": None,
            }
            if message_id is not None:
                values["message_id"] = message_id
            claim = outbox.c.claimed_by.is_(None) if owner is None else outbox.c.claimed_by == owner
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, or_(outbox.c.kind == "post", claim))
                .values(**values)
            )

    def mark_failed(self, row_id: int, reason: str, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    status="failed",
                    last_error=reason[:2000],
                    sent_at=None,
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=now,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def defer(self, row_id: int, reason: str, until: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    last_error=reason[:2000],
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=until,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def skip(self, row_id: int, reason: str) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(status="skipped", last_error=reason, claimed_by=None, claimed_until=None)
            )

    def skip_unconfigured(self, configured: Collection[str]) -> int:
        """Let go of the pending rows of channels no longer in the configuration."""
        with self._write() as conn:
            return conn.execute(
                update(outbox)
                .where(outbox.c.status == "pending", outbox.c.channel_id.not_in(list(configured)))
                .values(
                    status="skipped",
                    last_error="channel no longer configured",
                    claimed_by=None,
                    claimed_until=None,
                )
            ).rowcount

    def held_channels(self) -> dict[str, tuple[int, str, datetime]]:
        """Channels that cannot take posts now (see :data:`CHANNEL_DOWN`): channel
        → (alerts waiting, the reason, since when the oldest has waited). Read
        from the outbox, so every replica and ``serve`` see the same."""
        with self._read() as conn:
            oldest = (
                select(outbox.c.channel_id, func.min(outbox.c.id).label("first"))
                .where(outbox.c.status == "pending")
                .group_by(outbox.c.channel_id)
                .subquery()
            )
            heads = conn.execute(
                select(outbox.c.channel_id, outbox.c.last_error, outbox.c.created_at)
                .join(oldest, outbox.c.id == oldest.c.first)
                .where(outbox.c.last_error.like(f"{CHANNEL_DOWN}%"))
            ).all()
            if not heads:
                return {}
            waiting = {
                channel: n
                for channel, n in conn.execute(
                    select(outbox.c.channel_id, func.count())
                    .where(
                        outbox.c.status == "pending",
                        outbox.c.channel_id.in_([h.channel_id for h in heads]),
                    )
                    .group_by(outbox.c.channel_id)
                )
            }
        return {
            h.channel_id: (
                int(waiting.get(h.channel_id, 0)),
                h.last_error.removeprefix(CHANNEL_DOWN),
                _utc(h.created_at) or utcnow(),
            )
            for h in heads
        }

    def pending_by_channel(self) -> dict[str, int]:
        """How many alerts wait, per channel (for /metrics)."""
        with self._read() as conn:
            return {
                channel: n
                for channel, n in conn.execute(
                    select(outbox.c.channel_id, func.count())
                    .where(outbox.c.status == "pending")
                    .group_by(outbox.c.channel_id)
                )
            }

    # ── replicas: who polls what, and when ──────────────────────────────────

    def set_schedule(
        self, source_id: str, owner: str | None, next_poll_at: datetime | None, now: datetime
    ) -> None:
        """Record when ``owner`` polls this source next (None: nobody polls it now)."""
        with self.transaction() as tx:
            tx.set_schedule(source_id, owner, next_poll_at, now)

    def drop_schedule(self, source_ids: Collection[str], owner: str) -> None:
        """``owner`` no longer polls these sources (handed over, or stopping)."""
        if not source_ids:
            return
        with self._write() as conn:
            conn.execute(
                update(source_schedule)
                .where(
                    source_schedule.c.source_id.in_(list(source_ids)),
                    source_schedule.c.owner == owner,
                )
                .values(owner=None, next_poll_at=None)
            )

    def schedules(self) -> dict[str, Schedule]:
        with self._read() as conn:
            return {
                r.source_id: Schedule(
                    r.source_id, r.owner, _utc(r.next_poll_at), _utc(r.updated_at) or utcnow()
                )
                for r in conn.execute(select(source_schedule))
            }

    # ── the fetch log ───────────────────────────────────────────────────────

    def log_poll(self, source_id: str, **line: Any) -> None:
        """One line of the fetch log, alone (polls write theirs with their health,
        in :meth:`finish_polls`): the keywords of ``_log_values``."""
        with self.transaction() as tx:
            tx.log_poll(source_id, **line)

    def recent_polls(self, source_id: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(fetch_log)
                .where(fetch_log.c.source_id == source_id)
                .order_by(fetch_log.c.started_at.desc(), fetch_log.c.id.desc())
                .limit(limit)
            ).mappings()
            return [{**r, "started_at": _utc(r["started_at"])} for r in rows]

    # ── retention ───────────────────────────────────────────────────────────

    def claim_task(self, task: str, owner: str, now: datetime, every: float | None) -> bool:
        """True when ``task`` last ran more than ``every`` seconds ago, or never, or
        ``every`` is None (forced): it is then recorded as run by ``owner`` now, so
        that one replica does it."""
        with self._write() as conn:
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
                with self._write() as conn:
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
        with self._write() as conn:
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

    # ── the dashboard ───────────────────────────────────────────────────────

    def find_stories(
        self, where: StoryFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoryRow], int]:
        """Stories matching ``where``, newest first, and how many match in all."""
        day = _story_day()
        conditions = _story_conditions(where)
        with self._read() as conn:
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
                published=_utc(r.published),
                first_seen=_utc(r.first_seen) or utcnow(),
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
        with self._read() as conn:
            newest = conn.execute(select(func.max(day)).where(*conditions)).scalar_one()
            if newest is None:
                return []
            newest = _utc(newest)
            assert newest is not None
            rows = conn.execute(
                select(stories.c.province, day.label("day")).where(*conditions, day > newest - span)
            ).all()
        return [(r.province, d) for r in rows if (d := _utc(r.day)) is not None]

    def story_facets(self) -> dict[str, list[tuple[str, int]]]:
        """The provinces and categories that stories have, with how many each."""
        with self._read() as conn:
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

    def story_alerts(self, story_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
        """Each story's outbox rows: channel, kind, status, when sent, last error."""
        found: dict[int, list[dict[str, Any]]] = {i: [] for i in story_ids}
        if not found:
            return found
        with self._read() as conn:
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
            ).mappings():
                found[r["story_id"]].append({**r, "sent_at": _utc(r["sent_at"])})
        return found

    # ── writes of one poll ──────────────────────────────────────────────────

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.engine.begin() as conn:
                yield Tx(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {_short(exc)}") from exc

    def record_failure(self, source_id: str, error: str, now: datetime) -> None:
        with self.transaction() as tx:
            tx.source_failed(source_id, error, now)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {_short(exc)}") from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {_short(exc)}") from exc


class Tx:
    """The statements of one poll's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        done = self.conn.execute(_UPDATE_STATE, {"b_source_id": source_id, **values})
        if done.rowcount == 0:
            self.conn.execute(
                source_state.insert(), {"source_id": source_id, "first_polled_at": now, **values}
            )

    def save_health(self, source_id: str, **health: Any) -> None:
        self.conn.execute(_UPDATE_STATE, {"b_source_id": source_id, **_health_values(**health)})

    def finish_polls(self, ends: Iterable[PollEnd]) -> None:
        """See :class:`PollEnd`. The state updates and the fetch log lines go as
        one executemany each (per set of columns)."""
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        lines: list[dict[str, Any]] = []
        for end in ends:
            values = {"b_source_id": end.source_id}
            if end.health is not None:
                values |= _health_values(**end.health)
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
                lines.append(_log_values(end.source_id, **end.log))
            if end.schedule is not None:
                owner, next_poll_at = end.schedule
                self.set_schedule(end.source_id, owner, next_poll_at, utcnow())
        for rows in updates.values():
            self.conn.execute(_UPDATE_STATE, rows)
        if lines:
            self.conn.execute(fetch_log.insert(), lines)

    def log_poll(self, source_id: str, **line: Any) -> None:
        self.conn.execute(fetch_log.insert(), _log_values(source_id, **line))

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
        dialect = self.conn.dialect.name
        if dialect in _UPSERT:
            # One statement for the whole list (a first poll marks every item seen):
            # an entry a concurrent poll listed first is simply not inserted again.
            self.conn.execute(_UPSERT[dialect](entries).on_conflict_do_nothing(), rows)
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
    ) -> list[IndexRow]:
        """Stored articles with their fingerprints, oldest first, for the story index:
        every article whose id is above ``after_id`` (and first seen since ``since``,
        and among ``ids`` when given), the first ``limit`` of them when given."""
        query = (
            select(
                articles.c.id,
                articles.c.story_id,
                stories.c.province,
                stories.c.published,
                stories.c.first_seen,
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
        if ids is not None:
            query = query.where(articles.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        return [
            IndexRow(
                article_id=r.id,
                story_id=r.story_id,
                province=r.province,
                when=_utc(r.published) or _utc(r.first_seen),
                fingerprint=Fingerprint(
                    text_hash=r.text_hash,
                    minhash=tuple(r.minhash),
                    concepts=frozenset(r.concepts),
                    doc_numbers=frozenset(r.doc_numbers),
                    language=r.language,
                ),
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
        return int(self.conn.execute(stories.insert(), values).inserted_primary_key[0])

    def insert_article(self, values: dict[str, Any]) -> int | None:
        """Insert one article; None when another poll stored the same URL first."""
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(articles.insert(), values)
        except IntegrityError:
            return None
        return int(result.inserted_primary_key[0])

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

    def enqueue(self, story_id: int, channel_id: str, now: datetime) -> None:
        """A post of this story to this channel, once: the unique constraint says so."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    outbox.insert().values(
                        story_id=story_id,
                        channel_id=channel_id,
                        kind="post",
                        status="pending",
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
        except IntegrityError:
            pass

    def enqueue_edits(self, story_id: int, now: datetime) -> int:
        """Re-arm an edit for each channel where the story was posted or is pending."""
        posts = (
            self.conn.execute(
                select(outbox.c.channel_id).where(
                    outbox.c.story_id == story_id,
                    outbox.c.kind == "post",
                    outbox.c.status.in_(("pending", "sent")),
                )
            )
            .scalars()
            .all()
        )
        for channel_id in posts:
            done = self.conn.execute(
                update(outbox)
                .where(
                    outbox.c.story_id == story_id,
                    outbox.c.channel_id == channel_id,
                    outbox.c.kind == "edit",
                )
                .values(
                    status="pending",
                    next_attempt_at=now,
                    attempts=0,
                    last_error=None,
                    # an edit being sent right now must go out again with the newer text
                    claimed_by=None,
                    claimed_until=None,
                )
            )
            if done.rowcount == 0:
                self.conn.execute(
                    outbox.insert().values(
                        story_id=story_id,
                        channel_id=channel_id,
                        kind="edit",
                        status="pending",
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
        return len(posts)


# ── helpers ─────────────────────────────────────────────────────────────────


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


def _outbox_view() -> Any:
    """Outbox rows with, for an edit, its post's message id and status."""
    post = outbox.alias("post")
    return select(
        outbox.c.id,
        outbox.c.story_id,
        outbox.c.channel_id,
        outbox.c.kind,
        outbox.c.attempts,
        outbox.c.next_attempt_at,
        outbox.c.claimed_by,
        outbox.c.claimed_until,
        post.c.message_id,
        post.c.status.label("post_status"),
    ).outerjoin(
        post,
        (post.c.story_id == outbox.c.story_id)
        & (post.c.channel_id == outbox.c.channel_id)
        & (post.c.kind == "post"),
    )


def _pick_due(
    rows: Iterable[Any],
    now: datetime,
    limit: int,
    *,
    owner: str | None = None,
    lockable: set[int] | None = None,
) -> list[OutboxRow]:
    """The rows of ``rows`` (pending, oldest first) that may be sent now.

    A post that is not due, or that another replica holds (row locked by its
    claim transaction, or claimed and the lease still running), holds back
    the later posts of its channel. An edit waits for its post to be sent.
    """
    due: list[OutboxRow] = []
    held: set[str] = set()  # channels whose oldest pending post cannot go now
    for r in rows:
        if len(due) >= limit:
            break
        taken = (lockable is not None and r.id not in lockable) or (
            owner is not None
            and r.claimed_by not in (None, owner)
            and (_utc(r.claimed_until) or now) > now
        )
        not_yet = (_utc(r.next_attempt_at) or now) > now
        if r.kind == "post" and (r.channel_id in held or taken or not_yet):
            held.add(r.channel_id)
            continue
        if r.kind == "edit" and (taken or not_yet or r.post_status != "sent"):
            continue  # the post goes first (it will show the mentions anyway)
        due.append(
            OutboxRow(
                r.id,
                r.story_id,
                r.channel_id,
                r.kind,
                r.attempts,
                r.message_id if r.kind == "edit" else None,
            )
        )
    return due


def _sqlite_timeout(url: str) -> float:
    """Seconds a statement waits for another writer's lock: ``?timeout=S`` in the URL."""
    raw = make_url(url).query.get("timeout")
    if raw is None:
        return SQLITE_BUSY_TIMEOUT
    try:
        seconds = float(raw if isinstance(raw, str) else raw[0])
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise StoreError(f"{url}: timeout must be seconds, more than 0 and at most 3600")
    return seconds


def _sqlite_pragmas(dbapi_connection: Any, busy: float) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
    cursor.close()


def _short(exc: SQLAlchemyError) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0]}"
    if isinstance(exc, OperationalError):
        return str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _health_values(
    *,
    status: str,
    elapsed: float,
    failing_since: datetime | None,
    backoff_until: datetime | None,
    cadence_seconds: float | None,
    usual_entries: float | None,
    newest_entry_at: datetime | None,
    flags: Iterable[str],
    note: str | None,
    changed_at: datetime | None,
) -> dict[str, Any]:
    """The source_state columns of what monitor.health learned from a poll."""
    return {
        "last_status": status,
        "last_elapsed": elapsed,
        "failing_since": failing_since,
        "backoff_until": backoff_until,
        "cadence_seconds": cadence_seconds,
        "usual_entries": usual_entries,
        "newest_entry_at": newest_entry_at,
        "health_flags": sorted(flags),
        "health_note": note[:2000] if note else None,
        "health_changed_at": changed_at,
    }


def _log_values(
    source_id: str,
    *,
    replica: str | None,
    started_at: datetime,
    status: str,
    seconds: float,
    entries: int = 0,
    new: int = 0,
    articles: int = 0,
    stories: int = 0,
    error: str | None = None,
) -> dict[str, Any]:
    """The columns of one line of the fetch log."""
    return {
        "source_id": source_id,
        "replica": replica,
        "started_at": started_at,
        "status": status,
        "seconds": seconds,
        "entries": entries,
        "new": new,
        "articles": articles,
        "stories": stories,
        "error": error[:2000] if error else None,
    }


def _state(row: Any) -> SourceState:
    return SourceState(
        source_id=row.source_id,
        first_polled_at=_utc(row.first_polled_at),
        last_polled_at=_utc(row.last_polled_at),
        last_success_at=_utc(row.last_success_at),
        last_error=row.last_error,
        last_error_at=_utc(row.last_error_at),
        consecutive_failures=row.consecutive_failures or 0,
        entries_last_poll=row.entries_last_poll,
        last_status=row.last_status,
        last_elapsed=row.last_elapsed,
        failing_since=_utc(row.failing_since),
        backoff_until=_utc(row.backoff_until),
        cadence_seconds=row.cadence_seconds,
        usual_entries=row.usual_entries,
        newest_entry_at=_utc(row.newest_entry_at),
        health_flags=tuple(row.health_flags or ()),
        health_note=row.health_note,
        health_changed_at=_utc(row.health_changed_at),
    )


def _story(conn: Connection, story_id: int) -> Story | None:
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
    return Story(
        id=row.id,
        title=row.title,
        url=row.url,
        summary=row.summary,
        province=row.province,
        category=row.category,
        language=row.language,
        source_name=row.source_name,
        published=_utc(row.published),
        first_seen=_utc(row.first_seen),
        score=row.score,
        also=tuple(
            Mention(
                o.source_name,
                o.url,
                o.language,
                title=o.title,
                summary=o.summary,
                published=_utc(o.published),
                score=o.score,
            )
            for o in others
        ),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "Cached",
    "IndexRow",
    "KnownArticle",
    "OutboxRow",
    "PollEnd",
    "SourceState",
    "Store",
    "Tx",
    "utcnow",
]
