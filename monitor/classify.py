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
import threading
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
_BUILDING = threading.Lock()  # TermSet's patterns, built at first use
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

    __slots__ = ("_compiled", "_pattern", "_regexes", "raws")

    def __init__(self, raws: Iterable[str] = ()) -> None:
        self.raws = tuple(dict.fromkeys(str(r) for r in raws))
        # Terms written ``re:…`` are compiled at once: a broken one is reported at load.
        self._regexes = tuple(
            (raw[3:], TimedRegex(raw[3:], what=f"lexicon term {raw!r}"))
            for raw in self.raws
            if raw.startswith("re:")
        )
        self._pattern: str | None = None  # built at first use (see _source)
        self._compiled: re.Pattern[str] | None = None

    def _source(self) -> str:
        """The plain terms as one pattern ("" when there are none), built at first
        use: the lexicon's sets (thousands of place names) take ~0.4 s to build
        and compile, which a ``run --once`` pass that finds nothing new (the
        common case) never needs."""
        if self._pattern is None:
            english: list[str] = []
            chinese: list[str] = []
            for raw in self.raws:
                if raw.startswith("re:"):
                    continue
                if raw.isascii():
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
            self._pattern = "|".join(parts)
        return self._pattern

    @property
    def _combined(self) -> re.Pattern[str] | None:
        """The plain terms' pattern, compiled at first use; None when there are none.
        One thread builds it while the others wait: the pipeline's worker threads
        all start at once, and each building its own copy of every pattern cost
        four times the CPU and some 50 MB more at the first pass's peak."""
        if self._compiled is None:
            with _BUILDING:
                if self._compiled is None and self._source():
                    self._compiled = re.compile(self._source())
        return self._compiled

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
            if found and self._regexes:  # a place counts once, for the plain term
                text = self._combined.sub(" ", text)
        for name, pattern in self._regexes:
            if n := len(pattern.findall(text)):
                found[name] += n
        return found

    def sub(self, text: str, *, clause: bool = False) -> str:
        """``text`` with every term (and with ``clause``, the rest of its
        clause) replaced by a space, so that nothing found inside counts."""
        tail = _CLAUSE_TAIL if clause else ""
        if source := self._source():
            text = re.sub(f"(?:{source}){tail}", " ", text)
        for name, pattern in self._regexes:
            if clause:
                pattern = _with_tail(name, tail)
            text = pattern.sub(" ", text)
        return text


@lru_cache(maxsize=256)
def _with_tail(pattern: str, tail: str) -> TimedRegex:
    return TimedRegex(f"(?:{pattern}){tail}", what=f"lexicon term 're:{pattern}'")


_CLAUSE_TAIL = r"[^。；;！!？?\n.]*"


@dataclass(frozen=True, slots=True)
class Lexicon:
    strong: TermSet
    medium: TermSet
    weak: TermSet
    masks: TermSet
    negative: TermSet
    national: TermSet
    categories: tuple[tuple[str, TermSet], ...]
    places: TermSet
    place_of: dict[str, tuple[str, str]]  # matched name → (province code, level)
    negations: TermSet  # 未涉及…: the rest of the clause is masked
    local: TermSet  # 我省, 全市: the text is about one place
    internal: tuple[
        TermSet, TermSet, TermSet
    ]  # a company's own activity: subjects, cues, authorities
    # 质量强桂, 陕西质量奖: the policy or a government award named with a place
    named: TermSet
    named_of: dict[str, str]  # matched term → province code

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
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10× faster
    data = yaml.load((directory / "topics.yaml").read_text(encoding="utf-8"), Loader=loader)

    def terms(items: list[str]) -> TermSet:
        return TermSet(str(x) for x in items)

    def with_mirror_forms(items: list[str]) -> TermSet:
        # 品质 for 质量, as mirror sites write it: 品质强省, 品质提升
        raws = [str(x) for x in items]
        return TermSet([*raws, *(r.replace("质量", "品质") for r in raws if "质量" in r)])

    from monitor.lexicon import place_names  # the geographic half of the lexicon

    rel = data["relevance"]
    place_of = {
        (name.lower() if name.isascii() else name): (place.code, place.level)
        for name, place in place_names().items()
    }
    internal = data.get("internal") or {}
    named_of = _named_terms(place_names())
    return Lexicon(
        strong=with_mirror_forms(rel["strong"]),
        medium=with_mirror_forms(rel["medium"]),
        weak=terms(rel["weak"]),
        masks=TermSet(str(m).lower() for m in data["masks"]),
        negative=terms(data["negative"]),
        national=terms(data["national"]),
        categories=tuple((Category(k).value, terms(v)) for k, v in data["categories"].items()),
        places=TermSet(place_of),
        place_of=place_of,
        negations=terms(data.get("negations") or []),
        local=terms(data.get("local") or []),
        internal=(
            terms(internal.get("subjects") or []),
            terms(internal.get("cues") or []),
            terms(internal.get("authorities") or []),
        ),
        named=TermSet(named_of),
        named_of=named_of,
    )


