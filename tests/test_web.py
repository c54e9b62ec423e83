"""The web face on a real store (SQLite and PostgreSQL) filled by `run --once`:
the dashboard's pages and filters, the probes, /metrics, and the HTTP server."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.cli import main
from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.web import Status, WebApp, WebServer
from storage.schema import stories
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import RELEVANT_STORIES, write_config
from tests.test_store import NOW, story_values


@pytest.fixture
def filled(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Store, Path]]:
    """A store after one `run --once` over the fixture site, and its config."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    config = write_config(tmp_path, newssite)
    assert main(["--config", str(config), "run", "--once"]) == 0
    store = Store(db_url)
    yield store, config
    store.close()


@pytest.fixture
def app(filled: tuple[Store, Path]) -> WebApp:
    store, config = filled
    status = Status(mode="serve", replica="test-1")
    status.set_ready()
    metrics = Metrics(replica="test-1", mode="serve")
    metrics.watch(store)
    return WebApp(store, load_config(config), status, metrics)


def page(app: WebApp, path: str) -> tuple[int, str]:
    response = app.handle(path)
    return response.status, response.body.decode("utf-8")


def shown(html: str) -> list[dict[str, str]]:
    """The stories a dashboard page lists: id, province, category."""
    return [
        {"id": m[0], "province": m[1], "category": m[2]}
        for m in re.findall(
            r'<li class=story data-id="(\d+)" data-province="([^"]*)"\s+data-category="([^"]*)"',
            html,
        )
    ]


def test_the_dashboard_lists_the_relevant_stories_and_the_sources(app: WebApp) -> None:
    status, html = page(app, "/")
    assert status == 200
    listed = shown(html)
    assert len(listed) == RELEVANT_STORIES
    assert f"<p id=total>{RELEVANT_STORIES} stories</p>" in html
    assert "四川" in html and "CN-SC" in html  # province label and code
    assert "@quality_test" not in html  # channel ids, not chats, are shown
    assert "main: sent" in html
    for source_id in ("site-rss", "site-gbk", "site-mislabelled"):
        assert f"<tr data-source='{source_id}'" in html
    assert "<table id=sources>" in html and "Next poll" in html


def test_filters_by_province_category_dates_and_words(app: WebApp, filled: tuple) -> None:
    store: Store = filled[0]
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(stories.c.id, stories.c.province, stories.c.category, stories.c.title).where(
                stories.c.relevant.is_(True)
            )
        ).all()
    province = next(r.province for r in rows if r.province == "CN-SC")
    _, html = page(app, f"/?province={province}")
    listed = shown(html)
    assert listed and {s["province"] for s in listed} == {province}
    assert len(listed) == sum(r.province == province for r in rows)
    assert "selected>CN-SC" in html.replace("value='CN-SC' selected", "selected")

    category = rows[0].category
    _, html = page(app, f"/?category={category}")
    assert {s["category"] for s in shown(html)} == {category}

    word = "长江" if any("长江" in r.title for r in rows) else rows[0].title[:4]
    _, html = page(app, "/?q=" + urllib.request.quote(word))
    assert 1 <= len(shown(html)) <= len(rows)

    _, html = page(app, "/?from=2099-01-01")
    assert shown(html) == [] and "No story matches." in html
    _, html = page(app, "/?to=1999-12-31")
    assert shown(html) == []
    _, html = page(app, "/?from=2000-01-01&to=2099-12-31")
    assert len(shown(html)) == RELEVANT_STORIES

    _, html = page(app, "/?show=all")
    assert len(shown(html)) > RELEVANT_STORIES  # the irrelevant ones are stored too
    _, html = page(app, "/?from=yesterday&category=nonsense")
    assert "is not a date" in html and "unknown" in html
    assert len(shown(html)) == RELEVANT_STORIES  # bad filters are dropped, said once


