"""RSS, Atom and RDF feeds, read by feedparser.

A feed with broken XML that feedparser still recovers entries from is read,
and the breakage reported as a warning (``bozo``); one with no entries at all
is a ParseError.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, Protocol, TypedDict

from lxml import etree

from monitor.config.sources import SourceBase
from monitor.errors import ParseError
from monitor.extract import html_to_text
from monitor.model import Entry, FetchResult
from monitor.sources import Parsed, join, register

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")  # markup in a title
_FEED_ROOT = re.compile(r"<(?:[A-Za-z][\w.-]*:)?(?:rss|feed|RDF|rdf)[\s>/]")
_SNIFF = 65536  # characters in which a feed's root element must appear


# ── what we read of feedparser's answer (feedparser ships no types) ─────────


class _FeedLink(TypedDict, total=False):
    href: str
    rel: str


class _FeedContent(TypedDict, total=False):
    value: str


class _FeedEntry(TypedDict, total=False):
    """One of ``feedparser.parse(...).entries``: the keys we read."""

    link: str
    links: list[_FeedLink]
    title: str
    id: str
    summary: str
    content: list[_FeedContent]
    published_parsed: time.struct_time | None
    updated_parsed: time.struct_time | None
    created_parsed: time.struct_time | None


class _Feed(Protocol):
    """What ``feedparser.parse`` returns, as far as we read it."""

    bozo: int  # true: the XML was broken (``bozo_exception`` says how)
    entries: list[_FeedEntry]

    def get(self, key: str) -> object: ...


def _when(entry: _FeedEntry) -> datetime | None:
    value = (
        entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("created_parsed")
    )
    return _utc(value) if value else None


def _utc(value: time.struct_time) -> datetime | None:
    """A parsed UTC time tuple as a datetime; None past year 1–9999 (0001-01-01+14:00)."""
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _first_link(*candidates: str | None) -> str:
    """The first candidate that can be an http(s) link (relative ones resolve)."""
    for candidate in candidates:
        if candidate and candidate.strip():
            scheme = candidate.strip().partition(":")[0].lower()
            if ":" not in candidate or scheme in ("http", "https") or "/" in scheme:
                return candidate
    return ""


def _plain(title: str) -> str:
    """A title as text: unsanitised feedparser output may carry markup (``<b>…</b>``)."""
    if _TAG.search(title):
        return " ".join(html_to_text(title).split())
    return title.strip()


class RssSource(SourceBase):
    kind: Literal["rss"]


def parse_feed(result: FetchResult, source: SourceBase) -> list[Entry]:
    fast = _read_fast(result, source)
    if fast is not None:
        return fast
    if result.text and not _FEED_ROOT.search(result.text[:_SNIFF]):
        # An HTML page, an error page, 10 MB of filler: feedparser would spend seconds
        # of CPU (holding the GIL, slowing every other poll) to find no entries.
        raise ParseError(
            source.id, "not a readable feed: no <rss>, <feed> or <rdf:RDF> element at its start"
        )
    # feedparser is imported when a feed first needs it: an unchanged pass (every
    # answer a 304) parses nothing, and most feeds take the path above.
    import feedparser

    headers = {"content-location": result.final_url}
    if result.encoding:
        headers["content-type"] = f"application/xml; charset={result.encoding}"
    # Sanitising HTML and resolving links inside it cost a third of the parse; the
    # pipeline only ever takes the text of a feed's HTML (monitor.extract.html_to_text).
    try:
        feed: _Feed = feedparser.parse(
            result.content,
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except ValueError as exc:  # feedparser's charset sniffing: a NUL in a declared encoding
        raise ParseError(source.id, f"not a readable feed: {exc}") from exc
    if feed.bozo and not feed.entries:
        cause = feed.get("bozo_exception")
        raise ParseError(source.id, f"not a readable feed: {cause or 'no entries'}")
    entries = Parsed()
    cause = feed.get("bozo_exception")
    # A label that disagrees with the bytes, or an unusual Content-Type: read fine,
    # not worth a word.
    harmless = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if feed.bozo and not isinstance(cause, harmless):
        entries.warnings.append(
            f"malformed feed ({type(cause).__name__ if cause else 'bozo'}: {cause}); "
            f"{len(feed.entries)} entries recovered"
        )
    for item in feed.entries:
        # feedparser's link, else another (an enclosure, a podcast's audio or an
        # attachment, is no article; a tag: or urn: id taken for a link is none)
        others = [x.get("href") for x in item.get("links", []) if x.get("rel") != "enclosure"]
        link = _first_link(item.get("link"), *others)
        if not link:
            continue
        url = join(result.final_url, link.strip())
        if not url.startswith(("http://", "https://")):
            continue
        content = item.get("content") or []
        entries.append(
            Entry(
                source_id=source.id,
                url=url,
                title=_plain(item.get("title") or ""),
                published=_when(item),
                guid=(item.get("id") or None),
                summary=item.get("summary") or "",
                content_html=content[0].get("value") if content else None,
            )
        )
    return entries


register(RssSource)(parse_feed)  # any source's feed: html reads an advertised one with it


# ── the fast path: well-formed UTF-8 RSS 2.0, RSS 1.0 and Atom 1.0 ─────────
#
# feedparser is thorough and slow (its SAX handlers are Python: ~1 ms per kB,
# the largest cost of a poll whose list changed). Most feeds are well-formed
# UTF-8 XML with nothing unusual in them; those are read here with lxml, taking
# the same fields feedparser gives the code above, by feedparser's rules (which
# link, which date; tests/test_sources.py and tests/test_drills_fuzz.py check
# that both agree; so did all 739 such feeds of feedparser's own test suite).
# Anything else — malformed XML, another encoding, a DTD or entities,
# xml:base, XHTML content, a link in an element's text, ids or links nested in
# other elements, other formats — goes to feedparser.

_ATOM = "http://www.w3.org/2005/Atom"
_RSS1 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
# Which element gives which of feedparser's three dates (a later one of a kind
# replaces an earlier one, unparseable or not, as in feedparser); an entry's date
# is then its published, else updated, else created date.
_DATES = {
    "pubDate": "published",
    f"{_DCTERMS}issued": "published",
    f"{_DC}date": "updated",
    f"{_DCTERMS}modified": "updated",
    f"{_DCTERMS}created": "created",
}
_ATOM_DATES = {
    **_DATES,
    "{http://www.w3.org/2005/Atom}published": "published",
    "{http://www.w3.org/2005/Atom}updated": "updated",
}
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UNUSUAL = (b"<!DOCTYPE", b"<!ENTITY", b"xml:base", b'type="xhtml"', b"type='xhtml'")


def _read_fast(result: FetchResult, source: SourceBase) -> Parsed | None:
    """The entries of a plain, well-formed feed, or None: let feedparser read it."""
    content = result.content
    if result.encoding != "utf-8" or not content or any(u in content for u in _UNUSUAL):
        return None
    declared = _DECLARED.match(content[:200])
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    try:
        root = etree.fromstring(
            content,
            etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True),
        )
    except (etree.XMLSyntaxError, ValueError):
        return None
    read: Callable[[etree._Element], _Fields | None]
    guid_is_uri: Callable[[etree._Element], bool]
    if root.tag == "rss":
        channel = root.find("channel")
        items = channel.findall("item") if channel is not None else []
        read, guid_is_uri = _rss_item, _permalink
    elif root.tag == f"{{{_RDF}}}RDF":
        items = root.findall(f"{{{_RSS1}}}item")
        read, guid_is_uri = _rdf_item, _never
    elif root.tag == f"{{{_ATOM}}}feed":
        items = root.findall(f"{{{_ATOM}}}entry")
        read, guid_is_uri = _atom_entry, _always
    else:
        return None
    if not items:
        return None  # feedparser says why (or finds what this missed)
    entries = Parsed()
    for item in items:
        fields = read(item)
        if fields is None:
            return None
        link, title, when, guid, summary, body = fields
        if guid and guid_is_uri(item):
            guid = join(result.final_url, guid) or guid  # feedparser resolves it as a URI too
        if not link:
            continue
        url = join(result.final_url, link.strip())
        if not url.startswith(("http://", "https://")):
            continue
        entries.append(
            Entry(
                source_id=source.id,
                url=url,
                title=_plain(title),
                published=when,
                guid=guid or None,
                summary=summary,
                content_html=body,
            )
        )
    return entries


_Fields = tuple[str, str, "datetime | None", "str | None", str, "str | None"]


def _text(element: etree._Element, tag: str) -> str | None:
    found = element.find(tag)
    if found is None:
        return None
    if len(found):  # markup inside a text field: feedparser keeps it; so do we
        return None
    return (found.text or "").strip()


def _dates(item: etree._Element, kinds: dict[str, str]) -> datetime | None:
    """The entry's date as feedparser gives it (see ``_DATES``)."""
    from feedparser.datetimes import _parse_date  # the same date rules on both paths

    found: dict[str, time.struct_time | None] = {}
    for child in item:
        kind = kinds.get(child.tag) if isinstance(child.tag, str) else None
        if kind is not None:
            found[kind] = _parse_date((child.text or "").strip())
    for kind in ("published", "updated", "created"):
        if value := found.get(kind):
            return _utc(value)
    return None


