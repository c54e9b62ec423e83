"""Digests: the layout (grouped by province with counts, split within Telegram's
limit), mode: digest channels on their cron schedule, and `quality-monitor digest`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.model import Story
from notifiers.deliver import Deliverer
from notifiers.digest import CHINA, digest_heading
from notifiers.outlets import Outlets, build_outlets
from notifiers.render import (
    digest_groups,
    render_digest_plain,
    render_digest_telegram,
    telegram_length,
)
from storage.chats import ChatStore
from storage.runner import DbRunner
from storage.store import Store, utcnow
from tests.servers.botapi import MAX_MESSAGE_UNITS, BotApiServer, parse_html
from tests.stories import add_stories, config, ids_in, outbox_rows, settings


def story(i: int, province: str | None, **changes: Any) -> Story:
    fields: dict[str, Any] = {
        "id": i,
        "title": f"第{i}条 质量强省 <推进> & “会议”",
        "url": f"https://example.gov.cn/{i}.html",
        "summary": "摘要。",
        "province": province,
        "category": "meeting",
        "language": "zh-Hans",
        "source_name": "测试站",
        "published": datetime(2025, 9, 11, 1, 0, tzinfo=UTC),
        "first_seen": datetime(2025, 9, 11, 1, 0, tzinfo=UTC),
    }
    return Story(**(fields | changes))


def test_groups_by_province_national_first_unknown_last() -> None:
    stories = [
        story(1, "CN-GD"),
        story(2, "CN-SC"),
        story(3, None),
        story(4, "CN-SC"),
        story(5, "CN"),
        story(6, "CN-GD"),
        story(7, "CN-SC"),
    ]
    groups = [(label, [s.id for s in members]) for label, members in digest_groups(stories)]
    assert groups == [
        ("全国", [5]),
        ("四川", [2, 4, 7]),
        ("广东", [1, 6]),
        ("其他", [3]),
    ]
    (part,) = render_digest_telegram(stories, "质量强省动态摘要 · 7 条")
    text, _ = parse_html(part.text)
    assert text.startswith(
        "质量强省动态摘要 · 7 条\n\n#全国 1 条\n• 第5条 质量强省 <推进> & “会议”"
    )
    assert "\n\n#四川 3 条\n" in text and "\n\n#广东 2 条\n" in text
    assert part.story_ids == (5, 2, 4, 7, 1, 6, 3)


def test_a_long_digest_is_split_within_the_limit_and_accepted(botapi: BotApiServer) -> None:
    import httpx

    stories = [
        story(i, ("CN-SC", "CN-GD", "CN-ZJ")[i % 3], title=f"第{i}条 " + "很长的标题🚀" * 30)
        for i in range(300)
    ]
    parts = render_digest_telegram(stories, "质量强省动态摘要 · 300 条")
    assert len(parts) > 5
    assert all(telegram_length(p.text) <= MAX_MESSAGE_UNITS for p in parts)
    assert sorted(i for p in parts for i in p.story_ids) == list(range(300))
    for number, part in enumerate(parts, 1):
        assert part.text.startswith(f"<b>质量强省动态摘要 · 300 条 ({number}/{len(parts)})</b>")
    # A group split over two messages is marked as continued.
    assert any("条（续）" in p.text for p in parts[1:])
    with httpx.Client() as http:
        for part in parts:
            answer = http.post(
                f"{botapi.url}/bot{botapi.token}/sendMessage",
                data={"chat_id": "@quality_test", "text": part.text, "parse_mode": "HTML"},
            ).json()
            assert answer["ok"], answer


def test_plain_digest_and_heading() -> None:
    (part,) = render_digest_plain([story(1, "CN-SC")], "摘要")
    assert part.text == (
        "摘要\n\n#四川 1 条\n• 第1条 质量强省 <推进> & “会议” · 会议 · 测试站 · 09-11\n"
        "  https://example.gov.cn/1.html"
    )
    until = datetime(2025, 9, 11, 1, 0, tzinfo=UTC)  # 09:00 in China
    seen = [until - timedelta(hours=20), until - timedelta(hours=2)]
    assert (
        digest_heading("scheduled", seen, until)
        == "质量强省动态摘要 · 09-10 13:00 – 09-11 09:00 北京时间 · 2 条"
    )
    assert (
        digest_heading("backlog", seen[1:], until)
        == "积压消息摘要 · 09-11 07:00–09:00 北京时间 · 1 条"
    )


@pytest.fixture
async def digest_channel(store: Store, botapi: BotApiServer) -> AsyncIterator[Outlets]:
    db = DbRunner()
    outlets = build_outlets(
        config(
            '  - {id: daily, kind: telegram, chat: "@quality_test", mode: digest, '
            'schedule: "30 8 * * 1-5", pace: 0s}\n'
            '  - {id: main, kind: telegram, chat: "-1001", pace: 0s}'
        ),
        settings(store.url, token=botapi.token, api_url=botapi.url),
        store=store,
        db=db,
        owner="test",
        lease=60,
        bot=False,
    )
    outlets.db = db  # type: ignore[attr-defined]
    yield outlets
    await outlets.aclose()
    db.close()


async def test_a_digest_channel_gets_one_digest_on_its_schedule(
    store: Store, botapi: BotApiServer, digest_channel: Outlets
) -> None:
    db = digest_channel.db  # type: ignore[attr-defined]
    (job,) = digest_channel.digests
    assert job.channel_id == "daily"
    # The schedule is China time: 08:30 on working days.
    friday_evening = datetime(2025, 9, 12, 12, 0, tzinfo=UTC)
    fire = job.trigger().get_next_fire_time(None, friday_evening)  # type: ignore[attr-defined]
    assert fire.astimezone(CHINA).strftime("%a %H:%M") == "Mon 08:30"

    add_stories(store, 7, ["daily", "main"], when=utcnow())
    deliverer = Deliverer(
        store,
        db,
        digest_channel.channels,
        configured=digest_channel.channels.known,
        hooks=digest_channel.hooks,
    )
    report = await deliverer.drain()
    assert report.sent == 7  # the instant channel, one by one
    assert all(p["chat"] == -1001 for p in botapi.sent)  # nothing to the digest channel yet

    first = await job.run()
    assert (first.stories, first.messages) == (7, 1)
    digest = botapi.sent[-1]
    assert digest["chat_id"] == "@quality_test"
    assert digest["text"].startswith("质量强省动态摘要 · ")
    assert "#四川 2 条" in digest["text"] and "#全国 1 条" in digest["text"]
    assert sorted(ids_in([digest["text"]])) == list(range(7))
    assert {r["status"] for r in outbox_rows(store, "daily")} == {"sent"}

    # A later outlet joining a story does not edit the digest; nothing new, nothing sent.
    story_id = outbox_rows(store, "daily")[0]["story_id"]
    with store.transaction() as tx:
        tx.enqueue_edits(story_id, utcnow())
    sent_before = len(botapi.sent)
    again = await job.run()
    assert again.stories == 0 and len(botapi.sent) == sent_before
    daily = outbox_rows(store, "daily")
    assert [r["status"] for r in daily if r["kind"] == "edit"] == ["skipped"]
    assert botapi.edits == [] or all(e["chat"] == -1001 for e in botapi.edits)

    # Paused: the digest waits.
    ChatStore(store).pause("daily", "test", utcnow())
    await digest_channel.channels.refresh()
    add_stories(store, 2, ["daily"], start=10, when=utcnow())
    assert (await job.run()).stories == 0
    ChatStore(store).resume("daily")
    await digest_channel.channels.refresh()
    assert (await job.run()).stories == 2


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        """\
version: 1
channels:
  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}
  - {id: sichuan, kind: console, filter: {provinces: [CN-SC]}}
  - {id: disabled, kind: console, enabled: false}
