"""Story matching: near-duplicates through the LSH index, events across languages,
documents by number and title, and the index kept in step with storage."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from monitor.classify import Lexicon, classify
from monitor.dedup import (
    NUM_PERM,
    Concepts,
    Fingerprint,
    Rarity,
    StoryIndex,
    compare,
    decide,
    fingerprint,
    match_story,
    similarity,
    veto,
)
from monitor.normalize import normalize_article, text_hash
from storage.store import Store
from tests import articles

if TYPE_CHECKING:
    from monitor.model import Processed

DAY = datetime(2025, 9, 11, 2, 0, tzinfo=UTC)

PRESS_ZH = (
    "9月11日,四川省政府新闻办在成都举行新闻发布会,介绍《关于加快建设质量强省的实施意见》。"
    "《实施意见》提出实施产业基础质量提升工程,打造天府名品区域公共品牌,建设国际消费目的地,"
    "推动川粮油品质提升。省市场监管局负责人介绍,到2027年质量强省建设取得阶段性成效,"
    "到2035年质量竞争力进入全国前列。发布会上,有关部门负责人回答了记者提问。"
)
PRESS_EN = (
    "Chengdu, Sept. 11 -- The Information Office of the Sichuan Provincial Government held a press "
    "conference in Chengdu on the Implementation Opinions on Accelerating the Construction of a "
    "Province with Strong Quality. The opinions launch an industrial basic quality improvement "
    "project, build the Tianfu Famous Products brand and an international consumer destination, "
    "and upgrade Sichuan grain and oil. The Sichuan market supervision bureau said quality "
    "competitiveness would rank among the best in China by 2035."
)
AWARD_ZH = (
    "9月11日,四川省政府质量奖颁奖大会在成都举行,省长为获奖企业颁发四川省政府质量奖。"
    "本届共有10家企业获奖,获奖企业将发挥示范作用,推进质量强省建设。"
    "省市场监管局负责人表示,将持续做好政府质量奖评审工作。"
)


@pytest.fixture(scope="module")
def tools() -> tuple[Lexicon, Concepts]:
    return Lexicon.load(), Concepts.load()


def fp_of(text: str, tools: tuple[Lexicon, Concepts]) -> tuple[Fingerprint, str | None]:
    lexicon, concepts = tools
    normal = normalize_article("", text)
    verdict = classify(normal.title, normal.text, lexicon)
    fp = fingerprint(
        normal.title,
        normal.text,
        normal.language,
        text_hash(normal.text),
        concepts,
        doc_titles=verdict.facts.titles,
    )
    return fp, verdict.province


def group(texts: list[str], tools: tuple[Lexicon, Concepts], when: datetime = DAY) -> list[int]:
    """Story ids of the texts, grouped in order as the pipeline would."""
    index = StoryIndex()
    ids = []
    for text in texts:
        fp, province = fp_of(text, tools)
        match = match_story(fp, province, when, index.candidates(fp, province, when), tools[1])
        story_id = index.stories + 1 if match is None else match.story_id
        index.add(story_id, province, when, fp)
        ids.append(story_id)
    return ids


def test_the_same_event_in_chinese_and_english_is_one_story(
    tools: tuple[Lexicon, Concepts],
) -> None:
    assert group([PRESS_ZH, PRESS_EN], tools) == [1, 1]


def test_two_events_of_one_province_on_one_day_stay_apart(tools: tuple[Lexicon, Concepts]) -> None:
    assert group([PRESS_ZH, AWARD_ZH], tools) == [1, 2]


def test_a_repost_with_noise_is_a_near_duplicate(tools: tuple[Lexicon, Concepts]) -> None:
    repost = "转自四川省人民政府网站\n" + PRESS_ZH.replace("发布会上", "会上") + "\n责任编辑:王某"
    index = StoryIndex()
    fp, province = fp_of(PRESS_ZH, tools)
    index.add(1, province, DAY, fp)
    other, _ = fp_of(repost, tools)
    match = match_story(other, None, None, index.candidates(other, None, None), tools[1])
    assert match is not None and match.level == "near_duplicate" and match.score >= 0.5


def test_the_same_document_reported_by_two_outlets_is_one_story_even_weeks_apart(
    tools: tuple[Lexicon, Concepts],
) -> None:
    doc = "《关于进一步加强质量强国建设的实施意见》(国市监质发〔2024〕8号)"
    first = f"市场监管总局印发{doc},部署质量强国建设工作。"
    later = f"转载:总局近日印发{doc},提出五方面任务。"
    index = StoryIndex()
    fp1, _ = fp_of(first, tools)
    index.add(1, "CN", DAY, fp1)
    fp2, _ = fp_of(later, tools)
    when = DAY + timedelta(days=40)
    match = match_story(fp2, "CN", when, index.candidates(fp2, "CN", when), tools[1])
    assert match is not None and match.level == "document"
    assert "国市监质发〔2024〕8号" in match.reason


def test_a_province_studying_a_national_document_is_not_the_document_s_story(
    tools: tuple[Lexicon, Concepts],
) -> None:
    doc = "《关于进一步加强质量强国建设的实施意见》(国市监质发〔2024〕8号)"
    assert group(
        [
            f"市场监管总局印发{doc},部署质量强国建设工作。",
            f"近日,江苏省召开会议,学习贯彻{doc},推进落实。",
        ],
        tools,
    ) == [1, 2]


def random_signature(rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.getrandbits(32) for _ in range(NUM_PERM))


def test_lsh_finds_near_duplicates_across_buffer_merges() -> None:
    rng = random.Random(7)
    index = StoryIndex()
    kept: list[tuple[int, tuple[int, ...]]] = []
    # Past a merge into the large sorted arrays (8,192), with some in the latest
    # arrays and the last in the insertion buffer: each level is searched.
    for i in range(10_000):
        sig = random_signature(rng)
        index.add(i + 1, None, None, Fingerprint("h", sig, frozenset(), frozenset(), "zh-Hans"))
        if i % 1000 == 0 or i == 9_999:
            kept.append((i + 1, sig))
    for story_id, sig in kept:
        noisy = list(sig)
        for j in rng.sample(range(NUM_PERM), 20):  # 44 of 64 values kept: similarity ~0.69
            noisy[j] = rng.getrandbits(32)
        probe = Fingerprint("x", tuple(noisy), frozenset(), frozenset(), "zh-Hans")
        found = {c.story_id for c in index.candidates(probe, None, None)}
        assert story_id in found
        assert len(found) == 1  # random signatures share nothing with the probe
    assert similarity(kept[0][1], kept[0][1]) == 1.0
    assert index.nbytes() > 0 and len(index) == 10_000


def test_lsh_finds_an_article_whose_band_keys_are_the_largest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A band's largest key has no successor to search for (it wraps to 0)."""
    import numpy as np

    from monitor import dedup

    rng = random.Random(3)
    special = random_signature(rng)
    real_keys = dedup.band_keys

    def keys(signature: tuple[int, ...]) -> np.ndarray:
        if tuple(signature) == special:
            return np.full(dedup.BANDS, (1 << 32) - 1, dtype=np.uint32)
        return real_keys(signature)

    monkeypatch.setattr(dedup, "band_keys", keys)
    index = StoryIndex()
    index.add(1, None, None, Fingerprint("h", special, frozenset(), frozenset(), "zh-Hans"))
    for i in range(9_000):  # in the large sorted arrays, then
        sig = random_signature(rng)
        index.add(i + 2, None, None, Fingerprint("h", sig, frozenset(), frozenset(), "zh-Hans"))
    probe = Fingerprint("x", special, frozenset(), frozenset(), "zh-Hans")
    assert [c.story_id for c in index.candidates(probe)] == [1]


