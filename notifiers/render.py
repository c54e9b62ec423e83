"""Turn a Story into message text: Telegram HTML, or plain text for a console.

Pure functions, no I/O. Every piece of story text goes through
``html.escape`` before it is put between tags, so nothing a news site writes
can become markup; links are made only for http(s) URLs.

Telegram counts a message's length in UTF-16 code units of the text it
shows (tags removed, entities decoded) and refuses more than 4096; the
shortening here works on the plain fields before they are escaped, so a cut
can never fall inside a tag or an entity.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from monitor.model import CATEGORY_LABELS_ZH, Mention, Story

__all__ = [
    "PROVINCE_LABELS_ZH",
    "TELEGRAM_MAX_UNITS",
    "ProvinceLabel",
    "mention_lines",
    "province_label_zh",
    "render_plain",
    "render_telegram",
    "shorten",
    "telegram_length",
    "utf16_units",
]

TELEGRAM_MAX_UNITS = 4096
ELLIPSIS = "…"

ProvinceLabel = Callable[[str | None], str | None]

# ISO 3166-2:CN (2017 codes) → the short name people write in a hashtag.
PROVINCE_LABELS_ZH: dict[str, str] = {
    "CN": "全国",
    "CN-BJ": "北京",
    "CN-TJ": "天津",
    "CN-HE": "河北",
    "CN-SX": "山西",
    "CN-NM": "内蒙古",
    "CN-LN": "辽宁",
    "CN-JL": "吉林",
    "CN-HL": "黑龙江",
    "CN-SH": "上海",
    "CN-JS": "江苏",
    "CN-ZJ": "浙江",
    "CN-AH": "安徽",
    "CN-FJ": "福建",
    "CN-JX": "江西",
    "CN-SD": "山东",
    "CN-HA": "河南",
    "CN-HB": "湖北",
    "CN-HN": "湖南",
    "CN-GD": "广东",
    "CN-GX": "广西",
    "CN-HI": "海南",
    "CN-CQ": "重庆",
    "CN-SC": "四川",
    "CN-GZ": "贵州",
    "CN-YN": "云南",
    "CN-XZ": "西藏",
    "CN-SN": "陕西",
    "CN-GS": "甘肃",
    "CN-QH": "青海",
    "CN-NX": "宁夏",
    "CN-XJ": "新疆",
    "CN-TW": "台湾",
    "CN-HK": "香港",
    "CN-MO": "澳门",
}

# Dates are shown as the readers of Chinese news sites see them. China has one
# time zone and no daylight saving, so a fixed offset is exact.
_CHINA = timezone(timedelta(hours=8), "CST")

_SENTENCE_ENDS = frozenset("。！？!?")
_LATIN_SENTENCE_ENDS = frozenset(".")  # only before whitespace: "3.5" and "gov.cn" are not ends
_CLOSERS = frozenset("”’」』）)】》\"'")
_SOFT_BREAKS = frozenset("，、；：,;: \n\t")
_HASHTAG_JUNK = re.compile(r"[^\w]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(lt|gt|amp|quot)(?![A-Za-z]));?")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def province_label_zh(code: str | None) -> str | None:
    """The Chinese short name for an ISO 3166-2:CN code (``"CN"`` → 全国), or None."""
    if not code:
        return None
    return PROVINCE_LABELS_ZH.get(code.strip().upper())


def utf16_units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def telegram_length(html_text: str) -> int:
    """Length of Telegram HTML as Telegram counts it.

    Tags are dropped and the entities Telegram knows (``&lt; &gt; &amp; &quot;``
    and numeric ones) decoded, then UTF-16 code units are counted. Meant for
    markup this module produces; it does not validate.
    """
    return utf16_units(_ENTITY.sub(_decode_entity, _TAG.sub("", html_text)))


def _decode_entity(match: re.Match[str]) -> str:
    hex_digits, decimal, name = match.groups()
    if name:
        return _NAMED[name]
    value = int(hex_digits, 16) if hex_digits else int(decimal)
    if value == 0 or value >= 0x10FFFF or len(match.group(0).rstrip(";")) >= 10:
        return match.group(0)  # Telegram leaves it as typed
    return chr(value)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class _Parts:
    """The fields of a message, as plain text, before any markup."""

    hashtags: str
    title: str
    url: str | None
    summary: str
    source: str
    date: str | None
    mentions: tuple[Mention, ...]
    mentions_cut: bool = False


def _clean(text: str, *, single_line: bool) -> str:
    # Lone surrogates (from a mis-decoded page) cannot be encoded for sending.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if single_line:
        return " ".join(text.split())
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _http_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL fit to link, else None."""
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _hashtag(label: str | None) -> str | None:
    # Telegram ends a hashtag at the first character that is not a letter,
    # digit or underscore, so anything else becomes "_".
    if not label:
        return None
    tag = _HASHTAG_JUNK.sub("_", label).strip("_")
    return f"#{tag}" if tag else None


