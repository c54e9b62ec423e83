"""Story matching: where the near-duplicate threshold comes from, and what a check costs.

    .venv/bin/python -m bench.dedup [--sizes 10000,100000,1000000] [--probes 2000]

1. *Threshold.* From the fixture site's and the seeds' texts it builds the
   variants real reposts show (another outlet's header and footer, reader
   comments, traditional characters with pinyin glosses, a paragraph dropped,
   a sentence rewritten) and pairs of different articles, and prints the
   estimated Jaccard similarity of each kind: the threshold must sit between
   the lowest variant and the highest unrelated pair.
2. *Scale.* It fills a StoryIndex with N stored articles — random MinHash
   signatures, and anchors and words drawn from the real articles' own keys
   and a synthetic vocabulary with the skew of real text (a few keys in most
   articles, most keys in few), so that the probes' anchors find postings of
   realistic length — and times checking-and-inserting real article
   fingerprints against it (candidates, the decision, the insert), with the
   index's array memory. Printed as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import opencc

from monitor.classify import Lexicon, classify
from monitor.dedup import (
    NEAR_DUPLICATE,
    NUM_PERM,
    Concepts,
    Fingerprint,
    StoryIndex,
    decide,
    fingerprint,
    similarity,
)
from monitor.evaluate import read_corpus
from monitor.normalize import normalize_article, text_hash

ROOT = Path(__file__).resolve().parent.parent


def texts() -> list[str]:
    paths = [ROOT / "tests" / "data" / "site" / "corpus.jsonl"]
    seeds = ROOT.parent / "shared" / "corpus" / "seeds" / "labels.jsonl"
    if seeds.exists():
        paths.append(seeds)
    return [d.text for p in paths for d in read_corpus(p) if len(d.text) > 300]


def variants(text: str, rng: random.Random) -> dict[str, str]:
    paragraphs = [p for p in text.split("\n") if p.strip()]
    dropped = paragraphs[:]
    if len(dropped) > 2:
        dropped.pop(rng.randrange(1, len(dropped)))
    s2t = opencc.OpenCC("s2t")
    glossed = "".join(ch + ("(zhì)" if ch == "質" else "") for ch in s2t.convert(text))
    rewritten = text.replace("。", "。据悉,", 2).replace(",", ",同时", 2)
    return {
        "repost_with_header_footer": f"转自某某网\n{text}\n责任编辑:王某 来源:某某日报",
        "with_reader_comments": text + "\n网友评论:\n质量就是生命。\n期待更多措施落地。",
        "traditional_with_glosses": glossed,
        "paragraph_dropped": "\n".join(dropped),
        "sentences_rewritten": rewritten,
    }


def fp(text: str, lexicon: Lexicon, concepts: Concepts) -> tuple[Fingerprint, str | None]:
    normal = normalize_article("", text)
    verdict = classify(normal.title, normal.text, lexicon)
    return (
        fingerprint(
            normal.title,
            normal.text,
            normal.language,
            text_hash(normal.text),
            concepts,
            doc_titles=verdict.facts.titles,
            province=verdict.province,
        ),
        verdict.province,
    )


def threshold_study(lexicon: Lexicon, concepts: Concepts) -> dict[str, object]:
    rng = random.Random(11)
    docs = texts()
    kinds: dict[str, list[float]] = {}
    for text in docs:
        base, _ = fp(text, lexicon, concepts)
        for kind, variant in variants(text, rng).items():
            other, _ = fp(variant, lexicon, concepts)
            kinds.setdefault(kind, []).append(similarity(base.minhash, other.minhash))
    unrelated = []
    prints = [fp(t, lexicon, concepts)[0] for t in docs]
    for a, b in combinations(prints, 2):
        if a.language.startswith("zh") == b.language.startswith("zh"):
            unrelated.append(similarity(a.minhash, b.minhash))
    summary = {
        k: {"min": round(min(v), 3), "median": round(statistics.median(v), 3)}
        for k, v in kinds.items()
    }
    lowest_variant = min(min(v) for v in kinds.values())
    return {
        "threshold": NEAR_DUPLICATE,
        "variants": summary,
        "unrelated_pairs": {
            "count": len(unrelated),
            "max": round(max(unrelated), 3),
            "median": round(statistics.median(unrelated), 3),
        },
        "lowest_variant": round(lowest_variant, 3),
        "variants_caught": sum(s >= NEAR_DUPLICATE for v in kinds.values() for s in v),
        "variants_total": sum(len(v) for v in kinds.values()),
        "unrelated_merged": sum(s >= NEAR_DUPLICATE for s in unrelated),
    }


def synthetic_keys(real: list[Fingerprint], rng: np.random.Generator, size: int) -> list[list[str]]:
    """Key sets for ``size`` stored articles: 60 keys each, drawn with a Zipf-like
    skew from the real articles' keys and a synthetic vocabulary of each kind."""
    vocabulary = sorted({k for fp in real for k in fp.concepts})
    # as many of each kind as there are: 366 dates, 3,000 places, 50 years …
    kinds = {"词:w": 100_000, "数:": 50_000, "地:p": 3_000, "人:n": 20_000}
    kinds |= {"日:": 366, "年:": 50, "概:c": 40, "文件:t": 20_000}
    vocabulary += [f"{kind}{n}" for kind, count in kinds.items() for n in range(count)]
    ranks = rng.zipf(1.3, size=(size, 60)) - 1
    offsets = rng.integers(0, len(vocabulary), size=(size, 60))
    picks = (ranks * 7919 + offsets) % len(vocabulary)
    return [[vocabulary[i] for i in row] for row in picks]