# One-character names of provinces in policy slogans (质量强桂, 质量兴鲁); the
# lexicon's `abbr`, plus the older literary ones still used in slogans.
_SLOGAN_ABBR_EXTRA = {
    "蜀": "CN-SC", "陇": "CN-GS", "秦": "CN-SN", "贵": "CN-GZ", "云": "CN-YN",
    "冀": "CN-HE", "晋": "CN-SX", "甬": "CN-ZJ",
}  # fmt: skip
_NOT_IN_SLOGANS = {"港", "澳", "台", "国", "市", "省", "新"}


def _named_terms(places: dict[str, Any]) -> dict[str, str]:
    """Terms that name the policy or a government quality award with a place.

    质量强桂 / 质量兴鲁 / 品质强川 (the policy with a province's abbreviation)
    and 陕西质量奖 / 成都市质量管理奖 (a government award named after a
    place) are the policy itself, and say which province it is.
    """
    from monitor.lexicon import load_provinces

    abbr = {p.abbr: p.code for p in load_provinces() if p.abbr not in _NOT_IN_SLOGANS}
    abbr.update(_SLOGAN_ABBR_EXTRA)
    named: dict[str, str] = {}
    for char, code in abbr.items():
        for head in ("质量", "品质"):
            for verb in "强兴立":
                named[f"{head}{verb}{char}"] = code
    for name, place in places.items():
        if name.isascii() or len(name) < 2:
            continue
        for suffix in ("", "省", "市", "自治区", "区", "县"):
            if suffix and name.endswith(suffix):
                continue
            for award in ("质量奖", "质量管理奖", "质量金奖", "政府质量奖"):
                named[f"{name}{suffix}{award}"] = place.code
    return named


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


def _masked(text: str, lexicon: Lexicon) -> str:
    """``text`` without what is about something else or said not to be there.

    高质量发展 (economic news), 教育强省 and the like are masked so that 质量
    and 强省 inside them count for nothing; a negated clause ("文中未涉及质量强市",
    "does not mention quality work") is masked up to the end of the clause.
    """
    text = lexicon.masks.sub(text)
    if len(lexicon.negations):
        text = lexicon.negations.sub(text, clause=True)
    return text


