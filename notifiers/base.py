"""The Notifier protocol, the registry of notifier kinds, and channel filters.

A notifier speaks to one chat service for one channel. A kind is one module: its
schema (a subclass of :class:`~monitor.config.ChannelBase` whose ``kind`` is
a literal) and its factory, registered together with :func:`register`::

    class FooChannel(ChannelBase):
        kind: Literal["foo"]
        url: HttpUrl

    @register(FooChannel, inactive="its url is empty")
    def _foo(channel: FooChannel, settings: Settings, shared: Shared) -> FooNotifier | None: ...

The ``channels:`` union of ``sources.yaml`` (:mod:`monitor.config.root`), its
messages, the docs test and the words said of an inactive channel are made
from what is registered. The built-ins use the same door
(:mod:`notifiers.builtin` lists their modules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar, get_args

from monitor.config.channels import ChannelBase, ChannelFilter
from monitor.config.settings import Settings
from monitor.model import Alert, Story
from notifiers.filters import compile_terms

if TYPE_CHECKING:
    from notifiers.builtin import Shared
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


C = TypeVar("C", bound=ChannelBase)

# kind → factory(channel config, settings, shared) → Notifier, or None when it
# cannot run here (a Telegram channel without a token). ``shared`` holds what
# the notifiers of one process share (notifiers.builtin.Shared: one Telegram
# client and its rate limit for all chats).
Factory = Callable[[C, Settings, "Shared"], "Notifier | None"]
SCHEMAS: dict[str, type[ChannelBase]] = {}
NOTIFIERS: dict[str, Factory[ChannelBase]] = {}
# kind → why a channel of it is inactive when its factory gives None
INACTIVE: dict[str, str] = {}


def register(
    schema: type[C], *, inactive: str = "not configured here"
) -> Callable[[Factory[C]], Factory[C]]:
    """Register a kind: its schema (whose ``kind`` literal names it) and the
    factory that makes its notifier; ``inactive`` says why a channel is left
    out when the factory gives None."""
    kind = kind_of(schema)

    def add(factory: Factory[C]) -> Factory[C]:
        if kind in NOTIFIERS:
            raise ValueError(f"notifier kind {kind!r} is registered twice")
        SCHEMAS[kind] = schema

        def checked(channel: ChannelBase, settings: Settings, shared: Shared) -> Notifier | None:
            if not isinstance(channel, schema):
                raise TypeError(f"a {schema.__name__} expected, not {type(channel).__name__}")
            return factory(channel, settings, shared)

        NOTIFIERS[kind] = checked
        INACTIVE[kind] = inactive
        return factory

    return add


def kind_of(schema: type[ChannelBase]) -> str:
    """The name a schema's ``kind: Literal["…"]`` gives its kind."""
    field = schema.model_fields.get("kind")
    names = get_args(field.annotation) if field is not None else ()
    if len(names) != 1 or not isinstance(names[0], str):
        raise TypeError(f"{schema.__name__}.kind must be a Literal of one name")
    return names[0]


def accepts(
    channel_filter: ChannelFilter,
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
    include, exclude = tuple(f.include), tuple(f.exclude)
    if include and compile_terms(include).find(text) is None:
        return False
    return not (exclude and compile_terms(exclude).find(text) is not None)
