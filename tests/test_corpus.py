"""The labelled corpora: the fixture site's (always) and the design seeds (when present)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.evaluate import classify_document, evaluate, read_corpus

DATA = Path(__file__).parent / "data"


def test_fixture_corpus_stays_above_its_floors() -> None:
    floors = json.loads((DATA / "eval_floor.json").read_text(encoding="utf-8"))
    report = evaluate(read_corpus(DATA / "site" / "corpus.jsonl"))
    assert report["documents"] == 12
    got = {
        "relevance_f1": report["relevance"]["f1"],
        "province_accuracy": report["province"]["accuracy"],
        "category_accuracy": report["category"]["accuracy"],
        "pair_precision": report["stories"]["pair_precision"],
        "pair_recall": report["stories"]["pair_recall"],
    }
    for name, floor in floors.items():
        if not name.startswith("_"):
            assert got[name] >= floor, (name, got[name], report["mistakes"])


def test_eval_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(DATA / "site" / "corpus.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the keys ARCHITECTURE.md promises, and the ones added beside them
    assert set(report) >= {"documents", "relevance", "province", "category", "stories", "mistakes"}
    assert set(report) >= {"by_language", "by_noise"}
    assert set(report["relevance"]) == {"precision", "recall", "f1"}
    assert set(report["stories"]) >= {
        "pair_precision",
        "pair_recall",
        "true_pairs",
        "predicted_pairs",
        "orders",
    }
    assert len(report["stories"]["orders"]) == 5


def test_eval_text_lists_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    wrong = {
        "id": "x",
        "text": "全省质量月活动启动\n9月1日,四川省质量月活动在成都启动,推进质量强省。",
        "relevant": False,
        "province": None,
        "category": "other",
        "event": None,
    }
    corpus.write_text(json.dumps(wrong, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["eval", str(corpus)]) == 0
    assert "x: relevant: expected False, got True" in capsys.readouterr().out


def test_classify_command_prints_one_json_line_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text(
        "广东召开全省质量工作会议\n省长主持召开全省质量工作会议,部署质量强省建设。",
        encoding="utf-8",
    )
    assert main(["classify", str(doc)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert set(result) >= {
        "path",
        "relevant",
        "score",
        "province",
        "category",
        "language",
        "evidence",
    }
    assert (result["relevant"], result["province"], result["category"]) == (
        True,
        "CN-GD",
        "meeting",
    )


# ── the seeds in ../shared (CI has them; a user's clone does not) ────────────


def _seed_results(seeds: Path) -> dict[str, dict[str, object]]:
    results = {}
    for line in seeds.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        raw = (seeds.parent / record["file"]).read_text(encoding="utf-8")
        title, _, body = raw.strip().partition("\n")
        if len(title) > 120:
            title, body = "", raw
        results[record["id"]] = {**classify_document(title, body), "labels": record}
    return results


def test_every_seed_is_relevant_with_the_right_province_and_category(seeds: Path) -> None:
    for doc_id, result in _seed_results(seeds).items():
        labels = result["labels"]
        assert isinstance(labels, dict)
        provinces = (
            labels["province"] if isinstance(labels["province"], list) else [labels["province"]]
        )
        categories = (
            labels["category"] if isinstance(labels["category"], list) else [labels["category"]]
        )
        assert result["relevant"] is True, doc_id
        assert result["province"] in provinces, doc_id
        assert result["category"] in categories, doc_id


def test_seed_summaries_are_clean(seeds: Path) -> None:
    results = _seed_results(seeds)
    glued = results["001_5a609b12a606f9b1"]["summary"]
    assert isinstance(glued, str) and glued
    assert "网络安全" not in glued and "泸州" not in glued
    mirror = results["003_271bd24d871cc5bc"]["summary"]
    assert isinstance(mirror, str) and mirror
    assert "?" not in mirror  # no lost characters
    assert not re.search(r"[a-zāáǎàēéěèīíǐìōóǒòūúǔùü]", mirror)  # no pinyin glosses
    assert "貫" not in mirror and "質" not in mirror  # simplified
    for result in results.values():
        summary = str(result["summary"])
        limit = 450 if result["language"] == "en" else 220
        assert 0 < len(summary) <= limit


def test_seeds_group_into_the_labelled_stories(seeds: Path) -> None:
    report = evaluate(read_corpus(seeds))
    assert report["stories"]["true_pairs"] == 1
    assert report["stories"]["pair_precision"] == 1.0
    assert report["stories"]["pair_recall"] == 1.0
    assert report["relevance"]["f1"] == 1.0


def test_eval_prints_figures_by_language_and_noise_and_each_mistake_s_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {
            "id": "a",
            "language": "zh-Hans",
            "noise": "dateline kept at start",
            "text": "2024年某省质量月活动启动\n本报讯 9月1日,某省质量月活动启动。",
            "relevant": True,
            "province": None,
            "category": "campaign_event",
            "event": "e1",
        },
        {
            "id": "b",
            "language": "en",
            "noise": None,
            "text": "Province opens 2025 Quality Month\nThe 2025 Quality Month opened on May 3.",
            "relevant": True,
            "province": None,
            "category": "campaign_event",
            "event": "e1",
        },
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    assert main(["eval", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "worst of 5 arrival orders" in out
    assert "by language:" in out and "zh-Hans" in out and "en " in out
    assert "by kind of noise:" in out and "dateline" in out
    assert "a+b: story: expected merged, got apart" in out
    assert "apart (different years in the headlines" in out  # the evidence line
