"""``sources.yaml`` and the environment → frozen, validated settings.

This module is the only reader of both. Everything else receives a
:class:`Config` (what to watch and where to post) and a :class:`Settings`
(how this process runs: database, tokens, ports).

Every mistake in the YAML is reported at once, each with its file, line and
field, in a :class:`~monitor.errors.ConfigError`; nothing starts on a bad file.
A value written ``${NAME}`` (or ``${NAME:-default}``) is read from the
environment, so secrets never live in the file.
"""

from __future__ import annotations

import codecs
import difflib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import soupsieve
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from monitor.errors import ConfigError, ConfigProblem
from monitor.model import Category

# ── value types used in the YAML ────────────────────────────────────────────

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> float:
    """``"30m"`` → 1800.0 seconds. Plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 30s, 15m, 2h or 1d")
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def _interval(seconds: float) -> float:
    if seconds < 10:
        raise ValueError("must be at least 10s: polling faster is impolite to the site")
    if seconds > 7 * 86400:
        raise ValueError("must be at most 7d")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
Interval = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_interval)]

_PROVINCE = re.compile(r"^CN(-[A-Z]{2})?$")


def _province_code(value: str) -> str:
    from monitor.lexicon import load_provinces  # data, cached after the first call

    known = {p.code for p in load_provinces()}
    if not _PROVINCE.match(value) or (value != "CN" and value not in known):
        raise ValueError(
            f"{value!r} is not an ISO 3166-2:CN province code such as CN-SC, or CN for national"
        )
    return value


ProvinceCode = Annotated[str, AfterValidator(_province_code)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r}: only http and https URLs can be polled")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _css_selector(value: str) -> str:
    try:
        soupsieve.compile(value)
    except (soupsieve.SelectorSyntaxError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"bad CSS selector {value!r}: {first}") from None
    return value


Selector = Annotated[str, AfterValidator(_css_selector)]


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    return value


Encoding = Annotated[str, AfterValidator(_encoding)]
_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SourceId = Annotated[str, Field(pattern=_ID_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ── sources ─────────────────────────────────────────────────────────────────


class Defaults(_Model):
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


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*\.?$", re.I)


def _private_host(value: str) -> str:
    try:
        ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        if not _HOST_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a host name, an address or a network such as 10.1.0.0/16"
            ) from None
    return value


PrivateHost = Annotated[str, AfterValidator(_private_host)]


class HttpSettings(_Model):
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


class ListSelectors(_Model):
    item: Selector = Field(description="one element per news item")
    link: Selector = Field("a", description="inside the item: the element whose href is the link")
    title: Selector | None = Field(None, description="inside the item: the title (default: link)")
    date: Selector | None = Field(None, description="inside the item: the publication date")


class ArticleSelectors(_Model):
    content: Selector | None = Field(None, description="the element holding the article body")
    title: Selector | None = None
    date: Selector | None = None


class ItemSelectors(_Model):
    """Inside one record of a CMS list (a JCMS record): the link, title and date."""

    link: Selector = Field("a", description="the element whose href is the link")
    title: Selector | None = Field(None, description="the title (default: the link)")
    date: Selector | None = Field(None, description="the date (default: a date in the record)")


def _dotted(value: str) -> str:
    if not value or any(not part for part in value.split(".")):
        raise ValueError(f"{value!r} is not a dotted path such as data.list or a.*.b")
    return value


DottedPath = Annotated[str, AfterValidator(_dotted)]


class JsonFields(_Model):
    """Where a JSON answer keeps its items and, in each item, the fields of an entry."""

    items: DottedPath = Field(description="dotted path to the list of items; * matches any key")
    title: DottedPath = Field("title", description="the title field (HTML tags are dropped)")
    url: DottedPath | None = Field("url", description="the link field (relative links resolve)")
    url_template: str | None = Field(
        None, description="build the link from fields instead, e.g. https://x/detail/{contId}"
    )
    date: DottedPath | None = Field(None, description="date: text, or epoch seconds/milliseconds")
    summary: DottedPath | None = Field(None, description="text the item carries, if any")
    guid: DottedPath | None = Field(None, description="a stable id field, if any")

    @model_validator(mode="after")
    def _has_link(self) -> JsonFields:
        if not self.url and not self.url_template:
            raise ValueError("give url or url_template")
        return self


class _SourceBase(_Model):
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


class RssSource(_SourceBase):
    kind: Literal["rss"]


class HtmlSource(_SourceBase):
    kind: Literal["html"]
    list: ListSelectors | None = Field(
        None, description="the list's selectors; without them the list is found on the page"
    )


class JcmsSource(_SourceBase):
    """Hanweb JCMS: the column page's records, or its dataproxy.jsp record API."""

    kind: Literal["jcms"]
    columnid: int | None = Field(None, description="default: the N of /col/colN/ in url")
    unitid: int | None = Field(None, description="with webid: read the dataproxy.jsp API")
    webid: int | None = None
    proxy: str = Field("/module/web/jpage/dataproxy.jsp", description="the record API's path")
    records: int = Field(45, ge=1, le=300, description="records asked for per request")
    item: ItemSelectors = ItemSelectors()

    @model_validator(mode="after")
    def _ids(self) -> JcmsSource:
        if (self.unitid is None) != (self.webid is None):
            raise ValueError("give both unitid and webid, or neither (records on the page)")
        if self.unitid is not None and self.columnid is None and "/col/col" not in self.url:
            raise ValueError("columnid is needed when url has no /col/colN/")
        return self


