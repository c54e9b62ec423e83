"""The bot's command words and button data, read into values. [pure]

What a person types after a command (``/subscribe 四川 政策文件``,
``/latest Sichuan``, ``/search 质量月``, ``/pause main``, ``/resend 42 ops``)
and the callback data the bot's own buttons carry back, parsed here; the
lifecycle, the database and the replies stay in :mod:`notifiers.bot`. Nothing
here does I/O, so each rule is tested directly (``tests/test_commands.py``).

A button's data comes back from the client, which may have made it up: every
field is checked, and anything else is refused with :class:`Refused` (a
:class:`ValueError`). Callback data is limited to 64 bytes by Telegram, hence
:data:`MAX_QUERY_BYTES` for a /search term, which rides in its paging buttons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.names import parse_category, parse_province
from storage.chats import ALL_CHANNELS, ANY

__all__ = [
    "ALL_WORDS",
    "MAX_ID",
    "MAX_OFFSET",
    "MAX_QUERY_BYTES",
    "NOOP",
    "OPERATOR_COMMANDS",
    "PUBLIC_COMMANDS",
    "LatestPage",
    "Refused",
    "Resend",
    "SearchPage",
    "Unsubscribe",
    "Wanted",
    "parse_button",
    "parse_channel",
    "parse_latest",
    "parse_resend",
    "parse_search",
    "parse_subscription",
]

PUBLIC_COMMANDS = (
    ("latest", "最新报道（可加省份，如 /latest 四川）"),
    ("search", "搜索报道：/search 关键词"),
    ("subscribe", "订阅省份或类别：/subscribe 四川 政策文件"),
    ("unsubscribe", "取消订阅"),
    ("sources", "监测来源及其状态"),
    ("status", "运行状态"),
    ("help", "帮助"),
)
OPERATOR_COMMANDS = (
    ("pause", "管理员：暂停频道推送"),
    ("resume", "管理员：恢复频道推送"),
    ("resend", "管理员：重发报道 /resend 报道编号"),
)

ALL_WORDS = frozenset({"all", "*", "全部", "所有", "全国所有"})
MAX_OFFSET = 1_000_000  # stories a list can page through
MAX_QUERY_BYTES = 48  # /search terms ride in the buttons' callback data (64 bytes)
MAX_ID = 2**63 - 1  # the largest row id either database stores
NOOP = "noop"  # the data of the page counter between ◀ and ▶
_STORY_ID = re.compile(r"[0-9]{1,18}")  # 18 digits: an int64 (ASCII only: int() takes ٣ and ²)


class Refused(ValueError):
    """Words or button data a command does not take. ``reason`` is which rule:
    ``usage`` (missing or malformed), ``unknown`` (words it does not know,
    in ``words``) or ``too long``."""

    def __init__(self, reason: Literal["usage", "unknown", "too long"], words: str = "") -> None:
        super().__init__(f"{reason}: {words}" if words else reason)
        self.reason = reason
        self.words = words


# ── /subscribe and /unsubscribe ─────────────────────────────────────────────
# words → codes: monitor/names.py (channel filters in sources.yaml accept the same)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What /subscribe or /unsubscribe asked for."""

    provinces: tuple[str, ...]  # codes, or (ANY,)
    categories: tuple[str, ...]  # categories, or (ANY,)
    everything: bool  # "all"
    unknown: tuple[str, ...]  # words that are neither

    def pairs(self) -> list[tuple[str, str]]:
        """Every (province, category) asked for, in the order written."""
        return [(p, c) for p in self.provinces for c in self.categories]


def parse_subscription(words: Sequence[str]) -> Wanted:
    """``["四川", "广东", "政策文件"]`` → provinces (CN-SC, CN-GD), categories (policy_document)."""
    provinces: list[str] = []
    categories: list[str] = []
    unknown: list[str] = []
    everything = False
    for raw in words:
        for word in re.split(r"[,，、;；]+", raw):
            if not word:
                continue
            if word.lower() in ALL_WORDS:
                everything = True
            elif (category := parse_category(word)) is not None:
                categories.append(category)
            elif (province := parse_province(word)) is not None:
                provinces.append(province)
            else:
                unknown.append(word)
    return Wanted(
        tuple(dict.fromkeys(provinces)) or (ANY,),
        tuple(dict.fromkeys(categories)) or (ANY,),
        everything,
        tuple(unknown),
    )


