"""The whole of ``sources.yaml`` as one model, :class:`Config`, with the kinds
of sources and channels joined from their registries.

A source kind declares its schema beside its parser
(``monitor/sources/<kind>.py``, registered with
:func:`monitor.sources.register`), a notifier kind beside its factory
(``notifiers/<kind>.py``, :func:`notifiers.base.register`). This module loads
the built-in kinds and makes the discriminated unions ``sources:`` and
``channels:`` of what is registered, so that a new kind is one module.

It is imported on first use of :class:`Config` (``monitor.config``'s
``__getattr__``), not with the package: the kinds' modules import their base
classes from ``monitor.config``, which must be complete by then.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, Field, model_validator

from monitor import sources as _source_kinds
from monitor.config.bot import BotSettings
from monitor.config.channels import ChannelBase
from monitor.config.sections import DedupSettings, LexiconExtension, Retention
from monitor.config.sources import Defaults, HttpSettings, SourceBase
from monitor.config.values import Model
from notifiers import base as _notifier_kinds
from notifiers import builtin  # noqa: F401  (registers the built-in notifier kinds)


def _union(schemas: tuple[type[Model], ...]) -> Any:
    """The tagged union of the registered schemas, in registration order."""
    return Annotated[Union[schemas], Field(discriminator="kind")]  # noqa: UP007


SOURCE_KINDS: tuple[type[SourceBase], ...] = tuple(_source_kinds.SCHEMAS.values())
CHANNEL_KINDS: tuple[type[ChannelBase], ...] = tuple(_notifier_kinds.SCHEMAS.values())

if TYPE_CHECKING:
    # What a checker can know of a union made at run time: the keys every kind has.
    SourceConfig = SourceBase
    AnySource = SourceBase
    ChannelConfig = ChannelBase
    AnyChannel = ChannelBase
else:
    SourceConfig = _union(SOURCE_KINDS)
    AnySource = Union[SOURCE_KINDS]  # noqa: UP007
    ChannelConfig = _union(CHANNEL_KINDS)
    AnyChannel = Union[CHANNEL_KINDS]  # noqa: UP007


class Config(Model):
    """The whole of ``sources.yaml``, validated."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    http: HttpSettings = HttpSettings()
    sources: list[SourceConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    lexicon: LexiconExtension | None = None
    dedup: DedupSettings = DedupSettings()
    retention: Retention = Retention()
    bot: BotSettings | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Config:
        for what, items in (("sources", self.sources), ("channels", self.channels)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"duplicate {what[:-1]} id {item.id!r}")
                seen.add(item.id)
        return self

    def channel(self, channel_id: str) -> AnyChannel:
        for c in self.channels:
            if c.id == channel_id:
                return c
        raise KeyError(channel_id)

    def source(self, source_id: str) -> AnySource:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def interval(self, source: AnySource) -> float:
        return source.interval or self.defaults.interval

    def timeout(self, source: AnySource) -> float:
        return source.timeout or self.defaults.timeout

    def backlog(self, source: AnySource) -> int:
        return self.defaults.backlog if source.backlog is None else source.backlog

    def max_articles(self, source: AnySource) -> int:
        return source.max_articles or self.defaults.max_articles


KINDS = {
    "sources": tuple(_source_kinds.SCHEMAS),
    "channels": tuple(_notifier_kinds.SCHEMAS),
}


def models(model: type[BaseModel] = Config) -> Iterator[type[BaseModel]]:
    """Every model inside ``model`` (each kind, each section and what they hold),
    once each, ``model`` itself not included: what the docs test reads."""
    seen: set[type[BaseModel]] = {model}
    stack: list[Any] = [info.annotation for info in model.model_fields.values()]
    while stack:
        kind = stack.pop(0)
        if isinstance(kind, type) and issubclass(kind, BaseModel) and kind not in seen:
            inner: type[BaseModel] = kind
            seen.add(inner)
            yield inner
            stack.extend(info.annotation for info in inner.model_fields.values())
        stack.extend(get_args(kind))


_EVERY: tuple[type[BaseModel], ...] = (Config, *models())
KNOWN_KEYS = tuple(
    sorted({info.alias or name for model in _EVERY for name, info in model.model_fields.items()})
)
