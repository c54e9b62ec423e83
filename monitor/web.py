"""The process's web face: /healthz, /readyz, /metrics and a read-only dashboard. [IO]

A stdlib :class:`~http.server.ThreadingHTTPServer` in a daemon thread: no
framework, no build step, every page rendered on the server from the store
(the pages themselves: ``monitor/dashboard.py``). It only reads; it never
blocks the event loop of ``run`` (database reads go through the store's
connection pool, not the poll thread).

======================  =============================================================
path                    what
======================  =============================================================
``/``                   recent stories (filter by province, category, dates, text)
                        and the source health table
``/stories/<id>``       a story, its articles and why each was grouped with it
``/sources/<id>``       a source: its state and its recent polls (the fetch log)
``/healthz``            liveness: 200 when the process and the database answer,
                        else 503 with the reason (JSON)
``/readyz``             readiness: 200 once started (schema current, scheduler
                        running) and until a stop begins, else 503 with the reason
``/metrics``            Prometheus text format (see monitor/metrics.py)
======================  =============================================================

The dashboard is in Chinese; ``?lang=en`` shows it in English.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor import __version__
from monitor.config import Config
from monitor.dashboard import Dashboard, Page, error_page
from monitor.errors import MonitorError
from monitor.metrics import Metrics
from storage.store import Store

log = logging.getLogger("monitor.web")

DB_TIMEOUT = 5.0  # seconds /healthz waits for the database
STALL_LIMIT = 60.0  # seconds without an event-loop heartbeat before /healthz fails


# ── status: what /healthz and /readyz report ────────────────────────────────


class Status:
    """The process's state as the probes see it. Thread-safe.

    ``run`` marks itself ready once the schema is current and the scheduler
    runs, beats from its event loop every few seconds (a stalled loop makes
    /healthz fail), and turns not ready as soon as a stop begins.
    """

    def __init__(self, *, mode: str, replica: str, stall_limit: float = STALL_LIMIT) -> None:
        self.mode = mode
        self.replica = replica
        self.stall_limit = stall_limit
        self.started = time.time()
        self._lock = threading.Lock()
        self._ready = False
        self._reason = "starting"
        self._beat: float | None = None

    def set_ready(self) -> None:
        with self._lock:
            self._ready, self._reason = True, ""

    def set_not_ready(self, reason: str) -> None:
        with self._lock:
            self._ready, self._reason = False, reason

    def readiness(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason

    def beat(self) -> None:
        with self._lock:
            self._beat = time.monotonic()

    def stalled_for(self) -> float | None:
        """Seconds since the last heartbeat, when past the limit; None otherwise."""
        with self._lock:
            if self._beat is None:
                return None
            quiet = time.monotonic() - self._beat
        return quiet if quiet > self.stall_limit else None


# ── the application ─────────────────────────────────────────────────────────


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"

    @classmethod
    def page(cls, page: Page) -> Response:
        return cls(page.status, page.body)


class WebApp:
    """Routes a GET to its page. Independent of the HTTP server, so it can be
    called directly; the server below is a thin adapter."""

    def __init__(
        self,
        store: Store,
        config: Config,
        status: Status,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.config = config
        self.status = status
        self.metrics = metrics
        self.clock = clock
        self.pages = Dashboard(store, config, clock=clock)

    def handle(self, path: str) -> Response:
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=False).items()}
        route = parts.path.rstrip("/") or "/"
        try:
            if route == "/healthz":
                return self.healthz()
            if route == "/readyz":
                return self.readyz()
            if route == "/metrics":
                body, content_type = self.metrics.render()
                return Response(200, body, content_type)
            if route == "/":
                return Response.page(self.pages.index(query))
            if route.startswith("/stories/") and route.removeprefix("/stories/").isdigit():
                return Response.page(self.pages.story(int(route.removeprefix("/stories/")), query))
            if route.startswith("/sources/"):
                return Response.page(self.pages.source(route.removeprefix("/sources/"), query))
        except MonitorError as exc:
            log.error("web: %s: %s", route, exc)
            return Response.page(self.pages.unavailable(str(exc), query))
        return Response.page(self.pages.not_found(parts.path, query))

    # ── probes ──────────────────────────────────────────────────────────────

    def _database_answers(self) -> str | None:
        """None when the database answers within DB_TIMEOUT, else why not."""
        outcome: list[str | None] = []

        def ping() -> None:
            try:
                self.store.ping()
                outcome.append(None)
            except MonitorError as exc:
                outcome.append(str(exc))

        worker = threading.Thread(target=ping, name="healthz-ping", daemon=True)
        worker.start()
        worker.join(DB_TIMEOUT)
        if not outcome:
            return f"the database did not answer within {DB_TIMEOUT:g}s"
        return outcome[0]

    def _probe(self, ok: bool, reason: str) -> Response:
        body: dict[str, Any] = {
            "status": "ok" if ok else "unavailable",
            "mode": self.status.mode,
            "replica": self.status.replica,
            "version": __version__,
        }
        if not ok:
            body["reason"] = reason
        return Response(
            200 if ok else 503,
            json.dumps(body, ensure_ascii=False).encode(),
            "application/json",
        )

    def healthz(self) -> Response:
        stalled = self.status.stalled_for()
        if stalled is not None:
            return self._probe(False, f"the event loop has not run for {stalled:.0f}s")
        problem = self._database_answers()
        return self._probe(problem is None, problem or "")

    def readyz(self) -> Response:
        ready, reason = self.status.readiness()
        if not ready:
            return self._probe(False, reason)
        problem = self._database_answers()
        return self._probe(problem is None, problem or "")


# ── the HTTP server ─────────────────────────────────────────────────────────


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = f"quality-monitor/{__version__}"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _refuse(self) -> None:
        body = b"read-only: GET and HEAD only\n"
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _answer(self, *, head: bool) -> None:
        try:
            response = self.server.app.handle(self.path)
        except Exception:  # a bug in a page must not kill the server thread
            log.exception("web: %s failed", self.path)
            response = Response.page(error_page())
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
        )
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: %s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: WebApp


class WebServer:
    """Serves a :class:`WebApp` from a daemon thread until :meth:`stop`."""

    def __init__(self, app: WebApp, host: str, port: int) -> None:
        self.app = app
        self._server = _Server((host, port), _Handler)
        self._server.app = app
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def start(self) -> WebServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="web",
            daemon=True,
        )
        self._thread.start()
        log.info("serving the dashboard, /healthz and /metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


__all__ = ["Status", "WebApp", "WebServer"]