class JpaasSource(_SourceBase):
    """jpaas publish-server (SAMR, CNCA): build/unit JSON whose data.html is the list."""

    kind: Literal["jpaas"]
    webid: str | None = Field(None, description="with pageid and tplsetid: skip the shell page")
    pageid: str | None = None
    tplsetid: str | None = None
    tagid: str = Field("内容区域", description="the page unit holding the list")
    page_size: int = Field(20, ge=1, le=200, description="items asked for")
    list: ListSelectors = ListSelectors(item="li")

    @model_validator(mode="after")
    def _ids(self) -> JpaasSource:
        given = [x is not None for x in (self.webid, self.pageid, self.tplsetid)]
        if any(given) and not all(given):
            raise ValueError("give webid, pageid and tplsetid together, or none (read the shell)")
        return self


class GkmlptSource(_SourceBase):
    """Guangdong's gkmlpt: {site}/gkmlpt/api/all/{column}?page=N&sid=S (JSON)."""

    kind: Literal["gkmlpt"]
    column: int = Field(0, ge=0, description="the gkmlpt category id; 0 lists everything")
    sid: int | None = Field(None, description="the site id some gkmlpt sites require")


class JsonSource(_SourceBase):
    """Any JSON API or search endpoint: where the items are and which fields to read."""

    kind: Literal["json"]
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = Field(None, description="POST: a JSON body")
    form: dict[str, str] | None = Field(None, description="POST: a form body")
    fields: JsonFields


SourceConfig = Annotated[
    RssSource | HtmlSource | JcmsSource | JpaasSource | GkmlptSource | JsonSource,
    Field(discriminator="kind"),
]
AnySource = RssSource | HtmlSource | JcmsSource | JpaasSource | GkmlptSource | JsonSource


# ── channels ────────────────────────────────────────────────────────────────


def _filter_term(value: str) -> str:
    """A plain term, or ``re:`` and a regular expression (the ``regex`` module's syntax)."""
    if not value.strip():
        raise ValueError("empty term")
    if value.startswith("re:"):
        import regex  # the engine that runs them, with a time limit

        try:
            regex.compile(value[3:])
        except regex.error as exc:
            raise ValueError(f"bad regular expression {value[3:]!r}: {exc}") from None
    return value


FilterTerm = Annotated[str, AfterValidator(_filter_term)]


def _province_named(value: object) -> object:
    """四川, 四川省, Sichuan, SC → CN-SC: the names the bot's /subscribe takes
    (monitor/names.py); anything else is left for the code check to report."""
    from monitor.names import parse_province

    if isinstance(value, str):
        code = parse_province(value)
        if code is None and not _PROVINCE.match(value):
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


class ChannelFilter(_Model):
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


def _crontab(value: str) -> str:
    from notifiers.digest import cron_trigger  # the one reader of schedules

    try:
        cron_trigger(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a cron schedule such as '0 9 * * *': {exc}") from None
    return value


Crontab = Annotated[str, AfterValidator(_crontab)]


class _ChannelBase(_Model):
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


class TelegramChannel(_ChannelBase):
    kind: Literal["telegram"]
    chat: str = Field(description='"@channel_name" or a numeric chat id; may be ${ENV}')
    link_preview: bool = False
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        3.0, ge=0, le=600, description="seconds between two posts (Telegram allows ~20 a minute)"
    )


