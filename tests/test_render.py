"""notifiers.render: safe Telegram HTML within Telegram's length, checked by the test server."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor.model import Alert, Mention, Story
from notifiers.console import ConsoleNotifier
from notifiers.render import (
    province_label_zh,
    render_plain,
    render_telegram,
    shorten,
    telegram_length,
    utf16_units,
)
from tests.servers.botapi import BotApiServer, parse_html


@pytest.fixture(scope="module")
def botapi() -> Iterator[BotApiServer]:
    with BotApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def post(http: httpx.Client, server: BotApiServer, text: str) -> dict[str, Any]:
    """Send as PTB would; return Telegram's answer."""
    response = http.post(
        f"{server.url}/bot{server.token}/sendMessage",
        data={
            "chat_id": "@quality_test",
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": json.dumps({"is_disabled": True}),
        },
    )
    return response.json()


def story(**changes: Any) -> Story:
    fields: dict[str, Any] = {
        "id": 1,
        "title": "四川省召开质量强省建设新闻发布会",
        "url": "https://www.sc.gov.cn/10462/c105962/2024/5/1/abc.shtml",
        "summary": "5月1日，四川省政府新闻办举行新闻发布会。会议介绍了质量强省建设进展。",
        "province": "CN-SC",
        "category": "press_conference",
        "language": "zh-Hans",
        "source_name": "四川省人民政府",
        "published": datetime(2024, 5, 1, 2, 30, tzinfo=UTC),
    }
    fields.update(changes)
    return Story(**fields)


def test_layout(botapi: BotApiServer, client: httpx.Client) -> None:
    html = render_telegram(story())
    assert html.splitlines() == [
        "#四川 #新闻发布会",
        '<b><a href="https://www.sc.gov.cn/10462/c105962/2024/5/1/abc.shtml">'
        "四川省召开质量强省建设新闻发布会</a></b>",
        "",
        "5月1日，四川省政府新闻办举行新闻发布会。会议介绍了质量强省建设进展。",
        "",
        "来源: 四川省人民政府 · 2024-05-01",
    ]
    answer = post(client, botapi, html)
    assert answer["ok"], answer
    links = [e for e in answer["result"]["entities"] if e["type"] == "text_link"]
    assert [link["url"] for link in links] == [story().url]


def test_hashtags_are_valid_telegram_hashtags() -> None:
    html = render_telegram(story(province="CN", category="award_brand"))
    assert html.splitlines()[0] == "#全国 #质量奖与品牌"
    html = render_telegram(story(province=None, category="statistics_report"))
    assert html.splitlines()[0] == "#统计报告"
    # A label with spaces or punctuation still makes one hashtag.
    html = render_telegram(story(), province_label=lambda code: "Sichuan Prov. (西部)")
    assert html.splitlines()[0] == "#Sichuan_Prov_西部 #新闻发布会"
    # An unknown category is shown as it is called.
    assert render_telegram(story(category="new-kind")).splitlines()[0] == "#四川 #new_kind"


def test_province_table_covers_china() -> None:
    from monitor.lexicon import load_provinces

    labels = {p.code: province_label_zh(p.code) for p in load_provinces()}
    assert len(labels) == 34 and all(labels.values())  # from the lexicon, one table
    assert province_label_zh("CN") == "全国" and labels["CN-NM"] == "内蒙古"
    assert province_label_zh("cn-gd") == "广东"
    assert province_label_zh("CN-ZJ") == "浙江"
    assert province_label_zh(None) is None
    assert province_label_zh("CN-XX") is None


