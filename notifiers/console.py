"""Write stories to a text stream (stdout by default): demos and dry runs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, ClassVar, Literal, TextIO

from monitor.config.channels import ChannelBase
from monitor.model import Alert
from notifiers.base import Digest, register
from notifiers.render import DigestPart, mention_lines, render_digest_plain, render_plain

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from notifiers.builtin import Shared

__all__ = ["ConsoleNotifier"]

SEPARATOR = "-" * 60


class ConsoleNotifier:
    """Prints each alert's story as plain text, followed by a separator line."""

    kind: ClassVar[str] = "console"
    supports_edit: ClassVar[bool] = True
    min_interval: float = 0.0

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self._stream = stream

    def __repr__(self) -> str:
        return f"ConsoleNotifier(stream={'stdout' if self._stream is None else self._stream!r})"

    @property
    def stream(self) -> TextIO:
        # Looked up at each call, so redirecting or capturing sys.stdout works.
        return self._stream if self._stream is not None else sys.stdout

    def _write(self, text: str) -> None:
        stream = self.stream
        stream.write(f"{text}\n{SEPARATOR}\n")
        stream.flush()

    async def send(self, alert: Alert) -> str:
        """Print the story; returns ``console-<outbox_id>`` as its message id."""
        self._write(render_plain(alert.story))
        return f"console-{alert.outbox_id}"

    async def edit(self, alert: Alert) -> None:
        """Print an "updated:" block naming the story and where else it was reported."""
        story = alert.story
        lines = [f"updated: {alert.message_id or f'console-{alert.outbox_id}'} {story.title}"]
        if story.also:
            lines.append("也见于:")
            lines += mention_lines(story.also)
        self._write("\n".join(lines))

    def render_digest(self, digest: Digest) -> list[DigestPart]:
        """The digest as one plain-text block (a console has no length limit)."""
        return render_digest_plain(digest.stories, digest.heading)

    async def send_digest_part(self, part: DigestPart) -> str:
        """Print one part of a digest; returns ``console-digest-<first story id>``."""
        self._write(part.text)
        return f"console-digest-{part.story_ids[0] if part.story_ids else 0}"

    async def aclose(self) -> None:
        """Nothing to close; the stream belongs to the caller."""


# ── the kind: its schema in sources.yaml, and its factory ──────────────────


class ConsoleChannel(ChannelBase):
    kind: Literal["console"]


@register(ConsoleChannel)
def _console(channel: ConsoleChannel, settings: Settings, shared: Shared) -> ConsoleNotifier:
    return ConsoleNotifier()
