"""Parsers and the extractor on the fixture site's pages (bytes in, data out)."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ── feeds read as feedparser reads them ─────────────────────────────────────

_ATOM_HEAD = '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
_RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
    ' xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<channel><title>t</title>"
)
# (feed, the links both paths find, the first entry's date)
AGREE = {
    "atom: no link, a URL id": (
        f"{_ATOM_HEAD}><entry><id>http://x.cn/a/1.html</id><title>一</title></entry>"
        "<entry><id>tag:x.cn,2026:2</id><title>二</title></entry>"
        '<entry><id>http://x.cn/a/3.html</id><link href="ftp://x.cn/3"/></entry></feed>',
        ["http://x.cn/a/1.html"],  # a tag: id is no link; an alternate, even ftp:, wins
        None,
    ),
    "atom: an enclosure before the alternate": (
        f"{_ATOM_HEAD}><entry><id>urn:x:1</id>"
        '<link rel="enclosure" href="http://x.cn/1.mp3"/><link href="http://x.cn/1.html"/>'
        "</entry><entry><id>urn:x:2</id>"
        '<link rel="enclosure" href="http://x.cn/2.pdf"/><link rel="related" href="/2.html"/>'
        "</entry><entry><id>urn:x:3</id>"
        '<link rel="enclosure" href="http://x.cn/3.pdf"/></entry></feed>',
        ["http://x.cn/1.html", "http://x.cn/2.html"],  # an enclosure is no article
        None,
    ),
    "atom: the last HTML alternate, not a PDF one": (
        f'{_ATOM_HEAD} xmlns:dcterms="http://purl.org/dc/terms/"><entry><id>urn:x:1</id>'
        '<link href="http://x.cn/old.html"/><link href="http://x.cn/new.html" type="html"/>'
        '<link href="http://x.cn/1.pdf" type="application/pdf"/>'
        "<dcterms:created>2026-03-02T08:00:00Z</dcterms:created></entry></feed>",
        ["http://x.cn/new.html"],
        datetime(2026, 3, 2, 8, tzinfo=UTC),
    ),
    "rss: dcterms dates and enclosures": (
        f"{_RSS_HEAD}<item><title>一</title><link>http://x.cn/1.html</link>"
        '<enclosure url="http://x.cn/1.mp3" type="audio/mpeg" length="1"/>'
        "<dcterms:modified>2026-03-01T08:00:00+08:00</dcterms:modified>"
        "<dcterms:created>2026-02-01T08:00:00Z</dcterms:created></item>"
        '<item><title>二</title><guid>http://x.cn/2.html</guid><enclosure url="http://x.cn/2.pdf"/>'
        "<dcterms:created>2026-02-01T08:00:00Z</dcterms:created></item>"
        '<item><title>三</title><enclosure url="http://x.cn/3.pdf"/></item></channel></rss>',
        ["http://x.cn/1.html", "http://x.cn/2.html"],
        datetime(2026, 3, 1, 0, tzinfo=UTC),  # modified (updated) before created
    ),
    "rss: a later date of a kind replaces an earlier one": (
        f"{_RSS_HEAD}<item><title>一</title><link>http://x.cn/1.html</link>"
        "<dc:date>2026-01-01T00:00:00Z</dc:date><dcterms:modified>2026-01-05T00:00:00Z"
        "</dcterms:modified><dcterms:issued>2026-01-03T00:00:00Z</dcterms:issued></item>"
        "</channel></rss>",
        ["http://x.cn/1.html"],
        datetime(2026, 1, 3, tzinfo=UTC),  # issued is a published date: it comes first
    ),
    "rdf: dcterms:modified": (
        '<?xml version="1.0" encoding="utf-8"?><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dcterms="http://purl.org/dc/terms/">'
        '<channel rdf:about="http://x.cn/"><title>t</title></channel>'
        '<item rdf:about="http://x.cn/1.html"><title>一</title><link>http://x.cn/1.html</link>'
        "<dcterms:modified>2026-04-01T00:00:00Z</dcterms:modified></item></rdf:RDF>",
        ["http://x.cn/1.html"],
        datetime(2026, 4, 1, tzinfo=UTC),
    ),
}


def _feed_result(content: bytes, *, text: str | None = None) -> FetchResult:
    decoded, encoding = decode(content)
    return FetchResult(
        url="http://x.cn/feed.xml",
        final_url="http://x.cn/feed.xml",
        status=200,
        content=content,
        text=decoded if text is None else text,
        encoding=encoding if text is None else None,
    )


@pytest.mark.parametrize("name", AGREE)
def test_the_fast_path_and_feedparser_give_one_answer(name: str) -> None:
    from monitor.sources import rss

    feed, links, when = AGREE[name]
    content = feed.encode()
    fast = rss._read_fast(_feed_result(content), RSS)
    assert fast is not None, "plain UTF-8 feeds are read by the fast path"
    slow = parse(_feed_result(content, text=""), RSS)  # no text: the fast path declines
    essentials = [
        [(e.url, e.title, e.published, e.guid) for e in entries] for entries in (fast, slow)
    ]
    assert essentials[0] == essentials[1]
    assert [e.url for e in fast] == links
    assert fast[0].published == when


def test_a_small_plain_feed_is_read_inline_as_parse_reads_it() -> None:
    feed = AGREE["rss: dcterms dates and enclosures"][0].encode()
    inline = sources.parse_inline(_feed_result(feed), RSS)
    assert inline is not None and inline == parse(_feed_result(feed), RSS)
    # a broken link is dropped inline as parse drops it
    broken = feed.replace(b"http://x.cn/1.html", b"http://x.cn:99999/1.html")
    assert [e.url for e in sources.parse_inline(_feed_result(broken), RSS) or []] == [
        "http://x.cn/2.html"
    ]
    # feedparser's feeds, big answers and other kinds go to parse (in a thread)
    assert sources.parse_inline(_feed_result(feed, text=""), RSS) is None
    padded = feed.replace(
        b"<title>t</title>", b"<title>" + b"t" * sources.INLINE_BYTES + b"</title>"
    )
    assert sources.parse_inline(_feed_result(padded), RSS) is None
    assert sources.parse_inline(_feed_result(feed), HTML) is None


# The fast path's shortcuts give what the slow calls give, on every input.
_LINK_PIECES = [
    "http://", "https://", "HTTP://", "http:", "//", "x.cn", "127.0.0.1", ":80", ":65536", ":",
    ":99999", "/a", "/../b", "/./", "?", "#", "?q=1", "#f", ";p", "[::1]", "[x", "é", "%41",
    "@", "u:p@", "/a;b", "?#", "#?", "//x", " ", "\t", "\n", "\x01", "|",
]  # fmt: skip
_BASES = [
    "http://x.cn/feed.xml", "https://x.cn/a/b/", "http://[::1]:80/f", "http://[x/f", "",
    "feed://x/y", "http://é.cn/f", "http://x.cn/f?q#z", "HTTP://X.CN/",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from(_LINK_PIECES), min_size=1, max_size=7).map("".join),
    st.sampled_from(_BASES),
)
def test_join_and_fetchable_agree_with_urljoin_and_urlsplit(link: str, base: str) -> None:
    from urllib.parse import urljoin, urlsplit

    for candidate in (link, "http://" + link.lstrip(":/"), "https://x.cn" + link):
        try:
            joined = urljoin(base, candidate)
        except ValueError:
            joined = ""
        assert sources.join(base, candidate) == joined
        try:
            parts = urlsplit(candidate)
            fetchable = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018
        except ValueError:
            fetchable = False
        assert sources._fetchable(candidate) == fetchable


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["", "Mon, ", "Sun, ", "mon, ", "Thu "]),
    st.sampled_from(["1", "07", "29", "30", "31", "00", "32"]),
    st.sampled_from(["Jan", "Feb", "Oct", "Dec", "jan", "Foo"]),
    st.sampled_from(["2026", "1899", "1900", "9998", "9999", "0001", "26"]),
    st.sampled_from(["00:00:00", "23:59:59", "24:00:00", "10:60:00", "10:00:60", "9:00:00"]),
    st.sampled_from(["GMT", "UT", "Z", "UTC", "+0800", "-0530", "+9959", "EST", "gmt", "+08:00"]),
)
def test_rfc822_dates_read_as_feedparser_reads_them(
    day_name: str, day: str, month: str, year: str, clock: str, zone: str
) -> None:
    from feedparser.datetimes import _parse_date

    from monitor.sources import rss

    text = f"{day_name}{day} {month} {year} {clock} {zone}"
    theirs = _parse_date(text)
    ours = rss._parse_date(text)
    if isinstance(ours, datetime):
        assert theirs is not None and rss._utc(theirs) == ours
    else:
        assert ours == theirs


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-be", True),
        ("utf-16-le", True),
        ("utf-32-le", True),
        ("utf-32-be", True),
        ("utf-16-be", False),
        ("utf-16-le", False),
        ("utf-32-le", False),
        ("utf-32-be", False),
    ],
)
def test_utf16_and_utf32_feeds_are_read_with_or_without_a_bom(codec: str, bom: bool) -> None:
    import codecs

    import feedparser

    family = codec[:6]  # utf-16 or utf-32: what such feeds declare
    text = AGREE["rss: dcterms dates and enclosures"][0].replace(
        'encoding="utf-8"', f'encoding="{family}"'
    )
    marks = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-16-le": codecs.BOM_UTF16_LE}
    marks |= {"utf-32-be": codecs.BOM_UTF32_BE, "utf-32-le": codecs.BOM_UTF32_LE}
    content = (marks[codec] if bom else b"") + text.encode(codec)
    entries = parse(_feed_result(content), RSS)
    assert [e.title for e in entries] == ["一", "二"]
    alone = feedparser.parse(content)
    assert [e.title for e in alone.entries] == ["一", "二", "三"]  # the third: no article link


# ── article pages read as their readers see them ────────────────────────────

_PARAS = "".join(
    f"<p>第{i}段：全省市场监管系统开展产品质量专项抽查，抽查企业{i * 37}家，"
    f"合格率提高{i}个百分点。</p>"
    for i in range(1, 6)
)
_DISCLAIMER = (
    "<p>免责声明：本站文章仅供参考，不构成投资建议，据此操作风险自负。投资有风险，入市需谨慎。</p>"
)


def test_a_disclaimer_alone_sends_extraction_to_recall() -> None:
    # Precision-first trafilatura drops the <header> box and keeps the disclaimer.
    html = f"<html><body><header>{_PARAS}</header><div>{_DISCLAIMER * 3}</div></body></html>"
    page = extract_article(html, "http://x.cn/a.html")
    assert page.text.startswith("第1段：") and "第5段" in page.text


def test_the_whole_page_fallback_keeps_a_header_that_wraps_the_body() -> None:
    from bs4 import BeautifulSoup

    from monitor.extract import block_text, drop_furniture

    html = (
        "<html><body><header><nav><a href='/'>首页</a></nav><header>站点</header>"
        f"<h1>标题</h1>{_PARAS}</header></body></html>"
    )
    body = BeautifulSoup(html, "lxml").body
    assert body is not None
    text = block_text(drop_furniture(body))
    assert "第3段" in text and "首页" not in text and "站点" not in text


@pytest.mark.parametrize(
    ("head", "title"),
    [
        ("<title>全省产品质量抽查合格率提高-新华网</title>", "全省产品质量抽查合格率提高"),
        ("<title>关于开展质量月活动的通知_四川省人民政府</title>", "关于开展质量月活动的通知"),
        ("<meta property='og:title' content='抽查结果公布｜质量频道'>", "抽查结果公布"),
        (
            "<meta name='ArticleTitle' content='抽查结果公布-工作动态'>"
            "<meta name='ColumnName' content='工作动态'>",
            "抽查结果公布",
        ),
        ("<title>推进质量强省-工业互联网</title>", "推进质量强省-工业互联网"),  # a topic, no site
    ],
)
def test_a_site_name_glued_to_the_title_is_dropped(head: str, title: str) -> None:
    page = extract_article(f"<html><head>{head}</head><body>{_PARAS}</body></html>", "http://x.cn/")
    assert page.title == title


def test_a_date_under_the_headline_without_a_label_is_found() -> None:
    html = (
        "<html><body><div class='top'>今天是2026年1月1日</div>"
        "<h1>全省产品质量抽查合格率提高</h1><div class='info'>2026-03-02 09:30 来源：本网</div>"
        f"<div class='content'>{_PARAS}</div></body></html>"
    )
    page = extract_article(html, "http://x.cn/a.html")
    assert page.published == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


_UNUSUAL_PIECES = [
    b"x", b"xml:base", b"xhtml", b'type="xhtml"', b"type='xhtml'", b"type=", b'type="',
    b"<!DOCTYPE", b"<!ENTITY", b"<!", b"!", b"<", b"ml:base", b"a", b"\xe4\xb8\xad", b" ",
]  # fmt: skip


@settings(max_examples=3000)
@given(
    st.lists(st.sampled_from(_UNUSUAL_PIECES), max_size=14),
    st.integers(min_value=0, max_value=80),
)
def test_unusual_is_a_plain_substring_test(pieces: list[bytes], xs: int) -> None:
    """The fast path's refusal (memchr for ``!`` and ``x``, the first 64 ``x`` looked
    at in place, then scans) says what five substring tests say, wherever the
    patterns sit: before, among or after many x's."""
    from monitor.sources.rss import _UNUSUAL, _unusual

    for content in (b"".join(pieces), b"x" * xs + b"".join(pieces)):
        assert _unusual(content) == any(p in content for p in _UNUSUAL), content


