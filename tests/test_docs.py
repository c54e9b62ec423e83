"""The README keeps up with the code: commands, YAML keys, kinds, variables."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.cli import build_parser
from monitor.config import Config
from monitor.config.root import models
from monitor.model import Category
from monitor.sources import SCHEMAS as SOURCE_KINDS
from notifiers.base import SCHEMAS as NOTIFIER_KINDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def documented(word: str) -> bool:
    return re.search(rf"`{re.escape(word)}[`\s\[:]", README) is not None


def test_every_command_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert documented(name), name


def test_every_yaml_key_is_documented() -> None:
    # Every section and every registered kind, with the models inside them.
    every = list(models(Config))
    assert set(SOURCE_KINDS.values()) | set(NOTIFIER_KINDS.values()) <= set(every)
    for model in every:
        for key in model.model_fields:
            assert documented(key) or f"{key}:" in README, f"{model.__name__}.{key}"


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
        assert documented(name), name


def test_quick_start_commands_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test", "demo", "lint"):
        assert re.search(rf"^{target}:", makefile, re.M), target
        assert f"make {target}" in README, target


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "MONITOR_REQUIRE_POSTGRES=1" in ci


def test_every_bot_command_and_webhook_field_is_documented() -> None:
    from datetime import UTC, datetime

    from monitor.model import Story
    from notifiers.bot import OPERATOR_COMMANDS, PUBLIC_COMMANDS
    from notifiers.webhook import story_payload

    for name, _text in (*PUBLIC_COMMANDS, *OPERATOR_COMMANDS, ("start", "")):
        assert f"`/{name}" in README, name
    story = Story(1, "t", "u", "s", "CN", "other", "en", "x", first_seen=datetime.now(UTC))
    for key in story_payload(story):
        assert f'"{key}":' in README, key
