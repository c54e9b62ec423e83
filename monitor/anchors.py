"""Event anchors: what two reports of one event share, whatever their wording. Pure.

Two outlets restate an event in their own words, one in simplified script, one
in traditional (converted to simplified by normalisation before this step),
one in English. What survives the rewording and the translation are the
*anchors*:

document titles and numbers
    the text inside 《》 and ``关于…的通知/意见/决定`` titles; 文号 such as
    ``国发〔2024〕7号`` (bracket styles unified).
years, dates, ordinals
    ``2023``; ``9月10日`` / ``September 10`` / ``10 Sept.`` → ``09-10``;
    ``第八届`` / ``八届`` / ``首届`` / ``8th`` / ``eighth`` → ``8``.
numbers with their units
    ``85.5%``, ``2521条``, ``25万`` (= 250000), ``1,000`` — integers from 10
    up and every decimal; years and dates are not numbers.
places below the province
    prefecture cities, counties, districts and new areas from
    ``lexicon/provinces.yaml``, in Chinese or English, keyed by their Chinese
    name (成都 / Chengdu → 成都); provinces themselves are kept apart, as
    the province veto's evidence.
people
    a Chinese name and its pinyin (黄强 / Huang Qiang → ``huang qiang``):
    jieba's person-name tag on Chinese, two capitalised words whose first is
    a Chinese surname on English.
programmes and organisations
    the bilingual concepts of ``lexicon/events.yaml`` (质量月 / Quality
    Month …); bodies and venues (市场监管总局 / SAMR, 人民大会堂) as
    ``译:`` keys, compared between languages only; recurring programmes
    also as ``系:`` keys, which keep two different ones apart.
periods, themes, headlines
    a plan's period (``2022—2025年`` / ``2022-2025`` → ``期:2022-2025``), a
    phrase quoted verbatim (a year's theme: ``语:…``), the headline itself
    (``标:…``), which outlets copy rather than reword.

and, within one language, the *content words*: jieba's segmentation of
Chinese (its dictionary ships with it, nothing is downloaded), English words
less stop words, with their plural ``s`` cut.

Every anchor and word is a string with a prefix saying its kind (``年:2023``,
``日:09-10``, ``序:8``, ``数:85.5``, ``文件:…``, ``文号:…``, ``地:成都``,
``省:CN-SC``, ``人:huang qiang``, ``概:quality_month``, ``词:质量月``): that is
what the story index stores and looks up, and what ``story ID`` shows.

Cost: about 2.5 ms for a 750-character article (segmenting 1.2 ms, the rest
regular expressions); the segmenter's dictionary loads once per process
(monitor/segment.py: 3 MB, read from its cache in the temporary directory
in milliseconds; built there from jieba's ``dict.txt`` the first time).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from monitor.classify import TermSet
from monitor.lexicon import load_provinces

# Prefixes: the kind of each key.
YEAR, DATE, ORDINAL, NUMBER = "年:", "日:", "序:", "数:"
DOC_TITLE, DOC_NUMBER = "文件:", "文号:"
PLACE, PROVINCE, PERSON, CONCEPT, WORD = "地:", "省:", "人:", "概:", "词:"
BRIDGE, QUOTE, PERIOD, SERIES, HEADLINE = "译:", "语:", "期:", "系:", "标:"
CITED, MONTH, PREVIEW, TITLE_YEAR = "引:", "月:", "态:preview", "题:"
TO_DATE, EDITION, YEAR_EDITION = "累:", "届:", "年届:"
SCOPE, EVENT_TYPE = "范:", "型:"
KINDS = {
    YEAR: "year",
    DATE: "date",
    ORDINAL: "ordinal",
    NUMBER: "number",
    DOC_TITLE: "document title",
    DOC_NUMBER: "document number",
    PLACE: "place",
    PROVINCE: "province",
    PERSON: "person",
    CONCEPT: "programme",
    BRIDGE: "body or venue (across languages)",
    QUOTE: "quoted phrase",
    PERIOD: "period",
    SERIES: "recurring programme",
    HEADLINE: "the same headline",
    WORD: "word",
    CITED: "cited document",
    MONTH: "month in the title",
    TO_DATE: "months to date in the title",
    EDITION: "edition of a recurring programme",
    YEAR_EDITION: "a recurring programme's year in the headline",
    PREVIEW: "announces a coming event",
    TITLE_YEAR: "year in the title",
    SCOPE: "national or local headline",
    EVENT_TYPE: "kind of event in the headline",
}
# What kind of event a headline names. Two reports of one event may name
# two kinds (an award presented at a conference, the decision on an award),
# but not these pairs: a launch of Quality Month is not a conference, a
# press conference not the conference it announces, a statistics release
# neither a conference nor an award.
EVENT_TYPES = {
    "month": r"质量月|quality month|month of quality",
    "conference": r"大会|会议|推进会|论坛|峰会|盛典|conference|meeting|forum|summit|congress|gala",
    "award": r"奖|表彰|award|prize|honou?r",
    "press": r"发布会|记者会|新闻发布|press conference|news conference|briefing",
    "statistics": r"指数|公报|状况|抽查|index|communiqu|statistic",
}
INCOMPATIBLE_TYPES = frozenset(
    frozenset(pair)
    for pair in (
        ("month", "conference"),
        ("month", "award"),
        ("month", "statistics"),
        ("conference", "press"),
        ("conference", "statistics"),
        ("award", "statistics"),
    )
)
_TYPE_PATTERNS = {kind: re.compile(p, re.I) for kind, p in EVENT_TYPES.items()}
_LOCAL = re.compile(r"我市|全市|本市|市委|市政府|质量强[市县区]|县委|区委|县政府|区政府")
_NATIONAL = re.compile(
    r"全国|国务院|(?<![a-z])(?:national|nationwide|state council)(?![a-z])", re.I
)
# What survives translation: shared across languages.
CROSS_LANGUAGE = (
    YEAR,
    DATE,
    ORDINAL,
    NUMBER,
    DOC_NUMBER,
    EDITION,
    YEAR_EDITION,
    PLACE,
    PROVINCE,
    PERSON,
    CONCEPT,
    BRIDGE,
    PERIOD,
)

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = "〇零一二两三四五六七八九十百"


def chinese_number(text: str) -> int | None:
    """``八`` → 8, ``十二`` → 12, ``三十九`` → 39, ``二〇〇七`` → 2007, ``12`` → 12."""
    if text.isdigit():
        return int(text)
    if "十" not in text and "百" not in text:  # digit by digit: 二〇〇七
        if all(ch in _CN_DIGITS for ch in text):
            return int("".join(str(_CN_DIGITS[ch]) for ch in text)) if text else None
        return None
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for m in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = re.compile(r"(?<!\d)(?:19[4-9]\d|20[0-4]\d)(?!\d)")
_ZH_DATE = re.compile(rf"(?<![\d{_CN_NUM}])([\d{_CN_NUM}]{{1,3}})月([\d{_CN_NUM}]{{1,3}})[日号]")
_EN_DATE = re.compile(rf"\b(?:({_MONTH})\.?\s+(\d{{1,2}})(?!\d)|(\d{{1,2}})\s+({_MONTH})\b)", re.I)
_ZH_ORDINAL = re.compile(
    rf"(?:第([\d{_CN_NUM}]{{1,4}})|(?<![\d{_CN_NUM}])([\d{_CN_NUM}]{{1,3}}))届"
)
_FIRST = re.compile(r"首届")
# An edition's ordinal in English: "the 8th", "the second" followed by the
# event's name (capitalised) or an event noun; "the first task" is none.
_EDITION = (
    r"(?=\s+(?:[A-Z]|(?i:edition|session|award|conference|forum|summit|congress|meeting|"
    r"plenary|ceremony|gala|expo|fair)s?\b))"
)
_EN_ORDINAL = re.compile(r"\b(\d{1,3})(?:st|nd|rd|th)\b" + _EDITION)


def _split(words: str) -> list[str]:
    return words.split()


_EN_ORDINAL_WORDS = {
    w: i
    for i, w in enumerate(
        _split("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"),
        1,
    )
}
_EN_ORDINAL_WORD = re.compile(r"\b((?i:" + "|".join(_EN_ORDINAL_WORDS) + r"))\b" + _EDITION)
_NUMBER = re.compile(
    r"(?<![A-Za-z\d.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(万|亿|million|billion|thousand)?", re.I
)
_MULTIPLIER = {"万": 10**4, "亿": 10**8, "thousand": 10**3, "million": 10**6, "billion": 10**9}
_DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fff]{1,8}[〔\[［(（]\s*((?:19|20)\d{2})\s*[〕\]］)）]\s*(\d{1,4})\s*号"
)
_QUOTED_TITLE = re.compile(r"《([^《》\n]{4,80})》")
# A phrase quoted verbatim: a year's theme, a slogan, a programme's motto
# (主题为“…”), which outlets copy rather than reword.
_QUOTED_PHRASE = re.compile(r"[“「『\"]([^“”「」『』\"《》\n]{6,40})[”」』\"]")
# A period a plan or an outline covers (2022—2025年, 2022-2025), three years
# or more: it names the document in a translation too, whose title is
# reworded. Its years are the plan's, not years of the event.
_PERIOD = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*(?:年)?\s*[-–—~至到]+\s*((?:19|20)\d{2})(?!\d)")
_BARE_TITLE = re.compile(
    r"关于[^,，。;；:：《》\n]{4,60}?的(?:通知|意见|决定|批复|通报|公告|方案|办法|指导意见|实施意见)"
)
_CITING = re.compile(
    r"依据|根据|依照|按照|落实|贯彻|对照|遵照|参照|学习|宣传|执行|围绕|"
    r"\bunder\b|\bimplement|pursuant to|according to|in line with",
    re.I,
)
_CLAUSE_END = re.compile(r".*[,，。;；:：!?！？\n]", re.S)
_PREVIEW = re.compile(
    r"将于|将在|即将|拟于|定于|预告|"
    r"(?<!\w)(?:will be held|to be held|will hold|to hold|upcoming|will open)(?!\w)",
    re.I,
)
_TITLE_MONTH = re.compile(r"((?:19|20)\d{2})年(\d{1,2})月(?![\d日])")
# A statistics headline's months to date (1—11月, 1-12月份): the year so far,
# beside the month's own figures.
_TITLE_TO_DATE = re.compile(r"(?<!\d)1\s*[-–—~至到]\s*(\d{1,2})\s*月")
_HEADLINE_NOISE = re.compile(r"[\W_]+")
HEADLINE_MIN_CHARS = 12
_TITLE_NOISE = re.compile(r"[\s“”\"'‘’「」『』()（）〔〕\[\]]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_EN_WORD = re.compile(r"[a-z][a-z'-]+")
_EN_NAME = re.compile(r"\b([A-Z][a-z]{0,5})\s+([A-Z][a-z]{1,12})(?:-([a-z]{1,6}))?\b")

# Words that say nothing about which event: function words and the vocabulary
# every report in this field uses. Rarity weighting discounts the rest.
_ZH_STOP = frozenset(
    _split(
        """我们 他们 以及 进行 相关 有关 表示 指出 认为 通过 其中 同时 今年 去年 目前 已经 一个 这一
    并且 以上 以下 就是 没有 可以 还是 为了 根据 按照 对于 关于 方面 工作 活动 开展 推进 加强 提升
    推动 建设 发展 全国 国家 文章 报道 消息 记者 页面 网站 转载 据悉 近日 当天 日前 此外 其他 各地
    各类 一批 一些 主要 重要 进一步 全面 坚持 实施 组织 单位 部门 企业 质量 品质"""
    )
)
_EN_STOP = frozenset(
    _split(
        """the and for with that this from were was are has have had its their they them which
    will would also into than more most such over under about after before between other said
    says say page post report reports reported article news year years new its one two three all
    any each per not but been being who whom what when where how our out can may should could
    quality china chinese national government"""
    )
)
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤支罗甘蒲"
)


@dataclass(frozen=True, slots=True)
class _Places:
    terms: TermSet
    key_of: dict[str, str]  # matched name (lower-cased English) → 地:/省: key
    province_of: dict[str, str]  # 地: key → its province's code, when only one has it


@lru_cache(maxsize=1)
def _places() -> _Places:
    key_of: dict[str, str] = {}
    codes: dict[str, set[str]] = {}
    for province in load_provinces():
        for name in (province.zh, province.zh_short, *province.aliases, *province.en):
            key_of.setdefault(_lower(name), PROVINCE + province.code)
        for zh, en in (*province.cities, *province.others):
            key_of.setdefault(_lower(zh), PLACE + zh)
            codes.setdefault(PLACE + zh, set()).add(province.code)
            if en:
                key_of.setdefault(_lower(en), PLACE + zh)
    # Two-character Chinese names also occur inside ordinary words; a place
    # name's full form (成都市) is matched too, as the same key.
    for name, key in list(key_of.items()):
        if key.startswith(PLACE) and not name.isascii():
            key_of.setdefault(name + "市", key)
    unique = {key: next(iter(c)) for key, c in codes.items() if len(c) == 1}
    return _Places(TermSet(key_of), key_of, unique)


def provinces_named(keys: Iterable[str]) -> set[str]:
    """The provinces an article names, itself or by a place in it."""
    province_of = _places().province_of
    named = {k.removeprefix(PROVINCE) for k in keys if k.startswith(PROVINCE)}
    named.update(province_of[k] for k in keys if k in province_of)
    return named


def _lower(name: str) -> str:
    return " ".join(name.lower().split()) if name.isascii() else name


def _tokenizer() -> Any:  # jieba has no types
    """jieba's tokenizer over its dictionary held compactly (monitor/segment.py:
    3 MB instead of jieba's 50 MB dict, the same words). Loaded on first use:
    only processes that group stories pay it."""
    from monitor.segment import shared_tokenizer

    return shared_tokenizer()


def _segment(text: str) -> list[tuple[str, str]]:
    """Chinese words with the part-of-speech tag of jieba's dictionary that
    grouping needs: ``nr`` (a person's name), ``new`` for a word its HMM found
    outside the dictionary (most names: 张国清), ``w`` for any other word.
    jieba's own tagger finds a few more names but costs seventeen times as much
    (20 ms for 750 characters against 1.2 ms)."""
    tokenizer = _tokenizer()
    tag = tokenizer.words.tag
    return [(word, tag(word)) for word in tokenizer.cut(text)]


def _pinyin() -> Callable[[str], list[str]]:
    """pypinyin's ``lazy_pinyin`` for a name, a character at a time, without
    its table of phrases (names are two or three characters read one by one:
    the same readings for every name of the dev corpus either way) and from a
    compact table of its readings (:mod:`monitor.pinyin`: 0.4 MB against the
    10 MB of pypinyin's own, imported only to make it)."""
    from monitor.pinyin import readings

    return readings()


def _stem(word: str) -> str:
    """A crude English stem, enough for two reports' word forms to meet
    (announces / announced / announcing → announc)."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def pinyin_name(name: str) -> str | None:
    """黄强 → ``huang qiang``, 张国清 → ``zhang guoqing``: surname, then given name."""
    if not 2 <= len(name) <= 3 or name[0] not in _SURNAMES or not _HAN.fullmatch(name[-1]):
        return None
    syllables = _pinyin()(name)
    return f"{syllables[0]} {''.join(syllables[1:])}"


def _number_key(whole: str, fraction: str | None, unit: str | None) -> str | None:
    value = float(whole.replace(",", "") + (fraction or ""))
    if unit:
        value *= _MULTIPLIER[unit.lower()]
    if not fraction and not unit and value < 10:
        return None
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return NUMBER + text


def title_key(title: str) -> str:
    """A document title's normal form: no quotes, brackets or spaces."""
    return _TITLE_NOISE.sub("", title)


@dataclass(frozen=True, slots=True)
class Anchors:
    """The keys of one article, by kind (see the module's docstring)."""

    keys: frozenset[str]
    title_years: frozenset[str]  # years named in the title: the event's year when given

    def of(self, prefix: str) -> frozenset[str]:
        return frozenset(k for k in self.keys if k.startswith(prefix))


def anchors(
    title: str,
    text: str,
    language: str,
    concepts: Iterable[str] = (),
    *,
    doc_titles: Iterable[str] = (),
    bridges: Iterable[str] = (),
    series: Iterable[str] = (),
) -> Anchors:
    """Every anchor and content word of one article (title and text normalised).

    ``bridges``: the article's bodies and venues from the lexicon (SAMR, the
    State Council, the Great Hall of the People), anchors only between
    languages: within one, its words already say them. ``series``: the
    recurring programmes it names (Quality Month, a national award), which
    keep two articles naming different ones apart.
    """
    whole = unicodedata.normalize("NFKC", f"{title}\n{text}")
    keys: set[str] = {CONCEPT + c for c in concepts} | {BRIDGE + b for b in bridges}
    keys |= {SERIES + c for c in series}
    spans: list[tuple[int, int]] = []  # dates and document numbers: not numbers

    # A document is the article's subject when the headline names it, or when
    # the text names it without citing it (依据《…》, 贯彻落实《…》): most
    # reports cite the national outline, which says nothing about the event.
    for m in _DOC_NUMBER.finditer(whole):
        cited = _cites(whole, m.start()) and m.start() > len(title)
        keys.add((CITED if cited else DOC_NUMBER) + _unbracket(m.group()))
        spans.append(m.span())
    for m in (*_QUOTED_TITLE.finditer(whole), *_BARE_TITLE.finditer(whole)):
        inner = m.group(1) if m.re is _QUOTED_TITLE else m.group()
        if len(key := title_key(inner)) >= 6:
            cited = _cites(whole, m.start()) and m.start() > len(title)
            keys.add((CITED if cited else DOC_TITLE) + key)
    for m in _QUOTED_PHRASE.finditer(whole):
        phrase = title_key(m.group(1))
        if len(_HAN.findall(phrase)) >= 8 and len(_HAN.findall(phrase)) * 2 >= len(phrase):
            keys.add(QUOTE + phrase)
    periods = []  # their years are the plan's, not the event's
    for m in _PERIOD.finditer(whole):
        if int(m.group(2)) - int(m.group(1)) >= 2:  # not a season (2016-2017年度)
            keys.add(f"{PERIOD}{m.group(1)}-{m.group(2)}")
            periods.append(m.span())
    # One headline, word for word, over two outlets (a wire story reposted
    # with its own body, or converted between scripts): the same event,
    # unless a veto (another year, another province) says otherwise.
    headline = _HEADLINE_NOISE.sub("", unicodedata.normalize("NFKC", title).lower())
    if len(headline) >= HEADLINE_MIN_CHARS:
        keys.add(HEADLINE + headline)
    if _PREVIEW.search(title) or (not title.strip() and _PREVIEW.search(whole[:80])):
        keys.add(PREVIEW)
    for m in _TITLE_MONTH.finditer(title):
        keys.add(f"{MONTH}{m.group(1)}-{int(m.group(2)):02d}")
    for m in _TITLE_TO_DATE.finditer(unicodedata.normalize("NFKC", title)):
        keys.add(f"{TO_DATE}1-{int(m.group(1))}")
    keys.update(EVENT_TYPE + kind for kind, p in _TYPE_PATTERNS.items() if p.search(title))
    if title.strip():
        places = _places()
        named = [places.key_of[t] for t in places.terms.counts(title.lower())]
        named += _LOCAL.findall(title)
        national = bool(_NATIONAL.search(title))
        if national and not named:
            keys.add(SCOPE + "national")
        elif named and not national:
            keys.add(SCOPE + "local")

    for m in _ZH_DATE.finditer(whole):
        month, day = chinese_number(m.group(1)), chinese_number(m.group(2))
        if month and day and 1 <= month <= 12 and 1 <= day <= 31:
            keys.add(f"{DATE}{month:02d}-{day:02d}")
        spans.append(m.span())
    for m in _EN_DATE.finditer(whole):
        name, digits = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if 1 <= int(digits) <= 31:
            keys.add(f"{DATE}{_MONTHS[name.lower()]:02d}-{int(digits):02d}")
        spans.append(m.span())

    for m in _ZH_ORDINAL.finditer(whole):
        if (n := chinese_number(m.group(1) or m.group(2))) and n < 200:
            keys.add(f"{ORDINAL}{n}")
        spans.append(m.span())
    if _FIRST.search(whole):
        keys.add(ORDINAL + "1")
    for m in _EN_ORDINAL.finditer(whole):
        keys.add(f"{ORDINAL}{int(m.group(1))}")
        spans.append(m.span())
    for m in _EN_ORDINAL_WORD.finditer(whole):
        keys.add(f"{ORDINAL}{_EN_ORDINAL_WORDS[m.group(1).lower()]}")

    # The Nth edition of a recurring programme named in the text (the second
    # China Quality Award), or of the award or conference the headline names:
    # one event, where the ordinal alone is common.
    editions = {k.removeprefix(ORDINAL) for k in keys if k.startswith(ORDINAL)}
    named = [*series, *(k for k in ("award", "conference") if EVENT_TYPE + k in keys)]
    keys.update(f"{EDITION}{c}#{n}" for c in named for n in editions)

    # A year inside a cited title or a document number (《纲要(2011-2020年)》,
    # 〔2012〕) dates that document, not the event.
    quoted = [m.span() for m in _QUOTED_TITLE.finditer(whole)] + spans + periods
    keys.update(
        YEAR + m.group()
        for m in _YEAR.finditer(whole)
        if not any(a <= m.start() < b for a, b in quoted)
    )
    title_years = frozenset(
        TITLE_YEAR + m.group()
        for m in _YEAR.finditer(title)
        if not any(a <= m.start() < b for a, b in quoted)  # 〔2017〕51号 in a headline
    )
    keys.update(title_years)
    # A recurring programme's year named in the headline (2024 Baldrige
    # Awards): that year's edition.
    keys.update(
        f"{YEAR_EDITION}{c}#{y.removeprefix(TITLE_YEAR)}" for c in series for y in title_years
    )
    for m in _YEAR.finditer(whole):
        spans.append(m.span())
    spans.sort()
    for m in _NUMBER.finditer(whole):
        if any(a <= m.start() < b for a, b in spans):
            continue
        if number := _number_key(m.group(1), m.group(2), m.group(3)):
            keys.add(number)

    places = _places()
    keys.update(places.key_of[t] for t in places.terms.counts(whole.lower()))

    if language == "en":
        for m in _EN_NAME.finditer(whole):
            surname = m.group(1).lower()
            if _is_surname_pinyin(surname):
                keys.add(f"{PERSON}{surname} {(m.group(2) + (m.group(3) or '')).lower()}")
        for word in _EN_WORD.findall(whole.lower()):
            word = word.strip("'-")
            if len(word) >= 3 and word not in _EN_STOP:
                keys.add(WORD + _stem(word))
    else:
        for word, flag in _segment(whole):
            if flag in ("nr", "new") and (name := pinyin_name(word)):
                keys.add(PERSON + name)
            if len(word) >= 2 and _HAN.match(word) and word not in _ZH_STOP:
                keys.add(WORD + word)
    return Anchors(frozenset(keys), title_years)


def _cites(text: str, start: int) -> bool:
    """Whether the document named at ``start`` is cited rather than reported."""
    before = text[max(0, start - 40) : start]
    if m := _CLAUSE_END.match(before):  # only the clause naming it: "…印发《" is not cited
        before = before[m.end() :]
    return bool(_CITING.search(before))


def _unbracket(number: str) -> str:
    """One form for a 文号: 〔〕 brackets, no spaces, and no words run into its
    issuer's abbreviation (会上印发川府发〔…〕 is 川府发〔…〕)."""
    number = re.sub(r"\s+", "", re.sub(r"[\[［(（]", "〔", re.sub(r"[\]］)）]", "〕", number)))
    issuer, _, rest = number.partition("〔")
    issuer = _RUN_IN.split(issuer)[-1] or issuer
    return f"{issuer}〔{rest}"


# Words that run into a document number's issuer in a sentence: the issuer
# starts after the last of them.
_RUN_IN = re.compile(r"印发|发布|转发|出台|下发|文件|[以据按依和及的上将了是在为即]")


@lru_cache(maxsize=1)
def _surname_syllables() -> frozenset[str]:
    return frozenset(_pinyin()(ch)[0] for ch in _SURNAMES)


def _is_surname_pinyin(word: str) -> bool:
    return word in _surname_syllables()
