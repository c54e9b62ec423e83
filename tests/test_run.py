"""`quality-monitor run` as a process: polls on schedule, delivers, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli import main
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import RELEVANT_STORIES, write_config


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_polls_delivers_and_stops_cleanly_on_a_signal(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, sig: signal.Signals
) -> None:
    config = write_config(tmp_path, newssite)
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_URL": botapi.url,
        "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(botapi.sent) < RELEVANT_STORIES and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(botapi.sent) == RELEVANT_STORIES
        # Each poll recorded who polls the source next, and when (the dashboard's column).
        store = Store(f"sqlite:///{tmp_path / 'm.db'}")
        try:
            schedules = store.schedules()
        finally:
            store.close()
        assert set(schedules) == {"site-rss", "site-gbk", "site-mislabelled"}
        now = datetime.now(UTC)
        for schedule in schedules.values():
            assert schedule.owner, schedule
            assert schedule.next_poll_at is not None and schedule.next_poll_at > now, schedule
        process.send_signal(sig)
        _out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "watching 3 sources" in err
    # one line for the cycle of polls: what it found and when the next poll is due
    cycle = [line for line in err.splitlines() if "INFO    polled 3 sources:" in line]
    assert len(cycle) == 1, err
    assert "11 new stories, 6 alerts queued; 0 failed" in cycle[0]
    assert re.search(r"; next poll at \d{4}-\d\d-\d\d \d\d:\d\d CST", cycle[0]), cycle[0]
    assert "stopped" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_run_says_once_when_no_source_answers(tmp_path: Path) -> None:
    """No network: one line per cycle and one plain hint, not only a wall of errors."""
    config = tmp_path / "sources.yaml"
    config.write_text(
        "version: 1\ndefaults: {interval: 10s, timeout: 1s}\nsources:\n"
        + "".join(
            f"  - {{id: s{i}, name: s{i}, kind: rss, url: 'http://127.0.0.1:9/{i}.xml'}}\n"
            for i in range(3)
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(12)  # the first cycle (spread over a second), then the backoff's cycle
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    cycles = [line for line in err.splitlines() if "polled 3 sources:" in line]
    assert cycles and "3 failed" in cycles[0] and "next poll at" in cycles[0]
    assert err.count("every source failed (3 of 3)") == 1, err  # said once
    assert "no network, or a proxy" in err and "make demo" in err and "check --fetch" in err


def test_check_fetch_prints_a_table_per_source(
    tmp_path: Path, newssite: NewsSite, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = f"""\
  - id: broken-500
    name: always 500
    kind: rss
    url: {newssite.url}/fault/500
"""
    config = write_config(tmp_path, newssite, extra=extra)
    # a script can tell: 1 when a source failed
    assert main(["--config", str(config), "check", "--fetch"]) == 1
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert set(rows) == {"site-rss", "site-gbk", "site-mislabelled", "broken-500"}
    assert " ok " in rows["site-rss"] and " error " in rows["broken-500"]
    assert "HTTP 500" in rows["broken-500"]
    assert "2025-" in rows["site-gbk"]  # the newest date
    assert not any(path.startswith("/news/") for path in newssite.hits)  # nothing followed


def test_check_fetch_exit_status_and_the_telegram_checks(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """0 when every source answers and the bot may post to every channel; 1 when
    the chat is misspelt (one line says which); 2 for an invalid file."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    config = write_config(tmp_path, newssite)
    assert main(["--config", str(config), "check", "--fetch"]) == 0
    out = capsys.readouterr().out
    assert "ok      telegram: token accepted: bot @quality_test_bot" in out
    assert "ok      channel main: may post to @quality_test" in out
    assert "3 of 3 sources answered" in out and "CST)" in out

    config.write_text(
        config.read_text(encoding="utf-8").replace("@quality_test", "@quality_tset"),
        encoding="utf-8",
    )
    assert main(["--config", str(config), "check", "--fetch"]) == 1
    out = capsys.readouterr().out
    assert "FAILED  channel main: cannot post to @quality_tset:" in out and "chat not found" in out

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:WRONG-token")
    assert main(["--config", str(config), "check", "--fetch"]) == 1
    out = capsys.readouterr().out
    assert "FAILED  telegram: the bot token does not work" in out and "WRONG" not in out

    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    assert main(["--config", str(config), "check", "--fetch"]) == 0
    assert "note    telegram: TELEGRAM_BOT_TOKEN is not set: main inactive" in (
        capsys.readouterr().out
    )

    config.write_text("version: 1\nsources: [{id: X}]\n", encoding="utf-8")
    assert main(["--config", str(config), "check", "--fetch"]) == 2


def test_the_config_option_goes_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("version: 1\nsources: []\n", encoding="utf-8")
    for argv in (["-c", str(config), "check"], ["check", "-c", str(config)]):
        assert main(argv) == 0, argv
        assert capsys.readouterr().out.startswith(f"{config}: OK")
    assert main(["--config", str(tmp_path / "nowhere.yaml"), "check", "--config", str(config)]) == 0


def test_serve_on_a_taken_port_blames_what_chose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    config = tmp_path / "sources.yaml"
    config.write_text("version: 1\nsources: []\n", encoding="utf-8")
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.delenv("MONITOR_HTTP_PORT", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "-c", str(config), "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert f"command line: --port: cannot listen on 127.0.0.1:{port}" in err
        assert "MONITOR_HTTP_PORT" not in err
        monkeypatch.setenv("MONITOR_HTTP_PORT", str(port))
        assert main(["serve", "-c", str(config)]) == 2
        assert "environment: MONITOR_HTTP_PORT: cannot listen" in capsys.readouterr().err
