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
from datetime import datetime
from urllib.parse import urlsplit

from monitor.clock import CHINA as _CHINA
from monitor.lexicon import province_label
from monitor.model import CATEGORY_LABELS_ZH, Mention, Story

__all__ = [
    "DEFAULT_LANGUAGE",
    "TELEGRAM_MAX_UNITS",
    "DigestPart",
    "ProvinceLabel",
    "apprise_title",
    "digest_groups",
    "in_language",
    "mention_lines",
    "province_label_zh",
    "render_apprise",
    "render_digest_markdown",
    "render_digest_plain",
    "render_digest_telegram",
    "render_plain",
    "render_story_list_telegram",
    "render_telegram",
    "shorten",
    "telegram_length",
    "utf16_units",
]

TELEGRAM_MAX_UNITS = 4096
ELLIPSIS = "…"

ProvinceLabel = Callable[[str | None], str | None]


# Dates are shown as the readers of Chinese news sites see them. China has one
# time zone and no daylight saving, so a fixed offset is exact.

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
    """The Chinese short name for an ISO 3166-2:CN code (``"CN"`` → 全国), or None:
    the lexicon's (:func:`monitor.lexicon.province_label`)."""
    return province_label(code, "zh")


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


# --------------------------------------------------------------------------- language

DEFAULT_LANGUAGE = "zh-Hans"  # a channel's language unless it says so (config/channels.py)


def _primary(language: str) -> str:
    return language.strip().lower().partition("-")[0]


def in_language(story: Story, language: str) -> Story:
    """The story as its best report in ``language`` tells it. Pure.

    A story is stored as its lead, the first report that arrived, whatever its
    language; a channel reads one. When the lead is in the channel's language
    (``zh-Hans`` takes ``zh-Hant`` too: its text is normalised to simplified)
    the story is returned as it is. Otherwise the attached report in that
    language with the highest relevance score (an exact language first, the
    earliest of equals) gives the title, link, summary, outlet and date, and
    the lead joins the other outlets under "也见于". With no report in the
    language the story is unchanged. Applied at every send, so the edit that
    follows a report in the channel's language switches the post to it.
    """
    want = _primary(language)
    if not want or _primary(story.language) == want:
        return story
    candidates = [
        (m.language.lower() != language.lower(), -m.score, index)
        for index, m in enumerate(story.also)
        if _primary(m.language) == want and m.title.strip()
    ]
    if not candidates:
        return story
    chosen = story.also[min(candidates)[2]]
    lead = Mention(
        story.source_name,
        story.url,
        story.language,
        title=story.title,
        summary=story.summary,
        published=story.published,
        score=story.score,
    )
    return replace(
        story,
        title=chosen.title,
        url=chosen.url,
        summary=chosen.summary,
        language=chosen.language,
        source_name=chosen.source_name,
        published=chosen.published or story.published,
        also=(lead, *(m for m in story.also if m is not chosen)),
    )


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
    # An undated article shows no date: the day it was found would read as the
    # day it was published (the dashboard shows when it was first seen).
    when: datetime | None = story.published
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


# --------------------------------------------------------------------------- digests


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One message of a digest: its text and the stories it lists."""

    text: str
    story_ids: tuple[int, ...]


DIGEST_TITLE_UNITS = 120  # a title longer than this is shortened in a digest line
DIGEST_SOURCE_UNITS = 30
_NO_PROVINCE = "其他"  # stories whose province is unknown


def digest_groups(
    stories: Sequence[Story], province_label: ProvinceLabel = province_label_zh
) -> list[tuple[str, list[Story]]]:
    """Stories grouped by province: (label, stories), most stories first.

    National stories (``CN``) come first whatever their number, unknown
    provinces last; within a group stories keep the order they were found in.
    """
    groups: dict[str, list[Story]] = {}
    for story in stories:
        label = province_label(story.province) or _NO_PROVINCE
        groups.setdefault(label, []).append(story)
    national = province_label("CN")

    def rank(item: tuple[str, list[Story]]) -> tuple[int, int, str]:
        label, members = item
        first = 0 if label == national else 2 if label == _NO_PROVINCE else 1
        return first, -len(members), label

    return sorted(groups.items(), key=rank)


def _digest_line_parts(story: Story) -> tuple[str, str | None, str]:
    """(title, URL, the rest: category, outlet, date) of one digest line, plain."""
    parts = _parts(story, province_label_zh)
    title = shorten(parts.title, DIGEST_TITLE_UNITS)
    category = CATEGORY_LABELS_ZH.get(story.category, story.category)
    rest = [category, shorten(parts.source, DIGEST_SOURCE_UNITS)] if parts.source else [category]
    if parts.date:
        rest.append(parts.date[5:])  # MM-DD: the heading says which days
    if story.also:
        rest.append(f"+{len(story.also)} 家报道")
    return title, parts.url, " · ".join(rest)


@dataclass(frozen=True, slots=True)
class _Markup:
    """How one output format writes a digest's pieces."""

    heading: Callable[[str], str]
    group: Callable[[str, int, bool], str]  # label, count, continued
    item: Callable[[Story], str]
    length: Callable[[str], int]


