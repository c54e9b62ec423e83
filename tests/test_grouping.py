"""Story grouping rules, each on short texts: what joins two reports of one event,
what keeps two events apart, and the same stories whatever the arrival order."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from monitor.classify import Lexicon, classify
from monitor.dedup import (
    PROXIMITY_WEIGHT,
    Candidate,
    Concepts,
    Fingerprint,
    Rarity,
    StoryIndex,
    compare,
    days_between,
    decide,
    fingerprint,
    veto,
)
from monitor.normalize import normalize_article, text_hash


@pytest.fixture(scope="module")
def tools() -> tuple[Lexicon, Concepts]:
    return Lexicon.load(), Concepts.load()


def fp_of(
    title: str, text: str, tools: tuple[Lexicon, Concepts], province: str | None = None
) -> tuple[Fingerprint, str | None]:
    lexicon, concepts = tools
    normal = normalize_article(title, text)
    verdict = classify(normal.title, normal.text, lexicon)
    province = province or verdict.province
    fp = fingerprint(
        normal.title,
        normal.text,
        normal.language,
        text_hash(normal.text),
        concepts,
        doc_titles=verdict.facts.titles,
        province=province,
    )
    return fp, province


def partition(
    docs: list[tuple[str, str, str | None]], tools: tuple[Lexicon, Concepts], order: list[int]
) -> set[frozenset[int]]:
    """The stories (sets of document numbers) when ``docs`` arrive in ``order``."""
    prints = [fp_of(t, x, tools, p) for t, x, p in docs]
    index = StoryIndex()
    story_of: dict[int, int] = {}
    created = itertools.count(1)
    for n in order:
        fp, province = prints[n]
        decision = decide(fp, province, index.candidates(fp), index.rarity)
        story_id = decision.story_id or next(created)
        if decision.merged:
            index.merge_stories(story_id, decision.merged)
            story_of = {k: story_id if v in decision.merged else v for k, v in story_of.items()}
        index.add(story_id, province, None, fp)
        story_of[n] = story_id
    stories: dict[int, set[int]] = {}
    for n, s in story_of.items():
        stories.setdefault(s, set()).add(n)
    return {frozenset(s) for s in stories.values()}


def together(a: tuple[str, str], b: tuple[str, str], tools: tuple[Lexicon, Concepts]) -> bool:
    fa, pa = fp_of(*a, tools)
    fb, pb = fp_of(*b, tools)
    return compare(fa, pa, 1, fb, pb, Rarity()).rule is not None


LAUNCH_HANS = (
    "2025年四川省质量月活动在成都启动",
    "9月2日,2025年四川省“质量月”活动启动仪式在成都举行,副省长出席并讲话。"
    "今年活动以“质量强省”为主题,全省21个市州共安排活动386项,省市场监管局牵头38个部门联合开展。",
)
LAUNCH_HANT = (
    "四川啟動2025年“質量月” 全省安排386項活動",
    "本報訊 9月2日上午,四川省2025年“質量月”啟動儀式在成都舉辦。省市場監管局會同38個部門,"
    "圍繞建設質量強省,在21個市州安排386項活動,副省長到會講話。",
)
LAUNCH_EN = (
    "Sichuan launches 2025 Quality Month in Chengdu",
    "Chengdu, Sept. 2 -- Sichuan opened its 2025 Quality Month on September 2 in Chengdu. "
    "The provincial market regulator and 38 departments plan 386 activities in 21 cities "
    "under the theme of building a strong quality province.",
)
LAUNCH_NEXT_YEAR = (
    "2026年四川省质量月活动在成都启动",
    "9月2日,2026年四川省“质量月”活动启动仪式在成都举行,副省长出席并讲话。"
    "今年活动以“质量强省”为主题,全省21个市州共安排活动412项,省市场监管局牵头40个部门联合开展。",
)


def test_two_outlets_in_simplified_and_traditional_script_are_one_story(
    tools: tuple[Lexicon, Concepts],
) -> None:
    assert together(LAUNCH_HANS, LAUNCH_HANT, tools)


def test_an_english_report_joins_its_chinese_original(tools: tuple[Lexicon, Concepts]) -> None:
    assert together(LAUNCH_HANS, LAUNCH_EN, tools)


def test_each_year_of_a_recurring_event_is_its_own_story(tools: tuple[Lexicon, Concepts]) -> None:
    fa, pa = fp_of(*LAUNCH_HANS, tools)
    fb, pb = fp_of(*LAUNCH_NEXT_YEAR, tools)
    found = compare(fa, pa, 1, fb, pb, Rarity())
    assert found.rule is None and "years in the headlines" in (found.veto or "")


def test_two_editions_of_an_award_stay_apart(tools: tuple[Lexicon, Concepts]) -> None:
    fifth = ("第五届省长质量奖揭晓", "12月27日,第五届省长质量奖名单公布,7家单位获奖。")
    sixth = ("第六届省长质量奖揭晓", "12月27日,第六届省长质量奖名单公布,7家单位获奖。")
    assert not together(fifth, sixth, tools)


def test_a_press_conference_announcing_a_conference_is_not_the_conference(
    tools: tuple[Lexicon, Concepts],
) -> None:
    preview = (
        "第三届质量大会将于9月在南京举办",
        "省政府新闻办召开发布会宣布,第三届质量大会将于9月16日在南京举办,约600人参会。",
    )
    held = (
        "第三届质量大会在南京举办",
        "9月16日,第三届质量大会在南京举办,约600名代表参会,会上发布南京质量倡议。",
    )
    assert not together(preview, held, tools)


def test_two_provinces_documents_from_one_template_stay_apart(
    tools: tuple[Lexicon, Concepts],
) -> None:
    text = (
        "{p}省人民政府印发《{p}省质量强省建设实施方案》,提出到2027年质量强省建设取得明显成效,"
        "产品质量监督抽查合格率稳定在95%以上,培育一批区域公共品牌。"
    )
    sichuan = ("四川省印发质量强省建设实施方案", text.format(p="四川"))
    hunan = ("湖南省印发质量强省建设实施方案", text.format(p="湖南"))
    fa, pa = fp_of(*sichuan, tools)
    fb, pb = fp_of(*hunan, tools)
    assert (pa, pb) == ("CN-SC", "CN-HN")
    found = compare(fa, pa, 1, fb, pb, Rarity())
    assert found.rule is None and "different provinces" in (found.veto or "")


def test_a_national_event_hosted_by_a_province_joins_either(
    tools: tuple[Lexicon, Concepts],
) -> None:
    national = (
        "中国质量(南京)大会开幕",
        "9月16日,中国质量(南京)大会在南京开幕,国务院领导出席,会上颁发第五届中国质量奖。",
    )
    local = (
        "中国质量(南京)大会在江苏南京举办",
        "9月16日至17日,中国质量(南京)大会在江苏南京举行,颁发第五届中国质量奖,发布南京质量倡议。",
    )
    fa, _ = fp_of(*national, tools)
    fb, _ = fp_of(*local, tools)
    assert compare(fa, "CN", 1, fb, "CN-JS", Rarity()).rule is not None


def test_a_story_never_holds_two_articles_that_cannot_be_one_event(
    tools: tuple[Lexicon, Concepts],
) -> None:
    """A report naming two years would link each year's index: it joins one, never both."""
    y2005 = (
        "2005年制造业质量竞争力指数公布",
        "2005年全国制造业质量竞争力指数为78.98,29个行业参与测算。",
    )
    y2006 = (
        "2006年制造业质量竞争力指数公布",
        "2006年全国制造业质量竞争力指数为79.98,29个行业参与测算。",
    )
    both = (
        "质量竞争力指数持续上升",
        "2006年指数为79.98,比2005年的78.98提高1.00,29个行业参与测算。",
    )
    docs = [(*y2005, None), (*y2006, None), (*both, None)]
    for order in itertools.permutations(range(3)):
        for story in partition(docs, tools, list(order)):
            assert not {0, 1} <= story, order