def scale_study(sizes: list[int], probes: int, lexicon: Lexicon, concepts: Concepts) -> list[dict]:
    rng = np.random.default_rng(5)
    real = [fp(t, lexicon, concepts) for t in texts()]
    results = []
    for size in sizes:
        index = StoryIndex()
        started = time.perf_counter()
        signatures = rng.integers(0, 2**32, size=(size, NUM_PERM), dtype=np.uint64)
        chunk = 100_000
        for lo in range(0, size, chunk):
            keys = synthetic_keys([f for f, _ in real], rng, min(chunk, size - lo))
            for i, article_keys in enumerate(keys, lo):
                index.add(
                    i + 1,
                    None,
                    None,
                    Fingerprint(
                        "",
                        tuple(signatures[i].tolist()),
                        frozenset(article_keys),
                        frozenset(),
                        "zh-Hans",
                    ),
                )
        build = time.perf_counter() - started
        timings = []
        found = candidates_seen = 0
        for i in range(probes):
            probe, province = real[i % len(real)]
            t0 = time.perf_counter()
            candidates = index.candidates(probe)
            decision = decide(probe, province, candidates, index.rarity)
            story_id = size + i + 1 if decision.story_id is None else decision.story_id
            index.add(story_id, province, None, probe)
            timings.append(time.perf_counter() - t0)
            found += decision.story_id is not None
            candidates_seen += len(candidates)
        timings.sort()
        results.append(
            {
                "stored_articles": size,
                "build_seconds": round(build, 2),
                "check_and_insert_ms": {
                    "median": round(timings[len(timings) // 2] * 1000, 3),
                    "p95": round(timings[int(len(timings) * 0.95)] * 1000, 3),
                    "mean": round(sum(timings) / len(timings) * 1000, 3),
                },
                "candidate_stories_per_check": round(candidates_seen / probes, 1),
                "probes_matched_a_story": found,
                "index_array_mb": round(index.nbytes() / 2**20, 1),
                "process_peak_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--probes", type=int, default=2000)
    args = parser.parse_args()
    lexicon, concepts = Lexicon.load(), Concepts.load()
    sizes = [int(s) for s in args.sizes.split(",")]
    scale = scale_study(sizes, args.probes, lexicon, concepts)
    first, last = (
        scale[0]["check_and_insert_ms"]["median"],
        scale[-1]["check_and_insert_ms"]["median"],
    )
    print(
        json.dumps(
            {
                "benchmark": "dedup",
                "machine": f"{platform.machine()}, {platform.python_implementation()} "
                f"{platform.python_version()}",
                "threshold_study": threshold_study(lexicon, concepts),
                "scale": scale,
                "growth_median_largest_vs_smallest": round(last / first, 2) if first else None,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
