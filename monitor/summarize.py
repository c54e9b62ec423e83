"""A two or three sentence summary in the article's own language. Pure.

Extractive. The lead sentence says what happened and who did it (news is
written that way), so it always opens the summary, its dateline and byline
removed. The others are chosen among the next sentences for what a reader
scans for: key figures (targets such as 2027 and 2035, counts such as 33
articles or 9 indicators), the document and its number, the programme's
name; earlier sentences win ties. They are shown in the article's order,
within 220 characters of Chinese or 450 of English. Bylines, photo captions
and boilerplate never appear. Sentences are never cut in the middle; only a
first sentence that alone is too long is shortened at a clause boundary,
with an ellipsis.
"""

from __future__ import annotations

import re

from monitor.model import DocumentFacts

_ZH_SENTENCE = re.compile(r"[^。！？!?]*[。！？!?]+[”’」』)）]*|[^。！？!?]+$")
_ZH_ENDS = frozenset("。！？!?")
_ZH_CLOSERS = frozenset("”’」』)）")
# Quotation marks that open and close distinctly; a sentence end inside a quotation
# ("……是质和量两方面同时跨越。”") does not end the sentence that quotes it.
_QUOTES = {"“": "”", "「": "」", "『": "』"}
_EN_SENTENCE = re.compile(r"(?<=[.!?])[\"”’)]*\s+(?=[A-Z\"“(])")
# "华西都市报(记者 田之路 实习生 王冰凝)" or "本报讯(记者 …)" before the first sentence.
_ZH_DATELINE = re.compile(
    r"^[^,，。]{0,20}[(（][^()（）]*(?:记者|通讯员|报道)[^()（）]*[)）]\s*|^(?:本报讯|新华社[^,，]{0,12}电)\s*"
)
# "Chengdu, September 9 (Shan Peng) " or "BEIJING, Sept. 9 (Xinhua) -- ".
_EN_DATELINE = re.compile(
    r"^[A-Z][A-Za-z .]{1,30},\s+[A-Z][a-z]{2,9}\.?\s+\d{1,2}\s*(?:\([^)]{0,40}\))?\s*(?:--|—|-)?\s*"
)
_BYLINE = re.compile(
    r"^(?:[\w（）()·\s]{0,24}(?:记者|通讯员)[\s:：]*[\u4e00-\u9fff·]{2,4}"
    r"(?:[\s、，,]+[\u4e00-\u9fff·]{2,4}){0,3}\s*[)）]?\s*$|(?:By|Reporter|Editor)\b)"
)
_CAPTION = re.compile(r"\b(?:photo|pictured)\b|图为|摄$|供图", re.IGNORECASE)
_CLAUSE = re.compile(r"[,，;；、]")

LIMITS = {"en": 450, "zh-Hans": 220, "zh-Hant": 220}


def sentences(text: str, language: str) -> list[str]:
    """Split normalised text into sentences, paragraph by paragraph."""
    found: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        parts = _EN_SENTENCE.split(paragraph) if language == "en" else _zh_sentences(paragraph)
        found += [p.strip() for p in parts if p.strip()]
    return found


def _zh_sentences(paragraph: str) -> list[str]:
    """Chinese sentences of one paragraph; a quotation stays whole.

    "他说：“……发展。所谓……跨越。”" is one sentence: an end mark inside the
    quotation marks ends nothing, and the closing mark after it belongs to the
    sentence it closes. Where the marks do not pair up (a quotation running
    over paragraphs, a missing mark) they are not trusted, and every end mark
    ends a sentence.
    """
    if not _quotes_pair(paragraph):
        return [m.group().strip() for m in _ZH_SENTENCE.finditer(paragraph)]
    found: list[str] = []
    open_quotes: list[str] = []
    start = i = 0
    while i < len(paragraph):
        ch = paragraph[i]
        i += 1
        if ch in _QUOTES:
            open_quotes.append(_QUOTES[ch])
        elif open_quotes and ch == open_quotes[-1]:
            open_quotes.pop()
        elif ch in _ZH_ENDS and not open_quotes:
            while i < len(paragraph) and paragraph[i] in _ZH_ENDS:
                i += 1
            while i < len(paragraph) and paragraph[i] in _ZH_CLOSERS:
                i += 1
            found.append(paragraph[start:i])
            start = i
            continue
        if not open_quotes and ch in _ZH_CLOSERS and paragraph[i - 2 : i - 1] in _ZH_ENDS:
            # "……跨越。”" closed the quotation with the sentence in it
            while i < len(paragraph) and paragraph[i] in _ZH_CLOSERS:
                i += 1
            found.append(paragraph[start:i])
            start = i
    if start < len(paragraph):
        found.append(paragraph[start:])
    return found


