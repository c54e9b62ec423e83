"""``quality-monitor suggest URL``: a ready ``sources.yaml`` entry for a page. [IO]

The page is fetched once through the :class:`~monitor.fetch.Fetcher`; then the
ways of reading it are tried in the order a user would want them, and the
first that lists items wins:

1. the page is itself a feed, or advertises one (``<link rel="alternate">``):
   ``kind: rss``;
2. its URL or markup names a CMS family with a kind of its own
   (:func:`monitor.sources.detect.cms_family`): ``jcms``, ``jpaas``,
   ``gkmlpt`` — asked through that kind, as a poll would;
3. its list, found by :func:`monitor.sources.detect.detect`: ``kind: html``
   with the selectors that read it (or without ``list:`` when no simple
   selector does: detection then reads it at every poll).

The first item's page is then fetched to name the element holding the
article (:func:`monitor.extract.content_selector`). Only this module does
I/O; the choices are the pure functions it calls, and :func:`render_yaml`
writes the entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from monitor import sources
from monitor.clock import CHINA as CHINA_TZ
from monitor.config import SourceConfig
from monitor.errors import SourceError
from monitor.extract import content_selector
from monitor.fetch import Fetcher
from monitor.listing import read_listing
from monitor.model import Entry, FetchResult
from monitor.sources.detect import (
    advertised_feeds,
    cms_family,
    detect,
    looks_like_feed,
)

PREVIEW = 3  # items shown
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")
_TITLE_PARTS = re.compile(r"\s*(?:[_|｜—–]|--|\s-\s)\s*")
_HOST_SUFFIX = re.compile(r"\.(?:gov|com|org|edu|net)\.cn$|\.(?:cn|com|org|net)$")
_ID_JUNK = re.compile(r"[^a-z0-9_.-]+")
_SOURCE = TypeAdapter(SourceConfig)


SourceEntry = dict[str, str | dict[str, str]]
"""A ``sources.yaml`` entry as suggested: scalars, and one level of mappings
(``list:``'s selectors, ``article:``'s content)."""


class PreviewItem(TypedDict):
    title: str
    url: str
    published: str | None  # the day in China, ISO


class SuggestionJson(TypedDict):
    """``suggest --json``'s answer."""

    url: str
    source: SourceEntry
    found_by: str
    family: str | None
    preview: list[PreviewItem]
    notes: list[str]


@dataclass
class Suggestion:
    """A source entry for ``sources.yaml`` and what backs it."""

    url: str  # the page asked about
    source: SourceEntry = field(default_factory=dict)  # the entry, ready for YAML
    preview: list[Entry] = field(default_factory=list)
    found_by: str = ""  # feed | jcms | jpaas | gkmlpt | selectors | detection
    family: str | None = None  # the CMS family the page betrays, if any
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> SuggestionJson:
        return {
            "url": self.url,
            "source": self.source,
            "found_by": self.found_by,
            "family": self.family,
            "preview": [
                {"title": e.title, "url": e.url, "published": _day(e)} for e in self.preview
            ],
            "notes": self.notes,
        }


async def suggest(url: str, fetcher: Fetcher, *, timeout: float = 20.0) -> Suggestion:
    """Fetch ``url`` and work out its entry. Raises FetchError when the page cannot
    be read; a suggestion with no ``source`` when no list was found."""
    page = await fetcher.get(url, source_id="suggest", timeout=timeout)
    found = Suggestion(url=page.final_url)
    text, base = page.text, page.final_url
    title = page_title(text)
    common = {"id": source_id(base), "name": source_name(title, base)}
    found.family = cms_family(text, base)
    for kind, extra in _candidates(page):
        try:
            candidate = _SOURCE.validate_python({**common, "kind": kind, **extra})
        except ValidationError as exc:
            found.notes.append(f"{kind}: {exc.errors()[0]['msg']}")
            continue
        try:
            if kind == "html":
                entries = list(sources.parse(page, candidate))
            else:
                listing = await read_listing(candidate, fetcher, timeout=timeout)
                entries = listing.entries
        except SourceError as exc:
            found.notes.append(f"{kind}: {exc.reason}")
            continue
        if not entries:
            found.notes.append(f"{kind}: no items")
            continue
        found.source = {**common, "kind": kind, **extra}
        found.preview = entries[:PREVIEW]
        found.found_by = {
            "rss": "feed",
            "html": "selectors" if "list" in extra else "detection",
        }.get(kind, kind)
        break
    if not found.source:
        return found
    if found.preview:
        try:
            article = await fetcher.get(found.preview[0].url, source_id="suggest", timeout=timeout)
        except SourceError as exc:
            found.notes.append(f"article: {exc.reason}")
        else:
            selector = content_selector(article.text, article.final_url)
            if selector:
                found.source["article"] = {"content": selector}
    return found


