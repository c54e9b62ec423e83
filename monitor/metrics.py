"""Prometheus metrics of one process, served at ``/metrics``. [IO at scrape time]

One :class:`Metrics` per process, with its own registry (no module-level
state). Counters and histograms count what this process did; the gauges
marked "from the database" are read at scrape time and are the same on every
replica (aggregate them with ``max``, not ``sum``).

==============================================  =========  ================================
metric                                          type       labels
==============================================  =========  ================================
quality_monitor_polls_total                     counter    source, outcome (ok, not_modified,
                                                           error)
quality_monitor_fetch_seconds                   histogram  page (list, article), outcome
quality_monitor_articles_seen_total             counter    source
quality_monitor_stories_created_total           counter    source
quality_monitor_alerts_sent_total               counter    channel, kind (post, edit)
quality_monitor_alerts_failed_total             counter    channel
quality_monitor_alerts_deferred_total           counter    channel
quality_monitor_delivery_latency_seconds        histogram  first seen → sent, posts only
quality_monitor_alerts_pending                  gauge      channel (from the database)
quality_monitor_channel_failing                 gauge      channel: 1 while it cannot take posts
                                                           (wrong token, chat not found, no
                                                           right to post; subscribers: how many
                                                           of their chats; from the database)
quality_monitor_stories                         gauge      (from the database)
quality_monitor_source_consecutive_failures     gauge      source (from the database)
quality_monitor_source_last_success_timestamp   gauge      source, seconds (from the database)
quality_monitor_sources_owned                   gauge      sources this replica polls
quality_monitor_replicas                        gauge      live replicas it sees
quality_monitor_info                            gauge      version, replica, mode
==============================================  =========  ================================

Subscribers' private chats (outbox channels ``chat:<id>``) share one channel
label, ``subscribers``: a chat id is a person's, not for a metrics system to
keep, and one series per subscriber would grow without bound.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.errors import MonitorError
from monitor.fetch import Fetcher
from storage.chats import CHAT_PREFIX

if TYPE_CHECKING:
    from monitor.model import FetchResult, PollReport
    from storage.store import Store

log = logging.getLogger("monitor.metrics")

PREFIX = "quality_monitor"
SUBSCRIBERS = "subscribers"  # the channel label of every subscriber's private chat
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)
DELIVERY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


def channel_label(channel_id: str) -> str:
    """The ``channel`` label of an outbox channel: its id, or ``subscribers``
    for a subscriber's private chat."""
    return SUBSCRIBERS if channel_id.startswith(CHAT_PREFIX) else channel_id


class _ByChannel:
    """A metric labelled first by channel, the subscribers' chats folded into
    one label (:func:`channel_label`); callers label it with the channel id."""

    def __init__(self, metric: Counter) -> None:
        self._metric = metric

    def labels(self, channel_id: str, *rest: str) -> Any:
        return self._metric.labels(channel_label(channel_id), *rest)


