"""``quality-monitor``: run | serve | check | suggest | classify | eval | story | digest | health |
migrate.

Exit status: 0 on success (a failing source is reported, not fatal), 2 for an
invalid configuration or command line, 1 when the database cannot be used;
``check --fetch``: 1 when a source or a Telegram channel failed its check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from monitor import __version__, collector
from monitor.clock import iso, shown
from monitor.config import Config, Settings, load_config
from monitor.errors import ConfigError, ConfigProblem, StoreError
from notifiers.redact import redact_url

if TYPE_CHECKING:
    from monitor.dedup import Comparison
    from monitor.model import Story
    from storage import Store

log = logging.getLogger("monitor")

HEALTH_TIMEOUT = 8.0  # seconds `health` waits for /healthz (which waits up to 5 s for the database)


# ── logging ─────────────────────────────────────────────────────────────────


# A log line about one source starts "source <id>:" (or "[<id>]", a SourceError);
# about one channel, "channel <id>:". JSON lines carry those ids as fields.
_ABOUT = re.compile(
    r"^(?:(source|channel) ([a-z0-9][a-z0-9_.-]{0,63}):|\[([a-z0-9][a-z0-9_.-]{0,63})\])"
)


class _Formatter(logging.Formatter):
    """One line per event, text or JSON, with every secret removed.

    Secrets (the bot token, the database password) are cut from the whole
    line, the traceback included, whoever logged them. JSON lines carry
    ``time, level, logger, message`` and, when the event is about one,
    ``source`` or ``channel``, plus this process's ``replica`` and any
    ``extra=`` fields named source_id or channel_id.
    """

    def __init__(self, *, json_lines: bool, secrets: Sequence[str], replica: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s")
        self._json = json_lines
        self._replica = replica
        secrets = [x for x in secrets if x and len(x) >= 4]
        # the URL-encoded form too: a token in a request URL reads 123%3Aabc
        self._secrets = sorted(
            {*secrets, *(quote(x, safe="") for x in secrets)}, key=len, reverse=True
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # China time with its offset, as everything a person reads (monitor/clock.py)
        return iso(datetime.fromtimestamp(record.created, UTC))

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact_url(text)  # credentials written into any URL (sources, webhooks)

    def format(self, record: logging.LogRecord) -> str:
        if not self._json:
            text = super().format(record)
            if "\n" in text and not record.exc_info:
                text = text.replace("\n", " | ")  # a multi-line message stays one line
            return self._clean(text)
        message = self._clean(record.getMessage())
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        about = _ABOUT.match(message)
        source = getattr(record, "source_id", None) or (
            about and (about.group(3) or (about.group(2) if about.group(1) == "source" else None))
        )
        channel = getattr(record, "channel_id", None) or (
            about and about.group(1) == "channel" and about.group(2)
        )
        if source:
            entry["source"] = source
        if channel:
            entry["channel"] = channel
        entry["replica"] = self._replica
        if record.exc_info:
            entry["exception"] = self._clean(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(settings: Settings) -> None:
    handler = _StderrHandler()
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    password = ""
    if "@" in settings.db_url:  # only a server URL carries a password
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        with contextlib.suppress(ArgumentError):  # a bad URL is reported by the store
            password = str(make_url(settings.db_url).password or "")
    handler.setFormatter(
        _Formatter(
            json_lines=settings.log_format == "json",
            secrets=[token, password],
            replica=f"{socket.gethostname()}-{os.getpid()}",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Their INFO lines print request URLs, which for the Bot API contain the token.
    level = logging.getLevelName(settings.log_level)
    for noisy in ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    # python-telegram-bot logs its own view of errors we translate and report ourselves.
    telegram_level = logging.DEBUG if level <= logging.DEBUG else logging.CRITICAL
    logging.getLogger("telegram").setLevel(telegram_level)


# ── commands ────────────────────────────────────────────────────────────────


def _load(settings: Settings) -> Config:
    return load_config(settings.config_path)


def _apprise_problems(config: Config, settings: Settings) -> list[ConfigProblem]:
    """Apprise URLs Apprise does not understand (the YAML cannot tell: they come
    from the environment, and Apprise knows its ~100 schemes)."""
    from notifiers.apprise import AppriseChannel, check_url

    channels = [
        (i, c)
        for i, c in enumerate(config.channels)
        if isinstance(c, AppriseChannel) and c.url.get_secret_value().strip()
    ]
    if not channels:
        return []

    return [
        ConfigProblem(str(settings.config_path), None, f"channels[{i}].url", problem)
        for i, c in channels
        if (problem := check_url(c.url.get_secret_value().strip())) is not None
    ]


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.config import config_warnings

    config = _load(settings)
    if problems := _apprise_problems(config, settings):
        raise ConfigError(problems)
    for warning in config_warnings(settings.config_path):
        print(f"warning: {warning}", file=sys.stderr)
    enabled = [s for s in config.sources if s.enabled]
    print(
        f"{settings.config_path}: OK: {len(config.sources)} sources "
        f"({len(enabled)} enabled), {len(config.channels)} channels"
    )
    if not args.fetch:
        return 0
    from monitor.app import check_channels, check_fetch

    rows = asyncio.run(check_fetch(config, settings))
    width = max((len(r["source"]) for r in rows), default=6)
    # status/entries/newest/list/time/error: this fetch; last ok/fails/flags: what the monitor
    # stored. Dates and times are China time, as the sites show them.
    print(
        f"{'source':<{width}}  {'kind':<6} {'status':<7} {'entries':>7}  {'newest':<10}  "
        f"{'list':<9}  {'time':>6}  {'last ok (China time)':<20}  {'fails':>5}  {'flags':<14}  "
        "error"
    )
    for r in rows:
        fails = "-" if r["failures"] is None else str(r["failures"])
        print(
            f"{r['source']:<{width}}  {r['kind']:<6} {r['status']:<7} {r['entries']:>7}  "
            f"{r['newest'] or '-':<10}  {r['list'] or '-':<9}  {r['seconds']:>5.1f}s  "
            f"{shown(r['last_ok']):<20}  {fails:>5}  {','.join(r['flags']) or '-':<14}  "
            f"{r['error'] or ''}"
        )
    failed = [r["source"] for r in rows if r["status"] == "error"]
    channels = asyncio.run(check_channels(config, settings))
    telegram = [c.id for c in config.channels if c.enabled and c.kind == "telegram"]
    if channels or telegram:
        print()
    for ok, line in channels:
        print(("ok      " if ok else "FAILED  ") + line)
    if telegram and settings.telegram_token is None:
        print(
            f"note    telegram: TELEGRAM_BOT_TOKEN is not set: {', '.join(telegram)} "
            "inactive here (alerts go to the console)"
        )
    broken = [line for ok, line in channels if not ok]
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} sources answered"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; {len(broken)} Telegram checks failed" if broken else "")
        + f" (checked {shown(datetime.now(UTC), seconds=True)})"
    )
    # 0: everything answered; 1: a source or a channel did not; 2: invalid configuration
    return 1 if failed or broken else 0


def cmd_suggest(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import suggest_source
    from monitor.errors import SourceError
    from monitor.suggest import render_yaml

    try:
        found = asyncio.run(suggest_source(args.url, settings))
    except SourceError as exc:
        print(f"{args.url}: {exc.reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found.as_json(), ensure_ascii=False))
    elif found.source:
        print(render_yaml(found), end="")
    for note in found.notes if not args.json else ():
        print(f"note: {note}", file=sys.stderr)
    if not found.source:
        if not args.json:
            print(f"{args.url}: no feed and no list of dated links found", file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import run

    config = _load(settings)
    return asyncio.run(run(config, settings, once=args.once))


def _lexicon(settings: Settings) -> Any:
    """The built-in lexicon, extended by sources.yaml's ``lexicon:`` when the file exists."""
    from monitor.classify import Lexicon

    lexicon = Lexicon.load()
    if settings.config_path.exists():
        lexicon = lexicon.extend(_load(settings).lexicon)
    return lexicon


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.evaluate import classify_document

    lexicon = _lexicon(settings)
    for path in args.paths:
        if path == "-":
            raw = sys.stdin.read()
        else:
            try:
                raw = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
                return 2
        title, _, body = raw.lstrip("\ufeff\n").partition("\n")
        result = classify_document(title, body, lexicon=lexicon)
        print(json.dumps({"path": path, **result}, ensure_ascii=False))
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.evaluate import evaluate, format_report, read_corpus

    try:
        documents = read_corpus(Path(args.corpus))
    except (OSError, ValueError) as exc:
        print(f"{args.corpus}: {exc}", file=sys.stderr)
        return 2
    report = evaluate(documents, _lexicon(settings))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def cmd_story(args: argparse.Namespace, settings: Settings) -> int:
    from storage import Store

    store = Store(settings.db_url)
    try:
        store.migrate()
        story = store.story(args.id)
        if story is None:
            print(f"no story {args.id}", file=sys.stderr)
            return 1
        print(f"story {story.id}: {story.title}")
        print(
            f"  province {story.province or '-'}, category {story.category}, "
            f"language {story.language}"
        )
        print(f"  {story.summary}")
        for a in store.story_articles(story.id):
            why = "lead" if a.match_level is None else f"{a.match_level} ({a.match_reason})"
            print(f"  - [{a.source_id}] {a.title} <{a.url}> {a.language}: {why}")
        if args.near:
            _print_near(store, story)
        return 0
    finally:
        store.close()


