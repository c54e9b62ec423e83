"""Finding a list without selectors (monitor/sources/detect.py).

The pages of ``tests/data/lists/`` (one per CMS family, items listed beside
each) and their template changes; the feed a page advertises; configured
selectors that break; and ``check --fetch`` against the fixture site.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import HtmlSource, ListSelectors
from monitor.fetch import Fetcher
from monitor.listing import read_listing
from monitor.model import FetchResult
from monitor.sources import Parsed, parse
from monitor.sources.detect import advertised_feeds, cms_family, detect, looks_like_feed
from tests.lists import VARIANTS, ListPage, as_items, list_pages
from tests.servers.newssite import NewsSite

PAGES = list_pages()


def source_for(page: ListPage, selectors: ListSelectors | None = None) -> HtmlSource:
    return HtmlSource(id="page", name="page", kind="html", url=page.url, list=selectors)


def answer(page: ListPage, html: str) -> FetchResult:
    return FetchResult(
        url=page.url, final_url=page.url, status=200, text=html, fetched_at=page.fetched
    )


def test_the_fixture_pages_cover_the_families() -> None:
    assert len(PAGES) >= 8
    assert {"TRS WCM", "Hanweb JCMS", "gkmlpt (rendered)", "VSB", "card layout"} <= {
        p.family for p in PAGES
    }


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_detection_finds_every_item_and_no_other_link(page: ListPage, variant: str) -> None:
    found = detect(page.variant(variant), page.url, now=page.fetched)
    assert as_items(found.entries) == list(page.items)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_selectors_found_read_the_same_list(page: ListPage, variant: str) -> None:
    html = page.variant(variant)
    found = detect(html, page.url, now=page.fetched)
    assert found.selectors is not None
    parsed = parse(answer(page, html), source_for(page, ListSelectors(**found.selectors.as_dict())))
    assert isinstance(parsed, Parsed) and parsed.origin == "selectors"
    assert as_items(parsed) == list(page.items)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_a_source_without_list_reads_the_page_by_detection(page: ListPage) -> None:
    parsed = parse(answer(page, page.html), source_for(page))
    assert isinstance(parsed, Parsed) and parsed.origin == "detection" and not parsed.notice
    assert as_items(parsed) == list(page.items)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_selectors_broken_by_a_class_rename_fall_back_and_say_what_to_write(
    page: ListPage,
) -> None:
    before = detect(page.html, page.url, now=page.fetched).selectors
    assert before is not None
    configured = source_for(page, ListSelectors(**before.as_dict()))
    renamed = page.variant("class renamed")
    parsed = parse(answer(page, renamed), configured)
    assert isinstance(parsed, Parsed) and parsed.origin == "detection"
    assert as_items(parsed) == list(page.items)  # the poll still reads the list
    after = detect(renamed, page.url, now=page.fetched).selectors
    assert parsed.notice and parsed.notice.endswith(f"update list to {after}")
    assert "matched nothing" in parsed.notice


def test_a_page_with_no_dated_list_has_nothing_to_detect() -> None:
    nav_only = """<html><head><title>首页</title></head><body>
    <ul class="nav"><li><a href="/a/">机构概况</a></li><li><a href="/b/">新闻中心</a></li>
    <li><a href="/c/">政务公开</a></li></ul><div class="footer"><a href="/map/">网站地图</a>
    <a href="/contact/">联系我们</a> 2025-09-10 更新</div></body></html>"""
    assert detect(nav_only, "https://x.example.cn/").entries == ()


def test_advertised_feeds_nearest_first_without_comment_feeds() -> None:
    head = """<html><head>
    <link rel="alternate" type="application/rss+xml" title="全站" href="/feed/">
    <link rel="alternate" type="application/rss+xml" title="评论" href="/comments/feed/">
    <link rel='alternate' type='application/atom+xml' href='/news/zlqs/feed/'>
    <link rel="stylesheet" href="/a.css"></head><body></body></html>"""
    assert advertised_feeds(head, "https://x.example.cn/news/zlqs/index.html") == [
        "https://x.example.cn/news/zlqs/feed/",
        "https://x.example.cn/feed/",
    ]
    assert advertised_feeds("<html><head></head></html>", "https://x.example.cn/") == []
    assert looks_like_feed('<?xml version="1.0"?>\n<rss version="2.0">')
    assert not looks_like_feed("<!DOCTYPE html><html><rss>")


def test_cms_families_are_recognised() -> None:
    jcms = '<script type="text/xml"><datastore><record><![CDATA[<li>]]></record>'
    assert cms_family(jcms, "https://x.example.cn/col/col1229003072/index.html") == "jcms"
    assert cms_family('<script parseType="bulidstatic" url="/api">', "https://x/") == "jpaas"
    assert cms_family("", "http://amr.example.gov.cn/gkmlpt/index") == "gkmlpt"
    trs = next(p for p in PAGES if p.name == "trs-wcm")
    assert cms_family(trs.html, trs.url) == "trs"
    assert cms_family("<html></html>", "https://x/") is None


# ── against the fixture site ────────────────────────────────────────────────


async def test_a_page_that_advertises_a_feed_is_read_through_the_feed(
    newssite: NewsSite,
) -> None:
    source = HtmlSource(
        id="with-feed", name="w", kind="html", url=newssite.url_for("/with-feed/list.html")
    )
    async with Fetcher(retries=0) as fetcher:
        listing = await read_listing(source, fetcher, timeout=5)
        configured = source.model_copy(update={"list": ListSelectors(item="ul.news-list li")})
        on_page = await read_listing(configured, fetcher, timeout=5)
    assert listing.origin == "feed" and listing.requests == 2
    assert newssite.hits["/feed.xml"] == 1
    assert all(e.guid and e.guid.startswith("urn:newssite:") for e in listing.entries)
    assert on_page.origin == "selectors"  # configured selectors: the page, not the feed
    assert len(on_page.entries) == 6 and newssite.hits["/feed.xml"] == 1


async def test_a_list_without_selectors_is_read_like_the_configured_one(
    newssite: NewsSite,
) -> None:
    url = newssite.url_for("/gbk/list.html")
    detected = HtmlSource(id="auto", name="a", kind="html", url=url)
    configured = detected.model_copy(
        update={"list": ListSelectors(item="ul.news-list li", date="span.date")}
    )
    async with Fetcher(retries=0) as fetcher:
        auto = await read_listing(detected, fetcher, timeout=5)
        known = await read_listing(configured, fetcher, timeout=5)
    assert auto.origin == "detection" and known.origin == "selectors"
    assert len(auto.entries) == 6
    assert [(e.url, e.title, e.published) for e in auto.entries] == [
        (e.url, e.title, e.published) for e in known.entries
    ]


def test_check_fetch_says_where_items_came_from_and_dates_as_the_page_shows_them(
    tmp_path: Path,
    newssite: NewsSite,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = newssite.url
    config = tmp_path / "sources.yaml"
    config.write_text(
        f"""\
