"""Fingerprints of articles, the index of recent stories, and the matcher. Pure.

Deduplication works at two depths (see ARCHITECTURE.md):

1. *Same item or same text*, right after normalisation: the canonical URL,
   the feed GUID and a hash of the normalised text. The store answers these
   with unique lookups.
2. *Same event*, after classification: :func:`decide` compares the article
   with the stored articles the :class:`StoryIndex` finds (LSH bands and an
   inverted index of rare anchors, never a scan), by these rules:

   the same document
       the same 文号, or the same long document title, that the article
       reports (not one it cites: 依据《…》), carried by at most
       :data:`DOCUMENT_MAX_ARTICLES` stored articles.
   near-duplicate text
       MinHash (64 permutations) over character 3-grams for Chinese and word
       3-grams for English; an estimated Jaccard similarity of at least
       :data:`NEAR_DUPLICATE` (21 LSH bands of 3 rows: a pair at 0.5 shares
       a band with probability 0.93).
   the same event in other words or another language
       the event anchors of ``monitor/anchors.py`` (documents, dates, people,
       numbers, ordinals, places, years, programmes, a plan's period, a
       quoted theme, the same headline, a programme's edition, and between
       languages the bodies and venues both name) weighted by kind and by
       rarity (:class:`Rarity`), plus the rarity-weighted cosine of the
       content words when both are Chinese or both English, and a little
       for publication dates within :data:`PROXIMITY_DAYS`, reach
       :data:`EVENT_THRESHOLD`; between languages, not on years, bodies and
       topic concepts alone.

   and stay apart, whatever they share, when :func:`veto` says so: a
   recurring item published more than :data:`FAR_APART_DAYS` apart, a
   month's figures against the year's, other
   years or months in the headlines, other editions, two different
   recurring programmes (Quality Month and a yearly gala), a preview against a
   report, a national headline against a local one, kinds of event that
   exclude each other, two provinces that have nothing to do with each other.

An article joins a story when it matches one of its articles and none of its
articles vetoes it, so a story never holds two articles that cannot report
one event; matching several stories, it joins the oldest and the others merge
into it (:class:`Decision` ``merge``) when no veto stands between them. The
comparison of two articles is symmetric and looks only at the two (and the
rarity of keys), so the same articles in another order make the same
stories; only a veto from a third article can depend on the order. Every
comparison keeps its evidence (:meth:`Comparison.explain`): ``story ID``
prints it, ``eval`` prints it for each mistake. The index is plain data
rebuilt from storage at start and kept up to date by the pipeline; the
decision is a pure function of a fingerprint, the candidates and the rarity.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import zlib
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from monitor import anchors as anchors_
from monitor.anchors import anchors
from monitor.classify import TermSet
from monitor.model import Fingerprint  # re-exported: it lives in model.py, with the other values

if TYPE_CHECKING:
    import numpy as np
else:

    class _Numpy:
        """numpy, imported at its first use (a MinHash, an article indexed): a
        process whose index stays empty and that fingerprints nothing (``check``,
        a pass that finds nothing new over an empty store) does without its
        17 MB and its import time. The first use puts the module itself in
        ``np``, so later lookups cost nothing."""

        def __getattr__(self, name: str) -> Any:
            import numpy

            globals()["np"] = numpy
            return getattr(numpy, name)

    np = _Numpy()

NUM_PERM = 64
# LSH bands over the first 63 values: a pair at similarity 0.45 shares a band
# with probability 0.87, at 0.5 0.93, at 0.6 0.99; at the 0.01–0.08 of
# unrelated news on the same topic, almost never.
BANDS, ROWS = 21, 3
# Chosen by measurement (bench/dedup.py, in bench/RESULTS.md): reposts with
# another outlet's header and footer, reader comments, traditional characters
# with glosses and rewritten sentences score 0.89–1.0, a dropped paragraph
# 0.48 and up; different articles on the same topic at most 0.08.
NEAR_DUPLICATE = 0.45
MAX_ARTICLES_COMPARED = 20  # of one candidate story: its lead and the latest
# The index keeps the fingerprints it rebuilds for this many articles, the
# least recently compared dropped first: those the checks meet again (the
# recent stories' articles). What the matcher works out of an article's keys
# (by kind, their order, the norm of its words) lives on its fingerprint
# (``Fingerprint.memo``), so it goes with it. An article costs ~20 KB there
# (its key set of a few hundred keys, the signature's Python ints, the keys
# by kind). Caches of their own, keyed by key sets (4,096 each before), kept
# up to four times as many articles alive, new ones' whole key sets among
# them: ~86 MB over bench.memory's first round.
_ARTICLES_CACHED = 1024
_WORD = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
DOC_NUMBER_PREFIX = anchors_.DOC_NUMBER
DOC_TITLE_PREFIX = anchors_.DOC_TITLE
VERDICT_PROVINCE = "判:"
PUBLISHED = "近:"  # shown in the evidence: published within days of each other
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Concepts:
    """The bilingual event terms of ``lexicon/events.yaml``: term → concept."""

    terms: TermSet
    concept_of: dict[str, str]  # a term as matched → its concept
    specific: frozenset[str]
    bridge: frozenset[str] = frozenset()  # bodies and venues: anchors across languages only
    series: frozenset[str] = frozenset()  # recurring programmes: two different ones keep apart

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
    bridge = frozenset(name for name, spec in data.items() if spec.get("bridge"))
    series = frozenset(name for name, spec in data.items() if spec.get("series"))
    return Concepts(TermSet(raws), concept_of, specific, bridge, series)


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
_MAX32 = 0xFFFFFFFF


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
    mixed: np.ndarray = h ^ (h >> np.uint32(16))
    return mixed


def minhash(text: str, language: str) -> tuple[int, ...]:
    return minhash_of(shingles(text, language))


def minhash_of(shingles_: Iterable[bytes]) -> tuple[int, ...]:
    """The MinHash signature of a set of shingles (bytes)."""
    grams = list(shingles_)
    if not grams:
        return (_MAX32,) * NUM_PERM
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
    if isinstance(a, tuple) and isinstance(b, tuple):  # stored and computed: Python ints
        same: int = sum(map(operator.eq, a, b))  # 64 values: faster than numpy's calls
        return same / len(a)
    return float(np.count_nonzero(np.asarray(a) == np.asarray(b))) / len(a)


def fingerprint(
    title: str,
    text: str,
    language: str,
    text_hash: str,
    concepts: Concepts,
    *,
    doc_titles: Iterable[str] = (),
    province: str | None = None,
) -> Fingerprint:
    """An article's MinHash and its event anchors (``monitor/anchors.py``), with
    the classifier's province (``判:CN-SC``): the province veto compares the
    two articles' own provinces, whichever of them leads its story."""
    whole = f"{title}\n{text}"
    named = concepts.find(whole)
    found = anchors(
        title,
        text,
        language,
        named - concepts.bridge,
        doc_titles=doc_titles,
        bridges=named & concepts.bridge,
        series=named & concepts.series,
    )
    keys = found.keys | {VERDICT_PROVINCE + (province or UNKNOWN)}
    numbers = frozenset(k.removeprefix(DOC_NUMBER_PREFIX) for k in found.of(DOC_NUMBER_PREFIX))
    return Fingerprint(
        text_hash=text_hash,
        minhash=minhash(text, language),
        concepts=frozenset(keys),
        doc_numbers=numbers,
        language=language,
    )


