"""The web face on a real store (SQLite and PostgreSQL) filled by `run --once`:
the dashboard's pages and filters, the probes, /metrics, and the HTTP server."""

from __future__ import annotations

import html as htmllib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
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
    assert f"<p id=total>共 {RELEVANT_STORIES} 条报道</p>" in html
    assert "四川" in html and "CN-SC" in html  # province label and code
    assert "@quality_test" not in html  # channel ids, not chats, are shown
    assert "main: 已发送" in html
    for source_id in ("site-rss", "site-gbk", "site-mislabelled"):
        assert f"<tr data-source='{source_id}'" in html
    assert "<table id=sources>" in html and "下次抓取" in html
    assert "<html lang=zh-Hans>" in html


def test_the_labels_are_chinese_by_default_and_english_on_request(app: WebApp) -> None:
    _, zh = page(app, "/")
    _, en = page(app, "/?lang=en")
    for chinese, english in [
        ("<label>省份 ", "<label>Province "),
        (">筛选</button>", ">Apply</button>"),
        ("<th>下次抓取</th>", "<th>Next poll</th>"),
        ("各省每周报道数", "Stories per province and week"),
        ("3 个来源全部正常", "all 3 sources answering"),
        ("时间均为北京时间", "Times are China Standard Time"),
    ]:
        assert chinese in zh and english not in zh, english
        assert english in en and chinese not in en, chinese
    assert f"<p id=total>{RELEVANT_STORIES} stories</p>" in en
    assert "Sichuan" in en and "<html lang=en>" in en
    # English links stay English: stories, sources, the form, the chart's cells
    assert re.search(r"href=\"/stories/\d+\?lang=en\"", en)
    assert "href='/sources/site-rss?lang=en'" in en
    assert "<input type=hidden name=lang value=en>" in en
    story_id = shown(en)[0]["id"]
    _, story = page(app, f"/stories/{story_id}?lang=en")
    assert "Articles and why they were grouped" in story and "← all stories" in story
    _, story = page(app, f"/stories/{story_id}")
    assert "文章及归并原因" in story and "← 全部报道" in story
    assert "Polled by" in page(app, "/sources/site-rss?lang=en")[1]
    assert "抓取副本" in page(app, "/sources/site-rss")[1]
    assert "Nothing at" in page(app, "/nope?lang=en")[1] and "没有内容" in page(app, "/nope")[1]


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
    assert "<option value='CN-SC' selected>四川 (" in html

    category = rows[0].category
    _, html = page(app, f"/?category={category}")
    assert {s["category"] for s in shown(html)} == {category}

    word = "长江" if any("长江" in r.title for r in rows) else rows[0].title[:4]
    _, html = page(app, "/?q=" + urllib.request.quote(word))
    assert 1 <= len(shown(html)) <= len(rows)

    _, html = page(app, "/?from=2099-01-01")
    assert shown(html) == [] and "没有符合条件的报道。" in html
    _, html = page(app, "/?to=1999-12-31")
    assert shown(html) == []
    _, html = page(app, "/?from=2000-01-01&to=2099-12-31")
    assert len(shown(html)) == RELEVANT_STORIES

    _, html = page(app, "/?show=all")
    assert len(shown(html)) > RELEVANT_STORIES  # the irrelevant ones are stored too
    _, html = page(app, "/?from=yesterday&category=nonsense")
    assert "不是日期" in html and "未知的" in html
    _, html = page(app, "/?from=yesterday&category=nonsense&lang=en")
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
        status, html = page(app, "/?lang=en&" + query)
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
    assert code == 503 and "数据库没有响应" in html
    code, html = page(app, "/?lang=en")
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


LONG = "x" * 300  # an unbroken run of characters, as in a long URL or error


