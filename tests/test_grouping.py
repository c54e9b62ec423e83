"""Story grouping rules, each on short texts: what joins two reports of one event,
what keeps two events apart, and the same stories whatever the arrival order."""

from __future__ import annotations

import itertools
import random

import pytest

from monitor.classify import Lexicon, classify
from monitor.dedup import (
    Candidate,
    Concepts,
    Fingerprint,
    Rarity,
    StoryIndex,
    compare,
    decide,
    fingerprint,
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
