"""HTTP for every source: one shared ``httpx.AsyncClient``. [IO]

* bounded: at most ``concurrency`` requests in flight overall and ``per_host``
  to any one host, so a thousand sources never hammer one provincial server;
* conditional: the caller passes the validators it stored (ETag,
  Last-Modified) and gets the new ones back; a 304 costs no parsing;
* capped: connect/read timeouts and a total deadline per request (a server
  that dribbles a byte a second fails at the source's ``timeout``), a redirect
  limit, a response-size cap read as a stream (a 50 MB page is cut, never held
  whole), http and https only;
* fenced: every hop, redirects included, is checked after DNS resolution: an
  address on loopback, a private or link-local network or unspecified is not
  contacted unless it is the source's own origin or listed in
  ``http.allow_private``; the connection then goes to the address that was
  checked (no second lookup an attacker's DNS could answer differently);
* patient: timeouts, connection errors, 429 (honouring ``Retry-After``) and
  5xx are retried with exponential backoff and jitter; other 4xx are not;
* compressed: gzip, deflate and brotli are asked for and decoded here, from
  the raw stream, with the output bounded by ``max_bytes`` (a 2 KB body that
  inflates to gigabytes fails, and costs at most ``max_bytes`` of memory);
  stacked encodings (``gzip, gzip``) are refused;
* rendered on request: ``render: browser`` sources go through one headless
  Chromium (Playwright, an optional extra), which passes the JavaScript
  challenges (HTTP 412, 瑞数) some sites answer plain clients with, and keeps
  their cookies for the process's later requests;
* decoded: BOM (UTF-8, -16, -32; for XML also the BOM-less UTF-16/32 forms of
  ``<?``), then valid UTF-8 whatever the label says (sites that declare GBK
  but send UTF-8 are common; a body cut inside its last character is still
  UTF-8), then the declared charset from the header
  or ``<meta>``, then (unlabelled) GB18030, then detection by charset-normalizer.
  GBK and GB2312 are read as GB18030, their superset. Undecodable bytes never raise.

Every failure is raised as :class:`~monitor.errors.FetchError` carrying the
source id and the cause.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ipaddress
import os
import random
import re
import socket
import ssl
import time
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import anyio
import brotli
import charset_normalizer
import httpcore
import httpx

from monitor.errors import FetchError
from monitor.model import FetchResult
from monitor.sources import Request

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "gb_2312-80": "gb18030", "x-gbk": "gb18030"}
# The codec each BOM names, byte order included: "utf-16" alone, passed on as a
# feed's charset, was read little-endian (a UTF-16-BE feed failed).
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16-LE's, which begins the same (FF FE)
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Without a BOM, an XML document's first two characters (``<?``) or its first
# one (``<``) still say how wide its characters are (XML 1.0, appendix F).
_XML_STARTS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
# Idle keep-alive connections kept across hosts. Not tied to ``concurrency``: a
# source list visits each of its hundreds of hosts in turn, and with only
# ``concurrency`` kept (100) every request of a 200-host list reconnected (2,000
# connections a pass instead of 200). Well under the usual 1,024 open files.
MAX_IDLE = 512
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(
    content: bytes, *, declared: str | None = None, forced: str | None = None
) -> tuple[str, str]:
    """Bytes → (text, codec name). Never raises."""
    for bom, name in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(name, errors="replace"), name
    for start, name in _XML_STARTS:
        if content.startswith(start):
            return content.decode(name, errors="replace"), name
    if codec := _codec(forced):
        return content.decode(codec, errors="replace"), codec
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            # Valid up to a character cut in two at the very end (the size cap, a
            # dropped connection): UTF-8 all the same, not a reason to guess cp1251.
            return content.decode("utf-8", errors="replace"), "utf-8"
    else:
        return text, "utf-8"
    meta = _META_CHARSET.search(content[:4096])
    for candidate in (declared, meta.group(1).decode("ascii", "ignore") if meta else None):
        if (codec := _codec(candidate)) and codec != "utf-8":
            try:
                return content.decode(codec), codec
            except UnicodeDecodeError:
                continue
    if not declared and not meta:
        # Unlabelled bytes that are not UTF-8: on the sites we read, GB18030 is by far
        # the likeliest, and a strict decode of anything else fails quickly.
        try:
            return content.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    best = charset_normalizer.from_bytes(content[:200_000]).best()
    if best is not None and (codec := _codec(best.encoding)):
        return content.decode(codec, errors="replace"), codec
    return content.decode("gb18030", errors="replace"), "gb18030"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# ── which addresses a fetch may reach ────────────────────────────────────────


def _is_internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, unspecified, reserved or multicast: this
    machine's or its network's own services, never a public site."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return not ip.is_global or ip.is_multicast


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


class AddressPolicy:
    """Where a fetch may go: any public address; an internal one only when it is
    the source's own origin (its configured URL's host and port; or the same
    host on the other default port, for an http → https upgrade) or listed in
    ``http.allow_private`` (host names, addresses, networks such as 10.1.0.0/16)."""

    def __init__(self, allow_private: Sequence[str] = ()) -> None:
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow_private:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.names.add(entry.lower().rstrip("."))

    def exempt(self, parts: SplitResult, origin: SplitResult | None) -> bool:
        """Whether this URL may be internal without asking DNS: its host is allowed
        by name, or it is the source's own origin."""
        host = (parts.hostname or "").rstrip(".")
        if host in self.names:
            return True
        if origin is None or (origin.hostname or "").rstrip(".") != host:
            return False
        ports = {_port(parts), _port(origin)}
        return len(ports) == 1 or ports == {80, 443}

    def allows(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return not _is_internal(ip) or any(ip in net for net in self.networks)


class _Resolver:
    """Host → addresses, with a short cache: the check of a hop and the
    connection it makes use the same answer (see :class:`_PinnedBackend`), and
    a host's many pages cost one lookup a minute, not one each."""

    TTL = 60.0
    GRACE = 10.0  # seconds an answer still serves the connection its check led to
    SIZE = 4096

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}

    async def lookup(self, host: str, port: int) -> tuple[str, ...]:
        """The host's addresses, looked up again once the cached answer is old."""
        now = time.monotonic()
        cached = self._cache.get(host)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return (host,)  # a literal: nothing to look up, nothing to cache
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found = tuple(dict.fromkeys(str(info[4][0]).partition("%")[0] for info in infos))
        if len(self._cache) >= self.SIZE:
            self._cache = {h: e for h, e in self._cache.items() if e[0] > now}
            if len(self._cache) >= self.SIZE:
                self._cache.clear()
        self._cache[host] = (now + self.TTL, found)
        return found

    def checked(self, host: str) -> tuple[str, ...] | None:
        """The answer the check before this connection used (a check refreshes an
        old answer first, so a current one is it); None: look the host up."""
        cached = self._cache.get(host)
        if cached is None or cached[0] + self.GRACE < time.monotonic():
            return None
        return cached[1]