# ── /latest, /search ────────────────────────────────────────────────────────


def parse_latest(words: Sequence[str]) -> str | None:
    """``/latest [province]``: the province's code, or None for every province.
    Refused (``unknown``) when the words name no province."""
    if not words:
        return None
    text = " ".join(words)
    province = parse_province(text)
    if province is None:
        raise Refused("unknown", text)
    return province


def parse_search(words: Sequence[str]) -> str:
    """``/search TERM``: the term (its words joined by a space). Refused when
    empty (``usage``) or longer than :data:`MAX_QUERY_BYTES` in UTF-8 (``too long``)."""
    term = " ".join(words).strip()
    if not term:
        raise Refused("usage")
    if len(term.encode("utf-8")) > MAX_QUERY_BYTES:
        raise Refused("too long", term)
    return term


# ── operators: /pause, /resume, /resend ─────────────────────────────────────


def parse_channel(words: Sequence[str], known: set[str] | frozenset[str]) -> str:
    """The channel a /pause or /resume names: one of ``known``, or
    :data:`~storage.chats.ALL_CHANNELS` without a word or with ``all``/``*``.
    Refused (``unknown``) otherwise; words after the first are ignored."""
    if not words or words[0].lower() in ALL_WORDS:
        return ALL_CHANNELS
    if words[0] in known:
        return words[0]
    raise Refused("unknown", words[0])


@dataclass(frozen=True, slots=True)
class Resend:
    """``/resend STORY [channel…]``: the story and the channels named (none:
    the channels it was posted to)."""

    story_id: int
    channels: tuple[str, ...]

    def unknown(self, known: set[str] | frozenset[str]) -> list[str]:
        """The channels named that are not in ``known``."""
        return [c for c in self.channels if c not in known]


def parse_resend(words: Sequence[str]) -> Resend:
    """Refused (``usage``) unless the first word is a story number (ASCII digits,
    at most 18: whether that story exists, and is at most :data:`MAX_ID`, is
    for the caller to ask)."""
    if not words or not _STORY_ID.fullmatch(words[0]):
        raise Refused("usage")
    return Resend(int(words[0]), tuple(words[1:]))


# ── buttons: what the bot puts in callback data, and reads back ─────────────


def _offset(text: str) -> int:
    """A page offset; Refused unless 0 ≤ offset ≤ MAX_OFFSET, in ASCII digits."""
    if not re.fullmatch(r"[0-9]{1,20}", text) or int(text) > MAX_OFFSET:
        raise Refused("usage", text)
    return int(text)


@dataclass(frozen=True, slots=True)
class LatestPage:
    """A page of /latest: ``l|<province or ->|<offset>``."""

    province: str | None
    offset: int = 0

    @property
    def data(self) -> str:
        return f"l|{self.province or '-'}|{self.offset}"


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of /search: ``s|<term>|<offset>`` (the term may hold ``|``)."""

    term: str
    offset: int = 0

    @property
    def data(self) -> str:
        return f"s|{self.term}|{self.offset}"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """A cancel button: ``u|<province>|<category>``, or ``u|all`` (both None)."""

    province: str | None
    category: str | None

    @property
    def data(self) -> str:
        if self.province is None or self.category is None:
            return "u|all"
        return f"u|{self.province}|{self.category}"


Button = LatestPage | SearchPage | Unsubscribe


def parse_button(data: str) -> Button | None:
    """The button whose callback data this is; None for data the bot does not
    act on (the page counter, an old button). Refused when it is the bot's kind
    of data but malformed or out of range."""
    kind, sep, rest = data.partition("|")
    if not sep:
        return None
    if kind == "l":
        province, sep, offset = rest.partition("|")
        if not sep:
            raise Refused("usage", data)
        return LatestPage(None if province == "-" else province, _offset(offset))
    if kind == "s":
        term, sep, offset = rest.rpartition("|")
        if not sep:
            raise Refused("usage", data)
        return SearchPage(term, _offset(offset))
    if kind == "u":
        parts = rest.split("|")
        if parts == ["all"]:
            return Unsubscribe(None, None)
        if len(parts) == 2:
            return Unsubscribe(parts[0], parts[1])
        raise Refused("usage", data)
    return None
