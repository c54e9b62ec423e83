"""Tests for the geographic lexicon (monitor/lexicon)."""

from __future__ import annotations

import re
from collections import Counter

import opencc
import pytest
import yaml

from monitor.lexicon import (
    DATA_FILE,
    Place,
    ambiguous_names,
    load_provinces,
    name_collisions,
    place_names,
    province_by_code,
)

ISO_CODES = {
    "CN-AH", "CN-BJ", "CN-CQ", "CN-FJ", "CN-GD", "CN-GS", "CN-GX", "CN-GZ", "CN-HA",
    "CN-HB", "CN-HE", "CN-HI", "CN-HK", "CN-HL", "CN-HN", "CN-JL", "CN-JS", "CN-JX",
    "CN-LN", "CN-MO", "CN-NM", "CN-NX", "CN-QH", "CN-SC", "CN-SD", "CN-SH", "CN-SN",
    "CN-SX", "CN-TJ", "CN-TW", "CN-XJ", "CN-XZ", "CN-YN", "CN-ZJ",
}  # fmt: skip

# Prefecture-level divisions (地级市 + 自治州 + 地区 + 盟) per province.
PREFECTURE_COUNTS = {
    "CN-HE": 11, "CN-SX": 11, "CN-NM": 12, "CN-LN": 14, "CN-JL": 9, "CN-HL": 13,
    "CN-JS": 13, "CN-ZJ": 11, "CN-AH": 16, "CN-FJ": 9, "CN-JX": 11, "CN-SD": 16,
    "CN-HA": 17, "CN-HB": 13, "CN-HN": 14, "CN-GD": 21, "CN-GX": 14, "CN-HI": 4,
    "CN-SC": 21, "CN-GZ": 9, "CN-YN": 16, "CN-XZ": 7, "CN-SN": 10, "CN-GS": 14,
    "CN-QH": 8, "CN-NX": 5, "CN-XJ": 14,
    "CN-BJ": 0, "CN-TJ": 0, "CN-SH": 0, "CN-CQ": 0, "CN-HK": 0, "CN-MO": 0,
}  # fmt: skip

HAN = re.compile(r"^[\u4e00-\u9fff]+$")
ENGLISH = re.compile(r"^[A-Za-z][A-Za-z' \-]*[A-Za-z]$")


def _raw() -> dict:
    with DATA_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_exactly_34_provinces_with_unique_iso_codes():
    provinces = load_provinces()
    codes = [p.code for p in provinces]
    assert len(provinces) == 34
    assert len(set(codes)) == 34
    assert all(re.fullmatch(r"CN-[A-Z]{2}", code) for code in codes)
    assert set(codes) == ISO_CODES


def test_every_province_is_complete():
    for p in load_provinces():
        assert HAN.match(p.zh), p
        assert HAN.match(p.zh_short), p
        assert p.zh.startswith(p.zh_short), p
        assert len(p.abbr) == 1, p
        assert HAN.match(p.abbr), p
        assert p.en, p
        assert all(ENGLISH.match(name) for name in p.en), p
        assert HAN.match(p.capital), p


def test_province_spot_checks():
    sc = province_by_code("CN-SC")
    assert (sc.zh, sc.zh_short, sc.abbr, sc.capital) == ("四川省", "四川", "川", "成都")
    assert sc.en == ("Sichuan",)
    assert province_by_code("CN-GX").zh == "广西壮族自治区"
    assert province_by_code("CN-NM").zh_short == "内蒙古"
    assert "Nei Mongol" in province_by_code("CN-NM").en
    assert set(province_by_code("CN-XZ").en) >= {"Tibet", "Xizang"}
    assert province_by_code("CN-SN").en == ("Shaanxi",)
    assert province_by_code("CN-SX").en == ("Shanxi",)
    assert province_by_code("CN-GD").abbr == "粤"


def test_unknown_code_raises_key_error():
    with pytest.raises(KeyError):
        province_by_code("CN-XX")


def test_load_is_cached():
    assert load_provinces() is load_provinces()


def test_prefecture_counts():
    counts = {p.code: len(p.cities) for p in load_provinces()}
    for code, expected in PREFECTURE_COUNTS.items():
        assert counts[code] == expected, code
    mainland = sum(n for code, n in counts.items() if code not in {"CN-HK", "CN-MO", "CN-TW"})
    assert mainland == 333


def test_prefecture_kinds_add_up():
    kinds = Counter(
        city.get("kind", "city")
        for province in _raw()["provinces"]
        if province["code"] != "CN-TW"
        for city in province["cities"]
    )
    assert kinds == {"city": 293, "autonomous_prefecture": 30, "prefecture": 7, "league": 3}


