"""TelegramNotifier against the Bot API test server, through real python-telegram-bot."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.errors import DeliveryError
from monitor.model import Alert, Mention, Story
from notifiers.render import render_telegram
from notifiers.telegram import TelegramNotifier
from tests.servers.botapi import BotApiServer


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns (PTBDeprecationWarning) while building a RetryAfter unless
    # this opt-in is set, and pyproject turns warnings into errors.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def botapi() -> Iterator[BotApiServer]:
    with BotApiServer() as server:
        yield server


@pytest.fixture
async def notifier(botapi: BotApiServer) -> AsyncIterator[TelegramNotifier]:
    telegram = TelegramNotifier(
        token=botapi.token, chat="@quality_test", api_url=botapi.url, request_timeout=5
    )
    yield telegram
    await telegram.aclose()


def alert(message_id: str | None = None, **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": 7,
        "title": "浙江省发布《质量强省建设实施方案》",
        "url": "https://www.zj.gov.cn/art/2024/5/6/art_1.html",
        "summary": "方案提出，到2025年质量强省建设取得明显成效。",
        "province": "CN-ZJ",
        "category": "policy_document",
        "language": "zh-Hans",
        "source_name": "浙江省人民政府",
        "published": datetime(2024, 5, 6, 1, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return Alert(outbox_id=11, channel_id="tg-main", story=Story(**fields), message_id=message_id)


async def test_send_posts_the_rendered_html(
    botapi: BotApiServer, notifier: TelegramNotifier
) -> None:
    message_id = await notifier.send(alert())
    assert message_id == "1"
    sent = botapi.sent[-1]
    assert sent["html"] == render_telegram(alert().story)
    assert sent["parse_mode"] == "HTML"
    assert sent["chat_id"] == "@quality_test"
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert sent["text"].startswith("#浙江 #政策文件\n浙江省发布《质量强省建设实施方案》")
    assert await notifier.send(alert()) == "2"


async def test_link_preview_and_numeric_chat(botapi: BotApiServer) -> None:
    telegram = TelegramNotifier(
        token=botapi.token, chat="-1001", api_url=botapi.url + "/", link_preview=True
    )
    try:
        assert await telegram.send(alert()) == "1"
    finally:
        await telegram.aclose()
    assert botapi.sent[-1]["chat"] == -1001
    assert botapi.sent[-1]["link_preview_options"] is None


async def test_edit_changes_the_message(botapi: BotApiServer, notifier: TelegramNotifier) -> None:
    message_id = await notifier.send(alert())
    also = (Mention("新华网", "http://www.news.cn/x.htm", "zh-Hans"),)
    await notifier.edit(alert(message_id, also=also))
    text = botapi.messages[("@quality_test", int(message_id))]
    assert text.endswith("也见于: 新华网")
    assert botapi.calls == ["sendMessage", "editMessageText"]
    # The same text again: Telegram says "not modified", which is success.
    await notifier.edit(alert(message_id, also=also))
    assert len(botapi.edits) == 1


async def test_edit_of_an_unknown_message_is_permanent(notifier: TelegramNotifier) -> None:
    with pytest.raises(DeliveryError) as caught:
        await notifier.edit(alert("999"))
    assert caught.value.permanent is True
    assert "Bad Request: message to edit not found" in str(caught.value)
    for bad in (None, "console-3"):
        with pytest.raises(DeliveryError) as caught:
            await notifier.edit(alert(bad))
        assert caught.value.permanent is True


async def test_429_is_transient_with_retry_after(
    botapi: BotApiServer, notifier: TelegramNotifier
) -> None:
    botapi.fail_next(1, status=429, retry_after=7)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert caught.value.permanent is False
    assert caught.value.retry_after == 7
    assert botapi.sent == []
    assert await notifier.send(alert()) == "1"  # PTB did not retry on its own
    assert botapi.calls == ["sendMessage", "sendMessage"]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_without_ptb_timedelta(
    botapi: BotApiServer, notifier: TelegramNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default PTB 22 mode: retry_after is an int (with a deprecation warning).
    monkeypatch.delenv("PTB_TIMEDELTA")
    botapi.fail_next(1, status=429, retry_after=3)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert (caught.value.permanent, caught.value.retry_after) == (False, 3)


async def test_real_flood_control(botapi: BotApiServer, notifier: TelegramNotifier) -> None:
    botapi.flood_limit(per_chat_per_minute=2, per_second=None)
    await notifier.send(alert())
    await notifier.send(alert())
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert caught.value.permanent is False
    assert caught.value.retry_after is not None
    assert 1 <= caught.value.retry_after <= 60


async def test_chat_not_found_is_the_channels_failure(botapi: BotApiServer) -> None:
    telegram = TelegramNotifier(token=botapi.token, chat="@nowhere", api_url=botapi.url)
    try:
        with pytest.raises(DeliveryError) as caught:
            await telegram.send(alert())
    finally:
        await telegram.aclose()
    # not the message's fault: it must wait for the chat to be fixed, not be given up
    assert caught.value.permanent is False and caught.value.channel is True
    assert caught.value.retry_after is None
    # Telegram's own words, not PTB's rewording ("Chat not found").
    assert "Bad Request: chat not found" in str(caught.value)
    assert "@nowhere" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "description", "permanent", "expected"),
    [
        (500, None, False, "Internal Server Error"),
        (502, None, False, "HTTP 502 Bad Gateway"),
        (504, None, False, "HTTP 504 Gateway Timeout"),
        (403, "Forbidden: bot is not a member of the channel chat", False, "Forbidden: bot is"),
        (400, "Bad Request: can't parse entities: x", True, "can't parse entities"),
    ],
)
async def test_server_errors(
    botapi: BotApiServer,
    notifier: TelegramNotifier,
    status: int,
    description: str | None,
    permanent: bool,
    expected: str,
) -> None:
    botapi.fail_next(1, status=status, description=description)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert caught.value.permanent is permanent
    assert expected in str(caught.value)
    assert "<html>" not in str(caught.value)


async def test_chat_migrated_is_the_channels_failure(
    botapi: BotApiServer, notifier: TelegramNotifier
) -> None:
    botapi.fail_next(
        1,
        status=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": -1001234567890},
    )
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert caught.value.permanent is False and caught.value.channel is True
    assert "-1001234567890" in str(caught.value)


async def test_timeout_is_transient(botapi: BotApiServer) -> None:
    telegram = TelegramNotifier(
        token=botapi.token, chat="@quality_test", api_url=botapi.url, request_timeout=0.2
    )
    botapi.delay(1.0)
    try:
        with pytest.raises(DeliveryError) as caught:
            await telegram.send(alert())
    finally:
        await telegram.aclose()
        botapi.delay(0)
    assert caught.value.permanent is False


async def test_connection_refused_is_transient(botapi: BotApiServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free now, and nobody listens on it
    telegram = TelegramNotifier(
        token=botapi.token, chat="@quality_test", api_url=f"http://127.0.0.1:{port}"
    )
    try:
        with pytest.raises(DeliveryError) as caught:
            await telegram.send(alert())
    finally:
        await telegram.aclose()
    assert caught.value.permanent is False
    assert botapi.token not in str(caught.value)


async def test_the_token_never_shows(
    botapi: BotApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Other tests (the CLI's logging set-up) may have quietened these loggers.
    for name in (None, "httpx", "telegram"):
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "123456:WRONG-secret-token"
    telegram = TelegramNotifier(token=wrong, chat="@quality_test", api_url=botapi.url)
    try:
        assert wrong not in repr(telegram)
        assert "WRONG-secret" not in repr(telegram)
        with pytest.raises(DeliveryError) as caught:
            await telegram.send(alert())
    finally:
        await telegram.aclose()
    error = caught.value
    # 401 Unauthorized: the channel cannot take posts until the token is fixed
    assert error.permanent is False and error.channel is True
    assert "Unauthorized" in str(error)
    chain: BaseException | None = error
    while chain is not None:
        assert wrong not in str(chain)
        chain = chain.__cause__ or chain.__context__
    # httpx logs every request URL at INFO and PTB the base URL at DEBUG;
    # both went through, redacted.
    assert "HTTP Request: POST" in caplog.text
    assert "/bot<token>/sendMessage" in caplog.text
    assert wrong not in caplog.text


async def test_aclose_is_idempotent(botapi: BotApiServer) -> None:
    async with TelegramNotifier(
        token=botapi.token, chat="@quality_test", api_url=botapi.url
    ) as telegram:
        await telegram.send(alert())
    await telegram.aclose()
    assert telegram.kind == "telegram"
    assert telegram.supports_edit is True


async def test_edit_with_the_same_text_is_done_not_edited(
    botapi: BotApiServer, notifier: TelegramNotifier
) -> None:
    message_id = await notifier.send(alert())
    assert await notifier.edit(alert(message_id=message_id)) is False  # "not modified"
    assert botapi.edits == []


async def test_checks_say_whether_the_bot_may_post(botapi: BotApiServer) -> None:
    from notifiers.telegram import TelegramClient

    client = TelegramClient(token=botapi.token, api_url=botapi.url)
    try:
        bot_id, name = await client.whoami()
        assert name == "@quality_test_bot"
        assert "the bot is administrator" in await client.check_chat("@quality_test", bot_id)
        with pytest.raises(DeliveryError, match="chat not found") as caught:
            await client.check_chat("@quality_tset", bot_id)
        assert caught.value.channel
        botapi.set_bot_status("@quality_test", "member")
        with pytest.raises(DeliveryError, match="administrator of the channel"):
            await client.check_chat("@quality_test", bot_id)
    finally:
        await client.aclose()
    wrong = TelegramClient(token="123456:WRONG-token", api_url=botapi.url)
    try:
        with pytest.raises(DeliveryError, match="Unauthorized") as caught:
            await wrong.whoami()
        assert caught.value.channel and "WRONG" not in str(caught.value)
    finally:
        await wrong.aclose()


async def test_the_start_check_tells_a_wrong_token_from_an_outage(botapi: BotApiServer) -> None:
    from notifiers.telegram import TelegramClient, check_telegram

    client = TelegramClient(token=botapi.token, api_url=botapi.url)
    try:
        botapi.fail_next(1, status=502, method="getMe")
        ((ok, line),) = await check_telegram(client, {"main": "@quality_test"})
        assert not ok and "did not answer the check" in line and "token" not in line
        lines = await check_telegram(client, {"main": "@quality_test"})
        assert [ok for ok, _ in lines] == [True, True]
    finally:
        await client.aclose()
