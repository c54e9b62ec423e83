"""The per-user cache of a big sources.yaml's YAML stage (monitor/config/cache.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.cache import MIN_BYTES
from monitor.errors import ConfigError


def _big(count: int = 600, *, extra: str = "") -> str:
    lines = ["version: 1", "defaults: {interval: 30m}", "sources:"]
    lines += [
        f'  - {{id: s{i}, name: "Site {i} notices", kind: rss, '
        f'url: "https://e{i % 97}.example/column/{i}/index.xml", province: CN-SC}}'
        for i in range(count)
    ]
    text = "\n".join(lines) + "\n" + extra
    assert len(text) >= MIN_BYTES
    return text


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home / "quality-monitor"


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("config-*.json")) if folder.exists() else []


def test_a_big_file_is_read_from_the_cache_the_second_time(
    tmp_path: Path, cache_home: Path
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big(), encoding="utf-8")
    first = load_config(path, env={})
    [entry] = _entries(cache_home)
    assert stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    assert not stat.S_IMODE(entry.stat().st_mode) & 0o077
    assert load_config(path, env={}) == first
    # The entry is what the second load read: a (private) entry for this very text wins.
    stored = json.loads(entry.read_text(encoding="utf-8"))
    stored["data"]["sources"][0]["name"] = "read from the cache"
    entry.write_text(json.dumps(stored), encoding="utf-8")
    assert load_config(path, env={}).sources[0].name == "read from the cache"


def test_a_changed_file_is_read_again_and_replaces_its_entry(
    tmp_path: Path, cache_home: Path
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big(), encoding="utf-8")
    load_config(path, env={})
    path.write_text(_big().replace("Site 0 notices", "Renamed"), encoding="utf-8")
    assert load_config(path, env={}).sources[0].name == "Renamed"
    assert len(_entries(cache_home)) == 1


def test_the_environment_is_expanded_at_every_load(tmp_path: Path, cache_home: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big().replace("Site 0 notices", "${SITE_NAME}"), encoding="utf-8")
    assert load_config(path, env={"SITE_NAME": "one"}).sources[0].name == "one"
    assert load_config(path, env={"SITE_NAME": "two"}).sources[0].name == "two"
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    [problem] = [p for p in error.value.problems if "SITE_NAME" in p.message]
    assert (problem.line, problem.field) == (4, "sources[0].name")
    assert problem.message == "environment variable SITE_NAME is not set"


def test_errors_keep_their_lines_when_the_file_is_cached(tmp_path: Path, cache_home: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big().replace("interval: 30m", "interval: 1s"), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ConfigError) as error:
            load_config(path, env={})
        [problem] = error.value.problems
        assert (problem.line, problem.field) == (2, "defaults.interval")
    assert len(_entries(cache_home)) == 1  # the YAML was fine: kept, validation refused it


def test_duplicate_keys_and_unreadable_yaml_are_not_cached(
    tmp_path: Path, cache_home: Path
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big(extra="version: 1\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key"):
        load_config(path, env={})
    path.write_text(_big(extra="x: [\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, env={})
    assert _entries(cache_home) == []


def test_a_folder_others_may_write_is_not_used(tmp_path: Path, cache_home: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big(), encoding="utf-8")
    load_config(path, env={})
    [entry] = _entries(cache_home)
    stored = json.loads(entry.read_text(encoding="utf-8"))
    stored["data"]["sources"][0]["name"] = "planted"
    entry.write_text(json.dumps(stored), encoding="utf-8")
    os.chmod(cache_home, 0o777)
    assert load_config(path, env={}).sources[0].name == "Site 0 notices"


def test_a_damaged_entry_is_ignored(tmp_path: Path, cache_home: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_big(), encoding="utf-8")
    first = load_config(path, env={})
    [entry] = _entries(cache_home)
    entry.write_text('{"key": "', encoding="utf-8")
    assert load_config(path, env={}) == first


def test_small_files_and_yaml_dates_are_not_cached(tmp_path: Path, cache_home: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(
        'version: 1\nsources:\n  - {id: a, name: A, kind: rss, url: "https://a.example/f"}\n',
        encoding="utf-8",
    )
    load_config(small, env={})
    dated = tmp_path / "dated.yaml"  # a YAML date does not survive JSON: read as before
    dated.write_text(_big(extra="x-note: 2026-12-07\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(dated, env={})
    assert _entries(cache_home) == []
