"""monitor/segment.py: jieba's segmentation over its dictionary held compactly."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from monitor import segment

TEXTS = [
    "四川省市场监督管理局召开全省质量强省建设推进会，部署2024年质量提升重点任务。",
    "广东省人民政府办公厅印发《关于加快建设质量强省的实施意见》的通知",
    "会议指出，要深入实施质量强国战略，张国清、黄强出席会议并讲话。",
    "浙江“品字标”品牌建设成效显著，85.5%的企业通过认证，新增计量标准2521项。",
    "Quality Month 质量月 活动在成都启动 abc123",
    "",
]


@pytest.fixture(scope="module")
def jieba_tokenizer() -> Any:
    jieba = segment.import_jieba()
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


@pytest.fixture(scope="module")
def compact(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return segment.tokenizer(cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_same_words_as_jieba(jieba_tokenizer: Any, compact: Any) -> None:
    for text in TEXTS:
        assert list(compact.cut(text)) == list(jieba_tokenizer.cut(text)), text
        for block in segment.import_jieba().re_han_default.split(text):
            if block:
                assert compact.get_DAG(block) == jieba_tokenizer.get_DAG(block)


def test_freq_answers_as_jiebas_dict(jieba_tokenizer: Any, compact: Any) -> None:
    freq = jieba_tokenizer.FREQ
    words = ["质量", "质量强", "质量强省", "张", "国务院", "国务", "xyz", "质量强省建设推进", ""]
    for word in words:
        assert compact.FREQ.get(word) == freq.get(word), word
        assert (word in compact.FREQ) == (word in freq), word
    assert compact.total == jieba_tokenizer.total
    assert len(compact.words.trie) == sum(1 for v in freq.values() if v > 0)


def test_tags_for_grouping(compact: Any) -> None:
    jieba = segment.import_jieba()
    with jieba.get_dict_file() as lines:
        rows = [line.split() for line in lines]
    names = {r[0].decode() for r in rows if len(r) == 3 and r[2] == b"nr"}
    assert sum(compact.words.names) == len(names)
    assert compact.words.tag("质量") == "w"
    assert compact.words.tag("张国清") == "new"  # not in the dictionary
    some_name = sorted(names)[0]
    assert compact.words.tag(some_name) == "nr"


def test_the_cache_is_written_once_and_read_back(tmp_path: Path) -> None:
    first = segment.tokenizer(cache_dir=tmp_path)
    cached = list(tmp_path.glob("quality-monitor-jieba-*.bin"))
    assert len(cached) == 1
    second = segment.tokenizer(cache_dir=tmp_path)
    assert second.words.total == first.words.total
    assert list(second.cut(TEXTS[0])) == list(first.cut(TEXTS[0]))
    cached[0].write_bytes(b"broken")  # a damaged cache is rebuilt, not trusted
    third = segment.tokenizer(cache_dir=tmp_path)
    assert list(third.cut(TEXTS[1])) == list(first.cut(TEXTS[1]))
    assert segment.Dictionary.from_bytes(cached[0].read_bytes()).total == first.words.total


def test_a_folder_others_may_write_to_is_neither_read_nor_written(tmp_path: Path) -> None:
    """Another local user could plant a dictionary there that changes every cut."""
    words = tmp_path / "dict.txt"
    words.write_text("质量 100 n\n强省 50 v\n", encoding="utf-8")
    planted = segment.Dictionary.from_text(words)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    digest = hashlib.sha256(words.read_bytes()).hexdigest()[:20]
    (shared / f"quality-monitor-jieba-{digest}.bin").write_bytes(planted.to_bytes())
    words.write_text("质量 100 n\n强省 50 v\n强国 70 v\n", encoding="utf-8")
    digest = hashlib.sha256(words.read_bytes()).hexdigest()[:20]
    planted_now = shared / f"quality-monitor-jieba-{digest}.bin"
    planted_now.write_bytes(planted.to_bytes())  # two words where the file has three

    loaded = segment.load_dictionary(words, cache_dir=shared)
    assert loaded.total == 220  # built from the file, not the planted 150
    assert planted_now.read_bytes() == planted.to_bytes()  # and nothing written there
    assert len(list(shared.iterdir())) == 2

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert segment.load_dictionary(words, cache_dir=private).total == 220
    assert len(list(private.glob("quality-monitor-jieba-*.bin"))) == 1


def test_threads_starting_together_share_one_tokenizer() -> None:
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(segment.shared_tokenizer())) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and all(g is got[0] for g in got)