# ── rarity ──────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class Rarity:
    """How many stored articles carry each key: rare keys weigh more.

    Learned from the articles themselves (the story index counts what it
    holds; ``eval`` counts the whole corpus first, so that every arrival
    order sees the same weights), never from a shipped table.
    """

    counts: Counter[str] = field(default_factory=Counter)
    total: int = 0
    # Weights computed since the store last grew by a hundredth (a weight moves
    # less than that in between): a check weighs hundreds of keys.
    _cache: dict[str, float] = field(default_factory=dict, repr=False)
    _cached_at: int = field(default=0, repr=False)
    # Renewed whenever the weights are: a norm kept on a fingerprint is good
    # while it holds the same generation.
    generation: object = field(default_factory=object, repr=False)

    def learn(self, keys: Iterable[str]) -> None:
        self.counts.update(keys)
        self.total += 1

    def norm(self, fp: Fingerprint) -> float:
        """The sum of the squared weights of an article's words (the ``词:``
        keys of its fingerprint), kept on the fingerprint until the weights
        change."""
        self.weight("")  # renews the generation when the store has grown
        memo = _memo(fp)
        if memo.norm_generation is not self.generation:
            words = frozenset(k for k in fp.concepts if k.startswith(anchors_.WORD))
            memo.norm = sum(self.weight(k) ** 2 for k in words)
            memo.norm_generation = self.generation
        return memo.norm

    def weight(self, key: str) -> float:
        """Inverse document frequency scaled to 0..1: 1 for a key only one
        article carries, towards 0 for one that every article carries.

        A young store has not seen enough articles to tell rare from common:
        until it holds many more than :data:`PRIOR_ARTICLES`, the weight leans
        on a prior by kind of key (a date is usually rarer than a word).
        """
        n = self.total
        if not self._cached_at <= n <= self._cached_at * 1.01:
            self._cache.clear()
            self.generation = object()
            self._cached_at = n
        if (cached := self._cache.get(key)) is not None:
            return cached
        learned = 0.0
        if n >= 2:
            df = min(max(self.counts.get(key, 0), 1), n)
            learned = math.log((n + 1) / (df + 0.5)) / math.log((n + 1) / 1.5)
        prior = PRIOR_WEIGHT.get(key[: key.find(":") + 1], 0.4)
        weight = (n * learned + PRIOR_ARTICLES * prior) / (n + PRIOR_ARTICLES)
        self._cache[key] = weight
        return weight


PRIOR_ARTICLES = 50
PRIOR_WEIGHT = {  # a key's rarity before the store has seen enough articles
    anchors_.DOC_NUMBER: 0.9,
    anchors_.DOC_TITLE: 0.7,
    anchors_.DATE: 0.5,
    anchors_.PERSON: 0.5,
    anchors_.NUMBER: 0.5,
    anchors_.ORDINAL: 0.4,
    anchors_.PLACE: 0.4,
    anchors_.YEAR: 0.2,
    anchors_.CONCEPT: 0.2,
    anchors_.BRIDGE: 0.2,
    anchors_.QUOTE: 0.7,
    anchors_.PERIOD: 0.6,
    anchors_.HEADLINE: 0.9,
    anchors_.EDITION: 0.7,
    anchors_.YEAR_EDITION: 0.7,
    anchors_.WORD: 0.3,
}


# ── the decision ────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recent story, as the matcher sees it: its articles' fingerprints."""

    story_id: int
    province: str | None
    when: datetime | None  # the lead's publication date, else when it was first seen
    fingerprint: Fingerprint
    extra: tuple[Fingerprint, ...] = field(default=())  # fingerprints of attached articles
    # Which of (fingerprint, *extra) the index found the article by: those are
    # compared in full, the others only checked for a veto. Empty: all in full.
    found: tuple[int, ...] = field(default=())
    # When each of (fingerprint, *extra) was published (else first seen), when
    # known: the date rules (:data:`FAR_APART_DAYS`). Empty: none known.
    dates: tuple[date | None, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Comparison:
    """One article against one stored article: the evidence and what it decided.

    ``rule`` is the rule that joined them (``near_duplicate``, ``document``,
    ``event``), or None; ``veto`` what kept them apart when anything did.
    """

    story_id: int
    rule: str | None
    score: float
    shared: tuple[str, ...]
    veto: str | None = None
    threshold: float = 0.0  # the event score this pair needed (by script)
    short: str | None = None  # what a pair over the threshold lacked

    def explain(self) -> str:
        shown = ", ".join(self.shared[:12]) or "nothing"
        if self.rule:
            return f"{self.rule}: similarity {self.score:.2f}; shares {shown}"
        needed = self.threshold or EVENT_THRESHOLD
        why = self.veto or self.short or f"similarity {self.score:.2f} below {needed}"
        return f"apart ({why}); shares {shown}"


@dataclass(frozen=True, slots=True)
class Match:
    story_id: int
    level: str  # near_duplicate | document | event
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with an article: ``new`` story, ``join`` one, or ``merge``
    (join the oldest of several matching stories and fold the others into it).
    """

    intent: str  # new | join | merge
    story_id: int | None
    merged: tuple[int, ...]
    match: Match | None
    comparisons: tuple[Comparison, ...]  # the best comparison with each candidate story


# Anchor kinds and their weight in the event score, each kind's keys counted
# by rarity (0..1) up to 2 (KIND_CAP: 1 for places and years): a list of eight
# cities or a table of figures is strong evidence, not eight times as strong. The weights
# are those a logistic fit on the development corpus's pairs gave, rounded,
# relative to the words' cosine (bench/RESULTS.md, README "Story grouping").
# Added after the fit, by hand: a body or venue counts between languages only
# (a logistic fit of every kind, cross-validated by event, asked about 0.7 of
# a word's weight of it, a quoted phrase 0.15, a period 0.3; see README); the
# same headline weighs as a date.
BRIDGE_WEIGHT, QUOTE_WEIGHT, PERIOD_WEIGHT, HEADLINE_WEIGHT = 0.5, 0.8, 0.8, 1.4
# A recurring programme's edition, or of the award or conference a headline
# names (the programme and the ordinal also count on their own): on top of
# them. On the dev corpus's pairs, 0.4–0.7 give the same grouping; 0.3 loses
# pairs, 0.8 merges two events: the middle, leaning to precision.
EDITION_WEIGHT = 0.5
# A recurring programme's year in both headlines (2024 Baldrige Awards): that
# year's edition, but a year's programme has many events (each city's launch
# of the year's Quality Month): half as much.
YEAR_EDITION_WEIGHT = 0.3
# Published within PROXIMITY_DAYS of each other: reports of one event come
# out within days of it. Not an anchor (it cannot make EVENT_MIN_ANCHORS):
# most candidates in a running store are recent, so it only tips a pair
# whose anchors and words already come near the threshold.
PROXIMITY_DAYS, PROXIMITY_WEIGHT = 3, 0.3
ANCHOR_WEIGHTS = {
    anchors_.DOC_NUMBER: 1.0,
    anchors_.DOC_TITLE: 0.4,
    anchors_.DATE: 1.4,
    anchors_.YEAR: 1.2,
    anchors_.CONCEPT: 1.0,
    anchors_.ORDINAL: 0.9,
    anchors_.NUMBER: 0.8,
    anchors_.PLACE: 0.6,
    anchors_.PERSON: 0.5,
    anchors_.BRIDGE: BRIDGE_WEIGHT,
    anchors_.QUOTE: QUOTE_WEIGHT,
    anchors_.PERIOD: PERIOD_WEIGHT,
    anchors_.HEADLINE: HEADLINE_WEIGHT,
    anchors_.EDITION: EDITION_WEIGHT,
    anchors_.YEAR_EDITION: YEAR_EDITION_WEIGHT,
}
KIND_CAP = {anchors_.PLACE: 1.0, anchors_.YEAR: 1.0, anchors_.HEADLINE: 1.0}  # others: 2.0
# The event score that joins two articles, with at least EVENT_MIN_ANCHORS of
# it from anchors (words alone are the topic, not the event).
EVENT_THRESHOLD = 1.6
EVENT_MIN_ANCHORS = 0.5
# Chinese against English: no words in common to add, so a little less is
# asked of the anchors (with bodies bridging the languages, 1.45 joins four
# national releases 1.5 missed on the dev corpus and merges nothing more).
CROSS_LANGUAGE_THRESHOLD = 1.45
DOCUMENT_MAX_ARTICLES = 3  # a document more articles name is a reference, not the event


def _kind(key: str) -> str:
    return key[: key.index(":") + 1] if ":" in key else ""


_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Side:
    """One article's keys as the vetoes read them, worked out once (kept on
    its fingerprint: :func:`_memo`)."""

    kinds: dict[str, frozenset[str]]  # the keys by kind, words left out
    title_years: frozenset[str]  # the years in the headline, prefix removed
    years: frozenset[str]  # the years named, prefix removed
    preview: bool
    scopes: frozenset[str]
    types: frozenset[str]  # the kinds of event in the headline, prefix removed
    statistics: bool
    has_verdict: bool  # the classifier's province is in the keys (判:)
    verdict: str | None  # that province (None: unknown)
    provinces: frozenset[str]  # the provinces it names, itself or by a place


@dataclass(slots=True)
class _Memo:
    """What the matcher works out of one fingerprint's keys (``Fingerprint.memo``)."""

    side: _Side
    ordered: tuple[str, ...] | None = None  # see _ordered
    norm: float = 0.0  # see Rarity.norm
    norm_generation: object = None  # the Rarity.generation ``norm`` was weighed in


