"""Normal forms of text and URLs. Pure: no I/O, no clock.

Chinese news reaches us in three shapes (see the seeds): English, simplified
Chinese, and traditional Chinese from mirror sites that add pinyin glosses
after polyphonic characters (``落實(shí)``) and lose characters to
mis-decoding (``質量?jī)?yōu)勢``). Every later step (dedup, classify,
summarise) works on one normal form:

* traditional → simplified (OpenCC ``t2s``), the original kept for display;
* pinyin glosses removed, mis-decoded fragments cleaned without eating text;
* full-width digits and letters → half-width, whitespace normalised,
  lines broken in the middle of a Chinese sentence joined again;
* punctuation tidied where Chinese text is concerned: no space before ``、``
  or ``》``, a half-width comma between Chinese words made ``，`` (English
  text and numbers such as ``1,000`` are left as they are);
* what is not the article cut away: everything after the closing byline or
  the reprint notice (reader comments, a second article glued onto the page),
  photo captions.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import opencc

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{_HAN}]")
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_CHARS = f"a-zü{_TONED}"
# One syllable: an optional initial and a final; used for glosses without tone marks.
_SYLLABLE = (
    r"(?:[bpmfdtnlgkhjqxrzcsyw]|zh|ch|sh)?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|üan|ai|ei|ao|ou|an|en|in|un|ün|ia|ie"
    r"|iu|ua|uo|ui|üe|ue|er|a|o|e|i|u|ü|v)"
)
_GLOSS_TONED = re.compile(
    f"(?<=[{_HAN}])[(（]([{_PINYIN_CHARS}]*[{_TONED}][{_PINYIN_CHARS}]*)[)）]"
)
_GLOSS_PLAIN = re.compile(f"(?<=[{_HAN}])[(（]({_SYLLABLE}[1-5]?)[)）]")
# A gloss cut off with the line (a title shortened by its site: "全民質(" or
# "全民質(zh…"): the bracket and what is left of the syllable, never a closed
# bracket nor capitalised words ("(China").
_GLOSS_CUT = re.compile(f"(?<=[{_HAN}])[(（][{_PINYIN_CHARS}]*(?=(?:…|\\.{{2,}})?[ \t]*$)", re.M)
# A gloss whose character was lost or mangled: "?jī)", "|(zhì)". Tone-marked
# lowercase syllables do not occur in Chinese prose otherwise.
_STRAY_GLOSS = re.compile(f"(?<![A-Za-z])[(（]?[{_PINYIN_CHARS}]*[{_TONED}][{_PINYIN_CHARS}]*[)）]")
# "?" standing for a lost character: followed by what is left of its gloss, or
# two and more glued to Chinese. A single "?" between characters may be a real
# question mark (many sites use ASCII punctuation), so it stays.
_LOST = re.compile(
    f"\\?+(?=[(（]?[{_PINYIN_CHARS}]*[{_TONED}][{_PINYIN_CHARS}]*[)）])"
    f"|(?<=[{_HAN}])\\?{{2,}}|\\?{{2,}}(?=[{_HAN}])"
)
# Bytes decoded with the wrong codec leave box-drawing, private-use and U+FFFD debris.
_DEBRIS = re.compile(f"[\u2500-\u257f\ue000-\uf8ff\ufffd]+\\|?|(?<=[{_HAN}])\\|(?=[{_HAN}])")

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}  # ０-９
_FULLWIDTH |= {cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)}  # Ａ-Ｚ
_FULLWIDTH |= {cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)}  # ａ-ｚ
_FULLWIDTH |= {0x3000: 0x20, 0xA0: 0x20}

_SENTENCE_END = '。！？!?…；;：:」』”"）)】'

# Lines that close an article: credits, reprint notices, end marks.
_END_MARKERS = re.compile(
    r"^(?:"
    r"[\w（）()·、\s]{0,24}(?:记者|通讯员|撰稿|文/|图/)[\s:：]*[\u4e00-\u9fff·]{2,4}"
    r"(?:[\s、，,]+[\u4e00-\u9fff·]{2,4}){0,3}\s*[)）]?\s*$"
    r"|[【\[(（]?\s*(?:未经授权|未经许可|版权所有|本文来源|转载请注明).*"
    r"|[【\[(（]?\s*(?:责任编辑|编辑|审核|校对|监制|责编)[\s:：].{0,30}$"
    r"|[(（]\s*(?:完|End|END|end)\s*[)）]\s*$"
    r"|(?:Editor|Reporter|Source)s?:.{0,60}$"
    r")"
)
_INLINE_END = re.compile(r"\s*[(（](?:End|END|完)[)）]\s*$")
# An editor's credit in brackets closing the last paragraph: "…工作。【编辑:张三】".
_TRAILING_CREDIT = re.compile(
    r"\s*[【\[(（]\s*(?:责任编辑|编辑|责编|审核|校对|监制|审校|终审|初审)\s*[:：]"
    r"[^】\]()（）\n]{0,40}[】\])）]\s*$"
)
_CAPTION = re.compile(
    r"(?:^|\W)(?:photo|图为|供图|摄影|图片来源)(?:\W|$)|[(（][^()（）]{0,20}摄[)）]$|摄$",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese; other scripts pass through."""
    return _t2s().convert(text) if _HAN_RE.search(text) else text


