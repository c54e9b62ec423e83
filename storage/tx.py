"""The engine, its connections and transactions, and the one translation of
SQLAlchemy's errors into :class:`~monitor.errors.StoreError`. [IO]

Every part of the store (``storage/*.py``) and :class:`~storage.chats.ChatStore`
read through :meth:`Database.read` and write through :meth:`Database.write`, so
that a database that is down or locked says so the same way everywhere. A
poll's statements are methods of a :class:`TxBase` on the connection of one
transaction (the full set is :class:`storage.poll.Tx`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from monitor.errors import StoreError

__all__ = ["SQLITE_BUSY_TIMEOUT", "Database", "TxBase", "normalize_db_url"]

# How long an SQLite statement waits for another writer's lock before the
# database counts as locked (StoreError); ``sqlite:///file.db?timeout=S`` sets it.
SQLITE_BUSY_TIMEOUT = 30.0


def normalize_db_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLite paths get their folder created."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """One SQLAlchemy engine (SQLite in WAL mode by default, PostgreSQL via
    ``postgresql+psycopg://``) and the connections every part of the store uses."""

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

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url} does not answer: {exc}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (no transaction is committed)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {short_error(exc)}") from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {short_error(exc)}") from exc


class TxBase:
    """Statements on the connection of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


def upsert_insert(dialect: str) -> Any:
    """The dialect's ``INSERT … ON CONFLICT`` construct (SQLite, PostgreSQL); None
    for a database without one (rows go one by one there). Imported here, at first
    use: the engine loads its own dialect anyway, and importing PostgreSQL's at
    start cost every SQLite process a tenth of a second."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    return None


def short_error(exc: SQLAlchemyError) -> str:
    """The first line of what the driver said, for a StoreError's message."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0]}"
    if isinstance(exc, OperationalError):
        return str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


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
