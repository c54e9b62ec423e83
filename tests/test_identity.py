"""Same item under another address: feed GUIDs and mobile hosts (served on 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.cli import main
from tests.servers.botapi import BotApiServer

ARTICLE = (
    "<html><head><meta name='ArticleTitle' content='四川启动质量月活动'></head><body>"
    "<div class='content'><p>9月1日,四川省质量月活动在成都启动,推进质量强省建设,"
    "发布天府名品,全省质量工作会议同期召开。</p></div></body></html>"
)


class Site:
    """A feed whose single item can move to another link, and its article pages."""

    def __init__(self) -> None:
        self.link = "/news/1.html"
        self.guid = "urn:item:1"
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                if self.path == "/feed.xml":
                    body = (
                        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                        "<title>t</title><item><title>四川启动质量月活动</title>"
                        f"<link>http://{self.headers['Host']}{site.link}</link>"
                        f"<guid>{site.guid}</guid></item></channel></rss>"
                    ).encode()
                    kind = "application/rss+xml"
                elif self.path.startswith("/news/") or self.path.startswith("/m/news/"):
                    body, kind = ARTICLE.encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


def run(tmp_path: Path, site: Site, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch) -> int:
    config = tmp_path / "sources.yaml"
    config.write_text(
        f"""version: 1
sources:
  - id: feed
    name: Feed
    kind: rss
    url: "{site.url}/feed.xml"
    article: {{content: div.content}}
channels:
  - {{id: main, kind: telegram, chat: "@quality_test", pace: 0s}}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    return main(["--config", str(config), "run", "--once"])


def test_an_item_that_moves_to_a_new_link_keeps_its_guid_and_is_not_posted_again(
    tmp_path: Path, site: Site, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(tmp_path, site, botapi, monkeypatch) == 0
    assert len(botapi.sent) == 1
    site.link = "/news/2025/1.html"  # the site reorganised its pages
    assert run(tmp_path, site, botapi, monkeypatch) == 0
    assert len(botapi.sent) == 1
    assert "/news/2025/1.html" not in site.hits  # known by its GUID: not even fetched
    site.link, site.guid = "/news/2.html", "urn:item:2"  # a new item with the same text
    assert run(tmp_path, site, botapi, monkeypatch) == 0
    assert "/news/2.html" in site.hits
    assert len(botapi.sent) == 1  # same text: attached to the story, not posted again
