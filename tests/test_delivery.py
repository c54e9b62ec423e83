"""The outbox delivered to the Bot API test server through the real wiring
(notifiers/outlets.py): bursts under flood control, the bot-wide rate, backlog
digests, Telegram's refusals, hostile and huge texts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from notifiers.deliver import Deliverer
from notifiers.outlets import Outlets, build_outlets
from notifiers.render import telegram_length
from storage.runner import DbRunner
from storage.store import Store, utcnow
from tests.servers.botapi import MAX_MESSAGE_UNITS, BotApiServer, parse_html
from tests.servers.newssite import NewsSite
from tests.stories import (
    add_stories,
    config,
    ids_in,
    make_all_due,
    outbox_rows,
    settings,
)
from tests.test_e2e import write_config
from tests.test_store import article_values


class Wired:
    """A store, the outlets built from a configuration, and a deliverer over them."""

    def __init__(
        self, store: Store, outlets: Outlets, db: DbRunner, languages: dict[str, str]
    ) -> None:
        self.store = store
        self.outlets = outlets
        self.db = db
        self.deliverer = Deliverer(
            store,
            db,
            outlets.channels,
            configured=outlets.channels.known,
            owner="test",
            lease=60,
            hooks=outlets.hooks,
            languages=languages,
        )


@pytest.fixture
async def wire(store: Store, botapi: BotApiServer) -> AsyncIterator[Any]:
    made: list[Wired] = []

    def build(channels: str, extra: str = "") -> Wired:
        db = DbRunner()
        configured = config(channels, extra=extra)
        outlets = build_outlets(
            configured,
            settings(store.url, token=botapi.token, api_url=botapi.url),
            store=store,
            db=db,
            owner="test",
            lease=60,
            bot=False,
        )
        made.append(Wired(store, outlets, db, {c.id: c.language for c in configured.channels}))
        return made[-1]

    yield build
    for wired in made:
        await wired.outlets.aclose()
        wired.db.close()


@pytest.mark.slow
async def test_a_burst_of_200_after_an_outage_arrives_in_order_once_without_flood(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    # Telegram's limits, the per-chat window shrunk 120 times (20 per 0.5 s): the
    # channel's pace must keep 25 ms between posts, and the bot-wide limit 30 a second.
    wired = wire(
        '  - {id: main, kind: telegram, chat: "@quality_test", pace: 30ms, backlog_digest: 0}'
    )
    add_stories(store, 200, ["main"])
    # The long outage: every call fails until Telegram is back.
    botapi.fail_next(1000, status=502)
    report = await wired.deliverer.drain()
    assert (report.sent, report.deferred) == (0, 1)  # the first post waits, and holds the rest
    botapi.reset_faults()
    botapi.flood_limit(per_chat_per_minute=20, per_second=30, chat_window=0.5)
    make_all_due(store)
    started = time.monotonic()
    report = await wired.deliverer.drain()
    elapsed = time.monotonic() - started

    assert report.sent == 200 and report.failed == 0 and report.deferred == 0
    assert botapi.flood_rejections == 0  # flood control never tripped
    assert botapi.calls.count("sendMessage") == 1 + 200  # the failed try, then each once
    posts = botapi.sent
    assert ids_in(p["text"].split("\n")[1] for p in posts) == list(range(200))
    assert [p["message_id"] for p in posts] == list(range(1, 201))
    rows = outbox_rows(store, "main")
    assert {r["status"] for r in rows} == {"sent"}
    assert [int(r["message_id"]) for r in rows] == list(range(1, 201))
    # 200 posts at most 30 per 1.1 s take at least 6.6 s: the bot-wide limit held.
    assert elapsed >= 6.0


@pytest.mark.slow
async def test_the_bot_wide_rate_holds_across_chats(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    chats = ["@quality_test", "-1001", "@second", "@third"]
    for chat in chats[2:]:
        botapi.add_chat(chat)
    yaml = "\n".join(
        f'  - {{id: c{i}, kind: telegram, chat: "{chat}", pace: 0s, backlog_digest: 0}}'
        for i, chat in enumerate(chats)
    )
    wired = wire(yaml)
    add_stories(store, 25, [f"c{i}" for i in range(len(chats))])
    botapi.flood_limit(per_chat_per_minute=None, per_second=30)
    report = await wired.deliverer.drain()
    assert report.sent == 100 and report.deferred == 0
    assert botapi.flood_rejections == 0
    times = sorted(p["time"] for p in botapi.sent)
    # No one-second window holds more than 30 posts.
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 30


async def test_a_backlog_past_its_size_goes_out_as_one_digest(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    wired = wire('  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}')  # default 30
    add_stories(store, 200, ["main"])
    botapi.flood_limit(per_chat_per_minute=20, per_second=30, chat_window=0.5)
    report = await wired.deliverer.drain()
    posts = botapi.sent
    assert botapi.flood_rejections == 0
    assert 2 <= len(posts) <= 12  # a few messages, not 200
    assert report.sent == 200
    assert all(telegram_length(p["html"]) <= MAX_MESSAGE_UNITS for p in posts)
    listed = ids_in(p["text"] for p in posts)
    assert sorted(listed) == list(range(200))  # every story once
    assert posts[0]["text"].startswith("积压消息摘要")
    assert f"(1/{len(posts)})" in posts[0]["text"].split("\n")[0]
    assert "#四川" in posts[0]["text"] or "#全国" in posts[0]["text"]
    assert {r["status"] for r in outbox_rows(store, "main")} == {"sent"}
    assert all(r["message_id"] is None for r in outbox_rows(store, "main"))  # never edited

    # Below the size, posts go one by one again.
    add_stories(store, 3, ["main"], start=500)
    report = await wired.deliverer.drain()
    assert report.sent == 3
    assert ids_in(p["text"].split("\n")[1] for p in botapi.sent[len(posts) :]) == [500, 501, 502]


async def test_a_digest_message_refused_fails_only_its_stories(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    wired = wire(
        '  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s, backlog_digest: 5}'
    )
    add_stories(store, 150, ["main"])
    botapi.fail_next(1, status=429, retry_after=1, method="sendMessage")
    first = await wired.deliverer.drain()
    assert first.deferred > 0 and botapi.sent == []
    make_all_due(store)
    botapi.fail_next(
        1, status=400, description="Bad Request: message is too long", method="sendMessage"
    )
    await wired.deliverer.drain()
    rows = outbox_rows(store, "main")
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("message is too long" in r["last_error"] for r in failed)
    assert {r["status"] for r in rows} == {"sent", "failed"}
    listed = ids_in(p["text"] for p in botapi.sent)
    assert len(listed) + len(failed) == 150 and len(set(listed)) == len(listed)


@pytest.mark.parametrize(
    ("status", "description", "outcome"),
    [
        (429, None, "pending"),
        (500, None, "pending"),
        (502, None, "pending"),
        (400, "Bad Request: can't parse entities: Unsupported start tag", "failed"),
        (400, "Bad Request: message is too long", "failed"),
        # the channel, not the message: kept, in order, and the channel reported
        (400, "Bad Request: chat not found", "held"),
        (400, "Bad Request: need administrator rights in the channel chat", "held"),
        (403, "Forbidden: bot is not a member of the channel chat", "held"),
        (403, "Forbidden: bot was blocked by the user", "held"),
        (401, "Unauthorized", "held"),
    ],
)
async def test_telegram_refusals_through_the_outbox(
    store: Store,
    botapi: BotApiServer,
    wire: Any,
    status: int,
    description: str | None,
    outcome: str,
) -> None:
    wired = wire('  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}')
    add_stories(store, 3, ["main"])
    botapi.fail_next(1, status=status, retry_after=1, description=description)
    report = await wired.deliverer.drain()
    rows = outbox_rows(store, "main")
    assert rows[0]["status"] == ("pending" if outcome == "held" else outcome)
    if outcome == "failed":
        # Telegram's own words are kept, and the others went out.
        assert description is not None and description in rows[0]["last_error"]
        assert report.sent == 2 and [r["status"] for r in rows[1:]] == ["sent", "sent"]
    elif outcome == "held":
        # Nothing given up, nothing sent past it; the channel is named as failing.
        assert report.sent == 0 and report.failed == 0
        assert [r["status"] for r in rows] == ["pending"] * 3
        assert description is not None and description in report.failing["main"]
        assert store.held_channels()["main"][:2] == (3, rows[0]["last_error"].split(": ", 1)[1])
        # The row stays due (a rerun after the fix sends at once), but this
        # process leaves the channel alone for a while: no second try now.
        assert botapi.calls.count("sendMessage") == 1
        await wired.deliverer.drain()
        assert botapi.calls.count("sendMessage") == 1
        fresh = wire('  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}')
        report = await fresh.deliverer.drain()
        assert report.sent == 3 and not report.failing
        assert [r["status"] for r in outbox_rows(store, "main")] == ["sent"] * 3
        assert ids_in(p["text"].split("\n")[1] for p in botapi.sent) == [0, 1, 2]
        assert store.held_channels() == {}
    else:
        # Deferred: the channel's later posts wait behind it, to keep the order.
        assert report.deferred == 1 and report.sent == 0
        assert [r["status"] for r in rows] == ["pending"] * 3
        make_all_due(store)
        await wired.deliverer.drain()
        assert [r["status"] for r in outbox_rows(store, "main")] == ["sent"] * 3
        assert ids_in(p["text"].split("\n")[1] for p in botapi.sent) == [0, 1, 2]


async def test_each_channel_gets_the_story_in_its_own_language(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    """The English report arrived first and leads the story; the Chinese channel
    still gets the Chinese report as headline and summary, the English one the lead."""
    botapi.add_chat("@english")
    wired = wire(
        '  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}\n'
        '  - {id: english, kind: telegram, chat: "@english", pace: 0s, language: en}'
    )
    [story_id] = add_stories(
        store,
        1,
        ["main", "english"],
        title="Province issues quality plan",
        summary="The province issued a plan on quality.",
        language="en",
        source_name="Daily (English)",
        url="https://en.example.gov.cn/a.html",
        score=5.0,
    )
    with store.transaction() as tx:
        for n, (language, score) in enumerate([("zh-Hant", 9.0), ("zh-Hans", 4.0)]):
            tx.insert_article(
                article_values(
                    story_id,
                    url=f"https://www.example.gov.cn/{n}.html",
                    title=f"省里印发质量强省方案{n}",
                    summary=f"省里印发了质量强省方案{n}。",
                    source_name=f"日报{n}",
                    language=language,
                    score=score,
                    match_level="event",
                )
            )
    report = await wired.deliverer.drain()
    assert report.sent == 2
    by_chat = {p["chat_id"]: p["text"] for p in botapi.sent}
    chinese, english = by_chat["@quality_test"], by_chat["@english"]
    # zh-Hans exactly beats the higher-scored traditional report
    assert chinese.split("\n")[1] == "省里印发质量强省方案1"
    assert "省里印发了质量强省方案1。" in chinese and "来源: 日报1" in chinese
    assert "Province issues quality plan" not in chinese
    assert "Daily (English) (en)" in chinese  # the lead is listed with the others
    assert english.split("\n")[1] == "Province issues quality plan"
    assert "The province issued a plan on quality." in english


HOSTILE = "A <b>bold</b> & \"quoted\" 'title' </a><script>x</script> &amp; &lt; 🇨🇳👩‍👩‍👧 ≥ ≤ → 质量"


async def test_hostile_titles_and_a_20000_character_article(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    wired = wire('  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}')
    sentence = "四川省召开质量强省建设推进会，部署重点任务<>&\"'🚀。"
    long_summary = (sentence * (20000 // len(sentence) + 1))[:20000]
    add_stories(store, 1, ["main"], title=HOSTILE * 3, summary=HOSTILE)
    add_stories(store, 1, ["main"], start=1, summary=long_summary, source_name=HOSTILE)
    report = await wired.deliverer.drain()
    assert report.sent == 2 and report.failed == 0
    first, second = botapi.sent
    assert HOSTILE in first["text"]  # shown as written, not as markup
    assert first["entities"][0]["type"] in ("bold", "text_link")
    assert len(second["html"]) > 4096  # the markup is longer than the limit …
    assert telegram_length(second["html"]) <= MAX_MESSAGE_UNITS  # … the text is not
    visible, _ = parse_html(second["html"])
    assert "…" in visible and visible.count("🚀") >= 10


@pytest.mark.slow
def test_a_20000_character_article_with_a_hostile_title_end_to_end(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
) -> None:
    paragraph = (
        "四川省市场监管局召开质量强省建设推进会，部署2025年质量提升重点任务，"
        "推动“天府名品”品牌建设 <重点> & “质量月” 🚀。"
    )
    body = "\n\n".join([paragraph] * (20000 // len(paragraph) + 1))[:20000]
    newssite.publish(
        {
            "id": "sc-long",
            "title": '四川 <b>质量强省</b> & "推进会" 🚀 <script>',
            "language": "zh-Hans",
            "encoding": "utf-8",  # the fixture's default, GBK, has no emoji
            "published": "2025-11-20",
            "listed_in": ["rss"],
            "body": body,
        }
    )
    config = write_config(tmp_path, newssite)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", sqlite_url)
    assert main(["--config", str(config), "run", "--once"]) == 0
    (post,) = [p for p in botapi.sent if "推进会" in p["text"].split("\n")[1]]
    # The page's own markup is gone from the title; the text's <, > and & are shown.
    assert post["text"].split("\n")[1] == '四川 质量强省 & "推进会" 🚀'
    assert "<重点> & “质量月” 🚀。" in post["text"]
    assert telegram_length(post["html"]) <= MAX_MESSAGE_UNITS
    store = Store(sqlite_url)
    try:
        assert store.counts().get("outbox_failed", 0) == 0
    finally:
        store.close()


async def test_a_backlog_for_a_channel_that_cannot_take_posts_waits_whole(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    """Past backlog_digest, the digest meets the same refusal: nothing is given up,
    the channel is not asked again at every drain, and after the fix it all goes."""
    channel = '  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s, backlog_digest: 5}'
    wired = wire(channel)
    add_stories(store, 12, ["main"])
    botapi.set_bot_status("@quality_test", "kicked")
    report = await wired.deliverer.drain()
    assert report.failed == 0 and "kicked" in report.failing["main"]
    assert {r["status"] for r in outbox_rows(store, "main")} == {"pending"}
    calls = len(botapi.calls)
    await wired.deliverer.drain()
    assert len(botapi.calls) == calls  # held back here for a while: no request
    botapi.set_bot_status("@quality_test", "administrator")
    fresh = wire(channel)
    await fresh.deliverer.drain()
    assert {r["status"] for r in outbox_rows(store, "main")} == {"sent"}
    assert sorted(ids_in(p["text"] for p in botapi.sent)) == list(range(12))  # each once


async def test_an_edit_to_a_channel_that_cannot_take_posts_waits_and_is_reported(
    store: Store, botapi: BotApiServer, wire: Any
) -> None:
    wired = wire('  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}')
    (story_id,) = add_stories(store, 1, ["main"])
    assert (await wired.deliverer.drain()).sent == 1
    with store.transaction() as tx:
        tx.enqueue_edits(story_id, utcnow())
    botapi.set_bot_status("@quality_test", "left")
    report = await wired.deliverer.drain()
    assert report.failed == 0 and "not a member" in report.failing["main"]
    assert [r["status"] for r in outbox_rows(store, "main")] == ["sent", "pending"]
    assert store.held_channels()["main"][0] == 1


async def test_a_failing_channel_is_logged_once_and_its_recovery_once(
    store: Store,
    botapi: BotApiServer,
    wire: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("notifiers.deliver.CHANNEL_RETRY", 0.0)  # try again at every drain
    wired = wire('  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}')
    add_stories(store, 3, ["main"])
    botapi.set_bot_status("@quality_test", "left")
    with caplog.at_level("INFO", logger="monitor.deliver"):
        for _ in range(3):
            await wired.deliverer.drain()
        assert botapi.calls.count("sendMessage") == 3  # tried each time, one post each
        botapi.set_bot_status("@quality_test", "administrator")
        assert (await wired.deliverer.drain()).sent == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot post" in m for m in messages) == 1
    assert sum("posting works again" in m for m in messages) == 1
    assert ids_in(p["text"].split("\n")[1] for p in botapi.sent) == [0, 1, 2]
