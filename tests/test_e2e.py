"""End to end: `quality-monitor run --once` against the fixture site and the Bot API server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.normalize import normalize_text
from storage.store import Store
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite, load_articles

RELEVANT_STORIES = 6  # seven relevant articles; sc-opinions-zh and -en are one event


def write_config(
    tmp_path: Path, site: NewsSite, *, backlog: int = 50, extra: str = "", channel: str = ""
) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""\
version: 1
defaults: {{interval: 10m, timeout: 2s, backlog: {backlog}}}
sources:
  - id: site-rss
    name: 测试站 RSS
    kind: rss
    url: {site.url}/feed.xml
  - id: site-gbk
    name: 测试站 GBK 列表
    kind: html
    url: {site.url}/gbk/list.html
    list: {{item: "ul.news-list li", link: "a", date: "span.date"}}
    article: {{content: "div.article-content"}}
  - id: site-mislabelled
    name: 测试站 错标编码
    kind: html
    url: {site.url}/mislabelled/list.html
    list: {{item: "ul.news-list li", link: "a", date: "span.date"}}
    article: {{content: "div.article-content"}}
{extra}
channels:
  - id: main
    kind: telegram
    chat: "@quality_test"
    pace: 0s
{channel}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, botapi: BotApiServer, db_url: str) -> str:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    monkeypatch.setenv("TELEGRAM_API_URL", botapi.url)
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    return db_url


def run_once(config: Path) -> int:
    return main(["--config", str(config), "run", "--once"])


def test_first_run_posts_each_relevant_story_once_and_second_run_nothing(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, env: str
) -> None:
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    posts = botapi.sent
    assert len(posts) == RELEVANT_STORIES, [p["text"][:40] for p in posts]
    # Posts show titles in their normal form (simplified, glosses removed).
    expected = {normalize_text(a["title"]) for a in load_articles() if a["relevant"]}
    for post in posts:
        assert post["chat_id"] == "@quality_test"
        assert post["parse_mode"] == "HTML"
        assert '<a href="http://127.0.0.1' in post["html"]
    posted_titles = "\n".join(p["text"] for p in posts)
    assert sum(title[:12] in posted_titles for title in expected) >= RELEVANT_STORIES
    assert "网络安全" not in posted_titles and "水质" not in posted_titles
    assert all(p["text"].startswith("#") for p in posts)  # the hashtag line

    store = Store(env)
    counts = store.counts()
    assert counts["outbox_sent"] >= RELEVANT_STORIES
    assert counts.get("outbox_pending", 0) == 0
    store.close()

    newssite.reset_counters()
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES  # nothing new
    assert not any(path.startswith("/news/") for path in newssite.hits)  # no article refetched
    assert newssite.not_modified["/feed.xml"] == 1  # conditional GET answered 304


def test_a_new_article_is_posted_once(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, env: str
) -> None:
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    before = len(botapi.sent)
    newssite.publish(
        {
            "id": "hb-quality-award-zh",
            "title": "湖北省长江质量奖评审结果公布 12家企业获奖",
            "language": "zh-Hans",
            "published": "2025-11-20",
            "listed_in": ["rss"],
            "body": "11月20日，湖北省市场监管局在武汉公布第九届长江质量奖评审结果，12家企业获奖。"
            "\n\n长江质量奖是湖北省政府质量奖，推动质量强省建设，引导企业实施全面质量管理。",
        }
    )
    assert run_once(config) == 0
    assert run_once(config) == 0
    new = botapi.sent[before:]
    assert len(new) == 1
    assert "长江质量奖" in new[0]["text"] and "#湖北" in new[0]["text"]


def test_first_poll_of_a_new_source_reads_only_its_backlog(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, env: str
) -> None:
    import feedparser
    import httpx

    from monitor.normalize import canonical_url

    config = write_config(tmp_path, newssite, backlog=2)
    feed = feedparser.parse(httpx.get(f"{newssite.url}/feed.xml").content)
    # Newest first; undated entries count as oldest (as the pipeline orders them).
    listed = sorted(
        feed.entries, key=lambda e: tuple(e.get("published_parsed") or ()), reverse=True
    )
    assert run_once(config) == 0

    store = Store(env)
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from storage.schema import articles

        read = set(
            conn.execute(select(articles.c.canonical_url).where(articles.c.source_id == "site-rss"))
            .scalars()
            .all()
        )
    newest_two = {canonical_url(e.link) for e in listed[:2]}
    assert (
        read <= newest_two
    )  # only the two newest were followed (fewer if another source had them)
    assert not store.unseen("site-rss", [canonical_url(e.link) for e in listed])  # all seen
    store.close()
    assert len(newssite.hits) < 3 + 2 * 3 + 3  # lists + at most two articles per source

    before = len(botapi.sent)
    newssite.publish(
        {
            "id": "sd-quality-month",
            "title": "山东启动质量月活动",
            "language": "zh-Hans",
            "published": "2025-11-21",
            "listed_in": ["rss"],
            "body": "11月21日，山东省在济南启动质量月活动，推进质量强省建设，发布好品山东品牌。",
        }
    )
    assert run_once(config) == 0  # not a first poll any more: every new entry counts
    assert len(botapi.sent) == before + 1


@pytest.mark.slow
def test_broken_sources_are_reported_and_the_others_deliver(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = f"""\
  - id: broken-500
    name: always 500
    kind: rss
    url: {newssite.url}/fault/500
  - id: too-slow
    name: slow
    kind: rss
    url: {newssite.url}/fault/slow?delay=4
    timeout: 1s
  - id: garbage
    name: garbage
    kind: rss
    url: {newssite.url}/fault/garbage
