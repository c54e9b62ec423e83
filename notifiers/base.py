"""The Notifier protocol, the registry of notifier kinds, and channel filters.

A notifier speaks to one chat service for one channel. Kinds are registered
by name; the built-ins use the same door, so a new service is one module
that calls :func:`register` plus its schema entry in ``monitor/config.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from monitor.model import Alert, Story
from notifiers.filters import compile_terms

if TYPE_CHECKING:
    from notifiers.render import DigestPart


@dataclass(frozen=True, slots=True)
class Digest:
    """Several stories sent to one channel together (a scheduled digest, or a
    backlog too long to post one by one). Each notifier decides how to split
    it into messages (:meth:`Notifier.render_digest`)."""

    channel_id: str
    heading: str  # e.g. "质量强省摘要 · 09-10 09:00 – 09-11 09:00 · 12 条"
    stories: tuple[Story, ...]


class Notifier(Protocol):
    kind: ClassVar[str]
    supports_edit: ClassVar[bool]
    min_interval: float  # seconds between two posts to one chat

    async def send(self, alert: Alert) -> str:
        """Post the alert; return the service's message id. Raise DeliveryError."""
        ...

    async def edit(self, alert: Alert) -> bool | None:
        """Replace the text of ``alert.message_id``. Raise DeliveryError. False:
        the message already read so, nothing was edited."""
        ...

    def render_digest(self, digest: Digest) -> list[DigestPart]:
        """The digest as this service's messages, each within its limits. Pure."""
        ...

    async def send_digest_part(self, part: DigestPart) -> str:
        """Post one message of a digest; return the service's message id. Raise DeliveryError."""
        ...

    async def aclose(self) -> None: ...


# kind → factory(channel config, settings, shared) → Notifier, or None when it
# cannot run here (a Telegram channel without a token). ``shared`` holds what
# the notifiers of one process share (notifiers.builtin.Shared: one Telegram
# client and its rate limit for all chats).
Factory = Callable[[Any, Any, Any], "Notifier | None"]
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
    text: str = "",
) -> bool:
    """Whether a channel's filter lets a story through. Pure.

    ``text`` is what the filter's ``include`` and ``exclude`` terms are looked
    for in: the story's title, summary and outlet name
    (:func:`notifiers.filters.story_text`).
    """
    f = channel_filter
    if f.relevant and not relevant:
        return False
    if f.provinces is not None and province not in f.provinces:
        return False
    if f.categories is not None and category not in f.categories:
        return False
    if f.languages is not None and language not in f.languages:
        return False
    if score < f.min_score:
        return False
    include: tuple[str, ...] = tuple(getattr(f, "include", ()))
    exclude: tuple[str, ...] = tuple(getattr(f, "exclude", ()))
    if include and compile_terms(include).find(text) is None:
        return False
    return not (exclude and compile_terms(exclude).find(text) is not None)
