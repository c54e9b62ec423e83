"""kind: apprise through real local endpoints: Apprise's json:// and form:// schemas
pointed at an HTTP server on 127.0.0.1, as a DingTalk or WeCom URL would be used."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.errors import DeliveryError
from monitor.model import Alert, Story
from notifiers.apprise import AppriseNotifier, check_url
from notifiers.base import Digest
from notifiers.builtin import Shared
from notifiers.deliver import Deliverer
from notifiers.outlets import build_notifiers, build_outlets
from storage.runner import DbRunner
from storage.store import Store
from tests.servers.receiver import Receiver
from tests.stories import add_stories, config, ids_in, make_all_due, outbox_rows, settings

TITLE = '四川 <b>发布</b> "质量强省" & [实施意见]*_🚀'


@pytest.fixture
def endpoint() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "id": 1,
        "title": TITLE,
        "url": "https://www.sc.gov.cn/a(1).html",
        "summary": "方案提出 **到2027年** 质量强省建设取得明显成效。",
        "province": "CN-SC",
        "category": "policy_document",
        "language": "zh-Hans",
        "source_name": "四川省人民政府",
        "published": datetime(2025, 9, 11, 1, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return Alert(outbox_id=9, channel_id="ding", story=Story(**fields))  # type: ignore[arg-type]


async def test_json_endpoint_gets_title_and_markdown_body(endpoint: Receiver) -> None:
    notifier = AppriseNotifier(url=f"json://127.0.0.1:{endpoint.port}/robot", min_interval=0)
    assert await notifier.send(alert()) == "apprise-9"
    request = endpoint.requests[0]
    assert request.method == "POST" and request.path == "/robot"
    body = request.json()
    # the title is Markdown too (the JSON endpoint gets what the service asked for): escaped
    assert body["title"] == '四川 \\<b\\>发布\\</b\\> "质量强省" & \\[实施意见\\]\\*\\_🚀'
    message = body["message"]
    assert message.startswith("\\#四川 \\#政策文件\n")  # a heading in Markdown otherwise
    assert "\\*\\*到2027年\\*\\*" in message  # the web's text cannot make markup
    assert "[阅读原文](https://www.sc.gov.cn/a%281%29.html)" in message
    assert "来源: 四川省人民政府 · 2025-09-11" in message


@pytest.mark.parametrize(
    "title",
    [
        "通知 [点此查看](http://evil.example/x) 全文",
        "通知 ![](http://track.example/pixel.png) 全文",
        "通知 <http://evil.example/x> 全文",
    ],
)
async def test_a_title_cannot_make_a_link_or_an_image(endpoint: Receiver, title: str) -> None:
    """Mattermost (and DingTalk, WeCom) read the title as Markdown: a feed title
    with a link or an image in Markdown arrives escaped, as plain text."""
    notifier = AppriseNotifier(url=f"mmost://127.0.0.1:{endpoint.port}/hooktoken1", min_interval=0)
    await notifier.send(alert(title=title))
    text = endpoint.requests[0].json()["text"]
    first_line = text.split("\r\n")[0].split("\n")[0]
    assert not re.search(r"(?<!\\)[\[\]<>]", first_line)  # no unescaped bracket
    assert first_line.replace("\\", "") == title  # every character kept, only escaped
    assert "[阅读原文](https://www.sc.gov.cn/a%281%29.html)" in text  # our own link stays one


def test_a_long_title_is_shortened_before_it_is_escaped() -> None:
    from notifiers.render import apprise_title

    title = apprise_title("[x]" * 100, markdown=True, max_chars=50)
    assert len(title) <= 50 and not title.endswith("\\") and title.startswith("\\[x\\]")
    assert apprise_title("a\nb  [c]", markdown=False, max_chars=50) == "a b [c]"


async def test_text_format_writes_urls_out(endpoint: Receiver) -> None:
    notifier = AppriseNotifier(
        url=f"form://127.0.0.1:{endpoint.port}/wecom", markdown=False, min_interval=0
    )
    await notifier.send(alert())
    form = endpoint.requests[0].form()
    assert form["title"] == TITLE
    assert form["message"].startswith("#四川 #政策文件\n方案提出 **到2027年**")
    assert "原文: https://www.sc.gov.cn/a(1).html" in form["message"]


@pytest.mark.parametrize(
    ("status", "permanent", "words"),
    [
        (500, False, "error=500"),
        (503, False, "error=503"),
        (429, False, "error=429"),
        (400, True, "error=400"),
        (403, True, "error=403"),
    ],
)
async def test_failures_carry_apprise_reason(
    endpoint: Receiver, status: int, permanent: bool, words: str
) -> None:
    endpoint.answer_next(status, body="nope")
    notifier = AppriseNotifier(url=f"json://127.0.0.1:{endpoint.port}/robot", min_interval=0)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert caught.value.permanent is permanent
    assert words in str(caught.value) and str(caught.value).startswith("apprise JSON:")


async def test_an_unreachable_service_is_retried() -> None:
    notifier = AppriseNotifier(url="json://127.0.0.1:9/robot", min_interval=0)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(alert())
    assert caught.value.permanent is False
    assert "Connection error" in str(caught.value)


async def test_a_digest_is_split_to_the_service_length(endpoint: Receiver) -> None:
    notifier = AppriseNotifier(url=f"json://127.0.0.1:{endpoint.port}/robot", min_interval=0)
    notifier.max_body = 1000  # a service that takes 1000 characters (WeCom takes 2048)
    stories = tuple(alert(id=i, title=f"第{i}条 质量强省推进会").story for i in range(60))
    parts = notifier.render_digest(Digest("ding", "质量强省动态摘要 · 60 条", stories))
    assert len(parts) > 1 and all(len(p.text) <= 1000 for p in parts)
    for part in parts:
        await notifier.send_digest_part(part)
    bodies = [r.json() for r in endpoint.requests]
    assert bodies[0]["title"].startswith("质量强省动态摘要 · 60 条 (1/")
    assert sorted(ids_in(b["message"] for b in bodies)) == list(range(60))


def test_urls_apprise_does_not_know_are_reported() -> None:
    assert check_url("json://127.0.0.1/x") is None
    assert check_url("dingtalk://abcdefghijklmnopq/") is None
    problem = check_url("nosuchservice://x")
    assert problem is not None and "nosuchservice" in problem
    with pytest.raises(ValueError, match="does not understand"):
        AppriseNotifier(url="nosuchservice://x")


async def test_inactive_or_broken_channels_are_said_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    shared = Shared(settings(store.url))
    active = build_notifiers(
        config(
            "  - {id: empty, kind: apprise, url: '${DINGTALK_URL:-}'}\n"
            "  - {id: broken, kind: apprise, url: 'nosuchservice://x'}",
        ),
        settings(store.url),
        shared,
        fallback=False,
    )
    assert active == {}
    assert "channel empty (apprise) is inactive: its url is empty" in caplog.text
    assert "channel broken (apprise) is inactive: Apprise does not understand" in caplog.text


async def test_through_the_outbox_with_keys_kept_out_of_logs(
    store: Store, endpoint: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "k3y0f7h3r0b07abcdef"
    db = DbRunner()
    outlets = build_outlets(
        config(
            "  - {id: ding, kind: apprise, url: '${DINGTALK_URL}', pace: 0s}",
            env={"DINGTALK_URL": f"json://127.0.0.1:{endpoint.port}/robot/send?token={key}"},
        ),
        settings(store.url),
        store=store,
        db=db,
        owner="test",
        lease=60,
        bot=False,
    )
    deliverer = Deliverer(
        store, db, outlets.channels, configured=outlets.channels.known, hooks=outlets.hooks
    )
    try:
        add_stories(store, 3, ["ding"])
        endpoint.answer_next(502)
        assert (await deliverer.drain()).deferred == 1
        make_all_due(store)
        report = await deliverer.drain()
    finally:
        await outlets.aclose()
        db.close()
    assert report.sent == 3
    assert [r["status"] for r in outbox_rows(store, "ding")] == ["sent"] * 3
    assert ids_in(r.json()["title"] for r in endpoint.requests[1:]) == [0, 1, 2]
    assert key not in caplog.text
