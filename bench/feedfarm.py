"""Thousands of feeds on loopback, each answer after a fixed latency. [bench fixture]

    .venv/bin/python -m bench.feedfarm [--feeds 2000] [--latency 0.2] [--hosts 50]

One asyncio HTTP/1.1 server (keep-alive) listening on ``--hosts`` loopback
addresses (127.0.0.1, 127.0.0.2, …: Linux routes all of 127/8 to ``lo``), so
that a poller's per-host limits are exercised as on the real web. Feed ``i``
lives on host ``i % hosts``::

    /f/<i>.xml        RSS 2.0 with the ``items`` newest items of feed i; strong
                      ETag and Last-Modified, 304 to a matching conditional GET
    /a/<i>/<n>.html   the article page of item n of feed i

Every answer, 304s included, waits ``latency`` seconds first (asyncio.sleep,
so a thousand waits cost nothing). Item texts are built deterministically from
the fixture corpus' sentences (Chinese and English, most of them about 质量强省,
some not), different for every (feed, item), so that articles are distinct.

:func:`start_farm` runs it in a child process (its CPU is not the poller's)
and returns a :class:`FarmHandle` to publish new items and read the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import random
import re
import socket
import time
from dataclasses import dataclass
from email.utils import formatdate
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_ZH_END = re.compile(r"(?<=[。！？；])")
_EN_END = re.compile(r"(?<=[.!?])\s+")
PROVINCES_ZH = ("四川", "广东", "浙江", "江苏", "山东", "湖北", "湖南", "河南", "福建", "安徽")
PROVINCES_EN = ("Sichuan", "Guangdong", "Zhejiang", "Jiangsu", "Shandong", "Hubei", "Hunan")


def _pools() -> tuple[list[str], list[str]]:
    """Chinese and English sentences from the fixture corpus (and the seeds when present)."""
    from monitor.evaluate import read_corpus

    paths = [ROOT / "tests" / "data" / "site" / "corpus.jsonl"]
    seeds = ROOT.parent / "shared" / "corpus" / "seeds" / "labels.jsonl"
    if seeds.exists():
        paths.append(seeds)
    zh: list[str] = []
    en: list[str] = []
    for path in paths:
        for doc in read_corpus(path):
            text = doc.text
            if sum("\u4e00" <= ch <= "\u9fff" for ch in text) > len(text) / 4:
                zh += [s.strip() for s in _ZH_END.split(text) if len(s.strip()) >= 12]
            else:
                en += [s.strip() for s in _EN_END.split(text) if len(s.strip()) >= 30]
    return sorted(set(zh)), sorted(set(en))


@dataclass(frozen=True, slots=True)
class Item:
    feed: int
    number: int
    title: str
    paragraphs: tuple[str, ...]
    language: str
    published: float  # epoch seconds


class Texts:
    """Deterministic, distinct article texts: item n of feed i is always the same."""

    def __init__(self, english_share: float = 0.3, sentences: int = 8) -> None:
        self.zh, self.en = _pools()
        self.english_share = english_share
        self.sentences = sentences

    def item(self, feed: int, number: int, published: float) -> Item:
        seed = int.from_bytes(hashlib.blake2b(f"{feed}/{number}".encode(), digest_size=8).digest())
        rng = random.Random(seed)
        english = rng.random() < self.english_share
        pool = self.en if english else self.zh
        picked = rng.sample(pool, min(self.sentences, len(pool)))
        if english:
            where = rng.choice(PROVINCES_EN)
            title = f"{where} holds quality province meeting No. {feed}-{number}"
            lead = (
                f"{where} province held its {number}th quality work meeting for feed {feed}, "
                f"setting {rng.randint(10, 99)} targets for building a province "
                "with strong quality."
            )
        else:
            where = rng.choice(PROVINCES_ZH)
            title = f"{where}召开第{number}次质量强省工作推进会（{feed}）"
            lead = (
                f"{where}省第{number}次质量强省工作推进会召开，部署{rng.randint(10, 99)}项"
                f"质量提升重点任务，编号{feed}-{number}。"
            )
        paragraphs = [lead]
        for i in range(0, len(picked), 3):
            joiner = " " if english else ""
            paragraphs.append(joiner.join(picked[i : i + 3]))
        return Item(
            feed, number, title, tuple(paragraphs), "en" if english else "zh-Hans", published
        )


class Farm:
    """The feeds' state and their rendering (runs inside the server process)."""

    def __init__(
        self, feeds: int, items: int, latency: float, hosts: list[str], port: int, text: bool
    ) -> None:
        self.feeds = feeds
        self.items = items
        self.latency = latency
        self.hosts = hosts
        self.port = port
        self.text = text  # whole article text in the feed (content:encoded)
        self.texts = Texts()
        self.started = time.time()
        self.t0 = float(int(self.started)) - 86400  # item n is published at t0 + n × 600 s
        self.generation = [items] * feeds  # feed i lists items generation-items+1 … generation
        self.version = [0] * feeds  # bumped by every change of feed i's bytes (its ETag)
        self.stamp = [self.t0] * feeds  # Last-Modified of feed i
        self._cache: dict[int, tuple[int, bytes]] = {}  # feed → (version, its bytes)
        self.requests = 0
        self.connections = 0  # TCP connections accepted (keep-alive reuse shows here)
        self.not_modified = 0
        self.bytes = 0
        # Wall-clock times of the first request and the last answer since the last
        # ``stats`` (a bench's pass: how long the client took to start, and to end).
        self.first_at: float | None = None
        self.last_at: float | None = None

    def url(self, feed: int, host: int | None = None) -> str:
        address = self.hosts[feed % len(self.hosts) if host is None else host]
        return f"http://{address}:{self.port}/f/{feed}.xml"

    def publish(self, every: int = 1, *, touch: bool = False, offset: int = 0) -> int:
        """One new item in every ``every``-th feed (from feed ``offset``); with
        ``touch`` every other feed changes its bytes too (a new lastBuildDate, as
        many CMSes do) without a new item. Returns how many feeds got an item."""
        changed = 0
        now = float(int(time.time()))
        for i in range(self.feeds):
            new = (i - offset) % every == 0
            if new:
                self.generation[i] += 1
                changed += 1
            if new or touch:
                self.version[i] += 1
                self.stamp[i] = max(now, self.stamp[i] + 1)
        return changed

    def etag(self, feed: int) -> str:
        return f'"f{feed}-v{self.version[feed]}"'

    def _item(self, feed: int, number: int) -> Item:
        return self.texts.item(feed, number, self.t0 + number * 600)

    def feed(self, feed: int) -> bytes:
        version = self.version[feed]
        cached = self._cache.get(feed)
        if cached is not None and cached[0] == version:
            return cached[1]
        host = self.hosts[feed % len(self.hosts)]
        root = f"http://{host}:{self.port}"
        top = self.generation[feed]
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
            f"<channel><title>Feed {feed} 质量强省</title><link>{root}/</link>"
            f"<description>bench feed {feed}</description>"
            f"<lastBuildDate>{formatdate(self.stamp[feed], usegmt=True)}</lastBuildDate>\n"
        ]
        for number in range(top, max(0, top - self.items), -1):
            item = self._item(feed, number)
            link = f"{root}/a/{feed}/{number}.html"
            out.append(
                f"<item><title>{escape(item.title)}</title><link>{link}</link>"
                f'<guid isPermaLink="false">farm:{feed}:{number}</guid>'
                f"<pubDate>{formatdate(item.published, usegmt=True)}</pubDate>"
                f"<description>{escape(item.paragraphs[0])}</description>"
            )
            if self.text:
                body = "".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)
                out.append(f"<content:encoded>{escape(body)}</content:encoded>")
            out.append("</item>\n")
        out.append("</channel></rss>\n")
        data = "".join(out).encode()
        self._cache[feed] = (version, data)
        return data

    def article(self, feed: int, number: int) -> bytes | None:
        if not 1 <= number <= self.generation[feed] or not 0 <= feed < self.feeds:
            return None
        item = self._item(feed, number)
        body = "\n".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)
        lang = "en" if item.language == "en" else "zh-CN"
        return (
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{escape(item.title)}</title></head><body>"
            '<div class="nav"><a href="/">首页</a> <a href="/news/">新闻</a></div>'
            f'<h1>{escape(item.title)}</h1><div class="article-content">{body}</div>'
            '<div class="footer">版权所有 bench farm</div></body></html>'
        ).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = ([*lines[0].split(" "), "", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                if length := int(headers.get("content-length") or 0):
                    await reader.readexactly(length)
                self.requests += 1
                if self.first_at is None:
                    self.first_at = time.time()
                status, extra, body = self.answer(method, target.split("?")[0], headers)
                if self.latency:
                    await asyncio.sleep(self.latency)
                close = headers.get("connection", "").lower() == "close"
                lines_out = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
                if close:
                    lines_out.append("Connection: close")
                writer.write(("\r\n".join(lines_out) + "\r\n\r\n").encode("latin-1") + body)
                self.bytes += len(body)
                await writer.drain()
                self.last_at = time.time()
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()  # not awaited: at shutdown the handlers are cancelled

    def answer(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[str, list[str], bytes]:
        if m := re.fullmatch(r"/f/(\d+)\.xml", path):
            feed = int(m.group(1))
            if feed >= self.feeds:
                return "404 Not Found", [], b"no such feed"
            etag = self.etag(feed)
            validators = [
                f"ETag: {etag}",
                f"Last-Modified: {formatdate(self.stamp[feed], usegmt=True)}",
            ]
            if headers.get("if-none-match") == etag:
                self.not_modified += 1
                return "304 Not Modified", validators, b""
            body = self.feed(feed) if method != "HEAD" else b""
            return "200 OK", ["Content-Type: application/rss+xml; charset=utf-8", *validators], body
        if m := re.fullmatch(r"/a/(\d+)/(\d+)\.html", path):
            page = self.article(int(m.group(1)), int(m.group(2)))
            if page is None:
                return "404 Not Found", [], b"no such article"
            return "200 OK", ["Content-Type: text/html; charset=utf-8"], page
        return "404 Not Found", [], b"not found"


def _listen(hosts: int) -> tuple[list[socket.socket], list[str], int]:
    """Sockets on 127.0.0.1 … 127.0.0.<hosts>, one port for all (retried until free)."""
    for _attempt in range(50):
        first = socket.socket()
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        sockets = [first]
        addresses = ["127.0.0.1"]
        try:
            for n in range(2, hosts + 1):
                address = f"127.0.0.{n}"
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                sockets.append(sock)
                addresses.append(address)
        except OSError:
            for sock in sockets:
                sock.close()
            continue
        for sock in sockets:
            sock.listen(1024)
            sock.setblocking(False)
        return sockets, addresses, port
    raise OSError("no port free on every loopback address")


async def _serve(
    conn: Connection, feeds: int, items: int, latency: float, hosts: int, text: bool
) -> None:
    sockets, addresses, port = _listen(hosts)
    farm = Farm(feeds, items, latency, addresses, port, text)
    servers = [await asyncio.start_server(farm.handle, sock=s, backlog=1024) for s in sockets]
    loop = asyncio.get_running_loop()
    conn.send({"urls": [farm.url(i) for i in range(feeds)], "hosts": addresses})
    try:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            command = message[0]
            if command == "stop":
                break
            if command == "publish":
                conn.send(farm.publish(message[1], touch=message[2], offset=message[3]))
            elif command == "stats":
                conn.send(
                    {
                        "requests": farm.requests,
                        "connections": farm.connections,
                        "not_modified": farm.not_modified,
                        "bytes": farm.bytes,
                        "first_at": farm.first_at,
                        "last_at": farm.last_at,
                    }
                )
                farm.first_at = farm.last_at = None
            elif command == "item":
                item = farm._item(message[1], message[2])
                conn.send(item)
    finally:
        for server in servers:
            server.close()
        conn.send("stopped")


def _child(
    conn: Connection, feeds: int, items: int, latency: float, hosts: int, text: bool
) -> None:
    asyncio.run(_serve(conn, feeds, items, latency, hosts, text))


class FarmHandle:
    """The parent's side: the feed URLs, and commands to the farm process."""

    def __init__(self, process: Any, conn: Connection, info: dict[str, Any]) -> None:
        self._process = process
        self._conn = conn
        self.urls: list[str] = info["urls"]
        self.hosts: list[str] = info["hosts"]

    def publish(self, every: int = 1, *, touch: bool = False, offset: int = 0) -> int:
        """A new item in every ``every``-th feed from feed ``offset`` (new bytes and
        ETag); ``touch``: the others get new bytes too, without a new item. How
        many got an item."""
        self._conn.send(("publish", every, touch, offset))
        return int(self._conn.recv())

    def stats(self) -> dict[str, Any]:
        """Counts since the start, and ``first_at``/``last_at``: the wall-clock
        times (``time.time()``) of the first request and the last answer since the
        previous call (None when there was none)."""
        self._conn.send(("stats",))
        return dict(self._conn.recv())

    def item(self, feed: int, number: int) -> Item:
        self._conn.send(("item", feed, number))
        item: Item = self._conn.recv()
        return item

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("stop",))
            self._conn.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> FarmHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_farm(
    feeds: int = 2000,
    *,
    items: int = 10,
    latency: float = 0.2,
    hosts: int = 50,
    text: bool = True,
) -> FarmHandle:
    """Start the farm in a child process; returns once it listens."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_child, args=(child, feeds, items, latency, hosts, text), daemon=True
    )
    process.start()
    return FarmHandle(process, parent, parent.recv())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--hosts", type=int, default=50)
    args = parser.parse_args()
    with start_farm(args.feeds, items=args.items, latency=args.latency, hosts=args.hosts) as farm:
        print(f"{args.feeds} feeds, e.g. {farm.urls[0]} … {farm.urls[-1]}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
