"""CPU time per new article through the pipeline, stage by stage, against feedparser.

    .venv/bin/python -m bench.pipeline_cost [--articles 300]      (also: make bench-pipeline)

A mixed Chinese and English set: the fixture site's twelve article pages
(navigation, reader comments, glued-on articles, traditional characters with
pinyin glosses, English) and distinct articles from the feed farm's text
generator (bench/feedfarm.py: 70 % Chinese, 30 % English), each a new article
with its own URL and text. Every article goes, one at a time on one core,
through the steps a poll runs for it:

    extract (configured selector) → normalise → classify → summarise
        → dedup (fingerprint, candidates from the story index, match)
        → store (the poll's transaction: article, story, outbox, entries; SQLite)

timed with ``time.process_time``. Extraction without a selector (site metadata
and trafilatura, for sources without ``article.content``) is timed on the side.
The yardstick, in the same run: ``feedparser.parse`` of a one-item RSS feed
carrying the same article (title, link, date, description, the body as
content:encoded). Prints one JSON object: milliseconds per article per stage,
each stage's share, and the pipeline's cost in feedparser parses.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

import feedparser

from bench.feedfarm import Texts
from monitor.classify import Lexicon, classify
from monitor.config import ArticleSelectors, ChannelFilter, parse_config
from monitor.dedup import Concepts, StoryIndex, fingerprint, match_story
from monitor.extract import extract_article
from monitor.model import Article, Entry, Processed
from monitor.normalize import canonical_url, normalize_article, text_hash
from monitor.pipeline import commit
from monitor.summarize import summarize
from storage.store import Cached, Store
from tests.servers.newssite import NewsSite, article_path

ROOT = "http://127.0.0.1:9"
SELECTORS = ArticleSelectors(content="div.article-content")
STAGES = ("extract", "normalise", "classify", "summarise", "dedup", "store")


@dataclass
class Page:
    url: str
    html: str
    title: str
    published: datetime


def pages(count: int) -> list[Page]:
    """The fixture's article pages, then distinct farm articles, ``count`` in all."""
    site = NewsSite()  # not started: pages are rendered without a server
    found: list[Page] = []
    for a in site.articles:
        rendered = site.page(article_path(a), root=ROOT)
        if rendered is None:
            continue
        charset = rendered.content_type.partition("charset=")[2] or "utf-8"
        found.append(
            Page(
                ROOT + article_path(a),
                rendered.body.decode(charset if charset != "gbk" else "gb18030", "replace"),
                a["title"],
                datetime(2025, 11, 20, tzinfo=UTC),
            )
        )
    texts = Texts()
    n = 0
    while len(found) < count:
        item = texts.item(1, n, time.time() - 3600)
        body = "\n".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)
        html = (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(item.title)}'
            '</title></head><body><div class="nav"><a href="/">首页</a> <a href="/news/">'
            f'新闻中心</a></div><h1>{escape(item.title)}</h1><div class="article-content">'
            f'{body}</div><div class="footer">版权所有</div></body></html>'
        )
        found.append(
            Page(
                f"{ROOT}/farm/{n}.html",
                html,
                item.title,
                datetime.fromtimestamp(item.published, UTC),
            )
        )
        n += 1
    return found[:count]


