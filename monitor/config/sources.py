"""What every source shares: the defaults, the HTTP client's settings, the
selectors, and :class:`SourceBase`, the keys every kind accepts.

Each kind's own schema is declared beside its parser, in
``monitor/sources/<kind>.py``, as a subclass of :class:`SourceBase` with a
``kind`` literal; :mod:`monitor.config.root` joins the registered kinds into
the ``sources:`` union.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.config.values import (
    Duration,
    Encoding,
    HttpUrl,
    Interval,
    Model,
    PrivateHost,
    ProvinceCode,
    Selector,
    SourceId,
)


class Defaults(Model):
    interval: Interval = Field(1800.0, description="how often each source is polled")
    timeout: Duration = Field(
        20.0, description="connect and read timeout of one request, and its total deadline"
    )
    backlog: int = Field(
        3, ge=0, le=100, description="how many existing items a new source may post on first poll"
    )
    max_articles: int = Field(
        50, ge=1, le=1000, description="new articles read per source per poll; the rest wait"
    )
    jitter: float = Field(
        0.1, ge=0, le=0.5, description="fraction of the interval added at random to each poll"
    )
    max_backoff: Interval = Field(
        21600.0, description="longest wait between polls of a source that keeps failing"
    )
    failing_after: Duration = Field(
        86400.0, description="a source failing for this long is flagged (once) as failing"
    )


class HttpSettings(Model):
    concurrency: int = Field(32, ge=1, le=1000, description="requests in flight overall")
    per_host: int = Field(2, ge=1, le=100, description="requests in flight to one host")
    user_agent: str = Field(
        "quality-monitor/0.1 (+https://github.com/quality-monitor)",
        description="the User-Agent header sent to every site",
    )
    max_bytes: int = Field(10_000_000, ge=10_000, description="largest response read")
    max_redirects: int = Field(5, ge=0, le=20)
    allow_private: list[PrivateHost] = Field(
        default_factory=list,
        description="internal hosts, addresses or networks that links and redirects may reach",
    )


class ListSelectors(Model):
    item: Selector = Field(description="one element per news item")
    link: Selector = Field("a", description="inside the item: the element whose href is the link")
    title: Selector | None = Field(None, description="inside the item: the title (default: link)")
    date: Selector | None = Field(None, description="inside the item: the publication date")


class ArticleSelectors(Model):
    content: Selector | None = Field(None, description="the element holding the article body")
    title: Selector | None = None
    date: Selector | None = None


class SourceBase(Model):
    """The keys of every source, whatever its kind."""

    kind: str  # each kind's schema narrows it to its name: Literal["rss"]
    id: SourceId
    name: str = Field(min_length=1)
    url: HttpUrl
    province: ProvinceCode | None = None
    interval: Interval | None = None
    timeout: Duration | None = None
    backlog: int | None = Field(None, ge=0, le=100)
    max_articles: int | None = Field(None, ge=1, le=1000)
    encoding: Encoding | None = None
    enabled: bool = True
    follow: bool = Field(True, description="fetch each new entry's article page")
    article: ArticleSelectors = ArticleSelectors()
    note: str | None = Field(None, description="free text for people reading the file")
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra request headers (Referer, Accept) for this source"
    )
    render: Literal["http", "browser"] = Field(
        "http", description="browser: fetch through headless Chromium (pip install .[browser])"
    )
    max_pages: int = Field(
        1, ge=1, le=20, description="pages read when every item of the first page is new"
    )
    page_url: str | None = Field(
        None, description="html/json: page n's URL, with {n} (2, 3, …) and {i} (n - 1)"
    )