def test_an_article_matching_two_stories_merges_them(
    tools: tuple[Lexicon, Concepts],
) -> None:
    hans, _ = fp_of(*LAUNCH_HANS, tools)
    hant, _ = fp_of(*LAUNCH_HANT, tools)
    en, _ = fp_of(*LAUNCH_EN, tools)
    candidates = [Candidate(7, "CN-SC", None, hant), Candidate(3, "CN-SC", None, en)]
    decision = decide(hans, "CN-SC", candidates, Rarity())
    assert decision.intent == "merge"
    assert {decision.story_id, *decision.merged} == {3, 7}
    assert decision.match is not None and "shares" in decision.match.reason


def test_the_same_articles_in_any_order_make_the_same_stories(
    tools: tuple[Lexicon, Concepts],
) -> None:
    award = (
        "第二届天府质量奖颁奖",
        "1月9日,第二届天府质量奖颁奖大会在成都召开,10家组织获奖,省长黄强为获奖者颁奖。",
    )
    award_en = (
        "Sichuan presents the 2nd Tianfu Quality Award",
        "On January 9 Governor Huang Qiang presented the 2nd Tianfu Quality Award to 10 "
        "organisations at a ceremony in Chengdu.",
    )
    other = ("某县开展节前市场检查", "执法人员检查超市12家,督促经营者明码标价。")
    docs = [(*d, None) for d in (LAUNCH_HANS, LAUNCH_HANT, LAUNCH_EN, award, award_en, other)]
    expected = partition(docs, tools, list(range(len(docs))))
    assert frozenset({0, 1, 2}) in expected and frozenset({3, 4}) in expected
    rng = random.Random(5)
    for _ in range(8):
        order = list(range(len(docs)))
        rng.shuffle(order)
        assert partition(docs, tools, order) == expected, order


