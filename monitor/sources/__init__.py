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

A kind is one module here: its schema, a subclass of
:class:`~monitor.config.SourceBase` whose ``kind`` is a literal, and its
parser, registered with that schema::

    class FooSource(SourceBase):
        kind: Literal["foo"]
        column: int = Field(0, description="…")

    @register(FooSource, request=plan)
    def parse_foo(result: FetchResult, source: FooSource) -> list[Entry]: ...

Every module in this package is imported (:func:`load`), so a new kind is
that one file. The ``sources:`` union of ``sources.yaml``
(:mod:`monitor.config.root`), its messages and the docs test are made from
what is registered, when :class:`~monitor.config.Config` is first used; a
kind from elsewhere (a plug-in) registers on import, before that. The
built-in kinds use the same door; :data:`BUILTIN` orders them as messages
name them (others follow, by module name). ``detect`` is no kind: it finds a
page's list without selectors, for ``html`` sources without ``list:`` (or
whose selectors broke) and for ``suggest``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar, get_args
from urllib.parse import urlencode, urljoin, urlsplit

from monitor.config.sources import SourceBase
from monitor.model import Entry, FetchResult

S = TypeVar("S", bound=SourceBase)
Parser = Callable[[FetchResult, S], list[Entry]]
Planner = Callable[[S, int], "Request | None"]
Stepper = Callable[[FetchResult, S], "Request | None"]

# kind → its schema, and what reads its lists; filled by register().
SCHEMAS: dict[str, type[SourceBase]] = {}
PARSERS: dict[str, Parser[SourceBase]] = {}
PLANNERS: dict[str, Planner[SourceBase]] = {}
STEPPERS: dict[str, Stepper[SourceBase]] = {}
# kind → what reads a cheap answer on the spot (see parse_inline); None: not cheap.
INLINE: dict[str, Callable[[FetchResult, SourceBase], list[Entry] | None]] = {}
INLINE_BYTES = 131072  # the largest answer read on the event loop (a few ms at most)

# The built-in kinds' modules, in the order kinds are named in messages and docs;
# any other module here is loaded after them.
BUILTIN = ("rss", "html", "jcms", "jpaas", "gkmlpt", "json_api")
# Modules here that are no kind: ``detect`` finds lists without selectors, and is
# imported when a page needs it (with bs4), not with the kinds at start.
NOT_KINDS = ("detect",)


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
    schema: type[S],
    *,
    request: Planner[S] | None = None,
    step: Stepper[S] | None = None,
    inline: Callable[[FetchResult, S], list[Entry] | None] | None = None,
) -> Callable[[Parser[S]], Parser[S]]:
    """Register a kind: its schema (whose ``kind`` literal names it), its parser and
    optionally its request planner and stepper, each typed with that schema; and
    ``inline``, what gives the parser's entries when that is cheap (a plain feed)
    and None otherwise (see :func:`parse_inline`)."""
    kind = kind_of(schema)

    def add(parser: Parser[S]) -> Parser[S]:
        if kind in PARSERS:
            raise ValueError(f"source kind {kind!r} is registered twice")
        SCHEMAS[kind] = schema
        PARSERS[kind] = _narrowed(schema, parser)
        if request is not None:
            PLANNERS[kind] = _narrowed_plan(schema, request)
        if step is not None:
            STEPPERS[kind] = _narrowed(schema, step)
        if inline is not None:
            INLINE[kind] = _narrowed(schema, inline)
        return parser

    return add


def kind_of(schema: type[SourceBase]) -> str:
    """The name a schema's ``kind: Literal["…"]`` gives its kind."""
    field = schema.model_fields.get("kind")
    names = get_args(field.annotation) if field is not None else ()
    if len(names) != 1 or not isinstance(names[0], str):
        raise TypeError(f"{schema.__name__}.kind must be a Literal of one name")
    return names[0]


R = TypeVar("R")


def _narrowed(
    schema: type[S], read: Callable[[FetchResult, S], R]
) -> Callable[[FetchResult, SourceBase], R]:
    """``read`` for any source, checked to be of its kind's schema at the call."""

    def checked(result: FetchResult, source: SourceBase) -> R:
        if not isinstance(source, schema):
            raise TypeError(f"a {schema.__name__} expected, not {type(source).__name__}")
        return read(result, source)

    return checked


def _narrowed_plan(schema: type[S], plan: Planner[S]) -> Planner[SourceBase]:
    def checked(source: SourceBase, page: int) -> Request | None:
        if not isinstance(source, schema):
            raise TypeError(f"a {schema.__name__} expected, not {type(source).__name__}")
        return plan(source, page)

    return checked


def load() -> None:
    """Import every module here (each kind registers itself), then order the
    registry: the built-ins as :data:`BUILTIN` lists them, then the others by
    module name; kinds registered from elsewhere come last."""
    here = sorted(
        m.name
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_") and m.name not in NOT_KINDS
    )
    names = [*BUILTIN, *(name for name in here if name not in BUILTIN)]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    rank = {f"{__name__}.{name}": i for i, name in enumerate(names)}
    order = sorted(SCHEMAS, key=lambda k: rank.get(SCHEMAS[k].__module__, len(rank)))
    _reorder(SCHEMAS, order)
    _reorder(PARSERS, order)
    _reorder(PLANNERS, order)
    _reorder(STEPPERS, order)
    _reorder(INLINE, order)