NEAR_WINDOW = timedelta(days=90)  # stories stored this long before the story are looked at
NEAR_SHOWN = 5


def _print_near(store: Store, story: Story) -> None:
    """The closest other stories and why each stayed apart (``story ID --near``)."""
    from monitor.dedup import decide
    from monitor.pipeline import load_index

    since = (story.first_seen or datetime.now(UTC)) - NEAR_WINDOW
    index = load_index(store, since)
    closest: dict[int, Comparison] = {}
    dates = index.dates_of(story.id)
    for (fp, province), when in zip(index.articles_of(story.id), dates, strict=True):
        others = [c for c in index.candidates(fp) if c.story_id != story.id]
        for c in decide(fp, province, others, index.rarity, when).comparisons:
            held = closest.get(c.story_id)
            if held is None or c.score > held.score:
                closest[c.story_id] = c
    print("near:")
    if not closest:
        print("  no other story shares an anchor with this one")
        return
    for c in sorted(closest.values(), key=lambda c: (-c.score, c.story_id))[:NEAR_SHOWN]:
        other = store.story(c.story_id)
        title = other.title if other is not None else "?"
        print(f"  - story {c.story_id}: {title}: {c.explain()}")


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    if settings.http_port:
        return _health_endpoint(settings)
    from storage import Store

    _load(settings)
    store = Store(settings.db_url)
    try:
        store.ping()
        revision = store.revision()
    finally:
        store.close()
    print(f"ok: configuration valid, database answers (schema {revision or 'not created yet'})")
    return 0


