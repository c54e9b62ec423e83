"""HTTP for every source: one fetcher, its own keep-alive HTTP/1.1 pool. [IO]

Requests go out on asyncio's transports and their answers are parsed by
httptools (llhttp); httpx's client carries only requests through a proxy from
the environment, and its URL parser reads what is not a plain URL, so a URL
means here what it means to httpx. A 304 costs ~0.25 ms of CPU here against
~1.4 ms through httpx's client, httpcore and h11 (bench/RESULTS.md, issue 15).

* bounded: at most ``concurrency`` requests in flight overall and ``per_host``
  to any one host, so a thousand sources never hammer one provincial server;
* conditional: the caller passes the validators it stored (ETag,
  Last-Modified) and gets the new ones back; a 304 costs no parsing;
* capped: a total deadline per request, connecting included (a server that
  dribbles a byte a second fails at the source's ``timeout``), a redirect
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
import base64
import codecs
import collections
import contextlib
import ipaddress
import os
import random
import re
import socket
import ssl
import time
import urllib.request
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import brotli
import charset_normalizer
import httptools
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
_STARTS = tuple(start for start, _ in (*_BOMS, *_XML_STARTS))
# Idle keep-alive connections kept across hosts. Not tied to ``concurrency``: a
# source list visits each of its hundreds of hosts in turn, and with only
# ``concurrency`` kept (100) every request of a 200-host list reconnected (2,000
# connections a pass instead of 200). Well under the usual 1,024 open files.
MAX_IDLE = 512
_PORTS = {"http": 80, "https": 443}
_REDIRECTS = {301, 302, 303, 307, 308}
_CHARSET = re.compile(r"""(?:^|;)\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))""", re.I)
_UNSAFE = re.compile(r"[\r\n\0]")  # in a header: would end it, or the head, early
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


def utf8_unless_invalid(content: bytes, forced: str | None = None) -> bool:
    """Whether :func:`decode` reads ``content`` as UTF-8 if it is valid UTF-8: no BOM,
    no UTF-16/32 start, no encoding forced. (Bytes that are not valid UTF-8 may
    still be given "utf-8" with replacements: a caller that needs valid UTF-8 checks
    that itself, as lxml does when it parses bytes as UTF-8.)"""
    if _codec(forced):
        return False
    return not content.startswith(_STARTS)


def _retry_after(response: _Answer) -> float | None:
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


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one hop goes, as httpx writes the URL: its text (``url``, the
    ``final_url`` of a result), and the parts the request is made of."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA), lower case, without brackets
    port: int  # the default one when the URL names none
    netloc: str  # the Host header
    path: str  # the request target: path and query
    username: str = ""
    password: str = ""


# A URL httpx would leave as it is (lower-case scheme and host name, no
# credentials, no non-default port written as the default, only characters its
# path and query keep): read here without httpx's parser, a fifth of a 304
# poll's CPU. Anything else goes through httpx.URL.
_PLAIN_URL = re.compile(
    r"(https?)://([a-z](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"  # or an IPv4 address
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))"
    r"(?::([1-9][0-9]{0,4}))?"
    r"(/[!$-;=@-_a-z|~]*)?"  # the path: no " # < > ? ` { }
    r"(\?[!$-;=?-~]*)?"  # the query: no " # < >
)


def _target(url: str | httpx.URL) -> _Target:
    """The hop's parts; raises httpx.InvalidURL as httpx would."""
    if isinstance(url, str) and (m := _PLAIN_URL.fullmatch(url)) is not None:
        scheme, host, port, path, query = m.groups()
        default = _PORTS[scheme]
        if (port is None or default != int(port) <= 65535) and (path is None or "/." not in path):
            number = int(port) if port else default
            target = (path or "/") + (query or "")
            return _Target(url, scheme, host, number, f"{host}:{port}" if port else host, target)
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    return _Target(
        str(parsed),
        parsed.scheme,
        parsed.raw_host.decode("ascii"),
        parsed.port or _PORTS.get(parsed.scheme, 0),
        parsed.netloc.decode("ascii"),
        parsed.raw_path.decode("ascii"),
        parsed.username,
        parsed.password,
    )


