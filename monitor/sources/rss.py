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
from datetime import UTC, datetime, timedelta
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
_XHTML_TYPES = (b'type="xhtml"', b"type='xhtml'")  # the x of xhtml is their 7th byte
_X_VISITS = 64


def _unusual(content: bytes) -> bool:
    """Whether any of ``_UNUSUAL`` is in ``content``. A scan for a short pattern is
    slow (~1 ns a byte of CJK UTF-8, 20 µs for ``<!`` in a 24 kB feed), one for a
    single byte is ``memchr``: ``<!DOCTYPE`` and ``<!ENTITY`` need a ``!``, and
    the other three are found at their ``x`` (a feed has a few), the first
    ``_X_VISITS`` of them looked at in place, the rest of the bytes scanned."""
    if b"!" in content and (b"<!DOCTYPE" in content or b"<!ENTITY" in content):
        return True
    at = content.find(b"x")
    for _ in range(_X_VISITS):
        if at < 0:
            return False
        if content.startswith(b"xml:base", at):
            return True
        if at >= 6 and content.startswith(_XHTML_TYPES, at - 6):
            return True
        at = content.find(b"x", at + 1)
    if at < 0:
        return False
    start = max(at - 6, 0)
    return (
        content.find(b"xml:base", at) >= 0
        or content.find(_XHTML_TYPES[0], start) >= 0
        or content.find(_XHTML_TYPES[1], start) >= 0
    )


def _read_fast(result: FetchResult, source: SourceBase) -> Parsed | None:
    """The entries of a plain, well-formed feed, or None: let feedparser read it."""
    content = result.content
    # Only UTF-8 is read here. An answer not yet decoded is not decoded for that
    # (a full decode, ~4 % of a first pass): when its bytes are read as UTF-8 if
    # valid (see utf8_unless_invalid), lxml parsing them as UTF-8 (no other
    # encoding declared) is the check, as strict as Python's (tests/test_sources.py).
    pending = False
    if not result.decoded:
        from monitor.fetch import utf8_unless_invalid  # who fetched it imported it

        pending = utf8_unless_invalid(content, result.forced)
    if not pending and result.encoding != "utf-8":
        return None
    if not content or _unusual(content):
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
    if pending and (
        (root.getroottree().docinfo.encoding or "").lower() not in ("utf-8", "utf8")
        and result.encoding != "utf-8"
    ):
        return None  # read in another encoding it declared (or in EBCDIC): not UTF-8
    read: Callable[[etree._Element], _Fields | None]
    if root.tag == "rss":
        channel = root.find("channel")
        items = channel.findall("item") if channel is not None else []
        read = _rss_item
    elif root.tag == f"{{{_RDF}}}RDF":
        items = root.findall(f"{{{_RSS1}}}item")
        read = _rdf_item
    elif root.tag == f"{{{_ATOM}}}feed":
        items = root.findall(f"{{{_ATOM}}}entry")
        read = _atom_entry
    else:
        return None
    if not items:
        return None  # feedparser says why (or finds what this missed)
    entries = Parsed()
    base = result.final_url
    for item in items:
        fields = read(item)
        if fields is None:
            return None
        link, title, when, guid, guid_is_uri, summary, body = fields
        if guid and guid_is_uri:
            guid = join(base, guid) or guid  # feedparser resolves it as a URI too
        if not link:
            continue
        url = join(base, link.strip())
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


# (link, title, date, id, whether the id is a URI to resolve, summary, body)
_Fields = tuple[str, str, "datetime | None", "str | None", bool, str, "str | None"]


def _children(
    item: etree._Element, kinds: dict[str, str]
) -> tuple[dict[object, etree._Element], list[tuple[str, etree._Element]]] | None:
    """An item's children in one pass: the first of each tag (what ``find`` gives)
    and its dates, in order, with their kinds (see ``_DATES``); None when a child
    has children of its own (nested markup: an enclosure is fine, it has none)."""
    first: dict[object, etree._Element] = {}
    dated: list[tuple[str, etree._Element]] = []
    for child in item:
        if len(child):
            return None
        tag = child.tag  # a processing instruction's is a function: no text field, no date
        if tag not in first:
            first[tag] = child
        kind = kinds.get(tag) if isinstance(tag, str) else None
        if kind is not None:
            dated.append((kind, child))
    return first, dated


