"""Fault drill: invalid sources.yaml, a table of cases.

Each case is a whole file with one mistake; the line marked ``# <-`` is where
the error must point. Loaded from disk (as ``check`` and ``run`` do), every
case must fail with a ConfigError whose problem reads
``<file>:<line>: <field>: <what is wrong>`` — the file, the line, the field as
a dotted path, and a message naming the mistake — and ``quality-monitor
check`` must print it and exit 2. (tests/test_config.py covers the basics;
this table covers every section and kind.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.errors import ConfigError

pytestmark = pytest.mark.drill  # `make test-fast` leaves the fault drills out

SOURCE = """\
version: 1
sources:
  - id: feed
    name: A feed
    kind: rss
    url: https://example.com/feed.xml
"""

# (case id, file text with "# <-" on the line the error must name, field, message fragment)
CASES: list[tuple[str, str, str, str]] = [
    (
        "version",
        "version: 2  # <-\n",
        "version",
        "Input should be 1",
    ),
    (
        "top-level-unknown-key",
        "version: 1\nsourcez: []  # <-\n",
        "sourcez",
        "unknown key",
    ),
    (
        "sources-not-a-list",
        "version: 1\nsources: {feed: 1}  # <-\n",
        "sources",
        "valid list",
    ),
    (
        "kind-missing",
        "version: 1\nsources:\n  - id: feed  # <-\n    name: A\n    url: https://e.cn/f\n",
        "sources[0]",
        "missing required key 'kind'",
    ),
    (
        "id-missing",
        "version: 1\nsources:\n  - name: A  # <-\n    kind: rss\n    url: https://e.cn/f\n",
        "sources[0]",
        "missing required key 'id'",
    ),
    (
        "id-uppercase",
        SOURCE.replace("id: feed", "id: Feed  # <-"),
        "sources[0].id",
        "an id is lowercase letters, digits, '-', '_' and '.'",
    ),
    (
        "id-with-a-space",
        SOURCE.replace("id: feed", "id: my feed  # <-"),
        "sources[0].id",
        "(got 'my feed')",
    ),
    (
        "kind-misspelt-as-a-key",
        SOURCE.replace("kind: rss", "knid: rss  # <-"),
        "sources[0].knid",
        "unknown key 'knid': did you mean 'kind'? (kind is required, one of: rss, html",
    ),
    (
        "kind-value-misspelt",
        SOURCE.replace("kind: rss", "kind: rsss  # <-"),
        "sources[0].kind",
        "unknown kind 'rsss' (known: rss, html, jcms, jpaas, gkmlpt, json) (did you mean 'rss'?)",
    ),
    (
        "key-misspelt",
        SOURCE + "    intervall: 15m  # <-\n",
        "sources[0].intervall",
        "unknown key (did you mean 'interval'?)",
    ),
    (
        "yaml-tab",
        "version: 1\nsources:\n\t- id: feed  # <-\n",
        "",
        "a tab character: YAML indents with spaces only",
    ),
    (
        "yaml-key-indented-too-far",
        SOURCE.replace("    kind: rss", "      kind: rss  # <-"),
        "",
        "a key is indented more or less than the keys beside it",
    ),
    (
        "yaml-item-keys-not-under-the-dash",
        "version: 1\nsources:\n  - id: feed\n  name: A  # <-\n  kind: rss\n",
        "",
        "the indentation does not line up",
    ),
    (
        "name-empty",
        SOURCE.replace("name: A feed", 'name: ""  # <-'),
        "sources[0].name",
        "at least 1 character",
    ),
    (
        "url-without-host",
        SOURCE.replace("url: https://example.com/feed.xml", "url: 'http://'  # <-"),
        "sources[0].url",
        "has no host",
    ),
    (
        "url-not-http",
        SOURCE.replace("url: https://example.com/feed.xml", "url: file:///etc/passwd  # <-"),
        "sources[0].url",
        "only http and https",
    ),
    (
        "timeout-zero",
        SOURCE + "    timeout: 0s  # <-\n",
        "sources[0].timeout",
        "longer than zero",
    ),
    (
        "interval-too-long",
        SOURCE + "    interval: 8d  # <-\n",
        "sources[0].interval",
        "at most 7d",
    ),
    (
        "backlog-negative",
        SOURCE + "    backlog: -1  # <-\n",
        "sources[0].backlog",
        "greater than or equal to 0",
    ),
    (
        "max-pages-zero",
        SOURCE + "    max_pages: 0  # <-\n",
        "sources[0].max_pages",
        "greater than or equal to 1",
    ),
    (
        "render-unknown",
        SOURCE + "    render: chrome  # <-\n",
        "sources[0].render",
        "'http' or 'browser'",
    ),
    (
        "headers-not-a-mapping",
        SOURCE + "    headers: [Referer]  # <-\n",
        "sources[0].headers",
        "valid dictionary",
    ),
    (
        "enabled-not-a-boolean",
        SOURCE + "    enabled: maybe  # <-\n",
        "sources[0].enabled",
        "valid boolean",
    ),
    (
        "encoding-unknown",
        SOURCE + "    encoding: klingon  # <-\n",
        "sources[0].encoding",
        "unknown encoding",
    ),
    (
        "province-unknown",
        SOURCE + "    province: CN-XX  # <-\n",
        "sources[0].province",
        "ISO 3166-2:CN",
    ),
    (
        "article-selector-broken",
        SOURCE + '    article: {content: "div[class="}  # <-\n',
        "sources[0].article.content",
        "bad CSS selector",
    ),
    (
        "html-list-without-item",
        SOURCE.replace("kind: rss", "kind: html") + '    list: {link: "a"}  # <-\n',
        "sources[0].list",
        "missing required key 'item'",
    ),
    (
        "jcms-unitid-without-webid",
        SOURCE.replace("kind: rss", "kind: jcms")
        .replace("url: https://example.com/feed.xml", "url: https://e.cn/col/col1/index.html")
        .replace("- id: feed", "- id: feed  # <-")
        + "    unitid: 5\n",
        "sources[0]",
        "give both unitid and webid",
    ),
    (
        "jpaas-some-ids",
        SOURCE.replace("kind: rss", "kind: jpaas").replace("- id: feed", "- id: feed  # <-")
        + "    webid: w\n",
        "sources[0]",
        "webid, pageid and tplsetid together",
    ),
    (
        "json-without-fields",
        SOURCE.replace("kind: rss", "kind: json").replace("- id: feed", "- id: feed  # <-"),
        "sources[0]",
        "missing required key 'fields'",
    ),
    (
        "json-fields-without-a-link",
        SOURCE.replace("kind: rss", "kind: json")
        + "    fields: {items: data.list, url: null}  # <-\n",
        "sources[0].fields",
        "give url or url_template",
    ),
    (
        "json-items-path-broken",
        SOURCE.replace("kind: rss", "kind: json") + "    fields: {items: 'data..list'}  # <-\n",
        "sources[0].fields.items",
        "not a dotted path",
    ),
    (
        "gkmlpt-column-negative",
        SOURCE.replace("kind: rss", "kind: gkmlpt") + "    column: -5  # <-\n",
        "sources[0].column",
        "greater than or equal to 0",
    ),
    (
        "defaults-jitter",
        "version: 1\ndefaults:\n  jitter: 0.9  # <-\n",
        "defaults.jitter",
        "less than or equal to 0.5",
    ),
    (
        "defaults-unknown-key",
        "version: 1\ndefaults:\n  intervall: 5m  # <-\n",
        "defaults.intervall",
        "unknown key",
    ),
    (
        "http-concurrency-zero",
        "version: 1\nhttp:\n  concurrency: 0  # <-\n",
        "http.concurrency",
        "greater than or equal to 1",
    ),
    (
        "http-max-bytes-tiny",
        "version: 1\nhttp:\n  max_bytes: 10  # <-\n",
        "http.max_bytes",
        "greater than or equal to 10000",
    ),
    (
        "duplicate-source-id",
        SOURCE + "  - id: feed  # <-\n    name: B\n    kind: rss\n    url: https://e.cn/b\n",
        "sources[1].id",
        "duplicate id 'feed' (first at line 3)",
    ),
    (
        "duplicate-key",
        SOURCE.replace("    name: A feed\n", "    name: A feed\n    name: again\n").replace(
            "  - id: feed", "  - id: feed  # <-"
        ),
        "name",
        "duplicate key",
    ),
    (
        "channel-kind-unknown",
        "version: 1\nchannels:\n  - id: main\n    kind: pigeon  # <-\n",
        "channels[0].kind",
        "unknown kind 'pigeon'",
    ),
    (
        "channel-filter-province",
        "version: 1\nchannels:\n  - id: main\n    kind: console\n"
        "    filter: {provinces: [CN-XX]}  # <-\n",
        "channels[0].filter.provinces[0]",
        "ISO 3166-2:CN",
    ),
    (
        "channel-filter-province-name",
        "version: 1\nchannels:\n  - id: main\n    kind: console\n"
        "    filter: {provinces: [四川, 火星]}  # <-\n",
        "channels[0].filter.provinces[1]",
        "'火星' is neither a province code (CN-SC, or CN for national) nor a province name",
    ),
    (
        "channel-kind-misspelt-as-a-key",
        "version: 1\nchannels:\n  - id: main\n    knid: telegram  # <-\n",
        "channels[0].knid",
        "unknown key 'knid': did you mean 'kind'? (kind is required, one of: telegram",
    ),
    (
        "channel-filter-language",
        "version: 1\nchannels:\n  - id: main\n    kind: console\n"
        "    filter: {languages: [fr]}  # <-\n",
        "channels[0].filter.languages[0]",
        "'en', 'zh-Hans' or 'zh-Hant'",
    ),
    (
        "duplicate-channel-id",
        "version: 1\nchannels:\n  - {id: main, kind: console}\n"
        "  - {id: main, kind: console}  # <-\n",
        "channels[1].id",
        "duplicate id 'main'",
    ),
    (
        "retention-too-short",
        "version: 1\nretention:\n  articles: 1h  # <-\n",
        "retention.articles",
        "at least 1d",
    ),
    (
        "dedup-mobile-host",
        "version: 1\ndedup:\n  mobile_hosts: ['M!']  # <-\n",
        "dedup.mobile_hosts[0]",
        "a host prefix is lowercase letters, digits and '-'",
    ),
    (
        "lexicon-bad-regex",
        "version: 1\nlexicon:\n  strong: ['re:(unclosed']  # <-\n",
        "lexicon.strong[0]",
        "bad regular expression",
    ),
    (
        "environment-variable-missing",
        SOURCE.replace("url: https://example.com/feed.xml", "url: ${FEED_URL}  # <-"),
        "sources[0].url",
        "environment variable FEED_URL is not set",
    ),
    (
        "yaml-syntax",
        "version: 1\nsources:\n  - id: [unclosed  # <-\n",
        "",
        "not valid YAML",
    ),
]


def _expected_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if "# <-" in line)


@pytest.mark.parametrize(
    ("text", "field", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_invalid_file_names_file_line_and_field(
    tmp_path: Path, text: str, field: str, fragment: str
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    problems = info.value.problems
    line = _expected_line(text)
    matching = [p for p in problems if p.field == field and fragment in p.message]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert problem.file == str(path)
    if field:  # a YAML syntax error names a line, not a field
        assert problem.line == line, (str(problem), line)
        assert str(problem).startswith(f"{path}:{line}: {field}: ")
    else:
        assert problem.line is not None and abs(problem.line - line) <= 1, str(problem)


def test_check_prints_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        SOURCE + "    timeout: 0s\n    render: chrome\n    province: CN-XX\n", encoding="utf-8"
    )
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:7: sources[0].timeout: must be longer than zero" in err
    assert f"{path}:8: sources[0].render:" in err
    assert f"{path}:9: sources[0].province:" in err
