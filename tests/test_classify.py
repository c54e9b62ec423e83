"""Relevance, province and category, on short texts showing each trait."""

from __future__ import annotations

import pytest

from monitor.classify import Lexicon, classify
from monitor.normalize import normalize_article


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def judge(lexicon: Lexicon, title: str, body: str, **kw: str | None):
    normal = normalize_article(title, body)
    return classify(normal.title, normal.text, lexicon, **kw)


@pytest.mark.parametrize(
    ("title", "body", "province", "category"),
    [
        (
            "四川召开新闻发布会解读质量强省实施意见",
            "9月11日,省政府新闻办在成都举行新闻发布会,介绍《关于加快建设质量强省的实施意见》。"
            "到2027年质量强省建设取得阶段性成效,打造天府名品区域公共品牌。",
            "CN-SC",
            "press_conference",
        ),
        (
            "Guangdong holds provincial quality work conference",
            "On December 27 the governor presided over the Quality Work Conference of Guangdong "
            "Province and deployed the construction of a province with strong quality.",
            "CN-GD",
            "meeting",
        ),
        (
            "全省質(zhì)量月活動(dòng)啟動(dòng)",
            "9月10日,四川省2025年全省「質(zhì)量月」主題宣傳活動(dòng)在成都啟動(dòng),發(fā)布天府名品,推進(jìn)質(zhì)量強(qiáng)省建設(shè)。",
            "CN-SC",
            "campaign_event",
        ),
        (
            "浙江省政府质量奖颁奖",
            "杭州讯 浙江省政府质量奖颁奖大会举行,为获奖企业颁发质量奖,"
            "推进质量强省和品字标品牌建设,颁奖。",
            "CN-ZJ",
            "award_brand",
        ),
        (
            "China Quality Conference opens",
            "The China Quality Conference opened; the State Council and SAMR presented the China "
            "Quality Award to build a quality powerhouse.",
            "CN",
            "meeting",
        ),
    ],
)
def test_relevant_news_with_province_and_category(
    lexicon: Lexicon, title: str, body: str, province: str, category: str
) -> None:
    verdict = judge(lexicon, title, body)
    assert verdict.relevant, verdict.evidence
    assert verdict.province == province
    assert verdict.category == category


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "3月水环境质量月报",
            "全市地表水水质总体良好,空气质量优良天数比例为90%,环境质量持续改善。",
        ),
        (
            "食品安全监督抽检信息通告",
            "本次抽检食品120批次,不合格3批次,已责令召回,质量问题依法处理。",
        ),
        (
            "Schools improve education quality",
            "The city will raise education quality and teaching quality in schools.",
        ),
        (
            "旅游业实现高质量发展",
            "今年游客人数增长,旅游收入创新高,推动高质量发展,高质量发展成效明显。",
        ),
        ("网络安全宣传周开幕", "网络安全宣传周在泸州开幕,普及网络安全知识。"),
    ],
)
def test_look_alike_topics_are_not_relevant(lexicon: Lexicon, title: str, body: str) -> None:
    verdict = judge(lexicon, title, body)
    assert not verdict.relevant, verdict.evidence


def test_the_title_weighs_more_than_the_body(lexicon: Lexicon) -> None:
    body = "全省工作会议召开。会议提出推进质量强省建设。"
    in_title = judge(lexicon, "推进质量强省建设", body)
    in_body = judge(lexicon, "全省工作会议召开", body)
    assert in_title.score > in_body.score
    assert any(e.term == "质量强省" and e.where == "title" for e in in_title.evidence)


def test_the_source_hint_decides_when_the_text_names_no_province(lexicon: Lexicon) -> None:
    body = "我省召开质量工作会议,部署质量强省建设。"
    assert judge(lexicon, "", body).province is None
    assert judge(lexicon, "", body, source_province="CN-HB").province == "CN-HB"