def classify(
    title: str, text: str, lexicon: Lexicon, *, source_province: str | None = None
) -> Verdict:
    """Judge one normalised article (simplified Chinese or English)."""
    title_f, body_f = _fold(title), _fold(text)
    title_m, body_m = _masked(title_f, lexicon), _masked(body_f, lexicon)
    evidence: list[Evidence] = []

    named = _hits(lexicon.named, title_m, body_m, 3.0, "topic")
    strong = _hits(lexicon.strong, title_m, body_m, 3.0, "topic") + named
    medium = _hits(lexicon.medium, title_m, body_m, 1.5, "topic")
    # 质量 said elsewhere than inside the terms already counted
    weak_count = sum(
        sum(lexicon.weak.counts(lexicon.medium.sub(lexicon.strong.sub(text))).values())
        for text in (title_m, body_m)
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
    internal = _internal(title_f, body_f, lexicon)
    if internal:
        evidence.append(internal)
    relevant = (
        score >= _RELEVANT_SCORE and _about_the_policy(strong, medium, weak_count) and not internal
    )

    province, province_evidence = _province(title_f, body_f, lexicon, source_province, named)
    if relevant and province is None and not lexicon.local.counts(f"{title_f} {body_f}"):
        # Quality work always has a level: an announcement that names no
        # province and no body below the State is national.
        province = "CN"
        province_evidence.append(Evidence("no province named", "body", 0.0, "province"))
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


def _about_the_policy(strong: list[Evidence], medium: list[Evidence], weak_count: int) -> bool:
    """More than a passing mention: the policy, its events or programmes named
    in the title, more than once, or with quality said elsewhere too; or the
    work it organises of several kinds. (The work alone in a title is not
    enough: 品牌建设, quality management and 质量奖 head company news too.)"""
    medium_terms = {e.term for e in medium}
    strong_weight = sum(e.weight for e in strong)
    return (
        any(e.where == "title" for e in strong)
        or strong_weight >= 4.5
        or (strong_weight > 0 and (weak_count > 0 or bool(medium_terms)))
        or len(medium_terms) >= 3
    )


_INTERNAL_LEAD = 120  # characters of the body read for the subject of an internal activity


def _internal(title: str, body: str, lexicon: Lexicon) -> Evidence | None:
    """A company's own activity (an in-house quiz in 质量月), not public work:
    a company as the subject, a cue of internal work, no authority at all."""
    subjects, cues, authorities = lexicon.internal
    opening = f"{title} {body[:_INTERNAL_LEAD]}"
    if not (subjects.counts(opening) and cues.counts(f"{title} {body}")):
        return None
    if authorities.counts(f"{title} {body}"):
        return None
    return Evidence("a company's own activity", "body", 0.0, "negative")


# A wire service's dateline names where the report was filed, not what it is
# about: 新华社北京9月1日电, 中新社北京十二月一日电, BEIJING, Sept. 12 (Xinhua) --
_DATELINE = re.compile(
    r"^\s*(?:据)?[\u4e00-\u9fff]{1,8}?(?:社|网|报|台|讯)\s*[\u4e00-\u9fff]{2,4}\s*"
    r"(?:[0-9〇零一二三四五六七八九十]{1,3}月[0-9〇零一二三四五六七八九十]{1,3}日)?\s*(?:电|讯)"
    r"|^\s*[a-z]{3,}(?:,\s*[a-z]+\.?\s*\d{1,2})?\s*\((?:xinhua|reuters|afp|ap|chinadaily)\)\s*-*"
)
# Institutions named after a place (北京大学, 四川银行) are not news of it.
_INSTITUTION = re.compile(
    r"[\u4e00-\u9fff]{2,4}(?:大学|学院|研究院|研究所|银行|医院|中学|小学)"
    r"|[a-z]+ (?:university|bank|institute)"
)
# A national event hosted by a province keeps its host inside its name:
# 中国质量(成都)大会, China Quality (Chengdu) Conference.
_HOSTED = re.compile(
    r"(中国[\u4e00-\u9fff]{1,6})[（(][\u4e00-\u9fff]{2,4}[)）]|china quality \(\w+\)"
)
# The capital is where national bodies sit and national events take place:
# its name next to theirs is the venue, not the topic.
_CAPITAL = "CN-BJ"


def _province(
    title: str,
    body: str,
    lexicon: Lexicon,
    hint: str | None,
    named: list[Evidence] = (),  # type: ignore[assignment]
) -> tuple[str | None, list[Evidence]]:
    scores: defaultdict[str, float] = defaultdict(float)
    evidence: list[Evidence] = []
    national = sum(e.weight for e in _hits(lexicon.national, title, body, 1.0, "province"))
    hosted = _HOSTED.search(title) or _HOSTED.search(body)
    if hosted:
        national += 3.0
    body = _DATELINE.sub(" ", body, count=1)
    for where, text in (("title", title), ("body", body)):
        text = _HOSTED.sub(r"\1", _INSTITUTION.sub(" ", text))
        for name, n in lexicon.places.counts(text).items():
            code, level = lexicon.place_of[name]
            base = 1.0 if level == "province" else 0.7
            if code == _CAPITAL and national:
                base *= 0.3
            weight = base * (_TITLE_WEIGHT if where == "title" else 1 + math.log(n))
            scores[code] += weight
            evidence.append(Evidence(name, where, round(weight, 2), "province"))
    for e in named:
        if named_code := lexicon.named_of.get(e.term):
            scores[named_code] += e.weight
            evidence.append(Evidence(e.term, e.where, e.weight, "province"))
    if hint and hint != "CN":
        scores[hint] += 1.5
        evidence.append(Evidence(hint, "source", 1.5, "province"))
    if hint == "CN":
        national += 1.5
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if ranked and (local := lexicon.local.counts(f"{title} {body}")):
        # "our province", "the whole city": the leading place is the subject
        n = sum(local.values())
        ranked[0] = (ranked[0][0], ranked[0][1] + 1 + math.log(n))
        evidence.append(
            Evidence("/".join(sorted(local)), "body", round(1 + math.log(n), 2), "province")
        )
    best = ranked[0] if ranked else (None, 0.0)
    if national and national > best[1] * 1.2:
        evidence.append(
            Evidence("national bodies and events", "body", round(national, 2), "province")
        )
        return "CN", evidence
    if len(ranked) >= 3 and best[1] < 2 * ranked[1][1]:
        # A list of provinces with none ahead (a national index by region,
        # the winners of a national award): the story is the nation's.
        evidence.append(Evidence(f"{len(ranked)} provinces, none ahead", "body", 0.0, "province"))
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