def _redirect(
    method: str, hop: _Target, headers: dict[str, str], response: _Answer
) -> tuple[str, _Target, dict[str, str]] | None:
    """The next hop's method, URL and headers when the response redirects, as
    httpx's client builds them (its ``_build_redirect_request``): a relative or
    host-less Location resolved against the URL, 303 (and 302, and 301 after a
    POST) made a GET without its body's headers, credentials not carried to
    another origin (but to the same host's https)."""
    if response.status_code not in _REDIRECTS:
        return None
    location = response.headers.get("location")
    if location is None:
        return None
    url = httpx.URL(hop.url)
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None
    if target.scheme and not target.host:
        target = target.copy_with(host=url.host)
    if target.is_relative_url:
        target = url.join(target)
    if url.fragment and not target.fragment:
        target = target.copy_with(fragment=url.fragment)
    status = response.status_code
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        changed = "GET" if method != "GET" else None
    else:
        changed = None
    drop = set()
    same = (url.scheme, url.host, url.port) == (target.scheme, target.host, target.port)
    upgrade = (
        url.scheme == "http"
        and target.scheme == "https"
        and url.host == target.host
        and url.port in (80, None)
        and target.port in (443, None)
    )
    if not same and not upgrade:
        drop.add("authorization")
    if changed:
        drop |= {"content-length", "transfer-encoding"}
    drop.add("cookie")  # the jar's, for the new URL
    kept = {name: value for name, value in headers.items() if name.lower() not in drop}
    return changed or method, _target(target), kept


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

    def exempt(self, host: str, port: int, origin: SplitResult | None) -> bool:
        """Whether this host and port may be internal without asking DNS: the host
        is allowed by name, or it is the source's own origin."""
        host = host.rstrip(".")
        if host in self.names:
            return True
        if origin is None or (origin.hostname or "").rstrip(".") != host:
            return False
        ports = {port, _port(origin)}
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


CLOSE_WAIT = 1.0  # seconds the connections may take to close at the end (a TLS close_notify)

# A connection's origin: scheme, host, port
_Origin = tuple[str, str, int]