class ConsoleChannel(_ChannelBase):
    kind: Literal["console"]


class WebhookChannel(_ChannelBase):
    """POST each alert as JSON (schema in the README) to a URL of yours."""

    kind: Literal["webhook"]
    url: HttpUrl
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key (${ENV}): signs each body in X-Quality-Monitor-Signature"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    timeout: Duration = Field(10.0, description="connect and read timeout of one request")
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        0.0, ge=0, le=600, description="seconds between two requests"
    )

    @model_validator(mode="after")
    def _empty_secret(self) -> WebhookChannel:
        if self.secret is not None and not self.secret.get_secret_value():
            object.__setattr__(self, "secret", None)  # ${WEBHOOK_SECRET:-} left empty: unsigned
        return self


class AppriseChannel(_ChannelBase):
    """WeCom, DingTalk, Feishu, Slack, Discord, e-mail … through an Apprise URL."""

    kind: Literal["apprise"]
    url: SecretStr = Field(
        description="an Apprise URL (dingtalk://…, wecombot://…, feishu://…); secret: use ${ENV}"
    )
    format: Literal["markdown", "text"] = Field(
        "markdown", description="what the posts are written in; Apprise converts as needed"
    )
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        3.0, ge=0, le=600, description="seconds between two posts (group bots allow ~20 a minute)"
    )


ChannelConfig = Annotated[
    TelegramChannel | ConsoleChannel | WebhookChannel | AppriseChannel,
    Field(discriminator="kind"),
]
AnyChannel = TelegramChannel | ConsoleChannel | WebhookChannel | AppriseChannel


def _operators(value: object) -> object:
    # ``operators: ${TELEGRAM_OPERATORS:-}`` arrives as one string: "123, @name".
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return value


def _operator(value: object) -> int | str:
    if isinstance(value, bool):
        raise ValueError("a Telegram user id (a number) or @username")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", text):
            return text.lower()
    raise ValueError(f"{value!r} is not a Telegram user id (a number) or @username")


Operator = Annotated[int | str, BeforeValidator(_operator)]


class BotSettings(_Model):
    """The bot in private chats: commands, subscriptions, operator commands."""

    enabled: bool = Field(True, description="false keeps the section without running the bot")
    mode: Literal["polling", "webhook"] = Field(
        "polling", description="polling: getUpdates; webhook: Telegram POSTs updates to us"
    )
    webhook_url: HttpUrl | None = Field(
        None, description="webhook: the public https URL Telegram posts updates to"
    )
    listen: str = Field("127.0.0.1", description="webhook: the address to listen on")
    port: int = Field(8443, ge=0, lt=65536, description="webhook: the port to listen on")
    secret: SecretStr | None = Field(
        None, description="webhook: the secret Telegram sends in each request (${ENV})"
    )
    operators: Annotated[list[Operator], BeforeValidator(_operators)] = Field(
        default_factory=list,
        description="who may /pause, /resume and /resend: Telegram user ids or @usernames",
    )
    page_size: int = Field(5, ge=1, le=20, description="stories per page of /latest and /search")
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        1.0, ge=0, le=600, description="seconds between two posts to one subscriber's chat"
    )

    @model_validator(mode="after")
    def _webhook(self) -> BotSettings:
        if self.secret is not None and not self.secret.get_secret_value():
            object.__setattr__(self, "secret", None)
        if self.webhook_url is not None:
            parts = urlsplit(self.webhook_url)
            if parts.scheme == "http" and not _loopback(parts.hostname or ""):
                raise ValueError(
                    f"webhook_url {_show_url(self.webhook_url)!r}: Telegram calls https URLs "
                    "only (http works for a loopback address, with a Bot API server of your own)"
                )
        if self.mode != "webhook":
            return self
        if self.webhook_url is None:
            raise ValueError("mode webhook needs webhook_url (the public URL Telegram calls)")
        if self.secret is None:
            raise ValueError(
                "mode webhook needs secret (such as ${TELEGRAM_WEBHOOK_SECRET}): without it "
                "anyone who can reach the port could send commands as any user"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.secret.get_secret_value()):
            raise ValueError("secret: 1 to 256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return self


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    import ipaddress

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _show_url(url: str) -> str:
    from notifiers.redact import redact_url  # the one way a URL is shown

    return redact_url(url)


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


class LexiconExtension(_Model):
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


class Retention(_Model):
    """How long stored data is kept; applied once a day by one replica."""

    articles: KeepFor = Field(
        365 * 86400.0,
        description="stories with their articles and alerts, counted from the story's last "
        "article; which entries each source listed, and HTTP validators, are kept twice as long",
    )
    fetch_log: KeepFor = Field(30 * 86400.0, description="the per-poll fetch log")


class DedupSettings(_Model):
    mobile_hosts: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]] = Field(
        default_factory=list,
        description="host prefixes (m, wap) whose pages are the same as the main host's",
    )


