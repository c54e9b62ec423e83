"""``quality-monitor eval``: the classifier and the story matcher on a labelled corpus.

The corpus format is JSON Lines, one document a line, with ``text`` or
``file`` (relative to the corpus file) and the labels ``relevant``,
``province``, ``category`` and ``event`` (see README). Documents are grouped
into stories in corpus order, exactly as the pipeline would group them if
they arrived in that order.
"""

from __future__ import annotations

import json
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


def evaluate(documents: list[Document], lexicon: Lexicon | None = None) -> dict[str, Any]:
    # the story index and matcher (numpy, the event lexicon): only eval, not classify, loads them
    from monitor.dedup import Concepts, StoryIndex, fingerprint, match_story

    lexicon, concepts = lexicon or Lexicon.load(), Concepts.load()
    tp = fp = fn = 0
    province_right = province_total = category_right = category_total = 0
    mistakes: list[dict[str, Any]] = []
    index = StoryIndex()
    story_of: dict[str, int] = {}
    for doc in documents:
        normal = normalize_article(doc.title, doc.text)
        verdict = classify(normal.title, normal.text, lexicon)
        labels = doc.labels
        if labels.get("relevant") is not None:
            expected = bool(labels["relevant"])
            if verdict.relevant and expected:
                tp += 1
            elif verdict.relevant:
                fp += 1
            elif expected:
                fn += 1
            if verdict.relevant != expected:
                mistakes.append(
                    {
                        "id": doc.id,
                        "field": "relevant",
                        "expected": expected,
                        "got": verdict.relevant,
                        "score": verdict.score,
                    }
                )
            if expected:
                if (want := _as_set(labels.get("province"))) is not None:
                    province_total += 1
                    if verdict.province in want:
                        province_right += 1
                    else:
                        mistakes.append(
                            {
                                "id": doc.id,
                                "field": "province",
                                "expected": sorted(want),
                                "got": verdict.province,
                            }
                        )
                if (want := _as_set(labels.get("category"))) is not None:
                    category_total += 1
                    if verdict.category in want:
                        category_right += 1
                    else:
                        mistakes.append(
                            {
                                "id": doc.id,
                                "field": "category",
                                "expected": sorted(want),
                                "got": verdict.category,
                            }
                        )
        fp_ = fingerprint(
            normal.title,
            normal.text,
            normal.language,
            text_hash(normal.text),
            concepts,
            doc_titles=verdict.facts.titles,
        )
        candidates = index.candidates(fp_, verdict.province, doc.published)
        match = match_story(fp_, verdict.province, doc.published, candidates, concepts)
        story_id = index.stories + 1 if match is None else match.story_id
        index.add(story_id, verdict.province, doc.published, fp_)
        story_of[doc.id] = story_id

    events = {d.id: d.labels.get("event") for d in documents}
    true_pairs = {
        (a, b) for a, b in combinations(sorted(events), 2) if events[a] and events[a] == events[b]
    }
    predicted_pairs = {
        (a, b) for a, b in combinations(sorted(story_of), 2) if story_of[a] == story_of[b]
    }
    right_pairs = true_pairs & predicted_pairs
    for a, b in sorted(predicted_pairs - true_pairs):
        mistakes.append({"id": f"{a}+{b}", "field": "story", "expected": "apart", "got": "merged"})
    for a, b in sorted(true_pairs - predicted_pairs):
        mistakes.append({"id": f"{a}+{b}", "field": "story", "expected": "merged", "got": "apart"})

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    f1 = (
        round(2 * precision * recall / (precision + recall), 4)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "documents": len(documents),
        "relevance": {"precision": precision, "recall": recall, "f1": f1},
        "province": {
            "accuracy": ratio(province_right, province_total),
            "evaluated": province_total,
        },
        "category": {
            "accuracy": ratio(category_right, category_total),
            "evaluated": category_total,
        },
        "stories": {
            "pair_precision": ratio(len(right_pairs), len(predicted_pairs))
            if predicted_pairs
            else 1.0,
            "pair_recall": ratio(len(right_pairs), len(true_pairs)) if true_pairs else 1.0,
            "true_pairs": len(true_pairs),
            "predicted_pairs": len(predicted_pairs),
        },
        "mistakes": mistakes,
    }


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
        f"  ({st['predicted_pairs']} predicted, {st['true_pairs']} true)",
    ]
    if report["mistakes"]:
        lines.append("mistakes:")
        for m in report["mistakes"]:
            lines.append(f"  {m['id']}: {m['field']}: expected {m['expected']}, got {m['got']}")
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
