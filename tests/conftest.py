"""Shared fixtures: the store on SQLite and PostgreSQL, the fixture servers, the corpus.

PostgreSQL tests use ``MONITOR_TEST_PG_URL`` (default: the local server,
``postgresql://postgres@127.0.0.1:5432/test``), each test in a schema of its
own. Where no server answers they are skipped with the reason, unless
``MONITOR_REQUIRE_POSTGRES=1`` (set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")  # as monitor.cli.main does

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite

ROOT = Path(__file__).resolve().parent.parent
# ../shared/corpus beside the clone (CI lays it there); MONITOR_SHARED_CORPUS
# names another place (a git worktree has no ../shared beside it).
SHARED_CORPUS = Path(os.environ.get("MONITOR_SHARED_CORPUS") or ROOT.parent / "shared" / "corpus")
PG_URL = os.environ.get("MONITOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("MONITOR_REQUIRE_POSTGRES", "") not in ("", "0", "false")

_pg_reason: str | None = None


def _pg_unavailable() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    global _pg_reason
    if _pg_reason is None:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_reason = ""
        except (OperationalError, ImportError) as exc:
            _pg_reason = f"PostgreSQL at {PG_URL} is not reachable: {str(exc).splitlines()[0]}"
    return _pg_reason or None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    reason = _pg_unavailable()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"MONITOR_REQUIRE_POSTGRES is set but {reason}")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def newssite() -> Iterator[NewsSite]:
    with NewsSite() as site:
        yield site


@pytest.fixture
def botapi() -> Iterator[BotApiServer]:
    with BotApiServer() as server:
        yield server


@pytest.fixture
def seeds() -> Path:
    """The labelled seed corpus in ../shared; CI has it, a user's clone does not."""
    labels = SHARED_CORPUS / "seeds" / "labels.jsonl"
    if not labels.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared corpus at {labels}")
        pytest.skip(f"the shared corpus is not here ({labels}); it lives beside the repo in CI")
    return labels


@pytest.fixture(scope="session")
def dev_corpus() -> Path:
    """The labelled development corpus in ../shared (294 real news items)."""
    path = SHARED_CORPUS / "dev" / "dev.jsonl"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared corpus at {path}")
        pytest.skip(f"the shared dev corpus is not here ({path}); it lives beside the repo in CI")
    return path