def _health_endpoint(settings: Settings) -> int:
    """Ask the running process's /healthz (the container's health check)."""
    import urllib.error
    import urllib.request

    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{host}:{settings.http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT) as answer:
            print(f"ok: {url}: {answer.read().decode('utf-8', 'replace').strip()}")
            return 0
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url}: {exc.read().decode('utf-8', 'replace').strip()}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"unhealthy: {url} does not answer: {reason}")
    return 1


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import digest

    return asyncio.run(
        digest(
            _load(settings),
            settings,
            since=args.since,
            channel=args.channel,
            dry_run=args.dry_run,
        )
    )


def _since(value: str) -> float:
    from monitor.config import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be longer than zero")
    return seconds


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import serve

    return serve(_load(settings), settings, host=args.host, port=args.port)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage import Store

    store = Store(settings.db_url)
    try:
        if args.action == "upgrade":
            store.migrate()
        if args.action == "history":
            for rev in store.history():
                marks = [m for m, on in (("current", rev.current), ("head", rev.head)) if on]
                state = "applied" if rev.applied else "pending"
                extra = f" ({', '.join(marks)})" if marks else ""
                print(f"{rev.revision}  {state:<7}  {rev.title}{extra}")
            revision = store.revision()
            if revision is not None and all(r.revision != revision for r in store.history()):
                print(f"the database is at {revision}, newer than this code knows")
            return 0
        revision = store.revision()
        head = store.head_revision()
        note = "" if revision == head else f" (this code's newest is {head})"
        print(f"{store.safe_url}: schema revision {revision or 'none'}{note}")
        return 0
    finally:
        store.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quality-monitor",
        description="Watch Chinese government and media sites for quality-province news.",
    )
    parser.add_argument("--version", action="version", version=f"quality-monitor {__version__}")
    parser.add_argument(
        "-c", "--config", help="sources.yaml to use (default: $MONITOR_CONFIG or sources.yaml)"
    )
    # -c is accepted after the command too (`check -c sources.yaml`); SUPPRESS
    # keeps a -c given before the command when none follows it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help="sources.yaml to use")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run", parents=[common], help="poll every enabled source on its schedule and deliver alerts"
    )
    p.add_argument("--once", action="store_true", help="one pass over all sources, deliver, exit")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "check", parents=[common], help="validate the configuration (exit 2 with every error)"
    )
    p.add_argument("--fetch", action="store_true", help="also fetch each source once and report")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "suggest",
        parents=[common],
        help="fetch a list page and print a ready sources.yaml entry for it",
    )
    p.add_argument("url", metavar="URL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser(
        "classify",
        parents=[common],
        help="classify text files (first line is the title; - for stdin)",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser(
        "eval", parents=[common], help="score the classifier and deduplicator on a labelled corpus"
    )
    p.add_argument("corpus", metavar="CORPUS.jsonl")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "story", parents=[common], help="show a story's articles and why they were grouped"
    )
    p.add_argument("id", type=int)
    p.add_argument(
        "--near",
        action="store_true",
        help="also the closest other stories and why they stayed apart",
    )
    p.set_defaults(func=cmd_story)

    p = sub.add_parser(
        "digest",
        parents=[common],
        help="send (or with --dry-run print) a digest of the stories found lately",
    )
    p.add_argument(
        "--since", type=_since, default=86400.0, help="how far back: 24h (default), 7d, 90m"
    )
    p.add_argument("--channel", metavar="ID", help="only this channel (default: every one)")
    p.add_argument("--dry-run", action="store_true", help="print the digests, send nothing")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the dashboard, /healthz, /readyz and /metrics without polling",
    )
    p.add_argument("--host", help="address to listen on (default: $MONITOR_HTTP_HOST or 127.0.0.1)")
    p.add_argument(
        "--port", type=int, help="port (default: $MONITOR_HTTP_PORT or 8080; 0 picks a free one)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "health",
        parents=[common],
        help="exit 0 when the running process's /healthz answers ok (with MONITOR_HTTP_PORT), "
        "else when the configuration loads and the database answers",
    )
    p.set_defaults(func=cmd_health)

    p = sub.add_parser(
        "migrate",
        parents=[common],
        help="database schema: upgrade (default), current revision, or history",
    )
    p.add_argument(
        "action", nargs="?", choices=["upgrade", "current", "history"], default="upgrade"
    )
    p.set_defaults(func=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # python-telegram-bot 22: opt in to timedelta retry_after now rather than be warned.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.config:
            settings = replace(settings, config_path=Path(args.config))
        setup_logging(settings)
        # The garbage collector is off while the command starts (monitor.collector):
        # `run --once` turns it on when its start-up is done, every other command now.
        if not (args.func is cmd_run and args.once):
            collector.settle()
        return int(args.func(args, settings))
    except ConfigError as exc:
        print(f"configuration error{'s' if len(exc.problems) > 1 else ''}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `quality-monitor eval … | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
