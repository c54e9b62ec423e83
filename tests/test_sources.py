"""Parsers and the extractor on the fixture site's pages (bytes in, data out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from monitor import sources
from monitor.config import ArticleSelectors, HtmlSource, ListSelectors, RssSource
from monitor.errors import ParseError
from monitor.extract import extract_article, is_date_only, parse_date
from monitor.fetch import decode
from monitor.model import FetchResult
from monitor.normalize import normalize_article
from monitor.sources import PARSERS, parse
from tests.servers.newssite import NewsSite

ROOT = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def site() -> NewsSite:
    return NewsSite()  # not started: pages are rendered without a server


def fetched(site: NewsSite, path: str) -> FetchResult:
    page = site.page(path, root=ROOT)
    assert page is not None, path
    charset = page.content_type.partition("charset=")[2] or None
    text, encoding = decode(page.body, declared=charset)
    return FetchResult(
        url=ROOT + path,
        final_url=ROOT + path,
        status=200,
        content=page.body,
        text=text,
        encoding=encoding,
    )


RSS = RssSource(id="feed", name="Feed", kind="rss", url=ROOT + "/feed.xml")
HTML = HtmlSource(
    id="gbk",
    name="GBK list",
    kind="html",
    url=ROOT + "/gbk/list.html",
    list=ListSelectors(item="ul.news-list li", link="a", date="span.date"),
)


def test_builtin_kinds_are_registered() -> None:
    assert {"rss", "html"} <= set(PARSERS)


def test_rss_entries_have_absolute_links_dates_and_guids(site: NewsSite) -> None:
    entries = parse(fetched(site, "/feed.xml"), RSS)
    assert len(entries) >= 5
    assert all(e.url.startswith(ROOT + "/news/") for e in entries)
    assert all(e.guid and e.guid.startswith("urn:newssite:") for e in entries)
    assert any(e.published is not None for e in entries)
    assert all(e.source_id == "feed" for e in entries)


def test_atom_feed_parses_too(site: NewsSite) -> None:
    assert parse(fetched(site, "/atom.xml"), RSS)


def test_gbk_list_page_resolves_relative_links_and_full_titles(site: NewsSite) -> None:
    entries = parse(fetched(site, "/gbk/list.html"), HTML)
    assert len(entries) >= 5
    assert all(e.url.startswith(ROOT + "/news/zh/") for e in entries)
    assert all(e.published is not None for e in entries)
    assert not any(t.title.endswith("…") for t in entries)  # the title attribute wins over cut text


def test_a_selector_that_matches_nothing_is_an_error_naming_the_source(site: NewsSite) -> None:
    # An article page: its lists (navigation, related links, topics) carry no dates, so
    # detection cannot stand in for the selector (tests/test_detect.py: when it can).
    broken = HTML.model_copy(update={"list": ListSelectors(item="div.gone")})
    with pytest.raises(ParseError, match=r"\[gbk\] list selector 'div.gone' matched nothing"):
        parse(fetched(site, "/news/zh/sc-opinions-zh.html"), broken)


def test_malformed_feed_is_a_parse_error(newssite: NewsSite) -> None:
    import httpx

    body = httpx.get(newssite.url_for("/fault/garbage")).content
    result = FetchResult(url="u", final_url="http://x/", status=200, content=body, text="")
    with pytest.raises(ParseError, match=r"\[feed\] not a readable feed"):
        parse(result, RSS)


@pytest.mark.parametrize("article_id", ["sc-opinions-zh", "sc-quality-month-zht"])
def test_extraction_ends_where_the_article_ends(site: NewsSite, article_id: str) -> None:
    [article] = [a for a in site.articles if a["id"] == article_id]
    result = fetched(site, f"/news/zh/{article_id}.html")
    page = extract_article(
        result.text, result.final_url, ArticleSelectors(content="div.article-content")
    )
    assert page.published is not None
    normal = normalize_article(page.title, page.text)
    paragraphs = [p.strip() for p in article["body"].split("\n\n") if p.strip()]
    last = paragraphs.index(article["article_ends_with"].strip())
    if "记者" in paragraphs[last] or "記者" in paragraphs[last]:
        last -= 1  # the byline closes the article but is not part of its text
    assert normal.text.endswith(normalize_article("", paragraphs[last]).text)
    assert "网络安全" not in normal.text and "转载" not in normal.text


def test_extraction_without_selectors_uses_metadata_and_trafilatura(site: NewsSite) -> None:
    result = fetched(site, "/news/sc-opinions-en.html")
    page = extract_article(result.text, result.final_url)
    assert "Implementation Opinions" in page.text
    assert page.title
    assert "备案" not in page.text and "Related" not in page.text.splitlines()[0]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2025-09-10", "2025-09-09T16:00:00+00:00"),
        ("发布时间:2025年9月10日 10:30", "2025-09-10T02:30:00+00:00"),
        ("[2023/9/11]", "2023-09-10T16:00:00+00:00"),
        ("2021-09-16T08:00:00Z", "2021-09-16T08:00:00+00:00"),
    ],
)
def test_dates(text: str, iso: str) -> None:
    value = parse_date(text)
    assert value is not None and value.isoformat() == iso


def test_no_date() -> None:
    assert parse_date("December 27") is None
    assert parse_date("2025-13-45") is None


def test_source_objects_are_plain_config() -> None:
    # Parsers need only what the config declares; a stand-in works the same.
    stand_in = SimpleNamespace(id="x", kind="rss")
    assert stand_in.kind in PARSERS


# ── the CMS families (pages rendered by the fixture site, parsed offline) ────


def cms(site: NewsSite, path: str, query: str = "") -> FetchResult:
    page = site.page(path, root=ROOT, query=query)
    assert page is not None, path
    url = ROOT + path + (f"?{query}" if query else "")
    return FetchResult(
        url=url,
        final_url=url,
        status=200,
        content=page.body,
        text=page.body.decode("utf-8"),
        encoding="utf-8",
    )


def load(kind_yaml: str) -> Any:
    from monitor.config import parse_config

    return parse_config(f"version: 1\nsources:\n  - {kind_yaml}\n", env={}).sources[0]


def listed_zh(site: NewsSite) -> list[dict[str, Any]]:
    return sorted(
        (a for a in site.articles if "gbk" in a["listed_in"]),
        key=lambda a: (a["published"] or "", a["time"]),
        reverse=True,
    )


def test_new_kinds_are_registered_with_their_planners() -> None:
    from monitor.sources import PLANNERS, STEPPERS

    assert {"jcms", "jpaas", "gkmlpt", "json"} <= set(PARSERS)
    assert {"jcms", "jpaas", "gkmlpt", "json"} <= set(PLANNERS)
    assert "jpaas" in STEPPERS


def test_jcms_column_page_records(site: NewsSite) -> None:
    source = load(f'{{id: zj, name: z, kind: jcms, url: "{ROOT}/jcms/col/col1229/index.html"}}')
    request = sources.request(source)
    assert request is not None and request.method == "GET"
    entries = parse(cms(site, "/jcms/col/col1229/index.html"), source)
    expected = listed_zh(site)
    assert [e.url for e in entries] == [f"{ROOT}/news/zh/{a['id']}.html" for a in expected]
    assert [e.title for e in entries] == [a["title"] for a in expected]  # title attr, not "…"
    assert all(e.published is not None for e in entries)


def test_jcms_record_api_request_and_answer(site: NewsSite) -> None:
    source = load(
        f'{{id: js, name: j, kind: jcms, url: "{ROOT}/jcms/col/col76705/index.html",'
        " unitid: 297999, webid: 1, records: 2}"
    )
    first, second = sources.request(source, 1), sources.request(source, 2)
    assert first is not None and second is not None
    assert first.method == "POST" and "startrecord=1&endrecord=2" in first.url
    assert "startrecord=3&endrecord=4" in second.url
    assert (
        dict(first.form or ()).items()
        >= {"webid": "1", "columnid": "76705", "unitid": "297999"}.items()
    )
    assert first.key != second.key and first.key.startswith("POST ")
    page = site.dataproxy(
        {"startrecord": ["1"], "endrecord": ["2"]},
        {"webid": ["1"], "columnid": ["1"], "unitid": ["1"]},
    )
    assert page is not None
    result = FetchResult(
        url=first.url, final_url=first.url, status=200, content=page.body, text=page.body.decode()
    )
    entries = parse(result, source)
    assert [e.title for e in entries] == [a["title"] for a in listed_zh(site)[:2]]


def test_jcms_records_survive_a_broken_datastore() -> None:
    source = load(f'{{id: b, name: b, kind: jcms, url: "{ROOT}/col/col1/index.html"}}')
    text = (
        "<datastore><recordset><record><![CDATA[<li><a href='/art/2025/9/10/art_1_1.html' "
        "title='质量强省'>质量强省</a><span>2025-09-10</span></li>]]></record>"
        "<record>&lt;li&gt;&lt;a href=&quot;/art/2025/9/9/art_1_2.html&quot;&gt;质量月"
        "&lt;/a&gt;&lt;/li&gt;</record><record><![CDATA[<li>unclosed <a href='/x'"
    )
    result = FetchResult(url=ROOT, final_url=ROOT + "/col/col1/index.html", status=200, text=text)
    entries = parse(result, source)
    assert [e.url for e in entries] == [
        ROOT + "/art/2025/9/10/art_1_1.html",
        ROOT + "/art/2025/9/9/art_1_2.html",
    ]
    with pytest.raises(ParseError, match=r"\[b\] no JCMS <record>"):
        parse(FetchResult(url=ROOT, final_url=ROOT, status=200, text="<html></html>"), source)


def test_jpaas_shell_names_the_api_and_its_fragment_is_the_list(site: NewsSite) -> None:
    source = load(f'{{id: samr, name: s, kind: jpaas, url: "{ROOT}/jpaas/xw/zj/"}}')
    shell = cms(site, "/jpaas/xw/zj/")
    api = sources.step(shell, source)
    assert api is not None and "/front/page/build/unit?" in api.url
    assert "webId=29e9522dc89d4e088a953d8cede72f4c" in api.url and "tagId=" in api.url
    query = api.url.split("?", 1)[1]
    answer = cms(site, "/api-gateway/jpaas-publish-server/front/page/build/unit", query)
    assert sources.step(answer, source) is None  # the API's answer is final
    entries = parse(answer, source)
    assert [e.title for e in entries] == [a["title"] for a in listed_zh(site)]
    assert all(e.url.startswith(ROOT + "/news/zh/") and e.published for e in entries)


def test_jpaas_with_ids_asks_the_api_directly() -> None:
    source = load(
        f'{{id: samr, name: s, kind: jpaas, url: "{ROOT}/xw/zj/", webid: w, pageid: p,'
        " tplsetid: t, page_size: 5}"
    )
    request = sources.request(source, 2)
    assert request is not None and "webId=w" in request.url and "pageNo%22%3A+2" in request.url
    with pytest.raises(ParseError, match=r"\[samr\] no jpaas build script"):
        sources.step(
            FetchResult(url=ROOT, final_url=ROOT + "/xw/zj/", status=200, text="<html></html>"),
            source,
        )


def test_gkmlpt(site: NewsSite) -> None:
    source = load(
        f'{{id: gd, name: g, kind: gkmlpt, url: "{ROOT}/gkmlpt/index", column: 5, sid: 2}}'
    )
    request = sources.request(source, 2)
    assert request is not None and request.url == f"{ROOT}/gkmlpt/api/all/5?page=2&sid=2"
    entries = parse(cms(site, "/gkmlpt/api/all/5", "page=1"), source)
    expected = listed_zh(site)[: site.page_size]
    assert [e.title for e in entries] == [a["title"] for a in expected]
    assert all(e.published is not None and e.guid for e in entries)


def test_json_search_with_highlighted_titles(site: NewsSite) -> None:
    source = load(
        f'{{id: gov, name: g, kind: json, url: "{ROOT}/search-gov/data?q=质量强省",'
        " headers: {Referer: 'https://sousuo.www.gov.cn/'},"
        " fields: {items: searchVO.catMap.*.listVO, title: title, url: url, date: pubtimeStr}}"
    )
    request = sources.request(source)
    assert request is not None and ("Referer", "https://sousuo.www.gov.cn/") in request.headers
    entries = parse(cms(site, "/search-gov/data", "q=质量强省"), source)
    assert entries and not any("<em>" in e.title for e in entries)
    assert any("质量强省" in e.title for e in entries)
    assert all(e.published is not None for e in entries)
    # no hits is an empty list, not an error; a wrong path is an error
    assert parse(cms(site, "/search-gov/data", "q=不存在的词"), source) == []
    wrong = source.model_copy(update={"fields": source.fields.model_copy(update={"items": "x.y"})})
    with pytest.raises(ParseError, match=r"\[gov\] no 'x.y'"):
        parse(cms(site, "/search-gov/data", "q=质量强省"), wrong)


def test_json_jsonp_epochs_and_url_templates() -> None:
    source = load(
        "{id: pp, name: p, kind: json, url: 'https://api.example.cn/gov', method: POST,"
        " body: {pageNum: 1, pphId: 42},"
        " fields: {items: data.list, title: name, url_template: 'https://m.example.cn/detail/{contId}',"
        " date: pubTimeLong, guid: contId}}"
    )
    request = sources.request(source)
    assert request is not None and request.method == "POST" and request.json_body
    assert json.loads(request.json_body) == {"pageNum": 1, "pphId": 42}
    text = (
        'cb({"data": {"list": [{"contId": 7, "name": "质量月 &amp; 品牌",'
        ' "pubTimeLong": 1757469600000}, {"name": "no id"}]}});'
    )
    result = FetchResult(url="u", final_url="https://api.example.cn/gov", status=200, text=text)
    [entry] = parse(result, source)
    assert entry.url == "https://m.example.cn/detail/7" and entry.title == "质量月 & 品牌"
    assert entry.guid == "7" and entry.published is not None
    assert entry.published.isoformat() == "2025-09-10T02:00:00+00:00"
    with pytest.raises(ParseError, match=r"\[pp\] not JSON"):
        parse(FetchResult(url="u", final_url="u", status=200, text="<html>412</html>"), source)


def test_broken_feed_keeps_its_entries_and_says_so(newssite: NewsSite) -> None:
    import httpx

    body = httpx.get(newssite.url_for("/fault/recovered.xml")).content
    result = FetchResult(url="u", final_url=newssite.url, status=200, content=body)
    entries = parse(result, RSS)
    assert len(entries) == 2 and entries[0].title == "浙江召开质量强省工作会议"
    assert getattr(entries, "warnings", None) and "malformed feed" in entries.warnings[0]
    assert not getattr(parse(fetched(site_of(), "/feed.xml"), RSS), "warnings", [])


def site_of() -> NewsSite:
    return NewsSite()


def test_month_day_dates_take_the_year_from_the_fetch() -> None:
    now = datetime(2025, 11, 20, 4, tzinfo=UTC)
    assert parse_date("[09-10]", now=now) == datetime(2025, 9, 9, 16, tzinfo=UTC)
    assert parse_date("12-30", now=now) == datetime(2024, 12, 29, 16, tzinfo=UTC)  # last year's
    assert parse_date("9月10日 10:30", now=now) == datetime(2025, 9, 10, 2, 30, tzinfo=UTC)
    assert parse_date("[09-10]") is None  # without a clock there is no year
    assert parse_date("增长1.5%", now=now) is None and parse_date("3-5家企业", now=now) is None


def test_list_dates_without_a_year(site: NewsSite) -> None:
    html = (
        '<ul class="l"><li><a href="/a.html">质量强省</a><span>[09-10]</span></li>'
        '<li><a href="/a.html">duplicate</a></li><li><a href="javascript:void(0)">x</a></li></ul>'
    )
    result = FetchResult(
        url=ROOT,
        final_url=ROOT + "/",
        status=200,
        text=html,
        fetched_at=datetime(2025, 11, 20, tzinfo=UTC),
    )
    source = HTML.model_copy(update={"list": ListSelectors(item="ul.l li", date="span")})
    [entry] = parse(result, source)  # the duplicate link collapsed, javascript: skipped
    assert entry.published == datetime(2025, 9, 9, 16, tzinfo=UTC)
    assert is_date_only(entry.published)


def test_page_furniture_inside_the_content_element_is_dropped() -> None:
    page = """<html><head><meta name="ArticleTitle" content="质量强省大会召开">
    <meta name="PubDate" content="2025-09-10 10:00"></head><body>
    <div class="article-content">
      <p>9月10日，全省质量大会在成都召开，部署质量强省建设。</p>
      <div class="share-bar">分享到：微信 微博</div>
      <div class="bdsharebuttonbox"><a>QQ空间</a></div>
      <ul class="related"><li>相关新闻：某地召开网络安全会议</li></ul>
      <div id="comments"><h3>网友评论</h3><p>说得好！</p></div>
      <p>会议表彰了省长质量奖获奖企业。</p>
      <footer>主办单位：示例网 备案号</footer>
      <div class="print"><a>【打印本页】</a><a>【关闭窗口】</a></div>
    </div></body></html>"""
    extracted = extract_article(page, ROOT, ArticleSelectors(content="div.article-content"))
    assert extracted.text.splitlines() == [
        "9月10日，全省质量大会在成都召开，部署质量强省建设。",
        "会议表彰了省长质量奖获奖企业。",
    ]
    assert extracted.title == "质量强省大会召开" and extracted.published is not None
    # without a selector the body is read the same way when trafilatura finds nothing
    body_only = extract_article(page.replace('class="article-content"', ""), ROOT)
    assert "网友评论" not in body_only.text and "分享到" not in body_only.text
