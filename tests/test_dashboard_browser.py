"""The dashboard in a real headless Chromium: it loads, its filters work, and a
screenshot is taken.

Debian's ``chromium`` driven by Playwright for Python through its
``executable_path`` (Playwright's own browser download is not used). Without
either, the test is skipped with the reason; ``MONITOR_REQUIRE_BROWSER=1``
(set by CI) makes that a failure. The screenshot goes under pytest's
temporary directory, or into ``MONITOR_TEST_ARTIFACTS`` when set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.cli import main
from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.web import Status, WebApp, WebServer
from storage.schema import stories
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import write_config

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE = os.environ.get("MONITOR_REQUIRE_BROWSER", "") not in ("", "0", "false")


def _chromium() -> str:
    """Debian's Chromium, or skip (fail where MONITOR_REQUIRE_BROWSER is set)."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright for Python is not installed: pip install -e '.[browser-tests]'"
    if reason is None and path is None:
        reason = "Debian's chromium is not installed: apt-get install chromium"
    if reason is not None:
        if REQUIRE:
            pytest.fail(f"MONITOR_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    assert path is not None
    return path


@pytest.fixture
def dashboard(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, Store]]:
    """The dashboard over a store filled by `run --once`, served on 127.0.0.1."""
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    # One source fails, with a long unbroken URL in its error: the table must still fit.
    extra = (
        "  - id: broken\n"
        f"    name: 出错的来源{'很长的名字' * 12}\n"
        "    kind: rss\n"
        f"    url: {newssite.url}/gone/{'x' * 300}.xml\n"
    )
    config = write_config(tmp_path, newssite, extra=extra)
    assert main(["--config", str(config), "run", "--once"]) == 0
    store = Store(db_url)
    _recent_stories(store)
    status = Status(mode="serve", replica="browser-test")
    status.set_ready()
    app = WebApp(store, load_config(config), status, Metrics(replica="t", mode="serve"))
    server = WebServer(app, "127.0.0.1", 0).start()
    try:
        yield server.url, store
    finally:
        server.stop()
        store.close()


def _recent_stories(store: Store) -> None:
    """A few weeks of stories up to now, so that the chart has something to show."""
    from datetime import UTC, datetime, timedelta

    from tests.test_store import story_values

    now = datetime.now(UTC)
    provinces = ["CN-SC", "CN-GD", "CN-ZJ", "CN-SC", "CN", "CN-SC", "CN-JS", "CN-GD"]
    with store.transaction() as tx:
        for i in range(24):
            when = now - timedelta(days=3 * i + 1)
            tx.insert_story(
                story_values(
                    title=f"第{i}条 质量强省建设推进会召开",
                    province=provinces[i % len(provinces)],
                    published=when,
                    first_seen=when,
                )
            )


def _count(store: Store, **where: Any) -> int:
    with store.engine.connect() as conn:
        query = select(func.count()).select_from(stories).where(stories.c.relevant.is_(True))
        for column, value in where.items():
            query = query.where(stories.c[column] == value)
        return int(conn.execute(query).scalar_one())


def test_the_dashboard_in_chromium(dashboard: tuple[str, Store], tmp_path: Path) -> None:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    url, store = dashboard
    artifacts = Path(os.environ.get("MONITOR_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "dashboard.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.wait_for_selector("#stories")
            assert page.title().startswith("报道")  # Chinese by default
            relevant = _count(store)
            assert page.locator("li.story").count() == min(relevant, 50)
            assert page.locator("#sources tbody tr").count() == 4
            status = page.locator("#source-status")
            assert status.inner_text() == "4 个来源中 1 个失败"
            assert status.bounding_box()["y"] < page.locator("#filters").bounding_box()["y"]
            # Everything within 1280 px: no horizontal scrolling, the tables inside.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            assert "x" * 100 in page.locator("#sources").inner_text()  # the long URL is there
            for table in ("#sources", "#stories", "#chart-svg"):
                box = page.locator(table).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1280, table
            # The chart: drawn by the server (no script anywhere), one cell per
            # province and week that links to its stories.
            assert page.locator("script").count() == 0
            assert page.locator("#chart-svg text", has_text="四川").count() == 1
            cells = page.locator("#chart-svg a.cell")
            assert cells.count() >= 5
            page.screenshot(path=str(shot), full_page=True)
            page.screenshot(path=str(artifacts / "dashboard-top.png"))
            page.locator("#chart-svg").screenshot(path=str(artifacts / "chart.png"))
            page.locator("#sources").screenshot(path=str(artifacts / "sources.png"))

            cell = cells.first
            counted = int(cell.locator("text").inner_html())
            cell.click()
            page.wait_for_url("**from=**")
            assert page.locator("li.story").count() == counted

            # English on request, and it stays English through the form
            page.goto(url + "/?lang=en")
            page.wait_for_selector("#stories")
            assert page.title().startswith("Stories")
            assert page.locator("#source-status").inner_text() == "1 of 4 sources failing"
            page.select_option("#show", "all")
            page.click("#apply")
            page.wait_for_url("**show=all**")
            assert "lang=en" in page.url and page.locator("#apply").inner_text() == "Apply"
            page.screenshot(path=str(artifacts / "dashboard-en.png"), full_page=True)
            page.goto(url + "/")
            page.wait_for_selector("#stories")

            # province: pick Sichuan in the form and apply
            page.select_option("#province", "CN-SC")
            page.click("#apply")
            page.wait_for_url("**province=CN-SC**")
            items = page.locator("li.story")
            assert items.count() == _count(store, province="CN-SC") > 0
            for i in range(items.count()):
                assert items.nth(i).get_attribute("data-province") == "CN-SC"
            assert page.locator("#province").input_value() == "CN-SC"  # the form remembers

            # category, on top of the province
            category = items.first.get_attribute("data-category") or ""
            page.select_option("#category", category)
            page.click("#apply")
            page.wait_for_url(f"**category={category}**")
            assert page.locator("li.story").count() == _count(
                store, province="CN-SC", category=category
            )

            # dates: nothing published in 2099
            page.click("#reset")
            page.wait_for_selector("#stories")
            page.fill("#from", "2099-01-01")
            page.click("#apply")
            page.wait_for_selector("p.empty")
            assert page.locator("li.story").count() == 0

            # search: a word from one story's title finds that story
            page.click("#reset")
            page.wait_for_selector("#stories")
            title = page.locator("li.story h3 a").first.inner_text()
            page.fill("#q", title[:6])
            page.press("#q", "Enter")
            page.wait_for_url("**q=**")
            assert 1 <= page.locator("li.story").count() < relevant
            assert title in page.locator("#stories").inner_text()

            # a story's page: its articles and why they were grouped
            page.click("li.story h3 a")
            page.wait_for_selector("#articles")
            assert page.locator("#articles tbody tr").count() >= 1
            assert "lead" in page.locator("#articles").inner_text()
            page.screenshot(path=str(artifacts / "story.png"), full_page=True)

            # the failing source's page fits too, its long URL and error wrapped
            page.goto(url + "/sources/broken")
            page.wait_for_selector("#polls")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            page.screenshot(path=str(artifacts / "source.png"), full_page=True)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    print(f"screenshots: {shot} and {artifacts / 'story.png'}")