def _memo(fp: Fingerprint) -> _Memo:
    memo: _Memo | None = fp.memo
    if memo is None:
        memo = _Memo(_side(fp.concepts))
        object.__setattr__(fp, "memo", memo)  # a memo, not a field (frozen)
    return memo


def _side(keys: frozenset[str]) -> _Side:
    """An article's keys by kind, words left out, and what the vetoes read
    of them: the vetoes look at these for every candidate, and one article
    is compared with many (kept: :func:`_memo`)."""
    found: dict[str, set[str]] = {}
    for key in keys:
        if not key.startswith(anchors_.WORD):
            found.setdefault(_kind(key), set()).add(key)
    kinds = {kind: frozenset(keys_) for kind, keys_ in found.items()}
    has_verdict, verdict = False, None
    for key in kinds.get(VERDICT_PROVINCE, _NONE):  # one, the first met
        value = key.removeprefix(VERDICT_PROVINCE)
        has_verdict, verdict = True, None if value == UNKNOWN else value
        break
    return _Side(
        kinds=kinds,
        title_years=_stripped(kinds, anchors_.TITLE_YEAR),
        years=_stripped(kinds, anchors_.YEAR),
        preview=bool(kinds.get(_PREVIEW_KIND)),
        scopes=kinds.get(anchors_.SCOPE, _NONE),
        types=_stripped(kinds, anchors_.EVENT_TYPE),
        statistics=STATISTICS in kinds.get(anchors_.EVENT_TYPE, _NONE),
        has_verdict=has_verdict,
        verdict=verdict,
        provinces=frozenset(anchors_.provinces_named(_places(kinds))) or _NONE,
    )


def _stripped(kinds: dict[str, frozenset[str]], prefix: str) -> frozenset[str]:
    return frozenset(k.removeprefix(prefix) for k in kinds.get(prefix, _NONE)) or _NONE


def veto(
    a: Fingerprint,
    province_a: str | None,
    b: Fingerprint,
    province_b: str | None,
    *,
    days_apart: int | None = None,
) -> str | None:
    """Why two articles cannot report one event, or None.

    Different years in the headlines, different months named in them (a
    monthly report), different editions (the 5th and the 6th award), a
    preview against a report (a press conference and the conference it
    announces), a national headline against a local one (a city's launch of
    the national Quality Month), kinds of event that exclude each other in
    the headlines (a launch of Quality Month and a conference), two different
    provinces neither of which the other article names (two provinces'
    documents from one template). A national story
    (``CN``) and a province's do not veto: a national event is hosted by one.

    With ``days_apart``, the days between the two publication dates: a
    recurring item published more than :data:`FAR_APART_DAYS` apart (each
    year's edition of a programme, a periodic release, the same day of the
    year named in both) is two editions; and a month's figures are not the
    year's (a statistics headline naming a month against one naming its
    year alone).
    """
    return _veto(_memo(a).side, province_a, _memo(b).side, province_b, days_apart)


# Reports of one event come out within days, a late one within weeks or a few
# months; the next edition of a yearly programme a year later. Two reports of
# a recurring item published more than half a year apart are two editions.
FAR_APART_DAYS = 183
STATISTICS = anchors_.EVENT_TYPE + "statistics"
_PREVIEW_KIND = anchors_.PREVIEW[: anchors_.PREVIEW.index(":") + 1]


def days_between(a: date | None, b: date | None) -> int | None:
    """Days between two publication dates (or datetimes), None when either is unknown."""
    if a is None or b is None:
        return None
    return abs((day_of(a) - day_of(b)).days)


def day_of(when: date) -> date:
    return when.date() if isinstance(when, datetime) else when


def _recurring(ka: dict[str, frozenset[str]], kb: dict[str, frozenset[str]]) -> str | None:
    """What makes two articles about a recurring item, or None: one named
    programme in both (the lexicon's specific concepts: Quality Month, an
    award, a certification mark), an edition in both (an ordinal: what has
    editions recurs), the same day of the year named in both (an
    anniversary, once they are far apart), a periodic release in a headline."""
    programmes = ka.get(anchors_.CONCEPT, _NONE) & kb.get(anchors_.CONCEPT, _NONE)
    if named := {k for k in programmes if k in _specific_concepts()}:
        return f"programme {min(named).removeprefix(anchors_.CONCEPT)}"
    if ka.get(anchors_.ORDINAL) and kb.get(anchors_.ORDINAL):
        return "editions"
    if shared := ka.get(anchors_.DATE, _NONE) & kb.get(anchors_.DATE, _NONE):
        return f"date {min(shared).removeprefix(anchors_.DATE)}"
    if STATISTICS in ka.get(anchors_.EVENT_TYPE, _NONE) | kb.get(anchors_.EVENT_TYPE, _NONE):
        return "statistics release"
    return None


