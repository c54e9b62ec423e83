"""quality-monitor as a service process: `serve`, `health` against /healthz,
`run` serving /metrics, and a stop in the middle of delivery."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.cli import main
from storage.schema import outbox
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import RELEVANT_STORIES, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_for(what: str, condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.slow
def test_serve_answers_until_sigterm_and_health_asks_it(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
        "MONITOR_CONFIG": str(write_config(tmp_path, _Site())),
        "MONITOR_HTTP_PORT": str(port),
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for("/readyz", lambda: get(url + "/readyz")[0] == 200)
        assert get(url + "/")[0] == 200
        status, body = get(url + "/metrics")
        assert status == 200 and 'mode="serve"' in body
        ok = health(env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith(f"ok: {url}/healthz") and '"status": "ok"' in ok.stdout
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    assert "serving the dashboard" in err and "stopped" in err
    down = health(env)
    assert down.returncode == 1 and "does not answer" in down.stdout


class _Site:
    url = "http://127.0.0.1:9"


@pytest.mark.slow
def test_run_serves_metrics_and_a_stop_mid_delivery_loses_nothing(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while posts are being sent slowly: the process exits 0 within
    10 s, every post Telegram accepted is marked sent, the unsent ones are
    handed back unclaimed, and the next run posts them: each story once."""
    config = write_config(tmp_path, newssite)
    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    port = free_port()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_URL": botapi.url,
        "MONITOR_DB_URL": db_url,
        "MONITOR_HTTP_PORT": str(port),
    }
    botapi.delay(2.0)  # each post takes 2 s: a stop lands in the middle of delivery
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the first post", lambda: len(botapi.sent) >= 1)
        status, metrics = get(url + "/metrics")
        assert status == 200
        for source in ("site-rss", "site-gbk", "site-mislabelled"):
            assert re.search(
                rf'^quality_monitor_polls_total{{outcome="ok",source="{source}"}} 1\.0$',
                metrics,
                re.M,
            ), source
        assert re.search(
            r'^quality_monitor_fetch_seconds_count{outcome="ok",page="list"} 3\.0$', metrics, re.M
        )
        assert re.search(r'^quality_monitor_alerts_pending{channel="main"} [1-9]', metrics, re.M)
        assert get(url + "/readyz")[0] == 200
        # the health table: who polls each source, and when next (10 minutes on)
        status, html = get(url + "/")
        replica = f"{socket.gethostname()}-{process.pid}"
        assert status == 200 and html.count(f"<td>{replica}</td>") == 3
        assert "下次抓取" in html and html.count("<td>—</td>") == 0
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
        stopped_in = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert stopped_in < 10, stopped_in
    accepted = len(botapi.sent)
    assert accepted < RELEVANT_STORIES, "the stop came too late to test anything"
    store = Store(db_url)
    with store.engine.connect() as conn:
        posts = conn.execute(
            select(outbox.c.status, outbox.c.claimed_by).where(outbox.c.kind == "post")
        ).all()
    store.close()
    assert sum(status == "sent" for status, _ in posts) == accepted  # none half-sent
    assert all(owner is None for _, owner in posts)  # the rest handed back

    botapi.delay(0)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "MONITOR_DB_URL"):
        monkeypatch.setenv(name, env[name])
    assert main(["--config", str(config), "run", "--once"]) == 0
    texts = [p["text"] for p in botapi.sent]
    assert len(texts) == RELEVANT_STORIES and len(set(texts)) == RELEVANT_STORIES
