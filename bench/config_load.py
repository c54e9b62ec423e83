"""What reading a big ``sources.yaml`` costs: ``check`` at 2,000 sources.

    .venv/bin/python -m bench.config_load [--sources 2000] [--repeats 5]

Writes a block-style ``sources.yaml`` of ``--sources`` sources (rss and html
kinds in turn, each with the keys a real entry has: name, url, province,
interval, list and article selectors, a note) to a temporary folder, then
times, best of ``--repeats``: ``parse_config`` on its text (in this process),
``config_warnings`` on the file, and the whole ``quality-monitor check``
process (start to exit, what a user waits for). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monitor.config import config_warnings, parse_config


def big_sources_yaml(n: int) -> str:
    lines = [
        "version: 1",
        "defaults:",
        "  interval: 1h",
        "  timeout: 20s",
        "http:",
        "  concurrency: 100",
        "  per_host: 4",
        "sources:",
    ]
    for i in range(n):
        lines += [
            f"  - id: site-{i}",
            f"    name: 示例站点 {i} 通知公告",
            f"    kind: {'rss' if i % 2 else 'html'}",
            f"    url: https://www{i % 200}.example.cn/col/col{i}/index.html",
            "    province: CN",
            "    interval: 30m",
        ]
        if i % 2 == 0:
            lines += [
                '    list: {item: ".list li", link: "a", date: "span.date"}',
                '    article: {content: "#zoom"}',
            ]
        lines += [f"    note: column {i}; selectors unverified", ""]
    lines += [
        "channels:",
        "  - {id: main, kind: telegram, chat: '@bench', filter: {relevant: true}}",
    ]
    return "\n".join(lines) + "\n"


def _best(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    text = big_sources_yaml(args.sources)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sources.yaml"
        path.write_text(text, encoding="utf-8")
        parse = _best(lambda: parse_config(text, env={}), args.repeats)
        warn = _best(lambda: config_warnings(path), args.repeats)
        command = [sys.executable, "-m", "monitor", "check", "-c", str(path)]
        check = _best(lambda: subprocess.run(command, check=True, capture_output=True), 3)
    print(
        json.dumps(
            {
                "benchmark": "config_load",
                "sources": args.sources,
                "bytes": len(text.encode()),
                "parse_config_s": round(parse, 3),
                "config_warnings_s": round(warn, 3),
                "check_process_s": round(check, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