def test_a_story_page_shows_its_articles_and_why_they_were_grouped(app: WebApp) -> None:
    _, html = page(app, "/?q=" + urllib.request.quote("质量强省"))
    grouped = None
    for item in shown(html):
        _, story_html = page(app, f"/stories/{item['id']}")
        if story_html.count("<td class=why>") > 1:
            grouped = story_html
            break
    assert grouped is not None, "the Sichuan opinions in Chinese and English are one story"
    assert "<b>lead</b>" in grouped
    assert re.search(r"<td class=why><b>\w+</b> \d\.\d\d: .+</td>", grouped)
    assert "<table id=articles>" in grouped
    status, _ = page(app, "/stories/999999")
    assert status == 404
    # Oversized input is answered, not a 500 (OverflowError, "date value out of range").
    assert page(app, "/stories/" + "9" * 30)[0] == 404
    for query in ("to=9999-12-31", "from=0001-01-01"):
        status, html = page(app, "/?" + query)
        assert status == 200 and "out of range" in html, query
    assert page(app, "/?page=" + "9" * 30)[0] == 200


def test_a_source_page_shows_its_polls(app: WebApp) -> None:
    status, html = page(app, "/sources/site-rss")
    assert status == 200
    assert "<table id=polls>" in html and "<td>ok</td>" in html
    assert page(app, "/sources/nope")[0] == 404


def test_web_content_is_escaped_and_only_http_links_are_links(app: WebApp, filled: tuple) -> None:
    store: Store = filled[0]
    with store.transaction() as tx:
        tx.insert_story(
            story_values(
                title="<script>alert(1)</script> 质量",
                url="javascript:alert(1)",
                summary='"><img src=x onerror=alert(2)>',
                first_seen=NOW,
            )
        )
    _, html = page(app, "/?q=" + urllib.request.quote("<script>"))
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    story_id = shown(html)[0]["id"]
    _, html = page(app, f"/stories/{story_id}")
    assert "javascript:" not in html


