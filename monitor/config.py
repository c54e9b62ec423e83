"""``sources.yaml`` and the environment → frozen, validated settings.

This module is the only reader of both. Everything else receives a
:class:`Config` (what to watch and where to post) and a :class:`Settings`
(how this process runs: database, tokens, ports).

Every mistake in the YAML is reported at once, each with its file, line and
field, in a :class:`~monitor.errors.ConfigError`; nothing starts on a bad file.
A value written ``${NAME}`` (or ``${NAME:-default}``) is read from the
environment, so secrets never live in the file.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import soupsieve
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from monitor.errors import ConfigError, ConfigProblem
from monitor.model import Category

# ── value types used in the YAML ────────────────────────────────────────────

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> float:
    """``"30m"`` → 1800.0 seconds. Plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 30s, 15m, 2h or 1d")
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def _interval(seconds: float) -> float:
    if seconds < 10:
        raise ValueError("must be at least 10s: polling faster is impolite to the site")
    if seconds > 7 * 86400:
        raise ValueError("must be at most 7d")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
Interval = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_interval)]

_PROVINCE = re.compile(r"^CN(-[A-Z]{2})?$")


def _province_code(value: str) -> str:
    from monitor.lexicon import load_provinces  # data, cached after the first call

    known = {p.code for p in load_provinces()}
    if not _PROVINCE.match(value) or (value != "CN" and value not in known):
        raise ValueError(
            f"{value!r} is not an ISO 3166-2:CN province code such as CN-SC, or CN for national"
        )
    return value


ProvinceCode = Annotated[str, AfterValidator(_province_code)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r}: only http and https URLs can be polled")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _css_selector(value: str) -> str:
    try:
        soupsieve.compile(value)
    except (soupsieve.SelectorSyntaxError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"bad CSS selector {value!r}: {first}") from None
    return value


Selector = Annotated[str, AfterValidator(_css_selector)]


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    return value


Encoding = Annotated[str, AfterValidator(_encoding)]
SourceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ── sources ─────────────────────────────────────────────────────────────────


class Defaults(_Model):
    interval: Interval = Field(1800.0, description="how often each source is polled")
    timeout: Duration = Field(20.0, description="connect and read timeout of one request")
    backlog: int = Field(
        3, ge=0, le=100, description="how many existing items a new source may post on first poll"
    )
    jitter: float = Field(
        0.1, ge=0, le=0.5, description="fraction of the interval added at random to each poll"
    )


class HttpSettings(_Model):
    concurrency: int = Field(32, ge=1, le=1000, description="requests in flight overall")
    per_host: int = Field(2, ge=1, le=100, description="requests in flight to one host")
    user_agent: str = Field(
        "quality-monitor/0.1 (+https://github.com/quality-monitor)",
        description="the User-Agent header sent to every site",
    )
    max_bytes: int = Field(10_000_000, ge=10_000, description="largest response read")
    max_redirects: int = Field(5, ge=0, le=20)


class ListSelectors(_Model):
    item: Selector = Field(description="one element per news item")
    link: Selector = Field("a", description="inside the item: the element whose href is the link")
    title: Selector | None = Field(None, description="inside the item: the title (default: link)")
    date: Selector | None = Field(None, description="inside the item: the publication date")


class ArticleSelectors(_Model):
    content: Selector | None = Field(None, description="the element holding the article body")
    title: Selector | None = None
    date: Selector | None = None


class _SourceBase(_Model):
    id: SourceId
    name: str = Field(min_length=1)
    url: HttpUrl
    province: ProvinceCode | None = None
    interval: Interval | None = None
    timeout: Duration | None = None
    backlog: int | None = Field(None, ge=0, le=100)
    encoding: Encoding | None = None
    enabled: bool = True
    follow: bool = Field(True, description="fetch each new entry's article page")
    article: ArticleSelectors = ArticleSelectors()
    note: str | None = Field(None, description="free text for people reading the file")


class RssSource(_SourceBase):
    kind: Literal["rss"]


class HtmlSource(_SourceBase):
    kind: Literal["html"]
    list: ListSelectors


SourceConfig = Annotated[RssSource | HtmlSource, Field(discriminator="kind")]


# ── channels ────────────────────────────────────────────────────────────────


class ChannelFilter(_Model):
    relevant: bool = Field(True, description="only stories the classifier judged relevant")
    provinces: list[ProvinceCode] | None = None
    categories: list[Category] | None = None
    languages: list[Literal["en", "zh-Hans", "zh-Hant"]] | None = None
    min_score: float = 0.0


class _ChannelBase(_Model):
    id: SourceId
    filter: ChannelFilter = ChannelFilter()
    enabled: bool = True