def _candidates(page: FetchResult) -> list[tuple[str, SourceEntry]]:
    """The ways to read the page, in the order they are tried."""
    text, base = page.text, page.final_url
    found: list[tuple[str, SourceEntry]] = []
    if looks_like_feed(text):
        return [("rss", {"url": base})]
    found += [("rss", {"url": feed}) for feed in advertised_feeds(text, base)[:1]]
    family = cms_family(text, base)
    if family in ("jcms", "jpaas"):
        found.append((family, {"url": base}))
    elif family == "gkmlpt":
        parts = urlsplit(base)
        found.append(("gkmlpt", {"url": f"{parts.scheme}://{parts.netloc}/"}))
    detection = detect(text, base, now=page.fetched_at)
    if detection.entries and detection.selectors is not None:
        found.append(("html", {"url": base, "list": detection.selectors.as_dict()}))
    elif detection.entries:
        found.append(("html", {"url": base}))
    return found


def page_title(text: str) -> str:
    m = _TITLE.search(text[:65536])
    return " ".join(_TAGS.sub("", m.group(1)).split()) if m else ""


def source_name(title: str, url: str) -> str:
    """ "工作动态_四川省市场监督管理局" → "四川省市场监督管理局 工作动态" (site, then column)."""
    parts = [p for p in _TITLE_PARTS.split(title) if p]
    if len(parts) >= 2:
        return f"{parts[-1]} {parts[0]}"
    return title or (urlsplit(url).hostname or url)


def source_id(url: str) -> str:
    """A lowercase id from the host and the column: ``scjgj.sc.gov.cn/…/ccxx.shtml`` →
    ``scjgj-sc-ccxx``."""
    parts = urlsplit(url)
    host = _HOST_SUFFIX.sub("", re.sub(r"^(?:www|m)\.", "", (parts.hostname or "site").lower()))
    segments = [re.sub(r"\.\w+$", "", s) for s in parts.path.lower().split("/") if s]
    while segments and segments[-1] in ("index", "list", "default", "main"):
        segments.pop()
    column = segments[-1] if segments else ""
    slug = _ID_JUNK.sub("-", "-".join(x for x in (host.replace(".", "-"), column) if x))
    return slug.strip("-._")[:64] or "source"


def _day(entry: Entry) -> str | None:
    return entry.published.astimezone(CHINA_TZ).date().isoformat() if entry.published else None


def render_yaml(found: Suggestion) -> str:
    """The entry as it goes under ``sources:``, with the preview as comments."""
    lines = [f"  - id: {_scalar(found.source['id'])}"]
    for key, value in found.source.items():
        if key == "id":
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items())
            lines.append(f"    {key}: {{{inner}}}")
        else:
            lines.append(f"    {key}: {_scalar(value)}")
    how = {
        "feed": "a feed (the page's own or the one it advertises)",
        "selectors": "the list found on the page, read by these selectors",
        "detection": "the list found on the page (no simple selectors read it: found each poll)",
    }.get(found.found_by, f"the {found.found_by} family's own kind")
    lines.append(f"    # read as {how}; the first items:")
    for entry in found.preview:
        lines.append(f"    #   {_day(entry) or '(no date)':<10}  {entry.title}  <{entry.url}>")
    return "\n".join(lines) + "\n"


def _scalar(value: str | dict[str, str]) -> str:
    """A YAML scalar: double-quoted as JSON writes it (valid YAML, never read as a
    number, date or boolean), the kind bare."""
    if isinstance(value, str) and value in sources.PARSERS:
        return value
    return json.dumps(value, ensure_ascii=False)


__all__ = ["Suggestion", "page_title", "render_yaml", "source_id", "source_name", "suggest"]
