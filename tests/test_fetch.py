"""The fetcher against the fixture site on 127.0.0.1: encodings, 304s, faults."""

from __future__ import annotations

import time

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