def strip_pinyin(text: str) -> str:
    """Remove pinyin glosses written after characters: ``落實(shí)`` → ``落實``.

    A gloss cut off at the end of a line (``全民質(`` from a title the site
    shortened) goes too: a dangling bracket is not part of any title.
    """
    text = _GLOSS_TONED.sub("", text)
    text = _GLOSS_PLAIN.sub("", text)
    return _GLOSS_CUT.sub("", text)


def clean_mojibake(text: str) -> str:
    """Drop what mis-decoding left: lost characters (``?``), stray glosses, debris.

    A ``?`` that stands for a lost character is followed by the rest of its
    gloss or comes in a run; a lone ``?`` may be a real question mark and stays.
    """
    text = _LOST.sub("", text)
    text = _STRAY_GLOSS.sub("", text)
    return _DEBRIS.sub("", text)


def halfwidth(text: str) -> str:
    """Full-width digits and Latin letters → ASCII; Chinese punctuation stays."""
    return text.translate(_FULLWIDTH)


def normalize_whitespace(text: str) -> str:
    """One space between words, single blank line between paragraphs, no edge spaces.

    A line of Chinese that stops mid-sentence (page layouts break paragraphs
    at fixed widths) is joined to the next.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    lines = [re.sub(r"[ \t\u200b\u3000]+", " ", line).strip() for line in text.split("\n")]
    paragraphs: list[str] = []
    for line in lines:
        if not line:
            continue
        if paragraphs and _continues(paragraphs[-1], line):
            paragraphs[-1] += line
        else:
            paragraphs.append(line)
    return "\n".join(paragraphs)


# Full-width punctuation carries its own spacing: a space before a pause or a
# closing mark, or after an opening one, is a typesetting slip of the site.
_CJK_PAUSES = "，。、；：！？"
_CJK_CLOSERS = "）》」』】〉"
_CJK_OPENERS = "（《「『【〈"
_SPACE_BEFORE = re.compile(f"[ \t]+(?=[{_CJK_PAUSES}{_CJK_CLOSERS}])")
_SPACE_AFTER = re.compile(f"(?<=[{_CJK_OPENERS}])[ \t]+|(?<=[{_CJK_PAUSES}])[ \t]+(?=[{_HAN}])")
# A half-width comma or semicolon in Chinese prose: Chinese (or a closing mark)
# before it, Chinese (or an opening mark) after it. A digit counts on one side
# only when the other is Chinese and nothing is between ("目标3,全省",
# "行动,9月10日"); "1,000" and English ("Chengdu, Sichuan") never match.
_HALF_PAUSE = re.compile(
    f"(?:(?<=[{_HAN}{_CJK_CLOSERS}”%])[ \t]*([,;])[ \t]*(?=[{_HAN}{_CJK_OPENERS}“])"
    f"|(?<=[0-9])([,;])(?=[{_HAN}])|(?<=[{_HAN}])([,;])(?=[0-9]))"
)
_FULL_PAUSE = {",": "，", ";": "；"}


def tidy_punctuation(text: str) -> str:
    """Spaces around full-width punctuation dropped, half-width commas and
    semicolons between Chinese words made full-width:
    ``中共中央 、国务院印发《纲要》 ,同时`` → ``中共中央、国务院印发《纲要》，同时``.
    """
    text = _SPACE_BEFORE.sub("", text)
    text = _SPACE_AFTER.sub("", text)
    return _HALF_PAUSE.sub(lambda m: _FULL_PAUSE[m.group(1) or m.group(2) or m.group(3)], text)


def _continues(previous: str, line: str) -> bool:
    return (
        len(previous) >= 30
        and previous[-1] not in _SENTENCE_END
        and bool(_HAN_RE.match(previous[-1]))
        and (bool(_HAN_RE.match(line[0])) or line[0].isdigit())
    )


def detect_language(text: str) -> str:
    """``en``, ``zh-Hans`` or ``zh-Hant`` for one document."""
    han = _HAN_RE.findall(text)
    letters = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if len(han) * 2 < letters or not han:
        return "en"
    sample = "".join(han[:2000])
    changed = sum(1 for a, b in zip(sample, to_simplified(sample), strict=False) if a != b)
    return "zh-Hant" if changed >= max(3, len(sample) * 0.03) else "zh-Hans"


def cut_trailing_matter(text: str) -> str:
    """Cut the article at its closing byline or reprint notice.

    Whatever follows (reader comments, a second article glued onto the page,
    "related" lists) is not part of this article. A marker in the first
    third of the text is a dateline, not an ending, and is left alone.
    """
    text = _TRAILING_CREDIT.sub("", text)  # at the very end, wherever the end is
    lines = text.split("\n")
    total = sum(len(line) for line in lines) or 1
    seen = 0
    for i, line in enumerate(lines):
        if seen >= total * 0.3 and _END_MARKERS.match(line.strip()):
            return "\n".join(lines[:i]).rstrip()
        if seen >= total * 0.3 and _INLINE_END.search(line):
            return "\n".join([*lines[:i], _INLINE_END.sub("", line)]).rstrip()
        seen += len(line)
    return text


def drop_captions(text: str) -> str:
    """Photo captions are short lines that credit a photo; they are not prose."""
    kept = [
        line for line in text.split("\n") if not (len(line) < 80 and _CAPTION.search(line.strip()))
    ]
    return "\n".join(kept)


@dataclass(frozen=True, slots=True)
class NormalText:
    title: str
    text: str
    language: str


def normalize_text(text: str) -> str:
    """The full normal form of a body of text (no cutting of trailing matter)."""
    text = unicodedata.normalize("NFC", text)
    text = clean_mojibake(text)  # first: a lost character's "?" is known by the gloss after it
    text = strip_pinyin(text)
    text = halfwidth(text)
    text = to_simplified(text)
    return tidy_punctuation(normalize_whitespace(text))


def normalize_article(title: str, body: str) -> NormalText:
    """Title and body → their normal forms and the document's language."""
    language = detect_language(f"{title}\n{body}")
    body = normalize_text(body)
    body = drop_captions(cut_trailing_matter(body))
    title = normalize_text(title).replace("\n", " ")
    return NormalText(title=title, text=body, language=language)


