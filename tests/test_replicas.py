"""Several replicas on one database: outbox claims, source ownership, and two
`quality-monitor run` processes against one PostgreSQL, one of them killed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from storage.replicas import AdvisoryLocks
from storage.schema import fetch_log, outbox
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import RELEVANT_STORIES, write_config
from tests.test_store import article_values, story_values

NOW = datetime(2025, 9, 10, 8, 0, tzinfo=UTC)
LEASE = 30.0


def _stories(store: Store, channels: dict[str, int]) -> dict[str, list[int]]:
    """Stories with one pending post each, ``n`` per channel, in channel order."""
    made: dict[str, list[int]] = {c: [] for c in channels}
    with store.transaction() as tx:
        for channel, n in channels.items():
            for i in range(n):
                story_id = tx.insert_story(story_values(title=f"{channel} {i}"))
                tx.enqueue(story_id, channel, NOW)
                made[channel].append(story_id)
    return made


# ── outbox claims (SQLite and PostgreSQL) ───────────────────────────────────


def test_a_claimed_channel_is_not_taken_by_another_replica(store: Store) -> None:
    _stories(store, {"main": 2})
    first = store.claim_outbox("a", NOW, LEASE)
    assert [r.channel_id for r in first] == ["main", "main"]
    assert store.claim_outbox("b", NOW, LEASE) == []  # a is sending them
    assert store.confirm_claim(first[0].id, "a", NOW, LEASE)
    assert not store.confirm_claim(first[0].id, "b", NOW, LEASE)
    store.mark_sent(first[0].id, "1", NOW, "a")
    # the channel's oldest pending post is a's: b still waits, order is kept
    assert store.claim_outbox("b", NOW, LEASE) == []
    # a claiming again gets its own row back
    assert [r.id for r in store.claim_outbox("a", NOW, LEASE)] == [first[1].id]


def test_claims_of_a_dead_replica_expire(store: Store) -> None:
    _stories(store, {"main": 3})
    taken = store.claim_outbox("a", NOW, LEASE)
    assert len(taken) == 3
    later = NOW + timedelta(seconds=LEASE + 1)
    again = store.claim_outbox("b", later, LEASE)
    assert [r.id for r in again] == [r.id for r in taken]
    assert not store.confirm_claim(taken[0].id, "a", later, LEASE)  # a must not send it now
    assert store.confirm_claim(taken[0].id, "b", later, LEASE)


def test_sending_renews_the_claims_waiting_behind(store: Store) -> None:
    """A long batch (pacing) keeps its channel: each send renews the rows behind it."""
    _stories(store, {"main": 2})
    first, second = store.claim_outbox("a", NOW, LEASE)
    later = NOW + timedelta(seconds=LEASE - 5)
    assert store.confirm_claim(first.id, "a", later, LEASE)
    store.mark_sent(first.id, "1", later, "a")
    # past the first lease: the second row would have expired without the renewal
    assert store.claim_outbox("b", NOW + timedelta(seconds=LEASE + 5), LEASE) == []
    assert store.confirm_claim(second.id, "a", NOW + timedelta(seconds=LEASE + 5), LEASE)


def test_other_channels_are_not_held_and_release_hands_back(store: Store) -> None:
    _stories(store, {"main": 2, "other": 1})
    mine = store.claim_outbox("a", NOW, LEASE, channels=["main"])
    assert {r.channel_id for r in mine} == {"main"}
    theirs = store.claim_outbox("b", NOW, LEASE)
    assert [r.channel_id for r in theirs] == ["other"]
    assert store.release_claims("a") == 2
    assert {r.channel_id for r in store.claim_outbox("b", NOW, LEASE)} == {"main", "other"}


def test_an_edit_rearmed_while_being_sent_goes_out_again(store: Store) -> None:
    with store.transaction() as tx:
        story_id = tx.insert_story(story_values())
        tx.insert_article(article_values(story_id))
        tx.enqueue(story_id, "main", NOW)
    [post] = store.claim_outbox("a", NOW, LEASE)
    store.mark_sent(post.id, "7", NOW, "a")
    with store.transaction() as tx:
        tx.insert_article(article_values(story_id, "https://other.example/b", match_level="event"))
        tx.enqueue_edits(story_id, NOW)
    [edit] = store.claim_outbox("a", NOW, LEASE)
    assert (edit.kind, edit.message_id) == ("edit", "7")
    assert store.confirm_claim(edit.id, "a", NOW, LEASE)
    with store.transaction() as tx:  # a third outlet arrives while the edit is in flight
        tx.insert_article(article_values(story_id, "https://third.example/c", match_level="event"))
        tx.enqueue_edits(story_id, NOW)
    store.mark_sent(edit.id, None, NOW, "a")
    [again] = store.claim_outbox("b", NOW, LEASE)
    assert again.id == edit.id  # still pending: the newer text must be sent


@pytest.mark.postgres
def test_concurrent_replicas_send_every_row_exactly_once(pg_url: str) -> None:
    """Four replicas drain 60 rows in 4 channels at once, each through its own
    engine: every row is taken once and each channel's rows in order."""
    setup = Store(pg_url)
    setup.migrate()
    made = _stories(setup, {f"c{i}": 15 for i in range(4)})
    setup.close()
    sent: list[tuple[str, int, int]] = []  # (replica, row id, story id)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def replica(name: str) -> None:
        store = Store(pg_url)
        try:
            idle = 0
            while idle < 20:
                rows = store.claim_outbox(name, datetime.now(UTC), LEASE, limit=3)
                if not rows:
                    idle += 1
                    time.sleep(0.01)
                    continue
                idle = 0
                for row in rows:
                    if not store.confirm_claim(row.id, name, datetime.now(UTC), LEASE):
                        break
                    with lock:
                        sent.append((name, row.id, row.story_id))
                    store.mark_sent(row.id, str(row.id), datetime.now(UTC), name)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    counts = Counter(row_id for _, row_id, _ in sent)
    assert len(counts) == 60 and set(counts.values()) == {1}
    order = [story_id for _, _, story_id in sent]
    for stories in made.values():
        assert [s for s in order if s in stories] == stories  # per channel, in order
    assert len({name for name, _, _ in sent}) > 1  # the work was shared


