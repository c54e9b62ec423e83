"""The fetcher's CPU per request, in-process, against the feed farm.

    .venv/bin/python -m bench.fetch_cpu [--feeds 2000] [--hosts 200] [--latency 0.02]
        [--concurrency 100] [--repeats 5]

The farm (bench/feedfarm.py) runs in a child process, so ``time.process_time``
of this one is the fetcher's alone: ``Fetcher.get`` over every feed at once
(bounded by ``--concurrency`` and the default per-host limit), first without
validators (each answer a ~20 kB feed), then ``--repeats`` times with the
validators it returned (each answer a 304). No pipeline, no database: the
HTTP stack's own cost. Prints one JSON object (milliseconds of CPU a request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import monitor.fetch
from bench.feedfarm import start_farm
from monitor.fetch import Fetcher
from monitor.model import FetchResult

Validators = dict[str, tuple[str | None, str | None]]


async def _pass(
    fetcher: Fetcher, urls: list[str], validators: Validators
) -> tuple[float, float, list[FetchResult]]:
    async def one(url: str) -> FetchResult:
        etag, modified = validators.get(url, (None, None))
        result = await fetcher.get(
            url, source_id="s", etag=etag, last_modified=modified, origin=url
        )
        validators[url] = (result.etag, result.last_modified)
        return result

    wall, cpu = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(one(url) for url in urls))
    return time.perf_counter() - wall, time.process_time() - cpu, results


async def _main(args: argparse.Namespace) -> None:
    out: dict[str, object] = {"benchmark": "fetch_cpu", "fetch": monitor.fetch.__file__}
    with start_farm(args.feeds, hosts=args.hosts, latency=args.latency) as farm:
        urls = farm.urls
        async with Fetcher(concurrency=args.concurrency, retries=0) as fetcher:
            validators: Validators = {}
            wall, cpu, results = await _pass(fetcher, urls, validators)
            out["first"] = {
                "wall_s": round(wall, 2),
                "cpu_ms_per_request": round(cpu / len(urls) * 1e3, 3),
                "bytes": sum(len(r.content) for r in results),
            }
            unchanged = []
            for _ in range(args.repeats):
                wall, cpu, results = await _pass(fetcher, urls, validators)
                assert all(r.not_modified for r in results)
                unchanged.append(round(cpu / len(urls) * 1e3, 3))
            out["unchanged_cpu_ms_per_request"] = unchanged
            out["unchanged_median"] = statistics.median(unchanged)
        out["farm"] = farm.stats()
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
