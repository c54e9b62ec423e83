"""Polls of every source kind against the fixture site: unchanged costs nothing,
pages are followed while everything is new, faults stay with their source."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from monitor import sources
from monitor.app import build_context
from monitor.config import Config, parse_config
from monitor.dedup import StoryIndex
from monitor.fetch import Fetcher
from monitor.listing import read_listing
from monitor.pipeline import Context, poll, poll_all
from storage.runner import DbRunner
from storage.store import Store
from tests.servers.newssite import NewsSite

KINDS = """\
  - id: rss
    name: RSS
    kind: rss
    url: "{url}/feed.xml"
  - id: html
    name: GBK list
    kind: html
    url: "{url}/gbk/list.html"
    list: {{item: "ul.news-list li", date: "span.date"}}
    article: {{content: "div.article-content"}}
  - id: jcms-page
    name: JCMS column
    kind: jcms
    url: "{url}/jcms/col/col1229/index.html"
    article: {{content: "div.article-content"}}
  - id: jcms-api
    name: JCMS API
    kind: jcms
    url: "{url}/jcms/col/col1229/index.html"
    unitid: 5504
    webid: 1
  - id: jpaas
    name: jpaas shell
    kind: jpaas
    url: "{url}/jpaas/xw/zj/"
    list: {{item: ".common_list_ul li", date: "span"}}
  - id: gkmlpt
    name: gkmlpt
    kind: gkmlpt
    url: "{url}/"
    column: 5
  - id: json
    name: gov.cn search
    kind: json
    url: "{url}/search-gov/data?q=质量&p=1&n=20"
    fields: {{items: searchVO.catMap.*.listVO, date: pubtimeStr}}
"""


def make_config(site: NewsSite, sources_yaml: str, *, backlog: int = 50) -> Config:
    text = (
        f"version: 1\ndefaults: {{interval: 10m, timeout: 2s, backlog: {backlog}}}\n"
        f"sources:\n{sources_yaml.format(url=site.url)}"
    )
    return parse_config(text, env={})


@pytest.fixture
async def context(sqlite_url: str) -> AsyncIterator[Callable[[Config], Context]]:
    store = Store(sqlite_url)
    store.migrate()
    db = DbRunner()
    async with Fetcher(backoff=0.01, retries=1, max_bytes=1_000_000) as fetcher:

        def build(config: Config) -> Context:
            return build_context(config, store=store, db=db, fetcher=fetcher)

        yield build
    db.close()
    store.close()


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the lists each kind's parser read (the real parsers still do the work)."""
    calls: Counter[str] = Counter()
    for kind, parser in list(sources.PARSERS.items()):

        def counted(result: Any, source: Any, _parser: Any = parser, _kind: str = kind) -> Any:
            calls[_kind] += 1
            return _parser(result, source)

        monkeypatch.setitem(sources.PARSERS, kind, counted)
    for kind, inline in list(sources.INLINE.items()):  # a plain feed, read on the spot

        def counted_inline(
            result: Any, source: Any, _inline: Any = inline, _kind: str = kind
        ) -> Any:
            entries = _inline(result, source)
            if entries is not None:
                calls[_kind] += 1
            return entries

        monkeypatch.setitem(sources.INLINE, kind, counted_inline)
    return calls


def article_hits(site: NewsSite) -> int:
    return sum(n for path, n in site.hits.items() if path.startswith("/news/"))


async def test_an_unchanged_second_poll_parses_nothing_and_reads_no_article(
    newssite: NewsSite, context: Callable[[Config], Context], parse_calls: Counter[str]
) -> None:
    ctx = context(make_config(newssite, KINDS))
    first = await poll_all(ctx.config.sources, ctx)
    assert [r.status for r in first] == ["ok"] * 7, [(r.source_id, r.error) for r in first]
    assert all(r.entries > 0 for r in first)
    assert sum(r.articles for r in first) >= 7
    assert set(parse_calls) == {"rss", "html", "jcms", "jpaas", "gkmlpt", "json"}

    parse_calls.clear()
    newssite.reset_counters()
    again = await poll_all(ctx.config.sources, ctx)
    assert [r.status for r in again] == ["not_modified"] * 7
    assert all(r.entries == 0 and r.articles == 0 for r in again)
    assert not parse_calls  # nothing parsed
    assert article_hits(newssite) == 0  # no article fetched
    # GETs were conditional and answered 304; the POST API was recognised by its bytes
    assert sum(newssite.not_modified.values()) == 7 - 1
    posts = [r for r in newssite.requests if r.method == "POST"]
    assert len(posts) == 1


