"""jieba's segmentation with its dictionary held compactly.

jieba keeps its dictionary as a dict of every word (349,000) and every prefix
of a word (150,000 more) to its frequency: about 50 MB of the process's
memory once a Chinese text is segmented. The same facts fit in 3 MB: a
MARISA trie of the words (its common-prefix search lists the words that
begin a text at one position, which is what jieba's walk over the prefixes
finds), an array of their frequencies by the trie's key id, and one byte a
word for the tag grouping needs (``nr``, a person's name).

The segmentation is jieba's own (:class:`CompactTokenizer` is a
``jieba.Tokenizer``: its cut, its HMM for words outside the dictionary); only
the two methods that read the dictionary, ``get_DAG`` and ``calc``, are
redone over the trie, with the same arithmetic, so the words come out the
same. The trie is built from jieba's ``dict.txt`` on first use (a second or
two) and kept in the user's cache folder (:mod:`monitor.cachedir`: never a
folder others may write to), keyed by the dictionary's digest; later
processes read it in milliseconds.
"""

from __future__ import annotations

import array
import hashlib
import logging
import struct
import sys
import threading
from collections.abc import Iterator
from math import log
from pathlib import Path
from typing import Any

import marisa_trie

from monitor.cachedir import keep, private, private_cache_dir

log_ = logging.getLogger(__name__)

_MAGIC = b"qmjieba1"
_HEADER = struct.Struct("<8sIIQI")  # magic, keys, trie bytes, total frequency, longest word


_LOADING = threading.Lock()  # the pipeline's worker threads may all start at once
_MAKING = threading.Lock()


def import_jieba() -> Any:  # jieba has no types
    """``import jieba`` without ``pkg_resources``: jieba's ``_compat`` imports it
    (12 MB and 0.3 s, through setuptools) only to open its own files, and falls
    back to a plain ``open`` when the import fails."""
    with _LOADING:
        blocked = "pkg_resources" not in sys.modules
        if blocked:
            sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # the import fails
        try:
            import jieba
        finally:
            if blocked and sys.modules.get("pkg_resources", ...) is None:
                del sys.modules["pkg_resources"]
    jieba.setLogLevel(logging.WARNING)
    return jieba


class Dictionary:
    """jieba's dictionary: the words in a trie, their frequencies and ``nr`` tags
    by key id."""

    def __init__(
        self,
        trie: marisa_trie.Trie,
        freqs: array.array[int],
        names: bytes,
        total: int,
        longest: int,
    ) -> None:
        self.trie = trie
        self.freqs = freqs
        self.names = names
        self.total = total
        self.longest = longest  # characters in the longest word

    def freq(self, word: str) -> int:
        """The word's frequency; 0 when it is not a word of the dictionary."""
        i = self.trie.get(word)
        return 0 if i is None else self.freqs[i]

    def tag(self, word: str) -> str:
        """``nr`` for a word the dictionary tags a person's name, ``w`` for any
        other word of it (frequency above 0), ``new`` for the rest."""
        i = self.trie.get(word)
        if i is None:
            return "new"
        return "nr" if self.names[i] else "w" if self.freqs[i] > 0 else "new"

    def to_bytes(self) -> bytes:
        trie: bytes = self.trie.tobytes()
        freqs = self.freqs.tobytes() if sys.byteorder == "little" else _swapped(self.freqs)
        header = _HEADER.pack(_MAGIC, len(self.trie), len(trie), self.total, self.longest)
        return header + trie + freqs + self.names

    @classmethod
    def from_bytes(cls, data: bytes) -> Dictionary:
        magic, n, trie_len, total, longest = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("not a segmentation dictionary")
        at = _HEADER.size
        trie = marisa_trie.Trie().frombytes(data[at : at + trie_len])
        at += trie_len
        freqs = array.array("I")
        freqs.frombytes(data[at : at + 4 * n])
        if sys.byteorder != "little":
            freqs.byteswap()
        at += 4 * n
        names = bytes(data[at : at + n])
        if len(trie) != n or len(freqs) != n or len(names) != n:
            raise ValueError("a truncated segmentation dictionary")
        return cls(trie, freqs, names, total, longest)

    @classmethod
    def from_text(cls, path: Path) -> Dictionary:
        """Read jieba's ``dict.txt`` ("word freq [tag]" a line) as jieba does,
        in two streaming passes (the words into the trie, then their facts), so
        that no list of 349,000 strings is ever held."""
        trie = marisa_trie.Trie(word for word, _freq, _tag in _rows(path))
        freqs = array.array("I", bytes(4 * len(trie)))
        names = bytearray(len(trie))
        total = longest = 0
        for word, freq, tag in _rows(path):
            longest = max(longest, len(word))
            i = trie[word]
            freqs[i] = freq  # a word listed twice: the last line's, as in jieba
            total += freq
            if tag == "nr":
                names[i] = 1
        return cls(trie, freqs, bytes(names), total, longest)


def _swapped(values: array.array[int]) -> bytes:
    copy = array.array("I", values)
    copy.byteswap()
    return copy.tobytes()


def _rows(path: Path) -> Iterator[tuple[str, int, str]]:
    with path.open("rb") as lines:
        for lineno, line in enumerate(lines, 1):
            parts = line.strip().decode("utf-8").split(" ")
            try:
                word, freq = parts[0], int(parts[1])
            except (IndexError, ValueError):
                raise ValueError(f"invalid dictionary entry in {path} at line {lineno}") from None
            yield word, freq, parts[2] if len(parts) == 3 else ""


