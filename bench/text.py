"""Throughput of the text stages on one core: normalise → classify → summarise.

    .venv/bin/python -m bench.text [--documents 2000]

Documents are the fixture site's twelve texts (Chinese, traditional Chinese
with pinyin glosses, English), plus the design seeds when ../shared is beside
the repo, cycled to the requested count. Prints one JSON object: documents
per second overall and per language, and the share of each stage.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from pathlib import Path

from monitor.classify import Lexicon, classify
from monitor.dedup import Concepts, fingerprint
from monitor.evaluate import read_corpus
from monitor.normalize import normalize_article, text_hash
from monitor.summarize import summarize

ROOT = Path(__file__).resolve().parent.parent


def corpus() -> list[tuple[str, str]]:
    paths = [ROOT / "tests" / "data" / "site" / "corpus.jsonl"]
    seeds = ROOT.parent / "shared" / "corpus" / "seeds" / "labels.jsonl"
    if seeds.exists():
        paths.append(seeds)
    return [(d.title, d.text) for p in paths for d in read_corpus(p)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    args = parser.parse_args()
    docs = corpus()
    lexicon, concepts = Lexicon.load(), Concepts.load()
    for title, text in docs:  # warm caches (OpenCC, regexes) outside the timing
        normal = normalize_article(title, text)
        classify(normal.title, normal.text, lexicon)
    stages: dict[str, float] = defaultdict(float)
    per_language: dict[str, list[float]] = defaultdict(list)
    chars = 0
    started = time.process_time()
    for i in range(args.documents):
        title, text = docs[i % len(docs)]
        t0 = time.process_time()
        normal = normalize_article(title, text)
        t1 = time.process_time()
        verdict = classify(normal.title, normal.text, lexicon)
        t2 = time.process_time()
        summarize(normal.title, normal.text, normal.language, facts=verdict.facts)
        t3 = time.process_time()
        fingerprint(normal.title, normal.text, normal.language, text_hash(normal.text), concepts)
        t4 = time.process_time()
        stages["normalise"] += t1 - t0
        stages["classify"] += t2 - t1
        stages["summarise"] += t3 - t2
        stages["fingerprint"] += t4 - t3
        per_language[normal.language].append(t4 - t0)
        chars += len(text)
    total = time.process_time() - started
    print(
        json.dumps(
            {
                "benchmark": "text",
                "machine": f"{platform.machine()}, {platform.python_implementation()} "
                f"{platform.python_version()}",
                "documents": args.documents,
                "distinct_documents": len(docs),
                "mean_characters": round(chars / args.documents),
                "cpu_seconds": round(total, 3),
                "documents_per_second": round(args.documents / total, 1),
                "classify_and_summarise_per_second": round(
                    args.documents / (stages["classify"] + stages["summarise"]), 1
                ),
                "per_language_documents_per_second": {
                    lang: round(len(times) / sum(times), 1) for lang, times in per_language.items()
                },
                "stage_share": {k: round(v / total, 3) for k, v in stages.items()},
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
