"""Retention: delete what ``retention:`` in sources.yaml no longer keeps. [IO]

Runs at most once a day across all replicas: the first replica whose hourly
check finds the last run more than a day old records the run and prunes
(:meth:`storage.store.Store.claim_task`). ``run --once`` checks too, so a
monitor run from cron is pruned as well.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from monitor.config import Retention
from storage.store import Store

log = logging.getLogger("monitor.retention")

TASK = "retention"
EVERY = 86400.0  # seconds between two runs
CHECK_EVERY = 3600.0  # how often a running replica asks whether one is due


def apply_retention(
    store: Store, retention: Retention, *, owner: str, now: datetime, force: bool = False
) -> dict[str, int] | None:
    """Prune when a day has passed since the last run (or ``force``); None when not due."""
    if not store.claim_task(TASK, owner, now, None if force else EVERY):
        return None
    articles_before = entries_before = fetch_log_before = None
    if retention.articles is not None:
        articles_before = now - timedelta(seconds=retention.articles)
        entries_before = now - timedelta(seconds=2 * retention.articles)
    if retention.fetch_log is not None:
        fetch_log_before = now - timedelta(seconds=retention.fetch_log)
    gone = store.prune(
        articles_before=articles_before,
        entries_before=entries_before,
        fetch_log_before=fetch_log_before,
    )
    log.info(
        "retention: deleted %d stories, %d articles, %d alerts, %d entries, %d fetch-log lines",
        gone["stories"],
        gone["articles"],
        gone["outbox"],
        gone["entries"],
        gone["fetch_log"],
    )
    return gone


__all__ = ["CHECK_EVERY", "apply_retention"]