def test_cities_in_english_and_chinese_name_their_province(lexicon: Lexicon) -> None:
    assert judge(lexicon, "", "Quality Month was launched in Hangzhou.").province == "CN-ZJ"
    assert judge(lexicon, "", "绵阳市启动质量月活动。").province == "CN-SC"


def test_a_national_event_held_in_a_province_stays_provincial_when_the_province_dominates(
    lexicon: Lexicon,
) -> None:
    body = (
        "Sichuan issued the Implementation Opinions on building a province with strong quality. "
        "Sichuan will build Tianfu Famous Products. Sichuan quality. "
        "The China Quality Conference was recently held in Chengdu."
    )
    assert judge(lexicon, "", body).province == "CN-SC"


# ── more traits, in all three languages ─────────────────────────────────────


@pytest.mark.parametrize(
    ("title", "body", "province"),
    [
        # English renderings seen in translations
        (
            "",
            "Zhejiang held a meeting on building a strong-quality province and the Zhejiang "
            "Made brand; Hangzhou will improve quality infrastructure.",
            "CN-ZJ",
        ),
        (
            "",
            "Hubei will build the province into a quality powerhouse, the governor said in "
            "Wuhan, and will improve quality infrastructure.",
            "CN-HB",
        ),
        # traditional Chinese from a mirror that also rewrites 质量 as 品质
        ("江蘇推進品質強省建設", "南京市召開會議,部署品質強省建設,推進品質強省工作。", "CN-JS"),
        # a city-level programme names its province through the city
        ("成都召开质量强市推进会", "会议部署质量强市建设,推进质量提升行动。", "CN-SC"),
    ],
)
def test_variants_of_the_policy_are_relevant(
    lexicon: Lexicon, title: str, body: str, province: str
) -> None:
    verdict = judge(lexicon, title, body)
    assert verdict.relevant, verdict.evidence
    assert verdict.province == province


@pytest.mark.parametrize(
    ("title", "body"),
    [
        # one passing mention in an article about something else
        (
            "全市一季度经济运行情况",
            "一季度全市地区生产总值增长5.2%,工业投资增长8%,消费市场稳定,"
            "全年将加快建设质量强国,推动经济持续向好。",
        ),
        (
            "Air quality improves in Chengdu",
            "Air quality in Chengdu improved this winter; the "
            "city had 300 days of good air quality.",
        ),
        ("產品質量監督抽查結果通告", "本次抽查產品150批次,不合格12批次,已依法處理,責令召回。"),
    ],
)
def test_passing_mentions_and_look_alikes_in_three_languages(
    lexicon: Lexicon, title: str, body: str
) -> None:
    assert not judge(lexicon, title, body).relevant


def test_policy_document_facts(lexicon: Lexicon) -> None:
    verdict = judge(
        lexicon,
        "关于印发《四川省质量强省建设实施方案》的通知",
        "四川省市场监督管理局、四川省发展改革委联合印发《四川省质量强省建设实施方案》"
        "(川市监发〔2024〕12号),9月1日起施行。",
    )
    facts = verdict.facts
    assert facts.numbers == ("川市监发〔2024〕12号",)
    assert facts.titles == ("四川省质量强省建设实施方案",)
    assert facts.kind == "实施方案"
    assert facts.issuers == ("四川省市场监督管理局", "四川省发展改革委")
    assert "9月1日" in facts.dates
    assert verdict.category == "policy_document"


def test_english_document_facts(lexicon: Lexicon) -> None:
    verdict = judge(
        lexicon,
        "",
        "The Sichuan Provincial Party Committee and the Sichuan Provincial Government issued the "
        "Implementation Opinions on Accelerating the Construction of a Province with Strong "
        "Quality on September 11.",
    )
    assert verdict.facts.issuers == (
        "Sichuan Provincial Party Committee",
        "Sichuan Provincial Government",
    )
    assert verdict.facts.titles[0].startswith("Implementation Opinions on Accelerating")
    assert verdict.facts.kind == "实施意见"