def _quotes_pair(text: str) -> bool:
    """Whether every opening quotation mark of ``text`` is closed, in order."""
    expected: list[str] = []
    for ch in text:
        if ch in _QUOTES:
            expected.append(_QUOTES[ch])
        elif ch in _QUOTES.values() and (not expected or expected.pop() != ch):
            return False
    return not expected


_METADATA = re.compile(
    r"^(?:Release Date|Source|Editor|Author|发布时间|发布日期|来源|作者|编辑|浏览次数)\s*[:：]",
    re.IGNORECASE,
)
_CLOSED = tuple('。！？!?.…”"’)）')


def _usable(sentence: str, title: str) -> bool:
    if _BYLINE.match(sentence) or (_CAPTION.search(sentence) and len(sentence) < 80):
        return False
    if _METADATA.match(sentence):
        return False
    if not sentence.endswith(_CLOSED) and len(sentence) < 60:
        return False  # a heading, a label or a stray line: not a sentence
    if sentence.strip(" 。.") == title.strip(" 。."):
        return False
    letters = sum(ch.isalnum() for ch in sentence)
    return letters >= 8


_FIGURE_ZH = re.compile(
    r"(?:19|20)\d{2}年|\d+(?:\.\d+)?\s*(?:个|条|项|家|部分|批|类|%|％|亿|万|名|次|余)"
)
_FIGURE_EN = re.compile(
    r"\b(?:19|20)\d{2}\b|\b\d+(?:\.\d+)?\s*(?:%|percent|billion|million|articles?|"
    r"indicators?|items?|enterprises?|companies|projects?|tasks?|measures?|awards?)\b",
    re.IGNORECASE,
)
_CANDIDATES = 10  # how far into the article the other sentences are looked for


def summarize(
    title: str,
    text: str,
    language: str,
    *,
    facts: DocumentFacts | None = None,
    max_sentences: int = 3,
) -> str:
    """Two or three sentences: the lead, then the most telling that fit the limit."""
    limit = LIMITS.get(language, 220)
    joiner = " " if language == "en" else ""
    dateline = _EN_DATELINE if language == "en" else _ZH_DATELINE
    usable: list[str] = []
    for sentence in sentences(text, language):
        if not usable:
            sentence = dateline.sub("", sentence).strip()
            if sentence and language == "en":
                sentence = sentence[0].upper() + sentence[1:]
        if _usable(sentence, title):
            usable.append(sentence)
        if len(usable) >= _CANDIDATES:
            break
    if not usable:
        return ""
    lead, rest = usable[0], usable[1:]
    if len(lead) > limit:
        return _shorten(lead, limit)
    ranked = sorted(
        range(len(rest)),
        key=lambda i: (-_worth(rest[i], language, facts), i),
    )
    chosen = {-1}
    length = len(lead)
    for i in ranked:
        if len(chosen) >= max_sentences:
            break
        extra = len(rest[i]) + len(joiner)
        if length + extra <= limit:
            chosen.add(i)
            length += extra
    return joiner.join([lead, *(rest[i] for i in sorted(chosen) if i >= 0)])


HEADLINE_LIMIT = 60  # characters of a title made from the text


def headline(text: str, language: str, *, limit: int = HEADLINE_LIMIT) -> str:
    """A title for an article that has none: its first sentence, or the first
    clauses of it with "…" when longer than ``limit``; never a cut word."""
    first = next(iter(sentences(text, language)), "")
    if len(first) <= limit:
        return first
    return _shorten(first, limit)


def _worth(sentence: str, language: str, facts: DocumentFacts | None) -> float:
    figures = (_FIGURE_EN if language == "en" else _FIGURE_ZH).findall(sentence)
    worth = min(len(figures), 3) * 1.0
    if facts is not None:
        if any(n in sentence for n in facts.numbers):
            worth += 2.0
        if any(t[:12] in sentence for t in facts.titles):
            worth += 1.0
    return worth


def _shorten(sentence: str, limit: int) -> str:
    """Cut one over-long sentence at the last clause boundary within the limit."""
    head = sentence[: limit - 1]
    cut = max((m.start() for m in _CLAUSE.finditer(head)), default=-1)
    if cut < limit // 2:
        cut = head.rfind(" ") if " " in head else len(head)
    return head[:cut].rstrip(" ,，;；、") + "…"
