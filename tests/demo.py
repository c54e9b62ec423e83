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


def run_demo() -> int:
    with NewsSite() as site, tempfile.TemporaryDirectory(prefix="quality-monitor-demo-") as tmp:
        config = Path(tmp) / "sources.yaml"
        config.write_text(CONFIG.format(url=site.url), encoding="utf-8")
        os.environ.pop("TELEGRAM_BOT_TOKEN", None)
        os.environ["MONITOR_DB_URL"] = f"sqlite:///{Path(tmp) / 'demo.db'}"
        print(
            f"demo news site at {site.url} (twelve articles, seven about quality work)\n",
            flush=True,
        )
        status = main(["--config", str(config), "run", "--once"])
        print("\nrunning again: nothing new should be posted\n", flush=True)
        status = status or main(["--config", str(config), "run", "--once"])
        return status


if __name__ == "__main__":
    sys.exit(run_demo())
