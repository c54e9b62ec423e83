"""Province and category names → codes, as people write them. [pure]

One table for everyone who reads a name a person typed: the bot's
``/subscribe 四川 政策文件`` and ``/latest Sichuan``, and the channel filters
of ``sources.yaml`` (``provinces: [四川]``, ``categories: [政策文件]``).
Provinces come from the lexicon's division table (Chinese, short forms,
English, the one-character abbreviations, ISO codes), categories from their
Chinese labels and a few usual short words.
"""

from __future__ import annotations

import re

from monitor.model import CATEGORY_LABELS_ZH, Category

__all__ = ["parse_category", "parse_province"]

_CATEGORY_ALIASES = {
    "政策": "policy_document",
    "文件": "policy_document",
    "发布会": "press_conference",
    "新闻发布会": "press_conference",
    "会议": "meeting",
    "活动": "campaign_event",
    "质量月": "campaign_event",
    "质量奖": "award_brand",
    "品牌": "award_brand",
    "统计": "statistics_report",
    "报告": "statistics_report",
    "其他": "other",
}


def parse_province(word: str) -> str | None:
    """An ISO 3166-2:CN code for a province named any usual way, or None.

    ``CN-SC``, ``sc``, ``四川``, ``四川省``, ``川``, ``Sichuan``, ``全国``/``CN``.
    """
    from monitor.lexicon import load_provinces
    from monitor.normalize import to_simplified

    text = to_simplified(word.strip())
    upper = text.upper()
    if upper in ("CN", "全国", "NATIONAL", "CHINA", "国家"):
        return "CN"
    provinces = load_provinces()
    codes = {p.code for p in provinces}
    if upper in codes:
        return upper
    if f"CN-{upper}" in codes and re.fullmatch(r"[A-Z]{2}", upper):
        return f"CN-{upper}"
    lowered = text.lower()
    for p in provinces:
        if text in (p.zh, p.zh_short, p.abbr, *p.aliases) or lowered in (e.lower() for e in p.en):
            return p.code
    return None


def parse_category(word: str) -> str | None:
    """A category for its code, its Chinese label or a usual short word, or None."""
    text = word.strip()
    if text.lower() in {c.value for c in Category}:
        return text.lower()
    for code, label in CATEGORY_LABELS_ZH.items():
        if text == label:
            return code
    return _CATEGORY_ALIASES.get(text)
