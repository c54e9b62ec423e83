"""Normal forms: the seeds' traits, on texts written for these tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.normalize import (
    canonical_url,
    clean_mojibake,
    cut_trailing_matter,
    detect_language,
    normalize_article,
    normalize_text,
    strip_pinyin,
    text_hash,
)

# Traditional Chinese from a mirror site: glosses after polyphonic characters,
# characters lost to mis-decoding, a credit line, a reprint notice, comments.
MIRROR = (
    "為貫徹落實(shí)《質(zhì)量強(qiáng)國(guó)建設(shè)綱要》,9月10日,全省質(zhì)量月活動(dòng)在成都啟動(dòng)。"
    "活動(dòng)發(fā)布了質(zhì)量強(qiáng)企典型案例,提升經(jīng)濟(jì)質(zhì)量?jī)?yōu)勢(shì),推動(dòng)質(zhì)量?(jìn)步。\n"
    "各地將開展群眾性質(zhì)量活動(dòng),營(yíng)造濃厚的社會(huì)質(zhì)量氛圍,為建設(shè)質(zhì)量強(qiáng)省提供支撐。\n"
    "本報(bào)全媒體記者 張小明\n"
    "【未經(jīng)授權(quán),嚴(yán)禁轉(zhuǎn)載!】\n"
    "質(zhì)量就是生命。\n"
    "期待更多質(zhì)量提升措施落地。\n"
)


def test_pinyin_glosses_go_and_text_becomes_simplified() -> None:
    normal = normalize_article("全省質(zhì)量月活動(dòng)啟動(dòng)", MIRROR)
    assert normal.language == "zh-Hant"
    assert normal.title == "全省质量月活动启动"
    assert "落实《质量强国建设纲要》" in normal.text
    assert not any(ch in normal.text for ch in "()?")
    assert "shí" not in normal.text and "zhì" not in normal.text


def test_comments_and_notices_after_the_byline_are_cut() -> None:
    normal = normalize_article("", MIRROR)
    assert normal.text.endswith("提供支撑。")
    assert "生命" not in normal.text and "转载" not in normal.text


def test_a_second_article_glued_after_the_byline_is_cut() -> None:
    first = "9月11日,省政府新闻办举行新闻发布会,介绍质量强省建设的实施意见。" * 5
    glued = (
        f"{first}\n四川日报全媒体记者 刘某\n网络安全宣传周在泸州开幕\n"
        "华西都市报(记者 某某)9月11日上午,活动开幕。"
    )
    assert cut_trailing_matter(glued) == first


def test_a_bracketed_editor_credit_at_the_end_is_dropped() -> None:
    body = "市场监管部门开展产品质量抽查，合格率比上年提高。" * 3
    assert cut_trailing_matter(f"{body}【编辑:王某】") == body
    assert cut_trailing_matter(f"{body}\n（责任编辑：李某 ）") == body
    glued = f"{body}\n【责任编辑：李某】\n下一篇：另一条新闻的正文。"
    assert cut_trailing_matter(glued) == body
    assert cut_trailing_matter(f"【编辑:王某】{body}") == f"【编辑:王某】{body}"  # not at the end


def test_a_dateline_credit_at_the_start_is_kept() -> None:
    text = "本报记者 王某\n" + "质量强省建设取得阶段性成效。" * 10
    assert cut_trailing_matter(text) == text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("質量?jī)?yōu)勢", "質量勢"),  # a lost character and what is left of its gloss
        ("分領域?qū)嵤┵|(zhì)量", "分領域嵤量"),  # box-drawing debris of a mis-decoding
        ("失落??的字", "失落的字"),
        ("有何亮点?如何推动", "有何亮点?如何推动"),  # a real question mark stays
        ("What? Yes.", "What? Yes."),
    ],
)
def test_mojibake_is_cleaned_without_eating_text(raw: str, clean: str) -> None:
    assert clean_mojibake(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("落實(shí)", "落實"),
        ("質（zhì）量", "質量"),  # full-width parentheses
        ("綠(lǜ)色", "綠色"),  # ü with a tone mark
        ("行(hang)业", "行业"),  # an unmarked single syllable
        ("世界贸易组织(WTO)", "世界贸易组织(WTO)"),  # not pinyin
        ("公司(gongsi)", "公司(gongsi)"),  # two syllables: not a gloss
        ("Xi'an (Shaanxi)", "Xi'an (Shaanxi)"),
    ],
)
def test_strip_pinyin(raw: str, clean: str) -> None:
    assert strip_pinyin(raw) == clean


def test_fullwidth_digits_and_broken_lines() -> None:
    text = "到２０２７年,质量整体水平进一步提高,质量强省建设取得阶段性成效,设定了\n9个定量指标。"
    assert (
        normalize_text(text)
        == "到2027年，质量整体水平进一步提高，质量强省建设取得阶段性成效，设定了9个定量指标。"
    )


def test_headlines_are_not_joined_to_the_next_line() -> None:
    assert normalize_text("质量强省\n\n正文第一段。") == "质量强省\n正文第一段。"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The Quality Month was launched in Chengdu on September 10.", "en"),
        ("四川省启动2025年质量月活动,发布天府名品。", "zh-Hans"),
        ("四川省啟動2025年質量月活動,發布天府名品。", "zh-Hant"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_text_hash_ignores_punctuation_and_spacing() -> None:
    assert text_hash("质量强省,建设。") == text_hash("质量强省 建设!")
    assert text_hash("质量强省") != text_hash("质量强市")


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://WWW.SC.GOV.CN:80/news/index.html#top", "https://www.sc.gov.cn/news"),
        ("https://example.com/a/?utm_source=x&id=3&b=1", "https://example.com/a?b=1&id=3"),
        ("https://example.com//a//b/", "https://example.com/a/b"),
        ("http://example.com:8080/", "https://example.com:8080/"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_mobile_hosts_fold_only_where_configured() -> None:
    assert canonical_url("https://m.people.cn/n/1.html", mobile_hosts=("m", "wap")) == (
        "https://people.cn/n/1.html"
    )
    assert (
        canonical_url("https://wap.sc.gov.cn/a", mobile_hosts=("m", "wap")) == "https://sc.gov.cn/a"
    )
    assert canonical_url("https://m.people.cn/n/1.html") == "https://m.people.cn/n/1.html"
    assert canonical_url("https://m.cn/a", mobile_hosts=("m",)) == "https://m.cn/a"  # a bare domain


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("省委 、省政府印发《纲要》 ,同时部署", "省委、省政府印发《纲要》，同时部署"),
        ("“质量月”,全省 ;各地", "“质量月”，全省；各地"),
        ("共3,质量行动,9月10日", "共3，质量行动，9月10日"),
        ("（ 试行 ）", "（试行）"),
        (
            "共1,000家企业, 2,500 people in Chengdu, Sichuan",
            "共1,000家企业, 2,500 people in Chengdu, Sichuan",
        ),
        ("In 2025, 四川 (CN-SC)", "In 2025, 四川 (CN-SC)"),
        ("Quality Month, September; 3.5%", "Quality Month, September; 3.5%"),
    ],
)
def test_punctuation_in_chinese_text_is_tidied(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("深入推進(jìn)全民質(", "深入推进全民质"),
        ("深入推進(jìn)全民質(zh…", "深入推进全民质…"),
        ("全民質(zhì)量行動(dòng)(", "全民质量行动"),
        ("中国质量大会(China", "中国质量大会(China"),  # not a gloss
        ("质量(试行)", "质量(试行)"),
    ],
)
def test_a_gloss_cut_off_at_the_end_leaves_no_dangling_bracket(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean
    assert normalize_article(raw, "正文。" * 20).title == clean


_HOSTS = st.sampled_from(
    ["www.gov.cn", "m.scjgj.gov.cn", "A.Example.ORG", "xn--fiq.cn.", "10.0.0.1"]
)
_PORTS = st.sampled_from(["", ":80", ":443", ":8080", ":0", ":080", ":65535", ":65536", ":"])
_PATHS = st.text(alphabet="abcXYZ019._~-/%", max_size=30).map(lambda p: "/" + p if p else "")


@settings(max_examples=400, deadline=None)
@given(scheme=st.sampled_from(["http", "https", "HTTP"]), host=_HOSTS, port=_PORTS, path=_PATHS)
def test_a_plain_link_is_read_as_urllib_reads_it(
    scheme: str, host: str, port: str, path: str
) -> None:
    """Plain links take a shortcut past urlsplit; a trailing "?" (an empty query,
    which changes nothing) sends the same link the generic way: both agree."""
    url = f"{scheme}://{host}{port}{path}"
    if port == ":65536":  # no normal form but itself, either way
        assert canonical_url(url) == url
        return
    assert canonical_url(url, mobile_hosts=["m"]) == canonical_url(url + "?", mobile_hosts=["m"])
