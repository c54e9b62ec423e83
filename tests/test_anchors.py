"""Event anchors: each kind found in simplified, traditional and English text, keyed alike."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.anchors import anchors, chinese_number, pinyin_name, provinces_named
from monitor.normalize import normalize_article


def keys(text: str, title: str = "") -> frozenset[str]:
    normal = normalize_article(title, text)
    return anchors(normal.title, normal.text, normal.language).keys


def of(prefix: str, found: frozenset[str]) -> set[str]:
    return {k for k in found if k.startswith(prefix)}


def test_dates_in_chinese_traditional_and_english_share_one_key() -> None:
    zh = keys("9月10日,某市召开质量大会。")
    hant = keys("9月10日,某市召開質量大會。")
    en = keys("The city held its quality conference on September 10.")
    en_short = keys("On 10 Sept. the city held its quality conference.")
    assert of("日:", zh) == of("日:", hant) == of("日:", en) == of("日:", en_short) == {"日:09-10"}
    assert of("日:", keys("十二月一日,评选揭晓。")) == {"日:12-01"}


def test_edition_ordinals_survive_translation_but_a_first_task_is_none() -> None:
    assert of("序:", keys("第八届省长质量奖揭晓。")) == {"序:8"}
    assert of("序:", keys("十二届人大五次会议期间举行记者会。")) == {"序:12"}
    assert of("序:", keys("首届质量大会开幕。")) == {"序:1"}
    assert of("序:", keys("The 8th Governor's Quality Award was announced.")) == {"序:8"}
    assert of("序:", keys("The eighth Governor's Quality Award was announced.")) == {"序:8"}
    assert of("序:", keys("The first task is to raise quality.")) == set()


def test_numbers_keep_their_value_across_units_and_languages() -> None:
    zh = keys("全省25万家企业参与,合格率85.5%,共发布标准2521条。")
    en = keys("Some 250,000 firms took part; the pass rate was 85.5%; 2521 standards were issued.")
    assert {"数:250000", "数:85.5", "数:2521"} <= of("数:", zh) & of("数:", en)
    assert "数:2.5" not in keys("PM2.5浓度下降。")  # part of a name, not a figure
    assert of("数:", keys("2023年9月10日发布")) == set()  # years and dates are not numbers


def test_a_document_named_is_the_subject_a_document_cited_is_not() -> None:
    found = keys("依据《质量强国建设纲要》,省政府印发《某省质量强省实施方案》(某政发〔2024〕3号)。")
    assert "文件:某省质量强省实施方案" in found
    assert "文号:某政发〔2024〕3号" in found
    assert "引:质量强国建设纲要" in found and "文件:质量强国建设纲要" not in found
    # bracket styles of one number are one key
    assert "文号:某政发〔2024〕3号" in keys("某政发[2024]3号文件印发。")


def test_places_below_the_province_in_either_language_and_the_provinces_they_name() -> None:
    zh, en = keys("大会在成都举行。"), keys("The conference was held in Chengdu.")
    assert "地:成都" in zh and "地:成都" in en
    assert provinces_named(zh) == {"CN-SC"}


def test_a_chinese_name_and_its_pinyin_are_one_person() -> None:
    assert pinyin_name("黄强") == "huang qiang"
    assert pinyin_name("张国清") == "zhang guoqing"
    zh = keys("省长黄强出席会议并讲话。")
    en = keys("Governor Huang Qiang attended the meeting.")
    assert "人:huang qiang" in zh and "人:huang qiang" in en


def test_headline_years_months_scope_kind_and_preview() -> None:
    found = keys("正文。", title="2024年全国质量月活动启动")
    assert "题:2024" in found and "范:national" in found and "型:month" in found
    assert "题:2017" not in keys("批复。", title="国务院关于设立某日的批复(国函〔2017〕5号)")
    assert "月:2023-01" in keys("正文。", title="2023年1月全国空气质量状况")
    assert "范:local" in keys("正文。", title="成都市启动质量月活动")
    assert "态:preview" in keys("正文。", title="第六届质量大会将于9月在南京举办")
    assert "态:preview" not in keys("正文。", title="第六届质量大会在南京举办")


def test_content_words_are_segmented_and_chinese_numbers_read() -> None:
    found = keys("四川省天府质量奖名单公布")
    assert "词:名单" in found and "词:公布" in found
    english = keys("The ministry announces awards.") & keys("The ministry announced the award.")
    assert {"词:ministry", "词:announc", "词:award"} <= english
    assert chinese_number("三十九") == 39 and chinese_number("二〇〇七") == 2007


@settings(max_examples=300, deadline=None)
@given(
    title=st.text(max_size=80),
    text=st.text(
        alphabet=st.sampled_from("第届月日号年〔〕《》()0123456789٣²一二十百首.,% abcMay"),
        max_size=300,
    )
    | st.text(max_size=300),
)
def test_any_text_gives_anchors_without_an_error(title: str, text: str) -> None:
    normal = normalize_article(title, text)
    assert isinstance(anchors(normal.title, normal.text, normal.language).keys, frozenset)
    assert isinstance(anchors(title, text, "zh-Hans").keys, frozenset)


def test_a_quoted_theme_is_one_key_in_either_script_but_a_short_quoted_name_is_none() -> None:
    zh = keys("今年活动主题为“提升产品品质 守护美好生活”,各地同步开展。")
    hant = keys("今年活動主題爲「提升產品品質 守護美好生活」,各地同步開展。")
    assert of("语:", zh) == of("语:", hant) == {"语:提升产品品质守护美好生活"}
    assert of("语:", keys("全省开展“质量月”活动,推广“某某精品”品牌。")) == set()


def test_a_plan_s_period_is_one_key_in_chinese_and_english() -> None:
    zh = keys("多部门印发《某某服务质量提升方案(2031—2034年)》。")
    en = keys("Ministries issued the 2031-2034 plan on better service quality.")
    assert of("期:", zh) == of("期:", en) == {"期:2031-2034"}
    assert of("年:", en) == set()  # the plan's years, not the event's
    assert of("期:", keys("2031-2032年度考核结果公布")) == set()  # a season, not a plan
    assert of("期:", keys("2034年至2031年")) == set()  # not a period: backwards


def test_months_to_date_and_a_programme_s_year_in_the_headline() -> None:
    assert "累:1-11" in keys("正文。", title="2024年11月和1—11月全国某指标情况")
    assert not of("累:", keys("正文。", title="2024年11月全国某指标情况"))
    normal = normalize_article("2024 Quality Month opens", "The month opened on September 1.")
    found = anchors(normal.title, normal.text, normal.language, series=["quality_month"]).keys
    assert "年届:quality_month#2024" in found
    assert not of("年届:", keys("The month opened in 2024.", title="Quality Month opens"))
