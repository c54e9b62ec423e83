"""The fetcher against the fixture site on 127.0.0.1: encodings, 304s, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from monitor.errors import FetchError
from monitor.fetch import Fetcher, decode
from tests.servers.newssite import NewsSite


def fetcher(**kw: float) -> Fetcher:
    return Fetcher(backoff=0.05, **kw)  # type: ignore[arg-type]


async def test_gbk_page_is_read_as_gb18030(newssite: NewsSite) -> None:
    async with fetcher() as f:
        result = await f.get(newssite.url_for("/gbk/list.html"), source_id="s")
    assert result.encoding == "gb18030"
    assert "质量" in result.text or "質量" in result.text
    assert "\ufffd" not in result.text


async def test_utf8_bytes_declared_gbk_are_still_read(newssite: NewsSite) -> None:
    async with fetcher() as f:
        result = await f.get(newssite.url_for("/mislabelled/list.html"), source_id="s")
    assert result.encoding == "utf-8"
    assert "网络安全" in result.text or "质量" in result.text


def test_decode_order() -> None:
    gbk = "质量强省喆".encode("gbk")
    assert decode(gbk, declared="gb2312") == ("质量强省喆", "gb18030")  # GBK-only 喆 survives
    assert decode(gbk)[0] == "质量强省喆"  # detected without any label
    assert decode("质量".encode(), declared="gbk") == ("质量", "utf-8")
    assert decode(b'<meta charset="gbk">' + gbk)[1] == "gb18030"
    assert decode(b"\xef\xbb\xbfabc")[0] == "abc"
    text, _ = decode(bytes(range(256)) * 10)  # random bytes never raise
    assert isinstance(text, str)


async def test_conditional_get_gives_304_with_stored_validators(newssite: NewsSite) -> None:
    url = newssite.url_for("/feed.xml")
    async with fetcher() as f:
        first = await f.get(url, source_id="s")
        assert first.etag and first.last_modified
        again = await f.get(url, source_id="s", etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.content == b""
    assert newssite.not_modified["/feed.xml"] == 1


async def test_500_is_retried_then_reported_with_the_source_id(newssite: NewsSite) -> None:
    async with fetcher(retries=2) as f:
        with pytest.raises(FetchError, match=r"\[broken\] .*HTTP 500") as info:
            await f.get(newssite.url_for("/fault/500"), source_id="broken")
    assert info.value.status == 500
    assert newssite.hits["/fault/500"] == 3


async def test_flaky_server_recovers_within_retries(newssite: NewsSite) -> None:
    newssite.flaky_failures = 2
    async with fetcher(retries=2) as f:
        result = await f.get(newssite.url_for("/fault/flaky"), source_id="s")
    assert result.status == 200


async def test_404_is_not_retried(newssite: NewsSite) -> None:
    async with fetcher(retries=3) as f:
        with pytest.raises(FetchError, match="HTTP 404"):
            await f.get(newssite.url_for("/fault/404"), source_id="s")
    assert newssite.hits["/fault/404"] == 1


async def test_timeout(newssite: NewsSite) -> None:
    async with fetcher(retries=0) as f:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            await f.get(newssite.url_for("/fault/slow?delay=3"), source_id="s", timeout=0.3)
    assert time.monotonic() - started < 2.5


async def test_reset_and_redirect_loop(newssite: NewsSite) -> None:
    async with fetcher(retries=0) as f:
        with pytest.raises(FetchError, match=r"\[s\]"):
            await f.get(newssite.url_for("/fault/reset"), source_id="s")
        with pytest.raises(FetchError, match="too many redirects"):
            await f.get(newssite.url_for("/fault/redirect-loop"), source_id="s")


async def test_huge_response_is_cut_at_the_cap(newssite: NewsSite) -> None:
    newssite.huge_size = 20_000_000
    async with Fetcher(max_bytes=1_000_000) as f:
        result = await f.get(newssite.url_for("/fault/huge"), source_id="s")
    assert len(result.content) == 1_000_000


async def test_only_http_and_https(newssite: NewsSite) -> None:
    async with fetcher() as f:
        with pytest.raises(FetchError, match="only http and https"):
            await f.get("file:///etc/passwd", source_id="s")


# ── compression, limits, retries, proxies ───────────────────────────────────


@pytest.mark.parametrize("encoding", ["br", "gzip", "deflate"])
async def test_compressed_responses_are_decoded(newssite: NewsSite, encoding: str) -> None:
    async with fetcher() as f:
        result = await f.get(
            newssite.url_for(f"/compressed/feed.xml?enc={encoding}"), source_id="s"
        )
    assert result.text.startswith("<?xml") and "质量强省示例网" in result.text
    assert f.stats.bytes < len(result.content)  # what crossed the wire was compressed
    [request] = [r for r in newssite.requests if r.path == "/compressed/feed.xml"]
    assert "br" in request.headers.get("Accept-Encoding", "")


async def test_a_body_that_is_not_the_brotli_it_claims_is_a_fetch_error(newssite: NewsSite) -> None:
    async with fetcher(retries=0) as f:
        with pytest.raises(FetchError, match=r"\[s\] .*undecodable"):
            await f.get(newssite.url_for("/fault/bad-br"), source_id="s")


async def test_429_waits_for_retry_after_then_succeeds(newssite: NewsSite) -> None:
    newssite.rate_limited = 1
    async with fetcher(retries=2) as f:
        started = time.monotonic()
        result = await f.get(newssite.url_for("/fault/429"), source_id="s")
    assert result.status == 200 and newssite.hits["/fault/429"] == 2
    assert time.monotonic() - started >= 0.9  # Retry-After: 1 was honoured, not the 0.05 s backoff


async def test_timeouts_and_resets_are_retried(newssite: NewsSite) -> None:
    async with fetcher(retries=1) as f:
        with pytest.raises(FetchError, match="timed out"):
            await f.get(newssite.url_for("/fault/slow?delay=2"), source_id="s", timeout=0.2)
        with pytest.raises(FetchError):
            await f.get(newssite.url_for("/fault/reset"), source_id="s")
    assert newssite.hits["/fault/slow"] == 2 and newssite.hits["/fault/reset"] == 2


async def test_a_redirect_to_another_scheme_is_refused(newssite: NewsSite) -> None:
    async with fetcher(retries=0) as f:
        with pytest.raises(FetchError, match="unsupported scheme"):
            await f.get(newssite.url_for("/fault/redirect-ftp"), source_id="s")


async def test_a_50_mb_page_is_cut_without_holding_it(newssite: NewsSite) -> None:
    import tracemalloc

    newssite.huge_size = 50 * 1024 * 1024
    tracemalloc.start()
    try:
        async with Fetcher(max_bytes=2_000_000) as f:
            result = await f.get(newssite.url_for("/fault/huge"), source_id="s")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.content) == 2_000_000 and result.text
    assert peak < 20_000_000  # a few copies of the cap, never the 50 MB


async def test_post_requests_carry_their_form(newssite: NewsSite) -> None:
    from monitor.sources import Request

    request = Request(
        newssite.url_for("/module/web/jpage/dataproxy.jsp?startrecord=1&endrecord=2&perpage=15"),
        method="POST",
        form=(("webid", "1"), ("columnid", "1"), ("unitid", "1")),
    )
    async with fetcher() as f:
        result = await f.fetch(request, source_id="s")
        with pytest.raises(FetchError, match="HTTP 400"):  # without its form: the server refuses
            await f.fetch(Request(request.url, method="POST", form=()), source_id="s")
    assert result.text.count("<record>") == 2
    assert f.stats.requests == 2


async def test_direct_requests_make_no_httpx_client(
    newssite: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a proxy, requests go through the fetcher's own pool: httpx's
    client (and httpcore, its pool, ~20 MB at a run's first polls) is never made."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    async with fetcher() as f:
        result = await f.get(newssite.url_for("/feed.xml"), source_id="s")
        assert result.status == 200
        assert f._client_made is None


async def test_user_agent_and_proxy_from_the_environment(
    newssite: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture site doubles as an HTTP proxy: it serves the path of an absolute URI.
    monkeypatch.setenv("HTTP_PROXY", newssite.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with Fetcher(user_agent="qm-test/1.0") as f:
        result = await f.get("http://quality.example.invalid/feed.xml", source_id="s")
    assert result.status == 200 and "<rss" in result.text
    [request] = [r for r in newssite.requests if r.path == "/feed.xml"]
    assert request.headers["User-Agent"] == "qm-test/1.0"


def test_decode_never_raises_on_random_bytes() -> None:
    import random

    rng = random.Random(3)
    for size in (1, 7, 4096, 65536):
        blob = rng.randbytes(size)
        for declared in (None, "gbk", "utf-8", "no-such-charset"):
            text, codec = decode(blob, declared=declared)
            assert isinstance(text, str) and codec


def test_gbk_bytes_declared_utf8_are_still_read() -> None:
    gbk = "<html><meta charset='utf-8'>四川省质量强省建设</html>".encode("gbk")
    text, codec = decode(gbk, declared="utf-8")
    assert "四川省质量强省建设" in text and codec == "gb18030"


# ── hostile servers: internal addresses, bombs, dribbles ────────────────────


@pytest.fixture
def internal() -> Iterator[NewsSite]:
    """A second loopback server on another port: an internal service of this machine."""
    with NewsSite() as service:
        yield service


async def test_links_and_redirects_to_an_internal_service_are_refused(
    newssite: NewsSite, internal: NewsSite
) -> None:
    secret = internal.url_for("/feed.xml")
    origin = newssite.url_for("/feed.xml")  # the configured source, on 127.0.0.1 too
    async with fetcher(retries=0) as f:
        with pytest.raises(
            FetchError, match=r"\[s\] .*refused: 127\.0\.0\.1 is an internal"
        ) as info:
            await f.get(secret, source_id="s", origin=origin)
        assert info.value.refused
        bounce = newssite.url_for(f"/fault/redirect?to={quote(secret, safe='')}")
        with pytest.raises(FetchError, match=r"redirected to .*/feed\.xml\): refused"):
            await f.get(bounce, source_id="s", origin=origin)
        # Other spellings of this machine, found by resolving them.
        port = internal.url.rsplit(":", 1)[1]
        for other in ("localhost", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0.0.0.0"):
            with pytest.raises(FetchError, match="refused"):
                await f.get(f"http://{other}:{port}/feed.xml", source_id="s", origin=origin)
        # The source's own origin is its own: its pages and redirects within it are read.
        assert (await f.get(newssite.url_for("/atom.xml"), source_id="s", origin=origin)).status
    assert not internal.hits  # nothing ever reached the internal service
    assert newssite.hits["/fault/redirect"] == 1


async def test_allow_private_lets_named_internal_hosts_through(
    newssite: NewsSite, internal: NewsSite
) -> None:
    origin = newssite.url_for("/feed.xml")
    async with Fetcher(retries=0, allow_private=["127.0.0.0/8"]) as f:
        result = await f.get(internal.url_for("/feed.xml"), source_id="s", origin=origin)
    assert result.status == 200 and internal.hits["/feed.xml"] == 1
    port = internal.url.rsplit(":", 1)[1]
    async with Fetcher(retries=0, allow_private=["localhost", "::1", "127.0.0.1"]) as f:
        result = await f.get(f"http://localhost:{port}/feed.xml", source_id="s", origin=origin)
    assert result.status == 200


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [("gzip,gzip", "stacked content encodings"), ("br", "bomb"), ("gzip", "bomb")],
)
async def test_compression_bombs_fail_in_bounded_memory(
    newssite: NewsSite, encoding: str, reason: str
) -> None:
    import tracemalloc

    from tests.servers.newssite import _bomb

    _bomb(encoding)  # built before measuring: the server's 64 MB are not the client's
    url = newssite.url_for(f"/fault/bomb?enc={encoding}")
    async with Fetcher(retries=0, max_bytes=1_000_000) as f:
        await f.get(newssite.url_for("/feed.xml"), source_id="s")  # connected, warmed up
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match=reason) as info:
                await f.get(url, source_id="s")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert url in info.value.reason
    assert peak < 8_000_000  # the 64 MB inside was never held


async def test_a_dribbling_server_fails_at_the_total_deadline(newssite: NewsSite) -> None:
    async with fetcher(retries=2) as f:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"no complete answer within 1\.5s"):
            await asyncio.wait_for(
                f.get(newssite.url_for("/fault/drip?every=0.3"), source_id="s", timeout=1.5), 15
            )
    assert 1.4 < time.monotonic() - started < 4
    assert newssite.hits["/fault/drip"] == 1  # it answered: dribbling again would not help


def test_a_body_cut_inside_its_last_utf8_character_is_still_utf8() -> None:
    body = ("<p>质量强省</p>" * 50 + "质").encode()[:-1]  # cut inside 质
    text, codec = decode(body, declared="windows-1251")
    assert codec == "utf-8" and text.startswith("<p>质量强省</p>")
    text, codec = decode(body)
    assert codec == "utf-8" and text.endswith("\ufffd")


async def test_a_page_for_the_browser_is_checked_before_it_is_loaded(
    newssite: NewsSite, internal: NewsSite
) -> None:
    async with fetcher(retries=0) as f:
        with pytest.raises(FetchError, match="refused"):
            await f.get(
                internal.url_for("/feed.xml"),
                source_id="s",
                origin=newssite.url_for("/feed.xml"),
                render=True,  # refused before any browser starts (none is installed here)
            )
    assert not internal.hits


async def test_connections_to_one_host_are_kept_alive_and_reused(newssite: NewsSite) -> None:
    """The fetcher's own pool (no queue, no scan): 48 requests, 8 at a time,
    to one host go over at most 8 connections, and each is given back once
    its response is read (a 304's empty body included), not leaked busy."""
    newssite.delay = 0.02
    url = newssite.url_for("/feed.xml")
    async with fetcher(concurrency=8, per_host=8) as f:
        first = await f.get(url, source_id="s")
        for _ in range(6):
            results = await asyncio.gather(
                *(f.get(url, source_id="s", etag=first.etag) for _ in range(8))
            )
            assert all(r.not_modified for r in results)
        pool = f._pool
        assert pool.connections and len(pool.connections) <= 8
        assert not pool._busy  # every connection given back
    assert newssite.connections <= 8
    assert newssite.hits["/feed.xml"] == 49


async def test_a_connection_the_server_closed_is_not_reused(newssite: NewsSite) -> None:
    """A kept-alive connection the server has since closed is noticed when it is
    taken (as httpcore's pool does) and replaced: no retry needed."""
    async with fetcher(retries=0) as f:
        for _ in range(3):
            result = await f.get(newssite.url_for("/fault/hangup"), source_id="s")
            assert result.status == 200
            await asyncio.sleep(0.05)  # the server's FIN arrives
    assert newssite.connections == 3


async def test_idle_connections_beyond_the_limit_are_closed(newssite: NewsSite) -> None:
    """At most ``max_idle`` idle connections are kept (the oldest go first)."""
    newssite.delay = 0.02
    url = newssite.url_for("/feed.xml")
    async with fetcher(concurrency=3, per_host=3) as f:
        pool = f._pool
        pool._max_idle = 2
        await asyncio.gather(*(f.get(url, source_id="s") for _ in range(3)))
        assert len(pool.connections) == 2
        await asyncio.gather(*(f.get(url, source_id="s") for _ in range(2)))
    assert newssite.connections == 3  # the two kept were reused


async def test_idle_connections_are_kept_for_more_hosts_than_requests_in_flight(
    newssite: NewsSite, internal: NewsSite
) -> None:
    """A list visits its hosts in turn: a host's connection must outlive the
    visits to the others, even when fewer requests than hosts are in flight
    (kept only ``concurrency`` idle, a 200-host list reconnected at every poll)."""
    a, b = newssite.url_for("/feed.xml"), internal.url_for("/feed.xml")
    async with fetcher(concurrency=1, per_host=1) as f:
        for url in (a, b, a, b, a):
            assert (await f.get(url, source_id="s", origin=url)).status == 200
    assert (newssite.connections, internal.connections) == (1, 1)


async def test_an_answer_is_decoded_when_first_read(newssite: NewsSite) -> None:
    """The fetcher keeps the bytes and their labels; ``text`` and ``encoding``
    are decode()'s, made at the first read (a feed read from its bytes never asks)."""
    async with fetcher() as f:
        result = await f.get(newssite.url_for("/mislabelled/list.html"), source_id="s")
        forced = await f.get(newssite.url_for("/gbk/list.html"), source_id="s", encoding="gbk")
    assert not result.decoded and result.charset == "gbk" and result.forced is None
    assert (result.text, result.encoding) == decode(result.content, declared="gbk")
    assert result.decoded
    assert not forced.decoded and forced.encoding == "gb18030" and forced.forced == "gbk"
