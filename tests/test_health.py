"""Source health: cadence learned, flags raised once and cleared, backoff and recovery."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import build_context
from monitor.cli import main
from monitor.config import Config, parse_config
from monitor.fetch import Fetcher
from monitor.health import (
    EMPTY,
    FAILING,
    SELECTORS,
    STALE,
    Health,
    HealthPolicy,
    Poll,
    backoff,
    observe,
)
from monitor.pipeline import Context, poll
from monitor.scheduler import Runner
from storage.runner import DbRunner
from storage.store import Store
from tests.servers.newssite import NewsSite

NOW = datetime(2025, 11, 20, 8, tzinfo=UTC)
DAY = 86400.0


def days_ago(*days: float) -> tuple[datetime, ...]:
    return tuple(NOW - timedelta(days=d) for d in days)


# ── the pure rules ──────────────────────────────────────────────────────────


def test_cadence_is_learned_from_the_gaps_between_items() -> None:
    health, changes = observe(
        Health(), Poll(NOW, "ok", 1800, entries=4, dates=days_ago(0, 1, 2, 3))
    )
    assert health.cadence == pytest.approx(DAY) and health.newest == NOW
    assert health.usual_entries == 4 and not changes and not health.flags


def test_stale_is_raised_once_and_cleared_by_a_recent_item() -> None:
    old = days_ago(30, 31, 32, 33)  # a daily publisher that went quiet a month ago
    health, changes = observe(Health(), Poll(NOW, "ok", 1800, entries=4, dates=old))
    assert [(c.flag, c.raised) for c in changes] == [(STALE, True)]
    assert "30 days ago" in changes[0].message and health.note and health.changed_at == NOW
    later = NOW + timedelta(hours=1)
    health, changes = observe(health, Poll(later, "not_modified", 1800))  # still stale: silent
    assert not changes and STALE in health.flags
    fresh = (*old, later - timedelta(hours=2))
    health, changes = observe(health, Poll(later, "ok", 1800, entries=5, dates=fresh))
    assert [(c.flag, c.raised) for c in changes] == [(STALE, False)] and not health.flags


def test_the_stale_message_gives_the_day_in_china_time() -> None:
    # A list's "2025-10-13" is midnight in China: 16:00 UTC on 12 October.
    dated = tuple(datetime(2025, 10, 13 - d, tzinfo=UTC) - timedelta(hours=8) for d in range(4))
    _health, changes = observe(Health(), Poll(NOW, "ok", 1800, entries=4, dates=dated))
    assert "the newest item is from 2025-10-13," in changes[0].message


def test_a_holiday_week_is_not_stale() -> None:
    _, changes = observe(Health(), Poll(NOW, "ok", 1800, entries=3, dates=days_ago(8, 9, 10)))
    assert not changes  # 8 days < stale_min even for a daily publisher


def test_empty_needs_a_history_of_items() -> None:
    usual = Health(usual_entries=15)
    health, changes = observe(usual, Poll(NOW, "ok", 1800, entries=0))
    assert [(c.flag, c.raised) for c in changes] == [(EMPTY, True)]
    again, changes = observe(
        health,
        Poll(NOW, "error", 1800, failures=1, entries=0, error="list selector 'ul' matched nothing"),
    )
    assert not changes and EMPTY in again.flags
    _, changes = observe(again, Poll(NOW, "ok", 1800, entries=12))
    assert [(c.flag, c.raised) for c in changes] == [(EMPTY, False)]
    # a search that never found anything is not "empty"
    assert observe(Health(), Poll(NOW, "ok", 1800, entries=0))[1] == []


def test_failing_backs_off_and_is_flagged_after_the_threshold() -> None:
    policy = HealthPolicy(max_backoff=6 * 3600, failing_after=DAY)
    health, when = Health(), NOW
    raised = []
    for failures in range(1, 12):
        health, changes = observe(
            health, Poll(when, "error", 1800, failures=failures, error="HTTP 503"), policy
        )
        raised += changes
        assert health.backoff_until is not None
        wait = (health.backoff_until - when).total_seconds()
        assert wait == pytest.approx(backoff(failures, 1800, policy.max_backoff), rel=0.11)
        when = health.backoff_until
    assert [(c.flag, c.raised) for c in raised] == [(FAILING, True)]  # said once
    assert "HTTP 503" in raised[0].message and health.failing_since == NOW
    health, changes = observe(health, Poll(when, "ok", 1800, entries=3))
    assert [(c.flag, c.raised) for c in changes] == [(FAILING, False)]
    assert health.backoff_until is None and health.failing_since is None


def test_messages_give_the_day_the_site_shows() -> None:
    # 2025-09-10 on a list page is 2025-09-09 16:00 UTC: the message says the 10th.
    listed = datetime(2025, 9, 9, 16, tzinfo=UTC)
    dates = (listed, listed - timedelta(days=1))
    _, [change] = observe(Health(), Poll(NOW, "ok", 1800, entries=2, dates=dates))
    assert change.flag == STALE and "the newest item is from 2025-09-10" in change.message


def test_selectors_flag_is_raised_by_a_notice_and_cleared_by_the_selectors() -> None:
    notice = "list selector 'ul.x li' matched nothing; …: update list to {item: \"ul.y > li\"}"
    health, changes = observe(
        Health(), Poll(NOW, "ok", 1800, entries=5, list_origin="detection", list_notice=notice)
    )
    assert [(c.flag, c.raised, c.message) for c in changes] == [(SELECTORS, True, notice)]
    again, changes = observe(health, Poll(NOW, "not_modified", 1800))
    assert not changes and SELECTORS in again.flags
    _, changes = observe(again, Poll(NOW, "ok", 1800, entries=5, list_origin="selectors"))
    assert [(c.flag, c.raised) for c in changes] == [(SELECTORS, False)]


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 600, 3600) for n in range(1, 6)] == [600, 1200, 2400, 3600, 3600]
    assert backoff(3, 7200, 3600) == 7200  # never shorter than the interval itself


# ── through the pipeline, the store and the scheduler ───────────────────────

LIST = """\
version: 1
defaults: {{interval: 10m, timeout: 2s, backlog: 0, failing_after: 1s, max_backoff: 1h}}
sources:
  - id: gbk
    name: GBK list
    kind: html
    url: "{url}/gbk/list.html"
    list: {{item: "ul.news-list li", date: "span.date"}}
