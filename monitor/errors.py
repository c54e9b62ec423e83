"""The one exception tree of quality-monitor.

::

    MonitorError
    ├── ConfigError            sources.yaml or the environment is invalid (lists every problem)
    ├── SourceError            something went wrong with one source; carries ``source_id``
    │   ├── FetchError         network, HTTP status, size or time limit, a refused address
    │   ├── ParseError         the feed or list page could not be read
    │   └── ExtractError       an article page gave no usable text
    ├── StoreError             the database refused or is unreachable
    └── DeliveryError          a chat service refused or is unreachable
                               ``permanent`` says whether retrying can help;
                               ``channel`` that the channel itself cannot take
                               posts now (wrong token, chat not found, the bot
                               not allowed to post): not the message's fault

Foreign exceptions (httpx, feedparser, SQLAlchemy, python-telegram-bot) are
translated into these once, at the boundary where they are raised, with the
original chained as ``__cause__``.

A message names URLs (the page that failed, the webhook that refused) but
never their credentials: the messages of these errors, and a configuration
problem as printed, go through :func:`notifiers.redact.redact_url`, since they
end up in logs, the database, the dashboard and the bot's replies.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifiers.redact import redact_url


class MonitorError(Exception):
    """Base of every error quality-monitor raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One mistake in the configuration: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        message = redact_url(self.message)
        return f"{where}: {self.field}: {message}" if self.field else f"{where}: {message}"


class ConfigError(MonitorError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SourceError(MonitorError):
    """An error about one source; the message always starts with its id."""

    def __init__(self, source_id: str, message: str) -> None:
        self.source_id = source_id
        self.reason = message = redact_url(message)
        super().__init__(f"[{source_id}] {message}")


class FetchError(SourceError):
    """``refused``: the fetcher would not make the request (an address it may not
    reach); asking again cannot help."""

    def __init__(
        self, source_id: str, message: str, *, status: int | None = None, refused: bool = False
    ) -> None:
        self.status = status
        self.refused = refused
        super().__init__(source_id, message)


class ParseError(SourceError):
    pass


class ExtractError(SourceError):
    pass


class StoreError(MonitorError):
    pass


class DeliveryError(MonitorError):
    """A send or edit did not go through.

    Three kinds, because each asks for a different reaction: ``permanent`` —
    the service will never take this message (malformed, too long), so it may
    be given up; ``channel`` — the channel cannot take any post until someone
    fixes it (a wrong token, a misspelt chat, the bot removed), so the message
    waits with the ones behind it; neither — try again later (429, 5xx,
    network), after ``retry_after`` seconds when the service said.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        channel: bool = False,
    ) -> None:
        self.permanent = permanent and not channel
        self.retry_after = retry_after
        self.channel = channel
        super().__init__(redact_url(message))
