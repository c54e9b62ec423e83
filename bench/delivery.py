"""Delivery latency: from an article's first sighting to its post accepted by the Bot API.

    .venv/bin/python -m bench.delivery [--single 5] [--queued 200] [--pace 3]
                                                              (also: make bench-delivery)

``python -m monitor run`` polls the fixture news site (an RSS source, every
10 s) and posts to the Bot API test server, whose flood limits are on as
Telegram's are (20 posts a minute to one chat, 30 a second overall); the
channel's ``pace`` is 3 s, the default (Telegram's 20 a minute), and its
``backlog_digest`` is off (by default, more than 30 waiting posts go out as one
digest instead: tests/test_delivery.py covers that).

* ``single``: one new article at a time, nothing queued: from the poll that
  stored it (the story's ``first_seen``) to the server accepting its post;
* ``queued``: ``--queued`` new articles at once (distinct events, so as many
  stories), found by one poll: the latency of each post, the rate they go
  at, how many 429s the server answered, whether they kept their order.

Also measured, for every post: the window between the server accepting a post
and its outbox row being committed as sent (watched from another connection
every 2 ms) — the one moment a crash could post twice. With the default 200
queued at 3 s each, the run takes about 11 minutes. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite

PROVINCES = ("湖北", "湖南", "河南", "河北", "山西", "陕西", "甘肃", "青海", "云南", "贵州")
CHARACTERS = (
    "的一是在了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过"
    "子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加都两体制"
)


def article(n: int) -> dict[str, Any]:
    """A relevant article of its own event (no other is near it, in words or in facts)."""
    rng = random.Random(n)
    province = PROVINCES[n % len(PROVINCES)]
    filler = "\n\n".join("".join(rng.choices(CHARACTERS, k=90)) + "。" for _ in range(3))
    return {
        "id": f"delivery-{n}",
        "title": f"{province}召开第{n + 1}次质量强省建设推进会",
        "published": time.strftime("%Y-%m-%d"),
        "time": time.strftime("%H:%M"),
        "listed_in": ["rss"],
        "body": f"{province}省第{n + 1}次质量强省建设推进会召开，部署质量提升行动，推动质量强省"
        f"建设。\n\n{filler}",
    }


class Watcher(threading.Thread):
    """Notes when each post's outbox row is first seen committed as sent."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.marked: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db, timeout=5)
        try:
            while not self.stop.is_set():
                now = time.time()
                try:
                    rows = conn.execute(
                        "SELECT message_id FROM outbox WHERE kind = 'post' AND status = 'sent'"
                    ).fetchall()
                except sqlite3.Error:
                    rows = []
                for (message_id,) in rows:
                    self.marked.setdefault(str(message_id), now)
                time.sleep(0.002)
        finally:
            conn.close()


def first_seen(db: Path, url: str) -> float:
    conn = sqlite3.connect(db, timeout=5)
    try:
        row = conn.execute("SELECT first_seen FROM stories WHERE url = ?", (url,)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise RuntimeError(f"no story for {url}")
    value = datetime.fromisoformat(str(row[0]))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()  # stored as UTC


def wait_for_posts(api: BotApiServer, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(api.sent) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    if len(api.sent) < count:
        raise RuntimeError(f"{len(api.sent)} posts of {count} after {timeout:.0f}s")


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=5, help="articles, one at a time")
    parser.add_argument("--queued", type=int, default=200, help="articles found at once")
    parser.add_argument("--pace", type=float, default=3.0, help="the channel's pace, seconds")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "delivery",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}",
        "flood_limits": {"per_chat_per_minute": 20, "per_second": 30},
        "pace_s": args.pace,
    }
    with tempfile.TemporaryDirectory() as tmp, NewsSite() as site, BotApiServer() as api:
        folder = Path(tmp)
        api.flood_limit(per_chat_per_minute=20, per_second=30)
        db = folder / "monitor.db"
        config = folder / "sources.yaml"
        config.write_text(
            f"""\
version: 1
defaults: {{interval: 10s, timeout: 5s, backlog: 0, jitter: 0.1}}
sources:
  - {{id: site, name: 测试站, kind: rss, url: "{site.url}/feed.xml"}}
channels:
  - {{id: main, kind: telegram, chat: "@quality_test", pace: {args.pace:g}s, backlog_digest: 0}}
""",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.url,
            "MONITOR_DB_URL": f"sqlite:///{db}",
            "MONITOR_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        watcher = Watcher(db)
        try:
            deadline = time.monotonic() + 60
            while not site.hits["/feed.xml"] and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # the first poll (of old items, none posted) has committed
            watcher.start()

            single: list[float] = []
            for n in range(args.single):
                url = site.publish(article(n))
                wait_for_posts(api, len(single) + 1, timeout=60)
                accepted = api.sent[-1]["time"]
                single.append(accepted - first_seen(db, url))
                print(json.dumps({"single": n, "latency_s": round(single[-1], 3)}), file=sys.stderr)
            result["single"] = {"posts": len(single), "latency_s": summary(single)}

            before = len(api.sent)
            calls_before = api.calls.count("sendMessage")
            urls = [site.publish(article(args.single + n)) for n in range(args.queued)]
            started = time.time()
            wait_for_posts(api, before + args.queued, timeout=args.queued * args.pace * 2 + 120)
            burst = api.sent[before:]
            by_url = {
                next(e["url"] for e in p["entities"] if e["type"] == "text_link"): p for p in burst
            }
            latencies = [by_url[u]["time"] - first_seen(db, u) for u in urls if u in by_url]
            span = burst[-1]["time"] - burst[0]["time"]
            found = first_seen(db, urls[0])
            result["queued"] = {
                "stories": args.queued,
                "posted": len(burst),
                "latency_s": summary(latencies),
                "first_post_after_found_s": round(burst[0]["time"] - found, 3),
                "last_post_after_found_s": round(burst[-1]["time"] - found, 3),
                "posts_per_minute": round((len(burst) - 1) / span * 60, 1) if span else None,
                "answered_429": api.calls.count("sendMessage") - calls_before - len(burst),
                "in_order": [int(p["message_id"]) for p in burst]
                == sorted(int(p["message_id"]) for p in burst),
                "published_to_found_s": round(found - started, 1),
            }
            time.sleep(1)
            accepted = {str(p["message_id"]): p["time"] for p in api.sent}
            windows = [watcher.marked[m] - t for m, t in accepted.items() if m in watcher.marked]
            result["accepted_to_marked_s"] = {"posts": len(windows), **summary(windows)}
            result["goal_single_within_2s"] = max(single) < 2.0
        finally:
            watcher.stop.set()
            process.send_signal(signal.SIGTERM)
            try:
                _out, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _out, err = process.communicate()
            result["run_exit_status"] = process.returncode
            if process.returncode:
                result["run_stderr"] = err[-2000:]
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