version: 1
sources:
  - {{id: chosen, name: c, kind: html, url: "{root}/gbk/list.html",
      list: {{item: "ul.news-list li", date: "span.date"}}}}
  - {{id: found, name: f, kind: html, url: "{root}/gbk/list.html"}}
  - {{id: broken, name: b, kind: html, url: "{root}/gbk/list.html",
      list: {{item: "ul.gone li", date: "span.date"}}}}
  - {{id: fed, name: w, kind: html, url: "{root}/with-feed/list.html"}}
  - {{id: feed, name: r, kind: rss, url: "{root}/feed.xml"}}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["--config", str(config), "check", "--fetch"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0]  # notes follow the table
    header, *lines = table.splitlines()[1:]
    assert header.split()[:6] == ["source", "kind", "status", "entries", "newest", "list"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows["chosen"][5] == "selectors" and rows["found"][5] == "detection"
    assert rows["broken"][5] == "detection" and rows["fed"][5] == "feed"
    assert rows["feed"][5] == "-"
    broken = next(line for line in lines if line.startswith("broken"))
    assert "list selector 'ul.gone li' matched nothing" in broken
    assert 'update list to {item: "ul.news-list > li", date: "span.date"}' in broken
    # 2025-09-10 on the page is 2025-09-10 in the table (China time), not the day before.
    newest = max(a["published"] for a in newssite.articles if "gbk" in a["listed_in"])
    assert f'<span class="date">{newest}</span>' in newssite.page("/gbk/list.html").body.decode(
        "gbk"
    )
    assert rows["chosen"][4] == newest and rows["found"][4] == newest


def test_a_link_listed_twice_is_one_entry_as_the_html_reader_gives_it() -> None:
    page = """<html><head><title>通知公告_示例局</title></head><body><ul class="l">
    <li><a href="/a/1.html">置顶：关于质量月活动的通知</a><span>2025-09-12</span></li>
    <li><a href="/a/1.html">关于质量月活动的通知</a><span>2025-09-12</span></li>
    <li><a href="/a/2.html">关于计量培训的通知</a><span>2025-09-10</span></li></ul></body></html>"""
    found = detect(page, "https://x.example.cn/tzgg/")
    assert [e.url for e in found.entries] == [
        "https://x.example.cn/a/1.html",
        "https://x.example.cn/a/2.html",
    ]
    assert found.selectors is not None and found.selectors.item == "ul.l > li"