def _text_of(found: etree._Element | None) -> str | None:
    return None if found is None else (found.text or "").strip()


def _dates(item: etree._Element, kinds: dict[str, str]) -> datetime | None:
    """The entry's date as feedparser gives it (see ``_DATES``)."""
    dated = [
        (kind, child)
        for child in item
        if (kind := kinds.get(child.tag) if isinstance(child.tag, str) else None) is not None
    ]
    return _date_of(dated)


def _date_of(dated: list[tuple[str, etree._Element]]) -> datetime | None:
    """The date of the first kind (published, updated, created) whose last element
    gives one."""
    found: dict[str, datetime | time.struct_time | None] = {}
    for kind, element in dated:
        found[kind] = _parse_date((element.text or "").strip())
    for kind in ("published", "updated", "created"):
        if value := found.get(kind):
            return value if isinstance(value, datetime) else _utc(value)
    return None


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# RFC 822 as nearly every feed writes it: ``Mon, 07 Dec 2026 10:00:00 GMT`` (or
# ``+0800``). feedparser's first handler (W3C-DTF) gives up on these, its second
# (RFC 822) reads them as below; anything else, and any value out of range, is
# feedparser's (tests/test_sources.py compares both over every variant).
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UT|Z|([+-])([0-9]{2})([0-9]{2}))"
)


def _parse_date(text: str) -> datetime | time.struct_time | None:
    """feedparser's date of ``text``: a UTC datetime (the usual RFC 822 form, read
    here: 20 µs less an entry) or feedparser's UTC time tuple, or None."""
    match = _RFC822.fullmatch(text)
    if match is not None:
        day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        if 1900 <= int(year) <= 9998:
            try:
                stamp = datetime(
                    int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                    tzinfo=UTC,
                )  # fmt: skip
            except ValueError:
                pass  # a 31 February, a 25th hour: feedparser's other handlers decide
            else:
                if sign is None:
                    return stamp
                offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
                return stamp - offset if sign == "+" else stamp + offset
    from feedparser.datetimes import _parse_date as parse_date  # the same rules on both paths

    parsed: time.struct_time | None = parse_date(text)
    return parsed


def _rss_item(item: etree._Element) -> _Fields | None:
    children = _children(item, _DATES)
    if children is None:
        return None  # nested markup
    first, dated = children
    guid_element = first.get("guid")
    guid = _text_of(guid_element)
    # An RSS guid is a URI (resolved against the feed's URL) unless isPermaLink="false".
    permalink = guid_element is not None and guid_element.get("isPermaLink", "true") == "true"
    link = _text_of(first.get("link")) or ""
    if not link and guid and permalink:
        link = guid  # feedparser's rule: a permalink guid stands in for a missing link
    summary = _text_of(first.get("description"))
    body = _text_of(first.get(_CONTENT))
    return (
        link,
        _text_of(first.get("title")) or "",
        _date_of(dated),
        guid,
        permalink,
        summary if summary is not None else (body or ""),
        body,
    )


def _rdf_item(item: etree._Element) -> _Fields | None:
    children = _children(item, _DATES)
    if children is None:
        return None
    first, dated = children
    summary = _text_of(first.get(f"{{{_RSS1}}}description"))
    body = _text_of(first.get(_CONTENT))
    return (
        _text_of(first.get(f"{{{_RSS1}}}link")) or "",
        _text_of(first.get(f"{{{_RSS1}}}title")) or "",
        _date_of(dated),
        item.get(f"{{{_RDF}}}about"),
        False,  # rdf:about is already absolute
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
        True,  # an Atom id is a URI
        summary if summary is not None else (body or ""),
        body,
    )


# Any source's feed: html reads an advertised one with parse_feed. A plain feed's
# entries come from the fast path, on the spot (monitor.sources.parse_inline).
register(RssSource, inline=_read_fast)(parse_feed)