def _date(story: Story) -> str | None:
    when: datetime | None = story.published or story.first_seen
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(_CHINA)
    return when.strftime("%Y-%m-%d")


def _parts(story: Story, province_label: ProvinceLabel) -> _Parts:
    category = CATEGORY_LABELS_ZH.get(story.category, story.category)
    tags = [t for t in (_hashtag(province_label(story.province)), _hashtag(category)) if t]
    url = _http_url(story.url)
    title = _clean(story.title, single_line=True) or url or "（无标题）"
    return _Parts(
        hashtags=" ".join(tags),
        title=title,
        url=url,
        summary=_clean(story.summary, single_line=False),
        source=_clean(story.source_name, single_line=True),
        date=_date(story),
        mentions=tuple(m for m in story.also if m.url != story.url or not story.url),
    )


def _language_note(language: str) -> str:
    # Chinese is the norm here; only other languages are worth pointing out.
    language = language.strip()
    if not language or language.lower().startswith("zh"):
        return ""
    return f" ({language})"


def _mention_name(mention: Mention) -> str:
    name = _clean(mention.source_name, single_line=True)
    if name:
        return name
    url = _http_url(mention.url)
    return urlsplit(url).netloc if url else "?"


# --------------------------------------------------------------------------- HTML


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _link(text: str, url: str | None) -> str:
    if url is None:
        return _esc(text)
    return f'<a href="{html.escape(url, quote=True)}">{_esc(text)}</a>'


def _to_html(parts: _Parts) -> str:
    lines: list[str] = []
    if parts.hashtags:
        lines.append(_esc(parts.hashtags))
    lines.append(f"<b>{_link(parts.title, parts.url)}</b>")
    if parts.summary:
        lines += ["", _esc(parts.summary)]
    lines += ["", _esc(_source_line(parts))]
    if parts.mentions or parts.mentions_cut:
        items = [
            _link(_mention_name(m), _http_url(m.url)) + _esc(_language_note(m.language))
            for m in parts.mentions
        ]
        if parts.mentions_cut:
            items.append(ELLIPSIS)
        lines.append("也见于: " + ", ".join(items))
    return "\n".join(lines)


def _source_line(parts: _Parts) -> str:
    line = f"来源: {parts.source}" if parts.source else "来源: ?"
    return f"{line} · {parts.date}" if parts.date else line


# --------------------------------------------------------------------------- shortening


