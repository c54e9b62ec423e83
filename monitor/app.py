"""Wiring: builds the store, fetcher, notifiers and context from the settings,
and runs one pass or the scheduler. [IO]

:func:`build_fetcher` and :func:`build_context` are the one way a fetcher and
a poll's context are made from a configuration: by ``run``, ``check --fetch``
and ``suggest``, and by the benchmarks and tests that poll as ``run`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from monitor import collector
from monitor.classify import Lexicon
from monitor.config import Config, HttpSettings, Settings, SourceBase
from monitor.config.channels import ChannelFilter
from monitor.dedup import Concepts, StoryIndex
from monitor.errors import ConfigError, ConfigProblem, StoreError
from monitor.fetch import Fetcher
from monitor.metrics import MeasuredFetcher, Metrics
from monitor.pipeline import INDEX_WINDOW, IRRELEVANT_WINDOW, Context, load_index, poll_all
from monitor.retention import apply_retention
from notifiers.base import Notifier
from notifiers.builtin import Shared
from notifiers.deliver import Deliverer
from notifiers.outlets import Outlets, build_outlets
from notifiers.outlets import build_notifiers as _build_notifiers
from storage.replicas import ownership_for
from storage.runner import DbRunner
from storage.store import Store, utcnow

if TYPE_CHECKING:  # the web server (uvicorn) is imported when one is started
    from monitor.web import Status, WebServer

log = logging.getLogger("monitor")

# How long `run --once` waits for a deferred post (429 retry_after, a 5xx
# backoff) before leaving it pending for the next run.
ONCE_MAX_WAIT = 90.0
START_CHECK_TIMEOUT = 5.0  # seconds each Telegram check at start may take
SERVE_PORT = 8080  # `serve` listens here when neither --port nor MONITOR_HTTP_PORT says


def build_notifiers(config: Config, settings: Settings, shared: Shared) -> dict[str, Notifier]:
    """The active channels (notifiers/outlets.py); the console when there is none."""
    return _build_notifiers(config, settings, shared)


def build_fetcher(
    http: HttpSettings,
    *,
    retries: int = 2,
    backoff: float = 0.5,
    metrics: Metrics | None = None,
    sources: Iterable[SourceBase] = (),
) -> Fetcher:
    """The one HTTP client of a process, as the ``http:`` section says. With
    ``metrics``, a :class:`MeasuredFetcher` timing every request, which tells
    the list pages of ``sources`` from their articles."""
    make: Callable[..., Fetcher] = Fetcher
    if metrics is not None:
        make = partial(MeasuredFetcher, metrics=metrics, list_urls={s.id: s.url for s in sources})
    return make(
        concurrency=http.concurrency,
        per_host=http.per_host,
        user_agent=http.user_agent,
        max_bytes=http.max_bytes,
        max_redirects=http.max_redirects,
        allow_private=http.allow_private,
        retries=retries,
        backoff=backoff,
    )


def build_context(
    config: Config,
    *,
    store: Store,
    db: DbRunner,
    fetcher: Fetcher,
    channels: Iterable[tuple[str, ChannelFilter]] = (),
    index: Callable[[], StoryIndex] | None = None,
    replica: str | None = None,
) -> Context:
    """What a poll needs: the configuration's lexicon (the built-in one plus its
    ``lexicon:`` terms) and the concepts, both loaded at the first article, and
    the channels (id, filter) posts are queued for. ``index``: what gives the recent stories
    (:func:`~monitor.pipeline.load_index`), called at the first article to be
    matched; none, an empty index."""
    return Context(
        config=config,
        store=store,
        db=db,
        fetcher=fetcher,
        make_lexicon=lambda: Lexicon.load().extend(config.lexicon),
        make_concepts=Concepts.load,
        channels=list(channels),
        make_index=StoryIndex if index is None else index,
        replica=replica,
    )


def replica_id() -> str:
    """This process's name in claims, logs and the dashboard: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def start_web(
    store: Store,
    config: Config,
    settings: Settings,
    status: Status,
    metrics: Metrics,
    port: int,
    *,
    chosen_by: tuple[str, str] = ("environment", "MONITOR_HTTP_PORT"),
) -> WebServer:
    """The dashboard, /healthz, /readyz and /metrics, in a thread of their own.

    ``chosen_by`` names where the port came from (file and field of the
    error): the environment, ``serve --port`` or ``serve``'s default."""
    from monitor.web import WebApp, WebServer

    try:
        server = WebServer(WebApp(store, config, status, metrics), settings.http_host, port)
    except OSError as exc:
        where = f"cannot listen on {settings.http_host}:{port}: {exc.strerror or exc}"
        raise ConfigError([ConfigProblem(chosen_by[0], None, chosen_by[1], where)]) from exc
    return server.start()