class Config(_Model):
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


# ── loading with line numbers ───────────────────────────────────────────────

Path_ = tuple[str | int, ...]
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _UniqueKeyLoader(yaml.SafeLoader):
    """Plain safe loading; duplicate keys are found separately on the node tree."""


# libyaml's loader (absent when PyYAML was built without it). Its nodes carry the
# same marks (line, column), so every line number of an error stays exact.
_C_LOADER: Any = getattr(yaml, "CSafeLoader", None)
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``, composed by libyaml when it can be.

    PyYAML's pure-Python scanner and composer cost about 0.4 ms a source (a
    2,000-source file: 0.85 s, and it used to be read twice); libyaml composes
    the same tree ten times faster. Two cases go to the Python composer, so
    that what a user is told stays word for word what it was: a file libyaml
    refuses (PyYAML's messages are the ones ``_yaml_in_words`` rephrases), and a
    file nested deeper than ``_MAX_DEPTH``: libyaml's composer recurses on the C
    stack, and 100,000 nested brackets crash the process instead of raising
    RecursionError. The depth is counted first on libyaml's event stream
    (flat, no recursion; ~2 % of the Python composer's time)."""
    if _C_LOADER is not None:
        try:
            depth = 0
            for event in yaml.parse(text, Loader=_C_LOADER):
                if isinstance(event, _COLLECTION_START):
                    depth += 1
                    if depth > _MAX_DEPTH:
                        break
                elif isinstance(event, _COLLECTION_END):
                    depth -= 1
            else:
                node: yaml.Node | None = yaml.compose(text, Loader=_C_LOADER)
                return node
        except yaml.YAMLError:
            pass  # the Python composer below raises its own words for it
    return yaml.compose(text, Loader=_UniqueKeyLoader)


def _construct(node: yaml.Node) -> Any:
    """The data of a composed tree (what ``yaml.safe_load`` returns), built from
    the nodes already in hand instead of parsing the text a second time."""
    return yaml.constructor.SafeConstructor().construct_document(node)


_MAX_DEPTH = 50  # levels of nesting; a real sources.yaml has fewer than ten
_MAX_VALUES = 100_000  # values once YAML aliases are expanded (a real file: a few thousand)


def _shape_problem(root: yaml.Node) -> tuple[int, str] | None:
    """(line, why) when the node tree cannot be read safely, else None: an alias
    inside the value it names (a loop), nesting too deep, or aliases that expand
    to more values than any configuration has (a "billion laughs")."""
    sizes: dict[int, int] = {}  # id(node) → values under it, aliases expanded
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if key in open_nodes:
            raise _Shape(line, "a YAML alias refers to a value that contains it")
        if depth > _MAX_DEPTH:
            raise _Shape(line, f"values nested more than {_MAX_DEPTH} deep")
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        open_nodes.add(key)
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(key)
        if total > _MAX_VALUES:
            raise _Shape(line, f"YAML aliases expand to more than {_MAX_VALUES:,} values")
        sizes[key] = total
        return total

    try:
        size(root, 0)
    except _Shape as shape:
        return shape.line, shape.why
    return None


class _Shape(Exception):
    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line, self.why = line, why


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[str]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(f"{node.start_mark.line + 1}\x00{key}\x00duplicate key")
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems)


def expand_env(text: str, env: Mapping[str, str], missing: list[str]) -> str:
    """``text`` with each ``${NAME}`` replaced by the environment's value, as a
    shell does (POSIX parameter expansion, the two forms a configuration needs):

    - ``${NAME}``: the value; a name that is not set is appended to ``missing``
      (an empty value is a value);
    - ``${NAME:-default}``: the value, or ``default`` when NAME is unset *or
      empty*; ``default`` may itself hold references (``${A:-${B:-x}}``), which
      are only looked up when the default is used;
    - ``$${``: a literal ``${`` (``$$`` elsewhere, and a ``$`` not followed by
      ``{``, stay as written), so a value can contain the two characters.

    Anything else starting ``${`` (no closing brace, not a name) stays as written.
    """
    value, _ = _expand(text, 0, env, missing, inner=False, use=True)
    return value


def _expand(
    text: str, i: int, env: Mapping[str, str], missing: list[str], *, inner: bool, use: bool
) -> tuple[str, int]:
    """Expand from ``i`` to the end, or (``inner``) to the ``}`` that closes a
    default, whose index is returned; ``use`` False only parses (an unused
    default looks nothing up). Returns (text, index reached)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("${", i):
            name = _ENV_NAME.match(text, i + 2)
            end = name.end() if name else -1
            if name and text.startswith("}", end):
                if use:
                    if name.group() in env:
                        out.append(env[name.group()])
                    else:
                        missing.append(name.group())
                i = end + 1
            elif name and text.startswith(":-", end):
                value = env.get(name.group(), "") if use else ""
                fallback, close = _expand(
                    text, end + 2, env, missing, inner=True, use=use and not value
                )
                if close >= n:  # no closing brace: not a reference after all
                    out.append(text[i : i + 2])
                    i += 2
                    continue
                out.append(value or fallback)
                i = close + 1
            else:
                out.append("${")
                i += 2
        elif inner and text[i] == "}":
            return "".join(out), i
        else:
            out.append(text[i])
            i += 1
    return "".join(out), n


def _substitute_env(
    value: Any, path: Path_, env: Mapping[str, str], missing: list[tuple[Path_, str]]
) -> Any:
    if isinstance(value, str):
        names: list[str] = []
        expanded = expand_env(value, env, names)
        missing += [(path, name) for name in dict.fromkeys(names)]
        return expanded
    if isinstance(value, dict):
        return {k: _substitute_env(v, (*path, k), env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, (*path, i), env, missing) for i, v in enumerate(value)]
    return value


def _line_for(loc: Path_, lines: dict[Path_, int]) -> tuple[int | None, str]:
    """The line of the deepest known part of a pydantic error location, and a dotted field."""
    path: list[str | int] = []
    best: int | None = lines.get(())
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path.append(part)
            best = lines[candidate]
        # parts that are not in the file (union tags such as 'rss', validator names) are skipped
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return best, field


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``sources.yaml``; raise ConfigError listing every problem."""
    path = Path(path)
    env = os.environ if env is None else env
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(name, None, "", f"cannot read: {exc}")]) from None
    return parse_config(text, name=name, env=env)


