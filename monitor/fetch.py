"""HTTP for every source: one shared ``httpx.AsyncClient``. [IO]

* bounded: at most ``concurrency`` requests in flight overall and ``per_host``
  to any one host, so a thousand sources never hammer one provincial server;
* conditional: the caller passes the validators it stored (ETag,
  Last-Modified) and gets the new ones back; a 304 costs no parsing;
* capped: connect/read timeouts, a redirect limit, a response-size cap read as
  a stream (a 50 MB page is cut, never held whole), http and https only;
* patient: timeouts, connection errors, 429 (honouring ``Retry-After``) and
  5xx are retried with exponential backoff and jitter; other 4xx are not;
* compressed: gzip, deflate and brotli (``httpx[brotli]``) are asked for and decoded;
* rendered on request: ``render: browser`` sources go through one headless
  Chromium (Playwright, an optional extra), which passes the JavaScript
  challenges (HTTP 412, 瑞数) some sites answer plain clients with, and keeps
  their cookies for the process's later requests;
* decoded: BOM, then valid UTF-8 whatever the label says (sites that declare
  GBK but send UTF-8 are common), then the declared charset from the header
  or ``<meta>``, then (unlabelled) GB18030, then detection by charset-normalizer.
  GBK and GB2312 are read as GB18030, their superset. Undecodable bytes never raise.

Every failure is raised as :class:`~monitor.errors.FetchError` carrying the
source id and the cause.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import random
import re
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import httpx

from monitor.errors import FetchError
from monitor.model import FetchResult
from monitor.sources import Request

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "gb_2312-80": "gb18030", "x-gbk": "gb18030"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
POOLS = 16  # connection pools of a Fetcher (see Fetcher.__init__)
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
            return content.decode(name, errors="replace"), name
    if codec := _codec(forced):
        return content.decode(codec, errors="replace"), codec
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        pass
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._overall = asyncio.Semaphore(concurrency)
        self._per_host_limit = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host_limit)
        )
        self._max_bytes = max_bytes
        self._retries = retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._user_agent = user_agent
        self._browser: Any = None  # (playwright, browser, context), started on first use
        self._browser_lock = asyncio.Lock()
        self.stats = FetchStats()
        # Connection pools, hosts spread over them by a hash: httpcore checks every
        # connection of a pool at each request and each response (O(connections)),
        # which with one pool of 100 connections cost more CPU than the request
        # itself. Limits stay global: the semaphores above bound what is in flight.
        # One TLS context for all (loading the CA bundle is costly).
        tls = httpx.create_ssl_context(trust_env=True) if transport is None else True
        self._clients = [
            httpx.AsyncClient(
                headers={
                    "User-Agent": user_agent,
                    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
                    "application/rss+xml,application/atom+xml,*/*;q=0.8",
                    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
                    "Accept-Encoding": "gzip, deflate, br",
                },
                follow_redirects=True,
                max_redirects=max_redirects,
                limits=httpx.Limits(
                    max_connections=concurrency, max_keepalive_connections=concurrency
                ),
                transport=transport,
                verify=tls,
                trust_env=True,  # HTTP(S)_PROXY and NO_PROXY from the environment
            )
            for _ in range(1 if transport is not None else POOLS)
        ]

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
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
    ) -> FetchResult:
        """Make one request (GET or POST) with retries; a GET is conditional when
        validators are given. ``render`` loads a GET in the headless browser."""
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
        if render:
            if request.method != "GET":
                raise FetchError(source_id, f"{url}: render: browser reads GET pages only")
            return await self._render(url, source_id, timeout, encoding)
        attempt = 0
        while True:
            try:
                return await self._get_once(request, source_id, timeout, headers, encoding)
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
    ) -> FetchResult:
        url = request.url
        host = urlsplit(url).hostname or ""
        started = time.perf_counter()
        # The host's slot first: a request waiting for a busy host must not hold one
        # of the overall slots meanwhile, or a few big hosts would starve the rest.
        async with self._hosts[host], self._overall:
            self.stats.requests += 1
            client = self._clients[zlib.crc32(host.encode()) % len(self._clients)]
            try:
                async with client.stream(
                    request.method,
                    url,
                    headers=headers,
                    content=request.content,
                    timeout=httpx.Timeout(timeout),
                ) as response:
                    if response.status_code == 304:
                        self.stats.not_modified += 1
                        # Read the (empty) body: a response left unread closes its
                        # connection, and every later poll of the host would reconnect.
                        await self._read_capped(response)
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
                    content = await self._read_capped(response)
            except httpx.TooManyRedirects as exc:
                raise FetchError(source_id, f"{url}: too many redirects") from exc
            except httpx.UnsupportedProtocol as exc:
                raise FetchError(source_id, f"{url}: redirected to an unsupported scheme") from exc
            except httpx.TimeoutException as exc:
                raise _Transient(f"{url}: timed out after {timeout:g}s") from exc
            except httpx.TransportError as exc:
                raise _Transient(
                    f"{url}: {type(exc).__name__}: {exc or 'connection failed'}"
                ) from exc
            except httpx.DecodingError as exc:  # a body that is not the gzip/br it claims
                raise FetchError(source_id, f"{url}: undecodable compressed body: {exc}") from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise FetchError(source_id, f"{url}: {type(exc).__name__}: {exc}") from exc
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

    async def _read_capped(self, response: httpx.Response) -> bytes:
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= self._max_bytes:
                    del body[self._max_bytes :]
                    break  # cut: what was read is parsed; the rest is never held
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
