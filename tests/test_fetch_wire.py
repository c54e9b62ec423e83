"""The fetcher's own HTTP/1.1 exchange against a server that answers exact bytes:
every way an answer's body can be framed, broken answers, redirects, cookies,
request heads, and the URLs read without httpx's parser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import FetchError
from monitor.fetch import Fetcher, _target
from monitor.sources import Request

# What a request for a path gets: the bytes to write, and whether to close after.
Answer = Callable[["Seen"], tuple[bytes, bool]]


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which connection it came on (1, 2, …)
    number: int  # its place on that connection (1, 2, …)


@dataclass
class Wire:
    url: str
    answers: dict[str, Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    state = Wire(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        connection, number = state.connections, 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                number += 1
                seen = Seen(method, target, headers, body, connection, number)
                state.seen.append(seen)
                data, close = state.answers[target.split("?")[0]](seen)
                writer.write(data)
                await writer.drain()
                if close:
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state
        server.close()


def fixed(data: bytes, close: bool = False) -> Answer:
    return lambda _seen: (data, close)


def ok(body: bytes, *extra: str) -> bytes:
    head = "\r\n".join(["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra])
    return head.encode() + b"\r\n\r\n" + body


FEED = "<rss><channel><title>质量强省</title></channel></rss>".encode()


def fetcher(**kw: float) -> Fetcher:
    return Fetcher(backoff=0.01, **kw)  # type: ignore[arg-type]


async def test_bodies_framed_every_way_are_read_whole(wire: Wire) -> None:
    half = len(FEED) // 2
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x;ext=1\r\n%s\r\n" % (half, FEED[:half])
        + b"%x\r\n%s\r\n" % (len(FEED) - half, FEED[half:])
        + b"0\r\nX-Trailer: 1\r\n\r\n"
    )
    wire.answers = {
        "/length": fixed(ok(FEED)),
        "/chunked": fixed(chunked),
        "/until-close": fixed(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + FEED, True),
        "/continue": fixed(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(FEED)),
        # sloppy servers, read as h11 (httpx's parser) reads them
        "/bare-lf": fixed(ok(FEED).replace(b"\r\n", b"\n", 2)),
        "/folded": fixed(ok(FEED, "X-Note: one\r\n two")),
        "/both": fixed(chunked.replace(b"\r\n", b"\r\nContent-Length: 3\r\n", 1)),
    }
    paths = ("/length", "/chunked", "/bare-lf", "/folded", "/both", "/until-close", "/continue")
    async with fetcher(retries=0) as f:
        for path in (*paths, "/length"):
            result = await f.get(wire.url + path, source_id="s")
            assert (result.status, result.content) == (200, FEED), path
            assert "质量强省" in result.text
    # kept alive throughout, except after the answer the server ended by closing
    assert [s.connection for s in wire.seen] == [1, 1, 1, 1, 1, 1, 2, 2]


async def test_broken_answers_are_errors_naming_the_source(wire: Wire) -> None:
    wire.answers = {
        "/garbage": fixed(b"HTTP/1.1 2x0 What\r\n\r\n", True),
        "/short": fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", True),
        "/silent": fixed(b"", True),
    }
    async with fetcher(retries=1) as f:
        for path, reason in (
            ("/garbage", "malformed answer"),
            ("/short", "without sending complete message body"),
            ("/silent", "without sending a response"),
        ):
            with pytest.raises(FetchError, match=rf"\[s\] {wire.url}{path}: .*{reason}"):
                await f.get(wire.url + path, source_id="s")
    assert [s.target for s in wire.seen] == ["/garbage"] * 2 + ["/short"] * 2 + ["/silent"] * 2


async def test_a_kept_alive_connection_closed_unanswered_is_replaced(wire: Wire) -> None:
    """The server closes a kept-alive connection as the next request arrives
    (its idle timeout): the request goes again on a new connection, no error."""

    def once_per_connection(seen: Seen) -> tuple[bytes, bool]:
        return (ok(FEED), False) if seen.number == 1 else (b"", True)

    wire.answers = {"/feed": once_per_connection}
    async with fetcher(retries=0) as f:
        for _ in range(3):
            assert (await f.get(wire.url + "/feed", source_id="s")).content == FEED
    assert wire.connections == 3 and len(wire.seen) == 5


async def test_a_303_after_a_post_is_a_get_without_the_body(wire: Wire) -> None:
    wire.answers = {
        "/api/list": fixed(
            b"HTTP/1.1 303 See Other\r\nLocation: ../done?x=1\r\nContent-Length: 0\r\n\r\n"
        ),
        "/done": fixed(ok(FEED)),
    }
    request = Request(wire.url + "/api/list", method="POST", form=(("page", "1"),))
    async with fetcher(retries=0) as f:
        result = await f.fetch(request, source_id="s")
    assert result.final_url == wire.url + "/done?x=1" and result.content == FEED
    post, get = wire.seen
    assert (post.method, post.body, post.headers["content-length"]) == ("POST", b"page=1", "6")
    assert (get.method, get.target, get.body) == ("GET", "/done?x=1", b"")
    assert "content-length" not in get.headers
    assert get.connection == post.connection  # an answer read to its end keeps its connection


async def test_cookies_a_server_sets_are_sent_back(wire: Wire) -> None:
    wire.answers = {
        "/set": fixed(ok(FEED, "Set-Cookie: visit=abc; Path=/")),
        "/next": fixed(ok(FEED)),
    }
    async with fetcher(retries=0) as f:
        await f.get(wire.url + "/set", source_id="s")
        await f.get(wire.url + "/next", source_id="s")
    first, second = wire.seen
    assert "cookie" not in first.headers and second.headers["cookie"] == "visit=abc"


async def test_the_request_head(wire: Wire) -> None:
    wire.answers = {"/feed": fixed(ok(FEED))}
    request = Request(wire.url + "/feed?a=1", headers=(("accept", "application/json"),))
    async with Fetcher(user_agent="qm-test/2.0", retries=0) as f:
        await f.fetch(request, source_id="s", etag='"v1"', last_modified="Mon, 07 Dec 2026")
    [seen] = wire.seen
    assert (seen.method, seen.target) == ("GET", "/feed?a=1")
    assert seen.headers["host"] == wire.url.removeprefix("http://")
    assert seen.headers["user-agent"] == "qm-test/2.0"
    assert seen.headers["accept"] == "application/json"  # the request's own, over the default
    assert seen.headers["accept-encoding"] == "gzip, deflate, br"
    assert seen.headers["if-none-match"] == '"v1"'
    assert seen.headers["if-modified-since"] == "Mon, 07 Dec 2026"


async def test_a_header_that_would_split_the_request_is_refused(wire: Wire) -> None:
    wire.answers = {"/feed": fixed(ok(FEED))}
    request = Request(wire.url + "/feed", headers=(("X-A", "b\r\nX-Injected: 1"),))
    async with fetcher(retries=0) as f:
        with pytest.raises(FetchError, match=r"\[s\] .*'X-A' has a character not allowed"):
            await f.fetch(request, source_id="s")
    assert not wire.seen


_PIECES = st.sampled_from(
    ["a", "Z", "0", "9", "-", ".", "/", "?", "#", "%", "%41", "%zz", ":", "@", "[", "]", "~",
     "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", " ", '"', "<", ">", "`", "{", "}",
     "|", "\\", "^", "_", "质", "..", "./", "80", "443", "65536", "255", "256", "1.2.3.4"]
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(
    scheme=st.sampled_from(["http://", "https://", "HTTP://", "ftp://"]),
    host=st.lists(_PIECES, max_size=6).map("".join),
    rest=st.lists(_PIECES, max_size=12).map("".join),
)
def test_urls_are_read_as_httpx_reads_them(scheme: str, host: str, rest: str) -> None:
    """The parts of a hop read without httpx's parser are httpx's own."""
    url = scheme + host + rest
    try:
        expected = _target(httpx.URL(url))
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            _target(url)
        return
    assert _target(url) == expected
