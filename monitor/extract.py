"""Article page → title, publication date and main text. Pure.

In order of trust: the site's own metadata (``ArticleTitle``, ``PubDate``,
``og:*`` — TRS, JCMS and gkmlpt sites all write them), the source's configured
``article.content`` selector, and otherwise trafilatura, a proven main-text
extractor. Page furniture that templates put inside the article's element
(share bars, reader comments, "related" lists, print links, footers, nav) is
removed by structure here; text glued after the article's end inside the same
element (a second article after the byline) is cut later by
:func:`monitor.normalize.cut_trailing_matter`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from monitor.clock import CHINA as CHINA_TZ

# bs4 (with soupsieve and lxml's HTML parser) is imported where a page is parsed,
# not at start: a pass that finds nothing new parses no HTML.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

_DATE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[\sT_-]*(?P<H>\d{1,2})[:时](?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
_BLOCKS = {
    "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "blockquote", "pre", "dd", "dt", "figure", "figcaption", "center",
}  # fmt: skip
_JUNK_TAGS = ("script", "style", "noscript", "iframe", "form", "button", "select", "svg")
# Page furniture that CMS templates put inside the article's own element: share
# bars, reader comments, "related" lists, print/close links, QR codes, footers.
_JUNK_INSIDE = ", ".join(
    (
        "nav, footer, aside, header",
        ".nav, .footer, .breadcrumb, .crumbs, .location, .position",
        ".share, .share-bar, .bdsharebuttonbox, .bdshare, [class*=share], [id*=share]",
        ".comment, .comments, #comments, .comment-list, .pinglun, [class*=comment]",
        ".related, .relate, .xgxw, .xglj, .xgwz, .recommend, .hot-news, .tuijian",
        ".print, .close-window, .prt, .ewm, .qrcode, .erweima, .fontsize, .zihao",
    )
)
_TITLE_META = ("ArticleTitle", "og:title", "twitter:title", "title")
_DATE_META = (
    "PubDate",
    "pubdate",
    "firstpublishedtime",
    "publishdate",
    "article:published_time",
    "og:release_date",
    "Maketime",
    "date",
    "dc.date",
)


_MONTH_DAY = re.compile(
    r"(?<![\d.:/-])(?P<m>\d{1,2})\s*[-/月]\s*(?P<d>\d{1,2})(?:\s*日|(?=[\s\])）】]|$))"
    r"(?:\s*(?P<H>\d{1,2})[:时](?P<M>\d{2}))?"
)


def parse_date(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """The first date in a string, in the formats Chinese sites use.

    ``2025-09-10``, ``2025/9/10 10:00``, ``2025年09月10日``, ISO 8601. A time
    without a zone is China time (UTC+8); the result is in UTC. With ``now``
    (when the page was fetched), a date without its year (``[09-10]``,
    ``9月10日``) gets the latest year that does not put it in the future.
    """
    if not text:
        return None
    m = _DATE.search(text)
    if not m:
        return _month_day(text, now) if now is not None else None
    try:
        tz: timezone = CHINA_TZ
        if m.group("tz"):
            raw = m.group("tz")
            if raw == "Z":
                tz = UTC
            else:
                sign = 1 if raw[0] == "+" else -1
                digits = raw[1:].replace(":", "")
                tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        value = datetime(
            int(m.group("y")),
            int(m.group("m")),
            int(m.group("d")),
            int(m.group("H") or 0),
            int(m.group("M") or 0),
            int(m.group("S") or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return value.astimezone(UTC)


def date_span(text: str) -> tuple[int, int] | None:
    """Where the first date of ``text`` is (a full date, else a month and day), or None.

    For telling a date apart from the words around it (a list item's
    "发布时间：2025年9月10日", "[09-10]") without needing the year.
    """
    m = _DATE.search(text) or _MONTH_DAY.search(text)
    return m.span() if m else None


def _month_day(text: str, now: datetime) -> datetime | None:
    m = _MONTH_DAY.search(text)
    if not m:
        return None
    today = now.astimezone(CHINA_TZ)
    for year in (today.year, today.year - 1):
        try:
            value = datetime(
                year,
                int(m.group("m")),
                int(m.group("d")),
                int(m.group("H") or 0),
                int(m.group("M") or 0),
                tzinfo=CHINA_TZ,
            )
        except ValueError:
            return None
        if value <= today + timedelta(days=1):  # a day's grace for clocks and time zones
            return value.astimezone(UTC)
    return None


def is_date_only(value: datetime | None) -> bool:
    """True for a date a list gave without its time (midnight, China time)."""
    if value is None:
        return False
    local = value.astimezone(CHINA_TZ)
    return (local.hour, local.minute, local.second) == (0, 0, 0)


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str
    text: str
    published: datetime | None


def _meta(soup: BeautifulSoup, names: tuple[str, ...]) -> str | None:
    lowered = {n.lower() for n in names}
    found: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = tag.get("name") or tag.get("property") or tag.get("itemprop")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str) and key.lower() in lowered:
            found.setdefault(key.lower(), content.strip())
    for name in names:
        if found.get(name.lower()):
            return found[name.lower()]
    return None


_WEIGHINGS = 50  # furniture candidates whose size is checked; later ones simply go


def drop_furniture(element: Tag) -> Tag:
    """Remove share bars, comments, related lists and the like from inside an element.

    Furniture is small: an element that holds most of the text (a ``<header>``
    some templates wrap round the whole page, a ``share`` class on the
    article's box) is the page, and stays."""
    total = len(element.get_text())
    weighed = 0  # each weighing reads the tag's text: a hostile page nests thousands
    for tag in element.select(_JUNK_INSIDE):
        if tag is element or tag.decomposed:
            continue
        if weighed < _WEIGHINGS:
            weighed += 1
            if len(tag.get_text()) > total / 2:
                continue
        tag.decompose()
    return element


def block_text(element: Tag) -> str:
    """The text of an element with a line break after every block, as a reader sees it."""
    from bs4.element import NavigableString  # bs4 leaves it out of its __all__

    for tag in element.find_all(_JUNK_TAGS):
        tag.decompose()
    for br in element.find_all("br"):
        br.replace_with(NavigableString("\n"))
    for tag in element.find_all(_BLOCKS):
        tag.insert_before(NavigableString("\n"))
        tag.insert_after(NavigableString("\n"))
    lines = (" ".join(line.split()) for line in element.get_text("").split("\n"))
    return "\n".join(line for line in lines if line)


def extract_article(html: str, url: str, selectors: Any = None) -> ExtractedPage:
    """Title, date and main text of one article page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = _meta(soup, _TITLE_META) or ""
    published = parse_date(_meta(soup, _DATE_META))

    if selectors is not None and selectors.title and (node := soup.select_one(selectors.title)):
        title = " ".join(node.get_text(" ", strip=True).split()) or title
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    if not title and soup.title and soup.title.string:
        title = re.split(r"\s+[-_|]\s+|_", soup.title.string.strip())[0]
    if selectors is not None and selectors.date and (node := soup.select_one(selectors.date)):
        published = parse_date(node.get_text(" ", strip=True)) or published

    text = ""
    if selectors is not None and selectors.content:
        node = soup.select_one(selectors.content)
        if node is not None:
            text = block_text(drop_furniture(node))
    if not text:
        text = _trafilatura(html, url, precision=True)
        if _implausible(text):
            # Precision first drops too much on some pages (a finance page gave only
            # its disclaimer): ask again for recall, and keep that if it is an article.
            recalled = _trafilatura(html, url, precision=False)
            if _prose(recalled) > _prose(text):
                text = recalled
    if not text:
        body = soup.body
        text = block_text(drop_furniture(body)) if body is not None else ""
    title = strip_site_suffix(title.strip(), _site_names(soup))
    if published is None:
        published = _date_near_title(soup) or _date_after_title(soup, title)
    return ExtractedPage(title=title, text=text, published=published)


def _trafilatura(html: str, url: str, *, precision: bool) -> str:
    import trafilatura  # 0.1 s of imports that a pass finding nothing new never needs

    return (
        trafilatura.extract(
            html,
            url=url,
            include_comments=False,
            include_tables=True,
            favor_precision=precision,
            favor_recall=not precision,
            deduplicate=False,
            with_metadata=False,
        )
        or ""
    )


_DISCLAIMER = re.compile(
    r"免责声明|免責聲明|版权所有|版權所有|不构成投资建议|投资有风险|风险自负|"
    r"disclaimer|copyright|all rights reserved",
    re.IGNORECASE,
)
_NOT_PROSE = re.compile(rf"{_DATE.pattern}|[\s\W\d_]+")
_ARTICLE = 50  # characters of prose (not a disclaimer, not a date) that make an article


def _prose(text: str) -> int:
    """Characters of prose: letters of the lines that are not a disclaimer, dates out."""
    return sum(
        len(_NOT_PROSE.sub("", line)) for line in text.split("\n") if not _DISCLAIMER.search(line)
    )


def _implausible(text: str) -> bool:
    """Whether extracted text is no article: nothing, a date alone, a disclaimer
    (a short article stays what it is: recall would add the page's furniture)."""
    prose = _prose(text)
    if prose >= _ARTICLE:
        return False
    return prose < 10 or _DISCLAIMER.search(text) is not None


# A site's or column's name after the headline, joined without spaces
# ("…-新华网", "…_中国政府网"); with spaces around the dash, it is split off
# with the <title> already.
_SITE_SUFFIX = re.compile(
    r"\s*[-_|｜—–]+\s*[\w·.]{1,16}?"
    r"(?:网|网站|官网|门户|报|日报|晚报|频道|客户端|在线|新闻|电视台|政府|人民政府)$"
)


_NOT_SITES = ("互联网", "物联网", "因特网", "局域网", "电网", "管网", "路网")


def strip_site_suffix(title: str, site_names: tuple[str, ...] = ()) -> str:
    """A headline without the site name some pages append to it: a name the page
    gives as its site's (``og:site_name``, ``SiteName``), or one that reads as a
    site's (…网, …报, …政府), not as a network the headline is about (工业互联网)."""
    for name in site_names:
        for dash in "-_|｜—–":
            if name and title.endswith(dash + name) and len(title) > len(name) + 4:
                return title[: -len(name) - 1].rstrip()
    match = _SITE_SUFFIX.search(title)
    if match is None or len(title) - len(match.group(0)) < 4:
        return title
    if match.group(0).endswith(_NOT_SITES):
        return title
    return title[: match.start()]


# The article elements of the CMS families (../shared/research/chinese-sources.md):
# TRS, gov.cn, gkmlpt, JCMS, Anhui, Chengdu, People's Daily, China News, …
CONTENT_SELECTORS = (
    "div.TRS_Editor",
    "div.trs_paper_default",
    "div.TRS_UEDITOR",
    "#UCAP-CONTENT",
    "div.article-content",
    "#zoom",
    "div.wzcon",
    "div.detail_content",
    "div.Index_ShowDetail_Content",
    "div.rm_txt_con",
    "div.content_desc",
    "div.left_zw",
    "div.easysite-news-peruse",
    "div.v_news_content",
)
_CONTENT_ENOUGH = 0.6  # of the main text trafilatura finds
_SELECTOR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def content_selector(html: str, url: str) -> str | None:
    """A CSS selector for the element holding an article page's text, or None.

    A known CMS element when it holds most of the main text trafilatura finds;
    else the smallest element, named by its id or a class the page gives no
    other element, that holds the main text's first and last lines. For
    ``quality-monitor suggest``'s ``article: {content: …}``.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    import trafilatura

    main = trafilatura.extract(html, url=url, include_comments=False, favor_precision=True) or ""
    size = len("".join(main.split()))
    for selector in CONTENT_SELECTORS:
        node = soup.select_one(selector)
        if node is not None:
            text = "".join(node.get_text("", strip=True).split())
            if len(text) >= 50 and len(text) >= _CONTENT_ENOUGH * size:
                return selector
    lines = ["".join(line.split()) for line in main.splitlines() if len(line.strip()) >= 8]
    if not lines:
        return None
    first, last = lines[0][:20], lines[-1][-20:]
    best: tuple[int, str] | None = None
    for node in soup.find_all(("div", "article", "section", "td", "main")):
        text = "".join(node.get_text("", strip=True).split())
        if first not in text or last not in text or (best is not None and len(text) >= best[0]):
            continue
        name = _unique_name(soup, node)
        if name is not None:
            best = (len(text), name)
    return best[1] if best is not None else None


def _unique_name(soup: BeautifulSoup, node: Tag) -> str | None:
    ident = node.get("id")
    if isinstance(ident, str) and _SELECTOR_NAME.match(ident):
        return f"#{ident}"
    classes = node.get("class")
    for cls in classes if isinstance(classes, list) else ():
        if _SELECTOR_NAME.match(cls) and len(soup.select(f"{node.name}.{cls}")) == 1:
            return f"{node.name}.{cls}"
    return None


def _date_near_title(soup: BeautifulSoup) -> datetime | None:
    """Many government pages print "发布时间：2025-09-10" under the headline."""
    for node in soup.find_all(string=re.compile(r"(发布|發布|发表|日期|时间|Date)")):
        parent = node.parent
        if parent is not None and (found := parse_date(parent.get_text(" ", strip=True))):
            return found
    return None


def _site_names(soup: BeautifulSoup) -> tuple[str, ...]:
    names = (_meta(soup, (name,)) for name in ("og:site_name", "SiteName", "ColumnName"))
    return tuple(n for n in names if n)


def _date_after_title(soup: BeautifulSoup, title: str) -> datetime | None:
    """A date printed under the headline without a label ("2025-09-10 10:00
    来源：…"): the first full date in the text that follows the title. Only
    there: a navigation bar's "today is …" comes before it."""
    body = soup.body
    if body is None or not title:
        return None
    text = " ".join(body.get_text(" ").split())
    at = text.find(title[:20])
    if at < 0:
        return None
    near = text[at + len(title[:20]) : at + len(title[:20]) + 300]
    return parse_date(near)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (a feed's content or summary)."""
    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(fragment, "lxml")
    body = soup.body or soup
    return block_text(body) if isinstance(body, Tag) else soup.get_text("\n")