def _month_and_year(ka: dict[str, frozenset[str]], kb: dict[str, frozenset[str]]) -> str | None:
    """A month's figures against the year's: one statistics headline names a
    month of a year (``2023年1月``) and not the months to date (``1—12月``),
    the other that year and no month."""
    types = ka.get(anchors_.EVENT_TYPE, _NONE) | kb.get(anchors_.EVENT_TYPE, _NONE)
    if STATISTICS not in types:
        return None
    for x, y in ((ka, kb), (kb, ka)):
        months = x.get(anchors_.MONTH, _NONE)
        if not months or x.get(anchors_.TO_DATE) or y.get(anchors_.MONTH, _NONE):
            continue
        years = {k.removeprefix(anchors_.TITLE_YEAR) for k in y.get(anchors_.TITLE_YEAR, _NONE)}
        monthly = {k.removeprefix(anchors_.MONTH)[:4] for k in months}
        if years & monthly:
            month = min(months).removeprefix(anchors_.MONTH)
            return f"a month's figures and the year's: {month} / {min(years & monthly)}"
    return None


def _veto(
    a: _Side,
    province_a: str | None,
    b: _Side,
    province_b: str | None,
    days_apart: int | None = None,
) -> str | None:
    """:func:`veto` on two articles' keys as :func:`_side` reads them."""
    ka, kb = a.kinds, b.kinds
    if days_apart is not None and days_apart > FAR_APART_DAYS and (what := _recurring(ka, kb)):
        return f"published {days_apart} days apart: two editions of a recurring item ({what})"
    if (a.statistics or b.statistics) and (reason := _month_and_year(ka, kb)):
        return reason
    for prefix, reason in _CHECKS:
        xa, xb = ka.get(prefix), kb.get(prefix)
        if xa and xb and xa.isdisjoint(xb):
            return f"{reason}: {', '.join(sorted(xa))} / {', '.join(sorted(xb))}"
    for x, y in ((a, b), (b, a)):
        named = x.title_years
        if named and y.years and named.isdisjoint(y.years):
            return f"the headline's year {min(named)} is not among the other's years"
    if a.preview != b.preview:
        return "one announces the event, the other reports it"
    if a.scopes != b.scopes and len(a.scopes | b.scopes) == 2:
        return "a national headline and a local one (a local edition of a national campaign)"
    ta, tb = a.types, b.types
    if ta and tb and ta.isdisjoint(tb):
        # One edition in one place is one event, whatever each headline calls it
        # (a forum's ninth edition opening with a Quality Month launch); not a
        # press conference, which names the edition and the place it announces.
        same_edition = (
            "press" not in ta | tb
            and ka.get(anchors_.ORDINAL, _NONE) & kb.get(anchors_.ORDINAL, _NONE)
            and ka.get(anchors_.PLACE, _NONE) & kb.get(anchors_.PLACE, _NONE)
        )
        if not same_edition:
            clash = sorted(
                f"{x} / {y}"
                for x in ta
                for y in tb
                if frozenset((x, y)) in anchors_.INCOMPATIBLE_TYPES
            )
            if clash:
                return f"different kinds of event in the headlines: {clash[0]}"
    province_a = a.verdict if a.has_verdict else province_a
    province_b = b.verdict if b.has_verdict else province_b
    if (
        province_a
        and province_b
        and "CN" not in (province_a, province_b)
        and province_a != province_b
        and province_b not in a.provinces
        and province_a not in b.provinces
        # Two provinces' news of an event held in a third (their winners at a
        # national award ceremony) name that third place both.
        and not anchors_.provinces_named(_places(ka) & _places(kb)) - {province_a, province_b}
    ):
        return f"different provinces: {province_a} / {province_b}"
    return None


def _places(kinds: dict[str, frozenset[str]]) -> frozenset[str]:
    return kinds.get(anchors_.PLACE, _NONE) | kinds.get(anchors_.PROVINCE, _NONE)


_CHECKS = (
    (anchors_.TITLE_YEAR, "different years in the headlines"),
    (anchors_.MONTH, "different months in the headlines"),
    (anchors_.ORDINAL, "different editions"),
    (anchors_.SERIES, "different programmes"),
)


def compare(
    fp: Fingerprint,
    province: str | None,
    story_id: int,
    other: Fingerprint,
    other_province: str | None,
    rarity: Rarity,
    *,
    days_apart: int | None = None,
) -> Comparison:
    """One article against one stored article of a story, ``days_apart``
    their publication dates when both are known. Pure."""
    ka, kb = fp.concepts, other.concepts
    side_a, side_b = _memo(fp).side, _memo(other).side
    kinds_b = side_b.kinds
    same_script = fp.language.startswith("zh") == other.language.startswith("zh")
    sim = similarity(fp.minhash, other.minhash) if same_script else 0.0
    if reason := _veto(side_a, province, side_b, other_province, days_apart):
        # Between similar texts too: two provinces' documents from one
        # template, each year's notice in the same words.
        shown = _shown(fp, kb, VERDICT_PROVINCE)
        return Comparison(story_id, None, round(sim, 3), shown, reason)
    kinds_a = side_a.kinds
    numbers = sorted(
        k
        for k in kinds_a.get(anchors_.DOC_NUMBER, _NONE) & kinds_b.get(anchors_.DOC_NUMBER, _NONE)
        if rarity.counts.get(k, 0) <= DOCUMENT_MAX_ARTICLES
    )
    titles = sorted(
        k
        for k in kinds_a.get(anchors_.DOC_TITLE, _NONE) & kinds_b.get(anchors_.DOC_TITLE, _NONE)
        if len(k) >= len(anchors_.DOC_TITLE) + 10
        and rarity.counts.get(k, 0) <= DOCUMENT_MAX_ARTICLES
    )
    if numbers:
        return Comparison(story_id, "document", 1.0, tuple(numbers + titles))
    if sim >= NEAR_DUPLICATE:
        shown = _shown(fp, kb)
        return Comparison(story_id, "near_duplicate", round(sim, 3), shown)
    if titles:
        return Comparison(story_id, "document", 1.0, tuple(titles))
    shared = {kind: keys & kinds_b[kind] for kind, keys in kinds_a.items() if kind in kinds_b}
    shared_words = _shared_words(ka, kb)
    words = _cosine(fp, other, shared_words, rarity) if same_script else 0.0
    used = []
    evidence = 0.0
    for kind, weight in ANCHOR_WEIGHTS.items():
        keys = shared.get(kind, _NONE)
        if kind == anchors_.BRIDGE and same_script:
            continue  # the words say it
        if kind == anchors_.DOC_TITLE:  # a title many articles name is a reference
            keys = frozenset(k for k in keys if rarity.counts.get(k, 0) <= DOCUMENT_MAX_ARTICLES)
        if keys:
            share = _concept_share if same_script else _whole
            total = sum(rarity.weight(k) * share(k) for k in keys)
            evidence += weight * min(total, KIND_CAP.get(kind, 2.0))
            used.extend(sorted(keys))
    close = days_apart is not None and days_apart <= PROXIMITY_DAYS
    if close:
        used.append(f"{PUBLISHED}{days_apart} days apart")
    score = round(words + evidence + (PROXIMITY_WEIGHT if close else 0.0), 3)
    threshold = EVENT_THRESHOLD if same_script else CROSS_LANGUAGE_THRESHOLD
    rule = "event" if score >= threshold and evidence >= EVENT_MIN_ANCHORS else None
    short = None
    if score >= threshold and evidence < EVENT_MIN_ANCHORS:
        short = f"similarity {score:.2f}, but anchors only {evidence:.2f}"
    elif rule and not same_script and not any(_identifies(k) for k in used):
        # Between languages nothing but the year and the topic: two events
        # of one year on one subject, as often as one event.
        rule, short = None, f"similarity {score:.2f}, but only years and topic shared"
    top_words = sorted(shared_words, key=lambda k: (-rarity.weight(k), k))[:6]
    shown = tuple(used) + tuple(top_words)
    return Comparison(story_id, rule, score, shown, None, threshold, short)


