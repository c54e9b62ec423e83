"""HTML list pages: CSS selectors pick the items, their links, titles and dates."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from monitor.errors import ParseError
from monitor.extract import parse_date
from monitor.model import Entry, FetchResult
from monitor.sources import register

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "#")


def _text(tag: Tag | None) -> str:
    return " ".join(tag.get_text(" ", strip=True).split()) if tag is not None else ""


@register("html")
def parse_list(result: FetchResult, source: Any) -> list[Entry]:
    selectors = source.list
    soup = BeautifulSoup(result.text, "lxml")
    items = soup.select(selectors.item)
    if not items:
        raise ParseError(source.id, f"list selector {selectors.item!r} matched nothing")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in items:
        link = item if item.name == "a" else item.select_one(selectors.link)
        href = (link.get("href") if link is not None else None) or ""
        if not isinstance(href, str) or not href.strip() or href.strip().startswith(_SKIP_SCHEMES):
            continue
        url = urljoin(result.final_url, href.strip())
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        title_tag = item.select_one(selectors.title) if selectors.title else None
        title = _text(title_tag)
        if not title and link is not None:
            attr = link.get("title")
            title = attr.strip() if isinstance(attr, str) and attr.strip() else _text(link)
        date_tag = item.select_one(selectors.date) if selectors.date else None
        published = parse_date(_text(date_tag) if date_tag is not None else _text(item))
        entries.append(Entry(source_id=source.id, url=url, title=title, published=published))
    return entries
