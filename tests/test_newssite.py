"""The fixture news site itself: its texts, labels, pages, conditional GETs and faults."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import httpx
import pytest
from bs4 import BeautifulSoup

try:  # `tests` is a package when the repository root is on sys.path
    from tests.servers.newssite import (
        CATEGORIES,
        CORPUS_FIELDS,
        CORPUS_PATH,
        LANGUAGES,
        NewsSite,
        article_path,
        article_text,
        corpus_text,
        load_articles,
        normalize_article,
        paragraphs,
        write_corpus,
    )
except ModuleNotFoundError:  # pytest's default rootdir-less layout puts tests/ on sys.path
    from servers.newssite import (  # type: ignore[no-redef]
        CATEGORIES,
        CORPUS_FIELDS,
        CORPUS_PATH,
        LANGUAGES,
        NewsSite,
        article_path,
        article_text,
        corpus_text,
        load_articles,
        normalize_article,
        paragraphs,
        write_corpus,
    )

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = {a["id"]: a for a in load_articles()}
EXPECTED_IDS = {
    "sc-opinions-zh",
    "sc-opinions-en",
    "gd-conference-en",
    "sc-quality-month-zht",
    "zj-award-zh",
    "cn-conference-en",
    "js-statistics-zh",
    "irr-water-zh",
    "irr-recall-zh",
    "irr-education-en",
    "irr-cyber-zh",
    "irr-highquality-zh",
}
# Python's names for what the pages declare; gb2312/gbk declarations are read as
# GB18030, their superset, as browsers do.
SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "utf-8": "utf-8"}


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as s:
        yield s


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # One client for the module: building its TLS context costs 0.1 s each time.
    with httpx.Client(timeout=10) as c:
        yield c


def _meta_charset(content: bytes) -> str:
    match = re.search(rb'charset=([A-Za-z0-9_-]+)"', content[:1024])
    assert match, "no meta charset"
    return match.group(1).decode().lower()


# --------------------------------------------------------------------------- texts


def test_articles_are_the_twelve_with_valid_labels() -> None:
    assert set(ARTICLES) == EXPECTED_IDS
    for a in ARTICLES.values():
        assert a["language"] in LANGUAGES
        assert 300 <= len(a["body"]) <= 1500, (a["id"], len(a["body"]))
        categories = a["category"] if isinstance(a["category"], list) else [a["category"]]
        assert set(categories) <= set(CATEGORIES)
        if a["relevant"]:
            assert a["province"] is not None, a["id"]
            assert "other" not in categories
        else:
            assert a["id"].startswith("irr-")
            assert (a["province"], a["category"], a["event"]) == (None, "other", None)
        if a["published"] is not None:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", a["published"])
        assert a["body"].encode(a["encoding"]).decode(a["encoding"]) == a["body"]
    events = {a["id"]: a["event"] for a in ARTICLES.values() if a["event"]}
    assert set(events) == {"sc-opinions-zh", "sc-opinions-en"}
    assert len(set(events.values())) == 1
    assert ARTICLES["cn-conference-en"]["province"] == ["CN", "CN-SD"]
    assert ARTICLES["gd-conference-en"]["published"] is None
    assert not re.search(r"\b20\d\d\b", article_text(ARTICLES["gd-conference-en"]))


def test_traits_of_the_hard_texts() -> None:
    zh = ARTICLES["sc-opinions-zh"]
    byline = "四川日报全媒体记者 张某"
    assert zh["article_ends_with"] == byline
    glued = zh["body"].split(byline, 1)[1].strip()
    assert glued == article_text(ARTICLES["irr-cyber-zh"])
    assert glued.splitlines()[2].startswith("华西都市报(记者 ")
    for fact in ("9月11日", "成都", "2027年", "2035年", "10个部分", "33条", "9项", "天府名品"):
        assert fact in zh["body"].split(byline)[0], fact

    en = ARTICLES["sc-opinions-en"]["body"]
    for fact in ("Chengdu", "press conference", "Tianfu Famous Products", "2027", "2035"):
        assert fact in en
    assert "Implementation Opinions on Accelerating the Construction of a Province with" in en
    assert "Photo by" in en
    assert en.endswith("(End)")

    zht = ARTICLES["sc-quality-month-zht"]
    annotated = re.findall(r"([\u4e00-\u9fff?])\(([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+)\)", zht["body"])
    assert {"實", "質", "強", "國", "設"} <= {c for c, _ in annotated}
    assert ("實", "shí") in annotated
    assert 2 <= sum(1 for c, _ in annotated if c == "?") <= 3
    assert "?(yōu)" in zht["body"]
    tail = zht["body"].split("【未經授權,嚴禁轉載!】", 1)[1].strip().split("\n\n")
    assert len(tail) == 5
    assert all("质量" in c or "質量" in c for c in tail)
    assert zht["article_ends_with"] in zht["body"].split("【未經授權")[0]


def test_corpus_file_is_generated_from_the_yaml(tmp_path: Path) -> None:
    expected = corpus_text()
    assert CORPUS_PATH.read_text(encoding="utf-8") == expected, (
        "run: python -m tests.servers.newssite --write-corpus"
    )
    assert write_corpus(tmp_path / "c.jsonl").read_text(encoding="utf-8") == expected
    records = [json.loads(line) for line in expected.splitlines()]
    assert [r["id"] for r in records] == list(ARTICLES)
    for r in records:
        assert tuple(r) == CORPUS_FIELDS
        a = ARTICLES[r["id"]]
        assert r["text"].split("\n", 1)[0] == r["title"] == a["title"]
        assert r["url"] is None
        assert (r["relevant"], r["province"], r["category"]) == (
            a["relevant"],
            a["province"],
            a["category"],
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Bad Id"}, "id"),
        ({"language": "zh-CN"}, "language"),
        ({"province": "Sichuan"}, "province"),
        ({"category": "news"}, "category"),
        ({"relevant": "yes"}, "relevant"),
        ({"relevant": False}, "province null"),  # an irrelevant article keeps no province
        ({"published": "11/09/2025"}, "published"),
        ({"listed_in": ["twitter"]}, "listed_in"),
        ({"article_ends_with": "not in the body"}, "article_ends_with"),
    ],
)
def test_invalid_labels_are_refused(change: dict[str, object], message: str) -> None:
    raw = {"id": "ok", "title": "t", "body": "b", "province": "CN-SC", **change}
    with pytest.raises(ValueError, match=message):
        normalize_article(raw)


# --------------------------------------------------------------------------- feeds


def test_rss_feed_lists_the_rss_articles_with_absolute_links(
    site: NewsSite, client: httpx.Client
) -> None:
    r = client.get(site.url + "/feed.xml")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    expected = [a for a in ARTICLES.values() if "rss" in a["listed_in"]]
    assert {e.title for e in feed.entries} == {a["title"] for a in expected}
    assert {"sc-opinions-en", "gd-conference-en", "sc-opinions-zh"} <= {
        e.id.removeprefix("urn:newssite:") for e in feed.entries
    }
    for e in feed.entries:
        a = ARTICLES[e.id.removeprefix("urn:newssite:")]
        assert e.link == site.url + article_path(a)
        assert e.summary == paragraphs(a)[0]
        assert ("published_parsed" in e) == (a["published"] is not None)
        assert client.get(e.link).status_code == 200
    sc = next(e for e in feed.entries if e.id == "urn:newssite:sc-opinions-zh")
    assert sc.published == "Thu, 11 Sep 2025 18:20:00 +0800"


def test_atom_feed(site: NewsSite, client: httpx.Client) -> None:
    r = client.get(site.url + "/atom.xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo
    assert feed.version == "atom10"
    ids = {e.id.removeprefix("urn:newssite:") for e in feed.entries}
    assert ids == {a["id"] for a in ARTICLES.values() if "atom" in a["listed_in"]}
    assert all(e.link.startswith(site.url + "/news/") for e in feed.entries)


# --------------------------------------------------------------------------- HTML pages


def test_gbk_list_page(site: NewsSite, client: httpx.Client) -> None:
    r = client.get(site.url + "/gbk/list.html")
    assert r.headers["content-type"] == "text/html; charset=GBK"
    assert b'content="text/html; charset=gb2312"' in r.content
    with pytest.raises(UnicodeDecodeError):
        r.content.decode("utf-8")
    with pytest.raises(UnicodeDecodeError):  # the traditional title is not in GB2312
        r.content.decode("gb2312")
    text = r.content.decode("gb18030")
    listed = [a for a in ARTICLES.values() if "gbk" in a["listed_in"]]
    assert "sc-quality-month-zht" in {a["id"] for a in listed}
    for a in listed:
        assert f'href="../news/zh/{a["id"]}.html"' in text
    items = BeautifulSoup(text, "lxml").select("ul.news-list li")
    assert len(items) == len(listed)
    for li in items:
        link = li.select_one("a")
        assert link is not None
        article = ARTICLES[link["href"].rsplit("/", 1)[1].removesuffix(".html")]
        assert link["title"] == article["title"]
        date = li.select_one("span.date")
        assert date is not None
        assert date.get_text() == article["published"]
        page = client.get(urljoin(str(r.url), str(link["href"])))
        assert page.status_code == 200
    assert "备" in text
    assert "ICP" in text


@pytest.mark.parametrize("article_id", sorted(EXPECTED_IDS))
def test_article_page_encoding_and_structure(
    site: NewsSite, client: httpx.Client, article_id: str
) -> None:
    a = ARTICLES[article_id]
    r = client.get(site.article_url(article_id))
    assert r.status_code == 200
    declared = _meta_charset(r.content)
    assert declared == a["charset_meta"]
    header = r.headers["content-type"]
    assert header == (
        f"text/html; charset={a['charset_header']}" if a["charset_header"] else "text/html"
    )
    text = r.content.decode(SUPERSET[declared])
    assert r.content == text.encode(a["encoding"])
    if a["language"] != "en" and a["encoding"] != "utf-8":
        with pytest.raises(UnicodeDecodeError):
            r.content.decode("utf-8")
    soup = BeautifulSoup(text, "lxml")
    title_meta = soup.find("meta", attrs={"name": "ArticleTitle"})
    assert title_meta is not None
    assert title_meta["content"] == a["title"]
    pubdate = soup.find("meta", attrs={"name": "PubDate"})
    if a["published"]:
        assert pubdate is not None
        assert pubdate["content"] == f"{a['published']} {a['time']}"
    else:
        assert pubdate is None
    assert soup.title is not None
    assert soup.title.get_text().startswith(a["title"])
    content = soup.select_one("div.article-content")
    assert content is not None
    texts = [p.get_text() for p in content.find_all("p") if p.get_text()]
    assert texts == paragraphs(a)
    assert len(soup.select("div.nav a")) >= 8
    assert soup.select_one("div.breadcrumb") is not None
    same_script = [
        x for x in ARTICLES.values() if (x["language"] == "en") == (a["language"] == "en")
    ]
    assert len(soup.select("div.sidebar ul.related a")) == min(5, len(same_script) - 1)
    assert soup.select_one("div.share-bar") is not None
    assert "ICP" in soup.select_one("div.footer").get_text()
    comments = soup.select("div.comments li")
    assert [c.get_text() for c in comments] == a["page_comments"]


def test_chinese_pages_declare_what_they_are(site: NewsSite, client: httpx.Client) -> None:
    zht = client.get(site.article_url("sc-quality-month-zht"))
    assert zht.headers["content-type"] == "text/html; charset=gb18030"
    assert "落實(shí)" in zht.content.decode("gb18030")
    assert "?(yōu)" in zht.text
    recall = client.get(site.article_url("irr-recall-zh"))
    assert recall.headers["content-type"] == "text/html"  # no charset in the header
    with pytest.raises(UnicodeDecodeError):  # meta says gb2312; 喆 is GBK only
        recall.content.decode("gb2312")
    assert "喆禾" in recall.content.decode("gb18030")
    # Every Chinese article also answers at /news/<id>.html, the English ones not under zh/.
    alias = client.get(site.url + "/news/sc-opinions-zh.html")
    assert alias.content == client.get(site.article_url("sc-opinions-zh")).content
    assert client.get(site.url + "/news/zh/sc-opinions-en.html").status_code == 404


def test_mislabelled_list_is_utf8_declared_gbk(site: NewsSite, client: httpx.Client) -> None:
    r = client.get(site.url + "/mislabelled/list.html")
    assert r.headers["content-type"] == "text/html; charset=gbk"
    assert _meta_charset(r.content) == "gbk"
    text = r.content.decode("utf-8")
    listed = [a for a in ARTICLES.values() if "mislabelled" in a["listed_in"]]
    assert {a["id"] for a in listed} == {"js-statistics-zh", "irr-cyber-zh"}
    for a in listed:
        assert a["title"] in text
        assert a["title"] not in r.content.decode("gb18030", errors="replace")
        href = f"news/{a['id']}.html"
        assert f'href="{href}"' in text
        page = client.get(urljoin(str(r.url), href))
        assert page.headers["content-type"] == "text/html; charset=gbk"
        assert a["title"] in page.content.decode("utf-8")
    assert client.get(site.url + "/mislabelled/news/sc-opinions-zh.html").status_code == 404


# --------------------------------------------------------------------------- conditional GET


@pytest.mark.parametrize(
    "path",
    [
        "/feed.xml",
        "/atom.xml",
        "/gbk/list.html",
        "/mislabelled/list.html",
        "/news/zh/zj-award-zh.html",
    ],
)
def test_unchanged_poll_fetches_nothing(site: NewsSite, client: httpx.Client, path: str) -> None:
    first = client.get(site.url + path)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong
    assert first.headers["last-modified"].endswith("GMT")
    again = client.get(site.url + path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = client.get(site.url + path, headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    since = client.get(
        site.url + path, headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert since.status_code == 304
    other = client.get(site.url + path, headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    assert other.content == first.content
    assert site.hits[path] == 5
    assert site.not_modified[path] == 3


def test_same_bytes_give_the_same_etag_across_sites(client: httpx.Client) -> None:
    with NewsSite() as one, NewsSite() as two:
        a = client.get(one.url + "/news/zh/sc-opinions-zh.html")
        b = client.get(two.url + "/news/zh/sc-opinions-zh.html")
    # The canonical link carries the port, so only the bytes' hash decides.
    assert (a.headers["etag"] == b.headers["etag"]) == (a.content == b.content)


def test_publish_and_unpublish(site: NewsSite, client: httpx.Client) -> None:
    feed1 = client.get(site.url + "/feed.xml")
    list1 = client.get(site.url + "/gbk/list.html")
    url = site.publish(
        {
            "id": "new-sc-brand",
            "title": "四川新增一批天府名品",
            "body": "四川省市场监管局公布新一批“天府名品”名单。\n\n第二段。",
            "published": "2025-10-20",
            "relevant": True,
            "province": "CN-SC",
            "category": "award_brand",
        }
    )
    assert url == site.url + "/news/zh/new-sc-brand.html"
    feed2 = client.get(site.url + "/feed.xml", headers={"If-None-Match": feed1.headers["etag"]})
    assert feed2.status_code == 200
    assert feed2.headers["etag"] != feed1.headers["etag"]
    entries = feedparser.parse(feed2.content).entries
    assert entries[0].link == url
    assert entries[0].title == "四川新增一批天府名品"
    assert len(entries) == len(feedparser.parse(feed1.content).entries) + 1
    since = client.get(
        site.url + "/gbk/list.html", headers={"If-Modified-Since": list1.headers["last-modified"]}
    )
    assert since.status_code == 200
    assert 'href="../news/zh/new-sc-brand.html"' in since.content.decode("gb18030")
    page = client.get(url)
    assert page.status_code == 200
    assert "天府名品" in page.content.decode("gb18030")

    site.unpublish("new-sc-brand")
    feed3 = client.get(site.url + "/feed.xml")
    assert "new-sc-brand" not in feed3.text
    assert feed3.headers["etag"] != feed2.headers["etag"]
    assert client.get(url).status_code == 404
    with pytest.raises(KeyError):
        site.unpublish("new-sc-brand")


# --------------------------------------------------------------------------- faults


def test_fault_500_and_404(site: NewsSite, client: httpx.Client) -> None:
    assert client.get(site.url + "/fault/500").status_code == 500
    assert client.get(site.url + "/fault/404").status_code == 404
    assert client.get(site.url + "/no/such/page.html").status_code == 404


def test_fault_reset_raises(site: NewsSite, client: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        client.get(site.url + "/fault/reset")
    assert client.get(site.url + "/feed.xml").status_code == 200  # the site survives


def test_fault_redirect_loop(site: NewsSite) -> None:
    with (
        httpx.Client(follow_redirects=True, timeout=10) as c,
        pytest.raises(httpx.TooManyRedirects),
    ):
        c.get(site.url + "/fault/redirect-loop")
    assert site.hits["/fault/redirect-loop"] > 5


def test_fault_slow(site: NewsSite, client: httpx.Client) -> None:
    started = time.monotonic()
    r = client.get(site.url + "/fault/slow?delay=0.3")
    assert time.monotonic() - started >= 0.3
    assert not feedparser.parse(r.content).bozo
    with pytest.raises(httpx.ReadTimeout):
        client.get(site.url + "/fault/slow?delay=0.5", timeout=0.1)


def test_global_delay(site: NewsSite, client: httpx.Client) -> None:
    site.delay = 0.2
    started = time.monotonic()
    assert client.get(site.url + "/robots.txt").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_fault_flaky(site: NewsSite, client: httpx.Client) -> None:
    site.flaky_failures = 3
    statuses = [client.get(site.url + "/fault/flaky").status_code for _ in range(5)]
    assert statuses == [500, 500, 500, 200, 200]
    assert feedparser.parse(client.get(site.url + "/fault/flaky").content).entries


def test_fault_malformed_and_garbage(site: NewsSite, client: httpx.Client) -> None:
    assert feedparser.parse(client.get(site.url + "/fault/malformed.xml").content).bozo
    g1 = client.get(site.url + "/fault/garbage")
    g2 = client.get(site.url + "/fault/garbage")
    assert g1.status_code == 200
    assert g1.headers["content-type"] == "text/html"
    assert len(g1.content) == 8192
    assert g1.content == g2.content


def test_fault_huge_streams_without_end(site: NewsSite, client: httpx.Client) -> None:
    wanted = 3 * 1024 * 1024
    received = 0
    with client.stream("GET", site.url + "/fault/huge") as r:
        assert "content-length" not in r.headers  # chunked: the size is unknown up front
        for chunk in r.iter_raw():
            received += len(chunk)
            if received >= wanted:
                break
    assert received >= wanted
    with client.stream("GET", site.url + "/fault/huge?length=1") as r:
        assert int(r.headers["content-length"]) == site.huge_size == 50 * 1024 * 1024
    site.huge_size = 200_000
    assert len(client.get(site.url + "/fault/huge").content) == 200_000
    assert client.get(site.url + "/feed.xml").status_code == 200


async def test_hits_are_counted_under_concurrency(site: NewsSite) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        responses = await asyncio.gather(*(c.get(site.url + "/feed.xml") for _ in range(25)))
    assert {r.status_code for r in responses} == {200}
    assert site.hits["/feed.xml"] == 25
    assert sum(1 for r in site.requests if r.path == "/feed.xml") == 25


def test_head_and_reset_counters(site: NewsSite, client: httpx.Client) -> None:
    r = client.head(site.url + "/feed.xml")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["etag"]
    site.reset_counters()
    assert site.hits["/feed.xml"] == 0
    assert site.requests == []


def test_demo_entry_point_serves() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.servers.newssite"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            assert httpx.get(url + "/feed.xml", timeout=10).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=10)