class TelegramChannel(_ChannelBase):
    kind: Literal["telegram"]
    chat: str = Field(description='"@channel_name" or a numeric chat id; may be ${ENV}')
    link_preview: bool = False
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        3.0, ge=0, le=600, description="seconds between two posts (Telegram allows ~20 a minute)"
    )


class ConsoleChannel(_ChannelBase):
    kind: Literal["console"]


ChannelConfig = Annotated[TelegramChannel | ConsoleChannel, Field(discriminator="kind")]


class Config(_Model):
    """The whole of ``sources.yaml``, validated."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    http: HttpSettings = HttpSettings()
    sources: list[SourceConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Config:
        for what, items in (("sources", self.sources), ("channels", self.channels)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"duplicate {what[:-1]} id {item.id!r}")
                seen.add(item.id)
        return self

    def source(self, source_id: str) -> RssSource | HtmlSource:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def interval(self, source: RssSource | HtmlSource) -> float:
        return source.interval or self.defaults.interval

    def timeout(self, source: RssSource | HtmlSource) -> float:
        return source.timeout or self.defaults.timeout

    def backlog(self, source: RssSource | HtmlSource) -> int:
        return self.defaults.backlog if source.backlog is None else source.backlog


# ── loading with line numbers ───────────────────────────────────────────────

Path_ = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """Plain safe loading; duplicate keys are found separately on the node tree."""


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[str]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(f"{node.start_mark.line + 1}\x00{key}\x00duplicate key")
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems)


def _substitute_env(
    value: Any, path: Path_, env: Mapping[str, str], missing: list[tuple[Path_, str]]
) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append((path, name))
            return ""

        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute_env(v, (*path, k), env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, (*path, i), env, missing) for i, v in enumerate(value)]
    return value


def _line_for(loc: Path_, lines: dict[Path_, int]) -> tuple[int | None, str]:
    """The line of the deepest known part of a pydantic error location, and a dotted field."""
    path: list[str | int] = []
    best: int | None = lines.get(())
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path.append(part)
            best = lines[candidate]
        # parts that are not in the file (union tags such as 'rss', validator names) are skipped
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return best, field


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``sources.yaml``; raise ConfigError listing every problem."""
    path = Path(path)
    env = os.environ if env is None else env
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(name, None, "", f"cannot read: {exc}")]) from None
    return parse_config(text, name=name, env=env)


def parse_config(text: str, *, name: str = "sources.yaml", env: Mapping[str, str]) -> Config:
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(name, line, "", f"not valid YAML: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(name, 1, "", "the file must be a mapping of keys")])

    lines: dict[Path_, int] = {}
    raw_problems: list[str] = []
    if node is not None:
        _walk(node, (), lines, raw_problems)
    problems = [
        ConfigProblem(name, int(line), key, message)
        for line, key, message in (p.split("\x00") for p in raw_problems)
    ]

    missing: list[tuple[Path_, str]] = []
    data = _substitute_env(data, (), env, missing)
    for where, var in missing:
        line, field = _line_for(where, lines)
        problems.append(ConfigProblem(name, line, field, f"environment variable {var} is not set"))

    problems += _duplicate_ids(data, name, lines)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            line, field = _line_for(loc, lines)
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            elif err["type"] == "missing":
                message = f"missing required key {loc[-1]!r}"
            elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                line, field = _line_for((*loc, "kind"), lines)
                kind = err["input"].get("kind") if isinstance(err["input"], dict) else None
                known = ", ".join(
                    err.get("ctx", {}).get("expected_tags", "").replace("'", "").split(", ")
                )
                message = (
                    f"unknown kind {kind!r} (known: {known})"
                    if kind
                    else f"missing required key 'kind' ({known})"
                )
            elif "Duplicate" in message or "duplicate" in message:
                continue  # reported with its line by _duplicate_ids
            problems.append(ConfigProblem(name, line, field, message))
    else:
        if not problems:
            return config
    problems.sort(key=lambda p: (p.line or 0, p.field))
    raise ConfigError(problems)


def _duplicate_ids(data: dict[str, Any], name: str, lines: dict[Path_, int]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section in ("sources", "channels"):
        items = data.get(section)
        if not isinstance(items, list):
            continue
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item["id"] in first:
                line, field = _line_for((section, i, "id"), lines)
                earlier = lines.get((section, first[item["id"]], "id"))
                problems.append(
                    ConfigProblem(
                        name, line, field, f"duplicate id {item['id']!r} (first at line {earlier})"
                    )
                )
            else:
                first[item["id"]] = i
    return problems


# ── the environment ─────────────────────────────────────────────────────────


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
        )
