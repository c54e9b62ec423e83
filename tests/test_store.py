"""The store on real SQLite and PostgreSQL: migrations, uniqueness, the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.health import Health
from monitor.model import HealthRecord
from monitor.pipeline import health_of
from storage.store import Cached, PollEnd, Store

NOW = datetime(2025, 9, 10, 8, 0, tzinfo=UTC)


def story_values(**kw: object) -> dict[str, object]:
    values: dict[str, object] = {
        "title": "四川启动质量月",
        "url": "https://example.com/a",
        "summary": "摘要。",
        "province": "CN-SC",
        "category": "campaign_event",
        "language": "zh-Hans",
        "source_id": "s",
        "source_name": "S",
        "relevant": True,
        "score": 9.0,
        "published": NOW,
        "first_seen": NOW,
        "updated_at": NOW,
    }
    return values | kw


def article_values(
    story_id: int, url: str = "https://example.com/a", **kw: object
) -> dict[str, object]:
    values: dict[str, object] = {
        "source_id": "s",
        "source_name": "S",
        "url": url,
        "canonical_url": url,
        "guid": None,
        "title": "t",
        "original_title": "t",
        "text": "正文",
        "language": "zh-Hans",
        "text_hash": "h" + url[-1],
        "published": NOW,
        "first_seen": NOW,
        "relevant": True,
        "score": 9.0,
        "province": "CN-SC",
        "category": "campaign_event",
        "evidence": [],
        "summary": "",
        "minhash": [1, 2, 3],
        "concepts": ["quality_month"],
        "doc_numbers": [],
        "story_id": story_id,
    }
    return values | kw


def test_migrate_is_idempotent_and_reports_its_revision(store: Store) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(
        Config(str(Path(__file__).parent.parent / "storage" / "alembic.ini"))
    ).get_current_head()
    store.migrate()
    assert store.revision() == head and head is not None and head >= "0002"


def test_validators_round_trip(store: Store) -> None:
    with store.transaction() as tx:
        tx.save_validators("https://e/feed", '"abc"', "Wed, 10 Sep 2025 08:00:00 GMT", NOW)
    assert store.validators("https://e/feed") == ('"abc"', "Wed, 10 Sep 2025 08:00:00 GMT")
    with store.transaction() as tx:
        tx.save_validators("https://e/feed", '"def"', None, NOW)
    assert store.validators("https://e/feed") == ('"def"', None)
    assert store.validators("https://e/other") == (None, None)


def test_entries_seen_are_per_source(store: Store) -> None:
    with store.transaction() as tx:
        tx.mark_seen("a", [("k1", None), ("k2", "g2"), ("k1", None)], NOW)
    assert store.unseen("a", ["k1", "k2", "k3"]) == {"k3"}
    assert store.unseen("b", ["k1"]) == {"k1"}


def test_the_reads_of_many_polls_at_once(store: Store) -> None:
    """poll_states and new_entries answer for each poll of a batch what the
    one-poll reads answer: state and validators; new keys and moved GUIDs."""
    store.finish_polls(
        [
            PollEnd(
                "a",
                None,
                polled_at=NOW,
                entries_found=2,
                validators=("https://e/a", Cached('"e1"', None, "h1")),
                has_state=False,
                seen=(("k1", "g1"), ("k2", None)),
            ),
            PollEnd("b", None, polled_at=NOW, entries_found=0, has_state=False),
        ]
    )
    states = store.poll_states([("a", "https://e/a"), ("b", "https://e/b"), ("c", None)])
    (a, a_cached), (b, b_cached), (c, c_cached) = states
    assert a is not None and a.first_polled_at == NOW and a.entries_last_poll == 2
    assert a_cached == Cached('"e1"', None, "h1") == store.cached("https://e/a")
    assert b is not None and b_cached == Cached() and c is None and c_cached == Cached()
    assert store.unseen("a", ["k1", "k2", "k3"]) == {"k3"}
    # k3 is new to a; k9 is new to a under the GUID g1 a listed as k1 (a moved page);
    # b listed nothing, and a's keys are not b's.
    found = store.new_entries(
        [("a", [("k1", "g1"), ("k3", None), ("k9", "g1")]), ("b", [("k1", "g1")])]
    )
    assert found == [({"k3", "k9"}, {"g1"}), ({"k1"}, set())]
    # A second write of the same seen entries and new validators: no duplicate, updated.
    store.finish_polls(
        [
            PollEnd(
                "a",
                None,
                polled_at=NOW + timedelta(minutes=5),
                validators=("https://e/a", Cached('"e2"', "lm", None)),
                seen=(("k1", "g1"), ("k3", None)),
            )
        ]
    )
    assert store.cached("https://e/a") == Cached('"e2"', "lm", None)
    assert store.unseen("a", ["k1", "k2", "k3"]) == set()
    state = store.source_state("a")
    assert state is not None and state.first_polled_at == NOW


def test_many_rows_at_once_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    """execute_many (the driver's executemany, values converted once) writes what
    conn.execute writes: times in any zone (the same instant in two zones, each
    converted for itself), JSON, NULLs; a statement binding a default it is not
    given falls back to SQLAlchemy."""
    from sqlalchemy import select

    from storage.poll import execute_many
    from storage.schema import entries, fetch_log, source_state

    shanghai = timezone(timedelta(hours=8))
    times = [NOW, NOW.astimezone(shanghai), NOW + timedelta(seconds=1), NOW]
    names = ("source_id", "key", "guid", "first_seen")
    rows = [(f"s{i}", f"k{i}", None if i % 2 else f"g{i}", at) for i, at in enumerate(times)]
    with store.transaction() as tx:
        execute_many(tx.conn, "test seen", entries.insert, names, rows)
        tx.conn.execute(
            entries.insert(), [dict(zip(names, ("o" + r[0], *r[1:]), strict=True)) for r in rows]
        )
        # consecutive_failures has a default: not bound by the rows, SQLAlchemy's then
        state_names = ("source_id", "first_polled_at", "health_flags")
        execute_many(
            tx.conn, "test state", source_state.insert, state_names, [("a", NOW, ["stale"])]
        )
        log_names = ("source_id", "started_at", "status", "seconds")
        execute_many(tx.conn, "test log", fetch_log.insert, log_names, [("a", NOW, "ok", 0.5)] * 2)
    with store.read() as conn:
        stored = {
            row.source_id: (row.key, row.guid, row.first_seen)
            for row in conn.execute(select(entries))
        }
        state = conn.execute(select(source_state)).one()
        lines = conn.execute(select(fetch_log)).all()
    for source_id, key, guid, _at in rows:
        assert stored[source_id] == stored["o" + source_id]
        assert stored[source_id][:2] == (key, guid)
    assert state.consecutive_failures == 0 and state.health_flags == ["stale"]
    assert [(line.status, line.entries) for line in lines] == [("ok", 0), ("ok", 0)]


def test_source_state_counts_failures_and_resets_on_success(store: Store) -> None:
    store.record_failure("a", "HTTP 500", NOW)
    store.record_failure("a", "timed out", NOW + timedelta(minutes=1))
    state = store.source_state("a")
    assert state is not None
    assert state.consecutive_failures == 2 and state.last_error == "timed out"
    assert state.first_polled_at is None  # failures do not end the first-poll backlog rule
    with store.transaction() as tx:
        tx.source_polled("a", NOW + timedelta(minutes=2), 12)
    state = store.source_state("a")
    assert state is not None
    assert state.consecutive_failures == 0 and state.entries_last_poll == 12
    assert state.last_success_at == NOW + timedelta(minutes=2)
    # The first success ends the first-poll backlog rule, even after failures made the row.
    assert state.first_polled_at == NOW + timedelta(minutes=2)
    with store.transaction() as tx:
        tx.source_polled("a", NOW + timedelta(minutes=3), 12)
    state = store.source_state("a")
    assert state is not None and state.first_polled_at == NOW + timedelta(minutes=2)


def test_a_group_committed_success_after_failures_ends_the_first_poll(store: Store) -> None:
    """A source whose first polls failed has a state row without first_polled_at;
    its first success through the group commit sets it (else every later poll
    would be read as a first one, and all but the backlog marked seen unread)."""
    store.record_failure("a", "HTTP 500", NOW)
    end = PollEnd("a", None, polled_at=NOW + timedelta(minutes=1), entries_found=3)
    store.finish_polls([end])
    state = store.source_state("a")
    assert state is not None and state.consecutive_failures == 0
    assert state.first_polled_at == NOW + timedelta(minutes=1)
    store.finish_polls([PollEnd("a", None, polled_at=NOW + timedelta(minutes=2))])
    state = store.source_state("a")
    assert state is not None and state.first_polled_at == NOW + timedelta(minutes=1)


def test_a_poll_whose_health_is_unchanged_writes_only_its_status(store: Store) -> None:
    """A poll that learned nothing new about its source's health (an unchanged
    list of a healthy source) writes its status, time and log line, not the same
    health columns again; the row then reads as the health it holds, as a poll
    (monitor/pipeline.py health_of) compares it."""
    health = Health(
        failing_since=NOW - timedelta(hours=3),
        backoff_until=NOW + timedelta(minutes=30),
        cadence=5400.5,
        usual_entries=9.5,
        newest=NOW - timedelta(days=2, microseconds=7),
        flags=frozenset({"stale", "selectors"}),
        note="no new entry for 2 days",
        changed_at=NOW - timedelta(hours=1),
    )
    record = HealthRecord(
        status="ok",
        elapsed=0.25,
        failing_since=health.failing_since,
        backoff_until=health.backoff_until,
        cadence_seconds=health.cadence,
        usual_entries=health.usual_entries,
        newest_entry_at=health.newest,
        flags=health.flags,
        note=health.note,
        changed_at=health.changed_at,
    )
    store.finish_polls([PollEnd("a", record, polled_at=NOW, has_state=False)])
    state = store.source_state("a")
    assert state is not None and health_of(state) == health
    later = NOW + timedelta(minutes=30)
    quiet = HealthRecord(status="not_modified", elapsed=0.5)  # what it carries is not written
    store.finish_polls([PollEnd("a", quiet, polled_at=later, health_unchanged=True)])
    state = store.source_state("a")
    assert state is not None and health_of(state) == health
    assert (state.last_status, state.last_elapsed) == ("not_modified", 0.5)
    assert state.last_polled_at == state.last_success_at == later
    assert state.first_polled_at == NOW and state.consecutive_failures == 0


def test_one_post_per_story_and_channel(store: Store) -> None:
    with store.transaction() as tx:
        story_id = tx.insert_story(story_values())
        assert tx.insert_article(article_values(story_id)) is not None
        assert tx.insert_article(article_values(story_id)) is None  # same canonical URL
        tx.enqueue(story_id, "main", NOW)
        tx.enqueue(story_id, "main", NOW)
    rows = store.due_outbox(NOW)
    assert [(r.story_id, r.channel_id, r.kind) for r in rows] == [(story_id, "main", "post")]


def test_outbox_lifecycle(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.insert_story(story_values())
        second = tx.insert_story(story_values(title="second"))
        tx.enqueue(first, "main", NOW)
        tx.enqueue(second, "main", NOW)
        tx.enqueue(first, "other", NOW)
    one, two, three = store.due_outbox(NOW)
    assert (one.channel_id, two.channel_id, three.channel_id) == ("main", "main", "other")
    store.defer(one.id, "429", NOW + timedelta(seconds=30))
    # the deferred post holds back the later post of its channel, not other channels
    assert [r.id for r in store.due_outbox(NOW)] == [three.id]
    store.mark_failed(three.id, "Bad Request: chat not found", NOW)
    assert store.due_outbox(NOW) == []
    assert store.next_due(NOW) == NOW + timedelta(seconds=30)
    first_again, second_again = store.due_outbox(NOW + timedelta(seconds=31))
    assert (first_again.id, first_again.attempts) == (one.id, 1)
    assert second_again.id == two.id
    store.mark_sent(one.id, "42", NOW)
    assert store.counts()["outbox_sent"] == 1 and store.counts()["outbox_failed"] == 1


def test_edits_wait_for_their_post_and_carry_its_message_id(store: Store) -> None:
    with store.transaction() as tx:
        story_id = tx.insert_story(story_values())
        tx.insert_article(article_values(story_id))
        tx.enqueue(story_id, "main", NOW)
        tx.insert_article(
            article_values(
                story_id,
                "https://other.example/b",
                match_level="event",
                source_name="Other",
                language="en",
            )
        )
        assert tx.enqueue_edits(story_id, NOW) == 1
    [post] = store.due_outbox(NOW)  # the edit waits: its post is not sent yet
    assert post.kind == "post"
    store.mark_sent(post.id, "7", NOW)
    [edit] = store.due_outbox(NOW)
    assert (edit.kind, edit.message_id) == ("edit", "7")
    story = store.story(story_id)
    assert story is not None
    assert [(m.source_name, m.language) for m in story.also] == [("Other", "en")]


def test_fingerprints_feed_the_story_index(store: Store) -> None:
    with store.transaction() as tx:
        story_id = tx.insert_story(story_values())
        first = tx.insert_article(article_values(story_id))
        second = tx.insert_article(article_values(story_id, "https://example.com/b"))
    assert first is not None and second is not None
    rows = store.fingerprints(since=NOW - timedelta(days=1))
    assert [r.article_id for r in rows] == [first, second]
    assert store.fingerprints(since=NOW + timedelta(days=1)) == []
    [newer] = store.fingerprints(after_id=first)
    assert newer.article_id == second and newer.story_id == story_id
    assert newer.fingerprint.minhash == (1, 2, 3)
    assert newer.fingerprint.concepts == frozenset({"quality_month"})
    assert (newer.province, newer.when) == ("CN-SC", NOW)


def test_the_index_reaches_less_far_back_for_stories_not_relevant(store: Store) -> None:
    """``irrelevant_since`` drops the older articles of stories that are not
    relevant (never posted), whatever each article's own verdict; the articles
    of relevant stories go back to ``since``."""
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=5)
    ids: dict[str, int] = {}
    stories: dict[str, int] = {}
    with store.transaction() as tx:
        for name, relevant, when in [
            ("old relevant", True, old),
            ("old irrelevant", False, old),
            ("recent irrelevant", False, recent),
        ]:
            story_id = tx.insert_story(story_values(relevant=relevant, first_seen=when))
            url = f"https://example.com/{len(ids)}"
            article_id = tx.insert_article(
                article_values(
                    story_id, url, relevant=False, first_seen=when, minhash=list(range(64))
                )
            )
            assert article_id is not None
            ids[name], stories[name] = article_id, story_id
    since = NOW - timedelta(days=180)
    every = [r.article_id for r in store.fingerprints(since=since)]
    assert every == sorted(ids.values())
    kept = store.fingerprints(since=since, irrelevant_since=NOW - timedelta(days=30))
    assert [r.article_id for r in kept] == [ids["old relevant"], ids["recent irrelevant"]]

    from monitor.pipeline import load_index

    index = load_index(store, since, irrelevant_since=NOW - timedelta(days=30))
    assert index.story_ids() == [stories["old relevant"], stories["recent irrelevant"]]


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    def two_stories_one_bad() -> None:
        with store.transaction() as tx:
            tx.insert_story(story_values())
            tx.insert_story(story_values(title=None))  # NOT NULL violated

    with pytest.raises(StoreError):
        two_stories_one_bad()
    assert store.counts()["stories"] == 0


def test_unreachable_database_is_a_store_error() -> None:
    store = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(StoreError, match=r"127\.0\.0\.1"):
        store.migrate()


def test_new_entries_of_long_lists(store: Store) -> None:
    """Lists longer than a statement's values (poll.CHUNK), many sources in a batch,
    a source twice: each list's new keys and moved GUIDs as the one-poll reads say."""
    from storage.poll import CHUNK

    seen_a = tuple((f"k{i}", f"g{i}" if i % 3 else None) for i in range(0, CHUNK + 300, 2))
    store.finish_polls(
        [
            PollEnd("a", None, polled_at=NOW, has_state=False, seen=seen_a),
            PollEnd("b", None, polled_at=NOW, has_state=False, seen=(("k1", "g1"),)),
        ]
    )
    # a's odd keys are new; some of them carry the GUID of an even key (moved pages)
    list_a = [(f"k{i}", f"g{i - 1}" if i % 5 == 0 else None) for i in range(CHUNK + 300)]
    lists = [("a", list_a), ("b", [("k1", "g1"), ("k2", "g4")]), ("c", [("k1", "g1")])]
    lists += [(f"s{n}", [(f"k{n}", f"g{n}")]) for n in range(200)] + [("a", list_a[:10])]
    found = store.new_entries(lists)
    assert len(found) == len(lists)
    for (source_id, pairs), (new, moved) in zip(lists, found, strict=True):
        assert new == store.unseen(source_id, [k for k, _ in pairs])
        listed = {g for _, g in (seen_a if source_id == "a" else ()) if g}
        if source_id == "b":
            listed = {"g1"}
        assert moved == {g for k, g in pairs if g and k in new and g in listed}
    assert found[0][1] and found[1] == ({"k2"}, set())
