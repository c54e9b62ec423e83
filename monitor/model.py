"""The frozen value types that flow through the pipeline.

One type per stage, in the order the data flows::

    Source ─► FetchResult ─► Entry ─► Article ─► Verdict ─► Story ─► Alert
                                       └─ Fingerprint ─┘ (Processed: one article, ready to store)

and what one poll leaves behind: its :class:`PollReport`, the line of the
fetch log it writes (:class:`PollLine`) and what it taught about the
source's health (:class:`HealthRecord`).

What the dashboard, ``story ID`` and the bot read back about a story: its
articles and why each joined (:class:`StoryArticle`), and its outbox rows
(:class:`AlertStatus`).

ORM rows never travel through the pipeline: ``storage`` turns rows into these
types and back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    POLICY_DOCUMENT = "policy_document"
    PRESS_CONFERENCE = "press_conference"
    MEETING = "meeting"
    CAMPAIGN_EVENT = "campaign_event"
    AWARD_BRAND = "award_brand"
    STATISTICS_REPORT = "statistics_report"
    OTHER = "other"


CATEGORY_LABELS_ZH: dict[str, str] = {
    "policy_document": "政策文件",
    "press_conference": "新闻发布会",
    "meeting": "会议",
    "campaign_event": "主题活动",
    "award_brand": "质量奖与品牌",
    "statistics_report": "统计报告",
    "other": "其他",
}


@dataclass(frozen=True, slots=True, init=False)
class FetchResult:
    """One HTTP response, decoded. ``not_modified`` means a 304: nothing to parse.

    ``text`` and ``encoding`` are what :func:`monitor.fetch.decode` makes of
    ``content`` (given the answer's ``charset`` and the source's ``forced``
    encoding), decoded when first asked for (``text=None``): a feed read from
    its bytes (monitor/sources/rss.py) never needs the text. Built with a
    ``text``, the result is that text and that encoding, as given.
    """

    url: str  # the URL asked for
    final_url: str  # after redirects; the base for relative links
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    not_modified: bool
    elapsed: float
    fetched_at: datetime | None  # when the answer came: the year of a "09-10" list date
    charset: str | None  # the charset the answer's Content-Type declared
    forced: str | None  # the source's configured encoding
    _decoded: tuple[str, str | None] | None = field(compare=False, repr=False)

    def __init__(
        self,
        url: str,
        final_url: str,
        status: int,
        content: bytes = b"",
        text: str | None = "",
        encoding: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        not_modified: bool = False,
        elapsed: float = 0.0,
        fetched_at: datetime | None = None,
        *,
        charset: str | None = None,
        forced: str | None = None,
    ) -> None:
        put = object.__setattr__
        put(self, "url", url)
        put(self, "final_url", final_url)
        put(self, "status", status)
        put(self, "content", content)
        put(self, "etag", etag)
        put(self, "last_modified", last_modified)
        put(self, "not_modified", not_modified)
        put(self, "elapsed", elapsed)
        put(self, "fetched_at", fetched_at)
        put(self, "charset", charset)
        put(self, "forced", forced)
        put(self, "_decoded", None if text is None else (text, encoding))

    @property
    def decoded(self) -> bool:
        """Whether ``text`` and ``encoding`` are known without a decode."""
        return self._decoded is not None

    def _decode(self) -> tuple[str, str | None]:
        if self._decoded is None:
            from monitor.fetch import decode  # imported already by whoever fetched this

            object.__setattr__(
                self, "_decoded", decode(self.content, declared=self.charset, forced=self.forced)
            )
        assert self._decoded is not None
        return self._decoded

    @property
    def text(self) -> str:
        return self._decode()[0]

    @property
    def encoding(self) -> str | None:
        return self._decode()[1]


@dataclass(frozen=True, slots=True)
class Entry:
    """One item found on a feed or list page, before its article page is read."""

    source_id: str
    url: str  # absolute
    title: str
    published: datetime | None = None
    guid: str | None = None
    summary: str = ""  # text the feed itself carries, if any
    content_html: str | None = None  # full article HTML the feed carries, if any


@dataclass(frozen=True, slots=True)
class Article:
    """An article's text, extracted and normalised.

    ``title`` and ``text`` are the normal forms (simplified, annotations and
    junk removed) used by every later step; ``original_title`` keeps what the
    page said, for display.
    """

    source_id: str
    url: str
    canonical_url: str
    title: str
    text: str
    language: str  # en | zh-Hans | zh-Hant
    text_hash: str
    original_title: str = ""
    guid: str | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why the classifier decided what it did: a term, where it was found, its weight."""

    term: str
    where: str  # title | body | source
    weight: float
    kind: str = "topic"  # topic | negative | province | category


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What a policy-document article says about the document itself."""

    numbers: tuple[str, ...] = ()  # 文号, e.g. 川委发〔2023〕13号
    titles: tuple[str, ...] = ()  # 《关于加快建设质量强省的实施意见》, without the brackets
    kind: str | None = None  # 意见 | 通知 | 方案 | 办法 | 规划 | 纲要 | 征求意见稿 | …
    issuers: tuple[str, ...] = ()  # 发文机关, e.g. 省委, 省政府, 四川省市场监督管理局
    dates: tuple[str, ...] = ()  # dates the text mentions, as written (9月11日, September 11)

    def __bool__(self) -> bool:
        return bool(self.numbers or self.titles or self.issuers)


@dataclass(frozen=True, slots=True)
class Verdict:
    relevant: bool
    score: float
    province: str | None  # ISO 3166-2:CN code, "CN" for national, None when unknown
    category: str
    evidence: tuple[Evidence, ...] = ()
    facts: DocumentFacts = DocumentFacts()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the story matcher compares: one per article, stored with it
    (computed by :func:`monitor.dedup.fingerprint`).

    ``concepts`` holds the event concepts found in the text and the identity
    of the documents it reports (``文号:…``, ``文件:…``).
    """

    text_hash: str
    minhash: tuple[int, ...]
    concepts: frozenset[str]
    doc_numbers: frozenset[str]
    language: str
    # What the matcher works out of ``concepts`` (monitor/dedup.py ``_memo``),
    # made at the first comparison and gone with the fingerprint: a check
    # compares one article with dozens, and the recent stories' articles are
    # compared again by the next checks (the story index keeps their
    # fingerprints). Not a field of equality, nor of ``replace``.
    memo: Any = field(default=None, init=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Processed:
    """One article through every pure step, ready to store."""

    entry: Entry
    article: Article
    verdict: Verdict
    summary: str
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class Known:
    """What storage holds of an article about to be stored: the oldest stored
    article with the same canonical URL or the same normalised text."""

    article_id: int
    story_id: int | None  # None: stored without a story (never happens since 0001)
    same_url: bool  # an article at this very canonical URL is stored: this one


@dataclass(frozen=True, slots=True)
class Mention:
    """Another outlet's article attached to a story.

    ``title``, ``summary``, ``published`` and ``score`` are the article's own,
    so that a channel in another language than the lead's can show this
    report instead (:func:`notifiers.render.in_language`).
    """

    source_name: str
    url: str
    language: str
    title: str = ""
    summary: str = ""
    published: datetime | None = None
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Story:
    """One real-world event, as its lead article tells it."""

    id: int
    title: str
    url: str
    summary: str
    province: str | None
    category: str
    language: str
    source_name: str
    published: datetime | None = None
    first_seen: datetime | None = None
    score: float = 0.0
    also: tuple[Mention, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """One story to post to one channel (an outbox row).

    ``message_id`` is set when the story was already posted there and the post
    is to be edited (a later article attached to the story).
    """

    outbox_id: int
    channel_id: str
    story: Story
    message_id: str | None = None
    attempts: int = 0
    extra: dict[str, str] = field(default_factory=dict)


# ── what a poll leaves behind ──────────────────────────────────────────────


@dataclass
class PollReport:
    """What one poll of one source did (``run --once`` prints it, /metrics counts it)."""

    source_id: str
    status: str = "ok"  # ok | not_modified | error
    entries: int = 0
    new: int = 0
    articles: int = 0
    stories: int = 0
    alerts: int = 0
    newest: datetime | None = None
    elapsed: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    answered: bool = False  # the list was fetched (a parse error may still follow)
    dates: list[datetime] = field(default_factory=list)  # of the items found, for health
    pages: int = 0
    origin: str | None = None  # html: the items came from selectors | detection | feed
    notice: str | None = None  # html: the configured selectors gave nothing (see health)


@dataclass(frozen=True, slots=True)
class PollLine:
    """One line of the fetch log: a poll, as the dashboard lists it."""

    started_at: datetime
    status: str  # ok | not_modified | error
    seconds: float
    replica: str | None = None
    entries: int = 0
    new: int = 0
    articles: int = 0
    stories: int = 0
    error: str | None = None

    @classmethod
    def of(cls, report: PollReport, started_at: datetime, replica: str | None) -> PollLine:
        return cls(
            started_at=started_at,
            status=report.status,
            seconds=report.elapsed,
            replica=replica,
            entries=report.entries,
            new=report.new,
            articles=report.articles,
            stories=report.stories,
            error=report.error,
        )


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """What a poll taught about its source's health (``monitor/health.py``
    judges it), as the source's row keeps it."""

    status: str  # the poll's: ok | not_modified | error
    elapsed: float  # seconds the poll took
    failing_since: datetime | None = None
    backoff_until: datetime | None = None  # failing: no poll before then
    cadence_seconds: float | None = None
    usual_entries: float | None = None
    newest_entry_at: datetime | None = None
    flags: Iterable[str] = ()  # stale | failing | selectors
    note: str | None = None
    changed_at: datetime | None = None


# ── what is read back about a story ──────────────────────────────────────


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """One article of a story, as the story's page lists it: ``match_level``
    is None for the story's lead, else how it joined (``match_score``,
    ``match_reason``)."""

    id: int
    source_id: str
    source_name: str
    url: str
    title: str
    language: str
    match_level: str | None = None
    match_score: float | None = None
    match_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """One outbox row of a story: a post or an edit to one channel, and how it went."""

    story_id: int
    channel_id: str
    kind: str  # post | edit
    status: str  # pending | sent | failed | … (notifiers/outbox)
    sent_at: datetime | None = None
    last_error: str | None = None
