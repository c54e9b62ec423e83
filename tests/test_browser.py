"""`render: browser`: a real headless Chromium (Playwright) through a JavaScript challenge.

Runs only where Playwright (``pip install '.[browser]'``) and a Chromium
(``MONITOR_CHROMIUM`` or /usr/bin/chromium) are installed; elsewhere it is
skipped with the reason, and nothing else in the product needs either.
"""

from __future__ import annotations

import importlib.util

import pytest

from monitor.config import parse_config
from monitor.errors import FetchError
from monitor.fetch import Fetcher, chromium_path
from monitor.listing import read_listing
from tests.servers.newssite import NewsSite

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="Playwright is not installed (pip install '.[browser]')",
    ),
    pytest.mark.skipif(
        chromium_path() is None,
        reason="no Chromium at /usr/bin/chromium (apt install chromium) or MONITOR_CHROMIUM",
    ),
]


def challenged(site: NewsSite, render: str) -> object:
    text = f"""\
version: 1
sources:
  - id: challenged
    name: behind a challenge
    kind: html
    url: "{site.url}/challenge/gbk/list.html"
    render: {render}
    list: {{item: "ul.news-list li", date: "span.date"}}
"""
    return parse_config(text, env={}).sources[0]


async def test_a_javascript_challenge_is_passed_in_the_browser(newssite: NewsSite) -> None:
    async with Fetcher() as fetcher:
        with pytest.raises(FetchError, match=r"\[challenged\] .*HTTP 412"):
            await read_listing(challenged(newssite, "http"), fetcher, timeout=10)
        listing = await read_listing(challenged(newssite, "browser"), fetcher, timeout=20)
        assert len(listing.entries) >= 5 and all(e.published for e in listing.entries)
        assert all("/news/zh/" in e.url for e in listing.entries)
        # the cookie stays in the browser: an article behind the challenge loads at once
        page = await fetcher.get(
            newssite.url_for("/challenge/news/zh/sc-opinions-zh.html"),
            source_id="challenged",
            timeout=20,
            render=True,
        )
    assert "质量强省" in page.text and page.status == 200
    challenges = [r for r in newssite.requests if r.path.startswith("/challenge/")]
    assert "qm_challenge=passed" in (challenges[-1].headers.get("Cookie") or "")


async def test_json_seen_by_the_browser_is_its_body_not_the_dom(newssite: NewsSite) -> None:
    async with Fetcher() as fetcher:
        result = await fetcher.get(
            newssite.url_for("/gkmlpt/api/all/0?page=1"), source_id="s", timeout=20, render=True
        )
    assert result.text.startswith('{"total"')