def test_probes(app: WebApp, tmp_path: Path) -> None:
    status, body = page(app, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert page(app, "/readyz")[0] == 200
    app.status.set_not_ready("stopping")
    status, body = page(app, "/readyz")
    assert status == 503 and json.loads(body)["reason"] == "stopping"
    assert page(app, "/healthz")[0] == 200  # alive while it stops

    stalled = Status(mode="run", replica="x", stall_limit=0.01)
    stalled.beat()
    time.sleep(0.05)
    app.status = stalled
    status, body = page(app, "/healthz")
    assert status == 503 and "event loop has not run" in json.loads(body)["reason"]


def test_healthz_says_why_when_the_database_does_not_answer(tmp_path: Path) -> None:
    store = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    status = Status(mode="serve", replica="x")
    status.set_ready()
    app = WebApp(
        store,
        load_config(write_config(tmp_path, _NoSite())),
        status,
        Metrics(replica="x", mode="serve"),
    )
    started = time.monotonic()
    code, body = page(app, "/healthz")
    assert time.monotonic() - started < 10
    assert code == 503
    assert "127.0.0.1" in json.loads(body)["reason"]
    code, html = page(app, "/")
    assert code == 503 and "The database did not answer" in html
    store.close()


class _NoSite:
    url = "http://127.0.0.1:9"


def test_metrics_read_the_database_at_each_scrape(app: WebApp, filled: tuple) -> None:
    status, body = page(app, "/metrics")
    assert status == 200
    assert re.search(r"^quality_monitor_stories \d+", body, re.M)
    assert 'quality_monitor_source_consecutive_failures{source="site-rss"} 0.0' in body
    assert 'quality_monitor_source_last_success_timestamp_seconds{source="site-rss"}' in body
    assert 'quality_monitor_info{mode="serve",replica="test-1",version=' in body
    assert "process_cpu_seconds_total" in body or "python_info" in body
    assert app.handle("/metrics").content_type.startswith("text/plain")


def test_the_server_answers_get_and_head_and_refuses_writes(app: WebApp) -> None:
    server = WebServer(app, "127.0.0.1", 0).start()
    try:
        with urllib.request.urlopen(server.url + "/", timeout=10) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
            assert b"<ol id=stories>" in r.read()
        request = urllib.request.Request(server.url + "/healthz", method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200 and r.read() == b""
        request = urllib.request.Request(server.url + "/", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405
        refused.value.close()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url + "/nothing/here", timeout=10)
        assert missing.value.code == 404
        missing.value.close()
    finally:
        server.stop()


def _closed_by_server(s: Any, timeout: float) -> bool:
    """Whether the server closed this connection (an end of file, or a reset when
    it had unread bytes of ours) within ``timeout`` seconds."""
    s.settimeout(timeout)
    try:
        return bool(s.recv(100) == b"")
    except ConnectionResetError:
        return True


def test_idle_connections_are_closed_and_do_not_stop_healthz(app: WebApp) -> None:
    """Clients that connect and send nothing, or half a request: past the
    connection limit the oldest are closed at once, so /healthz answers while
    they keep coming, and the rest are cut off after the idle timeout."""
    import socket

    server = WebServer(app, "127.0.0.1", 0, idle_timeout=2.0, max_connections=50).start()
    idlers: list[socket.socket] = []
    try:
        for i in range(150):
            s = socket.create_connection(server.address, timeout=10)
            if i % 2:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            idlers.append(s)
        started = time.monotonic()
        with urllib.request.urlopen(server.url + "/healthz", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        assert time.monotonic() - started < 1.5  # not after the idle timeout
        for s in idlers[:90]:  # the oldest were closed to stay within 50 open connections
            assert _closed_by_server(s, 0.5)
        for s in idlers[90:]:  # the others when their time is up
            assert _closed_by_server(s, 5)
    finally:
        for s in idlers:
            s.close()
        server.stop()


def test_a_server_stops_promptly_with_connections_open(app: WebApp) -> None:
    import socket

    server = WebServer(app, "127.0.0.1", 0).start()
    with urllib.request.urlopen(server.url + "/healthz", timeout=10) as r:
        assert r.status == 200
    address = server.address
    idle = socket.create_connection(address, timeout=10)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert _closed_by_server(idle, 2)  # not left hanging
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    idle.close()


def test_credentials_in_a_source_url_are_not_shown(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A source whose URL carries ``user:password@`` and ``?apikey=`` and fails:
    its page, its error on the dashboard and its fetch log show neither."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    port = newssite.url.rsplit(":", 1)[1]
    config = write_config(
        tmp_path,
        newssite,
        extra=f"""\
  - id: keyed
    name: with credentials
    kind: rss
    url: https://bob:SourcePass1@127.0.0.1:{port}/fault/500?access_token=SourceKey99
""",
    )
    assert main(["--config", str(config), "run", "--once"]) == 0
    store = Store(db_url)
    try:
        status = Status(mode="serve", replica="t")
        app = WebApp(store, load_config(config), status, Metrics(replica="t", mode="serve"))
        for path in ("/", "/sources/keyed"):
            code, html = page(app, path)
            assert code == 200
            assert "SourcePass1" not in html and "SourceKey99" not in html and "bob" not in html
        _, html = page(app, "/sources/keyed")
        assert "https://***@127.0.0.1" in html and "access_token=***" in html
        assert "<tr class=failing>" in html  # the failed poll is listed, its error redacted
    finally:
        store.close()


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/?q=" + "质" * 30000, 200, "only the first 200 characters are searched"),
        ("/?q=" + "%25_" * 20000, 200, "only the first 200 characters are searched"),
        ("/?show=all&q=" + "+".join(["ab" * 60] * 50), 200, "only the first 200"),
        ("/?page=" + "9" * 30, 200, "<p id=total>"),
        ("/?page=" + "9" * 5000, 200, "<p id=total>"),
        ("/?to=9999-12-31", 200, "to: 9999-12-31 is out of range"),
        ("/?from=0001-01-01", 200, "from: 0001-01-01 is out of range"),
        ("/stories/" + "9" * 30, 404, "Nothing at"),
        ("/sources/" + "x" * 5000, 404, "There is no source"),
    ],
)
def test_oversized_input_is_answered_not_an_error(
    app: WebApp, path: str, status: int, says: str
) -> None:
    code, html = page(app, path)
    assert code == status, html[-500:]
    assert says in html