def test_city_entries_are_well_formed():
    for p in load_provinces():
        zh_names = [zh for zh, _ in p.cities]
        assert len(set(zh_names)) == len(zh_names), p.code
        for zh, en in (*p.cities, *p.others):
            assert HAN.match(zh), (p.code, zh)
            assert not zh.endswith("市"), (p.code, zh)
            assert ENGLISH.match(en), (p.code, en)
        if p.cities:
            assert p.capital in zh_names, p.code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("成都", "CN-SC"),
        ("成都市", "CN-SC"),
        ("Chengdu", "CN-SC"),
        ("杭州", "CN-ZJ"),
        ("Hangzhou", "CN-ZJ"),
        ("深圳", "CN-GD"),
        ("泸州", "CN-SC"),
        ("广州", "CN-GD"),
        ("西安", "CN-SN"),
        ("太原", "CN-SX"),
        ("呼和浩特", "CN-NM"),
        ("拉萨", "CN-XZ"),
        ("乌鲁木齐", "CN-XJ"),
        ("凉山", "CN-SC"),
        ("凉山彝族自治州", "CN-SC"),
        ("恩施州", "CN-HB"),
        ("锡林郭勒盟", "CN-NM"),
        ("阿里地区", "CN-XZ"),
        ("长治市", "CN-SX"),
        ("海南", "CN-HI"),
        ("海南州", "CN-QH"),
        ("浦东新区", "CN-SH"),
        ("雄安新区", "CN-HE"),
        ("仙桃", "CN-HB"),
    ],
)
def test_place_names_spot_checks(name: str, code: str):
    assert place_names()[name].code == code


def test_place_levels_and_languages():
    names = place_names()
    assert names["四川"] == Place("CN-SC", "四川", "province", "zh")
    assert names["Sichuan"] == Place("CN-SC", "Sichuan", "province", "en")
    assert names["绵阳"] == Place("CN-SC", "绵阳", "city", "zh")
    assert names["Mianyang"] == Place("CN-SC", "Mianyang", "city", "en")
    # A city named like its own province keeps the province entry.
    assert names["吉林"] == Place("CN-JL", "吉林", "province", "zh")
    assert names["吉林市"].level == "city"
    # Only real cities get 市: no 凉山市.
    assert "凉山市" not in names


def test_abbreviations_are_never_matched():
    names = place_names()
    for p in load_provinces():
        if p.abbr not in {p.zh_short, p.zh}:
            assert p.abbr not in names, p.abbr


def test_ambiguous_names_are_not_matchable():
    names = {name.casefold() for name in place_names()}
    ambiguous = ambiguous_names()
    assert {"朝阳", "通州", "fuzhou", "taizhou", "suzhou", "yichun", "yulin"} <= ambiguous
    assert not ambiguous & names


def test_ambiguous_list_covers_every_collision():
    collisions = name_collisions()
    # The five well-known English pairs must actually be detected by the loader.
    for name, codes in {
        "Fuzhou": {"CN-FJ", "CN-JX"},
        "Suzhou": {"CN-JS", "CN-AH"},
        "Taizhou": {"CN-ZJ", "CN-JS"},
        "Yichun": {"CN-HL", "CN-JX"},
        "Yulin": {"CN-GX", "CN-SN"},
    }.items():
        assert collisions[name] == codes
    missing = {name for name in collisions if name.casefold() not in ambiguous_names()}
    assert not missing, f"collisions not listed under `ambiguous`: {sorted(missing)}"


def test_no_name_maps_to_two_provinces():
    names = {name.casefold() for name in place_names()}
    assert not names & {name.casefold() for name in name_collisions()}
    for name, place in place_names().items():
        assert place.name == name
        assert place.code in ISO_CODES


def test_no_province_name_is_ambiguous():
    ambiguous = ambiguous_names()
    for p in load_provinces():
        for name in (p.zh, p.zh_short, *p.aliases, *p.en):
            assert name.casefold() not in ambiguous, name
            assert place_names()[name].code == p.code


# Hong Kong forms that OpenCC's t2s (what monitor.normalize uses) leaves as they
# are: HK text writes 中衞 for 中卫, and t2s only maps 衛, not 衞.
T2S_GAPS = {"衞"}


def test_chinese_names_survive_traditional_round_trip():
    """Names are simplified, and Taiwan/HK-written text converts back to them."""
    t2s = opencc.OpenCC("t2s")
    s2tw = opencc.OpenCC("s2tw")
    s2hk = opencc.OpenCC("s2hk")
    hk_gaps = set()
    for name, place in place_names().items():
        if place.language != "zh":
            continue
        assert HAN.match(name), name
        assert t2s.convert(name) == name, name
        assert t2s.convert(s2tw.convert(name)) == name, name
        hk = s2hk.convert(name)
        if t2s.convert(hk) != name:
            assert set(hk) & T2S_GAPS, (name, hk)
            hk_gaps.add(name)
    assert hk_gaps <= {"中卫", "中卫市"}


def test_place_names_returns_a_copy():
    names = place_names()
    names.clear()
    assert place_names()