def test_rarity_learns_from_the_articles_and_leans_on_a_prior_when_young() -> None:
    rarity = Rarity()
    assert 0 < rarity.weight("日:09-10") < 1
    for n in range(500):
        rarity.learn({"词:质量", f"日:{n}"})
    assert rarity.weight("词:质量") < 0.1 < 0.8 < rarity.weight("日:7")


def test_a_comparison_explains_itself(tools: tuple[Lexicon, Concepts]) -> None:
    fa, pa = fp_of(*LAUNCH_HANS, tools)
    fb, pb = fp_of(*LAUNCH_NEXT_YEAR, tools)
    fc, pc = fp_of(*LAUNCH_HANT, tools)
    apart = compare(fa, pa, 1, fb, pb, Rarity()).explain()
    joined = compare(fa, pa, 1, fc, pc, Rarity()).explain()
    assert apart.startswith("apart (different years in the headlines")
    assert joined.startswith("event: similarity") and "日:09-02" in joined


# ── dates, editions and what only names the topic ────────────────────────────

MONTH_OPENS = (
    "省质量月活动在成都启动",
    "9月2日,四川省“质量月”活动启动仪式在成都举行,副省长出席并讲话。"
    "全省21个市州共安排活动386项,省市场监管局牵头38个部门联合开展。",
)
MONTH_OPENS_AGAIN = (
    "四川“质量月”启动 安排活动386项",
    "本报讯 9月2日,四川省“质量月”启动仪式在成都举行。全省21个市州安排活动386项,"
    "省市场监管局会同38个部门开展,副省长到会讲话。",
)


def test_a_recurring_programme_published_a_year_apart_is_two_editions(
    tools: tuple[Lexicon, Concepts],
) -> None:
    """Neither headline names the year: the publication dates tell the editions apart."""
    fa, pa = fp_of(*MONTH_OPENS, tools)
    fb, pb = fp_of(*MONTH_OPENS_AGAIN, tools)
    assert compare(fa, pa, 1, fb, pb, Rarity(), days_apart=1).rule == "event"
    assert compare(fa, pa, 1, fb, pb, Rarity()).rule == "event"  # dates unknown: no veto
    apart = compare(fa, pa, 1, fb, pb, Rarity(), days_apart=365)
    assert apart.rule is None and "365 days apart" in (apart.veto or "")
    assert days_between(date(2025, 9, 2), datetime(2026, 9, 2, 8, tzinfo=UTC)) == 365
    assert days_between(None, date(2025, 9, 2)) is None


def test_the_index_hands_each_article_s_date_to_the_decision(
    tools: tuple[Lexicon, Concepts],
) -> None:
    fa, pa = fp_of(*MONTH_OPENS, tools)
    fb, pb = fp_of(*MONTH_OPENS_AGAIN, tools)
    index = StoryIndex()
    index.add(1, pa, datetime(2025, 9, 2, tzinfo=UTC), fa)
    found = index.candidates(fb)
    assert [c.dates for c in found] == [(date(2025, 9, 2),)]
    assert index.dates_of(1) == [date(2025, 9, 2)]
    assert decide(fb, pb, found, index.rarity, date(2025, 9, 3)).story_id == 1
    later = decide(fb, pb, found, index.rarity, datetime(2026, 9, 3, tzinfo=UTC))
    assert later.story_id is None and "days apart" in (later.comparisons[0].veto or "")


def test_far_apart_only_a_recurring_item_is_vetoed() -> None:
    """Far apart with nothing recurring in common, the anchors decide; a named
    programme, an edition or the same day of the year in both is two editions."""
    a = _print({"年:2025", "地:某市", "词:开工"})
    b = _print({"年:2025", "地:某市", "词:竣工"})
    assert veto(a, None, b, None, days_apart=400) is None
    month = {"概:quality_month"}
    assert veto(replace(a, concepts=a.concepts | month), None, b, None, days_apart=400) is None
    for shared in (month, {"序:3"}, {"日:09-02"}):
        a2, b2 = (replace(x, concepts=x.concepts | shared) for x in (a, b))
        assert "400 days apart" in (veto(a2, None, b2, None, days_apart=400) or ""), shared
        assert veto(a2, None, b2, None, days_apart=30) is None, shared


