"""``quality-monitor``: run | check | classify | eval | story | migrate.

Exit status: 0 on success (a failing source is reported, not fatal), 2 for an
invalid configuration or command line, 1 when the database cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.config import Config, Settings, load_config
from monitor.errors import ConfigError, StoreError

log = logging.getLogger("monitor")


# ── logging ─────────────────────────────────────────────────────────────────


class _Redact(logging.Filter):
    """Secrets never reach a log line, whoever logs them."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(settings: Settings) -> None:
    handler = _StderrHandler()
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    handler.addFilter(_Redact([token]))
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


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    config = _load(settings)
    enabled = [s for s in config.sources if s.enabled]
    print(
        f"{settings.config_path}: OK: {len(config.sources)} sources "
        f"({len(enabled)} enabled), {len(config.channels)} channels"
    )
    if not args.fetch:
        return 0
    from monitor.app import check_fetch

    rows = asyncio.run(check_fetch(config, settings))
    width = max((len(r["source"]) for r in rows), default=6)
    print(f"{'source':<{width}}  {'status':<12} {'entries':>7}  {'newest':<10}  {'time':>6}  error")
    for r in rows:
        print(
            f"{r['source']:<{width}}  {r['status']:<12} {r['entries']:>7}  "
            f"{r['newest'] or '-':<10}  {r['seconds']:>5.1f}s  {r['error'] or ''}"
        )
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app import run

    config = _load(settings)
    return asyncio.run(run(config, settings, once=args.once))


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.evaluate import classify_document

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
        result = classify_document(title, body)
        print(json.dumps({"path": path, **result}, ensure_ascii=False))
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.evaluate import evaluate, format_report, read_corpus

    try:
        documents = read_corpus(Path(args.corpus))
    except (OSError, ValueError) as exc:
        print(f"{args.corpus}: {exc}", file=sys.stderr)
        return 2
    report = evaluate(documents)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def cmd_story(args: argparse.Namespace, settings: Settings) -> int:
    from storage import Store

    store = Store(settings.db_url)
    store.migrate()
    story = store.story(args.id)
    if story is None:
        print(f"no story {args.id}", file=sys.stderr)
        return 1
    print(f"story {story.id}: {story.title}")
    print(
        f"  province {story.province or '-'}, category {story.category}, language {story.language}"
    )
    print(f"  {story.summary}")
    for a in store.story_articles(story.id):
        why = "lead" if a["match_level"] is None else f"{a['match_level']} ({a['match_reason']})"
        print(f"  - [{a['source_id']}] {a['title']} <{a['url']}> {a['language']}: {why}")
    return 0


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
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


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage import Store

    store = Store(settings.db_url)
    if args.action == "upgrade":
        store.migrate()
    print(f"{store.safe_url}: schema revision {store.revision() or 'none'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quality-monitor",
        description="Watch Chinese government and media sites for quality-province news.",
    )
    parser.add_argument("--version", action="version", version=f"quality-monitor {__version__}")
    parser.add_argument(
        "-c", "--config", help="sources.yaml to use (default: $MONITOR_CONFIG or sources.yaml)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="poll every enabled source on its schedule and deliver alerts")
    p.add_argument("--once", action="store_true", help="one pass over all sources, deliver, exit")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="validate the configuration (exit 2 with every error)")
    p.add_argument("--fetch", action="store_true", help="also fetch each source once and report")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "classify", help="classify text files (first line is the title; - for stdin)"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("eval", help="score the classifier and deduplicator on a labelled corpus")
    p.add_argument("corpus", metavar="CORPUS.jsonl")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("story", help="show a story's articles and why they were grouped")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_story)

    p = sub.add_parser(
        "health", help="exit 0 when the configuration loads and the database answers"
    )
    p.set_defaults(func=cmd_health)

    p = sub.add_parser(
        "migrate", help="database schema: upgrade (default) or show the current revision"
    )
    p.add_argument("action", nargs="?", choices=["upgrade", "current"], default="upgrade")
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


if __name__ == "__main__":
    raise SystemExit(main())
