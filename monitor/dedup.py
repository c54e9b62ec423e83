"""Fingerprints of articles and the matcher that groups them into stories. Pure.

Two depths (see ARCHITECTURE.md):

1. *Same item or same text*, right after normalisation: the canonical URL,
   the feed GUID and a hash of the normalised text. The store answers these
   with a unique lookup; nothing here needs more than :func:`fingerprint`.
2. *Same event*, after classification: an article joins a recent story when
   its text is a near-duplicate of the story's (MinHash over character
   shingles for Chinese, word shingles for English), or when it shares the
   province, the time window and enough bilingual event concepts (seed 000 is
   the English report of seed 001), or the same document number (文号).

The index of recent stories is passed in; every match says why it matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from datasketch import MinHash

from monitor.classify import Term

NUM_PERM = 64
NEAR_DUPLICATE = 0.5  # estimated Jaccard of shingle sets
EVENT_WINDOW = timedelta(days=5)
EVENT_MIN_SHARED = 4
EVENT_MIN_JACCARD = 0.4

_DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fff]{1,8}[〔\[［(（]\s*(?:19|20)\d{2}\s*[〕\]］)）]\s*\d{1,4}\s*号"
)
_WORD = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class Concepts:
    terms: tuple[tuple[str, tuple[Term, ...], bool], ...]  # (concept, terms, specific)

    @classmethod
    def load(cls, path: Path | None = None) -> Concepts:
        return _load_concepts(path or Path(__file__).parent / "lexicon" / "events.yaml")

    def find(self, text: str) -> frozenset[str]:
        folded = text.lower()
        return frozenset(
            name for name, terms, _ in self.terms if any(t.count(folded) for t in terms)
        )

    def specific(self) -> frozenset[str]:
        return frozenset(name for name, _, specific in self.terms if specific)


@lru_cache(maxsize=2)
def _load_concepts(path: Path) -> Concepts:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["concepts"]
    return Concepts(
        tuple(
            (name, tuple(Term.of(str(t)) for t in spec["terms"]), bool(spec.get("specific")))
            for name, spec in data.items()
        )
    )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the story matcher compares: one per article, stored with it."""

    text_hash: str
    minhash: tuple[int, ...]
    concepts: frozenset[str]
    doc_numbers: frozenset[str]
    language: str


def shingles(text: str, language: str) -> set[bytes]:
    """Character 3-grams of Chinese, word 3-grams of English."""
    if language == "en":
        words = _WORD.findall(text.lower())
        grams = {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}
    else:
        chars = "".join(_HAN.findall(text))
        grams = {chars[i : i + 3] for i in range(max(1, len(chars) - 2))}
    return {g.encode("utf-8") for g in grams if g}


def minhash(text: str, language: str) -> tuple[int, ...]:
    m = MinHash(num_perm=NUM_PERM, seed=7)
    m.update_batch(list(shingles(text, language)))
    return tuple(int(v) for v in m.hashvalues)


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of two MinHash signatures."""
    if not a or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.asarray(a) == np.asarray(b))) / len(a)


def fingerprint(
    title: str, text: str, language: str, text_hash: str, concepts: Concepts
) -> Fingerprint:
    whole = f"{title}\n{text}"
    return Fingerprint(
        text_hash=text_hash,
        minhash=minhash(text, language),
        concepts=concepts.find(whole),
        doc_numbers=frozenset(m.group().replace(" ", "") for m in _DOC_NUMBER.finditer(whole)),
        language=language,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recent story, as the matcher sees it (its lead article's fingerprint)."""

    story_id: int
    province: str | None
    when: datetime | None  # the lead's publication date, else when it was first seen
    fingerprint: Fingerprint
    extra: tuple[Fingerprint, ...] = field(default=())  # fingerprints of attached articles


@dataclass(frozen=True, slots=True)
class Match:
    story_id: int
    level: str  # near_duplicate | document_number | event
    score: float
    reason: str


def match_story(
    fp: Fingerprint,
    province: str | None,
    when: datetime | None,
    candidates: Iterable[Candidate],
    concepts: Concepts,
) -> Match | None:
    """The recent story this article reports, or None for a new story."""
    specific = concepts.specific()
    best: Match | None = None
    for cand in candidates:
        for other in (cand.fingerprint, *cand.extra):
            found = _compare(fp, province, when, cand, other, specific)
            if found and (best is None or found.score > best.score):
                best = found
    return best


def _compare(
    fp: Fingerprint,
    province: str | None,
    when: datetime | None,
    cand: Candidate,
    other: Fingerprint,
    specific: frozenset[str],
) -> Match | None:
    if fp.language == other.language or fp.language.startswith("zh") == other.language.startswith(
        "zh"
    ):
        sim = similarity(fp.minhash, other.minhash)
        if sim >= NEAR_DUPLICATE:
            return Match(
                cand.story_id, "near_duplicate", round(sim, 3), f"text similarity {sim:.2f}"
            )
    shared_docs = fp.doc_numbers & other.doc_numbers
    if shared_docs:
        doc = sorted(shared_docs)[0]
        return Match(cand.story_id, "document_number", 1.0, f"same document number {doc}")
    if province is None or province != cand.province:
        return None
    if when is not None and cand.when is not None and abs(when - cand.when) > EVENT_WINDOW:
        return None
    shared = fp.concepts & other.concepts
    union = fp.concepts | other.concepts
    if len(shared) < EVENT_MIN_SHARED or not shared & specific or not union:
        return None
    jaccard = len(shared) / len(union)
    if jaccard < EVENT_MIN_JACCARD:
        return None
    names = ", ".join(sorted(shared))
    return Match(
        cand.story_id, "event", round(jaccard, 3), f"same province and window; shares {names}"
    )
