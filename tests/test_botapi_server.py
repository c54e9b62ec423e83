"""The Bot API test server answers as Telegram does (driven with plain httpx)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers.botapi import BotApiServer, parse_html, utf16_units


@pytest.fixture
def botapi() -> Iterator[BotApiServer]:
    with BotApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def call(
    http: httpx.Client, server: BotApiServer, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST form-encoded, JSON-encoding non-strings: what python-telegram-bot sends."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    response = http.post(f"{server.url}/bot{server.token}/{method}", data=form)
    return response.status_code, response.json()


def send_html(http: httpx.Client, server: BotApiServer, text: str) -> tuple[int, dict[str, Any]]:
    return call(http, server, "sendMessage", chat_id="@quality_test", text=text, parse_mode="HTML")


def test_get_me_and_url_layout(botapi: BotApiServer, client: httpx.Client) -> None:
    assert botapi.url.startswith("http://127.0.0.1:")
    status, body = call(client, botapi, "getMe")
    assert status == 200
    assert body["ok"] is True
    assert body["result"]["is_bot"] is True
    assert body["result"]["id"] == int(botapi.token.split(":")[0])


def test_wrong_token_is_401_and_unknown_method_404(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    response = client.post(f"{botapi.url}/bot123456:WRONG/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    response = client.post(f"{botapi.url}/botnot-a-token/getMe")
    assert response.status_code == 404
    status, body = call(client, botapi, "sendSticker", chat_id="@quality_test")
    assert (status, body["description"]) == (404, "Not Found")


def test_a_new_token_and_the_bots_place_in_each_chat(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    """What the channel checks and the channel-level refusals rest on."""
    status, body = call(client, botapi, "getChat", chat_id="@quality_test")
    assert status == 200 and body["result"]["type"] == "channel"
    bot_id = int(botapi.token.split(":")[0])
    status, body = call(client, botapi, "getChatMember", chat_id="@quality_test", user_id=bot_id)
    assert body["result"]["status"] == "administrator" and body["result"]["can_post_messages"]
    status, body = call(client, botapi, "getChat", chat_id="@nowhere")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    for state, answer in [
        ("member", (400, "Bad Request: need administrator rights in the channel chat")),
        ("left", (403, "Forbidden: bot is not a member of the channel chat")),
        ("kicked", (403, "Forbidden: bot was kicked from the channel chat")),
    ]:
        botapi.set_bot_status("@quality_test", state)
        status, body = call(client, botapi, "sendMessage", chat_id="@quality_test", text="x")
        assert (status, body["description"]) == answer, state
        _, member = call(client, botapi, "getChatMember", chat_id="@quality_test", user_id=bot_id)
        assert member["result"]["status"] == state
    user = botapi.add_chat(5151, type="private")
    botapi.set_bot_status(user, "blocked")
    status, body = call(client, botapi, "sendMessage", chat_id=user, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    old = botapi.token
    botapi.set_token("123456:NEW-token")
    assert client.post(f"{botapi.url}/bot{old}/getMe").status_code == 401
    assert call(client, botapi, "getMe")[0] == 200


@pytest.mark.parametrize(
    "html",
    [
        "<b>粗体</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins>",
        "<s>s</s> <strike>k</strike> <del>d</del> <code>x &lt; y</code> <pre>p</pre>",
        '<span class="tg-spoiler">剧透</span> <tg-spoiler>剧透</tg-spoiler>',
        '<a href="https://example.cn/a?b=1&amp;c=2">链接</a> <blockquote>引用</blockquote>',
        "&lt;&gt;&amp;&quot; &#26032;&#x95FB; AT&amp;T > 1",
        '<b>a <i>b <a href="http://x.cn">c</a></i></b>',
    ],
)
def test_valid_html_is_accepted(botapi: BotApiServer, client: httpx.Client, html: str) -> None:
    status, body = send_html(client, botapi, html)
    assert status == 200, body
    assert body["result"]["text"] == botapi.sent[-1]["text"]
    assert botapi.sent[-1]["html"] == html


def test_parsed_text_and_entities(botapi: BotApiServer, client: httpx.Client) -> None:
    status, body = send_html(
        client, botapi, '😀 <b>新闻</b> &amp; <a href="https://gov.cn/x?a=1&amp;b=2">链接</a>'
    )
    assert status == 200
    message = body["result"]
    assert message["text"] == "😀 新闻 & 链接"
    assert message["chat"]["type"] == "channel"
    assert message["chat"]["username"] == "quality_test"
    # Offsets are UTF-16: the emoji counts 2.
    assert message["entities"] == [
        {"type": "bold", "offset": 3, "length": 2},
        {"type": "text_link", "offset": 8, "length": 2, "url": "https://gov.cn/x?a=1&b=2"},
    ]


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("新闻<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x </b>", "Unexpected end tag at byte offset 2"),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("AT&T", 'Character "&" at byte offset 2 does not start an entity'),
        ("&nbsp;", 'Character "&" at byte offset 0 does not start an entity'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("&#55357;", "Text contains invalid Unicode characters"),
    ],
)
def test_bad_html_is_refused_like_telegram(
    botapi: BotApiServer, client: httpx.Client, html: str, description: str
) -> None:
    status, body = send_html(client, botapi, html)
    assert status == 400
    assert body["ok"] is False
    assert body["error_code"] == 400
    assert body["description"].startswith("Bad Request: can't parse entities: ")
    assert description in body["description"]
    assert botapi.sent == []


def test_lenient_mode_keeps_bare_ampersand_like_telegram() -> None:
    text, entities = parse_html("AT&T &nbsp; &lt", strict_entities=False)
    assert (text, entities) == ("AT&T &nbsp; <", [])


def test_byte_offsets_count_utf8_bytes(botapi: BotApiServer, client: httpx.Client) -> None:
    _, body = send_html(client, botapi, "质量<div>")  # two 3-byte characters first
    assert body["description"].endswith('Unsupported start tag "div" at byte offset 6')


def test_length_is_counted_in_utf16_after_parsing(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    cjk = "质" * 4096
    assert send_html(client, botapi, cjk)[0] == 200
    # Markup and entities do not count, only what is shown.
    assert send_html(client, botapi, f"<b>{cjk[:-1]}</b>&amp;")[0] == 200

    status, body = send_html(client, botapi, cjk + "量")
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    status, body = send_html(client, botapi, cjk + "&amp;")
    assert (status, body["description"]) == (400, "Bad Request: message is too long")

    emoji = "😀" * 2049  # 2049 characters, 4098 UTF-16 code units
    assert utf16_units(emoji) == 4098
    status, body = send_html(client, botapi, emoji)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    assert send_html(client, botapi, "😀" * 2048)[0] == 200


def test_empty_text(botapi: BotApiServer, client: httpx.Client) -> None:
    for text in ("", "<b></b>", "  \n "):
        status, body = send_html(client, botapi, text)
        assert (status, body["description"]) == (400, "Bad Request: message text is empty")


def test_chat_not_found(botapi: BotApiServer, client: httpx.Client) -> None:
    for chat in ("@nobody_here", "-100999", "not a chat"):
        status, body = call(client, botapi, "sendMessage", chat_id=chat, text="hi")
        assert (status, body["description"]) == (400, "Bad Request: chat not found")
    # Known by default: the channel by name and a numeric id (sent as JSON number too).
    assert call(client, botapi, "sendMessage", chat_id="@quality_test", text="a")[0] == 200
    assert call(client, botapi, "sendMessage", chat_id=-1001, text="b")[0] == 200


def test_message_ids_increment_per_chat(botapi: BotApiServer, client: httpx.Client) -> None:
    ids = [
        call(client, botapi, "sendMessage", chat_id=chat, text=str(n))[1]["result"]["message_id"]
        for n, chat in enumerate(["@quality_test", "@quality_test", "-1001", "@quality_test"])
    ]
    assert ids == [1, 2, 1, 3]
    assert botapi.messages[("@quality_test", 3)] == "3"
    assert botapi.messages[("-1001", 1)] == "2"


def test_edit_message_text(botapi: BotApiServer, client: httpx.Client) -> None:
    _, body = send_html(client, botapi, "<b>旧</b>")
    message_id = body["result"]["message_id"]
    params = {"chat_id": "@quality_test", "message_id": message_id, "parse_mode": "HTML"}

    status, body = call(client, botapi, "editMessageText", text="<i>新</i>", **params)
    assert status == 200
    assert body["result"]["text"] == "新"
    assert "edit_date" in body["result"]
    assert botapi.messages[("@quality_test", message_id)] == "新"
    assert botapi.edits[-1]["html"] == "<i>新</i>"

    status, body = call(client, botapi, "editMessageText", text="<i>新</i>", **params)
    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified: ")

    params["message_id"] = 999
    status, body = call(client, botapi, "editMessageText", text="x", **params)
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")


def test_fail_next_429_carries_retry_after(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.fail_next(2, status=429, retry_after=7)
    for _ in range(2):
        status, body = send_html(client, botapi, "x")
        assert status == 429
        assert body == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }
    assert send_html(client, botapi, "x")[0] == 200
    assert botapi.calls == ["sendMessage"] * 3
    assert len(botapi.sent) == 1


def test_fail_next_500_and_502(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.fail_next(1, status=500)
    botapi.fail_next(1, status=502)
    status, body = send_html(client, botapi, "x")
    assert (status, body["description"]) == (500, "Internal Server Error")
    response = client.post(f"{botapi.url}/bot{botapi.token}/getMe")
    # Telegram's front end answers a 502 with nginx's HTML page, not JSON.
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")


def test_fail_next_for_one_method_only(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.fail_next(1, status=403, description="Forbidden: bot was kicked", method="sendMessage")
    assert call(client, botapi, "getMe")[0] == 200
    status, body = send_html(client, botapi, "x")
    assert (status, body["description"]) == (403, "Forbidden: bot was kicked")


def test_flood_limit_per_chat(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.flood_limit(per_chat_per_minute=3, per_second=None)
    for _ in range(3):
        assert send_html(client, botapi, "x")[0] == 200
    status, body = send_html(client, botapi, "x")
    assert status == 429
    assert 1 <= body["parameters"]["retry_after"] <= 60
    assert (
        body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"
    )
    # Another chat has its own budget.
    assert call(client, botapi, "sendMessage", chat_id="-1001", text="y")[0] == 200


def test_flood_limit_per_second(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.flood_limit(per_chat_per_minute=None, per_second=2)
    codes = [send_html(client, botapi, "x")[0] for _ in range(3)]
    assert codes == [200, 200, 429]


def test_delay(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.delay(0.2)
    start = time.monotonic()
    call(client, botapi, "getMe")
    assert time.monotonic() - start >= 0.2


def test_get_updates_honours_offset(botapi: BotApiServer, client: httpx.Client) -> None:
    first = botapi.push_message("/start")
    second = botapi.push_message("/status@quality_test_bot")
    _, body = call(client, botapi, "getUpdates")
    assert [u["update_id"] for u in body["result"]] == [first["update_id"], second["update_id"]]
    message = body["result"][0]["message"]
    assert message["chat"]["type"] == "private"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]

    _, body = call(client, botapi, "getUpdates", offset=second["update_id"])
    assert [u["update_id"] for u in body["result"]] == [second["update_id"]]
    _, body = call(client, botapi, "getUpdates", offset=second["update_id"] + 1)
    assert body["result"] == []
    # Confirmed updates are gone for good.
    _, body = call(client, botapi, "getUpdates")
    assert body["result"] == []
    # The bot may answer in the private chat.
    status, _ = call(client, botapi, "sendMessage", chat_id=message["chat"]["id"], text="ok")
    assert status == 200


def test_get_updates_long_poll_wakes_on_push(botapi: BotApiServer, client: httpx.Client) -> None:
    timer = threading.Timer(0.2, botapi.push_update, args=({"text": "hi"},))
    timer.start()
    try:
        start = time.monotonic()
        _, body = call(client, botapi, "getUpdates", timeout=5)
        assert time.monotonic() - start < 4
        [update] = body["result"]
        # A bare message was wrapped and completed as Telegram would send it.
        assert update["message"]["text"] == "hi"
        assert update["message"]["chat"]["type"] == "private"
        assert {"message_id", "date", "from"} <= update["message"].keys()
    finally:
        timer.cancel()


def test_parameters_by_json_query_and_multipart(botapi: BotApiServer, client: httpx.Client) -> None:
    url = f"{botapi.url}/bot{botapi.token}/sendMessage"
    response = client.post(url, json={"chat_id": -1001, "text": "<b>j</b>", "parse_mode": "HTML"})
    assert response.json()["result"]["text"] == "j"
    response = client.get(url, params={"chat_id": "@quality_test", "text": "q"})
    assert response.json()["result"]["text"] == "q"
    response = client.post(
        url, data={"chat_id": "@quality_test", "text": "m"}, files={"x": ("f.txt", b"1")}
    )
    assert response.json()["result"]["text"] == "m"
    assert botapi.requests[-1]["content_type"].startswith("multipart/form-data")


def test_set_my_commands_and_delete_webhook(botapi: BotApiServer, client: httpx.Client) -> None:
    commands = [{"command": "status", "description": "状态"}]
    assert call(client, botapi, "setMyCommands", commands=commands)[1] == {
        "ok": True,
        "result": True,
    }
    assert botapi.commands == commands
    status, body = call(client, botapi, "deleteWebhook", drop_pending_updates=True)
    assert (status, body["result"]) == (200, True)


def test_stop_is_clean_with_an_open_keep_alive_connection() -> None:
    server = BotApiServer().start()
    http = httpx.Client()
    try:
        assert http.post(f"{server.url}/bot{server.token}/getMe").status_code == 200
        server.stop()  # the client still holds its connection open
        server.stop()
    finally:
        http.close()


def test_inline_buttons_callbacks_and_webhooks(botapi: BotApiServer, client: httpx.Client) -> None:
    markup = {"inline_keyboard": [[{"text": "▶", "callback_data": "l|-|5"}]]}
    status, answer = call(
        client, botapi, "sendMessage", chat_id=4242, text="page", reply_markup=markup
    )
    assert status == 400  # a private chat is known only once its user wrote to the bot
    botapi.push_message("/latest")
    status, answer = call(
        client, botapi, "sendMessage", chat_id=4242, text="page", reply_markup=markup
    )
    assert status == 200 and answer["result"]["reply_markup"] == markup
    assert botapi.sent[-1]["reply_markup"] == markup
    too_long = {"inline_keyboard": [[{"text": "x", "callback_data": "x" * 65}]]}
    status, answer = call(
        client, botapi, "sendMessage", chat_id=4242, text="p", reply_markup=too_long
    )
    assert (status, answer["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")

    update = botapi.push_callback("l|-|5", message_id=answer_id(botapi))
    query = update["callback_query"]
    assert query["data"] == "l|-|5" and query["message"]["reply_markup"] == markup
    assert call(client, botapi, "answerCallbackQuery", callback_query_id=query["id"])[0] == 200
    assert botapi.callback_answers == [{"callback_query_id": query["id"], "text": None}]

    status, answer = call(client, botapi, "setWebhook", url="http://insecure.example/")
    assert status == 400 and "HTTPS URL must be provided" in answer["description"]
    assert call(client, botapi, "setWebhook", url="https://x.example/h", secret_token="s")[0] == 200
    assert botapi.webhook["url"] == "https://x.example/h" and botapi.webhook["secret_token"] == "s"
    assert call(client, botapi, "deleteWebhook")[0] == 200 and botapi.webhook == {}


def answer_id(botapi: BotApiServer) -> int:
    return int(botapi.sent[-1]["message_id"])


def test_flood_control_window_can_be_shortened(botapi: BotApiServer, client: httpx.Client) -> None:
    botapi.flood_limit(per_chat_per_minute=3, per_second=None, chat_window=0.3)
    statuses = [send_html(client, botapi, f"m{i}")[0] for i in range(4)]
    assert statuses == [200, 200, 200, 429] and botapi.flood_rejections == 1
    time.sleep(0.35)
    assert send_html(client, botapi, "again")[0] == 200


def test_get_chat_member_reports_statuses_as_telegram(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    """Each status with the fields python-telegram-bot requires to read it."""
    import asyncio

    import telegram

    group = botapi.add_chat(-100555, type="supergroup")
    for user, status in ((1, "creator"), (2, "administrator"), (3, "member"), (4, "restricted")):
        botapi.add_member(group, user, status)
    botapi.add_member(group, 5, "kicked")
    got = {u: call(client, botapi, "getChatMember", chat_id=group, user_id=u)[1] for u in range(7)}
    assert {u: a["result"]["status"] for u, a in got.items() if u} == {
        1: "creator",
        2: "administrator",
        3: "member",
        4: "restricted",
        5: "kicked",
        6: "left",  # not in the group
    }
    status, answer = call(client, botapi, "getChatMember", chat_id=-1009, user_id=1)
    assert (status, answer["description"]) == (400, "Bad Request: chat not found")

    async def read() -> list[str]:
        async with telegram.Bot(botapi.token, base_url=f"{botapi.url}/bot") as bot:
            members = [await bot.get_chat_member(group, u) for u in range(1, 7)]
        return [type(m).__name__ for m in members]

    assert asyncio.run(read()) == [
        "ChatMemberOwner",
        "ChatMemberAdministrator",
        "ChatMemberMember",
        "ChatMemberRestricted",
        "ChatMemberBanned",
        "ChatMemberLeft",
    ]