# ── source ownership (PostgreSQL advisory locks) ────────────────────────────

SOURCES = [f"source-{i}" for i in range(24)]


@pytest.fixture
def replica(pg_url: str) -> Iterator[Callable[..., AdvisoryLocks]]:
    """Makes replicas (each with a store of its own); closes them all afterwards."""
    made: list[tuple[AdvisoryLocks, Store]] = []

    def make(name: str, *, member: bool = True) -> AdvisoryLocks:
        store = Store(pg_url)
        locks = AdvisoryLocks(store, replica=name, member=member)
        made.append((locks, store))
        return locks

    yield make
    for locks, store in made:
        locks.close()
        store.close()


@pytest.mark.postgres
def test_replicas_share_the_sources_and_take_over_from_a_dead_one(
    replica: Callable[..., AdvisoryLocks],
) -> None:
    a, b = replica("a"), replica("b")
    gained, _ = a.rebalance(SOURCES)
    assert gained == set(SOURCES)  # alone, a polls everything
    assert b.rebalance(SOURCES) == (set(), set())  # all taken; b waits its turn
    assert a.members() == b.members() == 2
    _, let_go = a.rebalance(SOURCES)  # a lets go of what b is preferred for
    assert let_go and let_go < set(SOURCES)
    gained_b, _ = b.rebalance(SOURCES)
    assert gained_b == let_go
    assert a.owned | b.owned == set(SOURCES) and not a.owned & b.owned
    assert min(len(a.owned), len(b.owned)) >= len(SOURCES) // 4  # spread, roughly even
    assert all(a.holds(s) for s in a.owned) and not any(a.holds(s) for s in b.owned)

    # a stable group moves nothing
    assert a.rebalance(SOURCES) == (set(), set()) == b.rebalance(SOURCES)

    # a poll in flight is not let go until it is done
    c = replica("c")
    c.rebalance(SOURCES)
    busy = set(a.owned)
    _, lost = a.rebalance(SOURCES, busy)
    assert not lost
    c.close()

    a.close()  # a dies: its session ends, PostgreSQL drops its locks
    gained_b, _ = b.rebalance(SOURCES)
    assert b.owned == set(SOURCES)
    assert not a.holds(SOURCES[0])


@pytest.mark.postgres
def test_run_once_takes_only_what_no_replica_holds(
    replica: Callable[..., AdvisoryLocks],
) -> None:
    running, once = replica("running"), replica("once", member=False)
    running.rebalance(SOURCES[:10])
    assert once.try_acquire(SOURCES[:12]) == set(SOURCES[10:12])
    assert running.members() == 1  # `run --once` is no member of the group