def text_hash(text: str) -> str:
    """Hash of the text with punctuation and spacing removed: reposts with other
    punctuation or line breaks hash alike."""
    core = "".join(ch for ch in text.lower() if ch.isalnum())
    return hashlib.sha256(core.encode("utf-8")).hexdigest()


# ── URLs ────────────────────────────────────────────────────────────────────

_TRACKING = re.compile(r"^(?:utm_\w+|spm|from|share_token|fbclid|gclid|wxshare|isappinstalled)$")
_INDEX_FILES = ("index.html", "index.htm", "index.shtml", "default.html", "default.htm")


# A plain absolute link: lowercase host, a port perhaps, a path of unreserved
# characters, no query, fragment, user or escapes. Its parts are read here as
# urlsplit would read them (tests/test_normalize.py checks it against urllib);
# a list's links are nearly all of this shape, and the generic way cost ~13 µs
# a link (20,000 in a first pass).
_PLAIN_URL = re.compile(r"https?://([a-z0-9.-]+)(?::([0-9]{1,5}))?(/[A-Za-z0-9._~/-]*)?")


def canonical_url(url: str, *, mobile_hosts: Collection[str] = ()) -> str:
    """A URL's normal form for "same item" checks.

    Lowercase scheme and host, no default port, no fragment, no tracking
    parameters, sorted query, no trailing ``index.html`` or slash; ``http``
    and ``https`` both map to ``https``, since government sites serve the
    same page on both. Host prefixes listed in ``mobile_hosts`` (such as
    ``m`` and ``wap``) are dropped where a site serves the same article on a
    mobile host.
    """
    url = url.strip()
    host: str
    path: str
    query = ""
    if (plain := _PLAIN_URL.fullmatch(url)) is not None and (
        plain[2] is None or int(plain[2]) <= 65535
    ):
        host, path = plain[1], plain[3] or "/"
        port = None if plain[2] is None else int(plain[2])
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # a port out of range, a broken IPv6 host: no normal form but itself
            return url
        host, path = (parts.hostname or "").lower(), parts.path or "/"
        query = urlencode(
            sorted(
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if not _TRACKING.match(k.lower())
            )
        )
    host = host.rstrip(".")
    for prefix in mobile_hosts:
        if host.startswith(prefix + ".") and host.count(".") >= 2:
            host = host[len(prefix) + 1 :]
            break
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    if "//" in path:
        path = re.sub(r"/{2,}", "/", path)
    if not path.startswith("/"):  # a relative path ("index.htm"): the result will have one
        path = "/" + path
    for name in _INDEX_FILES:
        if path.endswith("/" + name):
            path = path[: -len(name)]
    if len(path) > 1:
        path = path.rstrip("/")
    if not query:
        return f"https://{netloc}{path}"
    return urlunsplit(("https", netloc, path, query, ""))