def _permalink(item: etree._Element) -> bool:
    """An RSS guid is a URI (resolved against the feed's URL) unless isPermaLink="false"."""
    guid = item.find("guid")
    return guid is not None and guid.get("isPermaLink", "true") == "true"


def _always(_item: etree._Element) -> bool:
    return True  # an Atom id


def _never(_item: etree._Element) -> bool:
    return False  # rdf:about is already absolute


def _rss_item(item: etree._Element) -> _Fields | None:
    if any(len(child) for child in item):
        return None  # nested markup (an enclosure is fine, it has no children)
    guid = _text(item, "guid")
    link = _text(item, "link") or ""
    if not link and guid and _permalink(item):
        link = guid  # feedparser's rule: a permalink guid stands in for a missing link
    summary = _text(item, "description")
    body = _text(item, _CONTENT)
    return (
        link,
        _text(item, "title") or "",
        _dates(item, _DATES),
        guid,
        summary if summary is not None else (body or ""),
        body,
    )


def _rdf_item(item: etree._Element) -> _Fields | None:
    if any(len(child) for child in item):
        return None
    summary = _text(item, f"{{{_RSS1}}}description")
    body = _text(item, _CONTENT)
    return (
        _text(item, f"{{{_RSS1}}}link") or "",
        _text(item, f"{{{_RSS1}}}title") or "",
        _dates(item, _DATES),
        item.get(f"{{{_RDF}}}about"),
        summary if summary is not None else (body or ""),
        body,
    )


