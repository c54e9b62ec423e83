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


def test_sentences_with_key_figures_and_the_document_number_are_preferred() -> None:
    from monitor.model import DocumentFacts

    text = (
        "9月1日,省政府印发《质量强省建设实施方案》。"
        "会议强调要提高认识、加强领导、狠抓落实、务求实效。"
        "方案共8部分30条,提出到2027年培育100个质量标杆。"
        "方案编号为川府发〔2024〕5号。"
    )
    facts = DocumentFacts(numbers=("川府发〔2024〕5号",), titles=("质量强省建设实施方案",))
    summary = summarize("", text, "zh-Hans", facts=facts)
    assert summary.startswith("9月1日,省政府印发")  # the lead always opens
    assert "8部分30条" in summary and "川府发〔2024〕5号" in summary
    assert "狠抓落实" not in summary  # rhetoric loses to facts
    assert summary.index("8部分") < summary.index("川府发")  # the article's order


def test_headings_and_metadata_lines_are_not_sentences() -> None:
    text = (
        "The 4th Quality Conference\nRelease Date:2021-09-27\n"
        "The conference opened on Monday in Hangzhou."
    )
    assert summarize("", text, "en") == "The conference opened on Monday in Hangzhou."


def test_a_quotation_with_sentences_inside_stays_whole() -> None:
    text = (
        "9月1日,全省质量大会在成都召开。"
        "会议指出:“要坚持质量第一。所谓跨越发展,是质和量两方面同时跨越。”"
        "会议提出到2027年培育30个质量标杆,到2035年建成质量强省。"
    )
    summary = summarize("", normalize_article("", text).text, "zh-Hans")
    # No sentence of the summary starts inside the quotation or leaves it open.
    assert summary.count("“") == summary.count("”") == 1
    assert "“要坚持质量第一。所谓跨越发展，是质和量两方面同时跨越。”" in summary
    assert "2027年" in summary


def test_sentences_keep_quotations_whole_and_fall_back_when_marks_do_not_pair() -> None:
    from monitor.summarize import sentences

    text = "他说:“好。很好。”会议结束。「是。」"
    assert sentences(text, "zh-Hans") == ["他说:“好。很好。”", "会议结束。", "「是。」"]
    assert sentences("他说:“好。很好。会议结束。", "zh-Hans") == [
        "他说:“好。",
        "很好。",
        "会议结束。",
    ]


def test_a_headline_made_from_the_text_ends_on_a_whole_unit() -> None:
    from monitor.summarize import headline

    assert headline("全省质量月活动启动。各地开展活动。", "zh-Hans") == "全省质量月活动启动。"
    long = "省市场监管局会同有关部门" + "，推进质量强省建设" * 10 + "。"
    made = headline(long, "zh-Hans")
    assert len(made) <= 60 and made.endswith("建设…")
    english = "The province " + "and the cities " * 10 + "held a quality conference. More."
    made = headline(english, "en")
    assert made.endswith("…") and len(made) <= 60
    assert english.startswith(made[:-1]) and english[len(made) - 1] == " "  # a whole word
