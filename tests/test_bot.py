"""The bot in private chats, driven by updates injected through getUpdates (and,
in webhook mode, POSTed as Telegram would), answering through the Bot API test
server; subscriptions delivered through the real outbox."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from notifiers.bot import BotService, parse_category, parse_province, parse_subscription
from notifiers.deliver import Deliverer
from notifiers.outlets import Outlets, build_outlets
from storage.chats import ANY, ChatStore
from storage.runner import DbRunner
from storage.store import Store, utcnow
from tests.servers.botapi import BotApiServer
from tests.stories import add_stories, config, ids_in, outbox_rows, settings

USER = 4242
OPERATOR = 777
SOURCES = """
sources:
  - {id: sc-amr, name: 四川省市场监督管理局, kind: rss, url: "http://127.0.0.1:9/sc.xml"}
  - {id: gd-amr, name: 广东省市场监督管理局, kind: rss, url: "http://127.0.0.1:9/gd.xml"}
  - {id: unused, name: 停用, kind: rss, url: "http://127.0.0.1:9/off.xml", enabled: false}
"""
CHANNELS = '  - {id: main, kind: telegram, chat: "@quality_test", pace: 0s}'


@dataclass
class Bot:
    api: BotApiServer
    store: Store
    outlets: Outlets
    service: BotService
    deliverer: Deliverer

    async def ask(self, text: str, *, user: int = USER, timeout: float = 10.0) -> dict[str, Any]:
        """Send ``text`` as ``user`` in a private chat; the bot's reply."""
        before = len(self.replies(user))
        self.api.push_message(text, user_id=user)
        return await self.next_reply(user, before, timeout)

    async def press(self, data: str, message_id: int, *, user: int = USER) -> dict[str, Any]:
        """Press an inline button of a message; the edited message."""
        before = len(self.api.edits)
        answers = len(self.api.callback_answers)
        self.api.push_callback(data, message_id=message_id, user_id=user)
        for _ in range(500):
            if len(self.api.edits) > before and len(self.api.callback_answers) > answers:
                return self.api.edits[-1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no edit after pressing {data!r}")

    def replies(self, user: int) -> list[dict[str, Any]]:
        return [m for m in self.api.sent if m["chat"] == user]

    async def next_reply(self, user: int, before: int, timeout: float) -> dict[str, Any]:
        for _ in range(int(timeout / 0.02)):
            found = self.replies(user)
            if len(found) > before:
                return found[before]
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not answer")


@pytest.fixture
async def bot(store: Store, botapi: BotApiServer) -> AsyncIterator[Bot]:
    db = DbRunner()
    outlets = build_outlets(
        config(
            CHANNELS,
            extra=SOURCES + f"bot: {{operators: [{OPERATOR}], page_size: 5, pace: 0s}}",
        ),
        settings(store.url, token=botapi.token, api_url=botapi.url),
        store=store,
        db=db,
        owner="test-replica",
        lease=60,
    )
    assert outlets.bot is not None
    outlets.bot.poll_timeout = 2
    deliverer = Deliverer(
        store,
        db,
        outlets.channels,
        configured=outlets.channels.known,
        owner="test-replica",
        hooks=outlets.hooks,
    )
    await outlets.bot.start()
    assert await outlets.bot.wait_running(10)
    yield Bot(botapi, store, outlets, outlets.bot, deliverer)
    await outlets.aclose()
    db.close()


def test_words_for_provinces_categories_and_subscriptions() -> None:
    for word in ("四川", "四川省", "川", "CN-SC", "cn-sc", "SC", "Sichuan", "四川"):
        assert parse_province(word) == "CN-SC", word
    assert parse_province("全国") == "CN" and parse_province("廣東") == "CN-GD"
    assert parse_province("火星") is None
    assert parse_category("政策文件") == "policy_document"
    assert parse_category("meeting") == "meeting" and parse_category("发布会") == "press_conference"
    wanted = parse_subscription(["四川，广东", "政策文件", "火星"])
    assert wanted.provinces == ("CN-SC", "CN-GD")
    assert wanted.categories == ("policy_document",)
    assert wanted.unknown == ("火星",)
    assert parse_subscription(["all"]).everything
    assert parse_subscription([]).provinces == (ANY,)


async def test_start_help_and_the_registered_commands(bot: Bot) -> None:
    reply = await bot.ask("/start")
    assert reply["text"].startswith("你好！质量强省动态")
    for command in ("/latest", "/search", "/subscribe", "/sources", "/status"):
        assert command in reply["text"]
    assert "/pause" not in reply["text"]  # operators only
    assert "/pause" in (await bot.ask("/help", user=OPERATOR))["text"]
    names = [c["command"] for c in bot.api.commands]
    assert names == ["latest", "search", "subscribe", "unsubscribe", "sources", "status", "help"]
    scoped = bot.api.scoped_commands[json.dumps({"chat_id": OPERATOR, "type": "chat"})]
    assert {"pause", "resume", "resend"} <= {c["command"] for c in scoped}
    assert "不认识这个命令" in (await bot.ask("/nonsense"))["text"]
    assert "/help" in (await bot.ask("你好"))["text"]


async def test_latest_is_paged_with_buttons(bot: Bot) -> None:
    add_stories(bot.store, 12)  # every fifth is Sichuan's
    add_stories(bot.store, 1, start=99, relevant=False)
    reply = await bot.ask("/latest")
    text = reply["text"]
    assert text.startswith("最新报道（1–5 / 12）")
    assert ids_in(text.split("\n")) == [11, 10, 9, 8, 7]  # newest first
    buttons = reply["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["1/3", "较早 ▶"]
    edited = await bot.press(buttons[1]["callback_data"], reply["message_id"])
    assert edited["text"].startswith("最新报道（6–10 / 12）")
    assert ids_in(edited["text"].split("\n")) == [6, 5, 4, 3, 2]
    assert [b["text"] for b in edited["reply_markup"]["inline_keyboard"][0]] == [
        "◀ 较新",
        "2/3",
        "较早 ▶",
    ]
    assert bot.api.callback_answers  # the spinner on the button stops

    sichuan = await bot.ask("/latest 四川")
    assert sichuan["text"].startswith("最新报道 · 四川（1–3 / 3）")
    assert ids_in(sichuan["text"].split("\n")) == [10, 5, 0]
    assert "reply_markup" not in sichuan or sichuan["reply_markup"] is None
    assert "不认识的省份" in (await bot.ask("/latest 火星"))["text"]


async def test_search(bot: Bot) -> None:
    add_stories(bot.store, 3)
    add_stories(bot.store, 1, start=50, title="第50条 浙江品字标认证 <新规> & 解读")
    reply = await bot.ask("/search 品字标")
    assert reply["text"].startswith("搜索：品字标（1–1 / 1）")
    assert "浙江品字标认证 <新规> & 解读" in reply["text"]
    assert "暂无报道" in (await bot.ask("/search 不存在的词"))["text"]
    # a query in traditional characters finds what its simplified form finds
    add_stories(bot.store, 1, start=60, title="第60条 四川质量强省推进会召开")
    simplified = (await bot.ask("/search 质量强省"))["text"]
    traditional = (await bot.ask("/search 質量強省"))["text"]
    assert "四川质量强省推进会召开" in simplified and "四川质量强省推进会召开" in traditional
    assert "（1–5 / 5）" in simplified and "（1–5 / 5）" in traditional  # the same stories
    assert "用法" in (await bot.ask("/search"))["text"]
    assert "太长" in (await bot.ask("/search " + "质量" * 20))["text"]


async def test_subscribers_get_matching_stories_in_their_chat(bot: Bot) -> None:
    add_stories(bot.store, 5)  # found before subscribing: not sent to the subscriber
    reply = await bot.ask("/subscribe 四川 政策文件")
    assert "已订阅：四川 · 政策文件" in reply["text"]
    assert "已经订阅过" in (await bot.ask("/subscribe 川 policy_document"))["text"]
    assert "已订阅：全部省份 · 会议" in (await bot.ask("/subscribe 会议", user=5555))["text"]
    listing = await bot.ask("/subscribe")
    assert "当前订阅" in listing["text"] and "四川 · 政策文件" in listing["text"]

    # New stories: 20 is Sichuan + policy_document; 21 Guangdong meeting; 25 Sichuan meeting.
    add_stories(bot.store, 6, start=20, when=utcnow())
    report = await bot.deliverer.drain()
    assert report.failed == 0
    to_user = [m for m in bot.api.sent if m["chat"] == USER and "会议部署" in m["text"]]
    to_other = [m for m in bot.api.sent if m["chat"] == 5555 and "会议部署" in m["text"]]
    assert ids_in(m["text"].split("\n")[1] for m in to_user) == [20]  # posts, as to a channel
    assert ids_in(m["text"].split("\n")[1] for m in to_other) == [21, 25]
    assert {r["status"] for r in outbox_rows(bot.store, f"chat:{USER}")} == {"sent"}

    # Once only, however often the outbox is drained.
    await bot.deliverer.drain()
    assert len([m for m in bot.api.sent if m["chat"] == USER and "会议部署" in m["text"]]) == 1

    # Unsubscribed: nothing more, and what was already queued is let go.
    add_stories(bot.store, 1, start=40, when=utcnow())  # Sichuan, policy document
    await bot.outlets.channels.refresh()  # queued to the subscriber …
    assert "已取消 1 项订阅" in (await bot.ask("/unsubscribe all"))["text"]
    await bot.deliverer.drain()  # … but not sent
    assert len([m for m in bot.api.sent if m["chat"] == USER and "会议部署" in m["text"]]) == 1
    assert outbox_rows(bot.store, f"chat:{USER}")[-1]["status"] == "skipped"


async def test_unsubscribe_buttons(bot: Bot) -> None:
    await bot.ask("/subscribe 四川")
    await bot.ask("/subscribe 广东 会议")
    listing = await bot.ask("/unsubscribe")
    rows = listing["reply_markup"]["inline_keyboard"]
    assert [r[0]["text"] for r in rows] == ["取消 四川 · 全部类别", "取消 广东 · 会议", "全部取消"]
    edited = await bot.press(rows[0][0]["callback_data"], listing["message_id"])
    assert "四川" not in edited["text"] and "广东 · 会议" in edited["text"]
    subs = ChatStore(bot.store).subscriptions(USER)
    assert [(s.province, s.category) for s in subs] == [("CN-GD", "meeting")]
    assert "没有这项订阅" in (await bot.ask("/unsubscribe 浙江"))["text"]


async def test_a_chat_that_blocked_the_bot_is_unsubscribed(bot: Bot) -> None:
    await bot.ask("/subscribe all")
    add_stories(bot.store, 2, start=40, when=utcnow())  # queued to the subscriber only
    bot.api.fail_next(
        1, status=403, description="Forbidden: bot was blocked by the user", method="sendMessage"
    )
    report = await bot.deliverer.drain()
    # the chat, not the message: 40 waits and 41 behind it, none given up
    assert report.failed == 0 and report.sent == 0 and "blocked" in report.failing["chat:4242"]
    await bot.deliverer.drain()  # the next round reads the refusal
    assert ChatStore(bot.store).subscriptions(USER) == []
    assert {r["status"] for r in outbox_rows(bot.store, "chat:4242")} == {"skipped"}
    add_stories(bot.store, 1, start=45, when=utcnow())
    await bot.deliverer.drain()
    posts = [m for m in bot.replies(USER) if "会议部署" in m["text"]]
    assert posts == []  # 40 and 41 dropped with the subscription, 45 never queued


async def test_sources_and_status(bot: Bot) -> None:
    now = utcnow()
    with bot.store.transaction() as tx:
        tx.source_polled("gd-amr", now - timedelta(minutes=3), 10)
        tx.source_failed("sc-amr", "HTTP 500 Internal Server Error", now - timedelta(minutes=5))
    add_stories(bot.store, 4, when=now)
    add_stories(bot.store, 1, start=9, when=now, relevant=False)
    sources = (await bot.ask("/sources"))["text"]
    assert sources.startswith("监测来源：启用 2 个（共 3 个）")
    assert "正常 1 · 异常 1 · 尚未抓取 0" in sources
    assert "⚠️ sc-amr 四川省市场监督管理局" in sources and "HTTP 500" in sources
    status = (await bot.ask("/status"))["text"]
    assert "最近一次抓取：" in status and "分钟前" in status
    assert "今日发现报道：5 条（相关 4 条）" in status
    assert "抓取出错的来源：1 个" in status and "sc-amr：连续 1 次" in status


async def test_status_names_a_channel_that_cannot_take_posts(bot: Bot) -> None:
    bot.api.set_bot_status("@quality_test", "left")
    add_stories(bot.store, 2, ["main"])
    report = await bot.deliverer.drain()
    assert report.sent == 0 and "not a member" in report.failing["main"]
    status = (await bot.ask("/status"))["text"]
    assert "频道 main 无法发送" in status and "not a member" in status
    assert "2 条待修复后按序发出" in status


async def test_sources_and_status_do_not_show_credentials_in_urls(bot: Bot) -> None:
    """An error stored with a URL's credentials in it (as older versions did):
    /sources and /status, open to anyone, show the URL without them."""
    error = "https://bob:Pass1word@site.example/feed?apikey=Key2value&page=1: HTTP 500"
    with bot.store.transaction() as tx:
        tx.source_failed("sc-amr", error, utcnow())
    for command in ("/sources", "/status"):
        text = (await bot.ask(command))["text"]
        assert "https://***@site.example/feed?apikey=***" in text, text
        assert "Pass1word" not in text and "Key2value" not in text and "bob" not in text


async def test_made_up_button_data_and_huge_numbers_are_refused(bot: Bot) -> None:
    """Button data comes back from the client: an offset past any list, or
    negative, is an invalid button, not a database error; so is a story
    number no row can have."""
    add_stories(bot.store, 6)
    reply = await bot.ask("/latest")
    for data in ("l|-|" + "9" * 30, "l|-|-5", "s|质量|" + "9" * 40):
        answers = len(bot.api.callback_answers)
        bot.api.push_callback(data, message_id=reply["message_id"])
        for _ in range(500):
            if len(bot.api.callback_answers) > answers:
                break
            await asyncio.sleep(0.02)
        assert bot.api.callback_answers[-1]["text"] == "无效的按钮", data
    text = (await bot.ask("/resend " + "9" * 25, user=OPERATOR))["text"]
    assert "用法" in text
    assert "最新报道" in (await bot.ask("/latest"))["text"]  # and the bot still answers


GROUP = -100777
ADMIN, MEMBER = 501, 502


async def _in_group(bot: Bot, text: str, user: int) -> dict[str, Any]:
    before = len(bot.replies(GROUP))
    bot.api.push_group_message(text, chat_id=GROUP, user_id=user)
    return await bot.next_reply(GROUP, before, 10.0)


async def test_in_a_group_only_administrators_change_subscriptions(bot: Bot) -> None:
    bot.api.add_chat(GROUP, type="supergroup")
    bot.api.add_member(GROUP, ADMIN, "administrator")
    bot.api.add_member(GROUP, MEMBER, "member")
    chats = ChatStore(bot.store)

    refused = await _in_group(bot, "/subscribe 四川", MEMBER)
    assert "只有管理员" in refused["text"] and chats.subscriptions(GROUP) == []
    assert "已订阅" in (await _in_group(bot, "/subscribe 四川", ADMIN))["text"]
    assert "只有管理员" in (await _in_group(bot, "/subscribe 广东", 503))["text"]  # not a member
    assert [s.province for s in chats.subscriptions(GROUP)] == ["CN-SC"]
    assert "只有管理员" in (await _in_group(bot, "/unsubscribe all", MEMBER))["text"]
    assert len(chats.subscriptions(GROUP)) == 1

    # anyone may list them; only an administrator's press of a button counts
    listing = await _in_group(bot, "/subscribe", MEMBER)
    assert "当前订阅" in listing["text"]
    answers = len(bot.api.callback_answers)
    bot.api.push_callback("u|all", message_id=listing["message_id"], user_id=MEMBER, chat_id=GROUP)
    for _ in range(500):
        if len(bot.api.callback_answers) > answers:
            break
        await asyncio.sleep(0.02)
    assert "只有管理员" in bot.api.callback_answers[-1]["text"]
    assert len(chats.subscriptions(GROUP)) == 1
    bot.api.push_callback("u|all", message_id=listing["message_id"], user_id=ADMIN, chat_id=GROUP)
    for _ in range(500):
        if not chats.subscriptions(GROUP):
            break
        await asyncio.sleep(0.02)
    assert chats.subscriptions(GROUP) == []


async def test_subscriptions_per_chat_are_capped(bot: Bot) -> None:
    provinces = "四川 广东 浙江 江苏 山东 河南 湖北 湖南"
    categories = "policy_document press_conference meeting campaign_event award_brand "
    categories += "statistics_report other"
    reply = await bot.ask(f"/subscribe {provinces} {categories}")  # 8 × 7 = 56
    assert "最多 50 项" in reply["text"] and "这次要新增 56 项" in reply["text"]
    assert ChatStore(bot.store).subscriptions(USER) == []  # nothing added
    reply = await bot.ask("/subscribe 四川 广东 浙江 江苏 山东 河南 湖北 " + categories)  # 49
    assert "已订阅" in reply["text"] and len(ChatStore(bot.store).subscriptions(USER)) == 49
    assert "已订阅" in (await bot.ask("/subscribe all"))["text"]  # the 50th
    assert "这次要新增 1 项" in (await bot.ask("/subscribe 湖南"))["text"]
    assert len(ChatStore(bot.store).subscriptions(USER)) == 50


async def test_operator_commands(bot: Bot) -> None:
    assert "仅限管理员" in (await bot.ask("/pause"))["text"]
    assert "仅限管理员" in (await bot.ask("/resend 1"))["text"]
    assert "已暂停 main" in (await bot.ask("/pause main", user=OPERATOR))["text"]
    assert "已经是暂停状态" in (await bot.ask("/pause main", user=OPERATOR))["text"]
    assert "用法" in (await bot.ask("/pause nowhere", user=OPERATOR))["text"]
    assert "已暂停" in (await bot.ask("/status"))["text"]
    add_stories(bot.store, 2, ["main"])
    await bot.deliverer.drain()
    channel_posts = [m for m in bot.api.sent if m["chat_id"] == "@quality_test"]
    assert channel_posts == []  # held while paused
    assert [r["status"] for r in outbox_rows(bot.store, "main")] == ["pending", "pending"]
    assert "已恢复 main" in (await bot.ask("/resume main", user=OPERATOR))["text"]
    await bot.deliverer.drain()
    channel_posts = [m for m in bot.api.sent if m["chat_id"] == "@quality_test"]
    assert ids_in(m["text"].split("\n")[1] for m in channel_posts) == [0, 1]

    story_id = outbox_rows(bot.store, "main")[0]["story_id"]
    reply = await bot.ask(f"/resend {story_id}", user=OPERATOR)
    assert f"报道 {story_id} 已重新排队发往：main" in reply["text"]
    await bot.deliverer.drain()
    channel_posts = [m for m in bot.api.sent if m["chat_id"] == "@quality_test"]
    assert ids_in(m["text"].split("\n")[1] for m in channel_posts) == [0, 1, 0]
    assert "没有编号为 999 的报道" in (await bot.ask("/resend 999", user=OPERATOR))["text"]

    assert "已暂停 全部频道" in (await bot.ask("/pause", user=OPERATOR))["text"]
    add_stories(bot.store, 1, ["main"], start=7)
    await bot.deliverer.drain()
    assert len([m for m in bot.api.sent if m["chat_id"] == "@quality_test"]) == 3
    assert "已恢复 全部频道" in (await bot.ask("/resume all", user=OPERATOR))["text"]
    await bot.deliverer.drain()
    assert len([m for m in bot.api.sent if m["chat_id"] == "@quality_test"]) == 4


async def test_only_one_replica_answers(bot: Bot, botapi: BotApiServer) -> None:
    db = DbRunner()
    other = BotService(
        settings=bot.service.settings,
        config=bot.service.config,
        token=botapi.token,
        api_url=botapi.url,
        store=bot.store,
        db=db,
        replica="other-replica",
    )
    try:
        await other.start()
        assert not await other.wait_running(0.5)  # the lease is the first replica's
    finally:
        await other.stop()
        db.close()
    chats = ChatStore(bot.store)
    now = utcnow()
    assert not chats.take_lease("telegram-bot", "other-replica", now, 30)
    assert chats.take_lease("telegram-bot", "other-replica", now + timedelta(seconds=31), 30)


async def test_the_token_never_shows_in_logs(
    store: Store, botapi: BotApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (None, "httpx", "telegram"):
        caplog.set_level(logging.DEBUG, logger=name)
    db = DbRunner()
    outlets = build_outlets(
        config(CHANNELS, extra="bot: {}"),
        settings(store.url, token=botapi.token, api_url=botapi.url),
        store=store,
        db=db,
        owner="r",
        lease=60,
    )
    assert outlets.bot is not None
    outlets.bot.poll_timeout = 1
    try:
        await outlets.bot.start()
        assert await outlets.bot.wait_running(10)
        botapi.push_message("/status")
        for _ in range(250):
            if any(m["chat"] == USER for m in botapi.sent):
                break
            await asyncio.sleep(0.02)
    finally:
        await outlets.aclose()
        db.close()
    assert "getUpdates" in caplog.text
    assert botapi.token not in caplog.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode(
    store: Store, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Updates POSTed with the secret are answered; without it or with a wrong
    one they are refused (403) and not executed, the secret compared in
    constant time."""
    import hmac

    compared: list[bytes] = []
    original = hmac.compare_digest

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return original(a, b)

    monkeypatch.setattr("notifiers.bot.hmac.compare_digest", compare_digest)
    port = _free_port()
    db = DbRunner()
    outlets = build_outlets(
        config(
            CHANNELS,
            extra=(
                "bot: {mode: webhook, webhook_url: 'https://bot.example.org/tg/update', "
                f"listen: 127.0.0.1, port: {port}, secret: '${{HOOK_SECRET}}', "
                f"operators: [{OPERATOR}]}}"
            ),
            env={"HOOK_SECRET": "webhook-secret-123"},
        ),
        settings(store.url, token=botapi.token, api_url=botapi.url),
        store=store,
        db=db,
        owner="r",
        lease=60,
    )
    assert outlets.bot is not None
    try:
        await outlets.bot.start()
        assert await outlets.bot.wait_running(10)
        assert botapi.webhook["url"] == "https://bot.example.org/tg/update"
        assert botapi.webhook["secret_token"] == "webhook-secret-123"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1700000000,
                "chat": {"id": USER, "type": "private", "first_name": "T"},
                "from": {"id": USER, "is_bot": False, "first_name": "T"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        botapi.add_chat(USER, type="private")
        botapi.add_chat(OPERATOR, type="private")
        forged = {
            "update_id": 2,
            "message": {
                "message_id": 2,
                "date": 1700000000,
                "chat": {"id": OPERATOR, "type": "private", "first_name": "O"},
                "from": {"id": OPERATOR, "is_bot": False, "first_name": "O"},
                "text": "/pause",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        async with httpx.AsyncClient() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "webhook-secret-12"}):
                refused = await http.post(
                    f"http://127.0.0.1:{port}/tg/update", json=forged, headers=headers
                )
                assert refused.status_code == 403
            wrong = await http.post(
                f"http://127.0.0.1:{port}/tg/update",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            )
            assert wrong.status_code == 403
            assert b"guess" in compared  # the library's check went through compare_digest
            right = await http.post(
                f"http://127.0.0.1:{port}/tg/update",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "webhook-secret-123"},
            )
            assert right.status_code == 200
        for _ in range(250):
            if any(m["chat"] == USER for m in botapi.sent):
                break
            await asyncio.sleep(0.02)
        replies = [m for m in botapi.sent if m["chat"] == USER]
        assert len(replies) == 1 and "/latest" in replies[0]["text"]
        # the forged /pause from the operator's id was not executed
        assert not [m for m in botapi.sent if m["chat"] == OPERATOR]
        assert ChatStore(store).paused() == {}
    finally:
        await outlets.aclose()
        db.close()