async def run(config: Config, settings: Settings, *, once: bool) -> int:
    # A stop signal can come while the process is still starting (its health
    # endpoint answers before the index is loaded): take it from the first
    # moment, and hand it to the runner once there is one.
    stop_requested = asyncio.Event()
    runners: list[Any] = []

    def request_stop() -> None:
        stop_requested.set()
        for runner in runners:
            runner.stop()

    loop = asyncio.get_running_loop()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, request_stop)
    replica = replica_id()
    store = Store(settings.db_url)
    try:
        store.migrate()
    except StoreError:
        store.close()
        raise
    if once:  # imports, configuration and schema are done: they live as long as the pass
        collector.settle(brief=True)
    db = DbRunner()
    metrics = Metrics(replica=replica, mode="once" if once else "run")
    metrics.watch(store)
    # The channels, subscribers' chats, digests and (for `run`) the bot.
    outlets = build_outlets(
        config,
        settings,
        store=store,
        db=db,
        owner=replica,
        lease=settings.lease,
        metrics=metrics,
        bot=not once,
    )
    # `run --once` serves nothing: no status, no web server (nor their imports).
    status: Status | None = None
    if not once:
        from monitor.web import Status

        status = Status(mode="run", replica=replica)
    web: WebServer | None = None
    # One replica of several polls each source (PostgreSQL advisory locks); `run --once`
    # takes what no running replica holds and is no member of the group.
    ownership = ownership_for(store, replica=replica, member=not once)
    try:
        if settings.http_port is not None and status is not None:
            web = start_web(store, config, settings, status, metrics, settings.http_port)
        async with AsyncExitStack() as stack:
            fetcher = await stack.enter_async_context(
                build_fetcher(config.http, metrics=metrics, sources=config.sources)
            )
            stack.push_async_callback(outlets.aclose)
            await _check_telegram_at_start(outlets)

            # The recent stories: `run` reads them now, before its polls pile up (read
            # while the first round is in flight, the peak was ~30 MB higher:
            # bench.memory); `run --once` at its first new article, if any: a pass
            # that finds nothing new never needs them.
            def recent() -> StoryIndex:  # the windows from now: `run` renews it daily
                now = utcnow()
                return load_index(
                    store, now - INDEX_WINDOW, irrelevant_since=now - IRRELEVANT_WINDOW
                )

            ctx = build_context(
                config,
                store=store,
                db=db,
                fetcher=fetcher,
                channels=outlets.filters,
                index=recent,
                replica=replica,
            )
            if not once:
                await db(lambda: ctx.index)
            deliverer = Deliverer(
                store,
                db,
                outlets.channels,
                configured=outlets.channels.known,
                owner=replica,
                lease=settings.lease,
                metrics=metrics,
                hooks=outlets.hooks,
                on_update={c.id: c.on_update for c in config.channels},
                languages={c.id: c.language for c in config.channels},
            )
            from monitor.scheduler import Runner, cycle_line, every_source_failed, record_poll

            if once:
                enabled = [s for s in config.sources if s.enabled]
                mine = await db(ownership.try_acquire, [s.id for s in enabled])
                if skipped := [s.id for s in enabled if s.id not in mine]:
                    log.warning(
                        "%d sources skipped: a running replica polls them (%s)",
                        len(skipped),
                        ", ".join(skipped[:10]) + (", …" if len(skipped) > 10 else ""),
                    )
                reports = await poll_all([s for s in enabled if s.id in mine], ctx)
                for report in reports:
                    record_poll(report, metrics=metrics)
                await db(ownership.close)
                await db(apply_retention, store, config.retention, owner=replica, now=utcnow())
                try:
                    delivery = await deliverer.drain(max_wait=ONCE_MAX_WAIT)
                finally:
                    await deliverer.release()
                # One line for the whole pass: what was polled, found and sent.
                log.info(
                    "%s, still pending %d%s",
                    cycle_line(
                        reports, delivered=(delivery.sent, delivery.edited, delivery.failed)
                    ),
                    delivery.deferred,
                    "".join(
                        f"; channel {cid} cannot take posts ({why}): its alerts wait for the fix"
                        for cid, why in sorted(delivery.failing.items())
                    ),
                )
                if (hint := every_source_failed(reports)) is not None:
                    log.warning("%s", hint)
                return 0

            assert status is not None  # made above for `run`
            runner = Runner(
                ctx,
                deliverer,
                ownership=ownership,
                replica=replica,
                metrics=metrics,
                status=status,
                lease=settings.lease,
                digests=outlets.digests,
                bot=outlets.bot,
            )
            runners.append(runner)
            if stop_requested.is_set():
                runner.stop()  # asked to stop while starting: start nothing, exit cleanly
            await runner.run()
            return 0
    finally:
        if status is not None:
            status.set_not_ready("stopped")
        if web is not None:
            web.stop()
        await db(ownership.close)  # a replica that stops hands its sources over at once
        db.close()
        store.close()