"""


@pytest.fixture
async def ctx(newssite: NewsSite, sqlite_url: str) -> AsyncIterator[Context]:
    store = Store(sqlite_url)
    store.migrate()
    db = DbRunner()
    async with Fetcher(backoff=0.01, retries=0) as fetcher:
        yield build_context(
            parse_config(LIST.format(url=newssite.url), env={}),
            store=store,
            db=db,
            fetcher=fetcher,
        )
    db.close()
    store.close()


def warnings_about(caplog: pytest.LogCaptureFixture, flag: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"health: {flag}:" in r.getMessage()
    ]


async def test_a_redesign_is_flagged_empty_once_and_cleared(
    newssite: NewsSite, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.pipeline")
    source = ctx.config.sources[0]
    assert (await poll(source, ctx)).status == "ok"
    newssite.redesigned = True
    for _ in range(3):
        report = await poll(source, ctx)
        assert report.status == "error" and report.answered
    assert len(warnings_about(caplog, EMPTY)) == 1  # once, not on every poll
    [state] = ctx.store.source_health()
    assert EMPTY in state.health_flags and state.consecutive_failures == 3
    assert state.health_note and "no items" in state.health_note
    newssite.redesigned = False
    assert (await poll(source, ctx)).status == "not_modified"  # the page it had before: a 304
    [state] = ctx.store.source_health()
    assert EMPTY not in state.health_flags  # (stale it is: the fixture's items are from 2025)
    assert any("health: empty ok again" in r.getMessage() for r in caplog.records)


async def test_a_template_change_falls_back_to_detection_and_is_flagged_once(
    newssite: NewsSite, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.pipeline")
    source = ctx.config.sources[0]
    first = await poll(source, ctx)
    assert first.status == "ok" and first.origin == "selectors" and first.entries == 6
    newssite.restyled = True  # ul.news-list is now div.list-2026 > ul.articles
    newssite.publish(
        {"id": "restyled-new", "title": "质量强省新模板测试稿件发布", "body": "正文。" * 20}
    )
    report = await poll(source, ctx)
    assert report.status == "ok" and report.origin == "detection"
    assert report.entries == 7 and report.new == 1  # the list is still read, the new item too
    assert (await poll(source, ctx)).status == "not_modified"
    newssite.publish(
        {"id": "restyled-2nd", "title": "质量强省新模板第二篇稿件", "body": "正文。" * 20}
    )
    report = await poll(source, ctx)
    assert report.status == "ok" and report.origin == "detection" and report.new == 1
    state = ctx.store.source_state("gbk")
    assert state is not None and state.consecutive_failures == 0
    [raised] = warnings_about(caplog, SELECTORS)  # once, not on every poll
    assert "list selector 'ul.news-list li' matched nothing" in raised
    assert 'update list to {item: "ul.articles > li", date: "span.date"}' in raised
    [state] = ctx.store.source_health()
    assert SELECTORS in state.health_flags and EMPTY not in state.health_flags
    assert state.health_note and "ul.articles > li" in state.health_note
    newssite.restyled = False
    assert (await poll(source, ctx)).origin == "selectors"
    [state] = ctx.store.source_health()
    assert SELECTORS not in state.health_flags
    assert any("health: selectors ok again" in r.getMessage() for r in caplog.records)


async def test_an_outage_backs_off_is_flagged_and_recovers(
    newssite: NewsSite, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    source = ctx.config.sources[0]
    await poll(source, ctx)
    newssite.outage = 1000
    clock = [datetime.now(UTC)]
    ctx.clock = lambda: clock[0]
    for _ in range(3):
        report = await poll(source, ctx)
        assert report.status == "error" and "HTTP 503" in (report.error or "")
        clock[0] += timedelta(seconds=2)
    state = ctx.store.source_state("gbk")
    assert state is not None and state.consecutive_failures == 3
    assert state.failing_since is not None and state.backoff_until is not None
    assert state.backoff_until - clock[0] > timedelta(minutes=30)  # 10m × 2² (± jitter) - 2s
    assert len(warnings_about(caplog, FAILING)) == 1

    # The scheduler skips the source while it backs off …
    runner = Runner(ctx, deliverer=None)  # type: ignore[arg-type]
    assert await runner._backing_off(source)
    # … and polls it again once the time has come; the first success resets everything.
    newssite.outage = 0
    clock[0] = state.backoff_until + timedelta(seconds=1)
    assert not await runner._backing_off(source)
    assert (await poll(source, ctx)).status in ("ok", "not_modified")
    state = ctx.store.source_state("gbk")
    assert state is not None and state.consecutive_failures == 0
    assert state.backoff_until is None and FAILING not in state.health_flags
    assert state.last_success_at == clock[0]


def test_health_round_trips_through_the_store(store: Store) -> None:
    store.record_failure("s", "HTTP 503", NOW)
    store.save_health(
        "s",
        status="error",
        elapsed=1.5,
        failing_since=NOW,
        backoff_until=NOW + timedelta(hours=1),
        cadence_seconds=DAY,
        usual_entries=12.5,
        newest_entry_at=NOW - timedelta(days=2),
        flags={FAILING, STALE},
        note="failing: …",
        changed_at=NOW,
    )
    [state] = store.source_health()
    assert state.health_flags == (FAILING, STALE) and not state.healthy
    assert state.backoff_until == NOW + timedelta(hours=1) and state.cadence_seconds == DAY
    assert state.last_status == "error" and state.last_elapsed == 1.5
    with store.transaction() as tx:
        tx.save_validators("POST http://x #1", None, None, NOW, "abc")
    assert store.cached("POST http://x #1").content_hash == "abc"
    assert store.cached("nowhere").etag is None


def test_check_fetch_shows_kind_entries_and_the_stored_state(
    tmp_path: Path,
    newssite: NewsSite,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(
        LIST.format(url=newssite.url)
        + f"""\
  - {{id: samr, name: s, kind: jpaas, url: "{newssite.url}/jpaas/xw/zj/"}}
  - {{id: jcms, name: j, kind: jcms, url: "{newssite.url}/jcms/col/col7/index.html"}}
  - {{id: down, name: d, kind: rss, url: "{newssite.url}/fault/500"}}
