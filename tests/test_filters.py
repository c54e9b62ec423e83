"""Channel filters: include and exclude terms (plain or regular expressions with
a time limit), checked alone, in the configuration, and end to end."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ChannelFilter
from monitor.errors import ConfigError
from notifiers.base import accepts
from notifiers.filters import Terms, TimedRegex, story_text
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.servers.receiver import Receiver
from tests.stories import config


def test_plain_terms() -> None:
    terms = Terms(["质量月", "Quality Month", "品字標"])
    assert terms.find("四川启动2025年质量月活动") == "质量月"
    assert terms.find("Sichuan launches quality   month") == "Quality Month"
    assert terms.find("浙江品字标认证") == "品字標"  # a traditional term matches simplified text
    assert terms.find("qualitymonthly report") is None  # English matches whole words
    assert terms.find("") is None
    assert not Terms([])


def test_regular_expressions_and_their_time_limit(caplog: pytest.LogCaptureFixture) -> None:
    terms = Terms([r"re:质量强(省|市|县)", r"re:\bISO\s*9001\b"])
    assert terms.find("湖北召开质量强市推进会") == r"re:质量强(省|市|县)"
    assert terms.find("通过 iso 9001 认证") == r"re:\bISO\s*9001\b"  # case-insensitive
    assert terms.find("质量强国") is None

    # A pattern that backtracks for ever on this text is cut off and counts as not found.
    caplog.set_level(logging.WARNING)
    bad = Terms(["re:(x+x+)+y"], timeout=0.05)
    started = time.perf_counter()
    assert bad.find("x" * 5000) is None
    assert bad.find("x" * 5001) is None
    assert time.perf_counter() - started < 1.0
    assert caplog.text.count("gave up after 50 ms") == 1  # said once per pattern


def test_a_search_cut_off_once_is_tried_again_before_it_counts_as_not_found(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The limit is wall time: on a busy machine a search that needs little CPU
    can be preempted past it. Such a search (here: a first limit of 0.1 µs that
    every search overruns) finds its match on the second try, and nothing is
    logged; a pattern cut off on both tries keeps the first limit from then on."""
    caplog.set_level(logging.WARNING)
    text = "会议" * 2000 + "质量强省"
    pattern = TimedRegex(r"质量强(省|市)", what="t", timeout=1e-7, retry_timeout=5.0)
    for _ in range(3):
        found = pattern.search(text)
        assert found is not None and found.group() == "质量强省"
    assert pattern.findall(text) == ["省"]
    assert pattern.sub("X", text).endswith("会议X")
    assert "gave up" not in caplog.text

    bad = TimedRegex("(x+x+)+y", what="bad", timeout=0.01, retry_timeout=0.05)
    assert bad.search("x" * 5000) is None  # 10 ms, then 50 ms: both cut off
    assert bad._slow  # from now on 10 ms only, no second try
    assert bad.search("x" * 5001) is None
    assert caplog.text.count("bad gave up after 10 ms (and 50 ms on a second try)") == 1


def test_accepts_with_terms() -> None:
    def story(title: str, summary: str = "", source: str = "四川日报") -> dict[str, object]:
        return {
            "relevant": True,
            "province": "CN-SC",
            "category": "meeting",
            "language": "zh-Hans",
            "score": 5.0,
            "text": story_text(title, summary, source),
        }

    include = ChannelFilter(include=["质量月", "re:质量强(省|市)"])
    assert accepts(include, **story("四川启动质量月"))  # type: ignore[arg-type]
    assert accepts(include, **story("会议", "推进质量强市建设"))  # type: ignore[arg-type]
    assert not accepts(include, **story("食品安全抽检"))  # type: ignore[arg-type]
    exclude = ChannelFilter(exclude=["抽检", "某某日报"])
    assert not accepts(exclude, **story("质量月 抽检结果"))  # type: ignore[arg-type]
    assert not accepts(exclude, **story("质量月", source="某某日报"))  # type: ignore[arg-type]
    assert accepts(exclude, **story("质量月"))  # type: ignore[arg-type]
    both = ChannelFilter(include=["质量月"], exclude=["抽检"])
    assert not accepts(both, **story("质量月 抽检"))  # type: ignore[arg-type]
    assert accepts(ChannelFilter(), **story("任何"))  # type: ignore[arg-type]


def test_bad_terms_are_configuration_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        config('  - {id: a, kind: console, filter: {include: ["re:质量(强省"], exclude: [" "]}}')
    text = str(caught.value)
    assert "test.yaml:3: channels[0].filter.include[0]: bad regular expression" in text
    assert "channels[0].filter.exclude[0]: empty term" in text


def test_terms_choose_what_each_channel_gets_end_to_end(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
) -> None:
    with Receiver() as hook:
        path = tmp_path / "sources.yaml"
        path.write_text(
            f"""\
version: 1
defaults: {{interval: 10m, timeout: 2s, backlog: 50}}
sources:
  - {{id: site-rss, name: 测试站 RSS, kind: rss, url: "{newssite.url}/feed.xml"}}
channels:
  - id: sichuan-only
    kind: telegram
    chat: "@quality_test"
    pace: 0s
    filter: {{include: ["四川", "re:(?i)sichuan"]}}
  - id: no-sichuan
    kind: webhook
    url: {hook.url}/in
    filter: {{exclude: ["四川", "re:(?i)sichuan"]}}
""",
            encoding="utf-8",
        )
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
        monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
        monkeypatch.setenv("MONITOR_DB_URL", sqlite_url)
        assert main(["--config", str(path), "run", "--once"]) == 0
        posted = [p["text"] for p in botapi.sent]
        hooked = [r.json()["story"] for r in hook.requests if r.json()["event"] == "story.new"]
    assert posted and hooked
    assert all("四川" in t or "sichuan" in t.lower() for t in posted)
    for story in hooked:
        text = story_text(story["title"], story["summary"], story["source"])
        assert "四川" not in text and "sichuan" not in text.lower()
