"""The `run` mode's latency at many sources: from a feed changing to its post.

    .venv/bin/python -m bench.run_latency [--sources 2000] [--hosts 200] [--interval 60]
        [--rounds 6] [--every 400] [--latency 0.2] [--concurrency 100]

The feed farm (bench/feedfarm.py, a child process) serves ``--sources`` RSS
feeds on ``--hosts`` loopback addresses, every answer ``--latency`` late;
``python -m monitor run`` polls them every ``--interval`` seconds (the
scheduler spreads the polls over the interval) and posts every new story
(``filter: {relevant: false}``, ``pace: 0s``) to the Bot API test server
(tests/servers/botapi.py, no flood limits). Once the first polls of every
source are done, ``--rounds`` times: one feed in ``--every`` publishes an item
(its bytes and ETag change), at a random moment of the schedule; the bench waits
for their posts. For every post:

* ``change_to_found``: the change → the poll that stored it (the story's
  ``first_seen``); bounded by the interval plus the scheduler's lateness;
* ``found_to_post``: that poll → the Bot API accepting the post (processing,
  outbox, delivery);
* ``change_to_post``: the two together, what a reader of the channel waits.

``late_s``: how far ``change_to_found`` went past the interval (0 when every
change was found within one interval of it, as a schedule that keeps up does).
Also the farm's requests a second while measuring, against ``sources /
interval``. Prints one JSON object.
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.feedfarm import start_farm
from tests.servers.botapi import BotApiServer


def new_articles(db: Path, feeds: list[str], since: float) -> dict[str, tuple[str, float]]:
    """Source → (URL, first seen) of an article these feeds gave since ``since``."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        rows = conn.execute(
            f"SELECT source_id, url, first_seen FROM articles WHERE source_id IN "
            f"({','.join('?' * len(feeds))})",
            feeds,
        ).fetchall()
    finally:
        conn.close()
    found: dict[str, tuple[str, float]] = {}
    for source, url, when in rows:
        value = datetime.fromisoformat(str(when))
        stamp = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if stamp >= since:
            found[source] = (url, stamp)
    return found


def link(post: dict[str, Any]) -> str:
    return str(next(e["url"] for e in post["entities"] if e["type"] == "text_link"))


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "mean": round(statistics.fmean(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


def config_yaml(urls: list[str], interval: float, concurrency: int) -> str:
    lines = [
        "version: 1",
        f"defaults: {{interval: {interval:g}s, timeout: 20s, backlog: 0}}",
        f"http: {{concurrency: {concurrency}}}",
        "sources:",
        *(
            f'  - {{id: feed-{i}, name: "Feed {i}", kind: rss, url: "{url}", follow: false}}'
            for i, url in enumerate(urls)
        ),
        "channels:",
        "  - {id: main, kind: telegram, chat: '@quality_test', pace: 0s, backlog_digest: 0,"
        " filter: {relevant: false}}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--every", type=int, default=400, help="one feed in N publishes")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    result: dict[str, Any] = {
        "benchmark": "run_latency",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}",
        "sources": args.sources,
        "hosts": args.hosts,
        "latency_s": args.latency,
        "interval_s": args.interval,
        "concurrency": args.concurrency,
    }
    farm = start_farm(args.sources, items=10, latency=args.latency, hosts=args.hosts, text=True)
    with tempfile.TemporaryDirectory() as tmp, BotApiServer() as api:
        folder = Path(tmp)
        db = folder / "monitor.db"
        config = folder / "sources.yaml"
        config.write_text(config_yaml(farm.urls, args.interval, args.concurrency), "utf-8")
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.url,
            "MONITOR_DB_URL": f"sqlite:///{db}",
            "MONITOR_LOG_LEVEL": "WARNING",
        }
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        found: list[float] = []
        posted: list[float] = []
        total: list[float] = []
        missing = unposted = 0
        try:
            # the first polls of every source (old items: nothing posted), spread over an interval
            deadline = started + args.interval * 3 + 60
            while farm.stats()["requests"] < args.sources and time.monotonic() < deadline:
                time.sleep(0.5)
            result["first_polls_done_s"] = round(time.monotonic() - started, 1)
            time.sleep(2)
            measured_from, requests_from = time.monotonic(), farm.stats()["requests"]
            for n in range(args.rounds):
                time.sleep(rng.uniform(0, args.interval))  # a random moment of the schedule
                offset = n + 1  # other feeds each round: a feed's next item may join its story
                feeds = [f"feed-{i}" for i in range(offset, args.sources, args.every)]
                changed_at = time.time()
                farm.publish(every=args.every, offset=offset)
                seen: dict[str, tuple[str, float]] = {}
                wait_until = time.monotonic() + args.interval * 2 + 30
                while len(seen) < len(feeds) and time.monotonic() < wait_until:
                    seen.update(new_articles(db, feeds, changed_at))
                    time.sleep(0.1)
                missing += len(feeds) - len(seen)
                wait_until = time.monotonic() + 15  # the posts of what was found
                urls = {url: when for url, when in seen.values()}
                while time.monotonic() < wait_until:
                    posts = {link(p): p["time"] for p in api.sent}
                    if all(u in posts for u in urls):
                        break
                    time.sleep(0.05)
                posts = {link(p): p["time"] for p in api.sent}
                for url, when in urls.items():
                    found.append(when - changed_at)
                    if url in posts:
                        posted.append(posts[url] - when)
                        total.append(posts[url] - changed_at)
                    else:
                        unposted += 1  # joined an earlier story: an update, not a post
                print(
                    json.dumps({"round": n, "found": len(seen), "of": len(feeds)}),
                    file=sys.stderr,
                    flush=True,
                )
            span = time.monotonic() - measured_from
            result["requests_per_s"] = round((farm.stats()["requests"] - requests_from) / span, 1)
            result["expected_requests_per_s"] = round(args.sources / args.interval, 1)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                _out, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                _out, err = process.communicate()
            farm.stop()
            result["run_exit_status"] = process.returncode
            if process.returncode:
                result["run_stderr"] = err[-2000:]
    result.update(
        {
            "posts": len(total),
            "changes": len(found) + missing,
            "not_found": missing,
            "found_not_posted": unposted,
            "change_to_found_s": summary(found),
            "found_to_post_s": summary(posted),
            "change_to_post_s": summary(total),
            "late_s": round(max(0.0, max(found, default=0.0) - args.interval), 3),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
