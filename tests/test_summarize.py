"""Summaries: lead sentences, in the article's language, within the limits."""

from __future__ import annotations

from monitor.normalize import normalize_article
from monitor.summarize import summarize

ZH = (
    "华西都市报(记者 王某 实习生 李某)9月11日,省政府新闻办在成都举行新闻发布会,介绍《实施意见》。"
    "《实施意见》共10部分33条内容。提出到2027年质量强省建设取得阶段性成效。到2035年质量竞争力进入全国前列。"
)
EN = (
    "Chengdu, September 9 (Shan Peng) Recently, Sichuan issued the Implementation Opinions.\n"
    "Press conference site. Photo by Sichuan Daily\n"
    "The opinions set targets for 2027. They also build the Tianfu Famous Products brand. "
    "A fourth sentence is never needed."
)


def test_chinese_summary_drops_the_dateline_and_keeps_whole_sentences() -> None:
    summary = summarize("", ZH, "zh-Hans")
    assert summary.startswith("9月11日,省政府新闻办")
    assert "记者" not in summary
    assert len(summary) <= 220
    assert summary.endswith("。")
    assert summary.count("。") >= 2


def test_english_summary_skips_captions_and_stops_at_three_sentences() -> None:
    normal = normalize_article("", EN)
    summary = summarize("", normal.text, "en")
    assert summary.startswith("Recently, Sichuan issued")
    assert "Photo" not in summary and "fourth" not in summary
    assert len(summary) <= 450


def test_an_overlong_first_sentence_is_cut_at_a_clause_with_an_ellipsis() -> None:
    sentence = "省市场监管局" + ",推进质量强省建设" * 40 + "。"
    summary = summarize("", sentence, "zh-Hans")
    assert len(summary) <= 220
    assert summary.endswith("…")
    assert not summary.endswith(",…")


def test_title_is_not_repeated() -> None:
    assert summarize(
        "质量月启动", "质量月启动。\n全省质量月活动于9月1日在成都启动,为期一个月。", "zh-Hans"
    ) == ("全省质量月活动于9月1日在成都启动,为期一个月。")


def test_empty_text_gives_empty_summary() -> None:
    assert summarize("题目", "", "zh-Hans") == ""
