"""kind: webhook against a real HTTP server on 127.0.0.1: the JSON, the signature,
what is retried and what is not, and delivery through the outbox."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.errors import DeliveryError
from monitor.model import Alert, Mention, Story
from notifiers.base import Digest
from notifiers.deliver import Deliverer
from notifiers.outlets import build_outlets
from notifiers.webhook import SCHEMA, WebhookNotifier, verify
from storage.runner import DbRunner
from storage.store import Store
from tests.servers.receiver import Receiver
from tests.stories import add_stories, config, make_all_due, outbox_rows, settings

SECRET = "s3cret-webhook-key"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def alert(outbox_id: int = 5, **changes: object) -> Alert:
    fields: dict[str, object] = {
        "id": 42,
        "title": '四川 <发布> "质量强省" & 实施意见 🚀',
        "url": "https://www.sc.gov.cn/a.html",
        "summary": "摘要。",
        "province": "CN-SC",
        "category": "policy_document",
        "language": "zh-Hans",
        "source_name": "四川省人民政府",
        "published": datetime(2025, 9, 11, 1, 0, tzinfo=UTC),
        "first_seen": datetime(2025, 9, 11, 2, 30, tzinfo=UTC),
        "score": 7.5,
        "also": (Mention("Sichuan News", "https://en.sc.gov.cn/x", "en"),),
    }
    fields.update(changes)
    return Alert(outbox_id=outbox_id, channel_id="hook", story=Story(**fields))  # type: ignore[arg-type]


async def test_the_body_follows_the_documented_schema_and_is_signed(hook: Receiver) -> None:
    notifier = WebhookNotifier(url=f"{hook.url}/in", channel_id="hook", secret=SECRET)
    try:
        assert await notifier.send(alert()) == "5"
        await notifier.edit(alert(outbox_id=6))
    finally:
        await notifier.aclose()
    first, second = hook.requests
    assert first.method == "POST" and first.path == "/in"
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["X-Quality-Monitor-Event"] == "story.new"
    assert first.headers["X-Quality-Monitor-Delivery"] == "5"
    body = first.json()
    assert body["schema"] == SCHEMA == "quality-monitor.alert/1"
    assert body["event"] == "story.new" and body["channel"] == "hook" and body["delivery"] == "5"
    assert body["sent_at"].endswith("Z")
    assert body["story"] == {
        "id": 42,
        "title": '四川 <发布> "质量强省" & 实施意见 🚀',
        "url": "https://www.sc.gov.cn/a.html",
        "summary": "摘要。",
        "province": "CN-SC",
        "province_name": "四川",
        "category": "policy_document",
        "category_name": "政策文件",
        "language": "zh-Hans",
        "source": "四川省人民政府",
        "published": "2025-09-11T01:00:00Z",
        "first_seen": "2025-09-11T02:30:00Z",
        "score": 7.5,
        "also": [{"source": "Sichuan News", "url": "https://en.sc.gov.cn/x", "language": "en"}],
    }
    assert second.json()["event"] == "story.updated" and second.json()["story"]["id"] == 42

    # The signature, as a receiver checks it (the recipe in docs/channels.md).
    timestamp = first.headers["X-Quality-Monitor-Timestamp"]
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + first.body, hashlib.sha256
    ).hexdigest()
    assert first.headers["X-Quality-Monitor-Signature"] == f"sha256={expected}"
    assert verify(SECRET, first.headers, first.body)
    assert not verify("wrong", first.headers, first.body)
    assert not verify(SECRET, first.headers, first.body.replace(b"42", b"43"))
    assert not verify(SECRET, first.headers, first.body, now=int(timestamp) + 3600)  # replayed


async def test_without_a_secret_nothing_is_signed(hook: Receiver) -> None:
    async with _notifier(hook) as notifier:
        await notifier.send(alert())
    assert "X-Quality-Monitor-Signature" not in hook.requests[0].headers


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after", "words"),
    [
        (500, {}, False, None, "HTTP 500"),
        (503, {"Retry-After": "7"}, False, 7.0, "HTTP 503"),
        (429, {"Retry-After": "3"}, False, 3.0, "HTTP 429"),
        (408, {}, False, None, "HTTP 408"),
        (400, {}, True, None, "HTTP 400 Bad Request: no such field"),
        (401, {}, True, None, "HTTP 401"),
        (404, {}, True, None, "HTTP 404"),
        (301, {"Location": "https://elsewhere/"}, True, None, "redirected to https://elsewhere/"),
    ],
)
async def test_answers_are_sorted_into_retry_or_give_up(
    hook: Receiver,
    status: int,
    headers: dict[str, str],
    permanent: bool,
    retry_after: float | None,
    words: str,
) -> None:
    hook.answer_next(status, headers=headers, body="no such field" if status == 400 else "")
    async with _notifier(hook) as notifier:
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(alert())
    assert caught.value.permanent is permanent
    assert caught.value.retry_after == retry_after
    assert words in str(caught.value)


async def test_time_outs_and_refused_connections_are_retried(hook: Receiver) -> None:
    hook.delay(1.0)
    notifier = WebhookNotifier(url=f"{hook.url}/in", channel_id="hook", timeout=0.2)
    try:
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(alert())
        assert caught.value.permanent is False and "timed out" in str(caught.value)
    finally:
        await notifier.aclose()
        hook.delay(0)
    nobody = WebhookNotifier(url="http://127.0.0.1:9/in", channel_id="hook", timeout=1)
    try:
        with pytest.raises(DeliveryError) as caught:
            await nobody.send(alert())
        assert caught.value.permanent is False
    finally:
        await nobody.aclose()


async def test_a_digest_is_one_request_with_every_story(hook: Receiver) -> None:
    stories = tuple(alert(outbox_id=i, id=i).story for i in range(1, 4))
    async with _notifier(hook) as notifier:
        parts = notifier.render_digest(Digest("hook", "摘要 · 3 条", stories))
        assert len(parts) == 1 and parts[0].story_ids == (1, 2, 3)
        await notifier.send_digest_part(parts[0])
    body = hook.requests[0].json()
    assert body["event"] == "digest" and body["heading"] == "摘要 · 3 条"
    assert [s["id"] for s in body["stories"]] == [1, 2, 3]
    assert hook.requests[0].headers["X-Quality-Monitor-Event"] == "digest"


async def test_through_the_outbox_an_outage_is_retried_and_nothing_sent_twice(
    store: Store, hook: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = DbRunner()
    key_url = f"{hook.url}/hooks/0123456789abcdef0123456789abcdef"
    outlets = build_outlets(
        config(
            "  - {id: hook, kind: webhook, url: '${HOOK_URL}', secret: '${HOOK_SECRET}'}",
            env={"HOOK_URL": key_url, "HOOK_SECRET": SECRET},
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
        add_stories(store, 3, ["hook"])
        hook.answer_next(502, count=2)
        report = await deliverer.drain()
        assert (report.sent, report.deferred) == (0, 1)
        make_all_due(store)
        report = await deliverer.drain()
        assert (report.sent, report.deferred) == (0, 1)
        make_all_due(store)
        report = await deliverer.drain()
        assert report.sent == 3
    finally:
        await outlets.aclose()
        db.close()
    delivered = [r.json() for r in hook.requests if r.json().get("event") == "story.new"]
    ids = [d["story"]["id"] for d in delivered]
    assert ids[-3:] == sorted(ids[-3:]) and len(set(ids[-3:])) == 3
    assert len(hook.requests) == 5  # two refused tries of the first, then each once
    assert all(verify(SECRET, r.headers, r.body) for r in hook.requests)
    assert {r["status"] for r in outbox_rows(store, "hook")} == {"sent"}
    # The key in the URL and the secret never reach the logs.
    assert "0123456789abcdef0123456789abcdef" not in caplog.text
    assert SECRET not in caplog.text


def _notifier(hook: Receiver) -> WebhookNotifier:
    return WebhookNotifier(url=f"{hook.url}/in", channel_id="hook")