def _atom_entry(entry: etree._Element) -> _Fields | None:
    links = entry.findall(f"{{{_ATOM}}}link")
    if any(not e.get("href") for e in links):
        return None  # a link in the element's text: feedparser's business
    for tag in (f"{{{_ATOM}}}id", f"{{{_ATOM}}}link"):
        if any(e.getparent() is not entry for e in entry.iter(tag)):
            return None  # an id or link nested in <source>, <image>…: feedparser's rules
    # feedparser's link: the last alternate HTML link, else the entry's id (it
    # resolves it as a URI, like a permalink guid); then, on both paths, the
    # first other link that is no enclosure (see _first_link).
    alternates = [
        e.get("href")
        for e in links
        if e.get("rel", "alternate") == "alternate"
        and e.get("type", "text/html").strip().lower() in _HTML_TYPES
    ]
    others = [e.get("href") for e in links if e.get("rel", "alternate") != "enclosure"]
    fields = {}
    for name in ("title", "summary", "content", "id", "published", "updated"):
        element = entry.find(f"{{{_ATOM}}}{name}")
        if element is not None and (len(element) or element.get("src")):
            return None  # markup or an out-of-line body: feedparser's business
        fields[name] = None if element is None else (element.text or "").strip()
    summary, body = fields["summary"], fields["content"]
    link = _first_link(alternates[-1] if alternates else fields["id"], *others)
    return (
        link,
        fields["title"] or "",
        _dates(entry, _ATOM_DATES),
        fields["id"],
        summary if summary is not None else (body or ""),
        body,
    )