def feed_of(page: Page, text: str) -> bytes:
    """A one-item RSS feed carrying this article: what feedparser is timed on."""
    body = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n") if p.strip())
    lead = text.split("\n", 1)[0]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
        f"<link>{ROOT}/</link><description>d</description><item>"
        f"<title>{escape(page.title)}</title><link>{page.url}</link>"
        f'<guid isPermaLink="false">{page.url}</guid>'
        f"<pubDate>{format_datetime(page.published)}</pubDate>"
        f"<description>{escape(lead)}</description>"
        f"<content:encoded>{escape(body)}</content:encoded></item></channel></rss>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    args = parser.parse_args()
    config = parse_config(
        f'version: 1\nsources:\n  - {{id: bench, name: Bench, kind: rss, url: "{ROOT}/f"}}\n',
        env={},
    )
    source = config.sources[0]
    lexicon, concepts = Lexicon.load(), Concepts.load()
    channels = [("main", ChannelFilter())]
    chosen = pages(args.articles)
    for page in chosen[:12]:  # warm caches (OpenCC, regular expressions) outside the timing
        normal = normalize_article(page.title, extract_article(page.html, page.url, SELECTORS).text)
        classify(normal.title, normal.text, lexicon)

    spent: dict[str, float] = defaultdict(float)
    per_language: dict[str, list[float]] = defaultdict(list)
    trafilatura_cpu = feedparser_cpu = 0.0
    stories = 0
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'bench.db'}")
        store.migrate()
        index = StoryIndex()
        try:
            for n, page in enumerate(chosen):
                url = f"{page.url}?n={n}"  # each one a new article
                t0 = time.process_time()
                extracted = extract_article(page.html, url, SELECTORS)
                t1 = time.process_time()
                normal = normalize_article(page.title, extracted.text)
                t2 = time.process_time()
                verdict = classify(normal.title, normal.text, lexicon)
                t3 = time.process_time()
                summary = summarize(normal.title, normal.text, normal.language, facts=verdict.facts)
                t4 = time.process_time()
                digest = text_hash(normal.text)
                fp = fingerprint(
                    normal.title,
                    normal.text,
                    normal.language,
                    digest,
                    concepts,
                    doc_titles=verdict.facts.titles,
                )
                when = page.published
                match_story(
                    fp,
                    verdict.province,
                    when,
                    index.candidates(fp, verdict.province, when),
                    concepts,
                )
                t5 = time.process_time()
                entry = Entry(source.id, url, page.title, page.published, guid=url)
                article = Article(
                    source_id=source.id,
                    url=url,
                    canonical_url=canonical_url(url),
                    title=normal.title,
                    text=normal.text,
                    language=normal.language,
                    text_hash=digest,
                    original_title=page.title,
                    guid=url,
                    published=page.published,
                )
                created, _alerts = commit(
                    store,
                    source,
                    source.url,
                    Cached(f'"{n}"'),
                    [(article.canonical_url, url)],
                    [Processed(entry, article, verdict, summary, fp)],
                    channels,
                    datetime.now(UTC),
                    10,
                    index,
                )
                t6 = time.process_time()
                stories += created
                for stage, took in zip(
                    STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
                ):
                    spent[stage] += took
                per_language[normal.language].append(t6 - t0)

                t7 = time.process_time()
                extract_article(page.html, url, None)  # metadata + trafilatura
                t8 = time.process_time()
                feedparser.parse(feed_of(page, normal.text))
                t9 = time.process_time()
                trafilatura_cpu += t8 - t7
                feedparser_cpu += t9 - t8
        finally:
            store.close()

    n = len(chosen)
    total = sum(spent.values())
    ms = {stage: round(spent[stage] / n * 1000, 2) for stage in STAGES}
    print(
        json.dumps(
            {
                "benchmark": "pipeline_cost",
                "machine": f"{platform.machine()}, CPython {platform.python_version()}",
                "articles": n,
                "languages": {k: len(v) for k, v in per_language.items()},
                "stories_created": stories,
                "cpu_ms_per_article": round(total / n * 1000, 2),
                "cpu_ms_per_stage": ms,
                "stage_share": {stage: round(spent[stage] / total, 3) for stage in STAGES},
                "cpu_ms_per_article_by_language": {
                    k: round(statistics.mean(v) * 1000, 2) for k, v in per_language.items()
                },
                "extract_without_selector_ms": round(trafilatura_cpu / n * 1000, 2),
                "feedparser_parse_of_its_feed_entry_ms": round(feedparser_cpu / n * 1000, 2),
                "pipeline_in_feedparser_parses": round(total / feedparser_cpu, 1),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
