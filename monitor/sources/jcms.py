"""Hanweb JCMS ("jpage") sites: ``/col/colN/index.html`` columns, ``/art/…`` articles.

A JCMS column keeps its list as XML records, each an HTML fragment in CDATA::

    <datastore><recordset>
      <record><![CDATA[<li><a href="/art/2025/9/10/art_1229_1.html" title="…">…</a>
        <span>2025-09-10</span></li>]]></record>
    </recordset></datastore>

The column page inlines the first records in a ``<script type="text/xml">``
block; ``/module/web/jpage/dataproxy.jsp`` serves any range of them when
POSTed ``webid``, ``columnid`` and ``unitid``. So a source is the column URL,
plus ``unitid`` and ``webid`` to use the API (which also pages: records
``startrecord``–``endrecord``). Records are found with a tolerant pattern
rather than an XML parser: a broken ``datastore`` wrapper must not lose them.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from monitor.errors import ParseError
from monitor.model import Entry, FetchResult
from monitor.sources import Request, default_request, headers_of, register
from monitor.sources.html import entries_from_items, soup_of

_RECORD = re.compile(r"<record\b[^>]*>(.*?)</record\s*>", re.S | re.I)
_CDATA = re.compile(r"^\s*<!\[CDATA\[(.*?)\]\]>\s*$", re.S)
_COLUMN = re.compile(r"/col/col(\d+)")
_PER_PAGE = 15  # the presentation page size the API expects; records are asked by range


def column_id(source: Any) -> int | None:
    if source.columnid is not None:
        return int(source.columnid)
    m = _COLUMN.search(source.url)
    return int(m.group(1)) if m else None


def plan(source: Any, page: int) -> Request | None:
    if source.unitid is None:
        return default_request(source, page)  # the column page's inline records
    parts = urlsplit(source.url)
    start = (page - 1) * source.records + 1
    query = urlencode(
        {"startrecord": start, "endrecord": start + source.records - 1, "perpage": _PER_PAGE}
    )
    form = (
        ("col", "1"),
        ("appid", "1"),
        ("webid", str(source.webid)),
        ("path", "/"),
        ("columnid", str(column_id(source))),
        ("sourceContentType", "1"),
        ("unitid", str(source.unitid)),
        ("permissiontype", "0"),
    )
    return Request(
        f"{parts.scheme}://{parts.netloc}{source.proxy}?{query}",
        method="POST",
        form=form,
        headers=headers_of(
            source,
            Referer=source.url,
            Accept="application/xml, text/xml, */*; q=0.01",
            **{"X-Requested-With": "XMLHttpRequest"},
        ),
    )


def records(text: str) -> list[str]:
    """The HTML fragment of every record, CDATA or entity-escaped."""
    found = []
    for raw in _RECORD.findall(text):
        m = _CDATA.match(raw)
        fragment = m.group(1) if m else raw
        if "<" not in fragment and "&lt;" in fragment:
            fragment = html_lib.unescape(fragment)
        if fragment.strip():
            found.append(fragment)
    return found


@register("jcms", request=plan)
def parse_records(result: FetchResult, source: Any) -> list[Entry]:
    fragments = records(result.text)
    if not fragments:
        raise ParseError(source.id, "no JCMS <record> found: not a JCMS column or record API")
    entries: list[Entry] = []
    seen: set[str] = set()
    for fragment in fragments:
        soup = soup_of(fragment)
        root = soup.body or soup
        for entry in entries_from_items(
            [root],  # type: ignore[list-item]
            source_id=source.id,
            base_url=result.final_url,
            link=source.item.link,
            title=source.item.title,
            date=source.item.date,
            now=result.fetched_at,
        ):
            if entry.url not in seen:
                seen.add(entry.url)
                entries.append(entry)
    return entries
