"""Relevance, province and category of one article, with the evidence. Pure.

Everything the classifier knows is data in ``monitor/lexicon/`` and is passed
in as a :class:`Lexicon`; the decision is a weighted count of terms, where a
mention in the title weighs three times a mention in the body, so that every
verdict can be explained term by term (``quality-monitor classify`` prints it).

Relevance
    strong terms (质量强省, 质量月, Quality Month, China Quality Award …)
    weigh 3, the work they organise (质量提升, quality infrastructure …) 1.5,
    a bare 质量/quality 0.1 (at most twice), after masking 高质量发展 and
    the like; terms of look-alike topics (水质, 抽检, recall …) subtract.
    Relevant takes a score of at least 3 *and* a strong term or two medium ones.
Province
    province names count 1, prefecture-level cities 0.7, the source's hint 1.5;
    a story is national (``CN``) when national bodies and events (State
    Council, SAMR, 中国质量大会) outweigh every province.
Category
    the cue list with the highest weighted count; ties go to the earlier list.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from monitor.model import Category, Evidence, Verdict

_LEXICON_DIR = Path(__file__).parent / "lexicon"
_TITLE_WEIGHT = 3.0
_RELEVANT_SCORE = 3.0


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry: a literal (CJK substring or English words) or a regex."""

    text: str
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, raw: str) -> Term:
        if raw.startswith("re:"):
            return cls(raw[3:], re.compile(raw[3:], re.IGNORECASE))
        if raw.isascii():  # English: whole words only ("quality" must not match "qualityx")
            escaped = r"\s+".join(re.escape(word) for word in raw.lower().split())
            return cls(raw.lower(), re.compile(rf"(?<![a-z]){escaped}(?![a-z])"))
        return cls(raw, None)

    def count(self, text: str) -> int:
        return len(self.pattern.findall(text)) if self.pattern else text.count(self.text)


@dataclass(frozen=True, slots=True)
class Lexicon:
    strong: tuple[Term, ...]
    medium: tuple[Term, ...]
    weak: tuple[Term, ...]
    masks: tuple[str, ...]
    negative: tuple[Term, ...]
    national: tuple[Term, ...]
    categories: tuple[tuple[str, tuple[Term, ...]], ...]
    places: tuple[tuple[Term, str, str], ...]  # (name, province code, level)

    @classmethod
    def load(cls, directory: Path = _LEXICON_DIR) -> Lexicon:
        return _load(directory)


@lru_cache(maxsize=4)
def _load(directory: Path) -> Lexicon:
    data = yaml.safe_load((directory / "topics.yaml").read_text(encoding="utf-8"))

    def terms(items: list[str]) -> tuple[Term, ...]:
        return tuple(Term.of(str(x)) for x in items)

    from monitor.lexicon import place_names  # the geographic half of the lexicon

    rel = data["relevance"]
    places = tuple(
        (Term.of(name), place.code, place.level)
        for name, place in sorted(place_names().items(), key=lambda kv: -len(kv[0]))
    )
    return Lexicon(
        strong=terms(rel["strong"]),
        medium=terms(rel["medium"]),
        weak=terms(rel["weak"]),
        masks=tuple(str(m).lower() for m in data["masks"]),
        negative=terms(data["negative"]),
        national=terms(data["national"]),
        categories=tuple((Category(k).value, terms(v)) for k, v in data["categories"].items()),
        places=places,
    )


def _fold(text: str) -> str:
    return text.lower()


def _hits(
    terms: tuple[Term, ...], title: str, body: str, weight: float, kind: str
) -> list[Evidence]:
    found: list[Evidence] = []
    for term in terms:
        in_title = term.count(title)
        in_body = term.count(body)
        if in_title:
            found.append(Evidence(term.text, "title", weight * _TITLE_WEIGHT, kind))
        if in_body:
            # Repeats count, with diminishing returns: a long article says it often.
            found.append(Evidence(term.text, "body", weight * (1 + math.log(in_body)), kind))
    return found


def classify(
    title: str, text: str, lexicon: Lexicon, *, source_province: str | None = None
) -> Verdict:
    """Judge one normalised article (simplified Chinese or English)."""
    title_f, body_f = _fold(title), _fold(text)
    evidence: list[Evidence] = []

    strong = _hits(lexicon.strong, title_f, body_f, 3.0, "topic")
    medium = _hits(lexicon.medium, title_f, body_f, 1.5, "topic")
    masked_title, masked_body = title_f, body_f
    for mask in lexicon.masks:
        masked_title = masked_title.replace(mask, " ")
        masked_body = masked_body.replace(mask, " ")
    weak_count = sum(t.count(masked_title) + t.count(masked_body) for t in lexicon.weak)
    negative = [
        Evidence(e.term, e.where, -min(e.weight, 3.0), "negative")
        for e in _hits(lexicon.negative, title_f, body_f, 1.5, "negative")
    ]
    evidence += strong + medium + negative
    score = sum(e.weight for e in evidence)
    if weak_count:
        weak = min(weak_count, 20) * 0.1
        evidence.append(Evidence("质量/quality", "body", weak, "topic"))
        score += weak
    strong_terms = {e.term for e in strong}
    medium_terms = {e.term for e in medium}
    relevant = score >= _RELEVANT_SCORE and (bool(strong_terms) or len(medium_terms) >= 2)

    province, province_evidence = _province(title_f, body_f, lexicon, source_province)
    category, category_evidence = _category(title_f, body_f, lexicon)
    evidence += province_evidence + category_evidence
    return Verdict(
        relevant=relevant,
        score=round(score, 2),
        province=province,
        category=category,
        evidence=tuple(evidence),
    )


def _province(
    title: str, body: str, lexicon: Lexicon, hint: str | None
) -> tuple[str | None, list[Evidence]]:
    scores: defaultdict[str, float] = defaultdict(float)
    evidence: list[Evidence] = []
    # Longest names first, each found span blanked, so 四川省 is not also 四川.
    for term, code, level in lexicon.places:
        base = 1.0 if level == "province" else 0.7
        for where, text in (("title", title), ("body", body)):
            n = term.count(text)
            if not n:
                continue
            weight = base * (_TITLE_WEIGHT if where == "title" else 1 + math.log(n))
            scores[code] += weight
            evidence.append(Evidence(term.text, where, round(weight, 2), "province"))
            if term.pattern is None:
                if where == "title":
                    title = title.replace(term.text, " ")
                else:
                    body = body.replace(term.text, " ")
    if hint and hint != "CN":
        scores[hint] += 1.5
        evidence.append(Evidence(hint, "source", 1.5, "province"))
    national = sum(e.weight for e in _hits(lexicon.national, title, body, 1.0, "province"))
    if hint == "CN":
        national += 1.5
    best = max(scores.items(), key=lambda kv: kv[1], default=(None, 0.0))
    if national and national > best[1] * 1.2:
        evidence.append(
            Evidence("national bodies and events", "body", round(national, 2), "province")
        )
        return "CN", evidence
    return best[0], evidence


def _category(title: str, body: str, lexicon: Lexicon) -> tuple[str, list[Evidence]]:
    best, best_score, best_evidence = Category.OTHER.value, 0.0, []
    for name, terms in lexicon.categories:
        found = [
            Evidence(e.term, e.where, e.weight, "category")
            for e in _hits(terms, title, body, 1.0, "category")
        ]
        total = sum(e.weight for e in found)
        if total > best_score:
            best, best_score, best_evidence = name, total, found
    return best, best_evidence
