"""The channel and bot keys of sources.yaml: defaults, validation with lines, `check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import AppriseChannel, BotSettings, TelegramChannel, WebhookChannel
from monitor.errors import ConfigError
from tests.stories import config


def test_defaults() -> None:
    (channel,) = config('  - {id: main, kind: telegram, chat: "@x"}').channels
    assert isinstance(channel, TelegramChannel)
    assert (channel.mode, channel.schedule, channel.backlog_digest) == ("instant", "0 9 * * *", 30)
    assert (channel.filter.include, channel.filter.exclude) == ([], [])
    assert config("  - {id: a, kind: console}").bot is None
    bot = config("  - {id: a, kind: console}", extra="bot: {}").bot
    assert isinstance(bot, BotSettings)
    assert (bot.enabled, bot.mode, bot.page_size, bot.pace, bot.operators) == (
        True,
        "polling",
        5,
        1.0,
        [],
    )


def test_webhook_and_apprise_channels_read_secrets_from_the_environment() -> None:
    hook, ding = config(
        "  - {id: hook, kind: webhook, url: 'https://x.example/h', secret: '${S:-}', "
        "headers: {Authorization: 'Bearer ${T}'}, timeout: 5s}\n"
        "  - {id: ding, kind: apprise, url: '${DINGTALK_URL}', format: text}",
        env={"T": "tok", "DINGTALK_URL": "dingtalk://abc/"},
    ).channels
    assert isinstance(hook, WebhookChannel) and isinstance(ding, AppriseChannel)
    assert hook.secret is None  # an empty secret: unsigned
    assert hook.headers == {"Authorization": "Bearer tok"} and hook.timeout == 5.0
    assert ding.url.get_secret_value() == "dingtalk://abc/" and ding.format == "text"
    assert "dingtalk://abc/" not in repr(ding)  # a secret is never printed


def test_operators_as_a_list_or_one_string() -> None:
    bot = config(
        "  - {id: a, kind: console}",
        extra="bot: {operators: '${OPS}'}",
        env={"OPS": "123456789, @Some_Admin"},
    ).bot
    assert bot is not None and bot.operators == [123456789, "@some_admin"]
    bot = config("  - {id: a, kind: console}", extra="bot: {operators: [42, '7']}").bot
    assert bot is not None and bot.operators == [42, 7]


@pytest.mark.parametrize(
    ("channels", "extra", "expected"),
    [
        (
            "  - {id: a, kind: console, mode: digest, schedule: '0 9 * *'}",
            "",
            "test.yaml:3: channels[0].schedule: '0 9 * *' is not a cron schedule",
        ),
        (
            "  - {id: a, kind: console, schedule: '0 25 * * *'}",
            "",
            "channels[0].schedule: '0 25 * * *' is not a cron schedule",
        ),
        ("  - {id: a, kind: console, mode: weekly}", "", "channels[0].mode: Input should be"),
        ("  - {id: a, kind: console, backlog_digest: -1}", "", "channels[0].backlog_digest"),
        (
            "  - {id: a, kind: webhook, url: 'ftp://x/'}",
            "",
            "channels[0].url: 'ftp://x/': only http and https",
        ),
        ("  - {id: a, kind: apprise}", "", "channels[0]: missing required key 'url'"),
        ("  - {id: a, kind: sms}", "", "unknown kind 'sms' (known: telegram, console, webhook"),
        ("  - {id: a, kind: console}", "bot: {mode: webhook}", "bot: mode webhook needs"),
        ("  - {id: a, kind: console}", "bot: {operators: [name]}", "is not a Telegram user id"),
        ("  - {id: a, kind: console}", "bot: {page_size: 50}", "bot.page_size"),
    ],
)
def test_mistakes_are_reported_with_their_line(channels: str, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(channels, extra=extra)
    assert expected in str(caught.value)


def test_check_reports_apprise_urls_apprise_does_not_understand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "version: 1\nchannels:\n"
        "  - {id: good, kind: apprise, url: 'json://127.0.0.1/x'}\n"
        "  - {id: bad, kind: apprise, url: '${CHAT_URL}'}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CHAT_URL", "dingding://s3cr3tt0kenvalue/")
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "channels[1].url: Apprise does not understand the URL (scheme 'dingding')" in err
    assert "s3cr3t" not in err
    monkeypatch.setenv("CHAT_URL", "dingtalk://s3cr3tt0kenvalue/")
    assert main(["--config", str(path), "check"]) == 0


def test_filters_take_the_names_the_bot_takes() -> None:
    """`provinces: [四川]` and `categories: [政策文件]`, as /subscribe 四川 政策文件."""
    from notifiers.bot import parse_subscription

    loaded = config(
        "  - {id: a, kind: console, filter: "
        "{provinces: [四川, Guangdong, CN-ZJ, 廣東省], categories: [政策文件, 发布会, meeting]}}"
    )
    chosen = loaded.channels[0].filter
    assert chosen.provinces == ["CN-SC", "CN-GD", "CN-ZJ", "CN-GD"]
    assert chosen.categories == ["policy_document", "press_conference", "meeting"]
    wanted = parse_subscription(["四川", "政策文件"])
    assert wanted.provinces[0] in chosen.provinces and wanted.categories[0] in chosen.categories
    with pytest.raises(
        ConfigError, match=r"'火星' is neither a province code .* nor a province name"
    ):
        config("  - {id: a, kind: console, filter: {provinces: [火星]}}")


@pytest.mark.parametrize(
    ("bot", "expected"),
    [
        (
            "bot: {mode: webhook, webhook_url: 'https://b.example/u', listen: 0.0.0.0}",
            "test.yaml:4: bot: mode webhook needs secret",
        ),
        (
            "bot: {mode: webhook, webhook_url: 'https://b.example/u', secret: '${S:-}'}",
            "test.yaml:4: bot: mode webhook needs secret",
        ),
        (
            "bot: {mode: webhook, webhook_url: 'https://b.example/u', secret: 'a b'}",
            "bot: secret: 1 to 256 characters A-Z",
        ),
        (
            "bot: {mode: webhook, webhook_url: 'http://u:pw@b.example/u', secret: s}",
            "test.yaml:4: bot: webhook_url 'http://***@b.example/u': Telegram calls https",
        ),
    ],
)
def test_webhook_mode_needs_a_secret_and_https(bot: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config("  - {id: a, kind: console}", extra=bot)
    assert expected in str(caught.value)
    assert "pw@" not in str(caught.value)


def test_webhook_mode_over_loopback_http_with_a_secret_is_valid() -> None:
    bot = config(
        "  - {id: a, kind: console}",
        extra="bot: {mode: webhook, webhook_url: 'http://127.0.0.1:8081/u', secret: ab-1_Z}",
    ).bot
    assert bot is not None and bot.secret is not None


def test_check_warns_about_secrets_written_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        """\
version: 1
sources:
  - id: api
    name: API
    kind: json
    url: https://api.example.org/list?apikey=LiteralKey1&page=1
    method: POST
    form: {token: LiteralTok2, page: "1"}
    headers: {Authorization: Bearer LiteralBearer3, Referer: "https://example.org/"}
    fields: {items: data.list}
channels:
  - {id: hook, kind: webhook, url: 'https://hooks.example.org/in', secret: LiteralSecret4}
  - {id: ok, kind: webhook, url: 'https://hooks.example.org/in', secret: '${HOOK_SECRET:-}'}
  - {id: ding, kind: apprise, url: 'json://127.0.0.1/LiteralAppriseKey5'}
""",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "check"]) == 0  # valid: warned, not refused
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert [w.split(": ")[1:3] for w in warnings] == [
        [f"{path}:6", "sources[0].url"],
        [f"{path}:8", "sources[0].form.token"],
        [f"{path}:9", "sources[0].headers.Authorization"],
        [f"{path}:12", "channels[0].secret"],
        [f"{path}:14", "channels[2].url"],
    ]
    assert "${NAME}" in warnings[0]
    assert "Literal" not in captured.err + captured.out


def test_the_shipped_sources_yaml_has_no_secret_in_it() -> None:
    from monitor.config import config_warnings

    assert config_warnings(Path(__file__).parent.parent / "sources.yaml") == []
