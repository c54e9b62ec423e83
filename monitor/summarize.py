"""A two or three sentence summary in the article's own language. Pure.

Extractive: the lead sentences of the normalised text, after datelines,
bylines and photo captions are set aside, within 220 characters of Chinese or
450 of English. Sentences are never cut in the middle; only a first sentence
that alone is too long is shortened at a clause boundary, with an ellipsis.
"""

from __future__ import annotations

import re

_ZH_SENTENCE = re.compile(r"[^。！？!?]*[。！？!?]+[”’」』)）]*|[^。！？!?]+$")
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
        if language == "en":
            parts = _EN_SENTENCE.split(paragraph)
        else:
            parts = [m.group().strip() for m in _ZH_SENTENCE.finditer(paragraph)]
        found += [p.strip() for p in parts if p.strip()]
    return found


def _usable(sentence: str, title: str) -> bool:
    if _BYLINE.match(sentence) or (_CAPTION.search(sentence) and len(sentence) < 80):
        return False
    if sentence.strip(" 。.") == title.strip(" 。."):
        return False
    letters = sum(ch.isalnum() for ch in sentence)
    return letters >= 8


def summarize(title: str, text: str, language: str, *, max_sentences: int = 3) -> str:
    """The lead of the article, two or three sentences, within the length limit."""
    limit = LIMITS.get(language, 220)
    joiner = " " if language == "en" else ""
    dateline = _EN_DATELINE if language == "en" else _ZH_DATELINE
    chosen: list[str] = []
    length = 0
    for i, sentence in enumerate(sentences(text, language)):
        if i == 0 or not chosen:
            sentence = dateline.sub("", sentence).strip()
            if sentence and language == "en":
                sentence = sentence[0].upper() + sentence[1:]
        if not _usable(sentence, title):
            continue
        extra = len(sentence) + (len(joiner) if chosen else 0)
        if chosen and length + extra > limit:
            break
        chosen.append(sentence)
        length += extra
        if len(chosen) >= max_sentences:
            break
    if not chosen:
        return ""
    summary = joiner.join(chosen)
    return summary if len(summary) <= limit else _shorten(summary, limit)


def _shorten(sentence: str, limit: int) -> str:
    """Cut one over-long sentence at the last clause boundary within the limit."""
    head = sentence[: limit - 1]
    cut = max((m.start() for m in _CLAUSE.finditer(head)), default=-1)
    if cut < limit // 2:
        cut = head.rfind(" ") if " " in head else len(head)
    return head[:cut].rstrip(" ,，;；、") + "…"