CLOSE_WAIT = 1.0  # seconds a closing connection may take (a TLS close_notify)


class _Protocol(asyncio.Protocol):
    """One connection's bytes as they arrive, for :class:`_Stream`."""

    HIGH_WATER = 256 * 1024  # bytes buffered before the transport stops reading

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False  # reading, by us
        self.writing_paused = False  # writing, by the transport
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > self.HIGH_WATER and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Stream(httpcore.AsyncNetworkStream):
    """A connection on asyncio's own transport, for httpcore.

    httpcore's anyio stream enters an anyio cancel scope (``fail_after``) at
    every read and write, and polls the socket (``getpeername``, ``select``) each
    time a pooled connection is checked: a third of the HTTP stack's CPU at
    2,000 polls of 304s (bench/RESULTS.md). Here a read takes what the protocol
    has buffered, waiting (under ``asyncio.timeout``) only when it has nothing;
    a connection "is readable" (httpcore's test of an idle connection the
    server closed or wrote to) when the protocol has seen bytes or the end."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            waiter = protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    async with asyncio.timeout(timeout):
                        await waiter
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
            finally:
                protocol.waiter = None
        if protocol.buffer:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
            if protocol.paused and len(protocol.buffer) <= protocol.HIGH_WATER // 2:
                protocol.paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError(str(protocol.error or "connection closed"))
        self._transport.write(buffer)
        if protocol.writing_paused:
            drained = protocol.drained = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await drained
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
            finally:
                protocol.drained = None
            if protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error))

    async def aclose(self) -> None:
        """Close, and wait (a second at most) until the transport has: a TLS one
        first says goodbye to the server."""
        self._transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT):
                await asyncio.shield(self._protocol.closed)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=timeout or None,
                )
        except BaseException as exc:
            self._transport.close()
            if isinstance(exc, TimeoutError):
                raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
            if isinstance(exc, OSError):  # ssl.SSLError among them
                raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        if transport is None:  # the server closed during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        return _Stream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


async def _connect(
    host: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> _Stream:
    """A TCP connection as a :class:`_Stream` (asyncio sets TCP_NODELAY)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                _Protocol,
                host,
                port,
                local_addr=(local_address, 0) if local_address else None,
            )
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    assert isinstance(transport, asyncio.Transport)
    for option in socket_options or ():
        transport.get_extra_info("socket").setsockopt(*option)
    return _Stream(transport, protocol)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting to the addresses the fetcher
    checked rather than resolving the host a second time: a DNS server that
    answers a public address to the check and 127.0.0.1 to the connection
    (DNS rebinding) gets nowhere. TLS still names and verifies the host."""

    def __init__(self, resolver: _Resolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._resolver.checked(host) or (host,)  # e.g. a proxy: resolved as usual
        error: Exception | None = None
        for address in addresses:
            try:
                return await _connect(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# A pool's key for an origin (httpcore's Origin is not hashable): scheme, host, port
_Origin = tuple[bytes, bytes, int]


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which skips its work for an answer that sets no cookie:
    httpx builds two urllib wrappers for every response to look for Set-Cookie,
    a tenth of a 304 poll's HTTP time."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


class _Pool:
    """Keep-alive connections by origin, taken and given back in O(1).

    httpcore's ``AsyncConnectionPool`` rescans every pooled connection at each
    request and at each response's close (``_assign_requests_to_connections``;
    its surplus-idle check is even quadratic in the pool's size): 2,000 polls
    of one host over 100 connections made 37 million ``is_idle`` calls and took
    34–41 s, nearly all of it CPU, for 4 s of network (bench/RESULTS.md,
    issue 15). It scans because it queues: it enforces ``max_connections``
    itself. The Fetcher already bounds what is in flight
    (its semaphores, overall and per host), so this pool never queues and never
    scans: a request takes the most recently used idle connection to its origin
    (checked for expiry and a server's close, as httpcore checks it), or opens a
    new one on the fetcher's :class:`_PinnedBackend`; the response's close gives
    it back. Idle connections are closed once ``keepalive_expiry`` old (swept
    oldest first at each request, so the cost is the number closed) and beyond
    ``max_idle`` (the oldest first). Connections are httpcore's own
    (``AsyncHTTPConnection``, HTTP/1.1), so the wire behaviour is unchanged."""

    def __init__(
        self,
        *,
        ssl_context: Any,
        max_idle: int,
        keepalive_expiry: float | None,
        network_backend: httpcore.AsyncNetworkBackend,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._backend = network_backend
        # idle connections, least recently used first: origin and when given back
        self._idle: OrderedDict[httpcore.AsyncHTTPConnection, tuple[_Origin, float]] = OrderedDict()
        self._by_origin: dict[_Origin, list[httpcore.AsyncHTTPConnection]] = {}
        self._busy: set[httpcore.AsyncHTTPConnection] = set()

    @property
    def connections(self) -> list[httpcore.AsyncHTTPConnection]:
        """Every open connection, busy or idle (as httpcore's pool lists them)."""
        return [*self._busy, *self._idle]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{request.url.scheme.decode()}://'."
            )
        where = request.url.origin
        origin = (where.scheme, where.host, where.port)
        await self._sweep()
        while True:
            connection = await self._take(origin)
            if connection is None:
                connection = httpcore.AsyncHTTPConnection(
                    origin=where,
                    ssl_context=self._ssl_context,
                    keepalive_expiry=self._keepalive_expiry,
                    http1=True,
                    http2=False,
                    network_backend=self._backend,
                )
            self._busy.add(connection)
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                await self._give_back(connection, origin)  # unusable after all: another one
                continue
            except BaseException:
                await self._give_back(connection, origin)
                raise
            break
        assert isinstance(response.stream, AsyncIterable)
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_PooledStream(response.stream, self, connection, origin),
            extensions=response.extensions,
        )

    async def _take(self, origin: _Origin) -> httpcore.AsyncHTTPConnection | None:
        """The origin's most recently used idle connection still fit for a request."""
        stack = self._by_origin.get(origin)
        while stack:
            connection = stack.pop()
            if not stack:
                del self._by_origin[origin]
            del self._idle[connection]
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()  # expired, or closed by the server meanwhile
        return None

    async def _give_back(self, connection: httpcore.AsyncHTTPConnection, origin: _Origin) -> None:
        """Called once the request is over: keep the connection if it can serve
        another (its response read to the end), else close it."""
        self._busy.discard(connection)
        if connection.is_closed() or not connection.is_available():
            await connection.aclose()
            return
        self._idle[connection] = (origin, time.monotonic())
        self._by_origin.setdefault(origin, []).append(connection)
        if len(self._idle) > self._max_idle:
            await self._close_idle(next(iter(self._idle)))

    async def _sweep(self) -> None:
        """Close the idle connections past their keep-alive, oldest first."""
        if self._keepalive_expiry is None:
            return
        limit = time.monotonic() - self._keepalive_expiry
        while self._idle:
            connection, (_origin, since) = next(iter(self._idle.items()))
            if since > limit:
                break
            await self._close_idle(connection)

    async def _close_idle(self, connection: httpcore.AsyncHTTPConnection) -> None:
        origin, _since = self._idle.pop(connection)
        stack = self._by_origin[origin]
        stack.remove(connection)
        if not stack:
            del self._by_origin[origin]
        await connection.aclose()

    async def aclose(self) -> None:
        connections = self.connections
        self._idle.clear()
        self._by_origin.clear()
        self._busy.clear()
        with anyio.CancelScope(shield=True):
            for connection in connections:
                await connection.aclose()

    async def __aenter__(self) -> _Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _PooledStream:
    """A response body that gives its connection back to the pool once closed."""

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        pool: _Pool,
        connection: httpcore.AsyncHTTPConnection,
        origin: _Origin,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._origin = origin
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Shielded, as httpcore's pool does: a deadline that strikes while the
        # connection is being given back must not leave it half-released.
        with anyio.CancelScope(shield=True):
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
            await self._pool._give_back(self._connection, self._origin)


