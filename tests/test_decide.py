"""The commit step's decision (monitor/decide.py), without a database: where an
article goes, given what is known of it, the candidate stories and the channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.classify import Lexicon
from monitor.config import ChannelFilter
from monitor.decide import JOIN, NEW, SAME_TEXT, SKIP, decide_article
from monitor.dedup import Candidate, Concepts, Rarity
from monitor.model import Known, Processed
from tests import articles

WHEN = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
# Short texts written for this test: one event, told twice with a line more,
# and another event with nothing in common.
FAIR = (
    "3月3日,某市市场监督管理局在会展中心举办计量惠民宣传活动,"
    "现场为市民免费检测血压计和电子秤共312台,发放宣传资料两千余份。"
)
FAIR_AGAIN = FAIR + "活动还设置了咨询台,解答群众关于计量器具的疑问。"
BRIDGE = (
    "The city's bridge over the river reopened to traffic on Tuesday after "
    "eighteen months of repairs to its steel deck and lighting."
)


@pytest.fixture(scope="module")
def tools() -> tuple[Lexicon, Concepts]:
    return Lexicon.load(), Concepts.load()


def processed(text: str, url: str, tools: tuple[Lexicon, Concepts]) -> Processed:
    return articles.processed(text, url, tools, published=WHEN)


def candidate(story_id: int, p: Processed) -> Candidate:
    return Candidate(story_id, p.verdict.province, WHEN, p.fingerprint)


EVERY = ChannelFilter(relevant=False)


def test_the_very_same_article_is_skipped(tools: tuple[Lexicon, Concepts]) -> None:
    p = processed(FAIR, "https://a.example/1", tools)
    same_url = Known(article_id=7, story_id=3, same_url=True)
    assert decide_article(p, "A", same_url, [], Rarity(), [("all", EVERY)]).action == SKIP
    storyless = Known(article_id=7, story_id=None, same_url=False)
    assert decide_article(p, "A", storyless, [], Rarity(), [("all", EVERY)]).action == SKIP


def test_the_same_text_under_another_url_joins_its_story_whatever_the_candidates(
    tools: tuple[Lexicon, Concepts],
) -> None:
    p = processed(FAIR, "https://b.example/2", tools)
    other = processed(FAIR_AGAIN, "https://c.example/3", tools)
    known = Known(article_id=7, story_id=3, same_url=False)
    intent = decide_article(p, "B", known, [candidate(1, other)], Rarity(), [("all", EVERY)])
    assert intent.action == JOIN and intent.story_id == 3 and intent.updates_posts
    assert intent.match is not None and intent.match.level == SAME_TEXT
    assert intent.match.reason == "same normalised text as article 7"
    assert intent.decision is None and intent.posts == () and intent.merged == ()


def test_an_article_matching_no_story_is_new_and_posted_where_the_filters_take_it(
    tools: tuple[Lexicon, Concepts],
) -> None:
    p = processed(FAIR, "https://a.example/1", tools)
    unrelated = processed(BRIDGE, "https://d.example/4", tools)
    channels = [
        ("all", EVERY),
        ("english", ChannelFilter(relevant=False, languages=["en"])),
        ("outlet", ChannelFilter(relevant=False, include=["Metro Daily"])),  # the outlet's name
        ("elsewhere", ChannelFilter(relevant=False, exclude=["Metro Daily"])),
    ]
    intent = decide_article(p, "Metro Daily", None, [candidate(1, unrelated)], Rarity(), channels)
    assert intent.action == NEW and intent.story_id is None and not intent.updates_posts
    assert intent.posts == ("all", "outlet")
    assert intent.decision is not None and intent.decision.match is None
    assert [c.story_id for c in intent.decision.comparisons] == [1]  # it was compared
    # The same article with no channel taking it: still a story, posted nowhere.
    nowhere = decide_article(p, "Metro Daily", None, [], Rarity(), channels[1:2])
    assert nowhere.action == NEW and nowhere.posts == ()


def test_an_article_matching_a_story_joins_it_and_is_posted_nowhere_new(
    tools: tuple[Lexicon, Concepts],
) -> None:
    p = processed(FAIR_AGAIN, "https://b.example/2", tools)
    lead = processed(FAIR, "https://a.example/1", tools)
    unrelated = processed(BRIDGE, "https://d.example/4", tools)
    intent = decide_article(
        p, "B", None, [candidate(5, lead), candidate(6, unrelated)], Rarity(), [("all", EVERY)]
    )
    assert intent.action == JOIN and intent.story_id == 5 and intent.updates_posts
    assert intent.decision is not None and intent.match is intent.decision.match
    assert intent.match is not None and intent.match.level == "near_duplicate"
    assert intent.posts == () and intent.merged == ()


def test_an_article_matching_two_stories_joins_the_oldest_and_merges_the_other(
    tools: tuple[Lexicon, Concepts],
) -> None:
    p = processed(FAIR_AGAIN, "https://c.example/3", tools)
    first = processed(FAIR, "https://a.example/1", tools)
    second = processed(FAIR + "现场气氛热烈。", "https://b.example/2", tools)
    intent = decide_article(
        p, "C", None, [candidate(9, second), candidate(4, first)], Rarity(), [("all", EVERY)]
    )
    assert intent.action == JOIN and intent.story_id == 4 and intent.merged == (9,)
    assert intent.decision is not None and intent.decision.merged == (9,)
    assert intent.posts == ()
