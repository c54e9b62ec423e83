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
from typing import Literal
from urllib.parse import urlencode, urlsplit

from pydantic import Field, model_validator

from monitor.config.sources import SourceBase
from monitor.config.values import Model, Selector
from monitor.errors import ParseError
from monitor.model import Entry, FetchResult
from monitor.sources import Request, default_request, headers_of, register
from monitor.sources.html import entries_from_items, soup_of

_RECORD = re.compile(r"<record\b[^>]*>(.*?)</record\s*>", re.S | re.I)
_CDATA = re.compile(r"^\s*<!\[CDATA\[(.*?)\]\]>\s*$", re.S)
_COLUMN = re.compile(r"/col/col(\d+)")
_PER_PAGE = 15  # the presentation page size the API expects; records are asked by range


class ItemSelectors(Model):
    """Inside one record of a CMS list (a JCMS record): the link, title and date."""

    link: Selector = Field("a", description="the element whose href is the link")
    title: Selector | None = Field(None, description="the title (default: the link)")
    date: Selector | None = Field(None, description="the date (default: a date in the record)")


class JcmsSource(SourceBase):
    """Hanweb JCMS: the column page's records, or its dataproxy.jsp record API."""

    kind: Literal["jcms"]
    columnid: int | None = Field(None, description="default: the N of /col/colN/ in url")
    unitid: int | None = Field(None, description="with webid: read the dataproxy.jsp API")
    webid: int | None = None
    proxy: str = Field("/module/web/jpage/dataproxy.jsp", description="the record API's path")
    records: int = Field(45, ge=1, le=300, description="records asked for per request")
    item: ItemSelectors = ItemSelectors()

    @model_validator(mode="after")
    def _ids(self) -> JcmsSource:
        if (self.unitid is None) != (self.webid is None):
            raise ValueError("give both unitid and webid, or neither (records on the page)")
        if self.unitid is not None and self.columnid is None and "/col/col" not in self.url:
            raise ValueError("columnid is needed when url has no /col/colN/")
        return self


def column_id(source: JcmsSource) -> int | None:
    if source.columnid is not None:
        return int(source.columnid)
    m = _COLUMN.search(source.url)
    return int(m.group(1)) if m else None


def plan(source: JcmsSource, page: int) -> Request | None:
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


@register(JcmsSource, request=plan)
def parse_records(result: FetchResult, source: JcmsSource) -> list[Entry]:
    fragments = records(result.text)
    if not fragments:
        raise ParseError(source.id, "no JCMS <record> found: not a JCMS column or record API")
    entries: list[Entry] = []
    seen: set[str] = set()
    for fragment in fragments:
        soup = soup_of(fragment)
        root = soup.body or soup
        for entry in entries_from_items(
            [root],
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