# A concept the lexicon does not mark specific (the policy's name, a kind of
# meeting, a programme every province runs) is the topic more than the event,
# and within one language its words are counted already: it counts this share
# of a specific one's weight there (in full between languages, which share
# no words).
GENERIC_CONCEPT_SHARE = 0.5


@lru_cache(maxsize=1)
def _specific_concepts() -> frozenset[str]:
    return frozenset(anchors_.CONCEPT + c for c in Concepts.load().specific)


_TOPIC_KINDS = (anchors_.YEAR, anchors_.BRIDGE, anchors_.CONCEPT)


def _identifies(key: str) -> bool:
    """Whether a shared anchor names this event rather than its year or topic:
    a date, a number, a place, a person, an edition, a document, a specific
    programme."""
    return not key.startswith(_TOPIC_KINDS) or key in _specific_concepts()


def _whole(key: str) -> float:
    return 1.0


def _concept_share(key: str) -> float:
    if not key.startswith(anchors_.CONCEPT) or key in _specific_concepts():
        return 1.0
    return GENERIC_CONCEPT_SHARE


_KIND_ORDER = {kind: n for n, kind in enumerate(ANCHOR_WEIGHTS)}


def _order(key: str) -> tuple[int, str]:
    kind = _kind(key)
    return (_KIND_ORDER.get(kind, len(_KIND_ORDER)), key)


def _ordered(fp: Fingerprint) -> tuple[str, ...]:
    """An article's keys, words left out, in the order the evidence shows them
    (by kind in :data:`ANCHOR_WEIGHTS`' order, then by key): kept, so that
    showing what two articles share sorts nothing."""
    memo = _memo(fp)
    if memo.ordered is None:
        keys = (k for k in fp.concepts if not k.startswith(anchors_.WORD))
        memo.ordered = tuple(sorted(keys, key=_order))
    return memo.ordered


def _shown(a: Fingerprint, b: frozenset[str], skip: str | None = None) -> tuple[str, ...]:
    """The first dozen keys (words left out, a kind ``skip`` too) that both
    articles carry, in the order the evidence shows them."""
    shown: list[str] = []
    for key in _ordered(a):
        if key in b and not (skip and key.startswith(skip)):
            shown.append(key)
            if len(shown) == 12:
                break
    return tuple(shown)


def _shared_words(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """The content words two articles share, taken from the intersection of
    their key sets: a set of each article's words, kept for the next checks,
    cost as much memory as the key sets themselves."""
    return frozenset(k for k in a & b if k.startswith(anchors_.WORD))


def _cosine(a: Fingerprint, b: Fingerprint, shared: frozenset[str], rarity: Rarity) -> float:
    """Rarity-weighted cosine of two articles' content words (``shared``: those
    both carry, :func:`_shared_words`)."""
    if not shared:
        return 0.0
    weight = rarity.weight
    dot = sum(weight(k) ** 2 for k in shared)
    return dot / math.sqrt(rarity.norm(a) * rarity.norm(b)) if dot else 0.0


def decide(
    fp: Fingerprint,
    province: str | None,
    candidates: Iterable[Candidate],
    rarity: Rarity,
    when: date | None = None,
) -> Decision:
    """The grouping: a function of the article, the candidate stories and the rules.

    ``when``: the article's publication date (else when it was seen), set
    against each candidate article's (:attr:`Candidate.dates`) by the date
    rules of :func:`veto`.

    An article joins a story when it matches one of its articles and none of
    them vetoes it: a story never holds two articles that cannot report one
    event (the 2005 and the 2006 index, joined through a report naming both
    years). When it matches several stories, it joins the oldest (the one
    posted first, whose post is then edited) and the others are merged into
    it when no article of theirs vetoes an article of that one.
    """
    best: dict[int, Comparison] = {}
    blocked: dict[int, Comparison] = {}
    members: dict[int, list[Fingerprint]] = {}
    provinces: dict[int, str | None] = {}
    dates: dict[int, list[date | None]] = {}
    when = day_of(when) if when is not None else None
    for cand in candidates:
        members[cand.story_id] = [cand.fingerprint, *cand.extra]
        provinces[cand.story_id] = cand.province
        dates[cand.story_id] = _dates(cand)
        found = set(cand.found) or set(range(len(members[cand.story_id])))
        for n, other in enumerate(members[cand.story_id]):
            apart = days_between(when, dates[cand.story_id][n])
            if n in found:
                c = compare(
                    fp, province, cand.story_id, other, cand.province, rarity, days_apart=apart
                )
            elif reason := veto(fp, province, other, cand.province, days_apart=apart):
                c = Comparison(cand.story_id, None, 0.0, (), reason)
            else:
                continue
            if c.veto and cand.story_id not in blocked:
                blocked[cand.story_id] = c
            held = best.get(cand.story_id)
            if held is None or _better(c, held):
                best[cand.story_id] = c
    for story_id, c in blocked.items():
        best[story_id] = c  # one of its articles cannot report this event
    comparisons = tuple(sorted(best.values(), key=lambda c: (c.rule is None, -c.score, c.story_id)))
    matched = sorted(c.story_id for c in comparisons if c.rule)  # the oldest first
    if not matched:
        return Decision("new", None, (), None, comparisons)
    target = best[matched[0]]
    merged = tuple(
        sorted(
            s
            for s in matched[1:]
            if not any(
                veto(
                    x,
                    provinces[s],
                    y,
                    provinces[target.story_id],
                    days_apart=days_between(dx, dy),
                )
                for x, dx in zip(members[s], dates[s], strict=True)
                for y, dy in zip(members[target.story_id], dates[target.story_id], strict=True)
            )
        )
    )
    match = Match(target.story_id, target.rule or "", target.score, target.explain())
    return Decision("merge" if merged else "join", target.story_id, merged, match, comparisons)


def _dates(cand: Candidate) -> list[date | None]:
    """Each candidate article's date: its own, else none known."""
    n = 1 + len(cand.extra)
    return list(cand.dates) if len(cand.dates) == n else [None] * n


def _better(a: Comparison, b: Comparison) -> bool:
    return (a.rule is not None, a.score) > (b.rule is not None, b.score)


def match_story(
    fp: Fingerprint,
    province: str | None,
    when: datetime | None,
    candidates: Iterable[Candidate],
    concepts: Concepts | None = None,
    *,
    rarity: Rarity | None = None,
) -> Match | None:
    """The story this article reports (the oldest, when several), or None."""
    del when, concepts  # kept for callers; the decision uses neither
    return decide(fp, province, candidates, rarity or Rarity()).match


# ── the index ───────────────────────────────────────────────────────────────

# Fixed odd multipliers: a band of 3 MinHash values → one 64-bit key.
_BAND_MULT = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)
_PRINT_CACHE = _ARTICLES_CACHED  # fingerprints rebuilt from the arrays, kept for the next checks
_BUFFER = 256  # band keys appended here (scanned at each check); merged when full
_LATEST = 8192  # band keys merged from the buffer, before they are merged into the large arrays
_LARGEST_KEY = (1 << 32) - 1


