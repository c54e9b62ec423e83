"""compose.yaml, checked without a container engine: the monitor with
PostgreSQL, wired to the image's paths and ports, its environment documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Settings
from storage.store import normalize_db_url
from tests.test_dockerfile import final_stage, image_env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


PASSWORD = "s3cret-from-env"


def _default(value: str) -> str:
    """``${NAME:-default}`` → default, as compose would with NAME unset, and
    ``${NAME:?error}`` (required) → a value as if NAME were set in .env."""
    value = re.sub(r"\$\{\w+:\?[^}]*\}", PASSWORD, value)
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_the_database_password_is_required_not_defaulted() -> None:
    """Unset, compose refuses to start and says why; no silent `monitor` password."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert len(uses) == 2  # the server's and the monitor's URL
    for rest in uses:
        assert rest.startswith(":?") and "README" in rest, rest
    pg = COMPOSE["services"]["postgres"]["environment"]
    assert _default(pg["POSTGRES_PASSWORD"]) == PASSWORD
    url = _default(COMPOSE["services"]["monitor"]["environment"]["MONITOR_DB_URL"])
    assert f":{PASSWORD}@" in url


def test_the_container_time_zone_is_set() -> None:
    env = COMPOSE["services"]["monitor"]["environment"]
    assert _default(env["TZ"]) == image_env()["TZ"]


def test_the_monitor_waits_for_a_healthy_postgres() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "monitor"}
    postgres = services["postgres"]
    assert re.match(r"postgres:\d+", postgres["image"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    monitor = services["monitor"]
    assert monitor["build"] == "."
    assert monitor["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert monitor["stop_signal"] == dict(final_stage())["STOPSIGNAL"] == "SIGTERM"
    assert monitor["stop_grace_period"] == "10s"


def test_the_monitor_uses_postgres_with_the_image_paths_and_port() -> None:
    monitor = COMPOSE["services"]["monitor"]
    env = {k: _default(str(v)) for k, v in monitor["environment"].items()}
    pg = COMPOSE["services"]["postgres"]["environment"]
    url = env["MONITOR_DB_URL"]
    assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
    assert url.endswith("/" + pg["POSTGRES_DB"])
    assert f"//{pg['POSTGRES_USER']}:{_default(pg['POSTGRES_PASSWORD'])}@" in url
    assert normalize_db_url(url) == url
    settings = Settings.from_env(env)  # the environment is valid as given
    assert settings.http_port == int(image_env()["MONITOR_HTTP_PORT"])
    assert settings.http_host == "0.0.0.0" and settings.log_format == "json"
    mounts = [v.split(":") for v in monitor["volumes"]]
    assert ["./sources.yaml", image_env()["MONITOR_CONFIG"], "ro"] in mounts
    assert env["MONITOR_CONFIG"] == image_env()["MONITOR_CONFIG"]
    for port in monitor["ports"]:
        assert port.startswith("127.0.0.1:") and port.endswith(f":{settings.http_port}")


def test_every_variable_in_compose_is_documented() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    names = set(COMPOSE["services"]["monitor"]["environment"]) | set(re.findall(r"\$\{(\w+)", text))
    for name in names - {"POSTGRES_PASSWORD"}:
        assert f"`{name}`" in README, name
    assert "POSTGRES_PASSWORD" in README and "compose.yaml" in README
