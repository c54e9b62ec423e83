"""Retention on SQLite and PostgreSQL: what goes, what stays, once a day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from monitor.cli import main
from monitor.config import Retention, parse_config
from monitor.errors import ConfigError
from monitor.retention import apply_retention
from storage.schema import entries, fetch_log, outbox, stories
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import write_config
from tests.test_store import NOW, article_values, story_values

DAY = timedelta(days=1)


def _story(store: Store, url: str, *, age: timedelta, status: str = "sent") -> int:
    when = NOW - age
    with store.transaction() as tx:
        story_id = tx.insert_story(story_values(url=url, first_seen=when, updated_at=when))
        tx.insert_article(article_values(story_id, url, first_seen=when))
        tx.enqueue(story_id, "main", when)
    with store.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.story_id == story_id).values(status=status))
    return story_id


def _count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_old_stories_entries_and_fetch_log_go_the_rest_stays(store: Store) -> None:
    old = _story(store, "https://e/old", age=400 * DAY)
    waiting = _story(store, "https://e/waiting", age=400 * DAY, status="pending")
    recent = _story(store, "https://e/recent", age=10 * DAY)
    with store.transaction() as tx:
        tx.mark_seen("s", [("k-old", None)], NOW - 800 * DAY)
        tx.mark_seen("s", [("k-kept", None)], NOW - 400 * DAY)  # kept twice as long
    for age in (40 * DAY, DAY):
        store.log_poll("s", replica="r", started_at=NOW - age, status="ok", seconds=0.1)

    gone = apply_retention(store, Retention(), owner="r", now=NOW)
    assert gone == {"stories": 1, "articles": 1, "outbox": 1, "entries": 1, "fetch_log": 1}
    assert store.story(old) is None
    assert store.story(waiting) is not None  # an alert still pending keeps its story
    assert store.story(recent) is not None
    assert store.unseen("s", ["k-old", "k-kept"]) == {"k-old"}
    assert _count(store, fetch_log) == 1

    # once a day, whichever replica asks first
    assert apply_retention(store, Retention(), owner="other", now=NOW + timedelta(hours=23)) is None
    assert apply_retention(store, Retention(), owner="other", now=NOW + 25 * timedelta(hours=1))
    assert apply_retention(store, Retention(), owner="r", now=NOW, force=True) is not None


def test_forever_keeps_everything(store: Store) -> None:
    _story(store, "https://e/old", age=4000 * DAY)
    keep = Retention(articles=None, fetch_log=None)
    gone = apply_retention(store, keep, owner="r", now=NOW)
    assert gone is not None and not any(gone.values())
    assert _count(store, stories) == 1 and _count(store, entries) == 0


def test_retention_in_sources_yaml() -> None:
    config = parse_config("retention: {articles: 30d, fetch_log: forever}\n", env={})
    assert config.retention.articles == 30 * 86400 and config.retention.fetch_log is None
    assert parse_config("version: 1\n", env={}).retention == Retention(
        articles=365 * 86400.0, fetch_log=30 * 86400.0
    )
    with pytest.raises(ConfigError) as bad:
        parse_config("version: 1\nretention:\n  articles: 2h\n", env={})
    assert "sources.yaml:3: retention.articles: must be at least 1d" in str(bad.value)


def test_run_once_applies_the_retention(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(db_url)
    store.migrate()
    ancient = _story(store, "https://e/ancient", age=3000 * DAY)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    config = write_config(tmp_path, newssite)
    assert main(["--config", str(config), "run", "--once"]) == 0
    assert store.story(ancient) is None
    assert "retention: deleted 1 stories, 1 articles, 1 alerts" in capsys.readouterr().err
    store.close()