def test_markup_in_fields_is_escaped_and_accepted(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    nasty = story(
        title='<b>质量</b> & "品牌" <script>alert(1)</script> 😀 &amp; &lt; it\'s',
        summary="a < b && c > d; <div>块</div> &nbsp; 👍🏽👨‍👩‍👧 &#60;",
        source_name="<i>来源</i> & Co",
        url='https://example.cn/a?x=1&y="2"&z=<3>',
        also=(Mention('<a href="x">B&B</a>', "https://b.cn/?q=1&r=2", "en"),),
    )
    html = render_telegram(nasty)
    answer = post(client, botapi, html)
    assert answer["ok"], answer
    text = answer["result"]["text"]
    # What Telegram shows is exactly what the site wrote.
    assert nasty.title in text
    assert nasty.summary in text
    assert "来源: <i>来源</i> & Co" in text
    assert '也见于: <a href="x">B&B</a> (en)' in text
    links = {e["url"] for e in answer["result"]["entities"] if e["type"] == "text_link"}
    assert links == {nasty.url, "https://b.cn/?q=1&r=2"}
    assert telegram_length(html) == utf16_units(text)


def test_non_http_urls_are_not_linked(botapi: BotApiServer, client: httpx.Client) -> None:
    for url in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "/relative", ""):
        html = render_telegram(story(url=url, also=(Mention("乙", url, "zh-Hans"),)))
        assert "<a " not in html
        assert "href" not in html
        answer = post(client, botapi, html)
        assert answer["ok"], answer
        assert not any(e["type"] == "text_link" for e in answer["result"].get("entities", []))


def test_also_reported_line(botapi: BotApiServer, client: httpx.Client) -> None:
    html = render_telegram(
        story(
            also=(
                Mention("新华网", "http://www.news.cn/a.htm", "zh-Hans"),
                Mention("China Daily", "https://chinadaily.com.cn/b", "en"),
            )
        )
    )
    assert html.splitlines()[-1] == (
        '也见于: <a href="http://www.news.cn/a.htm">新华网</a>, '
        '<a href="https://chinadaily.com.cn/b">China Daily</a> (en)'
    )
    assert post(client, botapi, html)["ok"]


def test_the_date_is_china_time_and_an_undated_article_shows_none() -> None:
    # 17:00 UTC on 30 April is already 1 May in Beijing.
    late = datetime(2024, 4, 30, 17, 0, tzinfo=UTC)
    assert render_telegram(story(published=late)).endswith("· 2024-05-01")
    # found today, published who knows when: not shown as today's news
    html = render_telegram(story(published=None, first_seen=datetime(2024, 6, 2, 8)))
    assert html.endswith("来源: 四川省人民政府")
    assert render_telegram(story(published=None)).endswith("来源: 四川省人民政府")


def test_long_summary_is_cut_at_a_sentence(botapi: BotApiServer, client: httpx.Client) -> None:
    sentence = "质量强省建设取得新进展，全省产品质量合格率持续提升。"  # 26 characters
    summary = (sentence * 800)[:20000]
    assert len(summary) == 20000
    html = render_telegram(story(summary=summary))
    assert telegram_length(html) <= 4096
    shown = html.split("\n\n")[1]
    assert shown.endswith("。…")
    assert summary.startswith(shown[:-1])
    assert len(shown) > 3000  # the cut keeps what fits, not a stub
    answer = post(client, botapi, html)
    assert answer["ok"], answer
    assert utf16_units(answer["result"]["text"]) <= 4096


