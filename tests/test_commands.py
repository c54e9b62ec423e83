"""The bot's command words and button data (notifiers/commands.py), without a bot."""

from __future__ import annotations

import pytest

from notifiers.commands import (
    MAX_OFFSET,
    MAX_QUERY_BYTES,
    NOOP,
    LatestPage,
    Refused,
    Resend,
    SearchPage,
    Unsubscribe,
    parse_button,
    parse_channel,
    parse_latest,
    parse_resend,
    parse_search,
    parse_subscription,
)
from storage.chats import ALL_CHANNELS, ANY


def test_subscription_words_become_codes_in_the_order_written() -> None:
    wanted = parse_subscription(["四川，广东", "政策文件", "Zhejiang"])
    assert wanted.provinces == ("CN-SC", "CN-GD", "CN-ZJ")
    assert wanted.categories == ("policy_document",)
    assert not wanted.everything and wanted.unknown == ()
    assert wanted.pairs() == [
        ("CN-SC", "policy_document"),
        ("CN-GD", "policy_document"),
        ("CN-ZJ", "policy_document"),
    ]


def test_subscription_separators_repeats_and_unknown_words() -> None:
    wanted = parse_subscription(["四川、四川;；CN-SC", "发布会,,", "火星", "meeting"])
    assert wanted.provinces == ("CN-SC",)  # one, however often it is named
    assert wanted.categories == ("press_conference", "meeting")
    assert wanted.unknown == ("火星",)


def test_a_subscription_without_a_province_or_category_means_any() -> None:
    only_category = parse_subscription(["政策文件"])
    assert only_category.provinces == (ANY,) and only_category.pairs() == [(ANY, "policy_document")]
    only_province = parse_subscription(["廣東"])
    assert only_province.categories == (ANY,) and only_province.provinces == ("CN-GD",)
    assert parse_subscription([]).pairs() == [(ANY, ANY)]
    for word in ("all", "ALL", "*", "全部", "所有"):
        assert parse_subscription([word]).everything, word
    assert not parse_subscription(["四川"]).everything


def test_latest_takes_no_word_or_one_province() -> None:
    assert parse_latest([]) is None
    assert parse_latest(["四川"]) == "CN-SC"
    assert parse_latest(["CN-GD"]) == "CN-GD"
    assert parse_latest(["Sichuan"]) == "CN-SC"
    with pytest.raises(Refused) as refused:
        parse_latest(["火星", "基地"])
    assert refused.value.reason == "unknown" and refused.value.words == "火星 基地"


def test_search_joins_its_words_and_is_bounded_in_bytes() -> None:
    assert parse_search(["质量月"]) == "质量月"
    assert parse_search(["quality", "month "]) == "quality month"
    for empty in ([], [""], ["  "]):
        with pytest.raises(Refused) as refused:
            parse_search(empty)
        assert refused.value.reason == "usage"
    fits = "质" * (MAX_QUERY_BYTES // 3)  # three bytes a character in UTF-8
    assert parse_search([fits]) == fits
    with pytest.raises(Refused) as refused:
        parse_search([fits + "a"])
    assert refused.value.reason == "too long"


def test_pause_names_a_known_channel_or_all() -> None:
    known = {"main", "ops"}
    assert parse_channel([], known) == ALL_CHANNELS
    assert parse_channel(["all"], known) == ALL_CHANNELS
    assert parse_channel(["*"], known) == ALL_CHANNELS
    assert parse_channel(["ops", "extra"], known) == "ops"
    with pytest.raises(Refused) as refused:
        parse_channel(["Main"], known)  # ids are exact
    assert refused.value.reason == "unknown" and refused.value.words == "Main"


def test_resend_takes_a_story_number_and_channels() -> None:
    assert parse_resend(["42"]) == Resend(42, ())
    resend = parse_resend(["7", "main", "nowhere"])
    assert resend == Resend(7, ("main", "nowhere"))
    assert resend.unknown({"main", "ops"}) == ["nowhere"]
    assert parse_resend(["9" * 18]).story_id == 10**18 - 1
    # not a number: ASCII digits only (int() would take "٣" and fail on "²")
    for words in ([], ["x"], ["-1"], ["4.2"], ["9" * 19], ["²"], ["٣"], [" 4"]):
        with pytest.raises(Refused) as refused:
            parse_resend(words)
        assert refused.value.reason == "usage", words


@pytest.mark.parametrize(
    "button",
    [
        LatestPage(None),
        LatestPage("CN-SC", 10),
        LatestPage(None, MAX_OFFSET),
        SearchPage("质量月", 5),
        SearchPage("a|b", 0),  # a term may hold the separator
        Unsubscribe("CN-SC", "policy_document"),
        Unsubscribe(ANY, ANY),
        Unsubscribe(None, None),
    ],
)
def test_a_button_reads_back_as_it_was_written(
    button: LatestPage | SearchPage | Unsubscribe,
) -> None:
    assert parse_button(button.data) == button
    assert len(button.data.encode()) <= 64  # Telegram's limit for callback data


def test_buttons_the_bot_does_not_act_on_are_none() -> None:
    for data in (NOOP, "", "x|1", "l", "unknown"):
        assert parse_button(data) is None, data


@pytest.mark.parametrize(
    "data",
    [
        "l|",
        "l|-",
        "l|-|",
        "l|-|-5",
        "l|-|+5",
        "l|-|５",  # a full-width digit
        "l|-|" + "9" * 30,
        f"l|-|{MAX_OFFSET + 1}",
        "l|-|1|2",
        "s|",
        "s|质量",
        "s|质量|" + "9" * 40,
        "u|",
        "u|CN-SC",
        "u|a|b|c",
    ],
)
def test_made_up_button_data_is_refused(data: str) -> None:
    with pytest.raises(Refused):
        parse_button(data)
