"""A fixture news site on 127.0.0.1: feeds, GBK list pages, article pages, ETags, faults.

The articles live in ``tests/data/site/articles/*.yaml`` (one file each, read in
file-name order); every page is rendered from them on request, so the bytes,
and therefore the ETags, change only when the articles do.

Paths::

    /                          index page linking everything below
    /feed.xml                  RSS 2.0, UTF-8: articles whose ``listed_in`` has ``rss``
    /atom.xml                  Atom, UTF-8: ``listed_in`` has ``atom``
    /gbk/list.html             TRS-style list page, GBK bytes, header charset=GBK,
                               meta charset=gb2312, relative links ../news/zh/<id>.html
    /mislabelled/list.html     UTF-8 bytes declared charset=gbk in header and meta,
                               relative links news/<id>.html
    /mislabelled/news/<id>.html  article page, UTF-8 bytes declared gbk
    /with-feed/list.html       the GBK list's articles, UTF-8, advertising /feed.xml in
                               <link rel="alternate" type="application/rss+xml">
    /news/<id>.html            every article
    /news/zh/<id>.html         every Chinese article (the canonical URL of those)
    /robots.txt                allows everything
    /fault/500  /fault/404  /fault/slow?delay=S  /fault/flaky  /fault/malformed.xml
    /fault/garbage  /fault/reset  /fault/redirect-loop  /fault/huge[?length=1]
    /fault/429                 429 with Retry-After: 1 for the first ``rate_limited``
                               requests, then the RSS feed
    /fault/redirect-ftp        a redirect to an ftp:// URL
    /fault/hangup              the RSS feed, keep-alive announced, then the connection closed
    /fault/bad-br              claims Content-Encoding: br, sends plain bytes
    /fault/recovered.xml       a malformed feed whose two items feedparser still reads
    /fault/bomb?enc=E          64 MB of zeros compressed as E (gzip, br, or stacked: gzip,gzip)
    /fault/drip?every=S        a 200 whose body comes one byte every S seconds
    /fault/redirect?to=URL     a 302 to URL
    /fault/links.xml?to=URL…   an RSS feed with one item per ``to`` (short descriptions)
    /fault/long-title.xml?n=N  one item whose title is 质量强省 N times
    /fault/many.xml?n=N[&kind=page|short]  an RSS feed of N items, newest first, linking
                               to /fault/page/<k> (an article; ?delay=S answers after S
                               seconds) or /fault/short/<k> (a page with a line of text,
                               too short to keep)

The CMS families of ``../shared/research/chinese-sources.md``, built from the
articles listed in ``gbk`` (the Chinese ones)::

    /jcms/col/col<N>/index.html        Hanweb JCMS column: records inlined in a
                                       <script type="text/xml"> datastore
    POST /module/web/jpage/dataproxy.jsp?startrecord=S&endrecord=E&perpage=P
                                       the JCMS record API (form webid, columnid,
                                       unitid required); XML, no validators
    /jpaas/xw/zj/                      a jpaas JavaScript shell naming the API
    /api-gateway/jpaas-publish-server/front/page/build/unit?…&paramJson={"pageNo":N,…}
                                       JSON whose data.html is the list fragment
    /gkmlpt/api/all/<col>?page=N&sid=S Guangdong gkmlpt JSON (``page_size`` a page)
    /search-gov/data?q=Q&p=N&n=M       gov.cn policy-library search JSON
                                       (searchVO.catMap.*.listVO, <em>Q</em> titles)
    /paged/index.html, /paged/index_<i>.html
                                       a TRS list in pages of ``page_size`` items
    /compressed/feed.xml?enc=br|gzip|deflate   the RSS feed, compressed so
    /challenge/<path>                  412 and a script that sets a cookie and reloads
                                       (an anti-bot challenge); with the cookie, <path>

Switches tests may set: ``outage`` (the next N non-fault requests answer 503),
``redesigned`` (list pages and JCMS records lose their list markup: the
selectors find nothing, nor does detection), ``restyled`` (the GBK list's
classes renamed and a wrapper added: the selectors find nothing, detection
finds the list), ``page_size`` (items per page of the paged lists).

Article pages are encoded as the article's ``encoding`` says (``gbk`` for the
simplified Chinese ones, ``gb18030`` for the traditional one, whose pinyin tone
marks GB18030 also holds, ``utf-8`` otherwise), and declare ``charset_meta`` /
``charset_header`` (default: the encoding; ``""`` in the header means no
charset parameter at all). ``irr-recall-zh`` declares gb2312 but uses 喆, a
GBK-only character, as many real pages do.

Every page answers conditional GETs (strong ETag, Last-Modified; 304 with an
empty body). ``hits[path]`` counts requests and ``not_modified[path]`` the 304s
(paths without the query string).

Run ``python -m tests.servers.newssite [--port N]`` to serve it by hand.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import random
import re
import socket
import string
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "site"
ARTICLES_DIR = DATA_DIR / "articles"
CORPUS_PATH = DATA_DIR / "corpus.jsonl"
TEMPLATES_DIR = DATA_DIR / "templates"

LANGUAGES = ("en", "zh-Hans", "zh-Hant")
CATEGORIES = (
    "policy_document",
    "press_conference",
    "meeting",
    "campaign_event",
    "award_brand",
    "statistics_report",
    "other",
)
LISTS = ("rss", "atom", "gbk", "mislabelled")
CORPUS_FIELDS = (
    "id",
    "text",
    "title",
    "url",
    "published",
    "language",
    "relevant",
    "province",
    "category",
    "event",
)
CST = timezone(timedelta(hours=8), "CST")

_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_PROVINCE = re.compile(r"CN(-[A-Z]{2})?")
_CHUNK = 64 * 1024
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------- articles


def load_articles(directory: Path = ARTICLES_DIR) -> list[dict[str, Any]]:
    """Every article of ``directory``, validated and completed, in file-name order."""
    files = tuple((p, p.stat().st_mtime_ns) for p in sorted(Path(directory).glob("*.yaml")))
    return copy.deepcopy(_load(files))


@functools.lru_cache(maxsize=8)
def _load(files: tuple[tuple[Path, int], ...]) -> list[dict[str, Any]]:
    # Cached by file and mtime: every test starts a site, and parsing YAML is slow.
    articles = []
    for path, _mtime in files:
        with path.open(encoding="utf-8") as f:
            raw = yaml.load(f, Loader=_YamlLoader)
        try:
            articles.append(normalize_article(raw))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    ids = [a["id"] for a in articles]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{files[0][0].parent}: duplicate article ids")
    return articles


def normalize_article(raw: dict[str, Any]) -> dict[str, Any]:
    """Check one article's fields and fill in the defaults; raises ValueError."""
    if not isinstance(raw, dict):
        raise ValueError("an article is a mapping")
    a = dict(raw)
    for key in ("id", "title", "body"):
        if not isinstance(a.get(key), str) or not a[key].strip():
            raise ValueError(f"{key!r} is required")
    if not _ID.fullmatch(a["id"]):
        raise ValueError(f"id {a['id']!r}: lowercase letters, digits and '-'")
    a["title"] = a["title"].strip()
    a["body"] = "\n\n".join(_split_paragraphs(a["body"]))
    a.setdefault("language", "zh-Hans")
    if a["language"] not in LANGUAGES:
        raise ValueError(f"language {a['language']!r} not in {LANGUAGES}")
    published = a.get("published", datetime.now(CST).date().isoformat())
    if isinstance(published, date):
        published = published.isoformat()
    if published is not None and not (
        isinstance(published, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", published)
    ):
        raise ValueError(f"published {published!r} is not YYYY-MM-DD")
    a["published"] = published
    a["time"] = str(a.get("time") or "10:00")
    if not re.fullmatch(r"\d\d:\d\d", a["time"]):
        raise ValueError(f"time {a['time']!r} is not HH:MM")
    a.setdefault("relevant", True)
    if not isinstance(a["relevant"], bool):
        raise ValueError("relevant is true or false")
    a.setdefault("province", None)
    provinces = a["province"] if isinstance(a["province"], list) else [a["province"]]
    for p in provinces:
        if p is not None and not (isinstance(p, str) and _PROVINCE.fullmatch(p)):
            raise ValueError(f"province {p!r} is not an ISO 3166-2:CN code")
    if not a["relevant"] and a["province"] is not None:
        raise ValueError("an irrelevant article has province null")
    a.setdefault("category", "other")
    categories = a["category"] if isinstance(a["category"], list) else [a["category"]]
    if not categories or any(c not in CATEGORIES for c in categories):
        raise ValueError(f"category {a['category']!r}: one or a list of {CATEGORIES}")
    a.setdefault("event", None)
    if a["event"] is not None and not isinstance(a["event"], str):
        raise ValueError("event is a string or null")
    chinese = a["language"] != "en"
    a.setdefault("encoding", "gbk" if chinese else "utf-8")
    "".encode(a["encoding"])  # LookupError for an unknown codec
    a.setdefault("charset_meta", a["encoding"])
    a.setdefault("charset_header", a["encoding"])
    a.setdefault("source", "质量强省示例网" if chinese else "Quality News Fixture")
    a.setdefault("listed_in", ["rss", "gbk"] if chinese else ["rss"])
    if any(x not in LISTS for x in a["listed_in"]):
        raise ValueError(f"listed_in {a['listed_in']!r}: items of {LISTS}")
    a.setdefault("page_comments", [])
    a.setdefault("markup", {})
    a.setdefault("article_ends_with", None)
    if a["article_ends_with"] is not None and a["article_ends_with"] not in a["body"]:
        raise ValueError("article_ends_with is not in the body")
    a.setdefault("note", None)
    return a


def _split_paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def paragraphs(article: dict[str, Any]) -> list[str]:
    return article["body"].split("\n\n")


def article_text(article: dict[str, Any]) -> str:
    """The labelled-corpus text: the title as the first line, then the body."""
    return f"{article['title']}\n\n{article['body']}"


def corpus_record(article: dict[str, Any]) -> dict[str, Any]:
    record = {key: article.get(key) for key in CORPUS_FIELDS}
    record["text"] = article_text(article)
    record["url"] = None
    return record


def corpus_text(articles: Iterable[dict[str, Any]] | None = None) -> str:
    """corpus.jsonl's content for ``articles`` (default: the fixture articles)."""
    if articles is None:
        articles = load_articles()
    return "".join(json.dumps(corpus_record(a), ensure_ascii=False) + "\n" for a in articles)


def write_corpus(path: Path | str = CORPUS_PATH) -> Path:
    """Regenerate the labelled corpus from the YAML articles."""
    path = Path(path)
    path.write_text(corpus_text(), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- rendering


def _published_at(article: dict[str, Any]) -> datetime | None:
    if article["published"] is None:
        return None
    day = date.fromisoformat(article["published"])
    hour, minute = map(int, article["time"].split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST)


def article_path(article: dict[str, Any]) -> str:
    """The canonical path of an article's page."""
    if article["language"] == "en":
        return f"/news/{article['id']}.html"
    return f"/news/zh/{article['id']}.html"


def _newest_first(articles: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(articles, key=lambda a: (a["published"] or "", a["time"]), reverse=True)


def _xml(text: str) -> str:
    return escape(text, quote=False)


def render_rss(root: str, articles: list[dict[str, Any]], built: datetime) -> bytes:
    items = []
    for a in _newest_first(x for x in articles if "rss" in x["listed_in"]):
        published = _published_at(a)
        pub = f"\n      <pubDate>{format_datetime(published)}</pubDate>" if published else ""
        items.append(
            f"""    <item>
      <title>{_xml(a["title"])}</title>
      <link>{root}{article_path(a)}</link>
      <guid isPermaLink="false">urn:newssite:{a["id"]}</guid>{pub}
      <description>{_xml(paragraphs(a)[0])}</description>
    </item>"""
        )
    body = "\n".join(items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>质量强省示例网 Quality News Fixture</title>
    <link>{root}/</link>
    <description>质量强省 / quality province news (test fixture)</description>
    <language>zh-cn</language>
    <lastBuildDate>{format_datetime(built)}</lastBuildDate>
    <atom:link href="{root}/feed.xml" rel="self" type="application/rss+xml"/>
{body}
  </channel>
</rss>
""".encode()


def render_atom(root: str, articles: list[dict[str, Any]], built: datetime) -> bytes:
    entries = []
    for a in _newest_first(x for x in articles if "atom" in x["listed_in"]):
        updated = (_published_at(a) or built).isoformat()
        entries.append(
            f"""  <entry>
    <title>{_xml(a["title"])}</title>
    <link rel="alternate" type="text/html" href="{root}{article_path(a)}"/>
    <id>urn:newssite:{a["id"]}</id>
    <updated>{updated}</updated>
    <summary>{_xml(paragraphs(a)[0])}</summary>
  </entry>"""
        )
    body = "\n".join(entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN">
  <title>质量强省示例网 Atom</title>
  <link rel="self" href="{root}/atom.xml"/>
  <link rel="alternate" href="{root}/"/>
  <id>urn:newssite:atom</id>
  <updated>{built.isoformat()}</updated>
{body}
</feed>
""".encode()


_NAV_ZH = (
    ("首页", "/"),
    ("机构概况", "/jggk/"),
    ("新闻中心", "/news/"),
    ("工作动态", "/gbk/list.html"),
    ("通知公告", "/tzgg/"),
    ("政策文件", "/zcwj/"),
    ("政策解读", "/zcjd/"),
    ("质量强省", "/zlqs/"),
    ("天府名品", "/tfmp/"),
    ("办事服务", "/bsfw/"),
    ("互动交流", "/hdjl/"),
    ("数据发布", "/sjfb/"),
)
_NAV_EN = (
    ("Home", "/"),
    ("News", "/news/"),
    ("Policies", "/policies/"),
    ("Quality", "/quality/"),
    ("Brands", "/brands/"),
    ("Services", "/services/"),
    ("About", "/about/"),
    ("Contact", "/contact/"),
)
_TOPICS_EN = (("Quality Month", "/quality/month/"), ("Brand building", "/brands/"))
_TOPICS_ZH = (
    ("质量强省建设专题", "/zlqs/"),
    ("天府名品展示", "/tfmp/"),
    ("“质量月”活动专栏", "/zly/"),
    ("政府质量奖", "/zlj/"),
    ("优化营商环境", "/yshj/"),
)


@functools.cache
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def _nav(items: Iterable[tuple[str, str]]) -> str:
    return f'<div class="nav"><ul>{_links(items)}</ul></div>'


def _links(items: Iterable[tuple[str, str]]) -> str:
    return "".join(f'<li><a href="{href}">{escape(name)}</a></li>' for name, href in items)


def _truncate(title: str, width: int = 32) -> str:
    return title if len(title) <= width else title[: width - 1] + "…"


def _content_type(mime: str, charset: str) -> str:
    return f"{mime}; charset={charset}" if charset else mime


def render_list(
    articles: list[dict[str, Any]], *, charset: str, link_prefix: str, column: str
) -> str:
    """A TRS-style list page (as text; the caller picks the bytes).

    Long titles are cut with "…" in the link text, whole in its title attribute.
    """
    items = []
    for a in _newest_first(articles):
        day = f'<span class="date">{a["published"]}</span>' if a["published"] else ""
        items.append(
            f'<li><a href="{link_prefix}{a["id"]}.html" target="_blank" '
            f'title="{escape(a["title"])}">{escape(_truncate(a["title"]))}</a>{day}</li>'
        )
    return _template("list.html").substitute(
        charset=charset,
        column=column,
        nav=_nav(_NAV_ZH),
        topics=_links(_TOPICS_ZH),
        rows="\n      ".join(items),
        footer=_template("footer_zh.html").template,
    )


def render_article(
    root: str,
    article: dict[str, Any],
    related: list[dict[str, Any]],
    *,
    charset: str,
) -> str:
    """An article page (as text); the whole body goes in div.article-content."""
    a = article
    zh = a["language"] != "en"
    published = _published_at(a)
    stamp = published.strftime("%Y-%m-%d %H:%M") if published else ""
    figures = set(a["markup"].get("figures", ()))
    bold = set(a["markup"].get("bold", ()))
    body = []
    for i, p in enumerate(paragraphs(a)):
        if i in figures:
            body.append(
                f'<p style="text-align: center;"><img src="/images/{a["id"]}-{i}.jpg" '
                f'alt="" /></p>\n<p style="text-align: center;">{escape(p)}</p>'
            )
        elif i in bold:
            body.append(f"<p><strong>{escape(p)}</strong></p>")
        else:
            body.append(f'<p style="text-indent: 2em;">{escape(p)}</p>')
    related_links = "".join(
        f'<li><a href="{article_path(r)}" title="{escape(r["title"])}">'
        f"{escape(_truncate(r['title'], 20))}</a></li>"
        for r in related
    )
    comments = ""
    if a["page_comments"]:
        lis = "".join(f"<li>{escape(c)}</li>" for c in a["page_comments"])
        comments = (
            f'<div class="comments"><h3>{"网友评论" if zh else "Comments"}</h3><ul>{lis}</ul></div>'
        )
    source = escape(a["source"])
    if zh:
        page = {
            "lang": "zh-CN",
            "site_name": "质量强省示例网",
            "column": "工作动态",
            "keywords": "质量,质量强省,天府名品",
            "nav": _nav(_NAV_ZH),
            "crumbs": (
                '当前位置：<a href="/">首页</a> &gt; <a href="/news/">新闻中心</a> &gt; '
                '<a href="/gbk/list.html">工作动态</a> &gt; 正文'
            ),
            "info": (
                f"<span>发布时间：{stamp}</span><span>来源：{source}</span>"
                "<span>字号：[<a>大</a> <a>中</a> <a>小</a>]</span>"
                '<span>浏览次数：<script type="text/javascript">document.write(1024)'
                "</script></span>"
            ),
            "share": (
                '<div class="share-bar">分享到：<a class="wechat">微信</a> '
                '<a class="weibo">微博</a> <a class="qq">QQ空间</a>　'
                '<a href="javascript:window.print()">【打印本页】</a> '
                '<a href="javascript:window.close()">【关闭窗口】</a></div>'
            ),
            "related_title": "相关新闻",
            "topics_title": "热点专题",
            "topics": _links(_TOPICS_ZH),
            "footer": _template("footer_zh.html").template,
        }
    else:
        page = {
            "lang": "en",
            "site_name": "Quality News Fixture",
            "column": "News",
            "keywords": "quality,news",
            "nav": _nav(_NAV_EN),
            "crumbs": '<a href="/">Home</a> &gt; <a href="/news/">News</a> &gt; Article',
            "info": f"<span>{stamp}</span><span>Source: {source}</span>",
            "share": (
                '<div class="share-bar">Share: <a class="wechat">WeChat</a> '
                '<a class="weibo">Weibo</a> <a class="x">X</a> '
                '<a href="javascript:window.print()">Print</a></div>'
            ),
            "related_title": "Related",
            "topics_title": "Topics",
            "topics": _links(_TOPICS_EN),
            "footer": _template("footer_en.html").template,
        }
    return _template("article.html").substitute(
        page,
        charset=charset,
        title=escape(a["title"]),
        pubdate_meta=f'<meta name="PubDate" content="{stamp}" />\n' if stamp else "",
        source=source,
        canonical=f"{root}{article_path(a)}",
        content="\n".join(body),
        comments=comments,
        related=related_links,
    )


def render_index(root: str, articles: list[dict[str, Any]]) -> bytes:
    links = [
        "/feed.xml",
        "/atom.xml",
        "/gbk/list.html",
        "/mislabelled/list.html",
        *(article_path(a) for a in articles),
    ]
    lis = "".join(f'<li><a href="{root}{p}">{p}</a></li>' for p in links)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Quality News Fixture</title>'
        f"</head><body><h1>Quality News Fixture</h1><ul>{lis}</ul></body></html>\n"
    ).encode()


_RECOVERABLE = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Recoverable & broken</title>
<item><title>浙江召开质量强省工作会议</title><link>ROOT/news/zh/a.html</link></item>
<item><title>Second & item</title><link>ROOT/news/zh/b.html</link></item>
</channel></rss>
""".encode()

_JPAAS_API = "/api-gateway/jpaas-publish-server/front/page/build/unit"

_CHALLENGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<script>document.cookie = "qm_challenge=passed; path=/"; location.reload();</script>
</body></html>
"""


def render_jcms_column(column: int, records: str, redesigned: bool) -> str:
    """A Hanweb JCMS column page: the first records inline in a script datastore."""
    next_group = f"/module/web/jpage/dataproxy.jsp?page=1&webid=1&columnid={column}&unitid=5504"
    unit = (
        ""
        if redesigned
        else f"""<div id="{column}"><script type="text/xml">
<datastore>
<nextgroup><![CDATA[<a href="{next_group}"></a>]]></nextgroup>
<recordset>
{records}
</recordset>
</datastore>
</script><script language="javascript" src="/module/web/jpage/jpage.js"></script>
<script>new Pager({{"unitid": "5504", "webid": "1", "col": "{column}"}});</script></div>"""
    )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>质量强省_示例JCMS站</title></head><body>
<div class="nav"><a href="/">首页</a></div>
{unit}
<div class="footer">版权所有</div></body></html>
"""


def render_jpaas_shell(path: str) -> str:
    """A jpaas column: a JavaScript shell whose build script names the list API."""
    query = (
        "{'webId':'29e9522dc89d4e088a953d8cede72f4c','pageId':'39cd9de1f309431483ef3008309f39ca',"
        "'tplSetId':'5c30fb89ae5e48b9aefe3cdf49853830','pageType':'column','tagId':'内容区域',"
        "'editType':'null','pageSize':'20'}"
    )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>总局要闻</title>
<script src="/common/js/jquery.min.js"></script></head><body>
<div id="app"></div>
<script parseType="bulidstatic" url="{_JPAAS_API}" querydata="{query}" type="text/javascript">
  /* the list is built here in a browser ({escape(path)}) */
</script></body></html>
"""


def _compress(body: bytes, encoding: str) -> bytes:
    if encoding == "br":
        import brotli  # httpx[brotli]'s dependency: the same library decodes

        return bytes(brotli.compress(body))
    if encoding == "gzip":
        import gzip

        return gzip.compress(body)
    if encoding == "deflate":
        import zlib

        return zlib.compress(body)
    raise ValueError(f"unknown encoding {encoding!r}")


_MALFORMED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Broken & feed 质量强省</title>
    <item>
      <title>质量月 <b>unclosed</title>
      <link>http://127.0.0.1/news/x.html
      <description>&nbsp; never closed
""".encode()


# --------------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    content_type: str
    last_modified: float  # seconds since the epoch, whole seconds

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)


class NewsSite:
    """The fixture site. Use as ``with NewsSite() as site: ... site.url ...``.

    Attributes tests may set while it runs: ``delay`` (seconds added to every
    response), ``flaky_failures`` (how many 500s /fault/flaky gives first),
    ``huge_size`` (bytes /fault/huge streams). Counters: ``hits``,
    ``not_modified`` (Counters keyed by path), ``requests`` (every request,
    in order, with its headers).
    """

    def __init__(
        self,
        articles: Iterable[dict[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
        flaky_failures: int = 2,
        huge_size: int = 50 * 1024 * 1024,
    ) -> None:
        loaded = load_articles() if articles is None else [normalize_article(a) for a in articles]
        self._articles: dict[str, dict[str, Any]] = {a["id"]: a for a in loaded}
        stamps = [p.timestamp() for a in loaded if (p := _published_at(a))]
        self._base_time = float(int(max(stamps, default=time.time())))
        self._modified: dict[str, float] = {}  # article id -> when publish() changed it
        self._changed_at = self._base_time
        self._lock = threading.Lock()
        self.delay = delay
        self.flaky_failures = flaky_failures
        self.huge_size = huge_size
        self.rate_limited = 1
        self.outage = 0
        self.redesigned = False
        self.restyled = False
        self.page_size = 3
        self.connections = 0  # TCP connections accepted so far (keep-alive reuse shows here)
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.requests: list[RequestRecord] = []
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> NewsSite:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.site = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start, then block until KeyboardInterrupt (for the demo)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # ---- addresses

    @property
    def url(self) -> str:
        """The site's root, without a trailing slash: ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the site is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    def article_url(self, article_id: str) -> str:
        with self._lock:
            return self.url + article_path(self._articles[article_id])

    @property
    def articles(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(a) for a in self._articles.values()]

    # ---- runtime control

    def publish(self, article: dict[str, Any]) -> str:
        """Add an article (or replace one with the same id); returns its page URL.

        Needs ``id``, ``title`` and ``body``; everything else has a default
        (published today, zh-Hans, listed in the RSS feed and the GBK list).
        """
        a = normalize_article(article)
        with self._lock:
            self._bump()
            self._articles[a["id"]] = a
            self._modified[a["id"]] = self._changed_at
        return self.article_url(a["id"])

    def unpublish(self, article_id: str) -> None:
        with self._lock:
            del self._articles[article_id]
            self._modified.pop(article_id, None)
            self._bump()

    def reset_counters(self) -> None:
        with self._lock:
            self.hits.clear()
            self.not_modified.clear()
            self.requests.clear()

    def _bump(self) -> None:
        # Strictly later, whole seconds: If-Modified-Since must see every change.
        self._changed_at = max(float(int(time.time())), self._changed_at + 1)

    # ---- request bookkeeping (called by the handler)

    def _record(self, method: str, path: str, query: str, headers: dict[str, str]) -> int:
        with self._lock:
            self.hits[path] += 1
            self.requests.append(RequestRecord(method, path, query, headers))
            return self.hits[path]

    def _count_not_modified(self, path: str) -> None:
        with self._lock:
            self.not_modified[path] += 1

    # ---- pages

    def page(self, path: str, root: str | None = None, query: str = "") -> Page | None:
        """The page at ``path`` as it would be served now, or None (404)."""
        root = self.url if root is None else root
        with self._lock:
            articles = list(self._articles.values())
            changed = self._changed_at
            modified = dict(self._modified)
        built = datetime.fromtimestamp(changed, UTC)
        if path in ("/", "/index.html"):
            return Page(render_index(root, articles), "text/html; charset=utf-8", changed)
        if path == "/robots.txt":
            return Page(b"User-agent: *\nAllow: /\n", "text/plain; charset=utf-8", changed)
        if path == "/feed.xml":
            body = render_rss(root, articles, built)
            return Page(body, "application/rss+xml; charset=utf-8", changed)
        if path == "/atom.xml":
            body = render_atom(root, articles, built)
            return Page(body, "application/atom+xml; charset=utf-8", changed)
        if path == "/gbk/list.html":
            listed = [a for a in articles if "gbk" in a["listed_in"]]
            text = render_list(
                listed, charset="gb2312", link_prefix="../news/zh/", column="工作动态"
            )
            if self.restyled:  # a template revision: the configured selectors find nothing
                text = text.replace(
                    '<ul class="news-list">', '<div class="list-2026"><ul class="articles">'
                ).replace('</ul>\n    <div class="page">', '</ul></div>\n    <div class="page">')
            if self.redesigned:  # no list at all (a challenge page, a broken site)
                text = re.sub(r"<li><a [^>]*>([^<]*)</a>.*?</li>", r"<li>\1</li>", text)
            return Page(text.encode("gbk"), "text/html; charset=GBK", changed)
        if path == "/with-feed/list.html":  # the GBK list's page, advertising the RSS feed
            listed = [a for a in articles if "gbk" in a["listed_in"]]
            text = render_list(
                listed, charset="utf-8", link_prefix="../news/zh/", column="工作动态"
            )
            link = (
                '<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml" />'
            )
            text = text.replace("</head>", f"{link}\n</head>")
            return Page(text.encode("utf-8"), "text/html; charset=utf-8", changed)
        if path == "/mislabelled/list.html":
            listed = [a for a in articles if "mislabelled" in a["listed_in"]]
            text = render_list(listed, charset="gbk", link_prefix="news/", column="统计信息")
            return Page(text.encode("utf-8"), "text/html; charset=gbk", changed)
        cms = self._cms_page(path, root, parse_qs(query), articles, changed)
        if cms is not None:
            return cms
        match = re.fullmatch(r"/(mislabelled/)?news/(zh/)?([a-z0-9-]+)\.html", path)
        if not match:
            return None
        mislabelled, zh, article_id = match.groups()
        by_id = {a["id"]: a for a in articles}
        a = by_id.get(article_id)
        if a is None or (zh and a["language"] == "en"):
            return None
        if mislabelled and "mislabelled" not in a["listed_in"]:
            return None
        same_script = [r for r in articles if (r["language"] == "en") == (a["language"] == "en")]
        related = [r for r in _newest_first(same_script) if r["id"] != a["id"]][:5]
        last_modified = modified.get(a["id"]) or _stamp(a) or self._base_time
        if mislabelled:
            text = render_article(root, a, related, charset="gbk")
            return Page(text.encode("utf-8"), "text/html; charset=gbk", last_modified)
        text = render_article(root, a, related, charset=a["charset_meta"])
        content_type = _content_type("text/html", a["charset_header"])
        return Page(text.encode(a["encoding"]), content_type, last_modified)

    # ---- the CMS families

    def _cms_page(
        self,
        path: str,
        root: str,
        query: dict[str, list[str]],
        articles: list[dict[str, Any]],
        changed: float,
    ) -> Page | None:
        listed = _newest_first(a for a in articles if "gbk" in a["listed_in"])
        if m := re.fullmatch(r"/jcms/col/col(\d+)/index\.html", path):
            records = "\n".join(
                f"<record><![CDATA[{self._jcms_record(a)}]]></record>" for a in listed[:15]
            )
            text = render_jcms_column(int(m.group(1)), records, self.redesigned)
            return Page(text.encode("utf-8"), "text/html; charset=utf-8", changed)
        if path.startswith("/jpaas/"):
            return Page(render_jpaas_shell(path).encode(), "text/html; charset=utf-8", changed)
        if path == _JPAAS_API:
            param = json.loads(query.get("paramJson", ['{"pageNo": 1, "pageSize": 20}'])[0])
            number, size = int(param.get("pageNo", 1)), int(param.get("pageSize", 20))
            if not {"webId", "pageId", "tplSetId"} <= set(query):
                body = {"success": False, "message": "missing webId/pageId/tplSetId"}
                return Page(json.dumps(body).encode(), "application/json", changed)
            shown = listed[(number - 1) * size : number * size]
            lis = "".join(
                f'<li><a href="/news/zh/{a["id"]}.html" title="{escape(a["title"])}" '
                f'target="_blank">{escape(_truncate(a["title"]))}</a>'
                f"<span>{a['published'] or ''}</span></li>"
                for a in shown
            )
            fragment = f'<div class="common_list"><ul class="common_list_ul">{lis}</ul></div>'
            body = {"success": True, "data": {"html": fragment, "total": len(listed)}}
            return Page(json.dumps(body, ensure_ascii=False).encode(), "application/json", changed)
        if m := re.fullmatch(r"/gkmlpt/api/all/(\d+)", path):
            number = int(query.get("page", ["1"])[0])
            shown = listed[(number - 1) * self.page_size : number * self.page_size]
            items = [
                {
                    "id": 4000 + i,
                    "title": a["title"],
                    "url": f"{root}/news/zh/{a['id']}.html",
                    "publisher": a["source"],
                    "first_publish_time": int(p.timestamp()) if (p := _published_at(a)) else None,
                }
                for i, a in enumerate(shown)
            ]
            body = {"total": len(listed), "articles": items, "column": int(m.group(1))}
            return Page(json.dumps(body, ensure_ascii=False).encode(), "application/json", changed)
        if path == "/search-gov/data":
            q = query.get("q", [""])[0]
            number, size = int(query.get("p", ["1"])[0]), int(query.get("n", ["20"])[0])
            hits = [a for a in listed if q and (q in a["title"] or q in a["body"])]
            shown = hits[(number - 1) * size : number * size]
            rows = [
                {
                    "title": a["title"].replace(q, f"<em>{q}</em>"),
                    "url": f"{root}/news/zh/{a['id']}.html",
                    "puborg": a["source"],
                    "pubtimeStr": (a["published"] or "").replace("-", "."),
                }
                for a in shown
            ]
            half = (len(rows) + 1) // 2
            body = {
                "code": 200,
                "searchVO": {
                    "totalCount": len(hits),
                    "catMap": {
                        "gongwen": {"listVO": rows[:half]},
                        "bumenfile": {"listVO": rows[half:]},
                        "otherfile": {"listVO": []},
                    },
                },
            }
            return Page(json.dumps(body, ensure_ascii=False).encode(), "application/json", changed)
        if m := re.fullmatch(r"/paged/index(?:_(\d+))?\.html", path):
            index = int(m.group(1) or 0)  # TRS: page 2 is index_1.html
            shown = listed[index * self.page_size : (index + 1) * self.page_size]
            if not shown and index:
                return None
            text = render_list(shown, charset="utf-8", link_prefix="../news/zh/", column="分页")
            return Page(text.encode("utf-8"), "text/html; charset=utf-8", changed)
        if path == "/compressed/feed.xml":
            return Page(
                render_rss(root, articles, datetime.fromtimestamp(changed, UTC)),
                "application/rss+xml; charset=utf-8",
                changed,
            )
        return None

    def _jcms_record(self, a: dict[str, Any]) -> str:
        if self.redesigned:
            return f'<div class="x">{escape(a["title"])}</div>'
        return (
            f'<li><a href="/news/zh/{a["id"]}.html" title="{escape(a["title"])}" '
            f'target="_blank">{escape(_truncate(a["title"]))}</a>'
            f"<span>{a['published'] or ''}</span></li>"
        )

    def dataproxy(self, query: dict[str, list[str]], form: dict[str, list[str]]) -> Page | None:
        """The JCMS record API's answer, or None when the form lacks its ids (400)."""
        if not {"webid", "columnid", "unitid"} <= set(form):
            return None
        with self._lock:
            articles = list(self._articles.values())
            changed = self._changed_at
        listed = _newest_first(a for a in articles if "gbk" in a["listed_in"])
        start = int(query.get("startrecord", ["1"])[0])
        end = int(query.get("endrecord", [str(start + 44)])[0])
        records = "\n".join(
            f"<record><![CDATA[{self._jcms_record(a)}]]></record>" for a in listed[start - 1 : end]
        )
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<datastore>\n'
            f"<totalrecord>{len(listed)}</totalrecord>\n<recordset>\n{records}\n</recordset>\n"
            "</datastore>\n"
        )
        return Page(text.encode("utf-8"), "text/xml; charset=utf-8", changed)

    def huge_chunks(self, size: int) -> Iterator[bytes]:
        """``size`` bytes of filler HTML, 64 KiB at a time."""
        unit = "<p>质量 quality filler 填充内容。</p>\n".encode()
        block = (unit * (_CHUNK // len(unit) + 1))[:_CHUNK]
        sent = 0
        while sent < size:
            chunk = block[: min(_CHUNK, size - sent)]
            sent += len(chunk)
            yield chunk


def _stamp(article: dict[str, Any]) -> float | None:
    published = _published_at(article)
    return published.timestamp() if published else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops bursts of concurrent connects
    site: NewsSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response (size caps, timeouts, /fault/reset)
        # are part of the game, not errors worth a traceback.
        return


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    server_version = "NewsSiteFixture/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        super().setup()
        site = self.server.site
        with site._lock:
            site.connections += 1

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_POST(self) -> None:
        site = self.server.site
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        site._record("POST", split.path, split.query, dict(self.headers.items()))
        if self._outage():
            return
        if split.path != "/module/web/jpage/dataproxy.jsp":
            self._simple(405, "Method Not Allowed", False)
            return
        page = site.dataproxy(parse_qs(split.query), parse_qs(body))
        if page is None:
            self._simple(400, "Bad Request", False)
            return
        self._send(200, page.body, page.content_type, False)

    def _outage(self) -> bool:
        """While ``site.outage`` > 0, answer 503 (and count it down)."""
        site = self.server.site
        with site._lock:
            down = site.outage > 0
            if down:
                site.outage -= 1
        if down:
            self._simple(503, "Service Unavailable", False)
        return down

    # ---- dispatch

    def _serve(self, *, head: bool) -> None:
        site = self.server.site
        split = urlsplit(self.path)
        path = split.path
        count = site._record(self.command, path, split.query, dict(self.headers.items()))
        if site.delay:
            time.sleep(site.delay)
        root = site.url
        if path.startswith("/fault/"):
            self._fault(path[len("/fault/") :], parse_qs(split.query), count, root, head)
            return
        if self._outage():
            return
        if path.startswith("/challenge/"):
            # 瑞数-style: 412 and a script that sets a cookie and reloads; with the cookie,
            # the page behind it (/challenge/gbk/list.html serves /gbk/list.html).
            if "qm_challenge=passed" not in (self.headers.get("Cookie") or ""):
                self._send(412, _CHALLENGE, "text/html; charset=utf-8", head)
                return
            path = path[len("/challenge") :]
        page = site.page(path, root, split.query)
        if page is None:
            self._simple(404, "Not Found", head)
            return
        etag = page.etag
        last_modified = formatdate(page.last_modified, usegmt=True)
        if self._is_not_modified(etag, page.last_modified):
            site._count_not_modified(path)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.end_headers()
            return
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "no-cache"}
        body = page.body
        if path == "/compressed/feed.xml":
            encoding = parse_qs(split.query).get("enc", ["gzip"])[0]
            body = _compress(body, encoding)
            headers["Content-Encoding"] = encoding
        self._send(200, body, page.content_type, head, headers)

    def _is_not_modified(self, etag: str, last_modified: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
            tags = [t.strip() for t in inm.split(",")]
            return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)
        ims = self.headers.get("If-Modified-Since")
        if ims is None:
            return False
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified <= since.timestamp()

    def _fault(
        self, name: str, query: dict[str, list[str]], count: int, root: str, head: bool
    ) -> None:
        site = self.server.site
        rss = "application/rss+xml; charset=utf-8"
        if name == "500":
            self._simple(500, "Internal Server Error", head)
        elif name == "404":
            self._simple(404, "Not Found", head)
        elif name == "slow":
            delay = min(float(query.get("delay", ["1"])[0]), 120.0)
            time.sleep(delay)
            self._send(200, render_rss(root, site.articles, _utc(site)), rss, head)
        elif name == "flaky":
            if count <= site.flaky_failures:
                self._simple(500, "Internal Server Error", head)
            else:
                self._send(200, render_rss(root, site.articles, _utc(site)), rss, head)
        elif name == "malformed.xml":
            self._send(200, _MALFORMED, rss, head)
        elif name == "garbage":
            body = random.Random(20250911).randbytes(8192)
            self._send(200, body, "text/html", head)
        elif name == "reset":
            # RST instead of an answer: linger 0, then close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif name == "hangup":
            # A whole answer that announces keep-alive, then the connection closed:
            # as a server does whose idle timeout is shorter than the client's.
            self._send(200, render_rss(root, site.articles, _utc(site)), rss, head)
            self.close_connection = True
        elif name == "redirect-loop":
            self.send_response(302)
            self.send_header("Location", "/fault/redirect-loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif name == "huge":
            self._huge(site.huge_size, announce="length" in query, head=head)
        elif name == "429":
            if count <= site.rate_limited:
                self._send(429, b"slow down", "text/plain", head, {"Retry-After": "1"})
            else:
                self._send(200, render_rss(root, site.articles, _utc(site)), rss, head)
        elif name == "redirect-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/feed.xml")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif name == "bad-br":
            self._send(
                200, b"<rss>not brotli at all</rss>" * 20, rss, head, {"Content-Encoding": "br"}
            )
        elif name == "bomb":
            encoding = query.get("enc", ["gzip"])[0]
            self._send(200, _bomb(encoding), "text/html", head, {"Content-Encoding": encoding})
        elif name == "drip":
            self._drip(float(query.get("every", ["2"])[0]), head)
        elif name == "redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", ["/"])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif name == "links.xml":
            links = [(f"链接 {i}", to, "短") for i, to in enumerate(query.get("to", []))]
            self._send(200, _feed(links), rss, head)
        elif name == "long-title.xml":
            title = "质量强省" * min(int(query.get("n", ["1000"])[0]), 1_000_000)
            self._send(200, _feed([(title, f"{root}/fault/page/1", "")]), rss, head)
        elif name == "many.xml":
            count = min(int(query.get("n", ["10"])[0]), 5000)
            kind = query.get("kind", ["page"])[0]
            items = [(f"第{k}篇", f"{root}/fault/{kind}/{k}", "") for k in range(count, 0, -1)]
            self._send(200, _feed(items), rss, head)
        elif name.startswith("page/"):
            k = name.removeprefix("page/")
            time.sleep(min(float(query.get("delay", ["0"])[0]), 30.0))
            text = (
                f"<p>第{k}篇：市场监管局第{k}次产品质量抽查，共抽查企业{k}家，"
                f"合格率比上年提高。编号{k}的报告同时发布。</p>"
            ) * 3
            page = f"<html><head><title>第{k}篇</title></head><body><article>{text}</article>"
            self._send(200, (page + "</body></html>").encode(), "text/html; charset=utf-8", head)
        elif name.startswith("short/"):
            page = "<html><body><article><p>短</p></article></body></html>"
            self._send(200, page.encode(), "text/html; charset=utf-8", head)
        elif name == "recovered.xml":
            self._send(200, _RECOVERABLE.replace(b"ROOT", root.encode()), rss, head)
        else:
            self._simple(404, "Not Found", head)

    # ---- writing

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _simple(self, status: int, reason: str, head: bool) -> None:
        body = f"<html><body><h1>{status} {reason}</h1></body></html>\n".encode()
        self._send(status, body, "text/html; charset=utf-8", head)

    def _drip(self, every: float, head: bool) -> None:
        """A body of 1,000 bytes, announced, sent one byte every ``every`` seconds."""
        body = b"<html>" + b" " * 994
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(every)
        except OSError:  # the client gave up: that is what its deadline does
            self.close_connection = True

    def _huge(self, size: int, *, announce: bool, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if announce:
            self.send_header("Content-Length", str(size))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head:
            return
        try:
            for chunk in self.server.site.huge_chunks(size):
                if announce:
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if not announce:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading: that is what the size cap does
            self.close_connection = True


@functools.cache
def _bomb(encoding: str) -> bytes:
    """64 MB of zeros, compressed as ``encoding`` (comma-separated: applied in turn)."""
    body = bytes(64 << 20)
    for one in encoding.split(","):
        body = _compress(body, one.strip())
    return body


def _feed(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, link, description) items."""
    rows = "".join(
        f"<item><title>{_xml(t)}</title><link>{_xml(link)}</link>"
        f"<guid>{_xml(link)}</guid><description>{_xml(d)}</description></item>"
        for t, link, d in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>faults</title><link>http://127.0.0.1/</link>{rows}</channel></rss>"
    ).encode()


def _utc(site: NewsSite) -> datetime:
    return datetime.fromtimestamp(site._changed_at, UTC)


# --------------------------------------------------------------------------- demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fixture news site.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--write-corpus", action="store_true", help="regenerate corpus.jsonl")
    args = parser.parse_args(argv)
    if args.write_corpus:
        print(write_corpus())
        return
    site = NewsSite(host=args.host, port=args.port).start()
    print(site.url, flush=True)
    for path in ("/feed.xml", "/atom.xml", "/gbk/list.html", "/mislabelled/list.html"):
        print(f"  {site.url}{path}", flush=True)
    site.serve_forever()


if __name__ == "__main__":
    main()
