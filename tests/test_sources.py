"""Parsers and the extractor on the fixture site's pages (bytes in, data out)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from monitor.config import ArticleSelectors, HtmlSource, ListSelectors, RssSource
from monitor.errors import ParseError
from monitor.extract import extract_article, parse_date
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
    broken = HTML.model_copy(update={"list": ListSelectors(item="div.gone")})
    with pytest.raises(ParseError, match=r"\[gbk\] list selector 'div.gone' matched nothing"):
        parse(fetched(site, "/gbk/list.html"), broken)


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