""",
        encoding="utf-8",
    )
    db = tmp_path / "m.db"
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{db}")
    assert main(["--config", str(config), "check", "--fetch"]) == 1  # "down" failed
    assert not db.exists()  # check never creates a database
    first = capsys.readouterr().out
    assert main(["--config", str(config), "run", "--once"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "check", "--fetch"]) == 1
    out = capsys.readouterr().out.split("\n\n")[0]
    header, *lines = out.splitlines()[1:]
    assert header.split()[:5] == ["source", "kind", "status", "entries", "newest"]
    assert "last ok" in header and "fails" in header and "flags" in header
    rows = {line.split()[0]: line for line in lines}
    assert set(rows) == {"gbk", "samr", "jcms", "down"}
    assert " jpaas " in rows["samr"] and " ok " in rows["samr"] and " 6 " in rows["samr"]
    assert "HTTP 500" in rows["down"] and " 1 " in rows["down"]  # one failure stored
    assert "stale" in rows["gbk"]  # the fixture's newest item is from 2025
    assert " - " in first.splitlines()[2]  # no stored state before the first run


def test_shipped_sources_cover_the_families_and_twenty_provinces() -> None:
    from monitor.config import load_config

    config: Config = load_config(Path(__file__).parent.parent / "sources.yaml", env={})
    enabled = [s for s in config.sources if s.enabled]
    assert len(config.sources) >= 30
    assert {s.kind for s in enabled} >= {"rss", "html", "jcms", "jpaas", "gkmlpt", "json"}
    provinces = {s.province for s in enabled if s.province not in (None, "CN")}
    assert len(provinces) >= 20 and {"CN-SC", "CN-GD", "CN-ZJ"} <= provinces
    assert any(s.id.startswith("samr") for s in enabled)
    assert all(s.note for s in config.sources)  # what is unverified is said
    for source in config.sources:  # a kind's request can be planned for every entry
        from monitor import sources

        assert sources.request(source) is not None, source.id