def _split_digest(
    stories: Sequence[Story],
    heading: str,
    markup: _Markup,
    max_length: int,
    province_label: ProvinceLabel,
) -> list[DigestPart]:
    """Lay the groups out in as few messages as fit ``max_length`` each.

    A group that does not fit goes on in the next message under its heading
    marked "续"; every message starts with the digest's heading, numbered
    "(i/n)" when there are several.
    """
    # Room for " (99/99)" after the heading, whatever the final count.
    head = markup.heading(heading + " (99/99)")
    messages: list[tuple[list[str], list[int]]] = []
    lines: list[str] = []
    ids: list[int] = []
    used = 0

    def start() -> None:
        nonlocal lines, ids, used
        if ids:
            messages.append((lines, ids))
        lines, ids = [], []
        used = markup.length(head)

    start()
    for label, members in digest_groups(stories, province_label):
        group_line = markup.group(label, len(members), False)
        need = 2 + markup.length(group_line)  # blank line, group heading
        first_item = markup.length(markup.item(members[0])) + 1
        if ids and used + need + first_item > max_length:
            start()
        lines += ["", group_line]
        used += need
        for story in members:
            item = markup.item(story)
            size = markup.length(item) + 1
            if ids and used + size > max_length:
                start()
                continued = markup.group(label, len(members), True)
                lines += ["", continued]
                used += 2 + markup.length(continued)
            lines.append(item)
            ids.append(story.id)
            used += size
    if ids:
        messages.append((lines, ids))
    total = len(messages)
    parts = []
    for number, (body, story_ids) in enumerate(messages, 1):
        title = heading if total == 1 else f"{heading} ({number}/{total})"
        parts.append(DigestPart("\n".join([markup.heading(title), *body]), tuple(story_ids)))
    return parts


def render_digest_telegram(
    stories: Sequence[Story],
    heading: str,
    *,
    max_units: int = TELEGRAM_MAX_UNITS,
    province_label: ProvinceLabel = province_label_zh,
) -> list[DigestPart]:
    """A digest as Telegram HTML messages, grouped by province with counts::

    <b>质量强省 摘要 · 09-10 09:00 – 09-11 09:00 · 12 条</b>

    <b>#四川</b> 3 条
    • <a href="URL">TITLE</a> · 政策文件 · 四川日报 · 09-11
    """

    def item(story: Story) -> str:
        title, url, rest = _digest_line_parts(story)
        return f"• {_link(title, url)} · {_esc(rest)}"

    def group(label: str, count: int, continued: bool) -> str:
        tag = _hashtag(label) or label
        return f"<b>{_esc(tag)}</b> {count} 条" + ("（续）" if continued else "")

    markup = _Markup(
        heading=lambda text: f"<b>{_esc(text)}</b>",
        group=group,
        item=item,
        length=telegram_length,
    )
    return _split_digest(stories, heading, markup, max_units, province_label)


def render_digest_plain(
    stories: Sequence[Story],
    heading: str,
    *,
    max_chars: int = 1_000_000,
    province_label: ProvinceLabel = province_label_zh,
) -> list[DigestPart]:
    """A digest as plain text (console, dry runs, text-only services), URLs written out."""

    def item(story: Story) -> str:
        title, url, rest = _digest_line_parts(story)
        return f"• {title} · {rest}" + (f"\n  {url}" if url else "")

    def group(label: str, count: int, continued: bool) -> str:
        return f"{_hashtag(label) or label} {count} 条" + ("（续）" if continued else "")

    markup = _Markup(heading=lambda text: text, group=group, item=item, length=len)
    return _split_digest(stories, heading, markup, max_chars, province_label)


# --------------------------------------------------------------------------- Markdown

# What can start or end emphasis, a link, code, a heading or an HTML tag; list
# markers (``-``, ``1.``) only matter at the start of a line, which is ours.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~])")