def test_emoji_summary_is_cut_without_splitting_pairs(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    summary = "😀" * 5000 + "。"  # no sentence end within reach: a hard cut
    html = render_telegram(story(summary=summary))
    assert telegram_length(html) <= 4096
    text, _ = parse_html(html)
    assert "\ufffd" not in text
    assert post(client, botapi, html)["ok"]


def test_long_title_is_cut_when_the_summary_is_not_enough(
    botapi: BotApiServer, client: httpx.Client
) -> None:
    title = "关于印发《质量强省建设纲要》的通知。" * 400
    html = render_telegram(story(title=title, summary="摘要。" * 100))
    assert telegram_length(html) <= 4096
    assert "摘要" not in html  # the summary went first
    assert "。…</a></b>" in html
    assert post(client, botapi, html)["ok"]


def test_many_mentions_are_dropped_last(botapi: BotApiServer, client: httpx.Client) -> None:
    also = tuple(Mention(f"媒体{n}", f"https://m{n}.cn/a", "zh-Hans") for n in range(1000))
    html = render_telegram(story(also=also))
    assert telegram_length(html) <= 4096
    assert html.endswith(", …")
    assert "媒体0<" in html
    assert post(client, botapi, html)["ok"]


def test_markup_never_counts_towards_the_limit() -> None:
    # "&" is five characters of markup and one shown: a summary of 4000 "&"
    # fits although its HTML is 20,000 characters long.
    html = render_telegram(story(summary="&" * 4000))
    assert "&" * 10 not in html
    assert "&amp;" * 4000 in html
    assert telegram_length(html) <= 4096


@pytest.mark.parametrize("limit", [1, 5, 30, 100, 300])
def test_any_limit_is_respected(limit: int) -> None:
    also = (Mention("新华网", "http://www.news.cn/a.htm", "zh-Hans"),)
    html = render_telegram(story(summary="长" * 1000, also=also), max_units=limit)
    assert telegram_length(html) <= limit
    parse_html(html)  # still valid markup


def test_shorten() -> None:
    assert shorten("短。", 10) == "短。"
    assert shorten("第一句。第二句很长很长很长。", 10) == "第一句。…"
    assert shorten("Version 3.5 is out. More text follows here", 25) == "Version 3.5 is out.…"
    assert shorten("他说：“好。”然后走了很远很远很远", 9) == "他说：“好。”…"
    assert shorten("abcdef", 1) == "…"
    assert utf16_units(shorten("😀" * 10, 6)) <= 6


def test_telegram_length() -> None:
    assert telegram_length('<b><a href="https://x.cn/?a=1&amp;b=2">链接</a></b>') == 2
    assert telegram_length("&lt;&gt;&amp;&quot;&#x27;&#39;") == 6
    assert telegram_length("😀") == 2


def test_render_plain() -> None:
    text = render_plain(
        story(title="<b>标题</b> & 1", also=(Mention("China Daily", "https://cd.cn/x", "en"),))
    )
    assert text.splitlines() == [
        "#四川 #新闻发布会",
        "<b>标题</b> & 1",
        story().url,
        "",
        story().summary,
        "",
        "来源: 四川省人民政府 · 2024-05-01",
        "也见于:",
        "  - China Daily (en) https://cd.cn/x",
    ]


async def test_console_notifier_prints_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    also = (Mention("China Daily", "https://cd.cn/x", "en"),)
    buffer = io.StringIO()
    console = ConsoleNotifier(stream=buffer)
    alert = Alert(outbox_id=5, channel_id="console", story=story(also=also))
    assert await console.send(alert) == "console-5"
    assert buffer.getvalue() == render_plain(alert.story) + "\n" + "-" * 60 + "\n"

    # Without a stream, sys.stdout is looked up at each call (capsys swaps it).
    default = ConsoleNotifier()
    await default.edit(Alert(5, "console", story(also=also), message_id="console-5"))
    out = capsys.readouterr().out
    assert out.startswith("updated: console-5 四川省召开质量强省建设新闻发布会\n也见于:\n")
    assert "  - China Daily (en) https://cd.cn/x" in out
    await default.aclose()


def test_in_language_picks_the_best_report_and_lists_the_lead() -> None:
    from notifiers.render import in_language

    english = Mention("Daily", "https://en.example.cn/a", "en", title="Quality plan", score=3.0)
    traditional = Mention("日報", "https://tw.example.cn/a", "zh-Hant", title="質量", score=8.0)
    lead = story(language="en", title="Lead in English", summary="English.", also=())
    # no report in the channel's language: the story as it is
    assert in_language(lead, "zh-Hans") == lead
    # the lead in the channel's language (Chinese counts for zh-Hans): as it is
    zh_lead = story(language="zh-Hant", also=(english,))
    assert in_language(zh_lead, "zh-Hans") == zh_lead
    # otherwise the best report in it heads the story, the lead joins the others
    mixed = story(language="en", title="Lead in English", score=5.0, also=(traditional,))
    switched = in_language(mixed, "zh-Hans")
    assert (switched.title, switched.url, switched.language) == (
        "質量",
        "https://tw.example.cn/a",
        "zh-Hant",
    )
    assert [m.url for m in switched.also] == [mixed.url]
    assert switched.also[0].title == "Lead in English" and switched.also[0].language == "en"
    assert in_language(switched, "en").title == "Lead in English"  # and back
