"""lemon24/reader as a whole process: the yardstick of bench/run_once.py.

    <reader-python> bench/reader_once.py DB URLS WORKERS

Runs in *another* interpreter, one that has ``reader`` installed (``make
bench-cycle`` makes /tmp/reader-venv; reader is a yardstick, never a
dependency of ours). One process is one pass, as ``quality-monitor run
--once`` is one: open (or create) the SQLite database DB, add every URL of the
file URLS (one a line; ``exist_ok``: a second pass adds nothing), then
``update_feeds(workers=WORKERS, scheduled=False)``, and exit. bench/run_once.py
times it from process start to exit, the same way it times ours. Prints one
JSON line: the entries stored, and how many feeds failed.
Standard library and reader only: this file imports nothing of ours.
"""

from __future__ import annotations

import json
import logging
import sys


def main() -> None:
    from reader import make_reader

    logging.basicConfig(level=logging.CRITICAL)
    path, urls, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reader = make_reader(path)
    with open(urls, encoding="utf-8") as lines:
        for url in lines:
            reader.add_feed(url.strip(), exist_ok=True)
    reader.update_feeds(workers=workers, scheduled=False)
    errors = sum(1 for feed in reader.get_feeds() if feed.last_exception)
    print(
        json.dumps(
            {
                "reader": __import__("reader").__version__,
                "entries": reader.get_entry_counts().total,
                "errors": errors,
            }
        ),
        flush=True,
    )
    reader.close()


if __name__ == "__main__":
    main()
