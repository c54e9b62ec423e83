"""Fingerprints of articles, the index of recent stories, and the matcher. Pure.

Deduplication works at two depths (see ARCHITECTURE.md):

1. *Same item or same text*, right after normalisation: the canonical URL,
   the feed GUID and a hash of the normalised text. The store answers these
   with unique lookups.
2. *Same event*, after classification, against the :class:`StoryIndex`:

   near-duplicate text
       MinHash (64 permutations) over character 3-grams for Chinese and word
       3-grams for English; an estimated Jaccard similarity of at least
       :data:`NEAR_DUPLICATE`. Candidates come from banded LSH (21 bands of
       3 rows: a pair at similarity 0.5 shares a band with probability 0.93,
       at 0.6 with 0.99), so a check costs a few binary searches, not a scan.
   the same document
       the same document number (文号) and the same document title.
   the same event in other words or another language
       the same province, publication dates within :data:`EVENT_WINDOW`, and
       enough shared bilingual event concepts (``lexicon/events.yaml``: 实施
       意见 / Implementation Opinions, 天府名品 / Tianfu Famous Products …),
       at least one of them specific to one programme or document.

Every match says which level decided it and why. The index is plain data
rebuilt from storage at start and kept up to date by the pipeline; the
matcher, :func:`match_story`, is a pure function of a fingerprint and the
candidates the index returns.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from monitor.classify import TermSet

NUM_PERM = 64
# LSH bands over the first 63 values: a pair at similarity 0.45 shares a band
# with probability 0.87, at 0.5 0.93, at 0.6 0.99; at the 0.01–0.08 of
# unrelated news on the same topic, almost never.
BANDS, ROWS = 21, 3
# Chosen by measurement (bench/dedup.py, in README): reposts with another
# outlet's header and footer, reader comments, traditional characters with
# glosses and rewritten sentences score 0.89–1.0, a dropped paragraph 0.48
# and up; different articles on the same topic at most 0.08.
NEAR_DUPLICATE = 0.45
MAX_ARTICLES_COMPARED = 20  # of one candidate story: its lead and the latest
EVENT_WINDOW = timedelta(days=5)
EVENT_MIN_SHARED = 4
EVENT_MIN_JACCARD = 0.45

_DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fff]{1,8}[〔\[［(（]\s*(?:19|20)\d{2}\s*[〕\]］)）]\s*\d{1,4}\s*号"
)
_WORD = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
DOC_NUMBER_PREFIX = "文号:"
DOC_TITLE_PREFIX = "文件:"


@dataclass(frozen=True, slots=True)
class Concepts:
    """The bilingual event terms of ``lexicon/events.yaml``: term → concept."""

    terms: TermSet
    concept_of: dict[str, str]  # a term as matched → its concept
    specific: frozenset[str]

    @classmethod
    def load(cls, path: Path | None = None) -> Concepts:
        return _load_concepts(path or Path(__file__).parent / "lexicon" / "events.yaml")

    def find(self, text: str) -> frozenset[str]:
        return frozenset(self.concept_of[t] for t in self.terms.counts(text.lower()))

    def is_specific(self, concept: str) -> bool:
        return concept in self.specific or concept.startswith((DOC_NUMBER_PREFIX, DOC_TITLE_PREFIX))


@lru_cache(maxsize=2)
def _load_concepts(path: Path) -> Concepts:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["concepts"]
    concept_of: dict[str, str] = {}
    raws: list[str] = []
    for name, spec in data.items():
        for raw in map(str, spec["terms"]):
            raws.append(raw)
            key = raw[3:] if raw.startswith("re:") else raw
            concept_of[" ".join(key.lower().split()) if key.isascii() else key] = name
    specific = frozenset(name for name, spec in data.items() if spec.get("specific"))
    return Concepts(TermSet(raws), concept_of, specific)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the story matcher compares: one per article, stored with it.

    ``concepts`` holds the event concepts found in the text and the identity
    of the documents it reports (``文号:…``, ``文件:…``).
    """

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