V = TypeVar("V")


def _reorder(table: dict[str, V], order: list[str]) -> None:
    items = dict(table)
    table.clear()
    table.update((k, items[k]) for k in order if k in items)


# An absolute http(s) link that ``urljoin`` gives back as it is (whatever the base):
# ASCII, a host, no IPv6 brackets, no whitespace, no ``;params`` in the path, no
# empty query or fragment (which urljoin would drop). Most links of most lists;
# the others go through urljoin (tests/test_sources.py checks both agree).
_PLAIN_LINK = re.compile(
    r"https?://[A-Za-z0-9._~%!$&'()*+,=:@-]+"
    r"(?:/[A-Za-z0-9._~%!$&'()*+,=:@/-]*)?"
    r"(?:\?[A-Za-z0-9._~%!$&'()*+,=:@/?;-]+)?"
    r"(?:#[A-Za-z0-9._~%!$&'()*+,=:@/?;#-]+)?"
)


def join(base: str, link: str) -> str:
    """``urljoin`` that never raises: a link that is no URL at all (``http://[x``)
    gives "" (which every parser skips) instead of failing the whole list."""
    if _PLAIN_LINK.fullmatch(link) and base.isascii() and "[" not in base and "]" not in base:
        return link  # what urljoin gives, at a fifth of its cost
    try:
        return urljoin(base, link)
    except ValueError:
        return ""


def headers_of(source: SourceBase, **extra: str) -> tuple[tuple[str, str], ...]:
    """The source's configured headers, after the kind's own (the source wins)."""
    merged = {**extra, **source.headers}
    return tuple(merged.items())


def default_request(source: SourceBase, page: int) -> Request | None:
    """GET ``url``; page n > 1 from the ``page_url`` template, when one is given."""
    if page == 1:
        return Request(source.url, headers=headers_of(source))
    template = source.page_url
    if not template:
        return None
    return Request(
        urljoin(source.url, template.format(n=page, i=page - 1)), headers=headers_of(source)
    )


def request(source: SourceBase, page: int = 1) -> Request | None:
    """What to fetch for this page of the source's list (None: the kind has no such page)."""
    planner = PLANNERS.get(source.kind, default_request)
    return planner(source, page)


def step(result: FetchResult, source: SourceBase) -> Request | None:
    """The next request when this answer is only a stepping stone, else None."""
    stepper = STEPPERS.get(source.kind)
    return stepper(result, source) if stepper is not None else None


def parse(result: FetchResult, source: SourceBase) -> list[Entry]:
    """Entries of one fetched feed, list page or API answer, by the source's kind.

    An entry whose link cannot be fetched (a port out of range, a broken host)
    is dropped with a warning: it could never be read, and would otherwise be
    retried at every poll.
    """
    return _fetchable_only(PARSERS[source.kind](result, source))


def parse_inline(result: FetchResult, source: SourceBase) -> list[Entry] | None:
    """What :func:`parse` gives, when the kind reads this answer cheaply (a plain
    feed of at most ``INLINE_BYTES``: well under a millisecond of CPU a list);
    None: call :func:`parse`, in a worker thread.

    A poll reads such a list on the event loop: handing 2,000 small lists to a
    worker thread and back cost more CPU than reading them (the threads' GIL
    hand-offs: ~0.25 ms a list), and a slow parse (feedparser: ~1 ms a kB,
    HTML, detection) still runs in a thread, off the event loop."""
    inline = INLINE.get(source.kind)
    if inline is None or len(result.content) > INLINE_BYTES:
        return None
    entries = inline(result, source)
    return None if entries is None else _fetchable_only(entries)


def _fetchable_only(entries: list[Entry]) -> list[Entry]:
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


# A URL whose host and port urlsplit reads as written: an http(s) scheme, a plain
# host name or address, a port of digits, then the path, query or fragment.
_PLAIN_HOST = re.compile(r"https?://[A-Za-z0-9.-]+(?::([0-9]{1,5}))?(?=[/?#]|\Z)")


def _fetchable(url: str) -> bool:
    plain = _PLAIN_HOST.match(url)
    if plain is not None:  # what urlsplit says of it, without splitting it
        port = plain.group(1)
        return port is None or int(port) <= 65535
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError when out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def json_request(url: str, source: SourceBase, body: object) -> Request:
    """A POST with a JSON body (compact, keys in order: the same body, the same key)."""
    return Request(
        url,
        method="POST",
        json_body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers_of(source, Accept="application/json, text/plain, */*"),
    )


load()

__all__ = [
    "BUILTIN",
    "INLINE",
    "PARSERS",
    "PLANNERS",
    "SCHEMAS",
    "STEPPERS",
    "Parsed",
    "Parser",
    "Planner",
    "Request",
    "Stepper",
    "default_request",
    "headers_of",
    "join",
    "kind_of",
    "load",
    "parse",
    "parse_inline",
    "register",
    "request",
    "step",
]
