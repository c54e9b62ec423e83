"""Peak memory of ``quality-monitor run`` with 2,000 sources and 100,000 stored articles.

    .venv/bin/python -m bench.memory [--sources 2000] [--articles 100000] [--rounds 2]
                                     [--database-copy PATH]   (also: make bench-memory)

1. A SQLite database is filled with ``--articles`` stored articles (each its
   own story, with text, summary and a fingerprint, first seen over the last
   150 days: all of them inside the story index's 180-day window, so ``run``
   loads every one into its index at start).
2. The feed farm (bench/feedfarm.py, 200 ms a response) serves ``--sources``
   RSS feeds; ``sources.yaml`` lists them (interval 60 s, ``backlog: 1``, so a
   new source stores its newest item: 2,000 articles more in the first round).
3. ``python -m monitor run`` runs as a subprocess for ``--rounds`` rounds of
   polls (the scheduler spreads the first polls over a minute); before the
   second round every feed changes and one in ten publishes an item. Its
   resident memory is sampled twice a second from /proc; the peak is the
   kernel's high-water mark (VmHWM) just before SIGTERM.

Prints one JSON object: the peak, the memory when the first poll is logged
(start-up done: imports, configuration, the index loaded), after each round,
and a timeline (resident memory every 5 s and the polls logged by then).
``--database-copy PATH``: keep the filled database there and start from a
copy of it next time (filling 100,000 articles takes a minute or two).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.feedfarm import start_farm
from monitor.dedup import NUM_PERM
from storage.schema import articles, fetch_log, stories
from storage.store import Store

CHARACTERS = "质量强省建设四川广东浙江江苏山东推进会议工作品牌提升标准计量认证检验检测企业发展"


def fill(url: str, count: int, batch: int = 2000) -> float:
    """``count`` stored articles, each its own story; returns the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(8)
    store = Store(url)
    store.migrate()
    now = datetime.now(UTC)
    provinces = ["CN-SC", "CN-GD", "CN-ZJ", "CN-JS", "CN-SD", "CN", None]
    try:
        for first in range(0, count, batch):
            n = min(batch, count - first)
            seen = [now - timedelta(seconds=rng.uniform(3600, 150 * 86400)) for _ in range(n)]
            with store.engine.begin() as conn:
                story_rows = [
                    {
                        "id": first + i + 1,
                        "title": f"存量文章 {first + i}",
                        "url": f"https://archive.example.cn/{first + i}.html",
                        "summary": "".join(rng.choices(CHARACTERS, k=150)),
                        "province": rng.choice(provinces),
                        "category": "other",
                        "language": "zh-Hans",
                        "source_id": f"feed-{(first + i) % 2000}",
                        "source_name": "存量",
                        "relevant": rng.random() < 0.3,
                        "score": 1.0,
                        "published": seen[i],
                        "first_seen": seen[i],
                        "updated_at": seen[i],
                    }
                    for i in range(n)
                ]
                conn.execute(stories.insert(), story_rows)
                conn.execute(
                    articles.insert(),
                    [
                        {
                            "story_id": first + i + 1,
                            "source_id": row["source_id"],
                            "source_name": "存量",
                            "url": row["url"],
                            "canonical_url": row["url"],
                            "guid": None,
                            "title": row["title"],
                            "original_title": row["title"],
                            "text": "".join(rng.choices(CHARACTERS, k=1200)),
                            "language": "zh-Hans",
                            "text_hash": f"{first + i:064x}",
                            "published": seen[i],
                            "first_seen": seen[i],
                            "relevant": row["relevant"],
                            "score": 1.0,
                            "province": row["province"],
                            "category": "other",
                            "evidence": [],
                            "summary": row["summary"],
                            "minhash": [rng.getrandbits(32) for _ in range(NUM_PERM)],
                            "concepts": rng.sample(["实施意见", "质量月", "天府名品", "质量奖"], 2),
                            "doc_numbers": [],
                        }
                        for i, row in enumerate(story_rows)
                    ],
                )
    finally:
        store.close()
    return time.perf_counter() - started


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def polls(url: str) -> int:
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(fetch_log)).scalar_one())
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--database-copy", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "memory",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}",
        "sources": args.sources,
        "stored_articles": args.articles,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'monitor.db'}"
        kept = args.database_copy
        if kept and kept.exists():
            shutil.copyfile(kept, folder / "monitor.db")
            result["fill_seconds"] = 0.0
        else:
            result["fill_seconds"] = round(fill(db_url, args.articles), 1)
            if kept:
                shutil.copyfile(folder / "monitor.db", kept)
        farm = start_farm(args.sources, latency=args.latency, hosts=50)
        try:
            config = folder / "sources.yaml"
            lines = [
                "version: 1",
                "defaults: {interval: 60s, timeout: 20s, backlog: 1, jitter: 0.1}",
                "http: {concurrency: 100, per_host: 4}",
                "sources:",
                *(
                    f'  - {{id: feed-{i}, name: "Feed {i}", kind: rss, url: "{u}", follow: false}}'
                    for i, u in enumerate(farm.urls)
                ),
                "channels:",
                "  - {id: main, kind: telegram, chat: '@bench'}",  # no token: the console
            ]
            config.write_text("\n".join(lines) + "\n", encoding="utf-8")
            env = {
                **os.environ,
                "MONITOR_DB_URL": db_url,
                "MONITOR_LOG_LEVEL": "WARNING",
                "TELEGRAM_BOT_TOKEN": "",
            }
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            samples: list[tuple[float, int]] = []
            timeline: list[dict[str, float]] = []
            first_poll_kb = 0
            rounds: list[dict[str, Any]] = []
            try:
                target = args.sources
                for n in range(args.rounds):
                    if n > 0:
                        farm.publish(10, touch=True)
                        target += args.sources
                    deadline = time.monotonic() + 240
                    while time.monotonic() < deadline and process.poll() is None:
                        now = status(process.pid)
                        samples.append((time.monotonic() - started, now.get("VmRSS", 0)))
                        if not first_poll_kb or len(samples) % 10 == 0:
                            logged = polls(db_url)
                            if logged and not first_poll_kb:
                                first_poll_kb = now.get("VmRSS", 0)
                            if len(samples) % 10 == 0:
                                timeline.append(
                                    {
                                        "s": round(samples[-1][0], 1),
                                        "rss_mb": round(samples[-1][1] / 1024, 1),
                                        "polls": logged,
                                    }
                                )
                            if logged >= target:
                                break
                        time.sleep(0.5)
                    now = status(process.pid)
                    rounds.append(
                        {
                            "round": n + 1,
                            "seconds": round(time.monotonic() - started, 1),
                            "polls_logged": polls(db_url),
                            "rss_mb": round(now.get("VmRSS", 0) / 1024, 1),
                            "peak_mb": round(now.get("VmHWM", 0) / 1024, 1),
                        }
                    )
                    print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
                peak = status(process.pid).get("VmHWM", 0)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            startup = next((rss for t, rss in samples if t > 8), samples[0][1] if samples else 0)
            result.update(
                {
                    "peak_rss_mb": round(peak / 1024, 1),
                    "rss_after_start_mb": round(startup / 1024, 1),
                    "rss_at_first_poll_mb": round(first_poll_kb / 1024, 1),
                    "rounds": rounds,
                    "goal_under_150_mb": peak / 1024 < 150,
                    "exit_status": process.returncode,
                    "timeline": timeline,
                }
            )
        finally:
            farm.stop()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