def test_the_index_keeps_each_story_s_province_date_and_articles_through_merges() -> None:
    """The story table is arrays and ids: what the candidates carry is what was added
    (the lead's province and date in UTC, another zone or none; the articles in order;
    document numbers only where an article reports some)."""
    rng = random.Random(11)
    beijing = timezone(timedelta(hours=8))
    sigs = [random_signature(rng) for _ in range(5)]

    def fp(n: int, numbers: frozenset[str] = frozenset()) -> Fingerprint:
        return Fingerprint(f"h{n}", sigs[n], frozenset({"判:CN-SC"}), numbers, "zh-Hans")

    index = StoryIndex()
    index.add(10, "CN-SC", DAY, fp(0))
    index.add(
        20, None, datetime(2025, 9, 11, 8, tzinfo=beijing), fp(1, frozenset({"川府发〔2025〕17号"}))
    )
    index.add(10, "CN-GD", DAY + timedelta(days=3), fp(2))  # the story keeps its lead's
    index.add(30, "CN-ZJ", None, fp(3))
    index.merge_stories(10, [30, 99])
    index.merge_stories(20, [20])  # itself: nothing to fold
    assert index.story_ids() == [10, 20]
    assert [f.text_hash for f, _ in index.articles_of(10)] == ["h0", "h2", "h3"]
    assert {p for _, p in index.articles_of(10)} == {"CN-SC"}
    assert index.dates_of(10) == [DAY.date(), (DAY + timedelta(days=3)).date(), None]
    [(doc, province)] = index.articles_of(20)
    assert doc == fp(1, frozenset({"川府发〔2025〕17号"})) and province is None
    by_story = {c.story_id: c for c in index.candidates(fp(3))}
    assert by_story[10].when == DAY and by_story[10].when.tzinfo is UTC
    assert by_story[10].province == "CN-SC"
    assert by_story[10].fingerprint == fp(0) and by_story[10].extra[-1] == fp(3)
    [found] = [c for c in index.candidates(fp(1)) if c.story_id == 20]
    assert found.when == datetime(2025, 9, 11, 8, tzinfo=beijing)
    assert found.fingerprint.doc_numbers == {"川府发〔2025〕17号"}
    index.add(40, None, None, fp(4))
    [none] = [c for c in index.candidates(fp(4)) if c.story_id == 40]
    assert none.when is None and none.fingerprint.doc_numbers == frozenset()


