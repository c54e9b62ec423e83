"""The value types of ``sources.yaml``: durations, URLs, selectors, codes. [pure]

Each is an ``Annotated`` type whose validator says, in words, what is wrong
with a value; the schemas of sources, channels and the other sections are
built from them. :class:`Model` is the base of every section: unknown keys
are refused and a validated section is frozen.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

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

PROVINCE_PATTERN = re.compile(r"^CN(-[A-Z]{2})?$")


def _province_code(value: str) -> str:
    from monitor.lexicon import load_provinces  # data, cached after the first call

    known = {p.code for p in load_provinces()}
    if not PROVINCE_PATTERN.match(value) or (value != "CN" and value not in known):
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
    # soupsieve (and bs4, which it imports) only when a configuration has selectors:
    # a list of feeds has none, and its process then parses no HTML at all.
    import soupsieve

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
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SourceId = Annotated[str, Field(pattern=ID_PATTERN)]


class Model(BaseModel):
    """A section of the file: unknown keys are refused, validated values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*\.?$", re.I)


def _private_host(value: str) -> str:
    try:
        ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        if not _HOST_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a host name, an address or a network such as 10.1.0.0/16"
            ) from None
    return value


PrivateHost = Annotated[str, AfterValidator(_private_host)]


def _dotted(value: str) -> str:
    if not value or any(not part for part in value.split(".")):
        raise ValueError(f"{value!r} is not a dotted path such as data.list or a.*.b")
    return value


DottedPath = Annotated[str, AfterValidator(_dotted)]


def _filter_term(value: str) -> str:
    """A plain term, or ``re:`` and a regular expression (the ``regex`` module's syntax)."""
    if not value.strip():
        raise ValueError("empty term")
    if value.startswith("re:"):
        import regex  # the engine that runs them, with a time limit

        try:
            regex.compile(value[3:])
        except regex.error as exc:
            raise ValueError(f"bad regular expression {value[3:]!r}: {exc}") from None
    return value


FilterTerm = Annotated[str, AfterValidator(_filter_term)]


def _crontab(value: str) -> str:
    from monitor.cron import cron_trigger  # the one reader of schedules (APScheduler)

    try:
        cron_trigger(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a cron schedule such as '0 9 * * *': {exc}") from None
    return value


Crontab = Annotated[str, AfterValidator(_crontab)]
