"""The Notifier protocol, the registry of notifier kinds, and channel filters.

A notifier speaks to one chat service for one channel. Kinds are registered
by name; the built-ins use the same door, so a new service is one module
that calls :func:`register` plus its schema entry in ``monitor/config.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from monitor.model import Alert


class Notifier(Protocol):
    kind: ClassVar[str]
    supports_edit: ClassVar[bool]
    min_interval: float  # seconds between two posts to one chat

    async def send(self, alert: Alert) -> str:
        """Post the alert; return the service's message id. Raise DeliveryError."""
        ...

    async def edit(self, alert: Alert) -> None:
        """Replace the text of ``alert.message_id``. Raise DeliveryError."""
        ...

    async def aclose(self) -> None: ...


# kind → factory(channel config, settings) → Notifier, or None when it cannot run
# here (a Telegram channel without a token).
Factory = Callable[[Any, Any], "Notifier | None"]
NOTIFIERS: dict[str, Factory] = {}


def register(kind: str) -> Callable[[Factory], Factory]:
    def add(factory: Factory) -> Factory:
        if kind in NOTIFIERS:
            raise ValueError(f"notifier kind {kind!r} is registered twice")
        NOTIFIERS[kind] = factory
        return factory

    return add


def accepts(
    channel_filter: Any,
    *,
    relevant: bool,
    province: str | None,
    category: str,
    language: str,
    score: float,
) -> bool:
    """Whether a channel's filter lets a story through. Pure."""
    f = channel_filter
    if f.relevant and not relevant:
        return False
    if f.provinces is not None and province not in f.provinces:
        return False
    if f.categories is not None and category not in f.categories:
        return False
    if f.languages is not None and language not in f.languages:
        return False
    return score >= f.min_score