def test_pipeline_commit_keeps_two_processes_in_step(
    tools: tuple[Lexicon, Concepts], store: Store
) -> None:
    """Two processes on one database: what one stores, the other's index learns."""
    from monitor.config import RssSource
    from monitor.pipeline import commit, load_index

    source = RssSource(id="s", name="S", kind="rss", url="https://example.com/feed")

    def processed(text: str, url: str) -> Processed:
        return _processed(text, url, tools, with_province=False)

    from storage.store import Cached

    first_process, second_process = load_index(store, DAY - timedelta(days=1)), StoryIndex()
    nothing = Cached()
    commit(
        store,
        source,
        "https://example.com/feed",
        nothing,
        [],
        [processed(PRESS_ZH, "https://a.example/1")],
        [],
        DAY,
        1,
        first_process,
    )
    commit(
        store,
        source,
        "https://example.com/feed",
        nothing,
        [],
        [processed(PRESS_EN, "https://b.example/2")],
        [],
        DAY,
        1,
        second_process,
    )
    rows = store.story_articles(1)
    assert [r.match_level for r in rows] == [None, "event"]
    assert len(first_process) == 1 and len(second_process) == 2  # the second caught up


def test_an_article_bridging_two_posted_stories_merges_them_and_edits_the_post(
    tools: tuple[Lexicon, Concepts], store: Store
) -> None:
    """A report naming the document of one story and repeating the other story's text
    makes one story of the two: articles move, the merged story's unsent post is
    dropped, and the kept story's post is edited to list them."""
    from monitor.config import ChannelFilter, RssSource
    from monitor.pipeline import commit
    from storage.store import Cached

    source = RssSource(id="s", name="S", kind="rss", url="https://example.com/feed")
    launch = (
        "9月11日,四川省质量强省推进会在成都召开,会议部署质量提升行动,"
        "要求各市州加快建设质量强市,培育天府名品区域公共品牌。"
    )
    document = (
        "The Sichuan government issued Document No. 川府发〔2025〕17号, a plan on quality "
        "infrastructure for the next three years."
    )
    bridge = launch + "会上印发川府发〔2025〕17号文件。"

    def processed(text: str, url: str) -> Processed:
        return _processed(text, url, tools, source_province="CN-SC")

    index = StoryIndex()
    channels = [("main", ChannelFilter(relevant=False))]
    for n, text in enumerate([launch, document, bridge]):
        if n == 2:  # both stories' posts are queued; the first one has gone out
            posts = {r.story_id: r for r in store.claim_outbox("t", DAY, 10)}
            assert set(posts) == {1, 2}
            store.mark_sent(posts[1].id, "m1", DAY, "t")
        commit(
            store,
            source,
            "https://example.com/feed",
            Cached(),
            [],
            [processed(text, f"https://a.example/{n}")],
            channels,
            DAY,
            1,
            index,
        )
    kept = store.story_articles(1)
    assert [r.url for r in kept] == [f"https://a.example/{n}" for n in range(3)]
    assert store.story_articles(2) == []
    assert "document" in {r.match_level for r in kept} or "near_duplicate" in {
        r.match_level for r in kept
    }
    assert index.stories == 1
    due = {(r.story_id, r.kind) for r in store.claim_outbox("t", DAY, 10)}
    assert due == {(1, "edit")}  # story 2's post never goes out; story 1's is edited