"""
    config = write_config(tmp_path, newssite, extra=extra)
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES
    err = capsys.readouterr().err
    assert "source broken-500:" in err and "HTTP 500" in err
    assert "source too-slow:" in err and "timed out" in err
    assert "source garbage:" in err and "not a readable feed" in err
    store = Store(env)
    state = store.source_state("broken-500")
    assert state is not None and state.consecutive_failures == 1
    store.close()


def test_telegram_outage_loses_nothing(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import monitor.app

    monkeypatch.setattr(monitor.app, "ONCE_MAX_WAIT", 0.0)  # do not wait out the backoff
    botapi.fail_next(1000, status=502)
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    assert botapi.sent == []
    store = Store(env)
    assert _outbox(store) == {("post", "pending"): RELEVANT_STORIES, ("edit", "pending"): 1}
    store.close()

    botapi.reset_faults()
    monkeypatch.setattr("notifiers.deliver.MAX_BACKOFF", 0.0)
    _make_all_due(env)
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES
    store = Store(env)
    assert _outbox(store) == {("post", "sent"): RELEVANT_STORIES, ("edit", "sent"): 1}
    store.close()


def test_429_is_waited_out_and_posts_keep_their_order(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, env: str
) -> None:
    botapi.fail_next(1, status=429, retry_after=1, method="sendMessage")
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES
    store = Store(env)
    by_message = {}
    from sqlalchemy import select

    from storage.schema import outbox

    with store.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.id, outbox.c.message_id).where(outbox.c.kind == "post")
        ).all()
    by_message = {int(message_id): row_id for row_id, message_id in rows}
    store.close()
    # Telegram's message ids grow with time: the outbox order is the channel's order.
    assert [by_message[k] for k in sorted(by_message)] == sorted(by_message.values())


def test_permanent_refusal_marks_failed_and_does_not_block(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, env: str
) -> None:
    botapi.fail_next(
        1, status=400, description="Bad Request: message is too long", method="sendMessage"
    )
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES - 1
    store = Store(env)
    assert store.counts()["outbox_failed"] == 1
    store.close()


def test_without_a_token_alerts_go_to_the_console(
    tmp_path: Path,
    newssite: NewsSite,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    captured = capsys.readouterr()
    assert "channel main (telegram) is inactive" in captured.err
    assert captured.out.count("来源") >= RELEVANT_STORIES


def _make_all_due(db_url: str) -> None:
    from sqlalchemy import update

    from storage.schema import outbox

    store = Store(db_url)
    with store.engine.begin() as conn:
        conn.execute(update(outbox).values(next_attempt_at=outbox.c.created_at))
    store.close()


def _outbox(store: Store) -> dict[tuple[str, str], int]:
    from sqlalchemy import func, select

    from storage.schema import outbox

    with store.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.kind, outbox.c.status, func.count()).group_by(
                outbox.c.kind, outbox.c.status
            )
        ).all()
    return {(kind, status): n for kind, status, n in rows}


def test_story_command_explains_why_articles_were_grouped(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    store = Store(env)
    grouped = [s for s in store.recent_stories(50) if s.also]
    store.close()
    assert len(grouped) == 1  # the Sichuan press conference, in Chinese and English
    capsys.readouterr()
    assert main(["--config", str(config), "story", str(grouped[0].id)]) == 0
    out = capsys.readouterr().out
    assert ": lead" in out
    # each member's evidence: the rule, the similarity, the anchors shared
    assert re.search(r"(event|near_duplicate|document) \(\w+: similarity [\d.]+; shares ", out)
    assert main(["--config", str(config), "story", str(grouped[0].id), "--near"]) == 0
    near = capsys.readouterr().out.split("near:\n", 1)[1]
    # the closest other stories, and why each stayed apart
    assert re.search(r"- story \d+: .+: apart \(", near), near


@pytest.mark.parametrize(
    ("on_update", "posts", "edits"),
    [
        ("edit", RELEVANT_STORIES, 1),
        ("follow_up", RELEVANT_STORIES + 1, 0),
        ("none", RELEVANT_STORIES, 0),
    ],
)
def test_what_a_story_update_does_is_the_channels_choice(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    on_update: str,
    posts: int,
    edits: int,
) -> None:
    """The Chinese and English reports of one event: the second updates the story."""
    # Post the first report alone, so that the second arrives after the post.
    newssite.unpublish("sc-opinions-en")
    config = write_config(tmp_path, newssite, channel=f"    on_update: {on_update}")
    assert run_once(config) == 0
    newssite.publish(_english_report())
    assert run_once(config) == 0
    assert len(botapi.sent) == posts
    assert len(botapi.edits) == edits
    if on_update == "follow_up":
        assert "也见于" in botapi.sent[-1]["text"]


def _english_report() -> dict[str, object]:
    from tests.servers.newssite import load_articles

    [article] = [a for a in load_articles() if a["id"] == "sc-opinions-en"]
    return article


@pytest.mark.parametrize("mistake", ["token", "chat", "not_admin"])
def test_a_configuration_mistake_loses_no_alert(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mistake: str,
) -> None:
    """A wrong token (401), a misspelt chat (chat not found) or a bot that may not
    post: every alert waits, the channel is reported once, and after the fix
    the next run posts them all, in order, none twice."""
    import monitor.app

    monkeypatch.setattr(monitor.app, "ONCE_MAX_WAIT", 0.0)
    config = write_config(tmp_path, newssite)
    if mistake == "token":
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:WRONG-token")
    elif mistake == "chat":
        text = config.read_text(encoding="utf-8").replace("@quality_test", "@quality_tset")
        config.write_text(text, encoding="utf-8")
    else:
        botapi.set_bot_status("@quality_test", "left")
    assert run_once(config) == 0
    err = capsys.readouterr().err
    assert botapi.sent == []
    store = Store(env)
    assert _outbox(store) == {("post", "pending"): RELEVANT_STORIES, ("edit", "pending"): 1}
    held = store.held_channels()
    assert list(held) == ["main"] and held["main"][0] == RELEVANT_STORIES + 1
    store.close()
    assert err.count("cannot post:") == 1, err  # once, not once per alert
    # and said at start, before anything waited: the token, or the chat
    assert "the bot token does not work" in err or "cannot post to @quality_t" in err
    summary = [line for line in err.splitlines() if " delivered " in line]
    assert "channel main cannot take posts" in summary[-1]
    assert "WRONG-token" not in err

    # The fix: the right token, the right chat, the bot made an administrator again.
    if mistake == "token":
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", botapi.token)
    elif mistake == "chat":
        botapi.add_chat("@quality_tset")
    else:
        botapi.set_bot_status("@quality_test", "administrator")
    assert run_once(config) == 0
    posts = botapi.sent
    assert len(posts) == RELEVANT_STORIES
    assert len({p["text"] for p in posts}) == RELEVANT_STORIES  # none twice
    store = Store(env)
    assert store.held_channels() == {}
    from sqlalchemy import select

    from storage.schema import outbox

    with store.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.id, outbox.c.message_id)
            .where(outbox.c.kind == "post")
            .order_by(outbox.c.id)
        ).all()
    store.close()
    # in the order they were found: the outbox order is the order of message ids
    assert [int(message_id) for _, message_id in rows] == list(range(1, RELEVANT_STORIES + 1))


def test_a_first_post_is_not_followed_by_an_edit_with_the_same_text(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The English and Chinese reports of one event arrive in one poll: the post
    already lists both, so the edit armed meanwhile has nothing to change."""
    config = write_config(tmp_path, newssite)
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES
    assert "editMessageText" not in botapi.calls
    assert any("也见于" in p["text"] for p in botapi.sent)  # the joined report is in the post
    assert "edited 0" in capsys.readouterr().err
    store = Store(env)
    assert _outbox(store) == {("post", "sent"): RELEVANT_STORIES, ("edit", "sent"): 1}
    store.close()


