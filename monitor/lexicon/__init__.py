"""Geographic lexicon: China's 34 provincial-level divisions and their prefectures.

The data lives in ``provinces.yaml`` next to this module; this module only reads
it.  :func:`place_names` is the matching table: every name that is safe to take
as evidence that a text is about one province, mapped to that province.

A name is left out of the table when the YAML lists it under ``ambiguous``, or
when it turns up in two provinces (found here, whatever the YAML says; see
:func:`name_collisions`).  English names are compared case-insensitively for
both checks.  Chinese names are simplified characters: convert text to
simplified before looking names up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

__all__ = [
    "Place",
    "Province",
    "ambiguous_names",
    "load_provinces",
    "name_collisions",
    "place_names",
    "province_by_code",
    "province_label",
]

DATA_FILE = Path(__file__).with_name("provinces.yaml")

CITY_KINDS = frozenset({"city", "autonomous_prefecture", "prefecture", "league"})
OTHER_KINDS = frozenset({"county_city", "forestry_area", "new_area", "district", "county"})

# The written suffix added to a place's short name to form its full name.
_SUFFIX = {"city": "市", "county_city": "市", "district": "区", "county": "县"}


@dataclass(frozen=True, slots=True)
class Place:
    """What a matched name stands for."""

    code: str  # province ISO code, e.g. "CN-SC"
    name: str  # the matched name as written in the lexicon
    level: str  # "province" | "city" (any place below the province)
    language: str  # "zh" | "en"


@dataclass(frozen=True, slots=True)
class Province:
    """One provincial-level division."""

    code: str
    zh: str
    zh_short: str
    abbr: str
    en: tuple[str, ...]
    capital: str
    cities: tuple[tuple[str, str], ...]  # prefecture-level divisions, (zh, en)
    aliases: tuple[str, ...] = ()  # further Chinese names of the province
    # Places below the province that are not prefecture-level, (zh, en).
    others: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Lexicon:
    provinces: tuple[Province, ...]
    by_code: Mapping[str, Province]
    names: Mapping[str, Place]
    collisions: Mapping[str, frozenset[str]]
    ambiguous: frozenset[str]


def load_provinces() -> tuple[Province, ...]:
    """All 34 provincial-level divisions, in file order."""
    return _lexicon().provinces


def province_by_code(code: str) -> Province:
    """The province with ISO code *code* (``"CN-SC"``); KeyError if unknown."""
    return _lexicon().by_code[code]


NATIONAL = "CN"  # the code of national stories (State Council, SAMR, national events)
_NATIONAL_LABELS = {"zh": "全国", "en": "National"}


def province_label(code: str | None, language: str = "zh") -> str | None:
    """The short name people write for a province code, from this lexicon:
    ``CN-SC`` → 四川 (``en``: Sichuan), ``CN`` → 全国 (National); None when
    the code is empty or unknown. The one table of province names: posts,
    hashtags, digests, the bot and the dashboard all ask here."""
    if not code:
        return None
    code = code.strip().upper()
    english = language.lower().startswith("en")
    if code == NATIONAL:
        return _NATIONAL_LABELS["en" if english else "zh"]
    province = _lexicon().by_code.get(code)
    if province is None:
        return None
    if english:
        return province.en[0] if province.en else province.code
    return province.zh_short


def place_names() -> dict[str, Place]:
    """Every unambiguous matchable name → its :class:`Place` (a fresh dict)."""
    return dict(_lexicon().names)


def name_collisions() -> dict[str, frozenset[str]]:
    """Names the loader found in more than one province → their province codes."""
    return dict(_lexicon().collisions)


def ambiguous_names() -> frozenset[str]:
    """The YAML's ``ambiguous`` list, casefolded."""
    return _lexicon().ambiguous


