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
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from monitor.model import Category, DocumentFacts, Evidence, Verdict
from notifiers.filters import TimedRegex  # re: terms come from sources.yaml: a time limit

_LEXICON_DIR = Path(__file__).parent / "lexicon"
_TITLE_WEIGHT = 3.0
_RELEVANT_SCORE = 3.0


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of ``words``, longest first.

    Built from a character trie: ``{上海, 上海市}`` → ``上海(?:市)?``. A space
    in a word matches any run of white space.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [
            (r"\s+" if ch == " " else re.escape(ch)) + build(child)
            for ch, child in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:  # the word may end here: the longer continuations are tried first
            return f"(?:{body})?"
        return body

    return build(trie)


class TermSet:
    """A list of lexicon terms, matched in one pass over a text.

    Plain terms are joined into one regular expression, longest first, so a
    scan finds the leftmost-longest term at each place and never counts a
    term inside a longer one (四川省 is not also 四川; 上海南站 holds no 海南).
    English terms match whole words on lower-cased text. Terms written
    ``re:…`` are regular expressions, each scanned on its own.
    """

    __slots__ = ("_combined", "_regexes", "raws")

    def __init__(self, raws: Iterable[str] = ()) -> None:
        self.raws = tuple(dict.fromkeys(str(r) for r in raws))
        english: list[str] = []
        chinese: list[str] = []
        regexes: list[tuple[str, TimedRegex]] = []
        for raw in self.raws:
            if raw.startswith("re:"):
                regexes.append((raw[3:], TimedRegex(raw[3:], what=f"lexicon term {raw!r}")))
            elif raw.isascii():
                english.append(" ".join(raw.lower().split()))
            else:
                chinese.append(raw)
        # A trie-shaped pattern lets the engine branch on one character at a
        # time instead of trying a thousand alternatives at every position.
        parts = []
        if chinese:
            parts.append(_trie_pattern(chinese))
        if english:
            parts.append(rf"(?<![a-z]){_trie_pattern(english)}(?![a-z])")
        self._combined = re.compile("|".join(parts)) if parts else None
        self._regexes = tuple(regexes)

    def __add__(self, more: Iterable[str]) -> TermSet:
        return TermSet((*self.raws, *more))

    def __len__(self) -> int:
        return len(self.raws)

    def counts(self, text: str) -> Counter[str]:
        """How often each term occurs in ``text`` (already lower-cased)."""
        found: Counter[str] = Counter()
        if self._combined is not None:
            for m in self._combined.finditer(text):
                key = m.group()
                found[" ".join(key.split()) if key.isascii() else key] += 1
        for name, pattern in self._regexes:
            if n := len(pattern.findall(text)):
                found[name] += n
        return found


@dataclass(frozen=True, slots=True)
class Lexicon:
    strong: TermSet
    medium: TermSet
    weak: TermSet
    masks: tuple[str, ...]
    negative: TermSet
    national: TermSet
    categories: tuple[tuple[str, TermSet], ...]
    places: TermSet
    place_of: dict[str, tuple[str, str]]  # matched name → (province code, level)

    @classmethod
    def load(cls, directory: Path = _LEXICON_DIR) -> Lexicon:
        return _load(directory)

    def extend(self, extra: Any) -> Lexicon:
        """This lexicon plus the terms of a ``lexicon:`` section of sources.yaml.

        ``extra`` has optional lists ``strong``, ``medium``, ``negative``,
        ``national``, ``masks`` and a mapping ``categories`` of category → terms;
        a user watches a related topic by adding its terms, without code changes.
        """
        if extra is None:
            return self

        def more(current: TermSet, added: Any) -> TermSet:
            return current + (added or ())

        added_cues = dict(getattr(extra, "categories", None) or {})
        categories = tuple(
            (name, more(terms, added_cues.get(name))) for name, terms in self.categories
        )
        return replace(
            self,
            strong=more(self.strong, extra.strong),
            medium=more(self.medium, extra.medium),
            negative=more(self.negative, extra.negative),
            national=more(self.national, extra.national),
            masks=self.masks + tuple(str(m).lower() for m in (extra.masks or ())),
            categories=categories,
        )


@lru_cache(maxsize=4)
def _load(directory: Path) -> Lexicon:
    data = yaml.safe_load((directory / "topics.yaml").read_text(encoding="utf-8"))

    def terms(items: list[str]) -> TermSet:
        return TermSet(str(x) for x in items)

    from monitor.lexicon import place_names  # the geographic half of the lexicon

    rel = data["relevance"]
    place_of = {
        (name.lower() if name.isascii() else name): (place.code, place.level)
        for name, place in place_names().items()
    }
    return Lexicon(
        strong=terms(rel["strong"]),
        medium=terms(rel["medium"]),
        weak=terms(rel["weak"]),
        masks=tuple(str(m).lower() for m in data["masks"]),
        negative=terms(data["negative"]),
        national=terms(data["national"]),
        categories=tuple((Category(k).value, terms(v)) for k, v in data["categories"].items()),
        places=TermSet(place_of),
        place_of=place_of,
    )


def _fold(text: str) -> str:
    return text.lower()


def _hits(terms: TermSet, title: str, body: str, weight: float, kind: str) -> list[Evidence]:
    found: list[Evidence] = []
    for term in terms.counts(title):
        found.append(Evidence(term, "title", weight * _TITLE_WEIGHT, kind))
    for term, n in terms.counts(body).items():
        # Repeats count, with diminishing returns: a long article says it often.
        found.append(Evidence(term, "body", weight * (1 + math.log(n)), kind))
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
    weak_count = sum(lexicon.weak.counts(masked_title).values()) + sum(
        lexicon.weak.counts(masked_body).values()
    )
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
    relevant = score >= _RELEVANT_SCORE and _about_the_policy(strong, medium)

    province, province_evidence = _province(title_f, body_f, lexicon, source_province)
    category, category_evidence = _category(title_f, body_f, lexicon)
    evidence += province_evidence + category_evidence
    return Verdict(
        relevant=relevant,
        score=round(score, 2),
        province=province,
        category=category,
        evidence=tuple(evidence),
        facts=document_facts(title, text),
    )


def _about_the_policy(strong: list[Evidence], medium: list[Evidence]) -> bool:
    """More than a passing mention: a strong term in the title, said more than
    once, or backed by the work it organises; or several kinds of that work."""
    strong_weight = sum(e.weight for e in strong)
    medium_terms = {e.term for e in medium}
    return (
        any(e.where == "title" for e in strong)
        or strong_weight >= 4.5
        or (strong_weight > 0 and len(medium_terms) >= 1)
        or len(medium_terms) >= 3
    )


def _province(
    title: str, body: str, lexicon: Lexicon, hint: str | None
) -> tuple[str | None, list[Evidence]]:
    scores: defaultdict[str, float] = defaultdict(float)
    evidence: list[Evidence] = []
    for where, text in (("title", title), ("body", body)):
        for name, n in lexicon.places.counts(text).items():
            code, level = lexicon.place_of[name]
            base = 1.0 if level == "province" else 0.7
            weight = base * (_TITLE_WEIGHT if where == "title" else 1 + math.log(n))
            scores[code] += weight
            evidence.append(Evidence(name, where, round(weight, 2), "province"))
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


_LEAD = 240  # characters: the opening that says what kind of announcement this is


def _category(title: str, body: str, lexicon: Lexicon) -> tuple[str, list[Evidence]]:
    """The kind of announcement, from cues in the title, the lead and the body."""
    best, best_score, best_evidence = Category.OTHER.value, 0.0, []
    lead = body[:_LEAD]
    for name, terms in lexicon.categories:
        found = [
            Evidence(e.term, e.where, e.weight, "category")
            for e in _hits(terms, title, body, 1.0, "category")
        ]
        found += [
            Evidence(e.term, "lead", e.weight, "category")
            for e in _hits(terms, "", lead, 1.0, "category")
        ]
        total = sum(e.weight for e in found)
        if total > best_score:
            best, best_score, best_evidence = name, total, found
    return best, best_evidence


# ── facts of policy documents ───────────────────────────────────────────────

_DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fff]{1,10}[〔\[［(（]\s*(?:19|20)\d{2}\s*[〕\]］)）]\s*\d{1,4}\s*号"
)
_DOC_KINDS = (
    "征求意见稿", "实施意见", "指导意见", "实施方案", "行动方案", "工作方案", "行动计划",
    "管理办法", "实施细则", "意见", "通知", "方案", "办法", "规划", "纲要", "决定", "条例",
    "规定", "细则", "计划", "公告", "通告", "报告",
)  # fmt: skip
_DOC_TITLE = re.compile(r"《([^《》]{4,80})》")
_ISSUER = (
    r"(?:中共中央|国务院办公厅|国务院|党中央|(?:国家)?市场监(?:督)?管(?:理)?总局"
    r"|[省市县区](?:委|人民政府|政府)(?:办公厅)?"
    r"|[\u4e00-\u9fff]{2,7}(?:省|市|自治区|县)(?:委|人民政府|政府|办公厅|市场监督管理局|市场监管局"
    r"|发展改革委|经济和信息化厅|工业和信息化厅)"
    r"|省?质量强省建设(?:协调推进)?领导小组(?:办公室)?)"
)
_ISSUED = re.compile(
    rf"((?:{_ISSUER}[、和与及,，]?){{1,4}})\s*(?:近日|日前|正式|联合)?\s*(?:印发|发布|出台|制定|颁布)(?:了)?"
)
_EN_BODY = (
    r"(?:the\s+)?(?:[A-Z][a-z]+\s+){1,6}(?:Committee|Government|Council|Bureau|Administration"
    r"|Office|Commission|Department)"
)
_EN_ISSUED = re.compile(
    rf"({_EN_BODY}(?:\s+and\s+{_EN_BODY})?)\s+(?:jointly\s+)?(?:issued|released)"
)
_EN_KINDS = (
    ("Implementation Opinions", "实施意见"), ("Guiding Opinions", "指导意见"),
    ("Action Plan", "行动方案"), ("Opinions", "意见"), ("Plan", "方案"), ("Measures", "办法"),
    ("Outline", "纲要"), ("Notice", "通知"), ("Regulations", "条例"), ("Guidelines", "指导意见"),
)  # fmt: skip
_EN_TITLE = re.compile(
    r"((?:[A-Z][a-z]+\s+)*(?:Opinions|Plan|Measures|Outline|Notice|Regulations|Guidelines)"
    r"(?:\s+(?:on|for|of|to|the|a|an|and|in|with|[A-Z][a-z-]+))+)"
)
_ZH_DATE = re.compile(r"(?:(?:19|20)\d{2}年)?\d{1,2}月\d{1,2}日")
_EN_DATE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December)\s+\d{1,2}(?:st|nd|rd|th)?(?:,\s*\d{4})?"
)