def test_a_body_named_in_both_languages_bridges_them_but_not_two_chinese_reports(
    tools: tuple[Lexicon, Concepts],
) -> None:
    """Bodies and venues (the State Council, SAMR) are anchors between languages
    only: within one, the words already count them."""
    zh, _ = fp_of("国务院办公厅印发通知,市场监管总局负责解读。", tools)
    en, _ = fp_of("The State Council issued a notice; SAMR will explain it.", tools)
    assert {"译:state_council", "译:samr"} <= zh.concepts & en.concepts
    other_zh, _ = fp_of("据悉,该方案经国务院同意后由市场监管总局公布实施。", tools)
    rarity = Rarity()
    across = compare(zh, "CN", 1, en, "CN", rarity)
    within = compare(zh, "CN", 1, other_zh, "CN", rarity)
    assert "译:samr" in across.shared and "译:state_council" in across.shared
    assert not any(k.startswith("译:") for k in within.shared)
    office, _ = fp_of("The State Council Information Office held a press conference.", tools)
    assert "译:state_council" not in office.concepts  # another body


def test_reports_of_two_recurring_programmes_stay_apart_whatever_they_share(
    tools: tuple[Lexicon, Concepts],
) -> None:
    month = "9月1日,某市启动2031年质量月活动,参与企业50万家,市场监管局局长出席。"
    award = "9月1日,某市举行2031年质量之光评选颁奖,参与网民50万人,市场监管局局长出席。"
    a, pa = fp_of(month, tools)
    b, pb = fp_of(award, tools)
    assert "系:quality_month" in a.concepts and "系:quality_light" in b.concepts
    assert (veto(a, pa, b, pb) or "").startswith("different programmes")
    assert group([month, award], tools) == [1, 2]


def titled(
    title: str, body: str, tools: tuple[Lexicon, Concepts]
) -> tuple[Fingerprint, str | None]:
    lexicon, concepts = tools
    normal = normalize_article(title, body)
    verdict = classify(normal.title, normal.text, lexicon)
    fp = fingerprint(
        normal.title,
        normal.text,
        normal.language,
        text_hash(normal.text),
        concepts,
        doc_titles=verdict.facts.titles,
        province=verdict.province,
    )
    return fp, verdict.province


def test_one_headline_over_two_outlets_is_one_story_and_another_year_s_is_not(
    tools: tuple[Lexicon, Concepts],
) -> None:
    headline = "某某协会2031年度工作会议暨质量宣传活动启动仪式在京召开"
    one, p1 = titled(headline, "会议总结了去年的工作,部署了今年的重点任务。", tools)
    other, p2 = titled(headline, "與會代表交流了經驗,並啟動了系列宣傳活動。", tools)
    later, p3 = titled(headline.replace("2031", "2032"), "会议总结了去年的工作。", tools)
    index = StoryIndex()
    index.add(1, p1, DAY, one)
    decision = decide(other, p2, index.candidates(other), index.rarity)
    assert decision.story_id == 1 and decision.match is not None
    assert "标:" in decision.match.reason
    assert decide(later, p3, index.candidates(later), index.rarity).story_id is None