def parse_config(text: str, *, name: str = "sources.yaml", env: Mapping[str, str]) -> Config:
    try:
        node = _compose(text)
        if node is not None and (shape := _shape_problem(node)) is not None:
            raise ConfigError([ConfigProblem(name, shape[0], "", shape[1])])
        data = _construct(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        message = f"not valid YAML: {_yaml_in_words(problem)}"
        raise ConfigError([ConfigProblem(name, line, "", message)]) from None
    except RecursionError:  # the YAML parser itself recurses per level of nesting
        raise ConfigError(
            [ConfigProblem(name, None, "", f"not valid YAML: nested more than {_MAX_DEPTH} deep")]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(name, 1, "", "the file must be a mapping of keys")])

    lines: dict[Path_, int] = {}
    raw_problems: list[str] = []
    if node is not None:
        _walk(node, (), lines, raw_problems)
    problems = [
        ConfigProblem(name, int(line), key, message)
        for line, key, message in (p.split("\x00") for p in raw_problems)
    ]

    missing: list[tuple[Path_, str]] = []
    data = _substitute_env(data, (), env, missing)
    for where, var in missing:
        line, field = _line_for(where, lines)
        problems.append(ConfigProblem(name, line, field, f"environment variable {var} is not set"))

    problems += _duplicate_ids(data, name, lines)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            line, field = _line_for(loc, lines)
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key" + _did_you_mean(str(loc[-1]), _KNOWN_KEYS)
            elif err["type"] == "missing":
                message = f"missing required key {loc[-1]!r}"
            elif err["type"] == "string_pattern_mismatch":
                pattern = err.get("ctx", {}).get("pattern", "")
                message = _PATTERN_WORDS.get(pattern, message)
                message = f"{message} (got {err['input']!r})"
            elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                line, field = _line_for((*loc, "kind"), lines)
                given = err["input"] if isinstance(err["input"], dict) else {}
                kind = given.get("kind")
                known = ", ".join(_KINDS.get(str(loc[0]), ()))
                if kind:
                    message = f"unknown kind {kind!r} (known: {known})" + _did_you_mean(
                        str(kind), _KINDS.get(str(loc[0]), ())
                    )
                else:
                    message = f"missing required key 'kind' (one of: {known})"
                    unknown = [str(k) for k in given if str(k) not in _KNOWN_KEYS]
                    typo = difflib.get_close_matches("kind", unknown, 1, 0.6)
                    if typo:
                        line, field = _line_for((*loc, typo[0]), lines)
                        message = (
                            f"unknown key {typo[0]!r}: did you mean 'kind'? "
                            f"(kind is required, one of: {known})"
                        )
            elif "Duplicate" in message or "duplicate" in message:
                continue  # reported with its line by _duplicate_ids
            problems.append(ConfigProblem(name, line, field, message))
    else:
        if not problems:
            return config
    problems.sort(key=lambda p: (p.line or 0, p.field))
    raise ConfigError(problems)