# ── bounded decompression ────────────────────────────────────────────────────


class _Bomb(Exception):
    """The decoded body outgrew the size cap."""


class _Decoder:
    """One Content-Encoding, decoded with a bound on its output: ``decode(data,
    room)`` returns at most ``room`` bytes or raises :class:`_Bomb`. httpx's
    own decoders inflate a whole chunk at once (a 2 KB brotli chunk became 6 GB)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._brotli: Any = None
        self._zlib: Any = None
        self._first = True
        if encoding == "br":
            self._brotli = brotli.Decompressor()
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def decode(self, data: bytes, room: int) -> bytes:
        if self._brotli is not None:
            out = bytes(self._brotli.process(data, output_buffer_limit=room + 1))
        elif self._zlib is not None:
            try:
                out = self._zlib.decompress(data, room + 1)
            except zlib.error:
                if not (self.encoding == "deflate" and self._first):
                    raise
                # "deflate" sent as a raw stream, without its zlib header (as httpx reads it)
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._zlib.decompress(data, room + 1)
            self._first = False
        else:
            raise ValueError(f"no decoder for {self.encoding!r}")
        if len(out) > room:
            raise _Bomb
        return out


_DECODED = ("br", "gzip", "x-gzip", "deflate")  # others (none asked for) are read as they come


def _encodings(response: httpx.Response) -> list[str]:
    header = response.headers.get("content-encoding", "")
    return [e for e in (p.strip().lower() for p in header.split(",")) if e and e != "identity"]


_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """The Chromium Playwright drives: ``MONITOR_CHROMIUM``, else the system's."""
    configured = os.environ.get("MONITOR_CHROMIUM", "").strip()
    if configured:
        return configured
    return next((p for p in _CHROMIUM if Path(p).exists()), None)