_FEED = (
    '<rss version="2.0"><channel><title>t</title>'
    "<item><title>质量强省 TITLE</title><link>http://x.cn/a/1.html</link>"
    "<pubDate>Mon, 07 Dec 2026 10:00:00 GMT</pubDate><description>质量 BODY</description></item>"
    "</channel></rss>"
)
_LONG_DECL = '<?xml version="1.0"' + " " * 200 + 'encoding="ISO-8859-1"?>'
_UTF8 = _FEED.encode()
_BYTES = {
    "plain": _UTF8,
    "declared": b'<?xml version="1.0" encoding="UTF-8"?>\n' + _UTF8,
    "bom": codecs.BOM_UTF8 + _UTF8,
    "utf-16": _FEED.encode("utf-16"),
    "gbk": _FEED.encode("gbk"),
    "latin-1 declared late": (
        _LONG_DECL + _FEED.replace("质量强省", "é").replace("质量", "é")
    ).encode("latin-1"),
    "utf-8 declared latin-1 late": _LONG_DECL.encode() + _UTF8,
    **{
        f"utf-8 but {name}": _UTF8.replace(b"TITLE", bad)
        for name, bad in [
            ("ff", b"\xff"),
            ("a lone continuation", b"\x80"),
            ("overlong", b"\xc0\xaf"),
            ("a surrogate", b"\xed\xa0\x80"),
            ("above U+10FFFF", b"\xf4\x90\x80\x80"),
            ("cut", b"\xe8\xb4"),
        ]
    },
    "cut at the end": _UTF8 + b"\xe8\xb4",
}


