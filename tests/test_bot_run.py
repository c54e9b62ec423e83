"""`quality-monitor run` as a process with the bot, a subscriber, a webhook channel
and a digest channel: commands answered, subscriptions delivered, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.servers.receiver import Receiver

USER = 4242


def _wait(condition: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_run_with_the_bot_subscribers_and_other_channels(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer
) -> None:
    with Receiver() as hook:
        config = tmp_path / "sources.yaml"
        config.write_text(
            f"""\
version: 1
defaults: {{interval: 10m, timeout: 2s, backlog: 50}}
sources:
  - {{id: site-rss, name: 测试站 RSS, kind: rss, url: "{newssite.url}/feed.xml"}}
  - id: site-gbk
    name: 测试站 GBK 列表
    kind: html
    url: {newssite.url}/gbk/list.html
    list: {{item: "ul.news-list li", link: "a", date: "span.date"}}
    article: {{content: "div.article-content"}}
channels:
  - {{id: main, kind: telegram, chat: "@quality_test", pace: 0s}}
  - {{id: hook, kind: webhook, url: "{hook.url}/in", secret: "${{HOOK_SECRET}}"}}
  - {{id: daily, kind: telegram, chat: "-1001", mode: digest, schedule: "0 9 * * *"}}
bot: {{operators: [{USER}], pace: 0s}}
""",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": botapi.token,
            "TELEGRAM_API_URL": botapi.url,
            "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
            "HOOK_SECRET": "hook-secret-value",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            channel = lambda: [p for p in botapi.sent if p["chat_id"] == "@quality_test"]  # noqa: E731
            assert _wait(lambda: len(channel()) >= 4), botapi.sent
            assert _wait(lambda: bool(botapi.commands))  # setMyCommands: the bot is up
            botapi.push_message("/subscribe all", user_id=USER)
            assert _wait(
                lambda: any("已订阅" in p["text"] for p in botapi.sent if p["chat"] == USER)
            )
            botapi.push_message("/status", user_id=USER)
            assert _wait(
                lambda: any("运行状态" in p["text"] for p in botapi.sent if p["chat"] == USER)
            )
            assert _wait(lambda: len(hook.requests) >= len(channel()))
            assert not [p for p in botapi.sent if p["chat"] == -1001]  # the digest waits for 09:00
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    assert "bot: @quality_test_bot answers commands (polling)" in err
    assert "bot: stopped" in err and "stopped" in err
    assert "Traceback" not in err
    assert botapi.token not in err and "hook-secret-value" not in err
    stories = [r.json()["story"]["id"] for r in hook.requests if r.json()["event"] == "story.new"]
    assert len(channel()) == len(stories) == len(set(stories))  # both got each story once
