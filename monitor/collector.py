"""The garbage collector over the life of the ``quality-monitor`` command.

Start-up (imports, configuration, the schema check) makes some hundreds of
thousands of objects that live as long as the process. With the collector as
Python sets it, each full collection walked them all, and the interpreter's
last collection at exit once more: 0.2–0.3 s of a 2,000-source ``run --once``
(bench.run_once). So the command starts with the collector off (:func:`begin`).
When start-up is done (:func:`settle`) what it made is frozen (kept out of
every later collection: ``gc.freeze``) and the collector turned on: for
``run --once`` before its first poll, with a youngest generation of 10,000
objects rather than 700 (a pass makes and drops millions of small objects:
~500 collections of the youngest generation and ~50 of the middle one,
0.15–0.3 s, became 10 and none); for every other command as soon as it is
known, with Python's thresholds. When the command returns (:func:`end`) what
is left is frozen too, and the exit has nothing to walk.

:func:`begin` also caps glibc's malloc arenas at :data:`ARENAS`, before any
thread starts: glibc gives each thread that allocates an arena of its own (up
to eight a core), and the pipeline's worker threads, the database thread and
the event loop each kept a heap of freed parse trees and texts there (``run``
over 2,000 sources: ~10 MB less at its first polls and its peak with two,
bench.memory). A ``MALLOC_ARENA_MAX`` in the environment is glibc's own and
left to it.

Tests call :func:`monitor.cli.main` in their own long-lived process: without
:func:`begin`, :func:`settle` changes nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os

__all__ = ["begin", "end", "settle"]

YOUNGEST = 10_000  # objects made (less those freed) between two collections of the youngest
ARENAS = 2  # glibc malloc arenas (its M_ARENA_MAX)
_M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)

_begun = False


def begin() -> None:
    """The command starts: no collection until start-up is done."""
    global _begun
    _begun = True
    gc.disable()
    if "MALLOC_ARENA_MAX" not in os.environ:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to cap
            ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, ARENAS)


def settle(*, brief: bool = False) -> None:
    """Start-up is done: freeze what it made, and collect from here on.

    ``brief``: the command ends when its work does (``run --once``): what start-up
    left as garbage is frozen with the rest, and the youngest generation is
    YOUNGEST. Otherwise (``run``, ``serve``: days; settled as soon as the
    command is known) that garbage is collected first, and the thresholds stay
    Python's: with a bigger youngest generation, parsed pages (cycles of
    parents and children) lived longer, and ``run``'s peak was ~30 MB higher;
    with its start-up (the story index) run with the collector off, ~10 MB
    (bench.memory).
    """
    global _begun
    if not _begun:
        return
    _begun = False
    if not brief:
        gc.collect()
    gc.freeze()
    if brief:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(YOUNGEST, middle, oldest)
    gc.enable()


def end() -> None:
    """The command is over: leave what is alive out of the exit's collection."""
    gc.freeze()
