"""The process's web face: /healthz, /readyz, /metrics and a read-only dashboard. [IO]

uvicorn on an event loop of its own in a daemon thread, with connection
timeouts and a connection limit (see :class:`WebServer`); no framework, no
build step, every page rendered on the server from the store (the pages
themselves: ``monitor/dashboard.py``). It only reads; it never blocks the
event loop of ``run`` (database reads go through the store's connection pool,
not the poll thread).

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

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from monitor import __version__
from monitor.config import Config
from monitor.dashboard import Dashboard, Page, error_page
from monitor.errors import MonitorError
from monitor.metrics import Metrics
from notifiers.redact import redact_url
from storage.chats import CHAT_PREFIX
from storage.store import Store

log = logging.getLogger("monitor.web")

MAX_ID = 2**63 - 1  # the largest id a database row can have
DB_TIMEOUT = 5.0  # seconds /healthz waits for the database
STALL_LIMIT = 60.0  # seconds without an event-loop heartbeat before /healthz fails
IDLE_TIMEOUT = 10.0  # seconds a connection may take to send a request head, or stay idle
MAX_CONNECTIONS = 200  # open connections (or requests in progress) before a request gets 503
WORKERS = 8  # threads rendering pages (each reads the database)
BACKLOG = 256  # connections the kernel queues before the server accepts them
STOP_TIMEOUT = 3.0  # seconds a stop waits for requests in progress


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
            number = route.removeprefix("/stories/")
            if route.startswith("/stories/") and number.isdigit() and int(number) <= MAX_ID:
                return Response.page(self.pages.story(int(number), query))
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
        response = self._probe(problem is None, problem or "")
        if problem is None:
            # Still alive (a restart would not help), but say which channels
            # cannot take posts: a wrong token or chat needs a person.
            try:
                held = self.store.held_channels()
            except MonitorError:
                held = {}
            held = {c: v for c, v in held.items() if not c.startswith(CHAT_PREFIX)}
            if held:
                body = json.loads(response.body)
                body["channels_failing"] = {
                    cid: f"{why} ({waiting} alerts wait)" for cid, (waiting, why, _) in held.items()
                }
                response.body = json.dumps(body, ensure_ascii=False).encode()
        return response

    def readyz(self) -> Response:
        ready, reason = self.status.readiness()
        if not ready:
            return self._probe(False, reason)
        problem = self._database_answers()
        return self._probe(problem is None, problem or "")


# ── the HTTP server ─────────────────────────────────────────────────────────


_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"server", f"quality-monitor/{__version__}".encode()),
)


class _Asgi:
    """The ASGI face of a :class:`WebApp`: GET and HEAD are answered by
    :meth:`WebApp.handle` in a small thread pool (its pages read the database
    synchronously), every other method is refused."""

    def __init__(self, app: WebApp, workers: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            body = b"read-only: GET and HEAD only\n"
            headers = [
                (b"allow", b"GET, HEAD"),
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # The request target as the client wrote it, as the standard library's server gave it.
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        path = target.decode("latin-1")
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.pool, self.app.handle, path)
        except Exception:  # a bug in a page must not take the server down
            log.exception("web: %s failed", redact_url(path)[:200])
            response = Response.page(error_page())
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
            *_HEADERS,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's head and a
    cap on open connections that makes room by closing idle ones.

    uvicorn closes a keep-alive connection that stays quiet after a response,
    but not one that never finishes its first request: a client that connects
    and sends nothing, or one byte now and then, would hold its socket (and a
    file descriptor) for as long as it likes. Here the whole request head must
    arrive within ``timeout_keep_alive`` of the connection opening or of the
    previous response, or the connection is closed.

    And past ``max_open`` open connections, a new one closes the oldest that
    has not sent a complete request head (idle, or a request still trickling
    in), so that idle connections can neither exhaust file descriptors nor
    keep a probe out: ``/healthz`` answers at once. Only when every connection
    is busy with a request does a new request get uvicorn's 503.
    """

    max_open: ClassVar[int] = MAX_CONNECTIONS
    _head_deadline: asyncio.TimerHandle | None = None
    _opened = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm()
        if len(self.connections) > self.max_open:
            self._close_oldest_idle()

    def _idle(self) -> bool:
        return (
            self.conn.their_state is h11.IDLE
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def _close_oldest_idle(self) -> None:
        idle = [
            c for c in self.connections if c is not self and isinstance(c, _Protocol) and c._idle()
        ]
        if idle:
            min(idle, key=lambda c: c._opened).transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.timeout_keep_alive, self._too_slow)

    def _too_slow(self) -> None:
        # IDLE: no complete request head since the deadline was armed.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class WebServer:
    """Serves a :class:`WebApp` with uvicorn, on an event loop in a daemon thread,
    until :meth:`stop`.

    The standard library's threaded server gave each connection a thread for as
    long as the client kept it open: a thousand idle connections held a
    thousand threads and, with 1,024 file descriptors, starved the polls and
    ``/healthz`` itself. uvicorn serves every connection from one event loop;
    a connection that does not send its request head within ``idle_timeout``
    (or stays quiet that long after a response) is closed; past
    ``max_connections`` open connections a new one closes the oldest idle one,
    and when all are busy with requests a request is answered 503 at once
    instead of queueing (see :class:`_Protocol`). The socket is bound in the
    constructor, so a port in use is an ``OSError`` there, as before.
    """

    def __init__(
        self,
        app: WebApp,
        host: str,
        port: int,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        workers: int = WORKERS,
    ) -> None:
        self.app = app
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._socket = socket.socket(family, kind, proto)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(address)
        except OSError:
            self._socket.close()
            raise
        self._asgi = _Asgi(app, workers)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._asgi,
                http=type("_Protocol", (_Protocol,), {"max_open": max_connections}),
                ws="none",
                lifespan="off",
                interface="asgi3",
                timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]  # a float works
                timeout_graceful_shutdown=STOP_TIMEOUT,  # type: ignore[arg-type]  # a float works
                # one more than the connections kept open: uvicorn counts with >=
                limit_concurrency=max_connections + 1,
                backlog=BACKLOG,
                server_header=False,
                access_log=False,
                log_config=None,
                log_level="warning",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> WebServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        log.info("serving the dashboard, /healthz and /metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT + 2)
            self._thread = None
        self._socket.close()
        self._asgi.pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["Status", "WebApp", "WebServer"]
