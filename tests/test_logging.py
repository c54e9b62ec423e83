"""Logs: one line per event, JSON with the source or channel id when asked,
and no secret ever printed, tracebacks included."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.cli import _Formatter
from tests.servers.botapi import BotApiServer
from tests.servers.newssite import NewsSite
from tests.test_e2e import write_config

TOKEN = "123456:TEST-token"
PASSWORD = "s3cret-Pass"


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "monitor.test",
        logging.ERROR,
        __file__,
        1,
        message,
        args,
        (type(exc), exc, exc.__traceback__) if exc else None,
    )


def _json(formatter: _Formatter, record: logging.LogRecord) -> dict[str, object]:
    line = formatter.format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_json_lines_carry_the_source_or_channel_and_the_replica() -> None:
    f = _Formatter(json_lines=True, secrets=[], replica="host-1")
    line = _json(f, _record("source %s: HTTP %d", "sc-amr", 500))
    assert line["source"] == "sc-amr" and line["message"] == "source sc-amr: HTTP 500"
    assert line["replica"] == "host-1" and line["level"] == "error"
    assert _json(f, _record("[gd.gov-1] not a readable feed"))["source"] == "gd.gov-1"
    line = _json(f, _record("channel main: story 3 refused"))
    assert line["channel"] == "main" and "source" not in line
    assert "source" not in _json(f, _record("delivered 3, failed 0"))
    record = _record("anything")
    record.source_id = "from-extra"
    assert _json(f, record)["source"] == "from-extra"


def test_secrets_are_removed_from_every_line_and_traceback() -> None:
    for json_lines in (True, False):
        f = _Formatter(json_lines=json_lines, secrets=[TOKEN, PASSWORD, ""], replica="r")
        try:
            raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed")
        except RuntimeError as exc:
            record = _record(
                "url %s, encoded %s, db postgresql://u:%s@h/db",
                f"/bot{TOKEN}/x",
                quote(TOKEN, safe=""),
                PASSWORD,
                exc=exc,
            )
        text = f.format(record)
        assert TOKEN not in text and quote(TOKEN, safe="") not in text and PASSWORD not in text
        assert text.count("***") >= 4
        assert "RuntimeError" in text  # the traceback is kept, without the secret


@pytest.mark.slow
def test_a_run_logs_json_lines_without_the_token_or_the_db_password(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer
) -> None:
    """A real `run --once` at DEBUG with JSON logs: every line parses, each
    source has its lines, and neither the bot token nor the password shows."""
    botapi.fail_next(1, status=400, description="Bad Request: chat not found", method="sendMessage")
    config = write_config(
        tmp_path,
        newssite,
        extra=f"""\
  - id: broken-500
    name: always 500
    kind: rss
    url: {newssite.url}/fault/500
""",
    )
    db = tmp_path / "m.db"
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_URL": botapi.url,
        "MONITOR_DB_URL": f"sqlite:///{db}",
        "MONITOR_LOG_FORMAT": "json",
        "MONITOR_LOG_LEVEL": "DEBUG",
    }
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert botapi.token not in done.stderr and botapi.token not in done.stdout
    assert quote(botapi.token, safe="") not in done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "replica"} <= set(x) for x in lines)
    sources = {x.get("source") for x in lines}
    assert {"site-rss", "site-gbk", "site-mislabelled", "broken-500"} <= sources
    refused = [x for x in lines if x.get("channel") == "main" and x["level"] == "error"]
    assert refused and "chat not found" in refused[0]["message"]


@pytest.mark.slow
def test_the_database_password_is_never_logged(tmp_path: Path) -> None:
    """A PostgreSQL URL with a password that does not answer: the error is
    reported, the password is not."""
    env = {
        **os.environ,
        "MONITOR_DB_URL": (
            f"postgresql+psycopg://someone:{PASSWORD}@127.0.0.1:1/db?connect_timeout=1"
        ),
        "MONITOR_LOG_FORMAT": "json",
    }
    config = write_config(tmp_path, _NoSite())
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "database error" in done.stderr and "127.0.0.1" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


class _NoSite:
    url = "http://127.0.0.1:9"


def test_log_times_are_china_time_with_their_offset() -> None:
    """One convention (monitor/clock.py): ISO 8601 with +08:00, in text and JSON."""
    import re
    from datetime import UTC, datetime

    record = _record("source sc-amr: ok")
    record.created = datetime(2026, 12, 2, 16, 30, 5, tzinfo=UTC).timestamp()
    text = _Formatter(json_lines=False, secrets=[], replica="r").format(record)
    assert text.startswith("2026-12-03T00:30:05+08:00 ERROR   source sc-amr: ok")
    line = _json(_Formatter(json_lines=True, secrets=[], replica="r"), record)
    assert line["time"] == "2026-12-03T00:30:05+08:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", str(line["time"]))


@pytest.mark.slow
def test_credentials_in_source_and_webhook_urls_stay_out_of_the_log(
    tmp_path: Path, newssite: NewsSite, botapi: BotApiServer
) -> None:
    """A source URL with ``user:password@`` and ``?apikey=`` that fails, and a
    webhook URL with credentials that answers 503 (retried, then accepted): the
    failure and retry lines name the URLs, never the credentials."""
    from tests.servers.receiver import Receiver

    with Receiver() as hook:
        hook.answer_next(503, count=2, headers={"Retry-After": "0"})
        port = newssite.url.rsplit(":", 1)[1]
        config = write_config(
            tmp_path,
            newssite,
            extra=f"""\
  - id: keyed
    name: with credentials
    kind: rss
    url: http://bob:SourcePass1@127.0.0.1:{port}/fault/500?apikey=SourceKey99&page=1
""",
            channel=f"""\
  - id: hook
    kind: webhook
    url: http://hookuser:HookPass77@127.0.0.1:{hook.port}/in?token=HookTok55
""",
        )
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": botapi.token,
            "TELEGRAM_API_URL": botapi.url,
            "MONITOR_DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
            "MONITOR_LOG_LEVEL": "DEBUG",
        }
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert hook.requests  # the webhook was really called, with its credentials
    log = done.stderr + done.stdout
    assert "keyed" in log and "fault/500?apikey=***&page=1" in log
    assert "hookuser" not in log and "channel hook" in log and "503" in log
    for secret in ("SourcePass1", "SourceKey99", "HookPass77", "HookTok55"):
        assert secret not in log