""",
        encoding="utf-8",
    )
    return path


def test_the_digest_command(
    tmp_path: Path,
    store: Store,
    botapi: BotApiServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", store.url)
    path = _write(tmp_path)
    now = utcnow()
    add_stories(store, 6, when=now - timedelta(hours=2))
    add_stories(store, 3, start=10, when=now - timedelta(days=3))  # too old for 24h
    add_stories(store, 1, start=20, when=now - timedelta(hours=1), relevant=False)

    capsys.readouterr()
    assert main(["--config", str(path), "digest", "--since", "24h", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert botapi.sent == []  # a dry run sends nothing
    blocks = re.split(r"^== ", out, flags=re.M)[1:]
    assert blocks[0].startswith("channel main (telegram): 6 stories ==")
    assert sorted(ids_in([blocks[0]])) == [0, 1, 2, 3, 4, 5]
    assert blocks[1].startswith("channel sichuan (console): 2 stories ==")
    assert "#四川 2 条" in blocks[1] and "#广东" not in blocks[1]

    assert main(["--config", str(path), "digest", "--since", "7d", "--channel", "main"]) == 0
    assert "channel main: digest of 9 stories sent in 1 messages" in capsys.readouterr().out
    (sent,) = botapi.sent
    assert sorted(ids_in([sent["text"]])) == [0, 1, 2, 3, 4, 5, 10, 11, 12]
    assert outbox_rows(store) == []  # the outbox is not touched

    assert main(["--config", str(path), "digest", "--channel", "nowhere"]) == 2
    assert "no enabled channel 'nowhere'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(path), "digest", "--since", "soon"])
    assert caught.value.code == 2

    botapi.fail_next(1, status=400, description="Bad Request: chat not found")
    assert main(["--config", str(path), "digest", "--channel", "main"]) == 1
    assert (
        "digest not sent: telegram sendMessage to @quality_test: Bad Request: chat not found"
        in (capsys.readouterr().err)
    )


async def test_a_digest_lists_each_story_in_the_channels_language(
    store: Store, botapi: BotApiServer, digest_channel: Outlets
) -> None:
    from tests.test_store import article_values

    (job,) = digest_channel.digests
    [story_id] = add_stories(
        store, 1, ["daily"], when=utcnow(), title="Province holds quality meeting", language="en"
    )
    with store.transaction() as tx:
        tx.insert_article(
            article_values(
                story_id,
                url="https://www.example.gov.cn/zh.html",
                title="省里召开质量强省推进会",
                language="zh-Hans",
                match_level="event",
            )
        )
    report = await job.run()
    assert report.stories == 1
    text = botapi.sent[-1]["text"]
    assert "省里召开质量强省推进会" in text and "Province holds quality meeting" not in text
