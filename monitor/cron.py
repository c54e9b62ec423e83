"""Cron schedules, in China time: the one reader of a crontab string. [pure]

``schedule: "0 9 * * 1-5"`` is read here for the configuration's check and
for the digests' jobs, so that checking a schedule loads APScheduler's
trigger and nothing else (not the store, not the digests).
"""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

from monitor.clock import CHINA  # schedules are in China time

__all__ = ["cron_trigger"]

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_days(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, as cron has it) as the list of
    day names APScheduler reads without surprise (its numbers start on Monday)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()

    def day(token: str) -> int:
        token = token.strip().lower()
        if token[:3] in _DAY_NAMES:
            return _DAY_NAMES.index(token[:3])
        if not token.isdigit() or int(token) > 7:
            raise ValueError(f"day of week {token!r} is not 0-7 or sun-sat")
        return int(token) % 7

    for item in field.split(","):
        spec, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {item!r}")
        if spec == "*":
            first, last = 0, 6
        elif "-" in spec:
            low, high = spec.split("-", 1)
            first, last = day(low), day(high)
            if high.strip() == "7":
                last = 7  # "5-7": Friday to Sunday
        else:
            first = last = day(spec)
            if step_text:
                last = 6
        if last < first:
            last += 7  # "fri-mon" wraps over the weekend
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def cron_trigger(expression: str) -> CronTrigger:
    """A five-field crontab (minute hour day month day-of-week), as cron reads it,
    in China time. Raises ValueError with the reason."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron schedule has 5 fields, not {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_days(day_of_week),
        timezone=CHINA,
    )