@pytest.mark.postgres
def test_a_replica_whose_session_dies_stops_polling_and_rejoins(
    pg_url: str, replica: Callable[..., AdvisoryLocks]
) -> None:
    a = replica("a")
    a.rebalance(SOURCES[:4])
    assert a.holds(SOURCES[0])
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'quality-monitor a'"
            )
        )
    admin.dispose()
    assert not a.holds(SOURCES[0])  # asked right before a poll: not ours any more
    gained, _ = a.rebalance(SOURCES[:4])  # the next round reconnects and takes them again
    assert gained == set(SOURCES[:4])


@pytest.mark.postgres
def test_replicas_starting_together_migrate_one_after_the_other(pg_url: str) -> None:
    errors: list[BaseException] = []

    def migrate() -> None:
        store = Store(pg_url)
        try:
            store.migrate()
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    store = Store(pg_url)
    assert store.revision() == store.head_revision()
    store.close()


# ── two processes, one killed ───────────────────────────────────────────────


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
    except OSError:
        return None
    found = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(found.group(1)) if found else None


def _wait(what: str, condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_one_killed_post_every_story_exactly_once(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, pg_url: str
) -> None:
    config = write_config(tmp_path, newssite)
    config.write_text(config.read_text().replace("pace: 0s", "pace: 1s"))
    setup = Store(pg_url)
    setup.migrate()
    setup.close()
    ports = [_free_port(), _free_port()]
    processes: list[subprocess.Popen[str]] = []
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    try:
        for port, log_path in zip(ports, logs, strict=True):
            env = {
                **os.environ,
                "TELEGRAM_BOT_TOKEN": botapi.token,
                "TELEGRAM_API_URL": botapi.url,
                "MONITOR_DB_URL": pg_url,
                "MONITOR_HTTP_PORT": str(port),
                "MONITOR_LEASE": "6s",
            }
            with log_path.open("w") as log_file:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                        env=env,
                        stderr=log_file,
                        text=True,
                    )
                )
        store = Store(pg_url)

        def polled_all() -> bool:
            with store.engine.connect() as conn:
                done = conn.execute(select(fetch_log.c.source_id).distinct()).scalars().all()
            return len(done) == 3 and len(botapi.sent) >= 2

        _wait("three polls and two posts", polled_all, 60)
        time.sleep(0.5)  # between two posts (pace 1 s): not inside a send
        with store.engine.connect() as conn:
            owners = set(
                conn.execute(
                    select(outbox.c.claimed_by).where(
                        outbox.c.status == "pending", outbox.c.claimed_by.is_not(None)
                    )
                ).scalars()
            )
        assert len(owners) == 1, owners  # one replica is sending the channel's posts
        pid = int(owners.pop().rsplit("-", 1)[1])
        victim = next(p for p in processes if p.pid == pid)
        survivor = next(p for p in processes if p.pid != pid)
        survivor_port = ports[processes.index(survivor)]
        victim.send_signal(signal.SIGKILL)  # no clean shutdown: its claims must expire
        victim.wait(10)

        _wait("every story posted", lambda: len(botapi.sent) >= RELEVANT_STORIES, 60)
        _wait(
            "the survivor to take over every source",
            lambda: _metric(survivor_port, "quality_monitor_sources_owned") == 3.0,
            30,
        )
        time.sleep(1.0)  # anything posted twice would show up by now
        texts = [p["text"] for p in botapi.sent]
        assert len(texts) == RELEVANT_STORIES, texts
        assert len(set(texts)) == RELEVANT_STORIES  # no story twice
        counts = store.counts()
        assert counts.get("outbox_pending", 0) == 0
        with store.engine.connect() as conn:
            sent_posts = conn.execute(
                select(outbox.c.id).where(outbox.c.kind == "post", outbox.c.status == "sent")
            ).all()
        assert len(sent_posts) == RELEVANT_STORIES
        # Each list page was fetched once: never by both replicas, and the source
        # taken over is next polled one interval after its last poll, not at once.
        for path in ("/feed.xml", "/gbk/list.html", "/mislabelled/list.html"):
            assert newssite.hits[path] == 1, (path, newssite.hits[path])
        assert _metric(survivor_port, "quality_monitor_replicas") == 1.0
        store.close()
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(15) == 0
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    survivor_log = logs[processes.index(survivor)].read_text()
    assert "taken over" in survivor_log and "Traceback" not in survivor_log