@pytest.fixture
def with_failing_source(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebApp]:
    """The dashboard after a `run --once` in which one source of four failed."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    extra = (
        "  - id: broken\n"
        f"    name: 出错的来源{'很长的名字' * 20}\n"
        "    kind: rss\n"
        f"    url: {newssite.url}/gone/{LONG}.xml\n"
    )
    config = write_config(tmp_path, newssite, extra=extra)
    assert main(["--config", str(config), "run", "--once"]) == 0
    store = Store(db_url)
    status = Status(mode="serve", replica="test-1")
    status.set_ready()
    metrics = Metrics(replica="test-1", mode="serve")
    metrics.watch(store)
    yield WebApp(store, load_config(config), status, metrics)
    store.close()


def test_the_top_says_how_many_sources_fail(with_failing_source: WebApp) -> None:
    _, html = page(with_failing_source, "/")
    top = html.index("<p id=source-status")
    assert top < html.index("<form id=filters")  # first thing on the page
    assert "4 个来源中 1 个失败" in html and "data-failing=1 data-sources=4" in html
    _, html = page(with_failing_source, "/?lang=en")
    assert "1 of 4 sources failing" in html
    assert "<tr data-source='broken' class=failing>" in html


def test_subscribers_chat_ids_are_neither_shown_nor_metric_labels(
    app: WebApp, filled: tuple
) -> None:
    store: Store = filled[0]
    story_id = int(shown(page(app, "/")[1])[0]["id"])
    with store.transaction() as tx:
        for chat in ("chat:987654321", "chat:123456789"):
            tx.enqueue(story_id, chat, NOW)
    _, html = page(app, "/")
    assert "987654321" not in html and "123456789" not in html
    assert "订阅者 ×2: 待发送" in html
    _, html = page(app, f"/stories/{story_id}?lang=en")
    assert "987654321" not in html and "subscribers ×2: pending" in html
    app.metrics.sent.labels("chat:987654321", "post").inc()
    app.metrics.failed.labels("chat:123456789").inc()
    _, body = page(app, "/metrics")
    assert "987654321" not in body and "123456789" not in body
    assert 'quality_monitor_alerts_pending{channel="subscribers"} 2.0' in body
    assert 'quality_monitor_alerts_sent_total{channel="subscribers",kind="post"} 1.0' in body


def test_the_chart_counts_stories_per_province_and_week(app: WebApp, filled: tuple) -> None:
    store: Store = filled[0]
    with store.transaction() as tx:  # three more of late, and one long ago
        for i, province in enumerate(["CN-SC", "CN-SC", "CN-HB", "CN-HB"]):
            recent = datetime.now(UTC) - timedelta(days=1)
            when = recent if i < 3 else datetime(2020, 1, 1, tzinfo=UTC)
            tx.insert_story(story_values(province=province, published=when, first_seen=when))
    with store.engine.connect() as conn:
        found = conn.execute(
            select(stories.c.province, stories.c.published, stories.c.first_seen).where(
                stories.c.relevant.is_(True)
            )
        ).all()

    def china_day(r: Any) -> date:
        when = r.published or r.first_seen
        return (when.replace(tzinfo=when.tzinfo or UTC) + timedelta(hours=8)).date()

    newest = max(china_day(r) for r in found)
    start = newest - timedelta(days=newest.weekday(), weeks=11)
    rows = [r for r in found if china_day(r) >= start]
    assert 3 < len(rows) < len(found)
    _, html = page(app, "/")
    svg = html[html.index("<svg id=chart-svg") : html.index("</svg>")]
    assert "<script" not in html and "http://" not in svg.replace("http://www.w3.org", "")
    # every cell with stories links to them: the province and that week
    cells = re.findall(r'<a class=cell href="/\?([^"]+)"><title>([^<]+): (\d+)</title>', svg)
    assert sum(int(n) for _, _, n in cells) == len(rows)
    sichuan = sum(int(n) for q, _, n in cells if "province=CN-SC" in q)
    assert sichuan == sum(r.province == "CN-SC" for r in rows) > 0
    query, _, n = cells[0]
    query = htmllib.unescape(query)
    params = dict(urllib.parse.parse_qsl(query))
    assert len(shown(page(app, "/?" + query)[1])) == int(n)
    assert date.fromisoformat(params["to"]) - date.fromisoformat(params["from"]) == timedelta(6)
    assert ">四川</text>" in svg
    assert ">Sichuan</text>" in page(app, "/?lang=en")[1]


def test_chart_cells_bin_by_china_week_and_fold_the_rest() -> None:
    from monitor.dashboard import chart_cells

    monday = datetime(2025, 9, 8, 0, 30, tzinfo=UTC)  # 08:30 Monday in China
    sunday_late = datetime(2025, 9, 7, 17, 0, tzinfo=UTC)  # Monday 01:00 in China
    days = [("CN-SC", monday), ("CN-SC", sunday_late), ("CN-GD", monday - timedelta(days=7))]
    days += [(f"CN-X{i}", monday) for i in range(5)]
    weeks, rows = chart_cells(days, weeks=3, rows=3)
    assert weeks == [date(2025, 8, 25), date(2025, 9, 1), date(2025, 9, 8)]
    assert rows[0] == ("CN-SC", [0, 0, 2])
    assert rows[1] == ("CN-GD", [0, 1, 0])
    assert rows[2] == ("*", [0, 0, 5])
    assert chart_cells([]) == ([], [])


def _closed_by_server(s: Any, timeout: float) -> bool:
    """Whether the server closed this connection (an end of file, or a reset when
    it had unread bytes of ours) within ``timeout`` seconds."""
    s.settimeout(timeout)
    try:
        return bool(s.recv(100) == b"")
    except ConnectionResetError:
        return True


@pytest.mark.slow
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


@pytest.mark.slow
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
    code, html = page(app, path + ("&" if "?" in path else "?") + "lang=en")
    assert code == status, html[-500:]
    assert says in html


def test_a_channel_that_cannot_take_posts_is_shown_everywhere(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong token: the dashboard says so at the top, /healthz names the channel
    (still 200: a restart would not help), and a gauge is 1."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:WRONG-token")
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    config = write_config(tmp_path, newssite)
    assert main(["--config", str(config), "run", "--once"]) == 0
    store = Store(db_url)
    try:
        status = Status(mode="serve", replica="test-1")
        status.set_ready()
        metrics = Metrics(replica="test-1", mode="serve")
        metrics.watch(store)
        app = WebApp(store, load_config(config), status, metrics)
        code, html = page(app, "/")
        assert code == 200
        line = re.search(r"<p class=error id=channel-main>(.*?)</p>", html)
        assert line and "频道 main 无法发送" in line.group(1) and "Unauthorized" in line.group(1)
        code, html = page(app, "/?lang=en")
        line = re.search(r"<p class=error id=channel-main>(.*?)</p>", html)
        assert line and "Unauthorized" in line.group(1)
        assert re.search(r"\d+ alerts wait \(since \d{4}-\d\d-\d\d \d\d:\d\d CST\)", line.group(1))
        code, body = page(app, "/healthz")
        answer = json.loads(body)
        assert code == 200 and answer["status"] == "ok"
        assert "Unauthorized" in answer["channels_failing"]["main"]
        assert 'quality_monitor_channel_failing{channel="main"} 1.0' in page(app, "/metrics")[1]
        assert "WRONG-token" not in html + body
    finally:
        store.close()


def test_an_undated_story_is_not_shown_with_todays_date(app: WebApp) -> None:
    """The fixture's Guangdong report has no date anywhere: the dashboard says
    so instead of showing the day it was found as its date."""
    from datetime import UTC, datetime

    from monitor.clock import CHINA

    today = datetime.now(UTC).astimezone(CHINA).date().isoformat()
    _, html = page(app, "/?show=all")
    items = re.findall(r"<li class=story .*?</li>", html, re.S)
    undated = [i for i in items if "Guangdong governor" in i]
    assert undated, "the undated story is listed"
    meta = re.search(r"<p class=meta>(.*?)</p>", undated[0], re.S)
    assert meta is not None
    shown_date = meta.group(1).split(" · ")[0]
    assert shown_date == "—" and shown_date != today  # not the day it was found
