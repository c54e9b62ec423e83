"""The documentation (README.md and docs/*.md) keeps up with the code: commands,
YAML keys, kinds, variables, examples and links."""

from __future__ import annotations

import re

from monitor.cli import build_parser
from monitor.config import Config
from monitor.config.root import models
from monitor.model import Category
from monitor.sources import SCHEMAS as SOURCE_KINDS
from notifiers.base import SCHEMAS as NOTIFIER_KINDS
from tests.documentation import FILES, README, ROOT, TEXT, yaml_examples


def documented(word: str, text: str = TEXT) -> bool:
    return re.search(rf"`{re.escape(word)}[`\s\[:]", text) is not None


def test_every_command_is_documented_in_the_readme() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert documented(name, README), name


def test_every_yaml_key_is_documented() -> None:
    # Every section and every registered kind, with the models inside them.
    every = list(models(Config))
    assert set(SOURCE_KINDS.values()) | set(NOTIFIER_KINDS.values()) <= set(every)
    for model in every:
        for key in model.model_fields:
            assert documented(key) or f"{key}:" in TEXT, f"{model.__name__}.{key}"


def test_every_top_level_key_is_documented() -> None:
    for key in Config.model_fields:
        assert documented(key), key


def test_every_kind_and_category_is_documented() -> None:
    for kind in [*SOURCE_KINDS, *NOTIFIER_KINDS]:
        assert documented(kind), kind
    for category in Category:
        assert documented(category.value), category


def test_every_environment_variable_read_is_documented() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "monitor").rglob("*.py"))
    for name in set(re.findall(r'"((?:MONITOR|TELEGRAM)_[A-Z_]+)"', code)):
        assert documented(name, README), name


def test_quick_start_commands_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test", "test-fast", "demo", "lint"):
        assert re.search(rf"^{target}:", makefile, re.M), target
        assert f"make {target}" in README, target
    # and every `make X` the documentation mentions is a target
    for target in set(re.findall(r"`make ([a-z][\w.-]*)", TEXT)):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "MONITOR_REQUIRE_POSTGRES=1" in ci


def test_every_bot_command_and_webhook_field_is_documented() -> None:
    from datetime import UTC, datetime

    from monitor.model import Story
    from notifiers.bot import OPERATOR_COMMANDS, PUBLIC_COMMANDS
    from notifiers.webhook import story_payload

    for name, _text in (*PUBLIC_COMMANDS, *OPERATOR_COMMANDS, ("start", "")):
        assert f"`/{name}" in TEXT, name
    story = Story(1, "t", "u", "s", "CN", "other", "en", "x", first_seen=datetime.now(UTC))
    for key in story_payload(story):
        assert f'"{key}":' in TEXT, key


def test_every_yaml_example_is_a_valid_configuration() -> None:
    """Each ```yaml block loads: a whole file as it is, a list of sources or a
    section with what a file needs around it."""
    from monitor.config import parse_config

    env = {
        "TELEGRAM_CHAT": "@example",
        "QUALITY_WEBHOOK_SECRET": "example-secret",
        "DINGTALK_URL": "dingtalk://example-token/",
        "TELEGRAM_WEBHOOK_SECRET": "example-secret",
    }
    examples = yaml_examples()
    assert len(examples) >= 6
    for path, block in examples:
        text = f"sources:\n{block}" if block.startswith("  - ") else block
        if not re.search(r"^version:", text, re.M):
            text = f"version: 1\n{text}"
        if not re.search(r"^sources:", text, re.M):
            text += "\nsources: []\n"
        parse_config(text, name=f"{path.name}: {block.splitlines()[0]}", env=env)


def test_a_comment_that_lists_the_kinds_lists_every_kind() -> None:
    listed = [
        re.split(r"\s*\|\s*", m.group(1).strip())
        for _, block in yaml_examples()
        for m in re.finditer(r"^\s*kind: \w+\s+#\s*(\w+(?:\s*\|\s*\w+)+)\s*$", block, re.M)
    ]
    assert listed, "the examples name the kinds beside `kind:`"
    for kinds in listed:
        assert sorted(kinds) == sorted(SOURCE_KINDS), kinds


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces → '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_documents_resolves() -> None:
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            assert linked.exists(), f"{path.name}: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{path.name}: {target}"


def test_the_readme_links_every_document() -> None:
    for path in FILES[1:]:
        assert f"(docs/{path.name})" in README, path.name


def test_every_python_example_compiles() -> None:
    blocks = [
        (path, match.group(1))
        for path in FILES
        for match in re.finditer(
            r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M
        )
    ]
    assert blocks, "the webhook's signature recipe is a Python example"
    for path, block in blocks:
        compile(block, str(path), "exec")