# ── mistakes in words ───────────────────────────────────────────────────────
# What the validators and the YAML parser say, said so that someone who has
# never read YAML's grammar or a regular expression knows what to change.


def _kinds(union: Any) -> tuple[str, ...]:
    models = get_args(union)
    return tuple(kind for m in models for kind in get_args(m.model_fields["kind"].annotation))


_KINDS = {"sources": _kinds(AnySource), "channels": _kinds(AnyChannel)}


def _keys_of(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    """Every key a configuration model and the models inside it accept."""
    if model in seen:
        return set()
    seen.add(model)
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        stack = [info.annotation]
        while stack:
            kind = stack.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                keys |= _keys_of(kind, seen)
            stack.extend(get_args(kind))
    return keys


_KNOWN_KEYS = tuple(sorted(_keys_of(Config, set())))

_PATTERN_WORDS = {
    _ID_PATTERN: (
        "an id is lowercase letters, digits, '-', '_' and '.', starting with a letter "
        "or digit, at most 64 characters"
    ),
    r"^[a-z0-9-]+$": "a host prefix is lowercase letters, digits and '-'",
}

# The YAML parser's words → what to do about them.
_YAML_WORDS = (
    (
        "found character '\\t'",
        "a tab character: YAML indents with spaces only; replace the tab with spaces",
    ),
    (
        "mapping values are not allowed here",
        "a key is indented more or less than the keys beside it (indent with spaces; the "
        "keys of one item start in the same column, under its '- '), or a value holds ': ' "
        "(put it in quotes)",
    ),
    (
        "expected <block end>",
        "the indentation does not line up: the keys of one item start in the same column "
        "(after '- ', indented under 'sources:' or 'channels:'), with spaces",
    ),
    (
        "could not find expected ':'",
        "a line is not 'key: value' (a colon is missing, or a value with ': ' or '#' needs quotes)",
    ),
    ("did not find expected key", "a line is not 'key: value' at the indentation expected"),
    ("found unexpected end of stream", "a quote or a bracket is not closed"),
    ("did not find expected ',' or ']'", "a '[' list is not closed with ']'"),
    ("did not find expected ',' or '}'", "a '{' mapping is not closed with '}'"),
)


def _yaml_in_words(problem: str) -> str:
    for words, meaning in _YAML_WORDS:
        if words in problem:
            return f"{meaning} (the YAML parser says: {problem})"
    return problem


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(known), 1, 0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# Keys whose value is a secret: ``secret``, ``token``, ``password``, ``apikey`` and
# their spellings (``api_key``, ``X-Api-Key``, ``access_token``, ``Authorization``).
_SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|pwd|apikey|accesskey|secretkey|privatekey|signature"
    r"|authorization|auth|cookie|credentials?)$"
)


