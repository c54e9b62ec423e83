"""The pinyin of Chinese characters, held compactly (a name's reading for grouping).

pypinyin's table of single characters (41,923 of them, without its table of
phrases) is ~10 MB of the process's memory once it is imported; grouping
only needs the toneless reading of each character of a name, one at a time
(a name's characters read one by one read the same as the name: checked
over all of them by tests/test_pinyin.py). The same facts fit in ~0.4 MB: a
syllable number for each code point of the range the table covers, and the
415 syllables. The table is made from pypinyin's own readings
(``lazy_pinyin``) on first use and kept in the user's cache folder
(:mod:`monitor.cachedir`: never a folder others may write to), keyed by the
digest of pypinyin's data file; later processes read it without importing
pypinyin.
"""

from __future__ import annotations

import array
import hashlib
import importlib.util
import logging
import os
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from monitor.cachedir import keep, private, private_cache_dir

__all__ = ["Readings", "readings"]

log = logging.getLogger(__name__)

FIRST, END = 0x3000, 0x32400  # the code points pypinyin's table covers (0x3007–0x32389)
_NONE = 0xFFFF  # no reading: the character reads as itself, as in lazy_pinyin
_MAGIC = b"qmpinyn1"
_HEADER = struct.Struct("<8sII")  # magic, code points, syllables' bytes

_MAKING = threading.Lock()  # the pipeline's worker threads may all meet a name at once


class Readings:
    """Each character's toneless pinyin (``lazy_pinyin``'s default style)."""

    def __init__(self, numbers: array.array[int], syllables: list[str]) -> None:
        self._numbers = numbers
        self._syllables = syllables

    def __call__(self, text: str) -> list[str]:
        """``lazy_pinyin(text)`` for a name: each character's reading, or the
        character itself when it has none."""
        return [self.of(c) for c in text]

    def of(self, char: str) -> str:
        code = ord(char) - FIRST
        if 0 <= code < len(self._numbers) and (n := self._numbers[code]) != _NONE:
            return self._syllables[n]
        return char

    def to_bytes(self) -> bytes:
        numbers = array.array("H", self._numbers)
        if sys.byteorder != "little":
            numbers.byteswap()
        syllables = "\n".join(self._syllables).encode("ascii")
        return _HEADER.pack(_MAGIC, len(numbers), len(syllables)) + numbers.tobytes() + syllables

    @classmethod
    def from_bytes(cls, data: bytes) -> Readings:
        magic, count, size = _HEADER.unpack_from(data)
        if magic != _MAGIC or count != END - FIRST:
            raise ValueError("not a pinyin table")
        at = _HEADER.size
        numbers = array.array("H")
        numbers.frombytes(data[at : at + 2 * count])
        if sys.byteorder != "little":
            numbers.byteswap()
        syllables = data[at + 2 * count : at + 2 * count + size].decode("ascii").split("\n")
        if len(numbers) != count or any(n != _NONE and n >= len(syllables) for n in numbers):
            raise ValueError("a truncated pinyin table")
        return cls(numbers, syllables)

    @classmethod
    def from_pypinyin(cls) -> Readings:
        """The table, read from pypinyin (its phrases left out: names are read
        a character at a time)."""
        os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
        from pypinyin import lazy_pinyin
        from pypinyin.pinyin_dict import pinyin_dict

        numbers = array.array("H", [_NONE]) * (END - FIRST)
        index: dict[str, int] = {}
        for code in pinyin_dict:
            if FIRST <= code < END:
                [syllable] = lazy_pinyin(chr(code))
                if syllable != chr(code):
                    numbers[code - FIRST] = index.setdefault(syllable, len(index))
        return cls(numbers, list(index))


def _data_file() -> Path:
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or spec.origin is None:
        raise ImportError("pypinyin is not installed")
    return Path(spec.origin).with_name("pinyin_dict.py")


def load(cache_dir: Path | None = None) -> Readings:
    """The table, from the cache when it holds pypinyin's data file's digest,
    otherwise made from pypinyin and then cached (a cache that cannot be
    written only costs the next process the making again)."""
    digest = hashlib.sha256(_data_file().read_bytes()).hexdigest()[:20]
    folder = cache_dir or private_cache_dir()
    if folder is None or not private(folder):
        log.info("no private cache folder: the pinyin table is made each start")
        return Readings.from_pypinyin()
    cached = folder / f"quality-monitor-pinyin-{digest}.bin"
    try:
        return Readings.from_bytes(cached.read_bytes())
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        pass
    made = Readings.from_pypinyin()
    keep(cached, made.to_bytes(), "the pinyin table")
    return made


_shared: Readings | None = None


def readings() -> Callable[[str], list[str]]:
    """The process's table, loaded once."""
    global _shared
    with _MAKING:
        if _shared is None:
            _shared = load()
        return _shared