@dataclass
class FetchStats:
    """What this fetcher cost so far: requests made and bytes received on the wire."""

    requests: int = 0
    bytes: int = 0  # as sent by the server (compressed), bodies only
    not_modified: int = 0


class Fetcher:
    """The one HTTP client of a run. Use as ``async with Fetcher(...) as f``."""

    def __init__(
        self,
        *,
        concurrency: int = 32,
        per_host: int = 2,
        user_agent: str = "quality-monitor",
        max_bytes: int = 10_000_000,
        max_redirects: int = 5,
        retries: int = 2,
        backoff: float = 0.5,
        max_retry_wait: float = 30.0,
        allow_private: Sequence[str] = (),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._overall = asyncio.Semaphore(concurrency)
        self._per_host_limit = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host_limit)
        )
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self.policy = AddressPolicy(allow_private)
        self._resolver = _Resolver()
        self._retries = retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._user_agent = user_agent
        self._browser: Any = None  # (playwright, browser, context), started on first use
        self._browser_lock = asyncio.Lock()
        self.stats = FetchStats()
        # One client on one pool (:class:`_Pool`), whose cost per request does not
        # grow with the number of connections; the limits are the semaphores above.
        # One TLS context for all (loading the CA bundle is costly).
        tls = httpx.create_ssl_context(trust_env=True) if transport is None else True
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
                "application/rss+xml,application/atom+xml,*/*;q=0.8",
                "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
                "Accept-Encoding": "gzip, deflate, br",
            },
            follow_redirects=False,  # followed hop by hop in _exchange, each one checked
            limits=limits,
            transport=transport,
            verify=tls,
            trust_env=True,  # HTTP(S)_PROXY and NO_PROXY from the environment
        )
        self._client._cookies = _Cookies()  # the client's jar, read and kept as httpx does
        if transport is None:
            self._pin(self._client, tls, limits)

    def _pin(self, client: httpx.AsyncClient, tls: Any, limits: httpx.Limits) -> None:
        """Give the client's direct transport a :class:`_Pool` on :class:`_PinnedBackend`.

        httpx 0.28 takes no network backend, so the pool it built is replaced
        (the one place private attributes are touched; httpx is pinned). Requests
        through a proxy from the environment go through httpx's proxy transports,
        unchanged: the proxy resolves those."""
        transport = client._transport
        if not isinstance(transport, httpx.AsyncHTTPTransport):
            return
        transport._pool = _Pool(  # type: ignore[assignment]
            ssl_context=tls,
            max_idle=max(limits.max_keepalive_connections or 0, MAX_IDLE),
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(self._resolver),
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._browser is not None:
            playwright, browser, _context = self._browser
            self._browser = None
            try:
                await browser.close()
            finally:
                await playwright.stop()

    async def get(
        self,
        url: str,
        *,
        source_id: str,
        timeout: float = 20.0,
        etag: str | None = None,
        last_modified: str | None = None,
        encoding: str | None = None,
        render: bool = False,
        origin: str | None = None,
    ) -> FetchResult:
        """GET one URL, conditionally when validators are given, with retries."""
        return await self.fetch(
            Request(url),
            source_id=source_id,
            timeout=timeout,
            etag=etag,
            last_modified=last_modified,
            encoding=encoding,
            render=render,
            origin=origin,
        )

    async def fetch(
        self,
        request: Request,
        *,
        source_id: str,
        timeout: float = 20.0,
        etag: str | None = None,
        last_modified: str | None = None,
        encoding: str | None = None,
        render: bool = False,
        origin: str | None = None,
    ) -> FetchResult:
        """Make one request (GET or POST) with retries; a GET is conditional when
        validators are given. ``render`` loads a GET in the headless browser.

        ``origin`` is the configured URL of the source the request is for: its
        host and port may be internal (an intranet source). Without it, the
        requested URL is taken as configured. Links and redirects learned from
        fetched content reaching other internal addresses are refused."""
        url = request.url
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError when out of range)
        except ValueError as exc:
            raise FetchError(source_id, f"{url}: not a valid URL: {exc}") from exc
        if parts.scheme not in ("http", "https"):
            raise FetchError(source_id, f"{url}: only http and https URLs are fetched")
        headers = request.all_headers()
        if request.method == "GET":
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
        trusted = urlsplit(origin) if origin is not None else parts
        if render:
            if request.method != "GET":
                raise FetchError(source_id, f"{url}: render: browser reads GET pages only")
            # The page's own address is checked; what the browser then loads is its own.
            try:
                await self._check_address(httpx.URL(url), url, source_id, trusted, 0)
            except OSError as exc:
                raise FetchError(source_id, f"{url}: ConnectError: {exc}") from exc
            return await self._render(url, source_id, timeout, encoding)
        attempt = 0
        while True:
            try:
                return await self._get_once(request, source_id, timeout, headers, encoding, trusted)
            except _Transient as exc:
                if attempt >= self._retries:
                    raise FetchError(source_id, exc.message, status=exc.status) from exc.__cause__
                wait = exc.retry_after
                if wait is None:
                    wait = self._backoff * (2**attempt) * (0.5 + random.random())
                await asyncio.sleep(min(wait, self._max_retry_wait))
                attempt += 1

    async def _get_once(
        self,
        request: Request,
        source_id: str,
        timeout: float,
        headers: dict[str, str],
        encoding: str | None,
        origin: SplitResult,
    ) -> FetchResult:
        url = request.url
        host = urlsplit(url).hostname or ""
        started = time.perf_counter()
        # The host's slot first: a request waiting for a busy host must not hold one
        # of the overall slots meanwhile, or a few big hosts would starve the rest.
        async with self._hosts[host], self._overall:
            self.stats.requests += 1
            client = self._client
            # The total deadline starts once the slots are held: waiting for a busy
            # host is not the server's slowness. Past it, a server that never
            # answered is retried like any timeout; one that answered and then
            # dribbled its body is not (it would dribble again).
            answered: list[httpx.Response] = []
            try:
                async with asyncio.timeout(timeout):
                    response, content = await self._exchange(
                        client, request, source_id, timeout, headers, origin, answered
                    )
            except TimeoutError as exc:
                if not answered:
                    raise _Transient(f"{url}: timed out after {timeout:g}s") from exc
                raise FetchError(
                    source_id, f"{url}: timed out: no complete answer within {timeout:g}s"
                ) from exc
            except httpx.UnsupportedProtocol as exc:
                raise FetchError(source_id, f"{url}: redirected to an unsupported scheme") from exc
            except httpx.TimeoutException as exc:
                raise _Transient(f"{url}: timed out after {timeout:g}s") from exc
            except httpx.TransportError as exc:
                raise _Transient(
                    f"{url}: {type(exc).__name__}: {exc or 'connection failed'}"
                ) from exc
            except OSError as exc:  # the host's name could not be looked up
                raise _Transient(f"{url}: ConnectError: {exc}") from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise FetchError(source_id, f"{url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 304:
            return FetchResult(
                url=url,
                final_url=str(response.url),
                status=304,
                etag=response.headers.get("etag") or headers.get("If-None-Match"),
                last_modified=response.headers.get("last-modified")
                or headers.get("If-Modified-Since"),
                not_modified=True,
                elapsed=time.perf_counter() - started,
                fetched_at=datetime.now(UTC),
            )
        declared = response.charset_encoding
        text, codec = decode(content, declared=declared, forced=encoding)
        return FetchResult(
            url=url,
            final_url=str(response.url),
            status=response.status_code,
            content=content,
            text=text,
            encoding=codec,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            elapsed=time.perf_counter() - started,
            fetched_at=datetime.now(UTC),
        )

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        request: Request,
        source_id: str,
        timeout: float,
        headers: dict[str, str],
        origin: SplitResult,
        answered: list[httpx.Response],
    ) -> tuple[httpx.Response, bytes]:
        """Send the request and follow its redirects, hop by hop, each hop's
        address checked; the final response and its body. The final response
        is put in ``answered`` as soon as its head is in."""
        url = request.url
        outgoing = client.build_request(
            request.method,
            url,
            headers=headers,
            content=request.content,
            timeout=httpx.Timeout(timeout),
        )
        for hop in range(self._max_redirects + 1):
            await self._check_address(outgoing.url, url, source_id, origin, hop)
            response = await client.send(outgoing, stream=True, follow_redirects=False)
            try:
                if response.next_request is not None:
                    outgoing = response.next_request  # its body is never read
                    continue
                answered.append(response)
                if response.status_code == 304:
                    self.stats.not_modified += 1
                    # Read the (empty) body: a response left unread closes its
                    # connection, and every later poll of the host would reconnect.
                    await self._read_capped(response, url, source_id)
                    return response, b""
                if response.status_code in _TRANSIENT_STATUS:
                    raise _Transient(
                        f"{url}: HTTP {response.status_code}",
                        status=response.status_code,
                        retry_after=_retry_after(response),
                    )
                if response.status_code >= 400:
                    raise FetchError(
                        source_id,
                        f"{url}: HTTP {response.status_code}",
                        status=response.status_code,
                    )
                return response, await self._read_capped(response, url, source_id)
            finally:
                await response.aclose()
        raise FetchError(source_id, f"{url}: too many redirects")

    async def _check_address(
        self, target: httpx.URL, url: str, source_id: str, origin: SplitResult, hop: int
    ) -> None:
        """Refuse a hop whose host resolves to an internal address the policy does
        not allow (every address it resolves to must pass: a name answering both
        a public and a private address is not a public site)."""
        parts = urlsplit(str(target))
        if parts.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{parts.scheme}: is not http or https")
        if self.policy.exempt(parts, origin):
            return
        host = (parts.hostname or "").rstrip(".")
        addresses = await self._resolver.lookup(host, _port(parts))
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if not self.policy.allows(ip):
                where = url if hop == 0 else f"{url} (redirected to {target})"
                raise FetchError(
                    source_id,
                    f"{where}: refused: {host} is an internal address ({ip}); "
                    "allow it under http: allow_private in sources.yaml if it is meant",
                    refused=True,
                )

    async def _read_capped(self, response: httpx.Response, url: str, source_id: str) -> bytes:
        """The body, decoded and cut at ``max_bytes``; a compressed body that
        decodes to more than that is refused (a compression bomb, most likely)."""
        encodings = _encodings(response)
        if len(encodings) > 1:
            raise FetchError(
                source_id, f"{url}: stacked content encodings ({', '.join(encodings)}) refused"
            )
        decoder = _Decoder(encodings[0]) if encodings and encodings[0] in _DECODED else None
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                if decoder is not None:
                    body += decoder.decode(chunk, self._max_bytes - len(body))
                    continue
                body += chunk
                if len(body) >= self._max_bytes:
                    del body[self._max_bytes :]
                    break  # cut: what was read is parsed; the rest is never held
        except _Bomb as exc:
            raise FetchError(
                source_id,
                f"{url}: refused: decodes to more than {self._max_bytes:,} bytes "
                f"({encodings[0]}, {response.num_bytes_downloaded:,} bytes sent): "
                "a compression bomb",
            ) from exc
        except (zlib.error, brotli.error) as exc:  # a body that is not the gzip/br it claims
            raise FetchError(source_id, f"{url}: undecodable compressed body: {exc}") from exc
        finally:
            self.stats.bytes += response.num_bytes_downloaded
        return bytes(body)

    # ── the optional headless browser ───────────────────────────────────────

    async def _context(self, source_id: str) -> Any:
        """The one browser context of the process (its cookies carry over between pages)."""
        async with self._browser_lock:
            if self._browser is None:
                try:
                    from playwright.async_api import async_playwright
                except ImportError as exc:
                    raise FetchError(
                        source_id,
                        "render: browser needs Playwright: pip install 'quality-monitor[browser]'",
                    ) from exc
                playwright = await async_playwright().start()
                try:
                    browser = await playwright.chromium.launch(
                        executable_path=chromium_path(), headless=True
                    )
                    context = await browser.new_context(
                        user_agent=self._user_agent, locale="zh-CN", java_script_enabled=True
                    )
                except Exception as exc:  # Playwright's errors are plain Exceptions
                    await playwright.stop()
                    raise FetchError(
                        source_id,
                        f"render: browser cannot start Chromium ({chromium_path() or 'none found'}"
                        f"; set MONITOR_CHROMIUM): {str(exc).splitlines()[0]}",
                    ) from exc
                self._browser = (playwright, browser, context)
            return self._browser[2]

    async def _render(
        self, url: str, source_id: str, timeout: float, encoding: str | None
    ) -> FetchResult:
        """Load a page as a browser does (scripts, challenge reloads) and take its DOM."""
        context = await self._context(source_id)
        host = urlsplit(url).hostname or ""
        started = time.perf_counter()
        async with self._hosts[host], self._overall:
            self.stats.requests += 1
            page = await context.new_page()
            navigations: list[Any] = []

            def on_response(response: Any) -> None:
                if response.request.is_navigation_request() and response.frame == page.main_frame:
                    navigations.append(response)

            page.on("response", on_response)
            try:
                await page.goto(url, timeout=timeout * 1000, wait_until="load")
                # A challenge page (412 + script) sets its cookie and navigates again.
                await page.wait_for_load_state("networkidle", timeout=timeout * 1000)
                last = navigations[-1] if navigations else None
                kind = (last.headers.get("content-type", "") if last else "").lower()
                if last is not None and "html" not in kind:
                    # JSON or XML shown by the browser: its body, not the DOM wrapped round it
                    raw: bytes | None = await last.body()
                    html = ""
                else:
                    raw, html = None, await page.content()
                final_url = page.url
            except Exception as exc:  # Playwright's TimeoutError and Error are plain Exceptions
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise FetchError(source_id, f"{url}: browser: {message}") from exc
            finally:
                await page.close()
        final = last.status if last is not None else 200
        if final >= 400:
            raise FetchError(source_id, f"{url}: HTTP {final} (in the browser)", status=final)
        if raw is not None:
            content = raw[: self._max_bytes]
            charset = kind.partition("charset=")[2].split(";")[0].strip() or None
            text, codec = decode(content, declared=charset, forced=encoding)
        else:
            # The DOM is text already (the browser decoded it): ``encoding`` has no say here.
            content = html.encode("utf-8")[: self._max_bytes]
            text, codec = content.decode("utf-8", errors="ignore"), "utf-8"
        self.stats.bytes += len(content)
        return FetchResult(
            url=url,
            final_url=final_url,
            status=final,
            content=content,
            text=text,
            encoding=codec,
            elapsed=time.perf_counter() - started,
            fetched_at=datetime.now(UTC),
        )


class _Transient(Exception):
    """A failure worth retrying; becomes a FetchError when retries run out."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
