"""Fault drill: the database fails during a cycle.

* SQLite locked by another writer (a write transaction held open by another
  connection, as a backup script or a second process would): the cycle fails
  cleanly within the lock timeout (``?timeout=2`` in the URL here; 30 s by
  default) — exit status 1, one line saying the database is locked, nothing
  half-written — and the next cycle, once the lock is gone, delivers
  everything exactly once. ``run`` (the scheduler) keeps going and delivers at
  its next polls.
* PostgreSQL "restarted" during a cycle: the server is shared with other
  tests, so instead of restarting it the drill terminates every backend of the
  monitor (``pg_terminate_backend`` on its ``application_name``) several times
  while the cycle fetches; to the monitor that is what a restart looks like
  (every connection dropped at once). The cycle ends cleanly, the next one
  delivers everything exactly once.

The monitor runs as ``python -m monitor`` in a subprocess, against the fixture
site and the Bot API test server.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.store import LOCK_STORIES, Store, schema_key
from tests.conftest import PG_URL
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import RELEVANT_STORIES, write_config

pytestmark = pytest.mark.drill  # `make test-fast` leaves the fault drills out


def _env(botapi: BotApiServer, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_URL": botapi.url,
        "MONITOR_DB_URL": db_url,
        "MONITOR_LOG_LEVEL": "INFO",
    }


def _run_once(config: Path, env: dict[str, str], timeout: float = 60) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def _start_once(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``run --once`` in the background, its stderr captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def _next_cycles_deliver_once(config: Path, env: dict[str, str], botapi: BotApiServer) -> None:
    """After the fault: the next cycle posts every story once, the one after nothing more."""
    for _ in range(2):
        code, err, _took = _run_once(config, env)
        assert code == 0, err
        _posted_once(botapi)


def _migrate(url: str) -> None:
    store = Store(url)
    store.migrate()
    store.close()


def _posted_once(botapi: BotApiServer) -> None:
    titles = [p["text"].splitlines()[1] for p in botapi.sent]
    assert len(titles) == RELEVANT_STORIES, titles
    assert len(set(titles)) == len(titles), titles


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another writer: a connection with a write transaction open (and a write in it)."""
    holder = sqlite3.connect(db, isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE IF NOT EXISTS another_writer (x INTEGER)")
    holder.execute("INSERT INTO another_writer VALUES (1)")
    return holder


def test_sqlite_locked_by_another_writer_fails_the_cycle_cleanly_then_the_next_delivers(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer
) -> None:
    db = tmp_path / "monitor.db"
    url = f"sqlite:///{db}?timeout=2"
    _migrate(url)
    config = write_config(tmp_path, newssite)
    env = _env(botapi, url)

    holder = _hold_write_lock(db)
    try:
        code, err, took = _run_once(config, env)
        assert code == 1, err
        assert "database error" in err and "database is locked" in err
        assert "Traceback" not in err
        assert took < 30  # the lock timeout once or twice, not once per source
        assert botapi.sent == []
        store = Store(url)  # readers are not blocked (WAL): nothing half-written
        assert store.counts() == {"articles": 0, "stories": 0}
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    _next_cycles_deliver_once(config, env, botapi)


def test_sqlite_locked_while_run_polls_then_released_delivers_at_the_next_polls(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer
) -> None:
    db = tmp_path / "monitor.db"
    url = f"sqlite:///{db}?timeout=1"
    _migrate(url)
    config = write_config(tmp_path, newssite)
    config.write_text(config.read_text().replace("interval: 10m", "interval: 10s"))
    holder = _hold_write_lock(db)
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        env=_env(botapi, url),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while sum(newssite.hits.values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the first polls have started
        time.sleep(3)  # … and failed on the lock
        assert botapi.sent == []
        holder.execute("ROLLBACK")
        holder.close()
        deadline = time.monotonic() + 40  # the next polls: one interval (10 s, jitter 10 %)
        while len(botapi.sent) < RELEVANT_STORIES and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "database is locked" in err  # the first polls failed, and said why
    assert "Traceback" not in err
    _posted_once(botapi)


def _terminate(admin: Engine, name: str) -> int:
    """Drop every connection of the monitor, as a server restart would."""
    with admin.begin() as conn:
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).all()
        )


@pytest.mark.postgres
def test_postgres_connections_dropped_during_a_cycle(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, pg_url: str
) -> None:
    name = f"qm_drill_{uuid.uuid4().hex[:8]}"
    url = f"{pg_url}&application_name={name}"
    config = write_config(tmp_path, newssite)
    env = _env(botapi, url)
    admin = create_engine(PG_URL)
    newssite.delay = 0.3  # a cycle of a few seconds, to be interrupted in the middle
    killed = 0
    process = _start_once(config, env)
    try:
        deadline = time.monotonic() + 30
        while (
            sum(n for p, n in newssite.hits.items() if p.startswith("/news/")) < 2
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)  # articles are being fetched: the cycle is under way
        for _ in range(4):
            killed += _terminate(admin, name)
            time.sleep(0.4)
        _out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        admin.dispose()
    assert killed >= 1  # the drill did drop the monitor's connections
    assert process.returncode in (0, 1), err
    if process.returncode == 1:
        assert "database error" in err
    assert "Traceback" not in err

    newssite.delay = 0
    _next_cycles_deliver_once(config, env, botapi)


@pytest.mark.postgres
def test_postgres_connection_dropped_inside_the_store_transaction(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, pg_url: str
) -> None:
    """The poll's transaction is open (waiting for the story lock, which the test
    holds) when its connection is dropped: that poll fails, the cycle ends with
    a clean database error, and the next cycle stores and posts everything once."""
    name = f"qm_drill_{uuid.uuid4().hex[:8]}"
    url = f"{pg_url}&application_name={name}"
    config = write_config(tmp_path, newssite)
    env = _env(botapi, url)
    _migrate(url)
    admin = create_engine(pg_url)  # the same schema: the same lock key
    holder = admin.connect()
    holder.begin()
    holder.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :key)"),
        {"ns": LOCK_STORIES, "key": schema_key(holder)},
    )
    process = _start_once(config, env)
    try:
        deadline = time.monotonic() + 45
        waiting = 0
        while not waiting and time.monotonic() < deadline:
            with admin.begin() as conn:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                        "AND wait_event_type = 'Lock' AND state = 'active'"
                    ),
                    {"name": name},
                ).scalar_one()
            time.sleep(0.05)
        assert waiting, "the monitor never reached its store transaction"
        killed = _terminate(admin, name)
        holder.rollback()
        _out, err = process.communicate(timeout=60)
    finally:
        holder.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert killed >= 1
    assert process.returncode == 1, err
    assert "database error" in err and "Traceback" not in err
    interrupted = _seen_per_source(url)
    admin.dispose()

    _next_cycles_deliver_once(config, env, botapi)
    # Each poll was all or nothing: a source stored every entry it listed, or none.
    complete = _seen_per_source(url)
    assert all(interrupted.get(s, 0) in (0, n) for s, n in complete.items()), (
        interrupted,
        complete,
    )


def _seen_per_source(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from storage.schema import entries

    store = Store(url)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(entries.c.source_id, func.count()).group_by(entries.c.source_id)
        ).all()
    store.close()
    return {source: n for source, n in rows}
