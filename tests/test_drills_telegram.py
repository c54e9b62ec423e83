"""Fault drill: Telegram misbehaves while posts are due.

* a 429 storm: one answer in two is 429 (``retry_after`` 1 s), eight times;
* 5xx for a while: every call answers 502, 503 or 500 for 12 s (standing for
  "minutes": the delivery loop's backoff doubles each time, capped at 10 min);
* connection resets: the first connections to the API are reset before a
  request gets through (a TCP proxy in front of the Bot API test server).

In each, every story is posted exactly once, after the fault, in the order the
stories were found (Telegram's message ids grow with time, so the message ids
in outbox order must grow too), and nothing stays pending.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.cli import main
from storage.schema import outbox
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import RELEVANT_STORIES, write_config

pytestmark = pytest.mark.drill  # `make test-fast` leaves the fault drills out


def _run_once(config: Path) -> int:
    return main(["--config", str(config), "run", "--once"])


def _delivered_in_order(db_url: str, api: BotApiServer) -> None:
    store = Store(db_url)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.id, outbox.c.status, outbox.c.message_id)
            .where(outbox.c.kind == "post")
            .order_by(outbox.c.id)
        ).all()
    store.close()
    assert [r.status for r in rows] == ["sent"] * RELEVANT_STORIES, rows
    message_ids = [int(r.message_id) for r in rows]
    assert message_ids == sorted(message_ids), message_ids  # the outbox order is the chat's
    sent = api.sent
    assert len(sent) == RELEVANT_STORIES  # each once
    assert sorted(int(p["message_id"]) for p in sent) == sorted(message_ids)


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newssite: NewsSite
) -> tuple[Path, str, pytest.MonkeyPatch]:
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    return write_config(tmp_path, newssite), db_url, monkeypatch


def test_a_429_storm_is_waited_out_and_posts_keep_their_order(
    setup: tuple[Path, str, pytest.MonkeyPatch], botapi: BotApiServer
) -> None:
    config, db_url, env = setup
    env.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    env.setenv("TELEGRAM_API_URL", botapi.url)
    for _ in range(8):
        botapi.fail_next(1, status=429, retry_after=1, method="sendMessage")
    started = time.monotonic()
    assert _run_once(config) == 0
    _delivered_in_order(db_url, botapi)
    calls = botapi.calls
    assert calls.count("sendMessage") == RELEVANT_STORIES + 8  # each 429 was retried, once
    assert time.monotonic() - started >= 8  # and waited retry_after each time


class Outage(BotApiServer):
    """Answers every call with a 5xx while ``down_until`` (time.monotonic()) is ahead."""

    down_until = 0.0

    def _dispatch(self, path: str, params: Any, http_method: str, content_type: str) -> Any:
        if time.monotonic() < self.down_until:
            self.fail_next(1, status=(502, 503, 500)[int(time.monotonic()) % 3])
        return super()._dispatch(path, params, http_method, content_type)


def test_5xx_for_a_while_then_posts_go_in_order(
    setup: tuple[Path, str, pytest.MonkeyPatch],
) -> None:
    config, db_url, env = setup
    with Outage() as api:
        env.setenv("TELEGRAM_BOT_TOKEN", api.token)
        env.setenv("TELEGRAM_API_URL", api.url)
        api.down_until = time.monotonic() + 12
        back = time.time() + 12
        assert _run_once(config) == 0  # `run --once` waits (up to 90 s) for deferred posts
        _delivered_in_order(db_url, api)
        assert all(p["time"] >= back for p in api.sent)  # none got through the outage
        refused = [c for c in api.calls if c == "sendMessage"]
        assert len(refused) > RELEVANT_STORIES  # it did try during the outage, and waited


class ResettingProxy:
    """A TCP proxy to ``upstream`` that resets its first ``resets`` connections."""

    def __init__(self, upstream: str, resets: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.resets = resets
        self.reset_done = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> ResettingProxy:
        self._server.settimeout(0.1)
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for sock in [self._server, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if self.reset_done < self.resets:
                self.reset_done += 1
                # RST, not FIN: linger 0, then close.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_connection_resets_then_posts_go_in_order(
    setup: tuple[Path, str, pytest.MonkeyPatch], botapi: BotApiServer
) -> None:
    config, db_url, env = setup
    with ResettingProxy(botapi.url, resets=3) as proxy:
        env.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
        env.setenv("TELEGRAM_API_URL", proxy.url)
        assert _run_once(config) == 0
        assert proxy.reset_done == 3
    _delivered_in_order(db_url, botapi)
