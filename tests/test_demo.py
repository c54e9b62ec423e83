"""`make demo`: its banner, its log and the README give the same counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import demo

README = Path(__file__).parent.parent / "README.md"


def test_the_demo_banner_log_and_readme_agree(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    assert demo.run_demo() == 0
    captured = capsys.readouterr()
    banner = captured.out.split("\n\n")[0]
    first, second = [
        line for line in captured.err.splitlines() if "INFO    polled 4 sources" in line
    ]
    counts = (
        f"{demo.ENTRIES} new entries, {demo.ENTRIES} articles, {demo.STORIES} new stories, "
        f"{demo.POSTS} alerts queued; 1 failed: demo-broken"
    )
    assert counts in first and f"delivered {demo.POSTS}," in first
    assert "0 new entries" in second and "delivered 0," in second
    for number, what in [
        (demo.ARTICLES, "articles"),
        (demo.ENTRIES, "new entries"),
        (demo.STORIES, "new stories"),
        (demo.POSTS, "alerts"),
    ]:
        assert f"{number} {what}" in banner, what
    assert captured.out.count("来源: ") == demo.POSTS
    # the warnings the banner explains are the ones the log shows
    assert "stale: the newest item is from 2025" in captured.err and "stale" in banner
    assert "source demo-broken:" in captured.err and "HTTP 500" in banner
    # no post carries today's date for the article that has none
    assert "来源: 演示站 RSS\n" in captured.out
    readme = README.read_text(encoding="utf-8")
    said = re.search(r"`make demo` serves.*?(?=\n\n)", readme, re.S)
    assert said is not None
    text = " ".join(said.group(0).split())
    for number, what in [
        (demo.ARTICLES, "articles"),
        (demo.ENTRIES, "new entries"),
        (demo.STORIES, "stories"),
        (demo.POSTS, "alerts"),
    ]:
        assert f"{number} {what}" in text, (what, text)