def serve(config: Config, settings: Settings, *, host: str | None, port: int | None) -> int:
    """``quality-monitor serve``: the dashboard, probes and metrics; no polling, no
    delivery. Stops on SIGINT/SIGTERM."""
    import signal
    import threading

    replica = replica_id()
    store = Store(settings.db_url)
    try:
        store.migrate()
        from monitor.web import Status

        metrics = Metrics(replica=replica, mode="serve")
        metrics.watch(store)
        status = Status(mode="serve", replica=replica)
        if host is not None:
            settings = replace(settings, http_host=host)
        if port is not None:
            chosen, by = port, ("command line", "--port")
        elif settings.http_port is not None:
            chosen, by = settings.http_port, ("environment", "MONITOR_HTTP_PORT")
        else:
            chosen, by = SERVE_PORT, ("command line", f"serve's default port {SERVE_PORT}")
        web = start_web(store, config, settings, status, metrics, chosen, chosen_by=by)
        stop = threading.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
        status.set_ready()
        try:
            stop.wait()
        finally:
            status.set_not_ready("stopping")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            web.stop()
            log.info("stopped")
        return 0
    finally:
        store.close()


async def digest(
    config: Config,
    settings: Settings,
    *,
    since: float,
    channel: str | None,
    dry_run: bool,
    out: Any = None,
) -> int:
    """``quality-monitor digest``: the stories found in the last ``since`` seconds
    that each channel's filter lets through, as one digest per channel, sent now
    (or printed with ``dry_run``). The outbox is not touched: posts and digests
    already queued go out as usual."""
    import sys
    from datetime import timedelta

    from monitor.errors import DeliveryError
    from notifiers.base import Digest
    from notifiers.digest import digest_heading, select_stories, send_digest_now
    from notifiers.render import render_digest_plain
    from storage.chats import ChatStore

    out = sys.stdout if out is None else out
    wanted = [c for c in config.channels if c.enabled and (channel is None or c.id == channel)]
    if channel is not None and not wanted:
        known = ", ".join(c.id for c in config.channels if c.enabled) or "none"
        print(f"no enabled channel {channel!r} (channels: {known})", file=sys.stderr)
        return 2
    store = Store(settings.db_url)
    shared = Shared(settings)
    try:
        store.migrate()
        now = utcnow()
        found = ChatStore(store).stories_since(now - timedelta(seconds=since))
        notifiers = {} if dry_run else _build_notifiers(config, settings, shared, fallback=False)
        failed = 0
        for chosen in wanted:
            stories = select_stories(found, chosen.filter)
            if not stories:
                print(f"channel {chosen.id}: no stories to digest", file=out)
                continue
            heading = digest_heading("scheduled", [s.first_seen or now for s in stories], now)
            item = Digest(chosen.id, heading, tuple(stories))
            if dry_run:
                parts = render_digest_plain(item.stories, item.heading)
                title = f"channel {chosen.id} ({chosen.kind}): {len(stories)} stories"
                print(f"== {title} ==", file=out)
                for part in parts:
                    print(part.text, file=out)
                continue
            notifier = notifiers.get(chosen.id)
            if notifier is None:
                print(f"channel {chosen.id}: inactive here, nothing sent", file=sys.stderr)
                failed += 1
                continue
            try:
                ids = await send_digest_now(notifier, item)
            except DeliveryError as exc:
                print(f"channel {chosen.id}: digest not sent: {exc}", file=sys.stderr)
                failed += 1
                continue
            print(
                f"channel {chosen.id}: digest of {len(stories)} stories sent "
                f"in {len(ids)} messages",
                file=out,
            )
        for notifier in notifiers.values():
            await notifier.aclose()
        return 1 if failed else 0
    finally:
        await shared.aclose()
        store.close()


