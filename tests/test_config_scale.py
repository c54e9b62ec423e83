"""A sources.yaml of every county's site: more values than the alias-bomb cap, no alias."""

from __future__ import annotations

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError


def _sources(count: int, *, alias_bomb: bool = False) -> str:
    lines = ["version: 1", "sources:"]
    lines += [
        f'  - {{id: s{i}, name: "S {i}", kind: rss, url: "https://e{i % 97}.example/{i}.xml"}}'
        for i in range(count)
    ]
    if alias_bomb:  # the same file with a billion laughs beside it
        lines.insert(0, "x0: &x0 [a, a, a, a, a, a, a, a, a, a]")
        for n in range(1, 7):
            lines.insert(n, f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_twelve_thousand_sources_are_not_mistaken_for_an_alias_bomb() -> None:
    config = parse_config(_sources(12_000), name="sources.yaml", env={})
    assert len(config.sources) == 12_000


def test_an_alias_bomb_in_a_big_file_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        parse_config(_sources(12_000, alias_bomb=True), name="sources.yaml", env={})
