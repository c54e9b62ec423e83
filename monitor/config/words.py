"""Mistakes in words: what the validators and the YAML parser say, said so
that someone who has never read YAML's grammar or a regular expression knows
what to change. [pure]"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from monitor.config.values import ID_PATTERN

PATTERN_WORDS = {
    ID_PATTERN: (
        "an id is lowercase letters, digits, '-', '_' and '.', starting with a letter "
        "or digit, at most 64 characters"
    ),
    r"^[a-z0-9-]+$": "a host prefix is lowercase letters, digits and '-'",
}

# The YAML parser's words → what to do about them.
_YAML_WORDS = (
    (
        "found character '\\t'",
        "a tab character: YAML indents with spaces only; replace the tab with spaces",
    ),
    (
        "mapping values are not allowed here",
        "a key is indented more or less than the keys beside it (indent with spaces; the "
        "keys of one item start in the same column, under its '- '), or a value holds ': ' "
        "(put it in quotes)",
    ),
    (
        "expected <block end>",
        "the indentation does not line up: the keys of one item start in the same column "
        "(after '- ', indented under 'sources:' or 'channels:'), with spaces",
    ),
    (
        "could not find expected ':'",
        "a line is not 'key: value' (a colon is missing, or a value with ': ' or '#' needs quotes)",
    ),
    ("did not find expected key", "a line is not 'key: value' at the indentation expected"),
    ("found unexpected end of stream", "a quote or a bracket is not closed"),
    ("did not find expected ',' or ']'", "a '[' list is not closed with ']'"),
    ("did not find expected ',' or '}'", "a '{' mapping is not closed with '}'"),
)


def yaml_in_words(problem: str) -> str:
    for words, meaning in _YAML_WORDS:
        if words in problem:
            return f"{meaning} (the YAML parser says: {problem})"
    return problem


def did_you_mean(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(known), 1, 0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
