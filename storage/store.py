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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from monitor.dedup import Candidate, Fingerprint
from monitor.errors import StoreError
from monitor.model import Mention, Story
from storage.schema import articles, entries, http_cache, outbox, source_state, stories

_ALEMBIC_INI = Path(__file__).parent / "alembic.ini"


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


@dataclass(frozen=True, slots=True)
class SourceState:
    source_id: str
    first_polled_at: datetime | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    entries_last_poll: int | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    story_id: int
    channel_id: str
    kind: str  # post | edit
    attempts: int
    message_id: str | None  # for an edit: the post's message id


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
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database {self.safe_url}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

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
                cfg = self._alembic(conn)
                script = ScriptDirectory.from_config(cfg)
                current = MigrationContext.configure(conn).get_current_revision()
                if current is not None and script.get_revision(current) is None:
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

    def source_state(self, source_id: str) -> SourceState | None:
        with self._read() as conn:
            row = conn.execute(
                select(source_state).where(source_state.c.source_id == source_id)
            ).first()
        return _state(row) if row else None

    def all_source_states(self) -> dict[str, SourceState]:
        with self._read() as conn:
            return {r.source_id: _state(r) for r in conn.execute(select(source_state))}

    def unseen(self, source_id: str, keys: Iterable[str]) -> set[str]:
        """Which of these entry keys this source has not listed before."""
        wanted = list(dict.fromkeys(keys))
        seen: set[str] = set()
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                seen.update(
                    conn.execute(
                        select(entries.c.key).where(
                            entries.c.source_id == source_id,
                            entries.c.key.in_(wanted[i : i + 500]),
                        )
                    ).scalars()
                )
        return set(wanted) - seen

    def known_urls(self, canonical_urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs are stored articles already (from any source)."""
        wanted = list(dict.fromkeys(canonical_urls))
        found: set[str] = set()
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                found.update(
                    conn.execute(
                        select(articles.c.canonical_url).where(
                            articles.c.canonical_url.in_(wanted[i : i + 500])
                        )
                    ).scalars()
                )
        return found

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

    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first, in order per channel.

        A post that waits (deferred after a 429 or an outage) holds back the
        later posts of its channel, so that a channel receives its stories in
        the order they were found. An edit waits for its post.
        """
        post = outbox.alias("post")
        with self._write() as conn:
            rows = conn.execute(
                select(
                    outbox.c.id,
                    outbox.c.story_id,
                    outbox.c.channel_id,
                    outbox.c.kind,
                    outbox.c.attempts,
                    outbox.c.next_attempt_at,
                    post.c.message_id,
                    post.c.status.label("post_status"),
                )
                .outerjoin(
                    post,
                    (post.c.story_id == outbox.c.story_id)
                    & (post.c.channel_id == outbox.c.channel_id)
                    & (post.c.kind == "post"),
                )
                .where(outbox.c.status == "pending")
                .order_by(outbox.c.id)
                .limit(limit * 5)
                .with_for_update(skip_locked=True, of=outbox)
            ).all()
        due: list[OutboxRow] = []
        held: set[str] = set()  # channels whose oldest pending post is not due yet
        for r in rows:
            if len(due) >= limit:
                break
            if r.kind == "post" and (r.channel_id in held or _utc(r.next_attempt_at) > now):
                held.add(r.channel_id)
                continue
            if r.kind == "edit" and (r.post_status != "sent" or _utc(r.next_attempt_at) > now):
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

    def next_due(self, now: datetime) -> datetime | None:
        """When the earliest deferred row comes due (None: nothing is waiting for time)."""
        with self._read() as conn:
            value = conn.execute(
                select(func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.status == "pending", outbox.c.next_attempt_at > now
                )
            ).scalar_one_or_none()
        return _utc(value)

    def mark_sent(self, row_id: int, message_id: str | None, now: datetime) -> None:
        with self._write() as conn:
            values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
            if message_id is not None:
                values["message_id"] = message_id
            conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))

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
                )
            )

    def defer(self, row_id: int, reason: str, until: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    last_error=reason[:2000], attempts=outbox.c.attempts + 1, next_attempt_at=until
                )
            )

    def skip(self, row_id: int, reason: str) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(status="skipped", last_error=reason)
            )

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
        self, url: str, etag: str | None, last_modified: str | None, now: datetime
    ) -> None:
        values = {"etag": etag, "last_modified": last_modified, "updated_at": now}
        done = self.conn.execute(update(http_cache).where(http_cache.c.url == url).values(**values))
        if done.rowcount == 0:
            self.conn.execute(http_cache.insert().values(url=url, **values))

    def source_polled(self, source_id: str, now: datetime, entries_found: int | None) -> None:
        values: dict[str, Any] = {
            "last_polled_at": now,
            "last_success_at": now,
            "consecutive_failures": 0,
        }
        if entries_found is not None:
            values["entries_last_poll"] = entries_found
        done = self.conn.execute(
            update(source_state).where(source_state.c.source_id == source_id).values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(
                source_state.insert().values(source_id=source_id, first_polled_at=now, **values)
            )

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
        for key, guid in keys:
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

    def candidates(self, since: datetime) -> list[Candidate]:
        """Stories first seen since ``since``, with the fingerprints of their articles."""
        rows = self.conn.execute(
            select(
                stories.c.id,
                stories.c.province,
                stories.c.published,
                stories.c.first_seen,
                articles.c.text_hash,
                articles.c.minhash,
                articles.c.concepts,
                articles.c.doc_numbers,
                articles.c.language,
                articles.c.match_level,
            )
            .join(articles, articles.c.story_id == stories.c.id)
            .where(stories.c.first_seen >= since)
            .order_by(stories.c.id, articles.c.id)
        ).all()
        grouped: dict[int, list[Any]] = {}
        for r in rows:
            grouped.setdefault(r.id, []).append(r)
        found: list[Candidate] = []
        for story_id, group in grouped.items():
            fps = [
                Fingerprint(
                    text_hash=r.text_hash,
                    minhash=tuple(r.minhash),
                    concepts=frozenset(r.concepts),
                    doc_numbers=frozenset(r.doc_numbers),
                    language=r.language,
                )
                for r in group
            ]
            lead = group[0]
            found.append(
                Candidate(
                    story_id=story_id,
                    province=lead.province,
                    when=_utc(lead.published) or _utc(lead.first_seen),
                    fingerprint=fps[0],
                    extra=tuple(fps[1:]),
                )
            )
        return found

    def insert_story(self, values: dict[str, Any]) -> int:
        return int(self.conn.execute(stories.insert().values(**values)).inserted_primary_key[0])

    def insert_article(self, values: dict[str, Any]) -> int | None:
        """Insert one article; None when another poll stored the same URL first."""
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(articles.insert().values(**values))
        except IntegrityError:
            return None
        return int(result.inserted_primary_key[0])

    def story_updated(self, story_id: int, now: datetime) -> None:
        self.conn.execute(update(stories).where(stories.c.id == story_id).values(updated_at=now))

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
                .values(status="pending", next_attempt_at=now, attempts=0, last_error=None)
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _short(exc: SQLAlchemyError) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0]}"
    if isinstance(exc, OperationalError):
        return str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


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
    )


def _story(conn: Connection, story_id: int) -> Story | None:
    row = conn.execute(select(stories).where(stories.c.id == story_id)).first()
    if row is None:
        return None
    others = conn.execute(
        select(articles.c.source_name, articles.c.url, articles.c.language)
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
        also=tuple(Mention(o.source_name, o.url, o.language) for o in others),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["KnownArticle", "OutboxRow", "SourceState", "Store", "Tx", "utcnow"]