class Metrics:
    """The metrics of one process and the registry that serves them."""

    def __init__(self, *, replica: str, mode: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            f"{PREFIX}_polls", "Polls of a source by outcome", ["source", "outcome"], registry=r
        )
        self.fetch_seconds = Histogram(
            f"{PREFIX}_fetch_seconds",
            "Time to fetch one page (list or article), retries included",
            ["page", "outcome"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.articles = Counter(
            f"{PREFIX}_articles_seen", "New articles read and stored", ["source"], registry=r
        )
        self.stories = Counter(
            f"{PREFIX}_stories_created", "New stories (events)", ["source"], registry=r
        )
        self.sent = _ByChannel(
            Counter(
                f"{PREFIX}_alerts_sent",
                "Alerts the chat service accepted",
                ["channel", "kind"],
                registry=r,
            )
        )
        self.failed = _ByChannel(
            Counter(f"{PREFIX}_alerts_failed", "Alerts refused for good", ["channel"], registry=r)
        )
        self.deferred = _ByChannel(
            Counter(
                f"{PREFIX}_alerts_deferred", "Sends put off (429, outage)", ["channel"], registry=r
            )
        )
        self.delivery_latency = Histogram(
            f"{PREFIX}_delivery_latency_seconds",
            "From the story's first sighting to its post being accepted",
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.sources_owned = Gauge(
            f"{PREFIX}_sources_owned", "Sources this replica polls", registry=r
        )
        self.replicas = Gauge(f"{PREFIX}_replicas", "Live replicas this one sees", registry=r)
        self.info = Gauge(f"{PREFIX}_info", "Always 1", ["version", "replica", "mode"], registry=r)
        self.info.labels(__version__, replica, mode).set(1)
        from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    def watch(self, store: Store) -> None:
        """Read the database-wide gauges from ``store`` at each scrape."""
        self.registry.register(_StoreCollector(store))

    def observe_poll(self, report: PollReport) -> None:
        self.polls.labels(report.source_id, report.status).inc()
        if report.articles:
            self.articles.labels(report.source_id).inc(report.articles)
        if report.stories:
            self.stories.labels(report.source_id).inc(report.stories)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StoreCollector(Collector):
    """Gauges read from the database when scraped; skipped when it does not answer."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def describe(self) -> list[Any]:
        return []  # unknown until collected: do not query the database at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending = self._store.pending_by_channel()
            held = self._store.held_channels()
            counts = self._store.counts()
            states = self._store.all_source_states()
        except MonitorError as exc:
            log.warning("metrics: the database did not answer: %s", exc)
            return
        family = GaugeMetricFamily(
            f"{PREFIX}_alerts_pending", "Alerts waiting in the outbox", labels=["channel"]
        )
        by_label: dict[str, int] = {}
        for channel, n in pending.items():
            label = channel_label(channel)
            by_label[label] = by_label.get(label, 0) + n
        for label, n in sorted(by_label.items()):
            family.add_metric([label], n)
        yield family
        failing = GaugeMetricFamily(
            f"{PREFIX}_channel_failing",
            "1 while the channel cannot take posts (its alerts wait); for subscribers, "
            "how many of their chats cannot",
            labels=["channel"],
        )
        down: dict[str, int] = {}
        for channel in held:
            down[channel_label(channel)] = down.get(channel_label(channel), 0) + 1
        for label, n in sorted(down.items()):
            failing.add_metric([label], n)
        yield failing
        yield GaugeMetricFamily(f"{PREFIX}_stories", "Stories stored", value=counts["stories"])
        failures = GaugeMetricFamily(
            f"{PREFIX}_source_consecutive_failures",
            "Failed polls in a row",
            labels=["source"],
        )
        success = GaugeMetricFamily(
            f"{PREFIX}_source_last_success_timestamp_seconds",
            "When the source last answered (Unix time)",
            labels=["source"],
        )
        for source_id, state in sorted(states.items()):
            failures.add_metric([source_id], state.consecutive_failures)
            if state.last_success_at is not None:
                success.add_metric([source_id], state.last_success_at.timestamp())
        yield failures
        yield success


class MeasuredFetcher(Fetcher):
    """The fetcher, timing every request into ``quality_monitor_fetch_seconds``.

    Every request goes through :meth:`Fetcher.fetch`; an article page comes
    through :meth:`Fetcher.get` with a URL other than its source's list URL
    (``list_urls``: source id → URL), which labels it ``page="article"``.
    """

    def __init__(
        self, *args: Any, metrics: Metrics, list_urls: Mapping[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics
        self._list_urls = dict(list_urls)

    async def get(self, url: str, *args: Any, **kwargs: Any) -> FetchResult:
        is_list = self._list_urls.get(kwargs.get("source_id", "")) == url
        token = _PAGE.set("list" if is_list else "article")
        try:
            return await super().get(url, *args, **kwargs)
        finally:
            _PAGE.reset(token)

    async def fetch(self, *args: Any, **kwargs: Any) -> FetchResult:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await super().fetch(*args, **kwargs)
            outcome = "not_modified" if result.not_modified else "ok"
            return result
        finally:
            self._metrics.fetch_seconds.labels(_PAGE.get(), outcome).observe(
                time.perf_counter() - started
            )


_PAGE: ContextVar[str] = ContextVar("quality_monitor_fetch_page", default="list")


__all__ = ["CONTENT_TYPE_LATEST", "SUBSCRIBERS", "MeasuredFetcher", "Metrics", "channel_label"]