def _merged(
    keys: np.ndarray, positions: np.ndarray, more_keys: np.ndarray, more_positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two runs of band keys and their positions as one, sorted by key (stable)."""
    keys = np.concatenate([keys, more_keys])
    positions = np.concatenate([positions, more_positions])
    order = np.argsort(keys, kind="stable")  # two sorted runs: linear time
    return keys[order], positions[order]


# Anchors that find candidates are those carried by at most this many stored
# articles: a commoner one finds nothing worth comparing, and summing its
# posting was what a check at a million articles spent its time on.
RETRIEVAL_MAX_ARTICLES = 1000
MAX_COMPARED = 24  # stored articles compared in full, those sharing the most rare keys first
MAX_CANDIDATES = 40  # their stories, whose other articles are checked for vetoes
# Sharing less than this (the rarities of the shared anchors, summed) cannot
# reach the event rule's share of anchors: not worth a comparison.
MIN_SHARED_RARITY = 0.25
# The event rule needs shared anchors, so anchors find the candidates; words
# (hundreds an article) would only add stories the rule then turns down.
_RETRIEVAL_KINDS = (
    anchors_.DOC_NUMBER,
    anchors_.DOC_TITLE,
    anchors_.DATE,
    anchors_.PERSON,
    anchors_.NUMBER,
    anchors_.ORDINAL,
    anchors_.PLACE,
    anchors_.QUOTE,
    anchors_.PERIOD,
    anchors_.HEADLINE,
    anchors_.EDITION,
    anchors_.YEAR_EDITION,
)


def retrieval_keys(keys: frozenset[str]) -> list[str]:
    """The keys an article is found by: its rare anchors, its dates joined
    with its places and programmes, and its years with its recurring
    programmes. A date alone is in thousands of a year's articles and would
    find nothing once the store is large; a date and a place or programme are
    in a handful, and so is a year of Quality Month. The joined keys are hashed into
    :data:`_JOINED_BUCKETS` buckets (``日+:123``), so that their number, and the
    index's memory, stay bounded; a collision only adds a candidate."""
    # One pass, the words (most keys) passed over first; the keys come out in
    # the order of the former passes: the anchors, then each date joined with
    # each place or programme, then each year with each recurring programme.
    found: list[str] = []
    dates: list[str] = []
    joinable: list[str] = []
    years: list[str] = []
    series: list[str] = []
    for key in keys:
        if key.startswith(anchors_.WORD):
            continue
        kind = key[: key.find(":") + 1]
        if kind in _RETRIEVAL_KIND_SET:
            found.append(key)
        if kind == anchors_.DATE:
            dates.append(key)
        elif kind in _JOINABLE:
            joinable.append(key)
        elif kind == anchors_.YEAR:
            years.append(key)
        elif kind == anchors_.SERIES:
            series.append(key)
    for k in joinable if dates else ():
        found.extend(f"日+:{zlib.crc32(f'{d}|{k}'.encode()) % _JOINED_BUCKETS}" for d in dates)
    # A recurring programme's year (each year's Quality Month): reports that
    # name no date share that.
    for y in years if series else ():
        found.extend(f"日+:{zlib.crc32(f'{y}|{k}'.encode()) % _JOINED_BUCKETS}" for k in series)
    return found


# Every prefix ends in its only colon: a key starts with one when its kind
# (up to its first colon) is that prefix.
_RETRIEVAL_KIND_SET = frozenset(_RETRIEVAL_KINDS)
_JOINABLE = frozenset((anchors_.PLACE, anchors_.CONCEPT, anchors_.PROVINCE))
_JOINED_BUCKETS = 1 << 18
_NO_DAY = -1  # an article whose date the index was not given
_NO_NUMBERS: frozenset[str] = frozenset()
_NO_WHEN = -(1 << 63)  # a story whose date the index was not given (or not in UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=1)
def _band_multipliers() -> np.ndarray:
    return np.array(_BAND_MULT, dtype=np.uint64)


def band_keys(signature: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """The LSH keys of one signature: one uint32 per band (the 64-bit hash of
    its three values, folded). At a million articles a band's key is shared by
    chance in one check of about 200; such an article is then dropped by the
    similarity check, as any that shares a band and is not similar enough."""
    values = np.asarray(signature, dtype=np.uint64)[: BANDS * ROWS].reshape(BANDS, ROWS)
    with np.errstate(over="ignore"):
        hashed = (values * _band_multipliers()).sum(axis=1, dtype=np.uint64)
    keys: np.ndarray = (hashed ^ (hashed >> np.uint64(32))).astype(np.uint32)
    return keys


class StoryIndex:
    """Recent articles and their stories, for fast candidate lookup.

    Two ways in: MinHash bands (near-duplicates: a 32-bit key a band, in
    large sorted arrays, latest sorted arrays and a short buffer; a binary
    search a band and level) and an inverted index of the anchors articles
    are found by (key id → positions, ``array('i')``: 4 bytes an entry). An
    article's keys are kept as ids in one int32 array
    (with offsets), not as Python strings; the vocabulary is one dict. The
    index also counts how many articles carry each key: the :class:`Rarity`
    the matcher weighs keys by.
    """

    def __init__(self, rarity: Rarity | None = None) -> None:
        """``rarity``: fixed key counts to weigh by (eval's whole corpus); by
        default the index counts the articles it holds."""
        self._allocated = False  # the arrays below, made at the first article (numpy)
        self._key_ids = array("i")
        self._languages: list[str] = []
        self._provinces: list[str | None] = []
        self._other_when: dict[int, datetime] = {}  # a lead's date not in UTC, by position
        self._vocabulary: dict[str, int] = {}
        self._words: list[str] = []
        # Key id → the positions of the articles found by that key; None for
        # the keys nothing is found by (words, years …: most of the vocabulary).
        self._postings: list[array[int] | None] = []
        # The document numbers of the few articles that report any, by position:
        # a list of one frozenset an article held 100,000 empty ones (216 bytes
        # each: an empty frozenset is not shared), a fifth of the index.
        self._numbers: dict[int, frozenset[str]] = {}
        self._size = 0
        # Story id → the position of its only article, or the positions of its
        # articles (the lead first) when it has several: an object, a list and a
        # datetime a story were a fifth of the index of 100,000 articles.
        self._stories: dict[int, int | list[int]] = {}
        # The fingerprints of the articles compared lately, the latest last.
        self._recent_prints: OrderedDict[int, Fingerprint] = OrderedDict()
        self._learns = rarity is None
        self.rarity = Rarity() if rarity is None else rarity
        self.last_article_id = 0  # the newest stored article the index has seen
        self._recent_ids: set[int] = set()  # ids near the top, for catching up
        self._retrieval_memo: tuple[frozenset[str], list[str]] = (frozenset(), [])

    def _allocate(self) -> None:
        """The arrays, at the first article indexed."""
        self._allocated = True
        self._keys = [np.empty(0, dtype=np.uint32) for _ in range(BANDS)]
        self._pos = [np.empty(0, dtype=np.int32) for _ in range(BANDS)]
        self._mid_keys = [np.empty(0, dtype=np.uint32) for _ in range(BANDS)]  # the latest
        self._mid_pos = [np.empty(0, dtype=np.int32) for _ in range(BANDS)]
        self._buf_keys = np.empty((_BUFFER, BANDS), dtype=np.uint32)
        self._buf_pos = np.empty(_BUFFER, dtype=np.int32)
        self._buffered = 0
        self._sigs = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self._story_of = np.empty(1024, dtype=np.int64)
        self._day = np.empty(1024, dtype=np.int32)  # date.toordinal() of each, or _NO_DAY
        self._hashes = np.empty(1024, dtype="S64")  # text hashes (hex SHA-256), as bytes
        self._language = np.empty(1024, dtype=np.uint8)  # index into self._languages
        # The story's province and date as the first article of a story brought
        # them, at that article's position (the story's lead): read there only.
        self._province = np.empty(1024, dtype=np.uint8)  # index into self._provinces
        self._when = np.empty(1024, dtype=np.int64)  # microseconds since 1970 (UTC), or _NO_WHEN
        self._key_start = np.zeros(1025, dtype=np.int64)  # offsets into _key_ids
        self._band_memo: tuple[tuple[int, ...], np.ndarray, np.ndarray] = (
            (),
            np.zeros(NUM_PERM, dtype=np.uint32),
            band_keys((0,) * NUM_PERM),
        )

    def __len__(self) -> int:
        return self._size

    @property
    def stories(self) -> int:
        return len(self._stories)

    def story_ids(self) -> list[int]:
        return sorted(self._stories)

    def nbytes(self) -> int:
        """Bytes held in arrays (the bulk of the index)."""
        if not self._allocated:
            return 0
        arrays: list[np.ndarray] = [*self._keys, *self._pos, *self._mid_keys, *self._mid_pos]
        arrays += [self._buf_keys, self._buf_pos]
        arrays.append(self._sigs)
        arrays += [self._story_of, self._day, self._hashes, self._language, self._key_start]
        arrays += [self._province, self._when]
        postings = sum(p.itemsize * len(p) for p in self._postings if p is not None)
        return (
            sum(a.nbytes for a in arrays) + postings + self._key_ids.itemsize * len(self._key_ids)
        )

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
        if not self._allocated:
            self._allocate()
        position = self._size
        if position == len(self._sigs):
            self._grow()
        signature, keys = self._band_keys(fp.minhash)
        self._sigs[position] = signature
        self._story_of[position] = story_id
        self._day[position] = _NO_DAY if when is None else day_of(when).toordinal()
        self._hashes[position] = fp.text_hash.encode("utf-8")
        if fp.language not in self._languages:
            self._languages.append(fp.language)
        self._language[position] = self._languages.index(fp.language)
        if fp.doc_numbers:
            self._numbers[position] = fp.doc_numbers
        vocabulary, id_of = self._vocabulary, self._key_id
        self._key_ids.extend([vocabulary.get(k) or id_of(k) for k in sorted(fp.concepts)])
        postings = self._postings
        for key in self._retrieval_keys(fp.concepts):
            key_id = self._key_id(key)
            posting = postings[key_id]
            if posting is None:
                posting = postings[key_id] = array("i")
            posting.append(position)
        self._size += 1
        self._key_start[self._size] = len(self._key_ids)
        if self._learns:
            self.rarity.learn(fp.concepts)
        self._buf_keys[self._buffered] = keys
        self._buf_pos[self._buffered] = position
        self._buffered += 1
        if self._buffered == _BUFFER:
            self._merge()
        story = self._stories.get(story_id)
        if story is None:
            self._stories[story_id] = position
            self._lead(position, province, when)
        elif isinstance(story, int):
            self._stories[story_id] = [story, position]
        else:
            story.append(position)
        if article_id:
            self.last_article_id = max(self.last_article_id, article_id)
            self._recent_ids.add(article_id)
            if len(self._recent_ids) > 20_000:
                floor = self.last_article_id - 10_000
                self._recent_ids = {i for i in self._recent_ids if i >= floor}

    def merge_stories(self, into: int, merged: Iterable[int]) -> None:
        """Fold stories into ``into`` (an article matched all of them)."""
        if into not in self._stories:
            return
        target = self._members(into)
        for story_id in merged:
            if story_id == into:
                continue
            folded = self._members(story_id)
            if not folded:
                continue
            del self._stories[story_id]
            target = [*target, *folded]
            self._story_of[folded] = into
        self._stories[into] = target if len(target) > 1 else target[0]

    def _members(self, story_id: int) -> list[int]:
        """The positions of a story's articles, its lead first (not to be changed)."""
        story = self._stories.get(story_id)
        if story is None:
            return []
        return [story] if isinstance(story, int) else story

    def _lead(self, position: int, province: str | None, when: datetime | None) -> None:
        """Keep a new story's province and date at its lead's position."""
        if province not in self._provinces:
            self._provinces.append(province)
        self._province[position] = self._provinces.index(province)
        if when is None:
            self._when[position] = _NO_WHEN
        elif when.tzinfo is UTC:
            self._when[position] = (when - _EPOCH) // _MICROSECOND
        else:
            self._when[position] = _NO_WHEN
            self._other_when[position] = when

    def _story_province(self, lead: int) -> str | None:
        return self._provinces[int(self._province[lead])]

    def _story_when(self, lead: int) -> datetime | None:
        micros = int(self._when[lead])
        if micros == _NO_WHEN:
            return self._other_when.get(lead)
        return _EPOCH + timedelta(microseconds=micros)

    def _key_id(self, key: str) -> int:
        key_id = self._vocabulary.get(key)
        if key_id is None:
            key_id = self._vocabulary[key] = len(self._words)
            self._words.append(key)
            self._postings.append(None)
        return key_id

    def articles_of(self, story_id: int) -> list[tuple[Fingerprint, str | None]]:
        """The indexed articles of one story, with the story's province."""
        members = self._members(story_id)
        if not members:
            return []
        province = self._story_province(members[0])
        return [(self._fingerprint(p), province) for p in members]

    def dates_of(self, story_id: int) -> list[date | None]:
        """The publication dates of one story's indexed articles, as :meth:`articles_of`."""
        return [self._date(p) for p in self._members(story_id)]

    def knows(self, article_id: int) -> bool:
        """Whether a stored article (near the top of the id range) is indexed."""
        return article_id in self._recent_ids

    def _merge(self) -> None:
        """The buffer into the latest sorted arrays, and those, when they have
        grown to :data:`_LATEST`, into the large ones: a merge sorts the large
        arrays once in :data:`_LATEST` inserts, a buffer stays quick to scan."""
        n = self._buffered
        for band in range(BANDS):
            self._mid_keys[band], self._mid_pos[band] = _merged(
                self._mid_keys[band],
                self._mid_pos[band],
                self._buf_keys[:n, band],
                self._buf_pos[:n],
            )
        self._buffered = 0
        if len(self._mid_keys[0]) < _LATEST:
            return
        for band in range(BANDS):
            self._keys[band], self._pos[band] = _merged(
                self._keys[band], self._pos[band], self._mid_keys[band], self._mid_pos[band]
            )
            self._mid_keys[band] = self._mid_keys[band][:0]
            self._mid_pos[band] = self._mid_pos[band][:0]

    def _grow(self) -> None:
        """Room for more articles: a quarter more (doubling left half of it unused)."""
        size, capacity = self._size, self._size + max(1024, self._size // 4)

        def grown(array_: np.ndarray, extra: int = 0) -> np.ndarray:
            # Not np.resize: its result is a view of a copy twice the old size.
            bigger = np.zeros((capacity + extra, *array_.shape[1:]), dtype=array_.dtype)
            bigger[: size + extra] = array_[: size + extra]
            return bigger

        self._sigs = grown(self._sigs)
        self._story_of = grown(self._story_of)
        self._day = grown(self._day)
        self._hashes = grown(self._hashes)
        self._language = grown(self._language)
        self._province = grown(self._province)
        self._when = grown(self._when)
        self._key_start = grown(self._key_start, 1)

    def _fingerprint(self, position: int) -> Fingerprint:
        prints = self._recent_prints
        cached = prints.get(position)
        if cached is not None:
            prints.move_to_end(position)
            return cached
        if len(prints) >= _PRINT_CACHE:
            prints.popitem(last=False)  # the least recently compared, with its memo
        made = prints[position] = self._make_fingerprint(position)
        return made

    def _make_fingerprint(self, position: int) -> Fingerprint:
        lo, hi = self._key_start[position], self._key_start[position + 1]
        words = self._words
        return Fingerprint(
            text_hash=self._hashes[position].decode("utf-8"),
            minhash=tuple(self._sigs[position].tolist()),
            concepts=frozenset(words[i] for i in self._key_ids[lo:hi]),
            doc_numbers=self._numbers.get(position, _NO_NUMBERS),
            language=self._languages[self._language[position]],
        )

    def _similar(self, fp: Fingerprint) -> np.ndarray:
        """Positions of articles sharing an LSH band with ``fp`` and similar
        enough, sorted."""
        signature, keys = self._band_keys(fp.minhash)
        # Each band's key and the next: one binary search finds where both go.
        bounds = np.empty((BANDS, 2), dtype=np.uint32)
        bounds[:, 0] = keys
        with np.errstate(over="ignore"):
            bounds[:, 1] = keys + np.uint32(1)
        largest = [k == _LARGEST_KEY for k in keys.tolist()]  # whose next wraps around to 0
        found: list[np.ndarray] = []
        for sorted_keys, positions_ in ((self._keys, self._pos), (self._mid_keys, self._mid_pos)):
            for band in range(BANDS):
                lo, hi = sorted_keys[band].searchsorted(bounds[band]).tolist()
                if largest[band]:
                    hi = len(sorted_keys[band])
                if hi > lo:
                    found.append(positions_[band][lo:hi])
        if self._buffered:
            hits = (self._buf_keys[: self._buffered] == keys).any(axis=1)
            found.append(self._buf_pos[: self._buffered][hits])
        if not found:
            return np.empty(0, dtype=np.int64)
        positions = np.unique(np.concatenate(found)).astype(np.int64)
        if not len(positions):
            return positions
        scores = np.count_nonzero(self._sigs[positions] == signature, axis=1) / NUM_PERM
        similar: np.ndarray = positions[scores >= NEAR_DUPLICATE]
        return similar

    def _sharing(self, fp: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
        """Stored articles sharing rare anchors with ``fp`` (positions, sorted),
        with the anchors' weight summed (numpy: postings of a large store run to
        thousands of entries)."""
        lists: list[np.ndarray] = []
        weights: list[float] = []
        for key in self._retrieval_keys(fp.concepts):
            key_id = self._vocabulary.get(key)
            if key_id is None:
                continue
            posting = self._postings[key_id]
            if not posting or len(posting) > RETRIEVAL_MAX_ARTICLES:
                continue
            lists.append(np.frombuffer(posting, dtype=np.int32))
            weights.append(self.rarity.weight(key) if "+" not in key else 1.0)
        if not lists:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        positions = np.concatenate(lists)
        each = np.repeat(np.asarray(weights), [len(x) for x in lists])
        unique, inverse = np.unique(positions, return_inverse=True)
        sums = np.bincount(inverse, weights=each)
        keep = sums >= MIN_SHARED_RARITY
        return unique[keep].astype(np.int64), sums[keep]

    def _ranked(self, fp: Fingerprint) -> list[int]:
        """The :data:`MAX_COMPARED` stored articles sharing the most with ``fp``:
        the anchors' weight, and 1 more for a near-duplicate; by position on a tie."""
        positions, scores = self._sharing(fp)
        similar = self._similar(fp)
        if len(similar):
            at = np.searchsorted(positions, similar)
            there = at < len(positions)
            there[there] = positions[at[there]] == similar[there]
            scores = scores.copy()
            scores[at[there]] += 1.0
            missing = similar[~there]
            positions = np.concatenate([positions, missing])
            scores = np.concatenate([scores, np.ones(len(missing))])
        if len(positions) > MAX_COMPARED:  # those scoring at least the MAX_COMPARED-th best
            least = np.partition(scores, len(scores) - MAX_COMPARED)[len(scores) - MAX_COMPARED]
            best = scores >= least
            positions, scores = positions[best], scores[best]
        order = np.lexsort((positions, -scores))[:MAX_COMPARED]
        ranked: list[int] = positions[order].tolist()
        return ranked

    def _band_keys(self, signature: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The signature as uint32 and its :func:`band_keys`, kept for the same
        signature's insert after its check."""
        memo = self._band_memo
        if memo[0] is not signature:
            values = np.asarray(signature, dtype=np.uint32)
            memo = self._band_memo = (signature, values, band_keys(values))
        return memo[1], memo[2]

    def _retrieval_keys(self, keys: frozenset[str]) -> list[str]:
        """:func:`retrieval_keys`, kept for the same keys' insert after their check."""
        memo = self._retrieval_memo
        if memo[0] is not keys:
            memo = self._retrieval_memo = (keys, retrieval_keys(keys))
        return memo[1]

    def candidates(
        self, fp: Fingerprint, province: str | None = None, when: datetime | None = None
    ) -> list[Candidate]:
        """The stored articles this article could report the event of, by story:
        near-duplicates, and the articles sharing the most rare anchors with it.

        Only those articles are compared, not the rest of their stories: what
        is compared then depends on the two articles alone, never on which
        stories earlier arrivals formed, and the grouping on no order.
        """
        del province, when  # the decision's rules, not the lookup's
        if not self._size:
            return []
        ranked = self._ranked(fp)
        by_story: dict[int, list[int]] = {}
        for position in ranked:
            by_story.setdefault(int(self._story_of[position]), []).append(position)
        result = []
        for story_id in sorted(by_story)[:MAX_CANDIDATES]:
            members = self._members(story_id)
            lead = members[0]
            if len(members) > MAX_ARTICLES_COMPARED:
                members = [members[0], *members[-(MAX_ARTICLES_COMPARED - 1) :]]
            members = members + [p for p in by_story[story_id] if p not in members]
            fps = [self._fingerprint(p) for p in members]
            hits = tuple(n for n, p in enumerate(members) if p in by_story[story_id])
            days = tuple(_day(d) for d in self._day[members].tolist())
            result.append(
                Candidate(
                    story_id,
                    self._story_province(lead),
                    self._story_when(lead),
                    fps[0],
                    tuple(fps[1:]),
                    hits,
                    days,
                )
            )
        return result

    def _date(self, position: int) -> date | None:
        return _day(int(self._day[position]))


def _day(ordinal: int) -> date | None:
    return None if ordinal == _NO_DAY else date.fromordinal(ordinal)
