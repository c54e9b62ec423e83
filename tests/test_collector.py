"""The garbage collector over the command's life (monitor/collector.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import collector


class _Node:
    other: object = None


@pytest.fixture
def restored() -> Iterator[None]:
    """Each test leaves the collector as the test process had it."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    collector._begun = False
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


@pytest.mark.parametrize("brief", [True, False])
def test_start_up_runs_without_collections_then_is_frozen(restored: None, brief: bool) -> None:
    threshold = gc.get_threshold()
    collector.begin()
    assert not gc.isenabled()
    made = [[i] for i in range(1000)]  # start-up's objects
    garbage = _Node()
    garbage.other = garbage  # a cycle start-up dropped
    dropped = weakref.ref(garbage)
    del garbage
    collector.settle(brief=brief)
    assert gc.isenabled()
    gc.collect()
    if brief:  # `run --once`: fewer collections, start-up's garbage frozen with the rest
        assert gc.get_threshold()[0] == collector.YOUNGEST
        assert dropped() is not None
    else:  # `run`, `serve`: Python's thresholds, start-up's garbage collected
        assert gc.get_threshold() == threshold
        assert dropped() is None
    assert gc.get_freeze_count() >= len(made)
    frozen = gc.get_freeze_count()
    collector.settle()  # a second settle (another pass) changes nothing
    assert gc.get_freeze_count() == frozen


def test_settle_without_begin_leaves_a_test_process_alone(restored: None) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    collector.settle()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    assert gc.isenabled()


def test_cycles_made_after_start_up_are_still_collected(restored: None) -> None:
    collector.begin()
    collector.settle()

    class Node:
        pass

    def cycle() -> int:
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        return id(a)

    made = cycle()
    gc.collect()
    assert all(id(o) != made for o in gc.get_objects() if isinstance(o, Node))


@pytest.mark.parametrize(
    ("command", "work"),
    [("check", "monitor.cli._load"), ("run --once", "monitor.app.poll_all")],
)
def test_a_command_collects_while_it_works_and_ends_frozen(
    tmp_path: Path, command: str, work: str
) -> None:
    """``python -m monitor`` is monitor.command: the collector off while the
    command starts, on for its work (a `serve` or `run` lasting days must
    collect), everything frozen at its end. The work is spied on where it
    happens: each command's last step before returning."""
    (tmp_path / "sources.yaml").write_text("version: 1\nsources: []\n", encoding="utf-8")
    code = (
        "import gc, sys, monitor, monitor.app, monitor.cli\n"
        "seen = {}\n"
        "def spied(module, name):\n"
        "    real = getattr(module, name)\n"
        "    def spy(*args, **kwargs):\n"
        "        seen.setdefault('work', gc.isenabled())\n"
        "        return real(*args, **kwargs)\n"
        "    setattr(module, name, spy)\n"
        f"spied(sys.modules[{work.rpartition('.')[0]!r}], {work.rpartition('.')[2]!r})\n"
        "import monitor.collector as c\n"
        "begin = c.begin\n"
        "def begun():\n"
        "    begin()\n"
        "    seen['start'] = gc.isenabled()\n"
        "c.begin = begun\n"
        f"sys.argv = ['quality-monitor', '--config', 'sources.yaml', *{command.split()!r}]\n"
        "status = monitor.command()\n"
        "print(seen['start'], seen['work'], gc.get_freeze_count() > 0, status)\n"
    )
    env = {**os.environ, "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert out.stdout.splitlines()[-1].split() == ["False", "True", "True", "0"], out.stderr[-2000:]


_ARENAS = """
import ctypes, os, sys, threading
from monitor import collector
if sys.argv[1] == "capped":
    collector.begin()
together = threading.Barrier(8)
def allocate():
    kept = [bytearray(4096) for _ in range(200)]  # malloc's, not pymalloc's
    together.wait()  # every thread holds its arena (a thread's ends with it)
    del kept
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" block each, on stderr
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")
def test_malloc_arenas_are_capped_unless_the_environment_says(tmp_path: Path) -> None:
    def arenas(how: str, **env: str) -> int:
        environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
        done = subprocess.run(
            [sys.executable, "-c", _ARENAS, how], env=environ, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.count("Arena ")

    assert arenas("uncapped") > collector.ARENAS  # eight threads: arenas of their own
    assert arenas("capped") <= collector.ARENAS
    assert arenas("capped", MALLOC_ARENA_MAX="4") > collector.ARENAS  # the user's own
