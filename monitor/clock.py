"""China time: the one time zone quality-monitor shows. [pure]

The sources publish in China time, the readers live in it, and the
dashboard's date filters, digests' schedules and posts' dates were already
in it; so is everything else a person reads: ``check --fetch``, log lines,
``/status``. The rule, in one place:

* a time a person reads is China time with its zone written next to it:
  ``2026-12-07 21:03 CST`` (:func:`shown`), or a bare date where only the
  day matters (a post's date, a digest line);
* a log line's time is ISO 8601 with its offset, ``2026-12-07T21:03:05+08:00``
  (:func:`iso`), so that a machine reading JSON logs needs no guess either;
* what is stored and exchanged (the database, webhook JSON, ``/healthz``)
  stays UTC, as ISO 8601 with ``Z`` or an offset.

China has kept UTC+8 all year since 1991, so a fixed offset is exact and
needs no time-zone database (the slim container image has none).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["CHINA", "iso", "shown"]

CHINA = timezone(timedelta(hours=8), "CST")


def shown(value: datetime | None, *, seconds: bool = False, empty: str = "-") -> str:
    """``2026-12-07 21:03 CST``: China time for people, zone included."""
    if value is None:
        return empty
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(CHINA).strftime(pattern) + " CST"


def iso(value: datetime) -> str:
    """``2026-12-07T21:03:05+08:00``: China time in ISO 8601 with its offset (logs)."""
    return value.astimezone(CHINA).isoformat(timespec="seconds")