class _Stale(Exception):
    """A kept-alive connection the server closed before answering: the request
    goes again on a new connection (nothing of it was answered)."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection on asyncio's own transport, its answers parsed by
    httptools (llhttp, the parser uvicorn uses), for :class:`_Pool`.

    httpx's client layers, httpcore's connection and h11's events cost
    ~1.5 ms of CPU a request on this machine, the largest share of a
    ``run --once`` pass (bench/RESULTS.md, issue 15). Here a request is one
    write; the answer's head and body are collected by llhttp's callbacks as
    the bytes arrive, and a read waits only when nothing is buffered."""

    HIGH_WATER = 256 * 1024  # body bytes buffered before the transport stops reading

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        # What h11 (httpx's parser) reads, llhttp reads too: bare LF line ends,
        # folded header lines, Content-Length beside chunked (chunked wins). Its
        # "dangerous" is request smuggling through servers and proxies; here a
        # client reads the answers to its own requests.
        self.parser.set_dangerous_leniencies(
            lenient_optional_cr_before_lf=True, lenient_headers=True, lenient_chunked_length=True
        )
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.idle_since = 0.0
        self.used = False  # has answered a request before (kept alive)
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False  # reading, by us
        self.writing_paused = False  # writing, by the transport
        self._begin()

    def _begin(self) -> None:
        """Ready for the next answer."""
        self.active = False  # True while a request is out (bytes from the server expected)
        self.received = 0
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.until_eof = False  # a body without length, ended by the server's close
        self.complete = False
        self.keep_alive = False
        self.stray = False  # bytes beyond the answer: the connection is out of step
        self.body: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.body_bytes = 0

    # asyncio's protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:
            self.stray = True  # a kept-alive connection the server wrote to unasked
            self._wake()
            return
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            if self.transport is not None:
                self.transport.close()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        if self.until_eof and self.head_done:
            self.complete = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        elif self.until_eof and self.head_done:
            self.complete = True
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

    # llhttp's callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            self.stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue and the like: the answer follows
            self.raw_headers = []
            return
        self.status = status
        self.head_done = True
        if status not in (204, 304):
            names = {name.lower() for name, _value in self.raw_headers}
            self.until_eof = b"content-length" not in names and b"transfer-encoding" not in names

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        self.body_bytes += len(body)
        if self.buffered > self.HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()

    # the request

    async def send(self, data: bytes) -> None:
        """Write one request; return once its answer's head is in."""
        self._begin()
        self.active = True
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            if self.used:
                raise _Stale
            raise httpx.WriteError(str(self.error or "connection closed"))
        transport.write(data)
        if self.writing_paused:
            self.drained = asyncio.get_running_loop().create_future()
            try:
                await self.drained
            finally:
                self.drained = None
        while not self.head_done:
            if self.error is not None:
                raise self._failure()
            if self.eof:
                if self.used and self.received == 0:
                    raise _Stale
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            await self._wait()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The answer's body as it arrives."""
        body = self.body
        while True:
            if body:
                chunk = body.popleft()
                self.buffered -= len(chunk)
                if self.paused and self.buffered <= self.HIGH_WATER // 2 and self.transport:
                    self.paused = False
                    self.transport.resume_reading()
                yield chunk
            elif self.complete:
                return
            elif self.error is not None:
                raise self._failure()
            elif self.eof:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            else:
                await self._wait()

    @property
    def reusable(self) -> bool:
        """Its answer was read whole and the server keeps the connection open."""
        return (
            self.complete
            and self.keep_alive
            and not self.body
            and not self.stray
            and not self.eof
            and self.error is None
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _failure(self) -> httpx.TransportError:
        error = self.error
        if isinstance(error, httptools.HttpParserError):
            return httpx.RemoteProtocolError(f"malformed answer: {error}")
        return httpx.ReadError(str(error) or type(error).__name__)

    async def _wait(self) -> None:
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Response:
    """An answer's head, and its body as it arrives, read through the names
    ``httpx.Response`` has (a request through a proxy is httpx's, and the
    fetcher reads both alike). Closing it gives its connection back."""

    def __init__(self, connection: _Connection, pool: _Pool, url: str) -> None:
        self._connection = connection
        self._pool = pool
        self.url = url
        self.status_code = connection.status
        self.raw_headers = connection.raw_headers
        headers: dict[str, str] = {}
        for raw_name, raw_value in connection.raw_headers:
            name = raw_name.decode("latin-1").lower()
            try:
                value = raw_value.decode("utf-8")
            except UnicodeDecodeError:
                value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        self._closed = False

    @property
    def num_bytes_downloaded(self) -> int:
        return self._connection.body_bytes

    @property
    def charset_encoding(self) -> str | None:
        """The charset parameter of Content-Type, in lower case (as httpx reads it,
        without building an e-mail message for it)."""
        found = _CHARSET.search(self.headers.get("content-type", ""))
        return (found.group(1) or found.group(2)).lower() or None if found else None

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self._connection.chunks()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.release(self._connection)


# A response as the fetcher reads it: its own pool's, or httpx's (through a proxy)
_Answer = httpx.Response | _Response


class _Pool:
    """Keep-alive connections by origin, taken and given back in O(1).

    httpcore's ``AsyncConnectionPool`` rescans every pooled connection at each
    request and at each response's close (``_assign_requests_to_connections``;
    its surplus-idle check is even quadratic in the pool's size): 2,000 polls
    of one host over 100 connections made 37 million ``is_idle`` calls and took
    34–41 s, nearly all of it CPU, for 4 s of network (bench/RESULTS.md,
    issue 15). It scans because it queues: it enforces ``max_connections``
    itself. The Fetcher already bounds what is in flight (its semaphores,
    overall and per host), so this pool never queues and never scans: a
    request takes the most recently used idle connection to its origin (one
    the server has closed or written to meanwhile is dropped), or opens a new
    one to the address the fetcher checked (:meth:`_Resolver.checked`: no
    second lookup a DNS server could answer differently); the answer's close
    gives it back. Idle connections are closed once ``keepalive_expiry`` old
    (swept oldest first at each request, so the cost is the number closed) and
    beyond ``max_idle`` (the oldest first)."""

    def __init__(
        self,
        *,
        tls: Callable[[], ssl.SSLContext],
        max_idle: int,
        keepalive_expiry: float | None,
        resolver: _Resolver,
    ) -> None:
        self._tls = tls  # the TLS context, made at the first https connection
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._resolver = resolver
        # idle connections, least recently given back first
        self._idle: OrderedDict[_Connection, None] = OrderedDict()
        self._by_origin: dict[_Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._closing: set[_Connection] = set()

    @property
    def connections(self) -> list[_Connection]:
        """Every open connection, busy or idle."""
        return [*self._busy, *self._idle]

    async def request(self, origin: _Origin, data: bytes) -> _Connection:
        """Send one request (its bytes) to the origin; the connection, once the
        answer's head is in. Give it back with :meth:`release`."""
        self._sweep()
        while True:
            connection = self._take(origin)
            if connection is None:
                connection = await self._connect(origin)
            self._busy.add(connection)
            try:
                await connection.send(data)
            except _Stale:
                self._discard(connection)
                continue  # a kept-alive connection the server had closed: a new one
            except BaseException:
                self._discard(connection)
                raise
            return connection

    def release(self, connection: _Connection) -> None:
        """Called once the answer is over: keep the connection if it can serve
        another (its answer read to the end), else close it."""
        self._busy.discard(connection)
        if not connection.reusable:
            self._discard(connection)
            return
        connection.used = True
        connection.active = False
        connection.idle_since = time.monotonic()
        self._idle[connection] = None
        self._by_origin.setdefault(connection.origin, []).append(connection)
        if len(self._idle) > self._max_idle:
            self._close_idle(next(iter(self._idle)))

    def _take(self, origin: _Origin) -> _Connection | None:
        """The origin's most recently used idle connection still fit for a request."""
        stack = self._by_origin.get(origin)
        while stack:
            connection = stack.pop()
            if not stack:
                del self._by_origin[origin]
            del self._idle[connection]
            if not (connection.eof or connection.stray) and not self._expired(connection):
                return connection
            self._discard(connection)  # closed by the server meanwhile, or too old
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        scheme, host, port = origin
        addresses = self._resolver.checked(host) or (host,)  # e.g. an exempt host
        tls = self._tls() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        error: OSError | None = None
        for address in addresses:
            try:
                _transport, connection = await loop.create_connection(
                    lambda: _Connection(origin),
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
            except OSError as exc:  # ssl.SSLError among them: a refused certificate
                error = exc
                continue
            return connection
        assert error is not None
        raise httpx.ConnectError(str(error) or type(error).__name__)

    def _expired(self, connection: _Connection) -> bool:
        expiry = self._keepalive_expiry
        return expiry is not None and connection.idle_since + expiry <= time.monotonic()

    def _sweep(self) -> None:
        """Close the idle connections past their keep-alive, oldest first."""
        while self._idle:
            connection = next(iter(self._idle))
            if not self._expired(connection):
                break
            self._close_idle(connection)

    def _close_idle(self, connection: _Connection) -> None:
        del self._idle[connection]
        stack = self._by_origin[connection.origin]
        stack.remove(connection)
        if not stack:
            del self._by_origin[connection.origin]
        self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        connection.close()
        if not connection.closed.done():
            self._closing.add(connection)
            connection.closed.add_done_callback(lambda _f: self._closing.discard(connection))

    async def aclose(self) -> None:
        """Close every connection, and wait (a second at most) until they are:
        a TLS one first says goodbye to the server."""
        for connection in self.connections:
            self._discard(connection)
        self._idle.clear()
        self._by_origin.clear()
        self._busy.clear()
        waiting = [c.closed for c in self._closing]
        if waiting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT):
                    await asyncio.shield(asyncio.gather(*waiting))


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which skips its work for an answer that sets no cookie:
    httpx builds two urllib wrappers for every response to look for Set-Cookie,
    a tenth of a 304 poll's HTTP time."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


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


def _encodings(response: _Answer) -> list[str]:
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
        # Requests go straight to the fetcher's own pool (:class:`_Pool`, HTTP/1.1
        # parsed by httptools), whose cost per request does not grow with the
        # number of connections; the limits are the semaphores above. httpx's
        # client serves what the pool does not: requests through a proxy from the
        # environment (HTTP(S)_PROXY, NO_PROXY), and a transport passed in.
        # One TLS context for all (loading the CA bundle is costly).
        headers = {
            "User-Agent": user_agent,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
            "application/rss+xml,application/atom+xml,*/*;q=0.8",
            "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
            "Accept-Encoding": "gzip, deflate, br",
        }
        # The TLS context and httpx's client are made when first needed: loading
        # the CA bundle and building the client cost ~50 ms of every start, and
        # a list of plain-HTTP sources with no proxy needs neither.
        self._tls: ssl.SSLContext | None = None
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._cookies: httpx.Cookies = _Cookies()  # one jar for both ways, kept as httpx does
        self._client_made: httpx.AsyncClient | None = None
        self._client_args: dict[str, Any] = {
            "headers": headers,
            "follow_redirects": False,  # followed hop by hop in _exchange, each one checked
            "limits": limits,
            "transport": transport,
            "trust_env": True,  # HTTP(S)_PROXY and NO_PROXY from the environment
        }
        # What httpx's client sends by default, with ours over it (by name, any case).
        self._headers = {
            name.lower(): (name, value)
            for name, value in {"Connection": "keep-alive", **headers}.items()
        }
        self._direct = transport is None
        # httpx mounts a proxy for what urllib's getproxies() finds (with
        # trust_env): with none there, its client would serve no request.
        self._proxied = bool(urllib.request.getproxies()) and any(
            mount is not None for mount in self._client._mounts.values()
        )
        self._pool = _Pool(
            tls=self._tls_context,
            max_idle=max(limits.max_keepalive_connections or 0, MAX_IDLE),
            keepalive_expiry=limits.keepalive_expiry,
            resolver=self._resolver,
        )

    def _tls_context(self) -> ssl.SSLContext:
        """The one TLS context of the fetcher's pool and httpx's client."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=True)
            self._tls.set_alpn_protocols(["http/1.1"])
        return self._tls

    @property
    def _client(self) -> httpx.AsyncClient:
        """httpx's client: requests through a proxy, or through a transport passed in."""
        if self._client_made is None:
            transport = self._client_args["transport"]
            self._client_made = httpx.AsyncClient(
                **self._client_args, verify=self._tls_context() if transport is None else True
            )
            self._client_made._cookies = self._cookies
        return self._client_made

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()
        if self._client_made is not None:
            await self._client_made.aclose()
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
                await self._check_address(_target(url), url, source_id, trusted, 0)
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
            # The total deadline starts once the slots are held: waiting for a busy
            # host is not the server's slowness. Past it, a server that never
            # answered is retried like any timeout; one that answered and then
            # dribbled its body is not (it would dribble again).
            answered: list[_Answer] = []
            try:
                async with asyncio.timeout(timeout):
                    response, content = await self._exchange(
                        request, source_id, timeout, headers, origin, answered
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
        return FetchResult(
            url=url,
            final_url=str(response.url),
            status=response.status_code,
            content=content,
            text=None,  # decoded at first use: a feed read from its bytes never needs it
            charset=response.charset_encoding,
            forced=encoding,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            elapsed=time.perf_counter() - started,
            fetched_at=datetime.now(UTC),
        )

    async def _exchange(
        self,
        request: Request,
        source_id: str,
        timeout: float,
        headers: dict[str, str],
        origin: SplitResult,
        answered: list[_Answer],
    ) -> tuple[_Answer, bytes]:
        """Send the request and follow its redirects, hop by hop, each hop's
        address checked; the final response and its body. The final response
        is put in ``answered`` as soon as its head is in."""
        url = request.url
        method, target, body = request.method, _target(url), request.content
        for hop in range(self._max_redirects + 1):
            await self._check_address(target, url, source_id, origin, hop)
            response = await self._send(method, target, headers, body, source_id, timeout)
            try:
                if (redirect := _redirect(method, target, headers, response)) is not None:
                    if redirect[0] != method and redirect[0] == "GET":
                        body = None  # the body goes with its method
                    method, target, headers = redirect
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

    async def _send(
        self,
        method: str,
        target: _Target,
        headers: dict[str, str],
        body: bytes | None,
        source_id: str,
        timeout: float,
    ) -> _Answer:
        """One hop: the response, its head read. Through the fetcher's own pool;
        through httpx's client when a proxy from the environment serves the URL
        (or a transport was passed in)."""
        if not self._direct or (
            self._proxied
            and self._client._transport_for_url(httpx.URL(target.url))
            is not self._client._transport
        ):
            client = self._client  # made here, at its first use: most lists never need it
            outgoing = client.build_request(
                method, target.url, headers=headers, content=body, timeout=httpx.Timeout(timeout)
            )
            answer = await client.send(outgoing, stream=True, follow_redirects=False)
            return answer
        data = self._request_bytes(method, target, headers, body, source_id)
        origin = (target.scheme, target.host.rstrip("."), target.port)
        connection = await self._pool.request(origin, data)
        response = _Response(connection, self._pool, target.url)
        if "set-cookie" in response.headers:
            # Kept as httpx's client keeps them, sent back on the later requests.
            self._cookies.extract_cookies(
                httpx.Response(
                    response.status_code,
                    headers=response.raw_headers,
                    request=httpx.Request(method, target.url),
                )
            )
        return response

    def _request_bytes(
        self,
        method: str,
        target: _Target,
        headers: dict[str, str],
        body: bytes | None,
        source_id: str,
    ) -> bytes:
        """The request as it goes on the wire: what httpx's client would send
        (its default headers under ours, then the request's own, the client's
        cookies, basic credentials from the URL, Content-Length for a body)."""
        fields = dict(self._headers)
        for name, value in headers.items():
            fields[name.lower()] = (name, value)
        if (target.username or target.password) and "authorization" not in fields:
            credentials = f"{target.username}:{target.password}".encode()
            token = base64.b64encode(credentials).decode("ascii")
            fields["authorization"] = ("Authorization", f"Basic {token}")
        if self._cookies:
            probe = httpx.Request(method, target.url)
            self._cookies.set_cookie_header(probe)
            if cookie := probe.headers.get("cookie"):
                fields["cookie"] = ("Cookie", cookie)
        if body is not None:
            fields["content-length"] = ("Content-Length", str(len(body)))
            fields.pop("transfer-encoding", None)
        elif method in ("POST", "PUT", "PATCH") and "content-length" not in fields:
            fields["content-length"] = ("Content-Length", "0")
        lines = [
            f"{method} {target.path} HTTP/1.1",
            f"Host: {target.netloc}",
        ]
        for name, value in fields.values():
            if _UNSAFE.search(name) or _UNSAFE.search(value) or not name:
                raise FetchError(
                    source_id, f"{target.url}: header {name!r} has a character not allowed in HTTP"
                )
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        try:
            head = "\r\n".join(lines).encode("ascii")
        except UnicodeEncodeError as exc:
            raise FetchError(
                source_id, f"{target.url}: header values must be ASCII: {exc}"
            ) from exc
        return head + body if body else head

    async def _check_address(
        self, target: _Target, url: str, source_id: str, origin: SplitResult, hop: int
    ) -> None:
        """Refuse a hop whose host resolves to an internal address the policy does
        not allow (every address it resolves to must pass: a name answering both
        a public and a private address is not a public site)."""
        if target.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{target.scheme}: is not http or https")
        if self.policy.exempt(target.host, target.port, origin):
            return
        host = target.host.rstrip(".")
        addresses = await self._resolver.lookup(host, target.port)
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if not self.policy.allows(ip):
                where = url if hop == 0 else f"{url} (redirected to {target.url})"
                raise FetchError(
                    source_id,
                    f"{where}: refused: {host} is an internal address ({ip}); "
                    "allow it under http: allow_private in sources.yaml if it is meant",
                    refused=True,
                )

    async def _read_capped(self, response: _Answer, url: str, source_id: str) -> bytes:
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