def test_the_lexicon_is_extended_from_configuration(lexicon: Lexicon) -> None:
    from monitor.config import LexiconExtension

    text = "山东省召开标准化强省推进会,部署标准化强省建设。"
    assert not judge(lexicon, "", text).relevant
    extended = lexicon.extend(
        LexiconExtension(strong=["标准化强省"], categories={"meeting": ["推进会"]})
    )
    verdict = judge(extended, "", text)
    assert verdict.relevant and verdict.category == "meeting"
    assert lexicon.extend(None) is lexicon


# ── the older names, the programmes of cities and districts, other wordings ──


@pytest.mark.parametrize(
    ("title", "body", "province"),
    [
        # the policy's older names, with a province's one-character abbreviation
        ("全省质量兴省工作会议召开", "湖南省政府召开会议,部署实施质量兴省战略。", "CN-HN"),
        ("质量强桂工作推进会召开", "会议总结了质量强桂工作,部署明年任务。", "CN-GX"),
        ("我市获评质量兴市先进城市", "绵阳市多年推进质量兴市,获评先进。", "CN-SC"),
        # a government quality award named after its place
        ("第三届江西质量奖揭晓", "5家企业获得江西质量奖,每家奖励50万元。", "CN-JX"),
        ("自治区主席质量奖评审启动", "宁夏回族自治区启动主席质量奖评审工作。", "CN-NX"),
        # English wordings other than the lexicon's first list
        (
            "Quality Superpower drive reaches Hunan",
            "Hunan pledged to support the national quality superpower strategy with new measures.",
            "CN-HN",
        ),
        (
            "Anhui holds quality-strong province meeting",
            "Anhui's leading group for building a quality-strong province met on Monday.",
            "CN-AH",
        ),
        (
            "Ningbo invigorates the city through quality",
            "Ningbo's plan to invigorate the city through quality sets 2027 targets.",
            "CN-ZJ",
        ),
        # a mirror's 品質 for 質量, in traditional script
        ("品質強省推進會召開", "福建省召開品質強省推進會,部署品質提升工作。", "CN-FJ"),
        (
            "Jiangxi to build a strong quality province",
            "Jiangxi set out steps for building a quality province by 2030.",
            "CN-JX",
        ),
        # a national conference named with its host city inside: national
        (
            "第八届中国质量(泉州)大会开幕",
            "大会由市场监管总局和福建省政府共同主办,发布中国质量奖获奖名单。",
            "CN",
        ),
        # a national index: national, whatever provinces it lists
        (
            "全国制造业质量竞争力指数公布",
            "质检总局公布指数:上海、江苏、广东、浙江位居前列,山东、福建次之。",
            "CN",
        ),
    ],
)
def test_older_names_places_and_wordings_are_relevant(
    lexicon: Lexicon, title: str, body: str, province: str
) -> None:
    verdict = judge(lexicon, title, body)
    assert verdict.relevant, verdict.evidence
    assert verdict.province == province, verdict.evidence


@pytest.mark.parametrize(
    ("title", "body"),
    [
        # 高质量发展大会: economic news, not a quality conference
        ("全省高质量发展大会召开", "会议部署产业集群、招商引资和高质量发展重点任务。"),
        # other 强省 programmes; the world's quality month is not China's
        ("制造强国战略解读", "专家解读制造强国、航天强国和交通强国战略,推动制造业发展。"),
        ("World Quality Month events", "ASQ members mark World Quality Month each November."),
        ("教育强省建设推进会召开", "会议部署教育强省、文化强省和科技强省建设。"),
        # a company's own 质量月
        ("公司举办质量月知识竞赛", "某电子公司质量部组织员工参加质量月知识竞赛,提升质量意识。"),
        # foreign and construction awards
        ("Deming Prize winners named", "Two firms received the Deming Prize for quality awards."),
        ("建设工程质量奖评选结果公示", "省建筑业协会公示优质工程名单,鲁班奖推荐项目10个。"),
        # the work the policy organises, alone in a title, heads company news too
        ("考上名牌大学的三个秘诀", "高考志愿填报指南,名牌大学录取分数线。"),
        (
            "公司荣获客户颁发的质量奖",
            "我公司获得某汽车厂年度优秀供应商质量奖,质量管理体系得到认可。",
        ),
        ("品牌建设助力企业出海", "某家电企业分享品牌建设经验,海外销售增长。"),
        ("Quality management course opens", "The university opened a quality management course."),
        # a term named only to say the text is not about it
        ("产业园区规划发布", "规划聚焦产业布局和招商,文中未涉及质量强市或质量工作部署。"),
    ],
)
def test_hard_negatives_are_not_relevant(lexicon: Lexicon, title: str, body: str) -> None:
    verdict = judge(lexicon, title, body)
    assert not verdict.relevant, verdict.evidence


