"""Include and exclude terms of a channel's filter. [pure]

A term is plain text or, written ``re:…``, a regular expression. Plain terms
match as the lexicon's do: Chinese as written (in simplified form, which is
what stories are stored in), English as whole words, both case-insensitive.

Regular expressions run on the ``regex`` engine with a time limit per search
(:data:`REGEX_TIMEOUT`): a pattern that backtracks catastrophically on some
title is cut off, logged once, and counts as not found, so that one bad
pattern in ``sources.yaml`` can neither stall delivery nor hold the poll's
transaction open.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache

import regex

from monitor.normalize import to_simplified

__all__ = ["REGEX_TIMEOUT", "Terms", "compile_terms", "story_text"]

log = logging.getLogger("monitor.filters")

REGEX_TIMEOUT = 0.05  # seconds one regular expression may spend on one story


class Terms:
    """A compiled list of filter terms; :meth:`find` says which one a text contains."""

    __slots__ = ("_plain", "_regexes", "_timed_out", "raws", "timeout")

    def __init__(self, raws: Iterable[str], *, timeout: float = REGEX_TIMEOUT) -> None:
        self.raws = tuple(dict.fromkeys(raws))
        self.timeout = timeout
        plain: list[tuple[str, re.Pattern[str]]] = []
        regexes: list[tuple[str, regex.Pattern[str]]] = []
        for raw in self.raws:
            if raw.startswith("re:"):
                regexes.append((raw, regex.compile(raw[3:], regex.IGNORECASE)))
            elif raw.isascii():
                words = r"\s+".join(re.escape(w) for w in raw.lower().split())
                plain.append((raw, re.compile(rf"(?<![a-z0-9]){words}(?![a-z0-9])")))
            else:
                term = to_simplified(raw.strip()).lower()
                plain.append((raw, re.compile(re.escape(term))))
        self._plain = tuple(plain)
        self._regexes = tuple(regexes)
        self._timed_out: set[str] = set()  # patterns already reported, to say it once

    def __bool__(self) -> bool:
        return bool(self.raws)

    def __repr__(self) -> str:
        return f"Terms({list(self.raws)!r})"

    def find(self, text: str) -> str | None:
        """The first term (as written in the configuration) found in ``text``, or None."""
        lowered = text.lower()
        for raw, pattern in self._plain:
            if pattern.search(lowered):
                return raw
        for raw, compiled in self._regexes:
            try:
                found = compiled.search(text, timeout=self.timeout)
            except TimeoutError:
                if raw not in self._timed_out:
                    self._timed_out.add(raw)
                    log.warning(
                        "filter term %r gave up after %.0f ms on %r…; it counts as not found "
                        "(simplify the pattern)",
                        raw,
                        self.timeout * 1000,
                        text[:60],
                    )
                continue
            if found:
                return raw
        return None


@lru_cache(maxsize=512)
def compile_terms(raws: tuple[str, ...]) -> Terms:
    """The compiled form of a filter's terms (compiled once per distinct list)."""
    return Terms(raws)


def story_text(title: str, summary: str, source_name: str) -> str:
    """The text a channel's terms are looked for in: what its readers see."""
    return f"{title}\n{summary}\n{source_name}"
