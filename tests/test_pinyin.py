"""monitor/pinyin.py: pypinyin's readings of single characters, held compactly."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from monitor import pinyin

os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")  # as pinyin.py imports it: names only
from pypinyin import lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> pinyin.Readings:
    folder = tmp_path_factory.mktemp("cache")
    folder.chmod(0o700)
    return pinyin.load(folder)


def test_every_character_reads_as_lazy_pinyin_reads_it(table: pinyin.Readings) -> None:
    rng = random.Random(3)
    others = [rng.randrange(pinyin.FIRST, pinyin.END) for _ in range(5000)]
    outside = [0x41, 0x2FFF, 0x32400, 0x10FFFF, ord("·")]
    for code in [*pinyin_dict, *others, *outside]:
        char = chr(code)
        assert table.of(char) == lazy_pinyin(char)[0], hex(code)


def test_a_name_reads_as_its_characters(table: pinyin.Readings) -> None:
    """The characters of a name read one by one read as the whole name does."""
    rng = random.Random(5)
    codes = [c for c in pinyin_dict if pinyin.FIRST <= c < pinyin.END]
    for _ in range(3000):
        name = "".join(chr(rng.choice(codes)) for _ in range(rng.choice((2, 3))))
        assert table(name) == lazy_pinyin(name), name
    assert table("黄强") == ["huang", "qiang"]


def test_the_cache_is_written_once_and_read_back(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    made = pinyin.load(tmp_path)
    [cached] = tmp_path.glob("quality-monitor-pinyin-*.bin")
    written = cached.stat().st_mtime_ns
    again = pinyin.load(tmp_path)
    assert cached.stat().st_mtime_ns == written  # read, not made again
    assert again("张国清") == made("张国清") == ["zhang", "guo", "qing"]
    cached.write_bytes(cached.read_bytes()[:1000])  # cut short: made again, and rewritten
    assert pinyin.load(tmp_path)("黄强") == ["huang", "qiang"]
    assert cached.stat().st_size > 1000


def test_a_folder_others_may_write_to_is_neither_read_nor_written(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    assert pinyin.load(tmp_path)("黄强") == ["huang", "qiang"]
    assert not list(tmp_path.glob("quality-monitor-pinyin-*"))
