"""Whole ``run --once`` processes over the feed farm, timed as a user meets them.

    .venv/bin/python -m bench.run_once [--sources 2000] [--hosts 200] [--latency 0.2]
        [--concurrency 100] [--per-host N] [--profile DIR]

The setting of issue 15: ``--sources`` RSS feeds on ``--hosts`` loopback
addresses (bench/feedfarm.py, in a child process), each answer ``--latency``
late, ``http: {concurrency: C}`` and the default per-host limit unless
``--per-host`` is given. Each pass is one ``python -m monitor run --once``
process, timed from its start to its exit (interpreter start, imports,
configuration, migrations, the index, the polls, the fetch log), against a
SQLite database in a temporary folder:

* ``first``: every source new (``backlog: 0``: nothing old is posted);
* ``unchanged``: the same again, nothing changed: every answer a 304.

The ideal of a pass is N × latency / C. With ``--profile DIR``, each process
runs under ``py-spy record -f raw`` (the samples go to DIR/<pass>.raw; py-spy
slows the process a little). Each pass also reports the process's CPU
(user + system: steadier than wall time on a busy machine) and the peak RSS of
the largest pass so far (``ru_maxrss`` of the waited-for children). Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.feedfarm import start_farm
from bench.poll_cycle import sources_yaml


def one_pass(config: Path, db: Path, profile: Path | None) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS (kB) and exit status
    of one process."""
    env = {
        **os.environ,
        "MONITOR_DB_URL": f"sqlite:///{db}",
        "MONITOR_LOG_LEVEL": "WARNING",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)  # alerts (none expected) go to the console
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"]
    if profile is not None:
        spy = Path(sys.executable).with_name("py-spy")
        command = [str(spy), "record", "-r", "100", "-f", "raw", "-o", str(profile), "--", *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return wall, cpu, after.ru_maxrss, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--per-host", type=int, default=None, help="default: the config's")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's raw samples")
    args = parser.parse_args()
    farm = start_farm(args.sources, items=10, latency=args.latency, hosts=args.hosts, text=True)
    passes: list[dict[str, Any]] = []
    ideal = args.sources * args.latency / args.concurrency
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = folder / "sources.yaml"
            config.write_text(
                sources_yaml(
                    farm.urls, concurrency=args.concurrency, per_host=args.per_host, follow=False
                ),
                encoding="utf-8",
            )
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
            for name in ("first", "unchanged"):
                before = farm.stats()
                profile = args.profile / f"{name}.raw" if args.profile else None
                wall, cpu, rss, code = one_pass(config, folder / "monitor.db", profile)
                passes.append(
                    {
                        "pass": name,
                        "wall_s": round(wall, 2),
                        "ratio_to_ideal": round(wall / ideal, 2),
                        "cpu_s": round(cpu, 2),
                        "peak_rss_mb": round(rss / 1024),
                        "requests": farm.stats()["requests"] - before["requests"],
                        "connections": farm.stats()["connections"] - before["connections"],
                        "exit": code,
                    }
                )
                print(json.dumps(passes[-1]), file=sys.stderr, flush=True)
    finally:
        farm.stop()
    print(
        json.dumps(
            {
                "benchmark": "run_once",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"CPython {platform.python_version()}",
                "sources": args.sources,
                "hosts": args.hosts,
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "per_host": args.per_host or "default",
                "ideal_s": round(ideal, 2),
                "profiled": args.profile is not None,
                "passes": passes,
            }
        )
    )


if __name__ == "__main__":
    main()