def test_run_once_with_a_bot_section_does_not_say_the_token_is_missing(
    tmp_path: Path,
    newssite: NewsSite,
    botapi: BotApiServer,
    env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, newssite, extra="bot: {}")
    text = config.read_text(encoding="utf-8").replace("bot: {}\n", "")
    config.write_text(text + "bot: {}\n", encoding="utf-8")
    assert run_once(config) == 0
    assert len(botapi.sent) == RELEVANT_STORIES
    assert "TELEGRAM_BOT_TOKEN is not set" not in capsys.readouterr().err


def test_the_edit_switches_a_chinese_channel_to_the_chinese_report_when_it_arrives(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer, env: str
) -> None:
    """The English report comes first and is posted (nothing else yet); the
    Chinese report of the same event arrives: the Chinese channel's post is
    edited to head with it, the English channel's keeps the English lead."""
    [chinese] = [a for a in load_articles() if a["id"] == "sc-opinions-zh"]
    newssite.unpublish("sc-opinions-zh")
    botapi.add_chat("@english")
    english_channel = (
        '  - id: english\n    kind: telegram\n    chat: "@english"\n    pace: 0s\n    language: en'
    )
    config = write_config(tmp_path, newssite, channel=english_channel)
    assert run_once(config) == 0
    [first] = [p for p in botapi.sent if p["chat_id"] == "@quality_test" and "2035" in p["text"]]
    assert first["text"].split("\n")[1].startswith("Sichuan maps out plan")

    newssite.publish(chinese)
    assert run_once(config) == 0
    edits = {e["chat_id"]: e["text"] for e in botapi.edits}
    title = normalize_text(str(chinese["title"]))
    assert edits["@quality_test"].split("\n")[1] == title
    assert "9月11日，四川省人民政府新闻办公室" in edits["@quality_test"]  # its summary
    assert "也见于: 测试站 RSS (en)" in edits["@quality_test"]  # the English lead, listed
    assert "Sichuan maps out plan" not in edits["@quality_test"]
    assert edits["@english"].split("\n")[1].startswith("Sichuan maps out plan")
    assert "The Sichuan Provincial Party Committee" in edits["@english"]
    assert "也见于: 测试站" in edits["@english"]