def test_a_year_s_programme_reports_with_no_date_find_each_other_by_their_quoted_theme(
    tools: tuple[Lexicon, Concepts],
) -> None:
    """Retrieval joins a year with its recurring programme: two reports of one
    year's Quality Month that name no date and no figure are still compared."""
    notice, p1 = titled(
        "关于开展2031年全国质量月活动的通知",
        "各部门定于2031年9月联合开展全国质量月活动,主题为“质量铸就品牌 标准引领未来”。",
        tools,
    )
    theme, p2 = titled(
        "2031年质量月活动主题",
        "今年全国质量月的主题是“质量铸就品牌 标准引领未来”,各地将组织形式多样的活动。",
        tools,
    )
    index = StoryIndex()
    index.add(1, p1, DAY, notice)
    assert [c.story_id for c in index.candidates(theme)] == [1]
    assert decide(theme, p2, index.candidates(theme), index.rarity).story_id == 1


def test_one_edition_in_one_city_is_one_event_whatever_the_headlines_call_it(
    tools: tuple[Lexicon, Concepts],
) -> None:
    forum, p1 = titled(
        "The 11th Quality Forum opens in Chengdu",
        "Delegates met in Chengdu for the 11th Quality Forum, which also launched the year's "
        "Quality Month of the China Association for Quality.",
        tools,
    )
    month, p2 = titled(
        "全国质协系统质量月活动在成都启动",
        "中国质量协会质量月启动仪式暨第十一届质量论坛开幕式在成都举行。",
        tools,
    )
    assert not veto(forum, p1, month, p2)
    other, p3 = titled(
        "全国质协系统质量月活动在成都启动",
        "中国质量协会质量月启动仪式暨第十二届质量论坛开幕式在成都举行。",
        tools,
    )
    assert (veto(forum, p1, other, p3) or "").startswith("different editions")
    press, p4 = titled(
        "省政府新闻办在成都举行新闻发布会",
        "发布会介绍了第十一届质量论坛的筹备情况,论坛下月在成都开幕。",
        tools,
    )
    assert "press" in (veto(forum, p1, press, p4) or "")  # it announces the edition


def _processed(
    text: str,
    url: str,
    tools: tuple[Lexicon, Concepts],
    *,
    source_province: str | None = None,
    with_province: bool = True,
) -> Processed:
    return articles.processed(
        text,
        url,
        tools,
        published=DAY,
        source_province=source_province,
        with_province=with_province,
    )


def test_a_restarted_index_dates_each_article_by_its_own_date(
    tools: tuple[Lexicon, Concepts], store: Store
) -> None:
    """The date rules compare articles' dates: after a restart the index must hold
    each article's own date, as the running process gave it, not its story's."""
    import dataclasses

    from monitor.config import RssSource
    from monitor.pipeline import commit, load_index
    from storage.store import Cached

    source = RssSource(id="s", name="S", kind="rss", url="https://example.com/feed")
    first = _processed(PRESS_ZH, "https://a.example/1", tools, with_province=False)
    later = _processed(PRESS_EN, "https://b.example/2", tools, with_province=False)
    later = dataclasses.replace(
        later, article=dataclasses.replace(later.article, published=DAY + timedelta(days=2))
    )
    running = StoryIndex()
    for p in (first, later):
        commit(
            store,
            source,
            "https://example.com/feed",
            Cached(),
            [],
            [p],
            [],
            DAY,
            1,
            running,
        )
    assert [r.match_level for r in store.story_articles(1)] == [None, "event"]

    def dates(index: StoryIndex) -> list[object]:
        (candidate,) = index.candidates(later.fingerprint)
        return sorted(d for d in candidate.dates if d is not None)

    restarted = load_index(store, DAY - timedelta(days=1))
    assert dates(restarted) == dates(running) == [DAY.date(), (DAY + timedelta(days=2)).date()]


def test_numpy_is_imported_only_when_the_index_first_holds_an_article() -> None:
    """An empty index (nothing stored, nothing new) does without numpy's import."""
    script = """
import sys
import monitor.app
from monitor.dedup import NUM_PERM, Fingerprint, StoryIndex
index = StoryIndex()
probe = Fingerprint("h", (1,) * NUM_PERM, frozenset({"判:CN"}), frozenset(), "zh-Hans")
assert index.candidates(probe) == [] and index.nbytes() == 0
assert "numpy" not in sys.modules, "imported before any article"
index.add(1, None, None, probe)
assert [c.story_id for c in index.candidates(probe)] == [1]
assert "numpy" in sys.modules
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