def _key(name: str) -> str:
    return name.casefold()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{DATA_FILE.name}: {where}: expected a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _required(entry: Mapping[str, Any], field: str, where: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{DATA_FILE.name}: {where}: missing or empty {field!r}")
    return value.strip()


def _place_entries(
    entries: Any, kinds: frozenset[str], default: str | None, where: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(zh, en) pairs, and every (name, language) the entries make matchable."""
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ValueError(f"{DATA_FILE.name}: {where}: expected a list")
    pairs: list[tuple[str, str]] = []
    names: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{DATA_FILE.name}: {here}: expected a mapping")
        zh = _required(entry, "zh", here)
        en = _required(entry, "en", here)
        kind = entry.get("kind", default)
        if kind not in kinds:
            raise ValueError(f"{DATA_FILE.name}: {here}: kind {kind!r} not one of {sorted(kinds)}")
        pairs.append((zh, en))
        names.append((zh, "zh"))
        if kind in _SUFFIX and not zh.endswith(_SUFFIX[kind]):
            names.append((zh + _SUFFIX[kind], "zh"))
        names.extend((alias, "zh") for alias in _strings(entry.get("aliases"), here))
        names.append((en, "en"))
        names.extend((alias, "en") for alias in _strings(entry.get("en_aliases"), here))
    return pairs, names


def _parse_province(entry: Any, index: int) -> tuple[Province, list[tuple[str, str, str]]]:
    """The province and every (name, level, language) it makes matchable."""
    where = f"provinces[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{DATA_FILE.name}: {where}: expected a mapping")
    code = _required(entry, "code", where)
    where = f"{where} ({code})"
    zh = _required(entry, "zh", where)
    zh_short = _required(entry, "zh_short", where)
    en = _strings(entry.get("en"), f"{where}.en")
    if not en:
        raise ValueError(f"{DATA_FILE.name}: {where}: no English name")
    aliases = _strings(entry.get("aliases"), f"{where}.aliases")
    cities, city_names = _place_entries(entry.get("cities"), CITY_KINDS, "city", f"{where}.cities")
    others, other_names = _place_entries(entry.get("others"), OTHER_KINDS, None, f"{where}.others")
    province = Province(
        code=code,
        zh=zh,
        zh_short=zh_short,
        abbr=_required(entry, "abbr", where),
        en=en,
        capital=_required(entry, "capital", where),
        cities=tuple(cities),
        aliases=aliases,
        others=tuple(others),
    )
    names = [(name, "province", "zh") for name in (zh, zh_short, *aliases)]
    names += [(name, "province", "en") for name in en]
    names += [(name, "city", language) for name, language in (*city_names, *other_names)]
    return province, names


def _build(raw: Any) -> _Lexicon:
    if not isinstance(raw, dict) or not isinstance(raw.get("provinces"), list):
        raise ValueError(f"{DATA_FILE.name}: expected a mapping with a 'provinces' list")
    ambiguous = frozenset(_key(name) for name in _strings(raw.get("ambiguous"), "ambiguous"))

    provinces: list[Province] = []
    by_code: dict[str, Province] = {}
    # casefolded name → province code → the first Place registered for it there
    seen: dict[str, dict[str, Place]] = {}
    for index, entry in enumerate(raw["provinces"]):
        province, names = _parse_province(entry, index)
        if province.code in by_code:
            raise ValueError(f"{DATA_FILE.name}: duplicate province code {province.code}")
        provinces.append(province)
        by_code[province.code] = province
        # Province names come first, so a city named like its own province
        # (吉林) keeps the province-level entry.
        for name, level, language in names:
            places = seen.setdefault(_key(name), {})
            places.setdefault(province.code, Place(province.code, name, level, language))

    collisions = {
        next(iter(places.values())).name: frozenset(places)
        for places in seen.values()
        if len(places) > 1
    }
    table = {
        place.name: place
        for key, places in seen.items()
        if len(places) == 1 and key not in ambiguous
        for place in places.values()
    }
    return _Lexicon(
        provinces=tuple(provinces),
        by_code=MappingProxyType(by_code),
        names=MappingProxyType(table),
        collisions=MappingProxyType(collisions),
        ambiguous=ambiguous,
    )


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    # libyaml when present (a shipped file, read at each start: ~10× faster)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with DATA_FILE.open(encoding="utf-8") as fh:
        return _build(yaml.load(fh, Loader=loader))
