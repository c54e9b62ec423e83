"""Whole ``run --once`` processes over the feed farm, timed as a user meets them.

    .venv/bin/python -m bench.run_once [--sources 2000] [--hosts 200] [--latency 0.2]
        [--concurrency 100] [--per-host N] [--one-host] [--reader-python PATH]
        [--profile DIR]
    make bench-cycle    (= --one-host --reader-python /tmp/reader-venv/bin/python)

The setting of issue 15: ``--sources`` RSS feeds on ``--hosts`` loopback
addresses (bench/feedfarm.py, in a child process), each answer ``--latency``
late, ``http: {concurrency: C}`` and the default per-host limit unless
``--per-host`` is given. Each pass is one ``python -m monitor run --once``
process, timed from its start to its exit (interpreter start, imports,
configuration, migrations, the index, the polls, the fetch log), against a
SQLite database in a temporary folder:

* ``first``: every source new (``backlog: 0``: nothing old is posted);
* ``unchanged``: the same again, nothing changed: every answer a 304.

With ``--one-host``, the same is then done with every feed on one address and
``per_host: C`` (a portal with many columns). With ``--reader-python``,
lemon24/reader polls the same farm right after each of our passes, one whole
process a pass too (bench/reader_once.py in that interpreter: make_reader,
add_feed each URL, ``update_feeds(workers=C)``), timed the same way, and each
pass reports ``ours_vs_reader`` (reader's wall time over ours: above 1, ours
is faster).

The project's bytecode is written first (``compileall``), as an installed
copy has it. The ideal of a pass is N × latency / C. With ``--profile DIR``, each of our
processes runs under ``py-spy record --gil -f raw`` (only the thread holding
the GIL is sampled, so the samples say where the CPU went; the samples go to
DIR/<setting>-<pass>.raw; py-spy slows the process a little). Each process
reports its own CPU (user + system: steadier than wall time on a busy machine)
and peak RSS (``wait4``'s ``ru_maxrss``; under ``--profile``, py-spy's).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.feedfarm import FarmHandle, start_farm
from bench.poll_cycle import sources_yaml

HERE = Path(__file__).resolve().parent


def compile_project() -> None:
    """Write the project's bytecode first, as a user's installed copy (or any
    second start) has it: with ``PYTHONDONTWRITEBYTECODE`` set and an editable
    install, each timed process would otherwise compile ~70 modules, 0.3–0.45 s
    that no user pays."""
    for package in ("monitor", "storage", "notifiers"):
        compileall.compile_dir(HERE.parent / package, quiet=1)


def timed(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall seconds, CPU seconds (user + system), peak RSS and exit status of
    one child process, run to its end (``wait4``: that child's own figures), and
    its wall-clock start and end (``time.time()``, to set beside the farm's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started_at = time.time()
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said, complaint = out.read(), err.read()
    if child.returncode != 0:
        print(complaint[-2000:], file=sys.stderr)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit": child.returncode,
        "stdout": said,
        "started_at": started_at,
        "ended_at": started_at + wall,
    }


def ours(config: Path, db: Path, profile: Path | None) -> dict[str, Any]:
    env = {
        **os.environ,
        "MONITOR_DB_URL": f"sqlite:///{db}",
        "MONITOR_LOG_LEVEL": "WARNING",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)  # alerts (none expected) go to the console
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"]
    if profile is not None:
        spy = Path(sys.executable).with_name("py-spy")
        command = [str(spy), "record", "--gil", "-r", "100", "-f", "raw", "-o", str(profile)]
        command += ["--", sys.executable, "-m", "monitor", "--config", str(config)]
        command += ["run", "--once"]
    result = timed(command, env)
    del result["stdout"]
    return result


def reader(python: str, db: Path, urls: Path, workers: int) -> dict[str, Any]:
    command = [python, str(HERE / "reader_once.py"), str(db), str(urls), str(workers)]
    result = timed(command, dict(os.environ))
    said = result.pop("stdout").strip().splitlines()
    if said:
        result.update(json.loads(said[-1]))
    return result


def phases(result: dict[str, Any], stats: dict[str, Any]) -> None:
    """Where a pass's wall time went: start-up before its first request reached
    the farm, then the requests, then the end after the last answer."""
    started_at, ended_at = result.pop("started_at"), result.pop("ended_at")
    if stats["first_at"] is not None and stats["last_at"] is not None:
        result["to_first_request_s"] = round(stats["first_at"] - started_at, 2)
        result["requests_s"] = round(stats["last_at"] - stats["first_at"], 2)
        result["after_last_answer_s"] = round(ended_at - stats["last_at"], 2)


def setting(
    farm: FarmHandle, args: argparse.Namespace, per_host: int | None, name: str
) -> dict[str, Any]:
    """Both passes of ours (and reader's) over one farm."""
    ideal = args.sources * args.latency / args.concurrency
    passes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "sources.yaml"
        config.write_text(
            sources_yaml(farm.urls, concurrency=args.concurrency, per_host=per_host, follow=False),
            encoding="utf-8",
        )
        urls = folder / "urls.txt"
        urls.write_text("\n".join(farm.urls) + "\n", encoding="utf-8")
        for name_of_pass in ("first", "unchanged"):
            before = farm.stats()
            profile = None
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile = args.profile / f"{name}-{name_of_pass}.raw"
            done: dict[str, Any] = {"pass": name_of_pass}
            done.update(ours(config, folder / "monitor.db", profile))
            done["ratio_to_ideal"] = round(done["wall_s"] / ideal, 2)
            after = farm.stats()
            done["requests"] = after["requests"] - before["requests"]
            done["connections"] = after["connections"] - before["connections"]
            phases(done, after)
            if args.reader_python:
                theirs = reader(args.reader_python, folder / "reader.db", urls, args.concurrency)
                phases(theirs, farm.stats())
                theirs["ratio_to_ideal"] = round(theirs["wall_s"] / ideal, 2)
                done["reader"] = theirs
                done["ours_vs_reader"] = round(theirs["wall_s"] / done["wall_s"], 2)
            passes.append(done)
            print(json.dumps({"setting": name, **done}), file=sys.stderr, flush=True)
    return {
        "setting": name,
        "hosts": len({url.split("/")[2] for url in farm.urls}),
        "per_host": per_host or "default",
        "ideal_s": round(ideal, 2),
        "passes": passes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--per-host", type=int, default=None, help="default: the config's")
    parser.add_argument(
        "--one-host", action="store_true", help="then all feeds on one host, per_host: C"
    )
    parser.add_argument("--reader-python", help="an interpreter with lemon24/reader installed")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's raw samples")
    args = parser.parse_args()
    compile_project()
    shapes = [(f"{args.hosts} hosts", args.hosts, args.per_host)]
    if args.one_host:
        shapes.append(("one host", 1, args.concurrency))
    settings = []
    for name, hosts, per_host in shapes:
        farm = start_farm(args.sources, items=10, latency=args.latency, hosts=hosts, text=True)
        try:
            settings.append(setting(farm, args, per_host, name))
        finally:
            farm.stop()
    print(
        json.dumps(
            {
                "benchmark": "run_once",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"CPython {platform.python_version()}",
                "sources": args.sources,
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "profiled": args.profile is not None,
                "reader": args.reader_python is not None
                or "skipped: pass --reader-python PATH (an interpreter with reader installed)",
                "settings": settings,
            }
        )
    )


if __name__ == "__main__":
    main()