def _md(text: str) -> str:
    """``text`` with every Markdown metacharacter escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _md_link(text: str, url: str | None) -> str:
    if url is None:
        return _md(text)
    return f"[{_md(text)}]({_md_url(url)})"


def render_digest_markdown(
    stories: Sequence[Story],
    heading: str,
    *,
    max_chars: int = 4000,
    province_label: ProvinceLabel = province_label_zh,
) -> list[DigestPart]:
    """A digest in Markdown, split to ``max_chars`` per message."""

    def item(story: Story) -> str:
        title, url, rest = _digest_line_parts(story)
        return f"- {_md_link(title, url)} · {_md(rest)}"

    def group(label: str, count: int, continued: bool) -> str:
        return f"**{_md(_hashtag(label) or label)}** {count} 条" + ("（续）" if continued else "")

    markup = _Markup(heading=lambda text: f"**{_md(text)}**", group=group, item=item, length=len)
    return _split_digest(stories, heading, markup, max_chars, province_label)


# --------------------------------------------------------------------------- lists (the bot)


def render_story_list_telegram(
    stories: Sequence[Story],
    heading: str,
    *,
    start: int = 1,
    max_units: int = TELEGRAM_MAX_UNITS,
) -> str:
    """A numbered list of stories for a bot reply (``/latest``, ``/search``)::

    <b>最新 · 四川</b> (1–5 / 23)

    1. <a href="URL">TITLE</a>
    #四川 · 政策文件 · 四川日报 · 2025-09-11
    """
    blocks = [f"<b>{_esc(heading)}</b>"]
    for number, story in enumerate(stories, start):
        parts = _parts(story, province_label_zh)
        category = CATEGORY_LABELS_ZH.get(story.category, story.category)
        details = [d for d in (province_label_zh(story.province), category) if d]
        if parts.source:
            details.append(shorten(parts.source, DIGEST_SOURCE_UNITS))
        if parts.date:
            details.append(parts.date)
        title = shorten(parts.title, DIGEST_TITLE_UNITS)
        blocks.append(f"{number}. {_link(title, parts.url)}\n{_esc(' · '.join(details))}")
    text = "\n\n".join(blocks)
    while telegram_length(text) > max_units and len(blocks) > 1:
        blocks.pop()
        text = "\n\n".join([*blocks, ELLIPSIS])
    return text


def render_apprise(story: Story, *, markdown: bool, max_chars: int = 4000) -> tuple[str, str]:
    """(title, body) of a story for an Apprise service.

    The services show the title on its own (a mail's subject, a DingTalk
    card's head), so the body holds the rest: hashtags, summary, source and
    date, the link, other outlets. ``markdown`` escapes the fields and links
    them; otherwise URLs are written out. Only the summary is shortened.
    """
    parts = _parts(story, province_label_zh)
    title = shorten(parts.title, 200)

    def build(p: _Parts) -> str:
        lines = [_md(p.hashtags) if markdown else p.hashtags] if p.hashtags else []
        if p.summary:
            lines += [_md(p.summary) if markdown else p.summary, ""]
        lines.append(_md(_source_line(p)) if markdown else _source_line(p))
        if p.url:
            lines.append(f"[阅读原文]({_md_url(p.url)})" if markdown else f"原文: {p.url}")
        if p.mentions:
            if markdown:
                links = [
                    _md_link(_mention_name(m), _http_url(m.url)) + _md(_language_note(m.language))
                    for m in p.mentions
                ]
                lines.append("也见于: " + ", ".join(links))
            else:
                lines.append("也见于:")
                lines += [_plain_mention(m) for m in p.mentions]
        return "\n".join(lines)

    body = build(parts)
    over = len(body) - max_chars
    if over > 0 and parts.summary:
        keep = len(parts.summary) - over - 40  # escaping may lengthen what is kept
        parts = replace(parts, summary=shorten(parts.summary, keep) if keep >= 20 else "")
        body = build(parts)
    if len(body) > max_chars:
        body = build(replace(parts, mentions=()))
    return title, body[:max_chars]


def apprise_title(text: str, *, markdown: bool, max_chars: int) -> str:
    """A story's (or digest's) title for an Apprise service: one line, at most
    ``max_chars`` characters, and, where the service reads it as Markdown,
    escaped like the body.

    The title is a field of the web's too: DingTalk writes it as ``# {title}``
    into a Markdown message and Mattermost puts it on the body's first line, so
    a feed title ``[text](http://…)`` or ``![](…)`` would become a link or a
    tracking image. It is shortened before it is escaped, so that no cut falls
    between a backslash and the character it escapes.
    """
    line = " ".join(text.split())
    if not markdown:
        return line[:max_chars]
    room = max_chars
    while True:
        cut = line if len(line) <= room else shorten(line, room)
        escaped = _md(cut)
        if len(escaped) <= max_chars or room <= 1:
            return escaped[:max_chars] if len(escaped) <= max_chars else ""
        room -= len(escaped) - max_chars


def _md_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29")
