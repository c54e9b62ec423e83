"""sources.yaml validation: every mistake reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import Settings, load_config, parse_config, parse_duration
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
version: 1
defaults: {interval: 15m, backlog: 2}
sources:
  - id: feed
    name: A feed
    kind: rss
    url: https://example.com/feed.xml
  - id: list
    name: 列表
    kind: html
    url: http://example.com/list.html
    province: CN-SC
    encoding: gbk
    list: {item: "ul.news li", link: "a", date: "span.date"}
channels:
  - id: main
    kind: telegram
    chat: ${CHAT:-@fallback}
    filter: {provinces: [CN-SC], categories: [meeting]}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, name="s.yaml", env=env or {})
    return [(p.line, p.field, p.message) for p in info.value.problems]


def test_a_valid_file_loads_with_defaults_applied() -> None:
    config = parse_config(GOOD, env={})
    feed, page = config.sources
    assert config.interval(feed) == 900
    assert config.backlog(page) == 2
    assert page.list.item == "ul.news li"
    assert config.channels[0].chat == "@fallback"


def test_environment_values_are_substituted() -> None:
    config = parse_config(GOOD, env={"CHAT": "-100123"})
    assert config.channels[0].chat == "-100123"


@pytest.mark.parametrize(
    ("written", "env", "expected"),
    [
        ("${CHAT:-@fallback}", {"CHAT": ""}, "@fallback"),  # set but empty: the default
        ("${CHAT:-${OTHER}}", {"OTHER": "@other"}, "@other"),  # a default may be a reference
        ("${CHAT:-${OTHER:-@last}}", {}, "@last"),
        ("${CHAT:-${OTHER}}", {"CHAT": "@set"}, "@set"),  # OTHER, unused, need not be set
        ("'@a$${CHAT}b'", {"CHAT": "x"}, "@a${CHAT}b"),  # $${ is a literal ${
        ("'@a$$b${'", {}, "@a$$b${"),  # other dollars stay as written
    ],
)
def test_environment_references_expand_as_a_shell_does(
    written: str, env: dict[str, str], expected: str
) -> None:
    config = parse_config(GOOD.replace("${CHAT:-@fallback}", written), env=env)
    assert config.channels[0].chat == expected


def test_a_reference_in_a_used_default_must_be_set() -> None:
    found = problems(GOOD.replace("${CHAT:-@fallback}", "${CHAT:-${OTHER}}"), {"CHAT": ""})
    assert (18, "channels[0].chat", "environment variable OTHER is not set") in found


@pytest.mark.parametrize(
    ("edit", "line", "field", "message"),
    [
        (
            ("    kind: rss\n", "    kind: rss\n    colour: blue\n"),
            7,
            "sources[0].colour",
            "unknown key",
        ),
        (
            ("https://example.com/feed.xml", "ftp://example.com/feed.xml"),
            7,
            "sources[0].url",
            "only http",
        ),
        (("id: list", "id: feed"), 8, "sources[1].id", "duplicate id 'feed' (first at line 4)"),
        (("interval: 15m", "interval: 2s"), 2, "defaults.interval", "at least 10s"),
        (("interval: 15m", "interval: soon"), 2, "defaults.interval", "not a duration"),
        (
            ('item: "ul.news li"', 'item: "ul >> li"'),
            14,
            "sources[1].list.item",
            "bad CSS selector",
        ),
        (("kind: rss", "kind: atom"), 6, "sources[0].kind", "unknown kind 'atom'"),
        (("province: CN-SC", "province: CN-XX"), 12, "sources[1].province", "not an ISO 3166-2:CN"),
        (("encoding: gbk", "encoding: klingon"), 13, "sources[1].encoding", "unknown encoding"),
        (("${CHAT:-@fallback}", "${CHAT}"), 18, "channels[0].chat", "CHAT is not set"),
        (
            ("categories: [meeting]", "categories: [party]"),
            19,
            "channels[0].filter.categories[0]",
            "",
        ),
    ],
)
def test_each_mistake_names_line_and_field(
    edit: tuple[str, str], line: int, field: str, message: str
) -> None:
    found = problems(GOOD.replace(*edit, 1))
    assert any(ln == line and f == field and message in m for ln, f, m in found), found


def test_every_mistake_is_listed_at_once() -> None:
    text = GOOD.replace("kind: rss", "kind: atom").replace("interval: 15m", "interval: 1s")
    text = text.replace('item: "ul.news li"', 'item: "::"')
    assert len(problems(text)) == 3


def test_html_source_without_list_selectors_is_valid() -> None:
    # The list is then found on the page (monitor/sources/detect.py).
    text = GOOD.replace('    list: {item: "ul.news li", link: "a", date: "span.date"}\n', "")
    assert text != GOOD
    [_feed, page] = parse_config(text, env={}).sources
    assert page.kind == "html" and page.list is None


def test_broken_yaml_names_its_line() -> None:
    [(line, _field, message)] = problems("version: 1\nsources:\n  - id: [unclosed\n")
    assert line is not None and "not valid YAML" in message


def test_duplicate_keys_are_mistakes() -> None:
    found = problems(GOOD.replace("    name: A feed\n", "    name: A feed\n    name: again\n"))
    assert any(f == "name" and "duplicate key" in m for _, f, m in found)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(ROOT / "no-such.yaml")


def test_durations() -> None:
    assert parse_duration("30m") == 1800
    assert parse_duration("1.5h") == 5400
    assert parse_duration(45) == 45
    with pytest.raises(ValueError, match="duration"):
        parse_duration("tomorrow")


def test_shipped_sources_yaml_is_valid() -> None:
    config = load_config(ROOT / "sources.yaml", env={})
    assert len(config.sources) >= 10
    assert {s.province for s in config.sources} >= {"CN", "CN-SC", "CN-GD", "CN-ZJ"}


def test_check_command_exits_2_and_lists_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text(GOOD.replace("kind: rss", "kind: atom").replace("15m", "1s"), encoding="utf-8")
    assert main(["--config", str(bad), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6: sources[0].kind: unknown kind 'atom'" in err
    assert f"{bad}:2: defaults.interval" in err


def test_settings_come_from_the_environment_and_hide_the_token() -> None:
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": "123:secret",
            "MONITOR_DB_URL": "sqlite:///x.db",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
        }
    )
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert "secret" not in repr(settings)
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123:secret"
    with pytest.raises(ConfigError, match="MONITOR_HTTP_PORT"):
        Settings.from_env({"MONITOR_HTTP_PORT": "eighty"})


def test_a_file_nested_too_deep_for_libyaml_is_refused_without_crashing() -> None:
    """libyaml's composer recurses on the C stack: 100,000 nested brackets would
    end the process (a segfault), not raise; the depth is counted first."""
    text = "x: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(ConfigError, match="nested more than 50 deep"):
        parse_config(text, env={})


def test_the_fast_path_reads_what_pyyaml_reads() -> None:
    """Composed once by libyaml and constructed from that tree: the same data as
    PyYAML's own loader (anchors, merge keys, quoting, dates, numbers), and an
    error line counted as PyYAML counts it."""
    import yaml

    from monitor.config.loader import compose as _compose
    from monitor.config.loader import construct as _construct

    text = (
        GOOD
        + "x-base: &base {interval: 30m, note: '引号 ''q'''}\n"
        + 'x-more: {<<: *base, when: 2026-01-02, n: 0o17, f: 1.5e3, t: yes, s: "\\u8d28\\n"}\n'
        + 'x-list: [*base, ~, "a\\tb"]\n'
    )
    node = _compose(text)
    assert node is not None
    assert _construct(node) == yaml.safe_load(text)
    assert node.value[-1][0].start_mark.line + 1 == len(text.splitlines())
    lines = GOOD.splitlines()
    broken = "\n".join([*lines[:5], "    url: [unclosed", *lines[5:]]) + "\n"
    with pytest.raises(ConfigError) as info:
        parse_config(broken, env={})
    with pytest.raises(yaml.YAMLError) as theirs:
        yaml.safe_load(broken)
    assert info.value.problems[0].line == theirs.value.problem_mark.line + 1  # type: ignore[attr-defined]


# ── the kinds, joined from their registries ─────────────────────────────────


def _run(code: str) -> str:
    """``code`` in a fresh interpreter (what it imports is what a process would)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    "first", ["monitor.config", "monitor.sources", "monitor.sources.jcms", "notifiers.webhook"]
)
def test_every_kind_is_in_the_unions_whatever_is_imported_first(first: str) -> None:
    # A kind's module imports its base class from monitor.config; the unions are
    # made from the registries on first use, so no import order can leave one out.
    out = _run(
        f"import {first}\n"
        "from monitor.config import parse_config\n"
        "from monitor.config.root import KINDS\n"
        "print(KINDS['sources'], KINDS['channels'])\n"
    )
    assert out == (
        "('rss', 'html', 'jcms', 'jpaas', 'gkmlpt', 'json') "
        "('telegram', 'console', 'webhook', 'apprise')"
    )


def test_a_kind_reads_only_its_own_schema() -> None:
    from monitor.config import HtmlSource, RssSource
    from monitor.model import FetchResult
    from monitor.sources import PARSERS, SCHEMAS

    assert SCHEMAS["rss"] is RssSource and SCHEMAS["html"] is HtmlSource
    html = HtmlSource(id="h", name="H", kind="html", url="https://example.com/")
    result = FetchResult(url=html.url, final_url=html.url, status=200, text="<rss></rss>")
    with pytest.raises(TypeError, match="RssSource expected, not HtmlSource"):
        PARSERS["rss"](result, html)


def test_checking_a_schedule_loads_no_database_code() -> None:
    out = _run(
        "import sys\n"
        "from monitor.config import parse_config\n"
        "yaml = \"channels: [{id: d, kind: console, mode: digest, schedule: '0 9 * * 1-5'}]\"\n"
        "parse_config(yaml, env={})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic', "
        "'numpy', 'storage'}))\n"
    )
    assert out == "[]"
