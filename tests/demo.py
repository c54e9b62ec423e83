"""`make demo`: a small local news site on 127.0.0.1 and one pass of quality-monitor over it.

Needs no network and no Telegram token: alerts are printed to the console.
The site serves the texts in tests/data/site (an RSS feed, a GBK list page, a
page with a mislabelled charset, articles with navigation, glued-on articles
and reader comments), exactly as the tests use it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from monitor.cli import main
from tests.servers.newssite import NewsSite

CONFIG = """\
version: 1
defaults: {{interval: 10m, timeout: 5s, backlog: 50}}
sources:
  - id: demo-rss
    name: 演示站 RSS
    kind: rss
    url: {url}/feed.xml
  - id: demo-gbk
    name: 演示站 工作动态 (GBK)
    kind: html
    url: {url}/gbk/list.html
    list: {{item: "ul.news-list li", link: "a", date: "span.date"}}
    article: {{content: "div.article-content"}}
  - id: demo-mislabelled
    name: 演示站 (charset mislabelled)
    kind: html
    url: {url}/mislabelled/list.html
    list: {{item: "ul.news-list li", link: "a", date: "span.date"}}
  - id: demo-broken
    name: a source that answers 500
    kind: rss
    url: {url}/fault/500
channels:
  - id: console
    kind: console
"""


# What one pass finds, said the same way in the banner, the log line and the
# README ("make demo"); tests/test_demo.py checks that the three agree.
ARTICLES = 12  # texts on the site, 7 of them about quality work
RELEVANT_ARTICLES = 7
ENTRIES = 15  # list entries: the RSS feed lists 7, the GBK page 6, the mislabelled page 2
STORIES = 11  # one per event: 3 texts are listed twice, and 2 texts report one event
POSTS = 6  # the relevant stories: 7 relevant texts, 2 of them one event

BANNER = f"""\
demo news site at {{url}}: {ARTICLES} articles, {RELEVANT_ARTICLES} of them about quality work.
Expect {ENTRIES} new entries from three sources ({ARTICLES} articles, three of them listed by two
sources), grouped into {STORIES} new stories (the Chinese and English reports of the Sichuan
press conference are one story, and so is an article listed twice); {POSTS} of the stories
are relevant, so {POSTS} alerts are printed below. Also expected, on purpose:
  * "stale: the newest item is from 2025 … days ago": the site's articles are dated 2025,
    so each source looks like a site that stopped publishing; this is the source-health
    check at work (flagged when the newest item is older than 5 times the usual gap
    between items, and at least 10 days old);
  * "source demo-broken: … HTTP 500": a source that always fails, to show that a failing
    source is reported with its cause while the others carry on;
  * one article has no date on its page: its post shows none rather than today's.
"""


def run_demo() -> int:
    with NewsSite() as site, tempfile.TemporaryDirectory(prefix="quality-monitor-demo-") as tmp:
        config = Path(tmp) / "sources.yaml"
        config.write_text(CONFIG.format(url=site.url), encoding="utf-8")
        os.environ.pop("TELEGRAM_BOT_TOKEN", None)
        os.environ["MONITOR_DB_URL"] = f"sqlite:///{Path(tmp) / 'demo.db'}"
        print(BANNER.format(url=site.url), flush=True)
        status = main(["--config", str(config), "run", "--once"])
        print(
            "\nrunning again: the lists are unchanged (HTTP 304 or the same bytes), so no "
            "article is fetched and nothing new is posted\n",
            flush=True,
        )
        status = status or main(["--config", str(config), "run", "--once"])
        return status


if __name__ == "__main__":
    sys.exit(run_demo())