def _prefix_within(text: str, units: int) -> int:
    """How many code points of ``text`` fit in ``units`` UTF-16 code units."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            return index
    return len(text)


def _is_attached(ch: str) -> bool:
    # Characters that belong to the one before them: cutting before them
    # would split an emoji or an accented letter.
    return (
        ch in "\u200d\ufe0e\ufe0f\u20e3"
        or 0x1F3FB <= ord(ch) <= 0x1F3FF
        or 0xE0020 <= ord(ch) <= 0xE007F
        or unicodedata.category(ch) in ("Mn", "Me")
    )


def _safe_cut(text: str, n: int) -> int:
    while 0 < n < len(text) and (_is_attached(text[n]) or text[n - 1] == "\u200d"):
        n -= 1
    return n


def _sentence_cut(text: str, n: int) -> int | None:
    """The end of the last whole sentence within ``text[:n]``, or None."""
    for i in range(n - 1, -1, -1):
        ch = text[i]
        is_end = ch in _SENTENCE_ENDS or (
            ch in _LATIN_SENTENCE_ENDS and (i + 1 == len(text) or text[i + 1].isspace())
        )
        if is_end:
            end = i + 1
            while end < n and text[end] in _CLOSERS:
                end += 1
            return end
    return None


def shorten(text: str, units: int) -> str:
    """``text`` cut to at most ``units`` UTF-16 code units, ending in "…".

    Prefers the end of a sentence (。！？.!?), then a comma or space, and cuts
    mid-word only when neither keeps at least half of the room. Never splits
    a surrogate pair or an emoji sequence.
    """
    if utf16_units(text) <= units:
        return text
    room = units - utf16_units(ELLIPSIS)
    if room <= 0:
        return ELLIPSIS if units >= utf16_units(ELLIPSIS) else ""
    n = _safe_cut(text, _prefix_within(text, room))
    cut = _sentence_cut(text, n)
    if cut is None or cut < n // 2:
        soft = max((i for i in range(n) if text[i] in _SOFT_BREAKS), default=-1)
        cut = soft if soft >= n // 2 else n
    head = text[:cut].rstrip()
    return head + ELLIPSIS if head else ELLIPSIS


def _fit(parts: _Parts, max_units: int) -> _Parts:
    """Shrink ``parts`` until its HTML fits: summary, title, mentions, source."""
    over = telegram_length(_to_html(parts)) - max_units
    if over <= 0:
        return parts

    if parts.summary:
        keep = utf16_units(parts.summary) - over
        # A stub of a summary says nothing; drop it (and its blank line) instead.
        summary = shorten(parts.summary, keep) if keep >= 20 else ""
        parts = replace(parts, summary=summary)
        over = telegram_length(_to_html(parts)) - max_units
        if over <= 0:
            return parts

    keep = max(utf16_units(parts.title) - over, 1)
    parts = replace(parts, title=shorten(parts.title, keep))
    over = telegram_length(_to_html(parts)) - max_units
    if over <= 0:
        return parts

    if parts.mentions:
        # Keep the longest head of the list that fits (binary search: the
        # length grows with every mention kept).
        def kept(k: int) -> _Parts:
            return replace(parts, mentions=parts.mentions[:k], mentions_cut=k > 0)

        low, high = 0, len(parts.mentions) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if telegram_length(_to_html(kept(middle))) <= max_units:
                low = middle
            else:
                high = middle - 1
        parts = kept(low)
        if telegram_length(_to_html(parts)) <= max_units:
            return parts

    keep = max(utf16_units(parts.source) - over, 1)
    return replace(parts, source=shorten(parts.source, keep), hashtags="")


def render_telegram(
    story: Story,
    *,
    max_units: int = TELEGRAM_MAX_UNITS,
    province_label: ProvinceLabel = province_label_zh,
) -> str:
    """The story as Telegram HTML (``parse_mode=HTML``), at most ``max_units`` long.

    Layout::

        #四川 #新闻发布会
        <b><a href="URL">TITLE</a></b>

        SUMMARY

        来源: SOURCE · YYYY-MM-DD
        也见于: <a href="URL">NAME</a> (en), …

    Length is counted as Telegram counts it (see :func:`telegram_length`);
    when too long the summary is cut at a sentence end with "…", then the
    title, then trailing "也见于" entries are dropped.
    """
    parts = _fit(_parts(story, province_label), max_units)
    rendered = _to_html(parts)
    if telegram_length(rendered) <= max_units:
        return rendered
    # Only a tiny max_units gets here: fall back to the visible text, cut.
    visible = render_plain(story, province_label=province_label)
    return _esc(shorten(visible, max_units))


def render_plain(story: Story, *, province_label: ProvinceLabel = province_label_zh) -> str:
    """The story as plain text (for a console), with URLs written out."""
    parts = _parts(story, province_label)
    lines: list[str] = []
    if parts.hashtags:
        lines.append(parts.hashtags)
    lines.append(parts.title)
    if parts.url:
        lines.append(parts.url)
    if parts.summary:
        lines += ["", parts.summary]
    lines += ["", _source_line(parts)]
    if parts.mentions:
        lines.append("也见于:")
        lines += [_plain_mention(m) for m in parts.mentions]
    return "\n".join(lines)


def _plain_mention(mention: Mention) -> str:
    url = _http_url(mention.url)
    line = f"  - {_mention_name(mention)}{_language_note(mention.language)}"
    return f"{line} {url}" if url else line


def mention_lines(mentions: Sequence[Mention]) -> list[str]:
    """One plain line per mention, as render_plain writes them."""
    return [_plain_mention(m) for m in mentions]