def load_dictionary(path: Path, cache_dir: Path | None = None) -> Dictionary:
    """The dictionary of ``path``, from the cache when it holds this file's
    digest, otherwise built from the text and then cached (a cache that cannot
    be written only costs the next process the build again). The cache is
    ``cache_dir``, else the user's private cache folder; a folder that others
    may write to is neither read nor written."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
    folder = cache_dir or private_cache_dir()
    if folder is None or not private(folder):
        log_.info("no private cache folder: the segmentation dictionary is built each start")
        return Dictionary.from_text(path)
    cached = folder / f"quality-monitor-jieba-{digest}.bin"
    try:
        return Dictionary.from_bytes(cached.read_bytes())
    except (OSError, ValueError, struct.error):
        pass
    dictionary = Dictionary.from_text(path)
    keep(cached, dictionary.to_bytes(), "the segmentation dictionary")
    return dictionary


def tokenizer(cache_dir: Path | None = None) -> Any:
    """A jieba tokenizer over the compact dictionary of jieba's ``dict.txt``."""
    jieba = import_jieba()
    with _LOADING:
        dictionary = load_dictionary(Path(jieba.__file__).with_name("dict.txt"), cache_dir)

    class CompactTokenizer(jieba.Tokenizer):  # type: ignore[misc,name-defined]
        """``jieba.Tokenizer`` whose dictionary is a :class:`Dictionary`.

        ``FREQ`` answers as jieba's dict would (a word's frequency, 0 for a
        prefix of a word, absent otherwise) for jieba's other methods; ``cut``
        goes through ``get_DAG`` and ``calc`` below and one ``FREQ.get``."""

        def __init__(self, dictionary: Dictionary) -> None:
            super().__init__()
            self.words = dictionary
            self.FREQ = _Frequencies(dictionary)
            self.total = dictionary.total
            self.initialized = True

        def initialize(self, dictionary: object = None) -> None:
            if dictionary is not None:
                raise NotImplementedError("the compact tokenizer keeps jieba's dictionary")

        def get_DAG(self, sentence: str) -> dict[int, list[int]]:
            """For each position, where the dictionary's words that start there
            end (jieba walks the prefixes one character at a time; the trie's
            common-prefix search lists the same words, shortest first). Each
            word's weight for :meth:`calc` is noted on the way."""
            prefixes = self.words.trie.iter_prefixes_with_ids
            freqs = self.words.freqs
            span = self.words.longest
            logtotal = log(self.total)
            dag = _Dag()
            weights = dag.weights = {}
            for k in range(len(sentence)):
                ends = []
                weight = []
                for w, i in prefixes(sentence[k : k + span]):
                    if f := freqs[i]:
                        ends.append(k + len(w) - 1)
                        weight.append(log(f) - logtotal)
                if ends:
                    dag[k] = ends
                    weights[k] = weight
                else:  # a character outside the dictionary: jieba counts it once
                    dag[k] = [k]
                    weights[k] = [log(1) - logtotal]
            return dag

        def calc(
            self,
            sentence: str,
            DAG: dict[int, list[int]],
            route: dict[int, tuple[float, int]],
        ) -> None:
            """jieba's best route, with its arithmetic: ``log(freq) - log(total)``
            plus the rest of the route, the same floats and the same ties."""
            weights = DAG.weights if isinstance(DAG, _Dag) else self._weights(sentence, DAG)
            n = len(sentence)
            route[n] = (0, 0)
            for idx in range(n - 1, -1, -1):
                route[idx] = max(
                    (w + route[x + 1][0], x) for x, w in zip(DAG[idx], weights[idx], strict=True)
                )

        def _weights(self, sentence: str, dag: dict[int, list[int]]) -> dict[int, list[float]]:
            freq = self.words.freq
            logtotal = log(self.total)
            return {
                k: [log(freq(sentence[k : x + 1]) or 1) - logtotal for x in ends]
                for k, ends in dag.items()
            }

    return CompactTokenizer(dictionary)


_shared: list[Any] = []


def shared_tokenizer() -> Any:
    """The process's one tokenizer, made at first use (by one thread, while the
    others wait for it)."""
    if not _shared:
        with _MAKING:
            if not _shared:
                _shared.append(tokenizer())
    return _shared[0]


class _Dag(dict[int, list[int]]):
    """jieba's DAG (position → where its words end) with each word's weight."""

    __slots__ = ("weights",)
    weights: dict[int, list[float]]


class _Frequencies:
    """The read side of jieba's ``FREQ`` dict over a :class:`Dictionary`."""

    def __init__(self, dictionary: Dictionary) -> None:
        self._words = dictionary

    def get(self, word: str, default: int | None = None) -> int | None:
        i = self._words.trie.get(word)
        if i is not None:
            return int(self._words.freqs[i])
        if word and next(self._words.trie.iterkeys(word), None) is not None:
            return 0  # a prefix of a word, as jieba keeps them
        return default

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        value = self.get(word)
        if value is None:
            raise KeyError(word)
        return value

    def __setitem__(self, word: str, freq: int) -> None:
        raise NotImplementedError("the compact dictionary is read-only (no add_word)")
