"""List detection on the fixture list pages: what it finds, and what it costs.

    .venv/bin/python -m bench.detect [--repeats 30]

For each page of ``tests/data/lists/`` (one per CMS family) and each variant
(as served, a class renamed, a wrapper added): items found right (title, link
and date) against the items the page lists, and extra links (found, but no
item of the list). Then the cost per page, medians over ``--repeats`` runs on
one core: parsing the page (lxml through BeautifulSoup, which every poll of an
html source does anyway), detection of the entries on the parsed tree (what a
poll without ``list:`` adds), and detection with the selectors (what
``suggest`` and a fallback add). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from monitor.sources.detect import detect
from monitor.sources.html import soup_of
from tests.lists import VARIANTS, as_items, list_pages, score


def _median_ms(run: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    pages = []
    totals = {"found": 0, "expected": 0, "extra": 0, "pages_exact": 0, "pages": 0}
    for page in list_pages():
        row: dict[str, object] = {"page": page.name, "family": page.family}
        for variant in VARIANTS:
            html = page.variant(variant)
            found = detect(html, page.url, now=page.fetched)
            right, expected, extra = score(page.items, as_items(found.entries))
            row[variant] = {
                "found": right,
                "expected": expected,
                "extra_links": extra,
                "selectors": str(found.selectors) if found.selectors else None,
            }
            totals["found"] += right
            totals["expected"] += expected
            totals["extra"] += extra
            totals["pages"] += 1
            totals["pages_exact"] += int(right == expected and extra == 0)
        html = page.html
        soup = soup_of(html)
        row["bytes"] = len(html.encode())
        row["parse_ms"] = _median_ms(lambda html=html: soup_of(html), args.repeats)
        row["detect_ms"] = _median_ms(
            lambda soup=soup, page=page: detect(soup, page.url, now=page.fetched, selectors=False),
            args.repeats,
        )
        row["detect_with_selectors_ms"] = _median_ms(
            lambda soup=soup, page=page: detect(soup, page.url, now=page.fetched), args.repeats
        )
        pages.append(row)
    parse = [float(p["parse_ms"]) for p in pages]  # type: ignore[arg-type]
    plain = [float(p["detect_ms"]) for p in pages]  # type: ignore[arg-type]
    full = [float(p["detect_with_selectors_ms"]) for p in pages]  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "pages": pages,
                "items_found": totals["found"],
                "items_expected": totals["expected"],
                "extra_links": totals["extra"],
                "pages_exact": f"{totals['pages_exact']}/{totals['pages']}",
                "median_parse_ms": round(statistics.median(parse), 3),
                "median_detect_ms": round(statistics.median(plain), 3),
                "median_detect_with_selectors_ms": round(statistics.median(full), 3),
                "detect_over_parse": round(sum(plain) / sum(parse), 2),
                "detect_with_selectors_over_parse": round(sum(full) / sum(parse), 2),
                "machine": {"python": platform.python_version(), "cpu": platform.processor()},
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
