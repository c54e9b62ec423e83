"""Fault drill: broken sites mixed with healthy ones.

Every fault endpoint of the fixture site (slow, reset, 500, malformed, garbage,
huge, redirect loop, bad compression, a redirect to ftp, 404) is polled in the
same pass as healthy sources of every encoding (RSS, a GBK list, a page whose
charset label lies). The faulty sources live on another host (127.0.0.2), as
they would on the web, listed first, with a small overall concurrency, so a
fault that held shared resources (connection slots, the event loop, the
database thread) would show up as healthy sources getting slower or finding
less. They must find exactly what they find alone, in about the same time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.app import build_context, build_fetcher
from monitor.config import parse_config
from monitor.model import PollReport
from monitor.pipeline import poll_all
from storage.runner import DbRunner
from storage.store import Store
from tests.servers.newssite import NewsSite

pytestmark = pytest.mark.drill  # `make test-fast` leaves the fault drills out

HEALTHY = """\
  - id: ok-rss
    name: RSS
    kind: rss
    url: "{url}/feed.xml"
  - id: ok-gbk
    name: GBK list
    kind: html
    url: "{url}/gbk/list.html"
    list: {{item: "ul.news-list li", date: "span.date"}}
    article: {{content: "div.article-content"}}
  - id: ok-wrong-charset
    name: UTF-8 labelled GBK
    kind: html
    url: "{url}/mislabelled/list.html"
    list: {{item: "ul.news-list li", date: "span.date"}}
    article: {{content: "div.article-content"}}
"""

FAULTS = {
    "slow": "/fault/slow?delay=30",
    "slow-again": "/fault/slow?delay=31",
    "reset": "/fault/reset",
    "http-500": "/fault/500",
    "http-404": "/fault/404",
    "malformed": "/fault/malformed.xml",
    "garbage": "/fault/garbage",
    "huge": "/fault/huge",
    "redirect-loop": "/fault/redirect-loop",
    "redirect-ftp": "/fault/redirect-ftp",
    "bad-brotli": "/fault/bad-br",
}
FAULT_TIMEOUT = 1.0  # seconds: a slow source times out after this, three times (retries)


def _config(healthy: str, faulty: str | None) -> Any:
    lines = [
        "version: 1",
        "defaults: {interval: 10m, timeout: 5s, backlog: 50}",
        # Small on purpose: four requests in flight overall, one per host, so that
        # requests queued for the faulty host must not hold the overall slots.
        "http: {concurrency: 4, per_host: 1}",
        "sources:",
    ]
    if faulty is not None:
        for name, path in FAULTS.items():
            lines += [
                f"  - id: fault-{name}",
                f"    name: {name}",
                "    kind: rss",
                f'    url: "{faulty}{path}"',
                f"    timeout: {FAULT_TIMEOUT}s",
            ]
    text = "\n".join(lines) + "\n" + HEALTHY.format(url=healthy)
    return parse_config(text, env={})


async def _poll_all(config: Any, db_url: str) -> tuple[dict[str, PollReport], float]:
    store = Store(db_url)
    store.migrate()
    db = DbRunner()
    try:
        async with build_fetcher(config.http) as fetcher:
            ctx = build_context(config, store=store, db=db, fetcher=fetcher)
            started = time.perf_counter()
            reports = await poll_all(list(config.sources), ctx)
            return {r.source_id: r for r in reports}, time.perf_counter() - started
    finally:
        db.close()
        store.close()


@pytest.fixture
async def faulty_host() -> AsyncIterator[NewsSite]:
    with NewsSite(host="127.0.0.2") as site:
        yield site


async def test_healthy_sources_are_unaffected_by_faulty_ones(
    tmp_path: Path, newssite: NewsSite, faulty_host: NewsSite
) -> None:
    alone, _ = await _poll_all(_config(newssite.url, None), f"sqlite:///{tmp_path / 'a.db'}")
    mixed, total = await _poll_all(
        _config(newssite.url, faulty_host.url), f"sqlite:///{tmp_path / 'b.db'}"
    )

    # Results: the same entries and articles as when polled alone, and the same stories
    # in all (which source creates a shared story depends on which commits first).
    for source_id, report in alone.items():
        other = mixed[source_id]
        assert report.status == other.status == "ok", (report.error, other.error)
        found = (report.entries, report.new, report.articles, report.warnings)
        assert (other.entries, other.new, other.articles, other.warnings) == found
    assert sum(r.stories for r in alone.values()) == sum(mixed[k].stories for k in alone)
    assert sum(r.articles for r in alone.values()) >= 10

    # Latency: about the same as alone, far below what waiting on a fault would cost
    # (each slow source holds its host for 3 × FAULT_TIMEOUT and the retries' waits).
    for source_id, report in alone.items():
        assert mixed[source_id].elapsed <= 1.5 * report.elapsed + 1.0, (
            source_id,
            report.elapsed,
            mixed[source_id].elapsed,
        )

    # Every fault is reported with its source, none crashes the pass.
    faults = {k: v for k, v in mixed.items() if k.startswith("fault-")}
    assert set(faults) == {f"fault-{name}" for name in FAULTS}
    for source_id, report in faults.items():
        if source_id == "fault-malformed":
            continue  # feedparser recovers what it can: a warning, or no entries at all
        assert report.status == "error" and report.error, (source_id, report)
    assert "timed out" in (faults["fault-slow"].error or "")
    assert "redirect" in (faults["fault-redirect-loop"].error or "")
    assert "HTTP 404" in (faults["fault-http-404"].error or "")
    assert faults["fault-slow"].elapsed >= 3 * FAULT_TIMEOUT  # it really was slow meanwhile
    assert total < 3 * FAULT_TIMEOUT + 10
