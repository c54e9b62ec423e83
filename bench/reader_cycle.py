"""lemon24/reader polling the feed farm: the yardstick of bench/poll_cycle.py.

Runs in *another* interpreter, one that has ``reader`` installed (never this
project's virtual environment: reader is a yardstick, not a dependency)::

    python3 -m venv /tmp/reader-venv && /tmp/reader-venv/bin/pip install reader

bench/poll_cycle.py starts it as ``<reader-python> bench/reader_cycle.py DB``
and talks to it over stdin/stdout, one JSON object a line: it sends
``{"urls": [...]}`` (each URL is added with ``add_feed``), then ``"update"``
once per cycle; each update is ``update_feeds(workers=…, scheduled=False)``
and answers ``{"wall": s, "cpu": s, "entries": n}``. ``"stop"`` ends it.
Standard library and reader only: this file imports nothing of ours.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    from reader import make_reader

    logging.basicConfig(level=logging.CRITICAL)
    path, workers = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    reader = make_reader(path)
    print(json.dumps({"reader": __import__("reader").__version__}), flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        if message == "stop":
            break
        if isinstance(message, dict) and "urls" in message:
            for url in message["urls"]:
                reader.add_feed(url, exist_ok=True)
            print(json.dumps({"feeds": len(message["urls"])}), flush=True)
            continue
        started, cpu = time.perf_counter(), _cpu()
        reader.update_feeds(workers=workers, scheduled=False)
        wall, used = time.perf_counter() - started, _cpu() - cpu
        counts = reader.get_entry_counts()
        errors = sum(1 for f in reader.get_feeds() if f.last_exception)
        print(
            json.dumps({"wall": wall, "cpu": used, "entries": counts.total, "errors": errors}),
            flush=True,
        )
    reader.close()


if __name__ == "__main__":
    main()
