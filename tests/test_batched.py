"""Many polls' reads, a visit of the database thread each batch (pipeline.Batched)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from monitor.pipeline import Batched
from storage.runner import DbRunner


def test_a_burst_is_read_a_few_first_then_in_growing_batches() -> None:
    """When a pass starts every poll reads at once: the first visit takes FIRST,
    so the first requests need not wait for a thousand reads; then twice as many
    a visit, up to BATCH; each caller gets its own result."""
    visits: list[int] = []
    threads: set[str] = set()

    def read(arguments: list[int]) -> list[int]:
        visits.append(len(arguments))
        threads.add(threading.current_thread().name)
        return [a * 10 for a in arguments]

    async def burst() -> list[int]:
        db = DbRunner()
        try:
            reads = Batched(db, read)
            return await asyncio.gather(*(reads(i) for i in range(4000)))
        finally:
            db.close()

    results = asyncio.run(burst())
    assert results == [i * 10 for i in range(4000)]
    first, batch = Batched.FIRST, Batched.BATCH
    expected, left, size = [], 4000, first
    while left:
        expected.append(min(size, left))
        left -= expected[-1]
        size = min(size * 2, batch)
    assert visits == expected
    assert visits[0] == first < batch and max(visits) == batch
    assert threading.current_thread().name not in threads  # read in the database thread


def test_a_failed_visit_fails_its_callers_only() -> None:
    def read(arguments: list[int]) -> list[int]:
        if 0 in arguments:
            raise OSError("disk I/O error")
        return arguments

    async def burst() -> list[int | BaseException]:
        db = DbRunner()
        try:
            reads = Batched(db, read)
            return await asyncio.gather(
                *(reads(i) for i in range(Batched.FIRST + 5)), return_exceptions=True
            )
        finally:
            db.close()

    results = asyncio.run(burst())
    failed = [r for r in results if isinstance(r, OSError)]
    assert len(failed) == Batched.FIRST  # the first visit's callers
    assert results[Batched.FIRST :] == list(range(Batched.FIRST, Batched.FIRST + 5))


@pytest.mark.parametrize("calls", [1, 3])
def test_a_lone_read_is_one_visit(calls: int) -> None:
    visits: list[int] = []

    def read(arguments: list[str]) -> list[str]:
        visits.append(len(arguments))
        return arguments

    async def one_by_one() -> None:
        db = DbRunner()
        try:
            reads = Batched(db, read)
            for i in range(calls):
                assert await reads(str(i)) == str(i)
        finally:
            db.close()

    asyncio.run(one_by_one())
    assert visits == [1] * calls
