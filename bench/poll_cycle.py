"""One poll cycle over thousands of sources, against the latency-bound ideal.

    .venv/bin/python -m bench.poll_cycle [--sources 2000] [--latency 0.2] [--concurrency 100]
        [--hosts 50] [--per-host 4] [--skip-floor]
        [--reader-python /tmp/reader-venv/bin/python]          (also: make bench-cycle)

The feed farm (bench/feedfarm.py) serves ``--sources`` RSS feeds from a child
process on 50 loopback addresses, every answer ``--latency`` late. This
process polls them as ``run --once`` does (the same fetcher, pipeline, store
and fetch log, SQLite in a temporary folder, ``http.concurrency`` = C,
``http.per_host`` = 4) and times each cycle:

* ``first``: every source is new: its list is read and its items recorded as
  seen (``backlog`` 0 here: a first poll posts nothing old; reader, in the
  same run, stores every item);
* ``changed``: every feed changed its bytes since the last cycle (a new
  ETag: no 304, every list is downloaded and parsed), and one in
  ``--new-every`` (10) published an item, which goes through the whole
  pipeline into the store (its text is in the feed, ``follow: false``, so one
  request per source, as in the ideal);
* ``unchanged``: nothing changed anywhere: every answer is a 304;
* ``all-new`` (with ``--all-new``): every feed published an item: the worst
  case, N articles through the pipeline in one cycle.

The ideal of a cycle is requests × latency / C: ``N × latency / C`` when each
source costs one request. Wall time and CPU time (``time.process_time``: this
process, all its threads; the farm's CPU is not counted) are reported per
cycle, and CPU milliseconds per source.

With ``--reader-python``, lemon24/reader (``make_reader``, ``add_feed`` each
URL, ``update_feeds(workers=100, scheduled=False)``) polls the same farm in
the same run, right after each of our cycles, through bench/reader_cycle.py in
that interpreter; without it the comparison is skipped, and said so.

``bare_httpx``: the same requests from a bare ``httpx.AsyncClient`` at the same
concurrency, no parsing and no database — a GET of each feed, then a
conditional GET (all 304): the floor that the HTTP client alone sets.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.feedfarm import FarmHandle, start_farm
from monitor.app import build_context, build_fetcher
from monitor.config import Config, parse_config
from monitor.metrics import Metrics
from monitor.model import PollReport
from monitor.pipeline import INDEX_WINDOW, Context, load_index, poll_all
from monitor.scheduler import record_poll
from storage.runner import DbRunner
from storage.store import Store, utcnow

HERE = Path(__file__).resolve().parent


def sources_yaml(urls: list[str], *, concurrency: int, per_host: int | None, follow: bool) -> str:
    """``per_host`` None: the default per-host limit (the key is left out)."""
    limits = f"concurrency: {concurrency}" + (f", per_host: {per_host}" if per_host else "")
    lines = [
        "version: 1",
        "defaults: {interval: 30m, timeout: 20s, backlog: 0}",
        f"http: {{{limits}}}",
        "sources:",
    ]
    for i, url in enumerate(urls):
        follow_text = "" if follow else ", follow: false"
        lines.append(
            f'  - {{id: feed-{i}, name: "Feed {i}", kind: rss, url: "{url}"{follow_text}}}'
        )
    lines += [
        "channels:",
        "  - {id: main, kind: telegram, chat: '@bench', filter: {relevant: true}}",
    ]
    return "\n".join(lines) + "\n"


class Reader:
    """lemon24/reader in its own interpreter, driven line by line."""

    def __init__(self, python: str, folder: Path, urls: list[str], workers: int) -> None:
        self.process = subprocess.Popen(
            [python, str(HERE / "reader_cycle.py"), str(folder / "reader.sqlite"), str(workers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.version = self._ask(None)["reader"]
        self._ask({"urls": urls})

    def _ask(self, message: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        if message is not None:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("reader_cycle.py ended early (is reader installed there?)")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def cycle(self) -> dict[str, Any]:
        return self._ask("update")

    def close(self) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write('"stop"\n')
            self.process.stdin.flush()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


async def _cycle(ctx: Context, config: Config) -> tuple[list[PollReport], float, float]:
    """One ``run --once`` pass: poll every enabled source, then write the fetch log."""
    started, cpu = time.perf_counter(), time.process_time()
    enabled = [s for s in config.sources if s.enabled]
    reports = await poll_all(enabled, ctx)
    for report in reports:
        record_poll(report, metrics=None)
    return reports, time.perf_counter() - started, time.process_time() - cpu


def _summary(
    name: str,
    reports: list[PollReport],
    wall: float,
    cpu: float,
    requests: int,
    latency: float,
    concurrency: int,
) -> dict[str, Any]:
    n = len(reports)
    ideal = n * latency / concurrency
    statuses: dict[str, int] = {}
    for r in reports:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    elapsed = sorted(r.elapsed for r in reports)
    return {
        "cycle": name,
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "ratio_to_ideal": round(wall / ideal, 2),
        "requests": requests,
        "ideal_by_requests_s": round(requests * latency / concurrency, 2),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_source": round(cpu / n * 1000, 2),
        "statuses": statuses,
        "articles": sum(r.articles for r in reports),
        "stories": sum(r.stories for r in reports),
        "poll_seconds_median": round(statistics.median(elapsed), 3),
        "poll_seconds_max": round(elapsed[-1], 3),
        "errors": [r.error for r in reports if r.error][:5],
    }


async def http_floor(urls: list[str], concurrency: int, latency: float) -> dict[str, Any]:
    """The same requests from a bare ``httpx.AsyncClient`` (no parsing, no
    database): a GET of every feed, then a conditional GET with its ETag (all
    304). What the HTTP client alone costs: the floor under our cycles."""
    limit = asyncio.Semaphore(concurrency)
    etags: dict[str, str] = {}
    figures: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get(url: str) -> None:
            headers = {"If-None-Match": etags[url]} if url in etags else {}
            async with limit:
                response = await client.get(url, headers=headers)
            if "etag" in response.headers:
                etags[url] = response.headers["etag"]

        for name in ("get", "conditional_get"):
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(get(u) for u in urls))
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            ideal = len(urls) * latency / concurrency
            figures[name] = {
                "wall_s": round(wall, 2),
                "ratio_to_ideal": round(wall / ideal, 2),
                "cpu_s": round(cpu, 2),
                "cpu_ms_per_source": round(cpu / len(urls) * 1000, 2),
            }
    return figures


async def run(
    farm: FarmHandle, args: argparse.Namespace, folder: Path, reader: Reader | None
) -> dict[str, Any]:
    config = parse_config(
        sources_yaml(
            farm.urls,
            concurrency=args.concurrency,
            per_host=args.per_host,
            follow=args.follow,
        ),
        env={},
    )
    store = Store(args.db or f"sqlite:///{folder / 'bench.db'}")
    store.migrate()
    db = DbRunner()
    cycles: list[dict[str, Any]] = []
    reader_cycles: list[dict[str, Any]] = []
    try:
        metrics = Metrics(replica="bench", mode="once")
        async with build_fetcher(config.http, metrics=metrics, sources=config.sources) as fetcher:
            ctx = build_context(
                config,
                store=store,
                db=db,
                fetcher=fetcher,
                channels=[("main", config.channels[0].filter)],
                index=lambda: load_index(store, utcnow() - INDEX_WINDOW),
                replica="bench",
            )
            plan = ["first"] + ["unchanged", "changed"] * args.repeats
            plan += ["all-new"] if args.all_new else []
            for name in plan:
                if name == "changed":
                    farm.publish(args.new_every, touch=True)
                elif name == "all-new":
                    farm.publish(1)
                before = farm.stats()["requests"]
                reports, wall, cpu = await _cycle(ctx, config)
                requests = farm.stats()["requests"] - before
                cycles.append(
                    _summary(name, reports, wall, cpu, requests, args.latency, args.concurrency)
                )
                print(json.dumps(cycles[-1]), file=__import__("sys").stderr, flush=True)
                if reader is not None:
                    got = reader.cycle()
                    ideal = len(farm.urls) * args.latency / args.concurrency
                    reader_cycles.append(
                        {
                            "cycle": name,
                            "wall_s": round(got["wall"], 2),
                            "ratio_to_ideal": round(got["wall"] / ideal, 2),
                            "cpu_s": round(got["cpu"], 2),
                            "cpu_ms_per_source": round(got["cpu"] / len(farm.urls) * 1000, 2),
                            "entries_stored": got["entries"],
                            "feeds_with_errors": got["errors"],
                        }
                    )
                    print(json.dumps(reader_cycles[-1]), file=__import__("sys").stderr, flush=True)
    finally:
        db.close()
        store.close()
    floor = (
        await http_floor(farm.urls, args.concurrency, args.latency)
        if not args.skip_floor
        else "skipped (--skip-floor)"
    )
    return {"ours": cycles, "reader": reader_cycles, "floor": floor}


def _judge(result: dict[str, Any], latency: float) -> dict[str, Any]:
    ours = result["ours"]
    changed = [c for c in ours if c["cycle"] == "changed"]
    unchanged = [c for c in ours if c["cycle"] == "unchanged"]
    goals: dict[str, Any] = {}
    if changed:
        worst = max(c["ratio_to_ideal"] for c in changed)
        goals["changed_within_1.25x_ideal"] = {"worst_ratio": worst, "met": worst <= 1.25}
    if unchanged:
        worst = max(c["ratio_to_ideal"] for c in unchanged)
        goals["unchanged_within_1.1x_ideal"] = {"worst_ratio": worst, "met": worst <= 1.1}
    if changed and unchanged:
        share = statistics.median(c["cpu_s"] for c in unchanged) / statistics.median(
            c["cpu_s"] for c in changed
        )
        goals["unchanged_cpu_at_most_quarter_of_changed"] = {
            "share": round(share, 3),
            "met": share <= 0.25,
        }
    theirs = {c["cycle"]: [] for c in result["reader"]}  # type: dict[str, list[float]]
    for c in result["reader"]:
        theirs[c["cycle"]].append(c["wall_s"])
    if theirs:
        speedups = {}
        for name, walls in theirs.items():
            mine = [c["wall_s"] for c in ours if c["cycle"] == name]
            speedups[name] = round(statistics.median(walls) / statistics.median(mine), 2)
        goals["at_least_3x_faster_than_reader"] = {
            "speedup_by_cycle": speedups,
            "met": all(v >= 3 for k, v in speedups.items() if k != "first"),
        }
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=100, help="http.concurrency (C)")
    parser.add_argument("--per-host", type=int, default=4, help="http.per_host")
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses serving")
    parser.add_argument("--items", type=int, default=10, help="items per feed")
    parser.add_argument("--repeats", type=int, default=2, help="unchanged+changed pairs")
    parser.add_argument(
        "--new-every", type=int, default=10, help="changed: one feed in this many has a new item"
    )
    parser.add_argument("--all-new", action="store_true", help="add a cycle: every feed new")
    parser.add_argument(
        "--follow", action="store_true", help="fetch each new item's page (two requests a source)"
    )
    parser.add_argument(
        "--skip-floor", action="store_true", help="skip the bare-httpx floor (bare_httpx)"
    )
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--reader-python", help="an interpreter with lemon24/reader installed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    farm = start_farm(
        args.sources, items=args.items, latency=args.latency, hosts=args.hosts, text=True
    )
    reader: Reader | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if args.reader_python:
                reader = Reader(args.reader_python, folder, farm.urls, workers=args.concurrency)
            result = asyncio.run(run(farm, args, folder, reader))
    finally:
        if reader is not None:
            reader.close()
        farm.stop()
    print(
        json.dumps(
            {
                "benchmark": "poll_cycle",
                "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, "
                f"{platform.python_implementation()} {platform.python_version()}",
                "sources": args.sources,
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "per_host": args.per_host,
                "hosts": args.hosts,
                "items_per_feed": args.items,
                "changed_new_item_every": args.new_every,
                "follow": args.follow,
                "database": "sqlite" if not args.db else args.db.split(":")[0],
                "cycles": result["ours"],
                "bare_httpx": result["floor"],
                "reader": {
                    "version": reader.version if reader is not None else None,
                    "cycles": result["reader"],
                }
                if reader is not None
                else "skipped: pass --reader-python PATH (an interpreter with reader installed)",
                "goals": _judge(result, args.latency),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
