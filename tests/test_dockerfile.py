"""The Dockerfile, checked without a container engine: its instructions by
parsing, its install and start commands by running them in a fresh venv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_runs_as_a_non_root_user_with_a_volume_and_healthcheck() -> None:
    stage = dict(final_stage())
    assert stage["USER"] not in ("root", "0")
    assert "/data" in stage["VOLUME"]
    assert "quality-monitor" in stage["HEALTHCHECK"] and "health" in stage["HEALTHCHECK"]
    assert stage["STOPSIGNAL"] == "SIGTERM"
    assert "quality-monitor" in stage["ENTRYPOINT"]
    assert "MONITOR_DB_URL=sqlite:////data/" in stage["ENV"]


def test_base_image_is_slim_python_of_a_supported_version() -> None:
    for word, rest in instructions():
        if word == "FROM":
            assert re.match(r"python:3\.1[1-9]-slim", rest), rest


def test_every_copied_path_exists() -> None:
    for word, rest in instructions():
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source


@pytest.mark.skipif(
    not os.environ.get("CI") and not os.environ.get("MONITOR_TEST_INSTALL"),
    reason="installs the project into a new venv (slow); runs in CI or with MONITOR_TEST_INSTALL=1",
)
def test_the_install_and_start_commands_work_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    # the Dockerfile's install command, from a copy of the build context
    assert "pip install --no-cache-dir '.[postgres]'" in DOCKERFILE
    subprocess.run([str(pip), "install", "-q", f"{ROOT}[postgres]"], check=True, cwd=tmp_path)
    env = {
        **os.environ,
        "MONITOR_CONFIG": str(ROOT / "sources.yaml"),
        "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'data' / 'monitor.db'}",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    health = subprocess.run(
        [str(venv / "bin" / "quality-monitor"), "health"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert health.returncode == 0, health.stderr
    check = subprocess.run(
        [str(venv / "bin" / "quality-monitor"), "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert check.returncode == 0, check.stderr
