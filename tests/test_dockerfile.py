"""The Dockerfile, checked without a container engine: its instructions by
parsing, its install and start commands by running them in a fresh venv."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.documentation import TEXT as DOCS  # the README and docs/*.md
from tests.servers.newssite import NewsSite
from tests.test_e2e import write_config

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


def image_env() -> dict[str, str]:
    """The final stage's ENV, as a mapping."""
    env = dict(final_stage())["ENV"]
    return dict(re.findall(r"(\w+)=(\S+)", env))


def test_runs_as_a_non_root_user_with_a_volume_and_healthcheck() -> None:
    stage = dict(final_stage())
    assert stage["USER"] not in ("root", "0")
    assert "/data" in stage["VOLUME"]
    assert stage["STOPSIGNAL"] == "SIGTERM"
    assert json.loads(stage["ENTRYPOINT"]) == ["quality-monitor"]
    assert json.loads(stage["CMD"]) == ["run"]
    env = image_env()
    assert env["MONITOR_DB_URL"].startswith("sqlite:////data/")
    # The health check is `quality-monitor health`, which asks /healthz of the
    # running process because MONITOR_HTTP_PORT is set; the port is exposed.
    check = stage["HEALTHCHECK"]
    assert json.loads(check.split(" CMD ", 1)[1]) == ["quality-monitor", "health"]
    assert re.search(r"--timeout=\d+s", check) and re.search(r"--interval=\d+s", check)
    assert env["MONITOR_HTTP_PORT"] == stage["EXPOSE"] == "8080"
    assert env["MONITOR_HTTP_HOST"] == "0.0.0.0"
    assert env["MONITOR_CONFIG"] == "/config/sources.yaml"
    assert "`/config/sources.yaml`" in DOCS


def test_two_stages_the_final_one_copies_only_the_built_venv() -> None:
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    stage = final_stage()
    assert ("COPY", "--from=build /opt/venv /opt/venv") in stage
    assert not any(word == "RUN" and "pip install" in rest for word, rest in stage)


LOCK = ROOT / "requirements.lock"
INSTALL_LOCK = "pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock"
INSTALL_PROJECT = "pip install --no-cache-dir --no-deps ."


def locked() -> dict[str, str]:
    """requirements.lock as name → version (names normalised as pip does)."""
    found = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def test_the_image_installs_the_locked_packages_with_their_hashes() -> None:
    """Two builds install the same packages: every one of them is pinned with its
    hashes in requirements.lock, which the build stage installs before the project."""
    build = instructions()[: [w for w, _ in instructions()].index("FROM", 1)]
    runs = [rest for word, rest in build if word == "RUN"]
    assert any(INSTALL_LOCK in r for r in runs)
    assert any(INSTALL_PROJECT in r and "pip check" in r for r in runs)
    assert not any(re.search(r"pip install [^&]*'?\.\[", r) for r in runs)  # no resolving
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=\S)", text.split("\n\n")[-1].strip())
    requirements = [b for b in blocks if not b.startswith("#")]
    assert len(requirements) == len(locked()) > 20
    for block in requirements:
        assert re.match(r"^[A-Za-z0-9_.-]+==\S+ \\\n", block), block[:80]
        assert "--hash=sha256:" in block, block[:80]


def test_the_lock_holds_the_pinned_dependencies_and_no_test_tools() -> None:
    """A dependency changed in pyproject.toml without `make lock` fails here."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["postgres"]
    lock = locked()
    for requirement in direct:
        name, version = re.fullmatch(r"([\w.-]+)(?:\[[\w,]+\])?==(\S+)", requirement).groups()
        assert lock.get(re.sub(r"[-_.]+", "-", name).lower()) == version, requirement
    for tool in ("pytest", "ruff", "mypy", "hypothesis", "datasketch", "playwright", "pip-tools"):
        assert tool not in lock, tool
    assert "make lock" in DOCS and "requirements.lock" in DOCS
    assert INSTALL_LOCK in DOCS and INSTALL_PROJECT in DOCS


def test_the_container_runs_in_an_explicit_time_zone() -> None:
    env = image_env()
    assert env["TZ"] == "Asia/Shanghai"
    final_runs = " ".join(rest for word, rest in final_stage() if word == "RUN")
    assert "tzdata" in final_runs  # the zone database, absent from the slim image
    assert "`TZ`" in DOCS


def test_make_run_installs_the_project_alone_and_make_test_its_test_tools() -> None:
    """From a fresh clone (-B: as if nothing were built yet), what each command runs."""

    def planned(target: str) -> str:
        # Not as a sub-make of `make test` (which prints "Entering directory").
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        return subprocess.run(
            ["make", "--no-print-directory", "-n", "-B", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout

    run = planned("run")
    assert "pip install --quiet -e .\n" in run and "[test]" not in run
    assert run.rstrip().endswith("quality-monitor run")
    test = planned("test")
    assert "pip install --quiet -e '.[test]'" in test and "pytest" in test


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
def test_the_install_and_start_commands_work_in_a_fresh_venv(
    tmp_path: Path, newssite: NewsSite
) -> None:
    """The build stage's install, then the image's ENTRYPOINT and CMD with its
    ENV (paths moved under tmp_path): the health check passes against the
    running process, and SIGTERM stops it within 10 s."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    # the Dockerfile's install commands: the lock with its hashes, then the project
    assert INSTALL_LOCK in DOCKERFILE and INSTALL_PROJECT in DOCKERFILE
    for command in (INSTALL_LOCK, INSTALL_PROJECT, "pip check"):
        subprocess.run([str(pip), *command.split()[1:]], check=True, cwd=ROOT)
    frozen = subprocess.run(
        [str(pip), "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    ).stdout
    installed = dict(
        (re.sub(r"[-_.]+", "-", n).lower(), v)
        for n, _, v in (line.partition("==") for line in frozen.splitlines() if "==" in line)
    )
    installed.pop("quality-monitor", None)
    assert installed == locked()  # exactly the locked packages, nothing resolved anew
    bin_ = venv / "bin" / "quality-monitor"
    env = {**os.environ, **image_env()}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    env["MONITOR_DB_URL"] = f"sqlite:///{tmp_path / 'data' / 'monitor.db'}"
    env["MONITOR_HTTP_HOST"] = "127.0.0.1"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        env["MONITOR_HTTP_PORT"] = str(s.getsockname()[1])

    # the shipped sources.yaml is valid (checking it fetches nothing)
    env["MONITOR_CONFIG"] = str(ROOT / "sources.yaml")
    check = subprocess.run(
        [str(bin_), "check"], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )
    assert check.returncode == 0, check.stderr

    # start it as the image does, on a local site only
    env["MONITOR_CONFIG"] = str(write_config(tmp_path, newssite))
    entrypoint = json.loads(dict(final_stage())["ENTRYPOINT"])
    command = json.loads(dict(final_stage())["CMD"])
    process = subprocess.Popen(
        [str(venv / "bin" / entrypoint[0]), *entrypoint[1:], *command],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            health = subprocess.run(
                [str(bin_), "health"], capture_output=True, text=True, env=env, check=False
            )
            if health.returncode == 0 or time.monotonic() > deadline or process.poll() is not None:
                break
            time.sleep(0.5)
        if process.poll() is not None:  # it died: say why (a missing dependency, say)
            _out, err = process.communicate()
            raise AssertionError(f"the monitor exited with {process.returncode}:\n{err[-3000:]}")
        assert health.returncode == 0, health.stdout + health.stderr
        assert "/healthz" in health.stdout
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr is not None and not process.stderr.closed:
            process.communicate()  # closes the pipe, whatever happened above
    assert process.returncode == 0, err