async def check_channels(config: Config, settings: Settings) -> list[tuple[bool, str]]:
    """The token and each enabled Telegram channel's chat, checked with the Bot
    API (getMe, getChat, getChatMember): one ``(ok, line)`` each; nothing
    without a token or a Telegram channel."""
    from notifiers.telegram import TelegramChannel, TelegramClient, check_telegram

    chats = {
        c.id: c.chat.strip()
        for c in config.channels
        if c.enabled and isinstance(c, TelegramChannel) and c.chat.strip()
    }
    if settings.telegram_token is None or not chats:
        return []
    client = TelegramClient(
        token=settings.telegram_token.get_secret_value(), api_url=settings.telegram_api_url
    )
    try:
        return await check_telegram(client, chats)
    finally:
        await client.aclose()


async def _check_telegram_at_start(outlets: Outlets) -> None:
    """Say at start, one line each, whether the token works and the bot may post
    to each Telegram channel: a mistake shows before the first alert waits."""
    from notifiers.telegram import TelegramNotifier, check_telegram

    chats = {cid: n.chat for cid, n in outlets.notifiers.items() if isinstance(n, TelegramNotifier)}
    client = outlets.shared.telegram() if chats else None
    if client is None:
        return
    for ok, line in await check_telegram(client, chats, timeout=START_CHECK_TIMEOUT):
        if ok:
            log.info("%s", line)
        else:
            log.error("%s", line)


def stored_states(settings: Settings) -> dict[str, Any]:
    """Each source's stored state, or nothing when there is no database to read."""
    from pathlib import Path

    from monitor.errors import StoreError

    sqlite_file = settings.db_url.removeprefix("sqlite:///").split("?")[0]  # ?timeout=S
    if sqlite_file != settings.db_url and not Path(sqlite_file).exists():
        return {}  # `check` never creates a database
    try:
        store = Store(settings.db_url)
        try:
            return dict(store.all_source_states())
        finally:
            store.close()
    except StoreError as exc:  # not migrated yet, or unreachable: the fetch still helps
        log.debug("check --fetch: no stored state: %s", exc)
        return {}


async def suggest_source(url: str, settings: Settings) -> Any:
    """``suggest``: a sources.yaml entry for ``url`` (monitor/suggest.py), fetched with
    the configuration's HTTP settings when it loads, else the defaults (a file with a
    mistake in it must not stop anyone from adding a source)."""
    from monitor.config import load_config
    from monitor.suggest import suggest

    http = HttpSettings()
    if settings.config_path.exists():
        with contextlib.suppress(ConfigError):
            http = load_config(settings.config_path).http
    async with build_fetcher(http, retries=1) as fetcher:
        return await suggest(url, fetcher)


async def check_fetch(config: Config, settings: Settings) -> list[dict[str, Any]]:
    """Fetch and parse each enabled source once; store nothing.

    Each row also carries the source's stored state when the database can be
    read (``last_ok``, ``failures``, ``flags``): what the running monitor saw.
    """
    import asyncio
    import time

    from monitor.clock import CHINA as CHINA_TZ
    from monitor.errors import SourceError
    from monitor.listing import read_listing

    states = stored_states(settings)

    async with build_fetcher(config.http, retries=0) as fetcher:

        async def one(source: SourceBase) -> dict[str, Any]:
            started = time.perf_counter()
            state = states.get(source.id)
            row: dict[str, Any] = {
                "source": source.id,
                "kind": source.kind,
                "status": "ok",
                "entries": 0,
                "list": None,
                "newest": None,
                "error": None,
                "last_ok": state.last_success_at if state else None,
                "failures": state.consecutive_failures if state else None,
                "flags": list(state.health_flags) if state else [],
            }
            try:
                listing = await read_listing(source, fetcher, timeout=config.timeout(source))
                entries = listing.entries
                problems = [*([listing.notice] if listing.notice else []), *listing.warnings]
                if problems:
                    row["error"] = "; ".join(problems)
                row["entries"] = len(entries)
                row["list"] = listing.origin
                newest = max((e.published for e in entries if e.published), default=None)
                # The day as the page shows it: list dates are China time (UTC+8).
                row["newest"] = newest.astimezone(CHINA_TZ).date().isoformat() if newest else None
            except SourceError as exc:
                row["status"], row["error"] = "error", exc.reason
            except Exception as exc:  # report, never crash the table
                row["status"], row["error"] = "error", f"{type(exc).__name__}: {exc}"
            row["seconds"] = time.perf_counter() - started
            return row

        return list(await asyncio.gather(*(one(s) for s in config.sources if s.enabled)))