def test_datelines_venues_and_institutions_do_not_name_the_province(lexicon: Lexicon) -> None:
    # a wire dateline from the capital, a national campaign: national
    verdict = judge(
        lexicon,
        "全国质量月活动启动",
        "新华社北京9月1日电 市场监管总局当天宣布全国质量月活动启动,推进质量强国建设。",
    )
    assert verdict.province == "CN", verdict.evidence
    # a university named after a city is not news of that city
    verdict = judge(
        lexicon,
        "四川召开质量强省专家座谈会",
        "北京大学和清华大学的专家在成都参加座谈,为四川质量强省建设建言。",
    )
    assert verdict.province == "CN-SC", verdict.evidence


def test_a_relevant_story_naming_no_place_is_national(lexicon: Lexicon) -> None:
    verdict = judge(lexicon, "质量强国建设纲要实施情况", "各地各部门推进质量强国建设,成效明显。")
    assert verdict.relevant and verdict.province == "CN"


def test_a_backtracking_lexicon_term_is_cut_off(
    lexicon: Lexicon, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``re:`` term from sources.yaml that backtracks for ever on one article
    is given up after the filters' time limit: the article is still judged,
    in well under a second, and the pattern is named once in the log."""
    import logging
    import time

    from monitor.config import LexiconExtension

    extended = lexicon.extend(LexiconExtension(strong=["re:(x+x+)+y", "re:质量强(省|市)"]))
    caplog.set_level(logging.WARNING)
    started = time.perf_counter()
    for _ in range(2):
        verdict = judge(extended, "四川召开质量强省推进会", "推进会 " + "x" * 5000)
    assert time.perf_counter() - started < 2.0
    assert verdict.relevant and verdict.province == "CN-SC"
    assert caplog.text.count("lexicon term 're:(x+x+)+y' gave up after 50 ms") == 1


def test_term_sets_build_their_pattern_at_first_use_and_match_the_same() -> None:
    """Loading the lexicon builds no pattern (a ``run --once`` pass that finds
    nothing new never pays for one); the first match builds it, and ``sub``
    without a prior match works from the same source."""
    from monitor.classify import _LEXICON_DIR, TermSet, _load

    lexicon = _load.__wrapped__(_LEXICON_DIR)  # a fresh load, not the cached one
    assert lexicon.places._compiled is None and lexicon.places._pattern is None
    terms = TermSet(["四川", "四川省", "quality city", "re:质量[强兴]省"])
    assert terms.sub("四川省的 quality  city 和质量强省。") == " 的   和 。"
    assert terms._compiled is None
    counts = terms.counts("四川省的 quality  city 和质量强省,四川")
    assert counts == {"四川省": 1, "四川": 1, "quality city": 1, "质量[强兴]省": 1}
    more = terms.__add__(["city"])  # what Lexicon.extend does
    assert more.counts("city quality city") == {"city": 1, "quality city": 1}
    with pytest.raises(Exception, match="missing \\)"):
        TermSet(["re:(unclosed"])  # still refused at load
