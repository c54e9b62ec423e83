"""``quality-monitor eval``: the classifier and the story matcher on a labelled corpus.

The corpus format is JSON Lines, one document a line, with ``text`` or
``file`` (relative to the corpus file) and the labels ``relevant``,
``province``, ``category`` and ``event`` (see README). Documents are grouped
into stories as the pipeline would group them, in the corpus's order and in
shuffled orders; the worst order's figures are reported.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from monitor.classify import Lexicon, classify
from monitor.normalize import normalize_article, text_hash
from monitor.summarize import summarize


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    title: str
    text: str
    published: datetime | None
    labels: dict[str, Any]


def read_corpus(path: Path) -> list[Document]:
    documents: list[Document] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: not JSON: {exc.msg}") from None
            if "text" in record:
                raw = record["text"]
            elif "file" in record:
                raw = (path.parent / record["file"]).read_text(encoding="utf-8")
            else:
                raise ValueError(f"line {number}: needs 'text' or 'file'")
            title = record.get("title") or ""
            body = raw
            if not title:
                first, _, rest = raw.strip().partition("\n")
                if len(first) <= 120 and rest.strip():
                    title, body = first.strip(), rest
            published = None
            if record.get("published"):
                published = datetime.fromisoformat(record["published"]).replace(tzinfo=UTC)
            documents.append(
                Document(str(record.get("id", number)), title, body, published, record)
            )
    return documents


def _as_set(value: Any) -> set[str] | None:
    if value is None:
        return None
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


NOISE_KINDS = (  # the corpus's free-text ``noise`` field → a kind, first match wins
    ("pinyin glosses", ("pinyin",)),
    ("dateline", ("dateline",)),
    ("full-width or Chinese numerals", ("full-width", "numeral")),
    ("broken lines", ("line break", "wrap")),
    ("spam or injected text", ("spam", "gambling", "inject", "stray")),
    ("品質 for 质量", ("品質",)),
    (
        "glued-on text",
        (
            "glued",
            "appended",
            "comment",
            "headline",
            "navigation",
            "footer",
            "teaser",
            "related",
            "watermark",
            "copyright",
        ),
    ),
)
ORDERS = 5  # arrival orders the grouping is measured over: the corpus's, then shuffled


def noise_kind(noise: Any) -> str:
    if not noise:
        return "none"
    text = str(noise).lower()
    for kind, words in NOISE_KINDS:
        if any(w.lower() in text for w in words):
            return kind
    return "other"


@dataclass(slots=True)
class _Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    province_right: int = 0
    province_total: int = 0
    category_right: int = 0
    category_total: int = 0

    def figures(self) -> dict[str, Any]:
        precision, recall = _ratio(self.tp, self.tp + self.fp), _ratio(self.tp, self.tp + self.fn)
        return {
            "relevance": {"precision": precision, "recall": recall, "f1": _f1(precision, recall)},
            "province": {
                "accuracy": _ratio(self.province_right, self.province_total),
                "evaluated": self.province_total,
            },
            "category": {
                "accuracy": _ratio(self.category_right, self.category_total),
                "evaluated": self.category_total,
            },
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None or not precision + recall:
        return None
    return round(2 * precision * recall / (precision + recall), 4)


def evaluate(documents: list[Document], lexicon: Lexicon | None = None) -> dict[str, Any]:
    """Classifier and grouping figures, overall, per language and per kind of noise.

    The grouping is run over :data:`ORDERS` arrival orders (the corpus's and
    shuffles with fixed seeds); ``stories`` reports the worst order's pair
    precision and recall (each the lowest over the orders), ``orders`` each.
    Rarity is learned from the whole corpus before grouping — the articles
    a store would hold — so that every order weighs keys alike.
    """
    # the story index and matcher (numpy, jieba): only eval, not classify, loads them
    from monitor.dedup import Concepts, Rarity, fingerprint

    lexicon, concepts = lexicon or Lexicon.load(), Concepts.load()
    mistakes: list[dict[str, Any]] = []
    overall = _Tally()
    by_language: dict[str, _Tally] = {}
    by_noise: dict[str, _Tally] = {}
    prints: dict[str, tuple[Any, str | None]] = {}
    rarity = Rarity()
    for doc in documents:
        normal = normalize_article(doc.title, doc.text)
        verdict = classify(normal.title, normal.text, lexicon)
        labels = doc.labels
        tallies = (
            overall,
            by_language.setdefault(str(labels.get("language") or normal.language), _Tally()),
            by_noise.setdefault(noise_kind(labels.get("noise")), _Tally()),
        )
        for m in _score(doc, verdict, tallies):
            mistakes.append(m)
        fp_ = fingerprint(
            normal.title,
            normal.text,
            normal.language,
            text_hash(normal.text),
            concepts,
            doc_titles=verdict.facts.titles,
            province=verdict.province,
        )
        prints[doc.id] = (fp_, verdict.province)
        rarity.learn(fp_.concepts)

    dates = {d.id: d.published for d in documents}
    events = {d.id: d.labels.get("event") for d in documents}
    true_pairs = {
        (a, b) for a, b in combinations(sorted(events), 2) if events[a] and events[a] == events[b]
    }
    orders = []
    worst: dict[str, Any] | None = None
    for n in range(ORDERS):
        order = [d.id for d in documents]
        if n:
            random.Random(n).shuffle(order)
        story_of, evidence = group(order, prints, rarity, dates)
        predicted = {
            (a, b) for a, b in combinations(sorted(story_of), 2) if story_of[a] == story_of[b]
        }
        right = true_pairs & predicted
        figures = {
            "order": n,
            "pair_precision": _ratio(len(right), len(predicted)) if predicted else 1.0,
            "pair_recall": _ratio(len(right), len(true_pairs)) if true_pairs else 1.0,
            "predicted_pairs": len(predicted),
        }
        orders.append(figures)
        key = (figures["pair_precision"] or 0) + (figures["pair_recall"] or 0)
        if worst is None or key < worst["key"]:
            worst = {"key": key, "figures": figures, "predicted": predicted, "evidence": evidence}
    assert worst is not None
    languages = {d.id: str(d.labels.get("language") or prints[d.id][0].language) for d in documents}
    for a, b in sorted(worst["predicted"] - true_pairs):
        mistakes.append(
            {
                "id": f"{a}+{b}",
                "field": "story",
                "expected": "apart",
                "got": "merged",
                "evidence": _pair_evidence(a, b, prints, rarity, dates, merged=True),
            }
        )
    for a, b in sorted(true_pairs - worst["predicted"]):
        mistakes.append(
            {
                "id": f"{a}+{b}",
                "field": "story",
                "expected": "merged",
                "got": "apart",
                "evidence": _pair_evidence(a, b, prints, rarity, dates, merged=False),
            }
        )
    report = overall.figures()
    pair_languages = {}
    for language in sorted(set(languages.values())):
        mine = {p for p in true_pairs if language in (languages[p[0]], languages[p[1]])}
        found = {p for p in worst["predicted"] if language in (languages[p[0]], languages[p[1]])}
        pair_languages[language] = {
            "pair_precision": _ratio(len(mine & found), len(found)) if found else None,
            "pair_recall": _ratio(len(mine & found), len(mine)) if mine else None,
            "true_pairs": len(mine),
        }
    return {
        "documents": len(documents),
        **report,
        "stories": {
            "pair_precision": min(o["pair_precision"] or 0.0 for o in orders),
            "pair_recall": min(o["pair_recall"] or 0.0 for o in orders),
            "true_pairs": len(true_pairs),
            "predicted_pairs": worst["figures"]["predicted_pairs"],
            "orders": orders,
        },
        "by_language": {
            k: t.figures() | {"stories": pair_languages.get(k)}
            for k, t in sorted(by_language.items())
        },
        "by_noise": {k: t.figures() for k, t in sorted(by_noise.items())},
        "mistakes": mistakes,
    }


def group(
    order: list[str],
    prints: dict[str, tuple[Any, str | None]],
    rarity: Any,
    dates: dict[str, datetime | None] | None = None,
) -> tuple[dict[str, int], dict[str, str]]:
    """Group documents arriving in ``order`` as the pipeline would: story of each, and why.

    ``dates``: each document's publication date, when known (the pipeline
    passes the date it was first seen otherwise; a corpus has none).
    """
    from monitor.dedup import StoryIndex, decide

    dates = dates or {}

    index = StoryIndex(rarity)  # the corpus's rarity, the same for every order
    story_of: dict[str, int] = {}
    evidence: dict[str, str] = {}
    next_id = 1
    for doc_id in order:
        fp_, province = prints[doc_id]
        when = dates.get(doc_id)
        decision = decide(fp_, province, index.candidates(fp_, province, when), rarity, when)
        if decision.story_id is None:
            story_id, next_id = next_id, next_id + 1
        else:
            story_id = decision.story_id
            if decision.merged:
                index.merge_stories(story_id, decision.merged)
                merged = set(decision.merged)
                story_of = {k: story_id if v in merged else v for k, v in story_of.items()}
        index.add(story_id, province, when, fp_)
        story_of[doc_id] = story_id
        evidence[doc_id] = decision.match.reason if decision.match else "new story"
    return story_of, evidence


def _pair_evidence(
    a: str,
    b: str,
    prints: dict[str, tuple[Any, str | None]],
    rarity: Any,
    dates: dict[str, datetime | None],
    merged: bool,
) -> str:
    """Why two documents were or were not grouped: their comparison, and when it
    disagrees with the outcome, what decided instead (a third document)."""
    from monitor.dedup import compare, days_between

    (fa, pa), (fb, pb) = prints[a], prints[b]
    apart = days_between(dates.get(a), dates.get(b))
    found = compare(fa, pa, 0, fb, pb, rarity, days_apart=apart)
    why = found.explain()
    if merged and found.rule is None:
        why += " — joined through other documents of the story"
    elif not merged and found.rule is not None:
        why += " — kept apart: another document of one story vetoes the other"
    return why


def _score(doc: Document, verdict: Any, tallies: tuple[_Tally, ...]) -> list[dict[str, Any]]:
    """Count one document's classification in each tally; its mistakes with their evidence."""
    labels, mistakes = doc.labels, list[dict[str, Any]]()
    evidence = [f"{e.term} ({e.kind}, {e.where}, {e.weight:+.1f})" for e in verdict.evidence][:8]
    if labels.get("relevant") is None:
        return mistakes
    expected = bool(labels["relevant"])
    for t in tallies:
        if verdict.relevant and expected:
            t.tp += 1
        elif verdict.relevant:
            t.fp += 1
        elif expected:
            t.fn += 1
    if verdict.relevant != expected:
        mistakes.append(
            {
                "id": doc.id,
                "field": "relevant",
                "expected": expected,
                "got": verdict.relevant,
                "score": verdict.score,
                "evidence": evidence,
            }
        )
    if not expected:
        return mistakes
    for field_, got in (("province", verdict.province), ("category", verdict.category)):
        if (want := _as_set(labels.get(field_))) is None:
            continue
        for t in tallies:
            if field_ == "province":
                t.province_total += 1
                t.province_right += got in want
            else:
                t.category_total += 1
                t.category_right += got in want
        if got not in want:
            mistakes.append(
                {
                    "id": doc.id,
                    "field": field_,
                    "expected": sorted(want),
                    "got": got,
                    "evidence": evidence,
                }
            )
    return mistakes


