"""Source health: what a source's polls say about it, learned over time. Pure.

After every poll :func:`observe` takes the source's previous :class:`Health`
and what the poll saw (:class:`Poll`) and returns the new health plus the
flags that changed. The caller stores the one and logs the other, so that a
problem is said once when it starts and once when it ends, never on every poll.

What is learned:

* **cadence**: the usual time between two items, from the gaps between the
  dated items a list shows (their median, smoothed across polls);
* **usual entries**: how many items a poll usually finds.

The flags:

``empty``
    the site answered but the list gave no items, although it usually gives
    some: the selectors no longer match (a redesign) or a challenge page was
    served instead of the list.
``stale``
    the newest item is far older than the cadence makes usual
    (``stale_factor`` × cadence, and at least ``stale_min``, which covers a
    week-long public holiday).
``failing``
    every poll has failed for longer than ``failing_after``.
``selectors``
    an ``html`` source's configured list selectors gave nothing and the list
    was found without them (:mod:`monitor.sources.detect`): the poll still
    read it; the message names the selectors to write. Cleared when the
    configured selectors (or a ``list:`` removed on purpose) read the list.

A failing source also **backs off**: after the n-th failure in a row its next
poll waits ``interval × 2^(n-1)`` (with jitter), up to ``max_backoff``; the first
success resets it.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.clock import CHINA

EMPTY, STALE, FAILING, SELECTORS = "empty", "stale", "failing", "selectors"
_SMOOTHING = 0.3  # weight of the newest observation in the learned values
_MIN_GAP = 3600.0  # items listed on the same day are one hour apart, not zero
_GAPS_USED = 30  # the newest items say most about today's cadence


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    max_backoff: float = 6 * 3600.0
    failing_after: float = 24 * 3600.0
    stale_factor: float = 5.0
    stale_min: float = 10 * 86400.0


@dataclass(frozen=True, slots=True)
class Health:
    """What is stored about a source between polls."""

    failing_since: datetime | None = None
    backoff_until: datetime | None = None
    cadence: float | None = None  # seconds
    usual_entries: float | None = None
    newest: datetime | None = None
    flags: frozenset[str] = field(default_factory=frozenset)
    note: str | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll saw."""

    now: datetime
    status: str  # ok | not_modified | error
    interval: float  # the source's configured interval, seconds
    failures: int = 0  # consecutive failures, this poll included
    answered: bool = True  # the server answered (a parse error still counts as an answer)
    entries: int | None = None  # items found (None: nothing parsed)
    dates: tuple[datetime, ...] = ()
    error: str | None = None
    list_origin: str | None = None  # html: selectors | detection | feed
    list_notice: str | None = None  # html: the configured selectors gave nothing; what to write


@dataclass(frozen=True, slots=True)
class Change:
    flag: str
    raised: bool
    message: str


def cadence_of(dates: tuple[datetime, ...] | list[datetime]) -> float | None:
    """The median gap between consecutive dated items (None with fewer than two)."""
    ordered = sorted(set(dates), reverse=True)[: _GAPS_USED + 1]
    if len(ordered) < 2:
        return None
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(ordered)]
    return max(_MIN_GAP, statistics.median(gaps))


def backoff(failures: int, interval: float, cap: float) -> float:
    """Seconds until the next poll after ``failures`` failures in a row (before jitter)."""
    if failures <= 0:
        return interval
    factor: int = 2 ** min(failures - 1, 20)  # int ** int is Any to a checker; here >= 0
    return min(interval * factor, max(cap, interval))


def _smooth(previous: float | None, value: float) -> float:
    return value if previous is None else (1 - _SMOOTHING) * previous + _SMOOTHING * value


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


def _day(when: datetime) -> str:
    """The day an item is dated, in China time (a list's "2026-12-03" is 16:00 UTC
    the day before: the UTC date would show it a day early)."""
    return when.astimezone(CHINA).date().isoformat()


def observe(
    previous: Health, poll: Poll, policy: HealthPolicy | None = None, *, jitter: float = 0.5
) -> tuple[Health, list[Change]]:
    """The health after this poll, and the flags it raised or cleared.

    ``jitter`` (0…1) spreads the backoff of many failing sources by ±10 %.
    """
    policy = policy or HealthPolicy()
    now = poll.now
    health = previous
    flags = set(previous.flags)
    changes: list[Change] = []

    def flag(name: str, raised: bool, message: str) -> None:
        if raised and name not in flags:
            flags.add(name)
            changes.append(Change(name, True, message))
        elif not raised and name in flags:
            flags.discard(name)
            changes.append(Change(name, False, message))

    if poll.status == "error":
        since = previous.failing_since or now
        wait = backoff(poll.failures, poll.interval, policy.max_backoff) * (0.9 + 0.2 * jitter)
        health = replace(health, failing_since=since, backoff_until=now + timedelta(seconds=wait))
        down_for = (now - since).total_seconds()
        if down_for >= policy.failing_after:
            flag(
                FAILING,
                True,
                f"failing for {_span(down_for)} ({poll.failures} polls in a row): {poll.error}",
            )
    else:
        if FAILING in flags:
            flag(FAILING, False, "answers again")
        health = replace(health, failing_since=None, backoff_until=None)

    if poll.answered and poll.entries == 0 and (previous.usual_entries or 0) >= 1:
        flag(
            EMPTY,
            True,
            f"the site answers but the list gave no items (usually about "
            f"{previous.usual_entries:.0f}){f': {poll.error}' if poll.error else ''}",
        )
    elif poll.entries:
        flag(EMPTY, False, f"items found again ({poll.entries})")
        health = replace(health, usual_entries=_smooth(previous.usual_entries, poll.entries))
    elif poll.status == "not_modified":
        # Validators are kept only after a good read: a 304 means the list is back as it was.
        flag(EMPTY, False, "the list is as it was when it last had items")

    if poll.status == "ok" and poll.dates:
        newest = max(poll.dates)
        learned = cadence_of(poll.dates)
        health = replace(
            health,
            newest=newest,
            cadence=_smooth(previous.cadence, learned) if learned else previous.cadence,
        )
    if poll.status != "error" and health.newest is not None and health.cadence is not None:
        age = (now - health.newest).total_seconds()
        limit = max(policy.stale_factor * health.cadence, policy.stale_min)
        if age > limit:
            flag(
                STALE,
                True,
                f"the newest item is from {_day(health.newest)}, "
                f"{_span(age)} ago; it usually publishes every {_span(health.cadence)}",
            )
        else:
            flag(STALE, False, f"a recent item again ({_day(health.newest)})")

    # Last: the note keeps the last change, and this one says what to write.
    if poll.status == "ok" and poll.list_notice:
        flag(SELECTORS, True, poll.list_notice)
    elif poll.status == "ok" and poll.list_origin is not None:
        how = "the configured selectors read the list again"
        flag(SELECTORS, False, how if poll.list_origin == "selectors" else "no list: configured")

    if changes:
        last = changes[-1]
        note = f"{last.flag}: {last.message}" if last.raised else f"{last.flag} ok: {last.message}"
        health = replace(health, note=note, changed_at=now)
    return replace(health, flags=frozenset(flags)), changes