# MinHash as datasketch 2.0 computes it (``MinHash(num_perm=64, seed=7)``, its
# default "affine32" scheme), bit for bit, so that stored signatures stay valid:
# SHA-1's first 32 bits of each shingle, the MurmurHash3 finalizer, then 64
# affine permutations a·h + b mod 2³² (a odd). Written out here because importing
# datasketch imports scipy, which cost 80 MB of memory and 0.7 s at every start;
# tests/test_drills_fuzz.py checks it against datasketch.
_MINHASH_SEED = 7
_MAX32 = np.uint32(0xFFFFFFFF)


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    random = np.random.RandomState(_MINHASH_SEED)
    a = random.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = random.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash(text: str, language: str) -> tuple[int, ...]:
    return minhash_of(shingles(text, language))


def minhash_of(shingles_: Iterable[bytes]) -> tuple[int, ...]:
    """The MinHash signature of a set of shingles (bytes)."""
    grams = list(shingles_)
    if not grams:
        return (int(_MAX32),) * NUM_PERM
    hashes = np.fromiter(
        (int.from_bytes(hashlib.sha1(g).digest()[:4], "little") for g in grams),
        dtype=np.uint32,
        count=len(grams),
    ).reshape(-1, 1)
    a, b = _permutations()
    with np.errstate(over="ignore"):
        permuted = _fmix32(hashes) * a + b  # uint32: the wrap-around is the mod 2³²
    return tuple(int(v) for v in permuted.min(axis=0))


def similarity(a: tuple[int, ...] | np.ndarray, b: tuple[int, ...] | np.ndarray) -> float:
    """Estimated Jaccard similarity of two MinHash signatures."""
    if len(a) == 0 or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.asarray(a) == np.asarray(b))) / len(a)


def fingerprint(
    title: str,
    text: str,
    language: str,
    text_hash: str,
    concepts: Concepts,
    *,
    doc_titles: Iterable[str] = (),
) -> Fingerprint:
    whole = f"{title}\n{text}"
    numbers = frozenset(m.group().replace(" ", "") for m in _DOC_NUMBER.finditer(whole))
    identity = {DOC_NUMBER_PREFIX + n for n in numbers}
    identity |= {DOC_TITLE_PREFIX + t for t in doc_titles if len(t) >= 6}
    return Fingerprint(
        text_hash=text_hash,
        minhash=minhash(text, language),
        concepts=concepts.find(whole) | identity,
        doc_numbers=numbers,
        language=language,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recent story, as the matcher sees it: its articles' fingerprints."""

    story_id: int
    province: str | None
    when: datetime | None  # the lead's publication date, else when it was first seen
    fingerprint: Fingerprint
    extra: tuple[Fingerprint, ...] = field(default=())  # fingerprints of attached articles


@dataclass(frozen=True, slots=True)
class Match:
    story_id: int
    level: str  # near_duplicate | document | event
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
    best: Match | None = None
    for cand in candidates:
        for other in (cand.fingerprint, *cand.extra):
            found = _compare(fp, province, when, cand, other, concepts)
            if found and (best is None or found.score > best.score):
                best = found
    return best


def _compare(
    fp: Fingerprint,
    province: str | None,
    when: datetime | None,
    cand: Candidate,
    other: Fingerprint,
    concepts: Concepts,
) -> Match | None:
    if fp.language.startswith("zh") == other.language.startswith("zh"):
        sim = similarity(fp.minhash, other.minhash)
        if sim >= NEAR_DUPLICATE:
            return Match(
                cand.story_id, "near_duplicate", round(sim, 3), f"text similarity {sim:.2f}"
            )
    shared = fp.concepts & other.concepts
    numbers = {c for c in shared if c.startswith(DOC_NUMBER_PREFIX)}
    titles = {c for c in shared if c.startswith(DOC_TITLE_PREFIX)}
    if numbers and titles:
        doc = sorted(numbers)[0].removeprefix(DOC_NUMBER_PREFIX)
        return Match(cand.story_id, "document", 1.0, f"same document {doc}")
    if province is None or province != cand.province:
        return None
    if when is not None and cand.when is not None and abs(when - cand.when) > EVENT_WINDOW:
        return None
    union = fp.concepts | other.concepts
    if len(shared) < EVENT_MIN_SHARED or not any(concepts.is_specific(c) for c in shared):
        return None
    jaccard = len(shared) / len(union)
    if jaccard < EVENT_MIN_JACCARD:
        return None
    names = ", ".join(sorted(shared))
    return Match(
        cand.story_id, "event", round(jaccard, 3), f"same province and window; shares {names}"
    )


# ── the index ───────────────────────────────────────────────────────────────

# Fixed odd multipliers: a band of 4 MinHash values → one 64-bit key.
_BAND_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)
_BUFFER = 4096  # band keys appended here; merged into the sorted arrays when full