async def test_a_changed_list_reads_only_the_new_article(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    ctx = context(make_config(newssite, KINDS))
    await poll_all(ctx.config.sources, ctx)
    newssite.reset_counters()
    newssite.publish(
        {
            "id": "hb-award",
            "title": "湖北省长江质量奖评审结果公布",
            "published": "2025-11-20",
            "body": "11月20日，湖北省公布长江质量奖评审结果，推动质量强省建设。",
        }
    )
    # One after the other: the first source to list it reads it, the others find it stored.
    reports = {s.id: await poll(s, ctx) for s in ctx.config.sources}
    assert all(r.status == "ok" for r in reports.values()), reports
    assert sum(r.articles for r in reports.values()) == 1
    assert newssite.hits["/news/zh/hb-award.html"] == 1
    assert article_hits(newssite) == 1


async def test_pages_are_followed_while_every_item_is_new(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    paged = """\
  - id: paged
    name: paged TRS list
    kind: html
    url: "{url}/paged/index.html"
    list: {{item: "ul.news-list li", date: "span.date"}}
    page_url: "index_{{i}}.html"
    max_pages: 5
    backlog: 1
"""
    newssite.page_size = 2
    ctx = context(make_config(newssite, paged))
    first = await poll(ctx.config.sources[0], ctx)
    assert first.pages == 1 and first.entries == 2  # a first poll reads its backlog only
    for n in range(5):  # a burst: five new items, more than a page
        newssite.publish(
            {
                "id": f"burst-{n}",
                "title": f"质量强省第{n}号通知",
                "published": "2025-11-21",
                "time": f"1{n}:00",
                "body": f"第{n}号通知：推进质量强省建设，开展质量提升行动。",
            }
        )
    newssite.reset_counters()
    second = await poll(ctx.config.sources[0], ctx)
    assert second.status == "ok" and second.new == 5, second
    assert second.pages == 3  # page 3 showed an item already seen: no page 4
    assert newssite.hits["/paged/index_2.html"] == 1 and newssite.hits["/paged/index_3.html"] == 0
    assert second.articles == 5


async def test_a_failed_article_is_retried_by_the_next_poll(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    ctx = context(make_config(newssite, KINDS.split("  - id: html")[0]))
    await poll(ctx.config.sources[0], ctx)
    newssite.publish(
        {
            "id": "zj-award",
            "title": "浙江省政府质量奖揭晓",
            "published": "2025-11-22",
            "listed_in": ["rss"],
            "body": "11月22日，浙江省政府质量奖揭晓，推进质量强省建设。",
        }
    )
    feed = await read_listing(ctx.config.sources[0], ctx.fetcher, timeout=2)
    assert any("zj-award" in e.url for e in feed.entries)
    original = newssite.page

    def flaky(path: str, root: str | None = None, query: str = "") -> Any:
        if "zj-award" in path and newssite.hits[path] <= 1:
            return None  # listed before its page is up: a 404 the first time
        return original(path, root, query)

    newssite.page = flaky  # type: ignore[method-assign]
    report = await poll(ctx.config.sources[0], ctx)
    assert report.status == "ok" and report.articles == 0 and report.warnings
    again = await poll(ctx.config.sources[0], ctx)  # no 304: the validators were not kept
    assert again.status == "ok" and again.articles == 1


async def test_faults_stay_with_their_source(
    newssite: NewsSite, context: Callable[[Config], Context], caplog: pytest.LogCaptureFixture
) -> None:
    faults = "".join(
        f'  - {{{{id: {name}, name: {name}, kind: {kind}, url: "{{url}}{path}"{extra}}}}}\n'
        for name, kind, path, extra in [
            ("slow", "rss", "/fault/slow?delay=3", ", timeout: 0.5s"),
            ("reset", "rss", "/fault/reset", ""),
            ("five-hundred", "rss", "/fault/500", ""),
            ("loop", "rss", "/fault/redirect-loop", ""),
            ("malformed", "rss", "/fault/malformed.xml", ""),
            ("garbage", "rss", "/fault/garbage", ""),
            ("huge", "rss", "/fault/huge", ""),
            ("bad-json", "json", "/fault/garbage", ", fields: {{items: a}}"),
            ("not-jcms", "jcms", "/gbk/list.html", ""),
            ("no-shell", "jpaas", "/feed.xml", ""),
        ]
    )
    ctx = context(make_config(newssite, KINDS + faults))
    reports = {r.source_id: r for r in await poll_all(ctx.config.sources, ctx)}
    # A feed with broken XML whose entry feedparser recovers is read, with a warning.
    assert (
        reports["malformed"].status == "ok" and "malformed feed" in reports["malformed"].warnings[0]
    )
    good = ["rss", "html", "jcms-page", "jcms-api", "jpaas", "gkmlpt", "json", "malformed"]
    assert all(reports[s].status == "ok" for s in good), {s: reports[s].error for s in good}
    bad = {s: r.error for s, r in reports.items() if s not in good}
    assert all(r.status == "error" for s, r in reports.items() if s not in good), bad
    assert "timed out" in (bad["slow"] or "") and "HTTP 500" in (bad["five-hundred"] or "")
    assert "too many redirects" in (bad["loop"] or "")
    for source_id, error in bad.items():
        assert any(
            f"source {source_id}:" in r.getMessage() and (error or "") in r.getMessage()
            for r in caplog.records
        ), source_id
    state = ctx.store.source_state("garbage")
    assert state is not None and state.consecutive_failures == 1 and state.last_error


def test_now_is_utc() -> None:  # the fixtures above rely on the store's aware datetimes
    assert datetime.now(UTC).tzinfo is UTC


# ── hostile lists: internal links, bursts, short pages, dribbles ────────────


def fault_source(site: NewsSite, path: str, extra: str = "") -> str:
    return (
        f'  - id: hostile\n    name: Hostile\n    kind: rss\n    url: "{site.url}{path}"{extra}\n'
    )


async def test_links_into_an_internal_service_are_never_fetched_nor_stored(
    newssite: NewsSite, context: Callable[[Config], Context], caplog: pytest.LogCaptureFixture
) -> None:
    with NewsSite() as internal:  # another port of this machine: an internal service
        secret = internal.url_for("/feed.xml")
        bounce = f"/fault/redirect?to={quote(secret, safe='')}"
        links = f"/fault/links.xml?to={quote(secret, safe='')}&to={quote(bounce, safe='')}"
        ctx = context(make_config(newssite, fault_source(newssite, links)))
        [report] = await poll_all(ctx.config.sources, ctx)
        assert report.status == "ok" and report.new == 2 and report.articles == 0
        refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) == 2 and all(m.startswith("source hostile: ") for m in refusals)
        assert any(secret in m for m in refusals) and any(bounce in m for m in refusals)
        assert ctx.store.counts()["articles"] == 0
        # A refusal is final: the links are remembered, not tried on every poll.
        newssite.reset_counters()
        await poll_all(ctx.config.sources, ctx)
        assert not newssite.hits["/fault/redirect"]
        assert not internal.hits  # nothing ever reached it


async def test_a_burst_is_read_a_capped_number_at_a_time_without_a_gap(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    ctx = context(
        make_config(
            newssite, fault_source(newssite, "/fault/many.xml?n=12", extra="\n    max_articles: 5")
        )
    )
    read: list[int] = []
    for expected in (5, 5, 2, 0):
        newssite.reset_counters()
        [report] = await poll_all(ctx.config.sources, ctx)
        pages = sorted(int(p.rsplit("/", 1)[1]) for p in newssite.hits if "/fault/page/" in p)
        assert report.articles == len(pages) == expected, (report, pages)
        read += pages
    assert read == list(range(1, 13))  # oldest first, each once, none skipped


async def test_pages_too_short_to_keep_are_not_fetched_again(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    ctx = context(make_config(newssite, fault_source(newssite, "/fault/many.xml?n=3&kind=short")))
    [report] = await poll_all(ctx.config.sources, ctx)
    assert report.articles == 0 and "too short" in report.warnings[0]
    longer = make_config(newssite, fault_source(newssite, "/fault/many.xml?n=4&kind=short"))
    ctx.config = longer  # the list gains an item: it is parsed again
    newssite.reset_counters()
    await poll_all(ctx.config.sources, ctx)
    assert [p for p in newssite.hits if "/fault/short/" in p] == ["/fault/short/4"]


async def test_a_huge_title_is_cut(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    ctx = context(make_config(newssite, fault_source(newssite, "/fault/long-title.xml?n=50000")))
    [report] = await poll_all(ctx.config.sources, ctx)
    assert report.articles == 1, report
    [story] = ctx.store.recent_stories()
    assert story.title.startswith("质量强省") and len(story.title) <= 300


async def test_a_list_that_dribbles_fails_the_poll_at_the_deadline(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    yaml = fault_source(newssite, "/fault/drip?every=0.3", extra="\n    timeout: 1s")
    ctx = context(make_config(newssite, yaml))
    started = time.monotonic()
    [report] = await asyncio.wait_for(poll_all(ctx.config.sources, ctx), 20)
    assert report.status == "error" and "no complete answer within 1s" in (report.error or "")
    assert time.monotonic() - started < 5
    state = ctx.store.source_state("hostile")
    assert state is not None and state.consecutive_failures == 1


@pytest.mark.slow
async def test_a_poll_past_its_interval_fails_and_keeps_what_it_read(
    newssite: NewsSite, context: Callable[[Config], Context]
) -> None:
    # Twelve article pages of 1.8 s each, two at a time: 11 s, past 9/10 of a 10 s interval.
    pages = "&".join(f"to={quote(f'/fault/page/{n}?delay=1.8', safe='')}" for n in range(12))
    yaml = fault_source(newssite, f"/fault/links.xml?{pages}", extra="\n    interval: 10s")
    ctx = context(make_config(newssite, yaml))
    started = time.monotonic()
    [report] = await poll_all(ctx.config.sources, ctx)
    assert time.monotonic() - started < 10.5
    assert report.status == "error" and "overran its deadline (9s)" in (report.error or "")
    assert "articles left unread for the next poll" in (report.error or "")
    state = ctx.store.source_state("hostile")
    assert state is not None and state.consecutive_failures == 1
    assert ctx.store.counts()["articles"] == report.articles >= 1  # what was read is kept


async def test_the_story_index_is_loaded_at_the_first_article_and_only_once(
    newssite: NewsSite, tmp_path: Path
) -> None:
    """Loading the recent stories costs seconds at 100,000 stored articles: a pass
    that stores nothing never asks for them, one that stores articles asks once."""
    feed_only = KINDS.split("  - id: html")[0]
    loads: list[StoryIndex] = []

    def load() -> StoryIndex:
        loads.append(StoryIndex())
        return loads[-1]

    db = DbRunner()
    try:
        async with Fetcher(backoff=0.01, retries=1, max_bytes=1_000_000) as fetcher:
            for name, backlog in (("quiet", 0), ("news", 50)):
                store = Store(f"sqlite:///{tmp_path / name}.db")
                store.migrate()
                config = make_config(newssite, feed_only, backlog=backlog)
                ctx = build_context(config, store=store, db=db, fetcher=fetcher, index=load)
                try:
                    first = await poll_all(ctx.config.sources, ctx)
                    again = await poll_all(ctx.config.sources, ctx)
                finally:
                    store.close()
                assert [r.status for r in first + again] == ["ok", "not_modified"]
                if backlog == 0:  # every entry seen, none stored: nothing to match
                    assert first[0].articles == 0 and loads == []
                else:
                    assert first[0].articles > 0 and len(loads) == 1
                    assert ctx.index is loads[0] and len(loads[0]) == first[0].articles
    finally:
        db.close()


async def test_a_forgotten_index_is_read_again_from_storage(
    newssite: NewsSite, tmp_path: Path
) -> None:
    """`run` drops its story index daily (what aged out of the windows leaves
    memory); the next article to be matched reads it again, whole, from storage."""
    from monitor.pipeline import load_index

    feed_only = KINDS.split("  - id: html")[0]
    store = Store(f"sqlite:///{tmp_path / 'news'}.db")
    store.migrate()
    loads: list[StoryIndex] = []

    def load() -> StoryIndex:
        loads.append(load_index(store, datetime(2000, 1, 1, tzinfo=UTC)))
        return loads[-1]

    db = DbRunner()
    try:
        async with Fetcher(backoff=0.01, retries=1, max_bytes=1_000_000) as fetcher:
            config = make_config(newssite, feed_only, backlog=50)
            ctx = build_context(config, store=store, db=db, fetcher=fetcher, index=load)
            [report] = await poll_all(ctx.config.sources, ctx)
            assert report.articles > 0 and len(loads) == 1
            await db(ctx.forget_index)
            assert len(loads) == 1  # read at need, not at once
            again = await db(lambda: ctx.index)
            assert len(loads) == 2 and again is loads[1] is not loads[0]
            assert len(again) == report.articles == len(loads[0])
            assert again.story_ids() == loads[0].story_ids()
    finally:
        db.close()
        store.close()
