"""Source kinds: one module each, registered by kind. Pure.

A kind says what to ask for and how to read the answer; it never fetches
anything itself::

    request(source, page) -> Request | None      what to fetch for page 1, 2, …
    step(FetchResult, source) -> Request | None   a stepping-stone answer: fetch this next
    parse(FetchResult, source) -> list[Entry]     the entries of the final answer

Only ``parse`` is required. Without ``request`` a kind GETs ``source.url`` (and,
for later pages, ``source.page_url``); without ``step`` the first answer is the
one parsed. Two-step kinds (jpaas: a JavaScript shell page that names the JSON
API holding the list) return the API's request from ``step``. The I/O that
follows these plans lives in :mod:`monitor.listing`.

A parser may return a :class:`Parsed` (a list with ``warnings``) to report
something worth a log line without failing the poll, such as a malformed feed
whose entries were recovered.

Adding a kind is a module here that calls :func:`register`, plus its schema
entry in ``monitor/config.py``. The built-in kinds use the same door.
``detect`` is no kind: it finds a page's list without selectors, for ``html``
sources without ``list:`` (or whose selectors broke) and for ``suggest``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from monitor.model import Entry, FetchResult

Parser = Callable[[FetchResult, Any], list[Entry]]
Planner = Callable[[Any, int], "Request | None"]
Stepper = Callable[[FetchResult, Any], "Request | None"]

PARSERS: dict[str, Parser] = {}
PLANNERS: dict[str, Planner] = {}
STEPPERS: dict[str, Stepper] = {}


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request a kind wants made. ``form`` and ``json_body`` make it a POST."""

    url: str
    method: str = "GET"
    form: tuple[tuple[str, str], ...] | None = None
    json_body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Where this request's validators are stored: the URL, or for a POST the
        URL with a digest of its body (two columns of one API are two keys)."""
        if self.method == "GET":
            return self.url
        body = self.json_body if self.json_body is not None else urlencode(self.form or ())
        digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        return f"{self.method} {self.url} #{digest}"

    @property
    def content(self) -> bytes | None:
        if self.json_body is not None:
            return self.json_body.encode()
        if self.form is not None:
            return urlencode(self.form).encode()
        return None

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.json_body is not None:
            headers.setdefault("Content-Type", "application/json")
        elif self.form is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
        return headers


class Parsed(list[Entry]):
    """Entries plus warnings worth a log line (the poll still succeeds).

    An ``html`` list also says where its entries came from (``origin``):
    ``selectors`` (the configured ones), ``detection`` (found on the page by
    :mod:`monitor.sources.detect`) or ``feed`` (the feed the page advertises);
    and ``notice``, when configured selectors matched nothing and detection
    stood in: what to update. Source health raises it once (``selectors``).
    """

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        warnings: Iterable[str] = (),
        *,
        origin: str | None = None,
        notice: str | None = None,
    ) -> None:
        super().__init__(entries)
        self.warnings = list(warnings)
        self.origin = origin
        self.notice = notice


def register(
    kind: str, *, request: Planner | None = None, step: Stepper | None = None
) -> Callable[[Parser], Parser]:
    """Register a kind's parser (and optionally its request planner and stepper)."""

    def add(parser: Parser) -> Parser:
        if kind in PARSERS:
            raise ValueError(f"source kind {kind!r} is registered twice")
        PARSERS[kind] = parser
        if request is not None:
            PLANNERS[kind] = request
        if step is not None:
            STEPPERS[kind] = step
        return parser

    return add


def join(base: str, link: str) -> str:
    """``urljoin`` that never raises: a link that is no URL at all (``http://[x``)
    gives "" (which every parser skips) instead of failing the whole list."""
    try:
        return urljoin(base, link)
    except ValueError:
        return ""


def headers_of(source: Any, **extra: str) -> tuple[tuple[str, str], ...]:
    """The source's configured headers, after the kind's own (the source wins)."""
    merged = {**extra, **(getattr(source, "headers", None) or {})}
    return tuple(merged.items())


def default_request(source: Any, page: int) -> Request | None:
    """GET ``url``; page n > 1 from the ``page_url`` template, when one is given."""
    if page == 1:
        return Request(source.url, headers=headers_of(source))
    template = getattr(source, "page_url", None)
    if not template:
        return None
    return Request(
        urljoin(source.url, template.format(n=page, i=page - 1)), headers=headers_of(source)
    )


def request(source: Any, page: int = 1) -> Request | None:
    """What to fetch for this page of the source's list (None: the kind has no such page)."""
    planner = PLANNERS.get(source.kind, default_request)
    return planner(source, page)


def step(result: FetchResult, source: Any) -> Request | None:
    """The next request when this answer is only a stepping stone, else None."""
    stepper = STEPPERS.get(source.kind)
    return stepper(result, source) if stepper is not None else None


def parse(result: FetchResult, source: Any) -> list[Entry]:
    """Entries of one fetched feed, list page or API answer, by the source's kind.

    An entry whose link cannot be fetched (a port out of range, a broken host)
    is dropped with a warning: it could never be read, and would otherwise be
    retried at every poll.
    """
    entries = PARSERS[source.kind](result, source)
    bad = [e.url for e in entries if not _fetchable(e.url)]
    if not bad:
        return entries
    kept = Parsed(
        [e for e in entries if _fetchable(e.url)],
        getattr(entries, "warnings", ()),
        origin=getattr(entries, "origin", None),
        notice=getattr(entries, "notice", None),
    )
    kept.warnings.append(f"{len(bad)} entries with a broken link dropped: {bad[0]!r}")
    return kept


def _fetchable(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError when out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def json_request(url: str, source: Any, body: Any) -> Request:
    """A POST with a JSON body (compact, keys in order: the same body, the same key)."""
    return Request(
        url,
        method="POST",
        json_body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers_of(source, Accept="application/json, text/plain, */*"),
    )


from monitor.sources import detect, gkmlpt, html, jcms, jpaas, json_api, rss  # noqa: E402  (registers the kinds)

__all__ = [
    "PARSERS",
    "Parsed",
    "Parser",
    "Request",
    "default_request",
    "detect",
    "gkmlpt",
    "headers_of",
    "html",
    "jcms",
    "join",
    "jpaas",
    "json_api",
    "parse",
    "register",
    "request",
    "rss",
    "step",
]