def document_facts(title: str, text: str) -> DocumentFacts:
    """Document numbers, document titles and type, issuers and dates in an article."""
    whole = f"{title}\n{text}"
    numbers = tuple(dict.fromkeys(m.group().replace(" ", "") for m in _DOC_NUMBER.finditer(whole)))
    titles = tuple(
        dict.fromkeys(
            [
                *(
                    t
                    for t in _DOC_TITLE.findall(whole)
                    if len(t) >= 6 and any(t.endswith(k) for k in _DOC_KINDS)
                ),
                *(
                    re.sub(r"\s+(?:on|for|of|to|the|a|an|and|in|with)$", "", t)
                    for t in _EN_TITLE.findall(whole)
                    if len(t.split()) >= 4
                ),
            ]
        )
    )
    kind = None
    for candidate in (*titles, title):
        kind = next((k for k in _DOC_KINDS if candidate.endswith(k)), None)
        kind = kind or next((zh for en, zh in _EN_KINDS if f"{en} " in f"{candidate} "), None)
        if kind:
            break
    issuers: list[str] = []
    for m in _EN_ISSUED.finditer(whole):
        for part in re.split(r"\s+and\s+", m.group(1)):
            part = re.sub(r"^the\s+", "", part.strip(), flags=re.IGNORECASE)
            if part not in issuers:
                issuers.append(part)
    for m in _ISSUED.finditer(whole):
        for part in re.split(r"[、和与及,，]", m.group(1)):
            part = part.strip()
            if len(part) >= 2 and part not in issuers:
                issuers.append(part)
    dates = tuple(dict.fromkeys([*_ZH_DATE.findall(whole), *_EN_DATE.findall(whole)]))
    return DocumentFacts(
        numbers=numbers, titles=titles, kind=kind, issuers=tuple(issuers[:6]), dates=dates[:8]
    )
