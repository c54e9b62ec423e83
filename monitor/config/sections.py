"""The smaller sections of ``sources.yaml``: ``lexicon:``, ``retention:``, ``dedup:``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from monitor.config.values import Model, parse_duration
from monitor.model import Category


def _term(value: str) -> str:
    if value.startswith("re:"):
        import regex  # the engine that runs them, with a time limit (notifiers.filters)

        try:
            regex.compile(value[3:])
        except regex.error as exc:
            raise ValueError(f"bad regular expression {value[3:]!r}: {exc}") from None
    elif not value.strip():
        raise ValueError("empty term")
    return value


LexiconTerm = Annotated[str, AfterValidator(_term)]


class LexiconExtension(Model):
    """Terms added to the built-in lexicon (``monitor/lexicon/topics.yaml``).

    Plain terms match as written (Chinese in simplified form, English by whole
    words); a term starting with ``re:`` is a regular expression.
    """

    strong: list[LexiconTerm] = Field(
        default_factory=list, description="weight 3: the topic itself"
    )
    medium: list[LexiconTerm] = Field(default_factory=list, description="weight 1.5: related work")
    negative: list[LexiconTerm] = Field(default_factory=list, description="look-alike topics")
    national: list[LexiconTerm] = Field(default_factory=list, description="national bodies, events")
    masks: list[str] = Field(default_factory=list, description="phrases removed before 质量 counts")
    categories: dict[Category, list[LexiconTerm]] = Field(default_factory=dict)


def _keep_for(value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "forever"):
        return None
    seconds = parse_duration(value)
    if seconds < 86400:
        raise ValueError("must be at least 1d (or forever)")
    return seconds


KeepFor = Annotated[float | None, BeforeValidator(_keep_for)]


class Retention(Model):
    """How long stored data is kept; applied once a day by one replica."""

    articles: KeepFor = Field(
        365 * 86400.0,
        description="stories with their articles and alerts, counted from the story's last "
        "article; which entries each source listed, and HTTP validators, are kept twice as long",
    )
    fetch_log: KeepFor = Field(30 * 86400.0, description="the per-poll fetch log")


class DedupSettings(Model):
    mobile_hosts: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]] = Field(
        default_factory=list,
        description="host prefixes (m, wap) whose pages are the same as the main host's",
    )
