"""Source kinds: one module each, registered by kind. Pure parsers.

A parser takes what was fetched and the source's configuration and returns
the entries it found; it never fetches anything itself::

    parse(FetchResult, SourceConfig) -> list[Entry]

Adding a kind is a module here that calls :func:`register`, plus its schema
entry in ``monitor/config.py``. The built-in kinds use the same door.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.model import Entry, FetchResult

Parser = Callable[[FetchResult, Any], list[Entry]]
PARSERS: dict[str, Parser] = {}


def register(kind: str) -> Callable[[Parser], Parser]:
    def add(parser: Parser) -> Parser:
        if kind in PARSERS:
            raise ValueError(f"source kind {kind!r} is registered twice")
        PARSERS[kind] = parser
        return parser

    return add


def parse(result: FetchResult, source: Any) -> list[Entry]:
    """Entries of one fetched feed or list page, by the source's kind."""
    return PARSERS[source.kind](result, source)


from monitor.sources import html, rss  # noqa: E402  (registers the built-in kinds)

__all__ = ["PARSERS", "Parser", "html", "parse", "register", "rss"]
