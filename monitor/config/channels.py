"""What every channel shares: :class:`ChannelFilter` and :class:`ChannelBase`.

A channel is where alerts go (a Telegram channel, a webhook, a group bot
through Apprise, the console). Each notifier kind declares its own schema
beside its factory, in ``notifiers/<kind>.py``, as a subclass of
:class:`ChannelBase` with a ``kind`` literal; :mod:`monitor.config.root`
joins the registered kinds into the ``channels:`` union.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from monitor.config.values import (
    PROVINCE_PATTERN,
    Crontab,
    FilterTerm,
    Model,
    ProvinceCode,
    SourceId,
)
from monitor.model import Category


def _province_named(value: object) -> object:
    """四川, 四川省, Sichuan, SC → CN-SC: the names the bot's /subscribe takes
    (monitor/names.py); anything else is left for the code check to report."""
    from monitor.names import parse_province

    if isinstance(value, str):
        code = parse_province(value)
        if code is None and not PROVINCE_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is neither a province code (CN-SC, or CN for national) nor a "
                "province name (四川, 四川省, Sichuan)"
            )
        return code or value
    return value


def _category_named(value: object) -> object:
    """政策文件, 发布会, policy_document → the category, as /subscribe reads them."""
    from monitor.names import parse_category

    if isinstance(value, str):
        return parse_category(value) or value
    return value


class ChannelFilter(Model):
    relevant: bool = Field(True, description="only stories the classifier judged relevant")
    provinces: list[Annotated[ProvinceCode, BeforeValidator(_province_named)]] | None = Field(
        None, description="codes (CN-SC) or names as /subscribe takes them (四川, Sichuan)"
    )
    categories: list[Annotated[Category, BeforeValidator(_category_named)]] | None = Field(
        None, description="categories (policy_document) or their Chinese names (政策文件)"
    )
    languages: list[Literal["en", "zh-Hans", "zh-Hant"]] | None = None
    min_score: float = 0.0
    include: list[FilterTerm] = Field(
        default_factory=list,
        description="a story must contain one of these (title, summary or outlet name)",
    )
    exclude: list[FilterTerm] = Field(
        default_factory=list, description="a story containing any of these is left out"
    )


class ChannelBase(Model):
    """The keys of every channel, whatever its kind."""

    kind: str  # each kind's schema narrows it to its name: Literal["telegram"]
    id: SourceId
    filter: ChannelFilter = ChannelFilter()
    enabled: bool = True
    mode: Literal["instant", "digest"] = Field(
        "instant", description="instant: one post per story; digest: one digest per schedule"
    )
    schedule: Crontab = Field(
        "0 9 * * *", description="mode digest: when digests go out (cron, China time)"
    )
    backlog_digest: int = Field(
        30,
        ge=0,
        description="instant: when more posts than this wait (after an outage), they go out "
        "as one digest instead; 0 never",
    )
    on_update: Literal["edit", "follow_up", "none"] = Field(
        "edit",
        description="when another outlet reports a posted story: edit the post (where the "
        "service can), post it again as a follow-up, or do nothing",
    )
    language: Literal["zh-Hans", "en"] = Field(
        "zh-Hans",
        description="the language the channel reads: a story's post shows its best report in "
        "it (title, summary, link), and switches to one when it arrives later",
    )
