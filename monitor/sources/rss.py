"""RSS and Atom feeds, read by feedparser."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.errors import ParseError
from monitor.model import Entry, FetchResult
from monitor.sources import register


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


@register("rss")
def parse_feed(result: FetchResult, source: Any) -> list[Entry]:
    headers = {"content-location": result.final_url}
    if result.encoding:
        headers["content-type"] = f"application/xml; charset={result.encoding}"
    feed = feedparser.parse(result.content, response_headers=headers)
    if feed.bozo and not feed.entries:
        cause = feed.get("bozo_exception")
        raise ParseError(source.id, f"not a readable feed: {cause or 'no entries'}")
    entries: list[Entry] = []
    for item in feed.entries:
        link = item.get("link") or ""
        if not link:
            links = [x.get("href") for x in item.get("links", []) if x.get("href")]
            link = links[0] if links else ""
        if not link:
            continue
        url = urljoin(result.final_url, link.strip())
        if not url.startswith(("http://", "https://")):
            continue
        content = item.get("content") or []
        entries.append(
            Entry(
                source_id=source.id,
                url=url,
                title=(item.get("title") or "").strip(),
                published=_when(item),
                guid=(item.get("id") or None),
                summary=item.get("summary") or "",
                content_html=content[0].get("value") if content else None,
            )
        )
    return entries
