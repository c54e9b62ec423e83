"""What an unchanged poll costs against a changed one: requests, bytes, CPU time.

    .venv/bin/python -m bench.poll_cost [--repeats 5]      (also: make bench-poll)

The fixture news site runs in a child process, so that the CPU time measured
(``time.process_time`` of this process: the event loop, the parser threads and
the database thread) is the monitor's alone. For each source kind below, one
real pipeline poll (``monitor.pipeline.poll``, SQLite in a temporary folder)
first reads the whole list; then, ``--repeats`` times each:

* unchanged: poll again with nothing new (a 304, or for the POST API the same
  bytes, recognised by their hash): nothing is parsed, no article is fetched;
* changed: the site publishes one new article first, so the poll fetches and
  parses the list, then fetches, extracts, classifies and stores that article.

Bytes are response bodies as received (compressed when the server compressed
them), from the fetcher's counters. Prints one JSON object with the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import platform
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from monitor.app import build_context
from monitor.config import parse_config
from monitor.fetch import Fetcher
from monitor.pipeline import Context, poll
from storage.runner import DbRunner
from storage.store import Store

SOURCES = """\
version: 1
defaults: {{interval: 10m, timeout: 10s, backlog: 50}}
sources:
  - {{id: rss, name: RSS, kind: rss, url: "{url}/feed.xml"}}
  - id: html-gbk
    name: GBK list
    kind: html
    url: "{url}/gbk/list.html"
    list: {{item: "ul.news-list li", date: "span.date"}}
    article: {{content: "div.article-content"}}
  - {{id: jcms-api, name: JCMS, kind: jcms, url: "{url}/jcms/col/col1229/index.html",
      unitid: 5504, webid: 1, article: {{content: "div.article-content"}}}}
  - {{id: gkmlpt, name: gkmlpt, kind: gkmlpt, url: "{url}/", column: 5,
      article: {{content: "div.article-content"}}}}
"""


def _serve(conn: Connection) -> None:
    """The child: the fixture site, publishing an article whenever asked."""
    from tests.servers.newssite import NewsSite

    with NewsSite() as site:
        site.page_size = 50
        conn.send(site.url)
        while (message := conn.recv()) != "stop":
            n = int(message)
            site.publish(
                {
                    "id": f"bench-{n}",
                    "title": f"第{n}届省长质量奖评审结果公布 推进质量强省建设",
                    "published": "2025-11-20",
                    "time": f"{8 + n % 10:02d}:{n % 60:02d}",
                    "listed_in": ["rss", "gbk"],
                    "body": (
                        f"11月20日，省市场监管局公布第{n}届省长质量奖评审结果，"
                        "12家企业获奖。\n\n省长质量奖是省政府设立的最高质量荣誉，"
                        "旨在推动质量强省建设，引导企业实施卓越绩效管理。"
                    ),
                }
            )
            conn.send("ok")


async def _measure(source: Any, ctx: Context) -> dict[str, float]:
    stats = ctx.fetcher.stats
    requests, received = stats.requests, stats.bytes
    cpu = time.process_time()
    report = await poll(source, ctx)
    cpu_ms = (time.process_time() - cpu) * 1000
    if report.status == "error":
        raise RuntimeError(f"{source.id}: {report.error}")
    return {
        "requests": stats.requests - requests,
        "bytes": stats.bytes - received,
        "cpu_ms": cpu_ms,
        "status": report.status,  # type: ignore[dict-item]
        "articles": report.articles,
    }


def _median(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: round(statistics.median(r[key] for r in rows), 2)
        for key in ("requests", "bytes", "cpu_ms", "articles")
    }
    out["status"] = sorted({str(r["status"]) for r in rows})
    return out


async def run(url: str, conn: Connection, repeats: int, folder: Path) -> dict[str, Any]:
    config = parse_config(SOURCES.format(url=url), env={})
    store = Store(f"sqlite:///{folder / 'bench.db'}")
    store.migrate()
    db = DbRunner()
    published = 0
    results: dict[str, Any] = {}
    try:
        async with Fetcher(retries=0) as fetcher:
            ctx = build_context(config, store=store, db=db, fetcher=fetcher)
            for source in config.sources:
                first = await _measure(source, ctx)
                unchanged, changed = [], []
                for _ in range(repeats):
                    unchanged.append(await _measure(source, ctx))
                    published += 1
                    conn.send(str(published))
                    conn.recv()
                    changed.append(await _measure(source, ctx))
                results[source.id] = {
                    "first_poll": _median([first]),
                    "unchanged": _median(unchanged),
                    "changed": _median(changed),
                }
    finally:
        db.close()
        store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the fixture's 2025 items are "stale": not news here
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,))
    server.start()
    try:
        url = parent.recv()
        with tempfile.TemporaryDirectory() as folder:
            results = asyncio.run(run(url, parent, args.repeats, Path(folder)))
    finally:
        parent.send("stop")
        server.join(timeout=10)
    for row in results.values():
        changed, unchanged = row["changed"], row["unchanged"]
        row["cpu_changed_over_unchanged"] = round(
            changed["cpu_ms"] / max(unchanged["cpu_ms"], 0.01), 1
        )
    print(
        json.dumps(
            {
                "benchmark": "poll_cost",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "repeats": args.repeats,
                "sources": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
