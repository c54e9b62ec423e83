"""How this process runs, from the environment: database, tokens, ports.

The only reader of ``MONITOR_*`` and ``TELEGRAM_*`` variables; what is wrong
with them is reported at once, as a :class:`~monitor.errors.ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from monitor.config.values import parse_duration
from monitor.errors import ConfigError, ConfigProblem


@dataclass(frozen=True, slots=True)
class Settings:
    """How this process runs, from the environment. Secrets are SecretStr: never printed."""

    config_path: Path
    db_url: str
    telegram_token: SecretStr | None
    telegram_api_url: str
    http_port: int | None
    log_level: str
    log_format: str
    http_host: str = "127.0.0.1"  # where /, /healthz and /metrics listen
    lease: float = 60.0  # seconds a replica's claim on an outbox row lasts

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[ConfigProblem] = []
        port: int | None = None
        if raw_port := env.get("MONITOR_HTTP_PORT", "").strip():
            try:
                port = int(raw_port)
                if not 0 <= port < 65536:
                    raise ValueError
            except ValueError:
                problems.append(
                    ConfigProblem("environment", None, "MONITOR_HTTP_PORT", "not a port number")
                )
        level = env.get("MONITOR_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(
                ConfigProblem(
                    "environment", None, "MONITOR_LOG_LEVEL", "one of DEBUG, INFO, WARNING, ERROR"
                )
            )
        log_format = env.get("MONITOR_LOG_FORMAT", "text").lower()
        if log_format not in ("text", "json"):
            problems.append(
                ConfigProblem("environment", None, "MONITOR_LOG_FORMAT", "text or json")
            )
        lease = 60.0
        if raw_lease := env.get("MONITOR_LEASE", "").strip():
            try:
                lease = parse_duration(raw_lease)
                if not 5 <= lease <= 3600:
                    raise ValueError
            except ValueError:
                problems.append(
                    ConfigProblem("environment", None, "MONITOR_LEASE", "a duration from 5s to 1h")
                )
        api_url = env.get("TELEGRAM_API_URL", "").strip() or "https://api.telegram.org"
        if urlsplit(api_url).scheme not in ("http", "https"):
            problems.append(
                ConfigProblem("environment", None, "TELEGRAM_API_URL", "must be an http(s) URL")
            )
        if problems:
            raise ConfigError(problems)
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        return cls(
            config_path=Path(env.get("MONITOR_CONFIG", "sources.yaml")),
            db_url=env.get("MONITOR_DB_URL", "").strip() or "sqlite:///data/monitor.db",
            telegram_token=SecretStr(token) if token else None,
            telegram_api_url=api_url.rstrip("/"),
            http_port=port,
            log_level=level,
            log_format=log_format,
            http_host=env.get("MONITOR_HTTP_HOST", "").strip() or "127.0.0.1",
            lease=lease,
        )
