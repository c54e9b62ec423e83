"""``quality-monitor suggest URL``: against the fixture site, the printed entry is
valid ``sources.yaml`` and reads what the page lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import parse_config
from monitor.fetch import Fetcher
from monitor.listing import Listing, read_listing
from monitor.suggest import source_id, source_name
from tests.servers.newssite import NewsSite


def suggested(
    capsys: pytest.CaptureFixture[str], url: str, *flags: str, status: int = 0
) -> tuple[str, str]:
    assert main(["--config", "/nonexistent/sources.yaml", "suggest", url, *flags]) == status
    captured = capsys.readouterr()
    return captured.out, captured.err


def as_config(entry: str) -> Any:
    return parse_config(f"version: 1\nsources:\n{entry}", env={}).sources[0]


def test_a_list_page_gives_a_ready_entry_that_reads_the_list(
    newssite: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    url = newssite.url_for("/gbk/list.html")
    out, _err = suggested(capsys, url)
    source = as_config(out)
    assert source.kind == "html" and source.url == url
    assert source.id == "127-0-0-1-gbk"
    assert source.name == "质量强省示例网 工作动态"
    assert source.list is not None and source.list.date == "span.date"
    assert source.article.content == "div.article-content"
    preview = [line for line in out.splitlines() if line.startswith("    #   ")]
    newest = sorted(
        (a for a in newssite.articles if "gbk" in a["listed_in"]),
        key=lambda a: a["published"],
        reverse=True,
    )[:3]
    assert len(preview) == 3
    for line, article in zip(preview, newest, strict=True):  # date as the page shows it
        assert line.split()[1] == article["published"] and article["title"] in line
        assert newssite.article_url(article["id"]) in line

    async def read() -> Listing:
        async with Fetcher(retries=0) as fetcher:
            return await read_listing(source, fetcher, timeout=5)

    listing = asyncio.run(read())  # the entry reads the list, by its selectors
    assert listing.origin == "selectors" and len(listing.entries) == 6


def test_a_page_advertising_a_feed_gives_the_feed(
    newssite: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _err = suggested(capsys, newssite.url_for("/with-feed/list.html"))
    source = as_config(out)
    assert source.kind == "rss" and source.url == newssite.url_for("/feed.xml")
    assert "read as a feed" in out


def test_a_cms_family_gets_its_kind_and_json_for_tools(
    newssite: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    url = newssite.url_for("/jcms/col/col7/index.html")
    out, _err = suggested(capsys, url, "--json")
    found = json.loads(out)
    assert found["source"]["kind"] == "jcms" and found["found_by"] == "jcms"
    assert found["family"] == "jcms" and found["source"]["url"] == url
    assert len(found["preview"]) == 3
    assert set(found["preview"][0]) == {"title", "url", "published"}
    assert found["source"]["article"] == {"content": "div.article-content"}
    as_config(
        "  - " + json.dumps({k: v for k, v in found["source"].items()}, ensure_ascii=False) + "\n"
    )


def test_a_page_without_a_list_or_an_answer_is_said_so(
    newssite: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    article = newssite.url_for("/news/zh/sc-opinions-zh.html")
    out, err = suggested(capsys, article, status=1)
    assert out == "" and "no feed and no list of dated links found" in err
    _out, err = suggested(capsys, newssite.url_for("/fault/404"), status=1)
    assert "HTTP 404" in err


def test_ids_and_names() -> None:
    assert source_id("http://scjgj.sc.gov.cn/scjgj/c104536/ccxx.shtml") == "scjgj-sc-ccxx"
    assert source_id("https://www.gov.cn/yaowen/index.htm") == "gov-yaowen"
    assert (
        source_name("工作动态_四川省市场监督管理局", "http://x/") == "四川省市场监督管理局 工作动态"
    )
    assert source_name("", "http://amr.example.cn/a") == "amr.example.cn"


def test_suggest_reads_the_http_settings_of_a_valid_file(
    tmp_path: Path, newssite: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text('version: 1\nhttp: {user_agent: "qm-suggest-test"}\n', encoding="utf-8")
    assert main(["--config", str(config), "suggest", newssite.url_for("/gbk/list.html")]) == 0
    capsys.readouterr()
    agents = {r.headers.get("User-Agent") for r in newssite.requests}
    assert agents == {"qm-suggest-test"}