def test_a_month_s_figures_are_not_the_year_s(tools: tuple[Lexicon, Concepts]) -> None:
    month = (
        "2025年3月全国产品质量抽查状况公布",
        "3月全国抽查产品1200批次,不合格发现率4.5%,较上月下降0.3个百分点。",
    )
    year = (
        "2025年全国产品质量抽查状况公布",
        "全年全国抽查产品15000批次,不合格发现率4.5%,较上年下降0.6个百分点。",
    )
    to_date = (
        "2025年12月和1—12月全国产品质量抽查状况",
        "12月抽查产品1300批次;全年抽查15000批次,不合格发现率4.5%,较上年下降0.6个百分点。",
    )
    fm, pm = fp_of(*month, tools)
    fy, py = fp_of(*year, tools)
    ft, pt = fp_of(*to_date, tools)
    apart = compare(fm, pm, 1, fy, py, Rarity())
    assert apart.rule is None and "a month's figures and the year's" in (apart.veto or "")
    assert "a month's figures" not in (compare(ft, pt, 1, fy, py, Rarity()).veto or "")


def test_reports_published_within_days_weigh_a_little_more(
    tools: tuple[Lexicon, Concepts],
) -> None:
    fa, pa = fp_of(*MONTH_OPENS, tools)
    fb, pb = fp_of(*MONTH_OPENS_AGAIN, tools)
    unknown = compare(fa, pa, 1, fb, pb, Rarity())
    close = compare(fa, pa, 1, fb, pb, Rarity(), days_apart=2)
    weeks = compare(fa, pa, 1, fb, pb, Rarity(), days_apart=20)
    assert close.score == pytest.approx(unknown.score + PROXIMITY_WEIGHT)
    assert weeks.score == unknown.score
    assert "近:2 days apart" in close.shared


_SIGNATURES = itertools.count()


def _print(keys: set[str], language: str = "zh-Hans") -> Fingerprint:
    """A fingerprint of these keys, whose text shares no shingle with any other's."""
    start = next(_SIGNATURES) * 64
    signature = tuple(range(start, start + 64))
    return Fingerprint(str(sorted(keys)), signature, frozenset(keys), frozenset(), language)


def test_a_topic_concept_counts_half_within_a_language_and_whole_between() -> None:
    """A concept the lexicon does not mark specific is the topic; in one language its
    words count already."""
    rarity = Rarity()
    topic = {"概:quality_country", "年:2025"}
    programme = {"概:quality_month", "年:2025"}
    year = compare(_print({"年:2025"}), None, 1, _print({"年:2025"}), None, rarity).score
    half = compare(_print(topic), None, 1, _print(topic), None, rarity).score - year
    whole = compare(_print(programme), None, 1, _print(programme), None, rarity).score - year
    assert half == pytest.approx(whole / 2, abs=0.002)
    between = compare(_print(topic), None, 1, _print(topic, "en"), None, rarity).score - year
    assert between == pytest.approx(whole, abs=0.002)


def test_between_languages_the_year_and_the_topic_alone_are_no_event() -> None:
    rarity = Rarity()
    for n in range(300):  # a store in which these keys are rare
        rarity.learn({f"词:{n}"})
    topic = {
        "年:2025",
        "概:quality_country",
        "概:quality_infrastructure",
        "概:quality_improvement_action",
        "译:state_council",
        "译:party_central_committee",
    }
    found = compare(_print(topic), None, 1, _print(topic, "en"), None, rarity)
    assert found.score >= found.threshold and found.rule is None
    assert "only years and topic" in found.explain()
    dated = compare(
        _print(topic | {"日:09-05"}), None, 1, _print(topic | {"日:09-05"}, "en"), None, rarity
    )
    assert dated.rule == "event"


def test_an_edition_of_a_programme_or_of_the_award_a_headline_names_is_shared(
    tools: tuple[Lexicon, Concepts],
) -> None:
    """The ordinal alone is common; with the programme it names one event."""
    zh = (
        "第四届中国质量奖颁奖",
        "9月16日,第四届中国质量奖颁奖仪式举行,9个组织和1名个人获奖。",
    )
    en = (
        "The 4th China Quality Award presented",
        "On September 16 the 4th China Quality Award went to 9 organisations and 1 person.",
    )
    fa, _ = fp_of(*zh, tools)
    fb, _ = fp_of(*en, tools)
    assert "届:china_quality_award#4" in fa.concepts & fb.concepts
    city = fp_of("第三届某市市长质量奖揭晓", "市政府表彰第三届市长质量奖获奖企业5家。", tools)[0]
    assert "届:award#3" in city.concepts
