"""HTML list pages: CSS selectors pick the items, their links, titles and dates.

Without ``list:`` the list is found on the page (:mod:`monitor.sources.detect`),
unless the page advertises a feed: then the feed is read instead (the step
below). When configured selectors suddenly give nothing (a template change),
detection stands in for that poll, and the entries say so (``Parsed.notice``,
raised once as the source's ``selectors`` flag, with the selectors to write).

:func:`entries_from_items` is shared with the CMS kinds whose lists arrive as
HTML fragments (JCMS records, jpaas ``data.html``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from monitor.config.sources import ListSelectors, SourceBase
from monitor.errors import ParseError
from monitor.extract import parse_date
from monitor.model import Entry, FetchResult
from monitor.sources import Parsed, Request, headers_of, join, register

# bs4 and the list detector (which needs it) are imported when a page is parsed:
# a configuration with no HTML source, or a pass of 304s, never needs them.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "#")


class HtmlSource(SourceBase):
    kind: Literal["html"]
    list: ListSelectors | None = Field(
        None, description="the list's selectors; without them the list is found on the page"
    )


def soup_of(text: str) -> BeautifulSoup:
    """lxml's HTML tree of any answer. A list URL that serves XML, or a fragment that
    looks like a file name, is read all the same: bs4's warnings about it are noise here."""
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(text, "lxml")


def _text(tag: Tag | None) -> str:
    return " ".join(tag.get_text(" ", strip=True).split()) if tag is not None else ""


def entries_from_items(
    items: Iterable[Tag],
    *,
    source_id: str,
    base_url: str,
    link: str = "a",
    title: str | None = None,
    date: str | None = None,
    now: datetime | None = None,
) -> list[Entry]:
    """One entry per item that has a usable link; the same link twice counts once."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in items:
        anchor = item if item.name == "a" else item.select_one(link)
        href = (anchor.get("href") if anchor is not None else None) or ""
        if not isinstance(href, str) or not href.strip() or href.strip().startswith(_SKIP_SCHEMES):
            continue
        url = join(base_url, href.strip())
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        title_text = _text(item.select_one(title)) if title else ""
        if not title_text and anchor is not None:
            attr = anchor.get("title")
            title_text = attr.strip() if isinstance(attr, str) and attr.strip() else _text(anchor)
        date_tag = item.select_one(date) if date else None
        published = parse_date(_text(date_tag) if date_tag is not None else _text(item), now=now)
        entries.append(Entry(source_id=source_id, url=url, title=title_text, published=published))
    return entries


def feed_step(result: FetchResult, source: HtmlSource) -> Request | None:
    """A source without ``list:`` whose page advertises a feed reads the feed."""
    from monitor.sources.detect import advertised_feeds, looks_like_feed

    if source.list is not None or looks_like_feed(result.text):
        return None
    feeds = advertised_feeds(result.text, result.final_url)
    if not feeds or feeds[0] == result.final_url:
        return None
    return Request(feeds[0], headers=headers_of(source))


@register(HtmlSource, step=feed_step)
def parse_list(result: FetchResult, source: HtmlSource) -> list[Entry]:
    from monitor.sources.detect import detect, looks_like_feed

    selectors = source.list
    if selectors is None and looks_like_feed(result.text):
        from monitor.sources.rss import parse_feed

        feed = parse_feed(result, source)
        return Parsed(feed, getattr(feed, "warnings", ()), origin="feed")
    soup = soup_of(result.text)
    if selectors is None:
        found = detect(
            soup, result.final_url, source_id=source.id, now=result.fetched_at, selectors=False
        )
        if not found.entries:
            raise ParseError(
                source.id, "no list of dated links found on the page; give list: selectors"
            )
        return Parsed(found.entries, origin="detection")
    items = soup.select(selectors.item)
    entries = entries_from_items(
        items,
        source_id=source.id,
        base_url=result.final_url,
        link=selectors.link,
        title=selectors.title,
        date=selectors.date,
        now=result.fetched_at,
    )
    # A date selector that matches in no item broke too (the item's text then stands in).
    date = selectors.date or ""
    undated = bool(entries and date) and not any(i.select_one(date) for i in items)
    if entries and not undated:
        return Parsed(entries, origin="selectors")
    # A template change: read the page as if no selectors were given, and say so.
    if entries:  # the date's selector broke
        broken = f"date selector {selectors.date!r} matched nothing"
    elif items:
        broken = f"list selector {selectors.item!r} gave no links"
    else:
        broken = f"list selector {selectors.item!r} matched nothing"
    found = detect(soup, result.final_url, source_id=source.id, now=result.fetched_at)
    if entries and not any(e.published for e in found.entries):
        return Parsed(entries, origin="selectors")  # no dated list either: keep what we have
    if not found.entries:
        raise ParseError(source.id, broken)
    update = (
        f"update list to {found.selectors}"
        if found.selectors is not None
        else "remove list: to let detection read it"
    )
    return Parsed(
        found.entries,
        origin="detection",
        notice=f"{broken}; the list was found without it ({len(found.entries)} items): {update}",
    )