def format_report(report: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    rel, prov, cat, st = (
        report["relevance"],
        report["province"],
        report["category"],
        report["stories"],
    )
    lines = [
        f"documents            {report['documents']}",
        f"relevance            precision {pct(rel['precision'])}  recall {pct(rel['recall'])}"
        f"  F1 {pct(rel['f1'])}",
        f"province accuracy    {pct(prov['accuracy'])} of {prov['evaluated']}",
        f"category accuracy    {pct(cat['accuracy'])} of {cat['evaluated']}",
        f"story pairs          precision {pct(st['pair_precision'])}"
        f"  recall {pct(st['pair_recall'])}"
        f"  ({st['predicted_pairs']} predicted, {st['true_pairs']} true;"
        f" worst of {len(st.get('orders', [])) or 1} arrival orders)",
    ]
    for title, key in (("by language", "by_language"), ("by kind of noise", "by_noise")):
        if not report.get(key):
            continue
        lines.append(f"{title}:")
        for name, f in report[key].items():
            line = (
                f"  {name:<32} relevance F1 {pct(f['relevance']['f1'])}"
                f"  province {pct(f['province']['accuracy'])}"
                f"  category {pct(f['category']['accuracy'])}"
            )
            if f.get("stories"):
                s = f["stories"]
                line += (
                    f"  pairs P {pct(s['pair_precision'])} R {pct(s['pair_recall'])}"
                    f" of {s['true_pairs']}"
                )
            lines.append(line)
    if report["mistakes"]:
        lines.append("mistakes:")
        for m in report["mistakes"]:
            line = f"  {m['id']}: {m['field']}: expected {m['expected']}, got {m['got']}"
            if m.get("evidence"):
                ev = m["evidence"]
                line += f"\n      {ev if isinstance(ev, str) else '; '.join(ev)}"
            lines.append(line)
    return "\n".join(lines)


def classify_document(
    title: str,
    body: str,
    *,
    source_province: str | None = None,
    lexicon: Lexicon | None = None,
) -> dict[str, Any]:
    """One document through normalise → classify → summarise, as JSON-able data."""
    normal = normalize_article(title, body)
    lexicon = lexicon or Lexicon.load()
    verdict = classify(normal.title, normal.text, lexicon, source_province=source_province)
    facts = verdict.facts
    return {
        "relevant": verdict.relevant,
        "score": verdict.score,
        "province": verdict.province,
        "category": verdict.category,
        "language": normal.language,
        "summary": summarize(normal.title, normal.text, normal.language, facts=facts),
        "facts": {
            "numbers": list(facts.numbers),
            "titles": list(facts.titles),
            "kind": facts.kind,
            "issuers": list(facts.issuers),
            "dates": list(facts.dates),
        },
        "evidence": [
            {"term": e.term, "where": e.where, "weight": round(e.weight, 2), "kind": e.kind}
            for e in verdict.evidence
        ],
    }