def config_warnings(path: str | Path) -> list[ConfigProblem]:
    """What ``check`` warns about in a file that is valid: secrets written into it.

    A literal value under a secret-looking key (a webhook's ``secret``, a
    header ``Authorization``, a form field ``token``), an Apprise URL written
    out (it holds the service's key), or a URL with a password or key in it
    (see :func:`notifiers.redact.redact_url`). Such a file is a secret itself:
    it gets copied, committed and shown. Values written ``${NAME}`` are fine.
    The messages never repeat the value.
    """
    from notifiers.redact import redact_url

    name = str(path)
    try:
        node = _compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # load_config reports these
    warnings: list[ConfigProblem] = []
    advice = "write it ${NAME} and set NAME in the environment"

    def field(path: Path_) -> str:
        out = ""
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def walk(node: yaml.Node, path: Path_, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i), depth + 1)
        if not isinstance(node, yaml.MappingNode):
            return
        pairs = [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        kind = next((v.value for k, v in pairs if k == "kind" and hasattr(v, "value")), None)
        for key, value in pairs:
            where = (*path, key)
            if not isinstance(value, yaml.ScalarNode):
                walk(value, where, depth + 1)
                continue
            text = str(value.value)
            if "${" in text or value.tag.endswith((":null", ":bool")) or len(text) < 4:
                continue
            line = value.start_mark.line + 1
            plain = re.sub(r"[^a-z0-9]", "", str(key).lower())
            if _SECRET_KEY.search(plain):
                message = f"a secret written in the file: {advice}"
            elif key == "url" and kind == "apprise":
                message = f"an Apprise URL holds the service's key: {advice}"
            elif "://" in text and redact_url(text) != text:
                message = f"a URL with a password or key in it: {advice}"
            else:
                continue
            warnings.append(ConfigProblem(name, line, field(where), message))

    if node is not None:
        walk(node, (), 0)
    return warnings


def _duplicate_ids(data: dict[str, Any], name: str, lines: dict[Path_, int]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section in ("sources", "channels"):
        items = data.get(section)
        if not isinstance(items, list):
            continue
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item["id"] in first:
                line, field = _line_for((section, i, "id"), lines)
                earlier = lines.get((section, first[item["id"]], "id"))
                problems.append(
                    ConfigProblem(
                        name, line, field, f"duplicate id {item['id']!r} (first at line {earlier})"
                    )
                )
            else:
                first[item["id"]] = i
    return problems


# ── the environment ─────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Settings:
    """How this process runs, from the environment. Secrets are SecretStr: never printed."""

    config_path: Path
    db_url: str
    telegram_token: SecretStr | None
    telegram_api_url: str
    http_port: int | None
    log_level: str
    log_format: str
    http_host: str = "127.0.0.1"  # where /, /healthz and /metrics listen
    lease: float = 60.0  # seconds a replica's claim on an outbox row lasts

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[ConfigProblem] = []
        port: int | None = None
        if raw_port := env.get("MONITOR_HTTP_PORT", "").strip():
            try:
                port = int(raw_port)
                if not 0 <= port < 65536:
                    raise ValueError
            except ValueError:
                problems.append(
                    ConfigProblem("environment", None, "MONITOR_HTTP_PORT", "not a port number")
                )
        level = env.get("MONITOR_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(
                ConfigProblem(
                    "environment", None, "MONITOR_LOG_LEVEL", "one of DEBUG, INFO, WARNING, ERROR"
                )
            )
        log_format = env.get("MONITOR_LOG_FORMAT", "text").lower()
        if log_format not in ("text", "json"):
            problems.append(
                ConfigProblem("environment", None, "MONITOR_LOG_FORMAT", "text or json")
            )
        lease = 60.0
        if raw_lease := env.get("MONITOR_LEASE", "").strip():
            try:
                lease = parse_duration(raw_lease)
                if not 5 <= lease <= 3600:
                    raise ValueError
            except ValueError:
                problems.append(
                    ConfigProblem("environment", None, "MONITOR_LEASE", "a duration from 5s to 1h")
                )
        api_url = env.get("TELEGRAM_API_URL", "").strip() or "https://api.telegram.org"
        if urlsplit(api_url).scheme not in ("http", "https"):
            problems.append(
                ConfigProblem("environment", None, "TELEGRAM_API_URL", "must be an http(s) URL")
            )
        if problems:
            raise ConfigError(problems)
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        return cls(
            config_path=Path(env.get("MONITOR_CONFIG", "sources.yaml")),
            db_url=env.get("MONITOR_DB_URL", "").strip() or "sqlite:///data/monitor.db",
            telegram_token=SecretStr(token) if token else None,
            telegram_api_url=api_url.rstrip("/"),
            http_port=port,
            log_level=level,
            log_format=log_format,
            http_host=env.get("MONITOR_HTTP_HOST", "").strip() or "127.0.0.1",
            lease=lease,
        )
