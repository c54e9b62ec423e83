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
