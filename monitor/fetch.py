"""HTTP for every source: one shared ``httpx.AsyncClient``. [IO]

* bounded: at most ``concurrency`` requests in flight overall and ``per_host``
  to any one host, so a thousand sources never hammer one provincial server;
* conditional: the caller passes the validators it stored (ETag,
  Last-Modified) and gets the new ones back; a 304 costs no parsing;
* capped: connect/read timeouts, a redirect limit, a response-size cap read as
  a stream (a 50 MB page is cut, never held whole), http and https only;
* patient: timeouts, connection errors, 429 (honouring ``Retry-After``) and
  5xx are retried with exponential backoff and jitter; other 4xx are not;
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
import random
import re
import time
from collections import defaultdict
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import charset_normalizer
import httpx

from monitor.errors import FetchError
from monitor.model import FetchResult

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "gb_2312-80": "gb18030", "x-gbk": "gb18030"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
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
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
                "application/rss+xml,application/atom+xml,*/*;q=0.8",
                "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
            },
            follow_redirects=True,
            max_redirects=max_redirects,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
            trust_env=True,  # HTTP(S)_PROXY and NO_PROXY from the environment
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        source_id: str,
        timeout: float = 20.0,
        etag: str | None = None,
        last_modified: str | None = None,
        encoding: str | None = None,
    ) -> FetchResult:
        """GET one URL, conditionally when validators are given, with retries."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(source_id, f"{url}: only http and https URLs are fetched")
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                return await self._get_once(url, source_id, timeout, headers, encoding)
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
        url: str,
        source_id: str,
        timeout: float,
        headers: dict[str, str],
        encoding: str | None,
    ) -> FetchResult:
        host = urlsplit(url).hostname or ""
        started = time.perf_counter()
        async with self._overall, self._hosts[host]:
            try:
                async with self._client.stream(
                    "GET", url, headers=headers, timeout=httpx.Timeout(timeout)
                ) as response:
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
            except httpx.HTTPError as exc:
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
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= self._max_bytes:
                break  # cut: what was read is parsed; the rest is never held
        return b"".join(chunks)[: self._max_bytes]


class _Transient(Exception):
    """A failure worth retrying; becomes a FetchError when retries run out."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