def band_keys(signature: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """The LSH keys of one signature: one uint64 per band."""
    values = np.asarray(signature, dtype=np.uint64)[: BANDS * ROWS].reshape(BANDS, ROWS)
    with np.errstate(over="ignore"):
        return (values * _BAND_MULT).sum(axis=1, dtype=np.uint64)


@dataclass(slots=True)
class _Story:
    province: str | None
    when: datetime | None
    articles: list[int]  # positions in the index


class StoryIndex:
    """Recent articles and their stories, for fast candidate lookup.

    Memory is compact by design (about 0.6 kB an article: the signature as
    uint32, 16 band keys in sorted numpy arrays, a few references), so that
    a million articles fit in well under a gigabyte; checking one article
    costs 16 binary searches and a scan of a small insertion buffer.
    """

    def __init__(self) -> None:
        self._keys = [np.empty(0, dtype=np.uint64) for _ in range(BANDS)]
        self._pos = [np.empty(0, dtype=np.int32) for _ in range(BANDS)]
        self._buf_keys = np.empty((_BUFFER, BANDS), dtype=np.uint64)
        self._buf_pos = np.empty(_BUFFER, dtype=np.int32)
        self._buffered = 0
        # Per article, by position: arrays rather than Python objects (a tuple and
        # two strings an article were a third of the index's memory).
        self._sigs = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self._story_of = np.empty(1024, dtype=np.int64)
        self._hashes = np.empty(1024, dtype="S64")  # text hashes (hex SHA-256), as bytes
        self._language = np.empty(1024, dtype=np.uint8)  # index into self._languages
        self._languages: list[str] = []
        self._concepts: list[frozenset[str]] = []  # interned: few distinct sets
        self._numbers: list[frozenset[str]] = []
        self._size = 0
        self._stories: dict[int, _Story] = {}
        self._by_province: dict[str | None, list[tuple[datetime, int]]] = {}
        self._undated: dict[str | None, list[int]] = {}  # stories with no date (eval corpora)
        self._by_document: dict[str, set[int]] = {}  # 文号:/文件: concept → story ids
        self._interned: dict[frozenset[str], frozenset[str]] = {}
        self.last_article_id = 0  # the newest stored article the index has seen
        self._recent_ids: set[int] = set()  # ids near the top, for catching up

    def __len__(self) -> int:
        return self._size

    @property
    def stories(self) -> int:
        return len(self._stories)

    def nbytes(self) -> int:
        """Bytes held in numpy arrays (the bulk of the index)."""
        arrays = [*self._keys, *self._pos, self._buf_keys, self._buf_pos, self._sigs]
        arrays += [self._story_of, self._hashes, self._language]
        return sum(a.nbytes for a in arrays)

    def add(
        self,
        story_id: int,
        province: str | None,
        when: datetime | None,
        fp: Fingerprint,
        *,
        article_id: int = 0,
    ) -> None:
        """Index one stored article of a story (its lead or an attached one)."""
        position = self._size
        if position == len(self._sigs):
            self._grow()
        self._sigs[position] = np.asarray(fp.minhash, dtype=np.uint32)
        self._story_of[position] = story_id
        self._hashes[position] = fp.text_hash.encode("utf-8")
        if fp.language not in self._languages:
            self._languages.append(fp.language)
        self._language[position] = self._languages.index(fp.language)
        self._size += 1
        concepts = self._interned.setdefault(fp.concepts, fp.concepts)
        numbers = self._interned.setdefault(fp.doc_numbers, fp.doc_numbers)
        self._concepts.append(concepts)
        self._numbers.append(numbers)
        self._buf_keys[self._buffered] = band_keys(fp.minhash)
        self._buf_pos[self._buffered] = position
        self._buffered += 1
        if self._buffered == _BUFFER:
            self._merge()
        story = self._stories.get(story_id)
        if story is None:
            province = sys.intern(province) if province is not None else None
            story = self._stories[story_id] = _Story(province, when, [])
            if when is not None:
                bisect.insort(self._by_province.setdefault(province, []), (when, story_id))
            else:
                self._undated.setdefault(province, []).append(story_id)
        story.articles.append(position)
        for concept in concepts:
            if concept.startswith((DOC_NUMBER_PREFIX, DOC_TITLE_PREFIX)):
                self._by_document.setdefault(concept, set()).add(story_id)
        if article_id:
            self.last_article_id = max(self.last_article_id, article_id)
            self._recent_ids.add(article_id)
            if len(self._recent_ids) > 20_000:
                floor = self.last_article_id - 10_000
                self._recent_ids = {i for i in self._recent_ids if i >= floor}

    def knows(self, article_id: int) -> bool:
        """Whether a stored article (near the top of the id range) is indexed."""
        return article_id in self._recent_ids

    def _merge(self) -> None:
        n = self._buffered
        for band in range(BANDS):
            keys = np.concatenate([self._keys[band], self._buf_keys[:n, band]])
            pos = np.concatenate([self._pos[band], self._buf_pos[:n]])
            order = np.argsort(keys, kind="stable")  # two sorted runs: linear time
            self._keys[band], self._pos[band] = keys[order], pos[order]
        self._buffered = 0

    def _grow(self) -> None:
        """Room for more articles: a quarter more (doubling left half of it unused)."""
        size, capacity = self._size, self._size + max(1024, self._size // 4)

        def grown(array: np.ndarray) -> np.ndarray:
            # Not np.resize: its result is a view of a copy twice the old size.
            bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
            bigger[:size] = array[:size]
            return bigger

        self._sigs = grown(self._sigs)
        self._story_of = grown(self._story_of)
        self._hashes = grown(self._hashes)
        self._language = grown(self._language)

    def _fingerprint(self, position: int) -> Fingerprint:
        return Fingerprint(
            text_hash=self._hashes[position].decode("utf-8"),
            minhash=tuple(int(v) for v in self._sigs[position]),
            concepts=self._concepts[position],
            doc_numbers=self._numbers[position],
            language=self._languages[self._language[position]],
        )

    def _similar(self, fp: Fingerprint) -> set[int]:
        """Positions of articles sharing an LSH band with ``fp`` and similar enough."""
        keys = band_keys(fp.minhash)
        found: set[int] = set()
        for band in range(BANDS):
            sorted_keys = self._keys[band]
            lo = np.searchsorted(sorted_keys, keys[band], side="left")
            hi = np.searchsorted(sorted_keys, keys[band], side="right")
            found.update(self._pos[band][lo:hi].tolist())
        if self._buffered:
            hits = (self._buf_keys[: self._buffered] == keys).any(axis=1)
            found.update(self._buf_pos[: self._buffered][hits].tolist())
        if not found:
            return found
        positions = np.fromiter(found, dtype=np.int64, count=len(found))
        signature = np.asarray(fp.minhash, dtype=np.uint32)
        scores = (self._sigs[positions] == signature).mean(axis=1)
        return set(positions[scores >= NEAR_DUPLICATE].tolist())

    def candidates(
        self, fp: Fingerprint, province: str | None, when: datetime | None
    ) -> list[Candidate]:
        """The stories this article could belong to: near-duplicates anywhere in
        the index, and stories of the same province within the event window."""
        story_ids = {int(self._story_of[p]) for p in self._similar(fp)}
        if province is not None:
            timeline = self._by_province.get(province, [])
            if when is None:  # an undated article may belong to any story of its province
                story_ids.update(story_id for _, story_id in timeline)
            else:
                lo = bisect.bisect_left(timeline, (when - EVENT_WINDOW, -1))
                hi = bisect.bisect_right(timeline, (when + EVENT_WINDOW, 2**62))
                story_ids.update(story_id for _, story_id in timeline[lo:hi])
            story_ids.update(self._undated.get(province, ()))
        for concept in fp.concepts:
            if concept.startswith(DOC_NUMBER_PREFIX):  # the same document, wherever filed
                story_ids.update(self._by_document.get(concept, ()))
        result = []
        for story_id in sorted(story_ids):
            story = self._stories[story_id]
            compared = story.articles
            if len(compared) > MAX_ARTICLES_COMPARED:
                compared = [compared[0], *compared[-(MAX_ARTICLES_COMPARED - 1) :]]
            fps = [self._fingerprint(p) for p in compared]
            result.append(Candidate(story_id, story.province, story.when, fps[0], tuple(fps[1:])))
        return result
