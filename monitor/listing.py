"""Reading one source's list: plan → fetch → steps → unchanged? → parse → more pages. [IO]

The kind (``monitor/sources``) says what to request; this module makes the
requests and hands the answers back to the kind's pure parser.

* **Unchanged costs no parsing.** The final request of page 1 is conditional
  (the ETag and Last-Modified stored for its key); a 304, or a 200 whose body
  hashes the same as last time (servers without validators, POST APIs), ends
  the read: nothing is parsed and no article is fetched.
* **Gap-proof.** When every item of page 1 is new (a burst of announcements
  since the last poll), later pages are read, up to ``max_pages``, until one
  shows an item already seen. The pipeline reads at most ``max_articles`` of
  them a poll, the oldest first: those left wait on page 1, unseen, and the
  next poll reads down to what this one read.
* **Steps.** A kind whose first answer is only a pointer (jpaas: a JavaScript
  shell naming the JSON API) returns the next request from ``step``.

Validators are returned, not stored: the caller stores them together with
what it read, and only when every article was read (so a failure is retried
by a full poll instead of hiding behind a 304).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from monitor import sources
from monitor.errors import FetchError, ParseError
from monitor.fetch import Fetcher
from monitor.model import Entry, FetchResult
from monitor.sources import Request
from storage.store import Cached

_MAX_STEPS = 3  # a shell that points to a shell that points …: give up


@dataclass
class Listing:
    """One read of a source's list."""

    key: str  # where page 1's validators are stored (its final request's key)
    entries: list[Entry] = field(default_factory=list)
    unchanged: bool = False
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    pages: int = 0
    requests: int = 0
    warnings: list[str] = field(default_factory=list)
    origin: str | None = None  # html: selectors | detection | feed (see sources.Parsed)
    notice: str | None = None  # html: configured selectors gave nothing; what to update

    @property
    def validators(self) -> Cached:
        return Cached(self.etag, self.last_modified, self.content_hash)


Lookup = Callable[[str], Awaitable[Cached]]
AllNew = Callable[[list[Entry]], Awaitable[bool]]


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def read_listing(
    source: Any,
    fetcher: Fetcher,
    *,
    timeout: float,
    cached: Lookup | None = None,
    all_new: AllNew | None = None,
) -> Listing:
    """Read page 1 (and, while ``all_new`` says every item is new, the next pages).

    Raises FetchError or ParseError (with the source's id) when page 1 cannot
    be read; a later page that fails only adds a warning.
    """
    first = sources.request(source, 1)
    if first is None:  # a kind always plans page 1; this is a bug in the kind
        raise ParseError(source.id, f"kind {source.kind!r} planned no request")
    result, key, requests, previous = await _fetch_final(source, fetcher, first, timeout, cached)
    # The answer itself (its bytes and their decoded text) is not kept on the
    # listing: a poll can wait a long time for its turn at the database after
    # this, and in a first pass of 2,000 sources most of them wait at once.
    listing = Listing(key=key, requests=requests, pages=1)
    listing.etag, listing.last_modified = result.etag, result.last_modified
    if result.not_modified:
        listing.unchanged = True
        listing.content_hash = previous.content_hash
        return listing
    listing.content_hash = content_hash(result.content)
    if cached is not None and previous.content_hash == listing.content_hash:
        listing.unchanged = True  # the same bytes as last time: nothing new to parse
        return listing
    entries = await _parse(result, source)
    listing.warnings.extend(getattr(entries, "warnings", ()))
    listing.origin = getattr(entries, "origin", None)
    listing.notice = getattr(entries, "notice", None)
    listing.entries = list(entries)

    page = 1
    while (
        all_new is not None
        and page < source.max_pages
        and listing.entries
        and await all_new(listing.entries)
    ):
        page += 1
        request = sources.request(source, page)
        if request is None:
            break
        try:
            more, _key, n, _previous = await _fetch_final(source, fetcher, request, timeout, None)
            listing.requests += n
            found = await _parse(more, source)
        except ParseError:
            break  # past the last page, most likely: an empty list is no error here
        except FetchError as exc:
            if exc.status != 404:  # a 404 is the end of the pages
                listing.warnings.append(f"page {page}: {exc.reason}")
            break
        known = {e.url for e in listing.entries}
        fresh = [e for e in found if e.url not in known]
        if not fresh:
            break  # the site ignores the page number: nothing more to gain
        listing.entries.extend(fresh)
        listing.pages = page
        if not await all_new(fresh):
            break
    return listing


async def _parse(result: FetchResult, source: Any) -> list[Entry]:
    """The answer's entries: read on the spot when that is cheap (a small plain
    feed, see sources.parse_inline), else in a worker thread, off the event loop."""
    entries = sources.parse_inline(result, source)
    if entries is None:
        entries = await asyncio.to_thread(sources.parse, result, source)
    return entries


async def _fetch_final(
    source: Any, fetcher: Fetcher, request: Request, timeout: float, cached: Lookup | None
) -> tuple[FetchResult, str, int, Cached]:
    """Fetch a request and follow the kind's steps: the final answer, its key, the
    requests made, and what was stored for that key (looked up once per poll)."""
    render = getattr(source, "render", "http") == "browser"
    for made in range(1, _MAX_STEPS + 2):
        validators = await cached(request.key) if cached is not None else Cached()
        result = await fetcher.fetch(
            request,
            source_id=source.id,
            timeout=timeout,
            etag=validators.etag,
            last_modified=validators.last_modified,
            encoding=source.encoding,
            render=render and request.method == "GET",
            origin=source.url,  # a step or a redirect to another internal host is refused
        )
        if result.not_modified or source.kind not in sources.STEPPERS:
            return result, request.key, made, validators  # no thread hop for one-step kinds
        following = await asyncio.to_thread(sources.step, result, source)
        if following is None:
            return result, request.key, made, validators
        request = following
    raise ParseError(source.id, f"more than {_MAX_STEPS} steps to reach the list")
