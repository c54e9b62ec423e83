"""Include and exclude terms of a channel's filter. [pure]

A term is plain text or, written ``re:…``, a regular expression. Plain terms
match as the lexicon's do: Chinese as written (in simplified form, which is
what stories are stored in), English as whole words, both case-insensitive.

Regular expressions run on the ``regex`` engine with a time limit per search
(:data:`REGEX_TIMEOUT`): a pattern that backtracks catastrophically on some
title is cut off, logged once, and counts as not found, so that one bad
pattern in ``sources.yaml`` can neither stall delivery nor hold the poll's
transaction open. :class:`TimedRegex` is that mechanism; the lexicon's
``re:`` terms (``monitor/classify.py``) use it too, since they also come
from ``sources.yaml``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

import regex

from monitor.normalize import to_simplified

__all__ = ["REGEX_TIMEOUT", "Terms", "TimedRegex", "compile_terms", "story_text"]

log = logging.getLogger("monitor.filters")
_T = TypeVar("_T")

REGEX_TIMEOUT = 0.05  # seconds one regular expression may spend on one story
# The limit is wall time (the engine reads the clock), so on a busy machine a
# search that needs a millisecond of CPU can be preempted past it: a search cut
# off is tried once more with this limit before it counts as not found, and a
# pattern cut off on both tries keeps the first limit alone from then on.
REGEX_RETRY_TIMEOUT = 0.25


class TimedRegex:
    """A user-supplied regular expression whose every search has a time limit.

    A search that runs out of time counts as finding nothing, and is logged
    once per pattern (``what`` names it in that line: "filter term 're:…'").
    The cost is the ``regex`` engine's check of the clock as it backtracks.
    """

    __slots__ = ("_reported", "_slow", "pattern", "retry_timeout", "timeout", "what")

    def __init__(
        self,
        pattern: str,
        *,
        what: str,
        timeout: float = REGEX_TIMEOUT,
        retry_timeout: float = REGEX_RETRY_TIMEOUT,
        flags: int = regex.IGNORECASE,
    ) -> None:
        self.pattern = regex.compile(pattern, flags)
        self.what = what
        self.timeout = timeout
        self.retry_timeout = max(retry_timeout, timeout)
        self._slow = False  # cut off on both tries once: no second try any more
        self._reported = False

    def search(self, text: str) -> regex.Match[str] | None:
        return self._timed(lambda limit: self.pattern.search(text, timeout=limit), text, None)

    def findall(self, text: str) -> list[Any]:
        return self._timed(lambda limit: self.pattern.findall(text, timeout=limit), text, [])

    def sub(self, repl: str, text: str) -> str:
        """``text`` with every match replaced; unchanged when time runs out."""
        return self._timed(
            lambda limit: str(self.pattern.sub(repl, text, timeout=limit)), text, text
        )

    def _timed(self, run: Callable[[float], _T], text: str, not_found: _T) -> _T:
        try:
            return run(self.timeout)
        except TimeoutError:
            pass
        if not self._slow:
            try:
                return run(self.retry_timeout)
            except TimeoutError:
                self._slow = True
        self._gave_up(text)
        return not_found

    def _gave_up(self, text: str) -> None:
        if self._reported:
            return
        self._reported = True
        log.warning(
            "%s gave up after %.0f ms (and %.0f ms on a second try) on %r…; "
            "it counts as not found (simplify the pattern)",
            self.what,
            self.timeout * 1000,
            self.retry_timeout * 1000,
            text[:60],
        )


class Terms:
    """A compiled list of filter terms; :meth:`find` says which one a text contains."""

    __slots__ = ("_plain", "_regexes", "raws", "timeout")

    def __init__(self, raws: Iterable[str], *, timeout: float = REGEX_TIMEOUT) -> None:
        self.raws = tuple(dict.fromkeys(raws))
        self.timeout = timeout
        plain: list[tuple[str, re.Pattern[str]]] = []
        regexes: list[tuple[str, TimedRegex]] = []
        for raw in self.raws:
            if raw.startswith("re:"):
                what = f"filter term {raw!r}"
                regexes.append((raw, TimedRegex(raw[3:], what=what, timeout=timeout)))
            elif raw.isascii():
                words = r"\s+".join(re.escape(w) for w in raw.lower().split())
                plain.append((raw, re.compile(rf"(?<![a-z0-9]){words}(?![a-z0-9])")))
            else:
                term = to_simplified(raw.strip()).lower()
                plain.append((raw, re.compile(re.escape(term))))
        self._plain = tuple(plain)
        self._regexes = tuple(regexes)

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
            if compiled.search(text):
                return raw
        return None


@lru_cache(maxsize=512)
def compile_terms(raws: tuple[str, ...]) -> Terms:
    """The compiled form of a filter's terms (compiled once per distinct list)."""
    return Terms(raws)


def story_text(title: str, summary: str, source_name: str) -> str:
    """The text a channel's terms are looked for in: what its readers see."""
    return f"{title}\n{summary}\n{source_name}"