@pytest.mark.parametrize("name", list(_BYTES))
@pytest.mark.parametrize(
    ("charset", "forced"), [(None, None), ("gbk", None), (None, "gbk"), (None, "utf-8")]
)
def test_a_feed_not_yet_decoded_reads_as_a_decoded_one(
    name: str, charset: str | None, forced: str | None
) -> None:
    """The fast path reads an answer the fetcher has not decoded (lxml checks its
    UTF-8) exactly as one decoded first, whatever the bytes, labels and forced
    encoding; a plain UTF-8 feed stays undecoded."""
    content = _BYTES[name]
    text, encoding = decode(content, declared=charset, forced=forced)
    eager = FetchResult(url="u", final_url="http://x.cn/", status=200, content=content,
                        text=text, encoding=encoding)  # fmt: skip
    lazy = FetchResult(url="u", final_url="http://x.cn/", status=200, content=content,
                       text=None, charset=charset, forced=forced)  # fmt: skip

    def outcome(result: FetchResult) -> object:
        try:
            return parse(result, RSS)
        except ParseError as exc:
            return str(exc)

    fast = sources.rss._read_fast(lazy, RSS)
    assert fast == sources.rss._read_fast(eager, RSS)
    if name in ("plain", "declared") and forced is None:
        assert fast and not lazy.decoded
    assert outcome(lazy) == outcome(eager)
