"""An HTTP receiver on 127.0.0.1 for webhook and Apprise tests.

It records every request (method, path, headers, body) and answers 200 with
``{"ok": true}`` unless told otherwise: :meth:`Receiver.answer_next` queues
answers (status, headers, body), :meth:`Receiver.delay` slows every answer.

Usage::

    with Receiver() as hook:
        httpx.post(f"{hook.url}/hook", json={...})
        assert hook.requests[-1].json()["event"] == "story.new"
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["Received", "Receiver"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms wait for a delayed ACK between headers and body
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = self.server.receiver
        with receiver._lock:
            receiver._requests.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            answer = receiver._answers.popleft() if receiver._answers else None
            delay = receiver._delay
        if delay:
            time.sleep(delay)
        status, headers, data = answer or (200, {}, b'{"ok": true}')
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    receiver: Receiver


class Receiver:
    """Records requests on 127.0.0.1 (a random port) in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._answers: deque[tuple[int, dict[str, str], bytes]] = deque()
        self._delay = 0.0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.receiver = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def answer_next(
        self,
        status: int,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            for _ in range(count):
                self._answers.append((status, dict(headers or {}), data))

    def delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = seconds
