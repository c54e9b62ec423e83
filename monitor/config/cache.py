"""A per-user cache of what a big ``sources.yaml`` reads as, before validation. [IO]

Every ``run``, ``run --once`` and ``check`` reads the configuration. For a long
source list most of that is YAML (libyaml's composer, PyYAML's Python resolver
and constructor, the walk that records each value's line): ~0.2 ms a source.
What that stage gives — the data, the line of each value, the duplicate keys —
depends only on the file's text and on the code that reads it, so it is kept
as JSON (no pickle: loading it runs no code) in one file per configuration path
under ``$XDG_CACHE_HOME/quality-monitor`` (else ``~/.cache/quality-monitor``),
a folder only its user may open (0700). Environment expansion and validation
still run at every start, on the cached data.

A cache is used only when it is exactly this text read by this code: its key is
a hash of the text, of the loader's source and of PyYAML's version. Anything
else — no cache folder, one that is not the user's own or that others may
write, a file that cannot be read or parsed, a key that differs — means the
file is read as if there were no cache. Small files (under ``MIN_BYTES``) are
never cached: they read in milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from monitor.cachedir import cache_dir, private

__all__ = ["MIN_BYTES", "Tree", "cache_dir", "load", "store"]

MIN_BYTES = 64 * 1024  # ~250 sources; below that the YAML costs less than a cache's files
_FORMAT = 1  # bump when what is stored changes
_LOADER_SOURCE = Path(__file__).with_name("loader.py")

YamlPath = tuple[str | int, ...]
Tree = tuple[Any, dict[YamlPath, int], list[str]]  # data, line of each path, raw problems


def _key(text: str) -> str:
    digest = hashlib.sha256()
    for part in (str(_FORMAT), yaml.__version__, _loader_hash()):
        digest.update(part.encode() + b"\x00")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


_loader_digest: str | None = None


def _loader_hash() -> str:
    """The loader's source: a change to how the file is read retires every entry."""
    global _loader_digest
    if _loader_digest is None:
        _loader_digest = hashlib.sha256(_LOADER_SOURCE.read_bytes()).hexdigest()
    return _loader_digest


def _slot(folder: Path, name: str) -> Path:
    """One file per configuration path: a changed file replaces its own entry."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return folder / f"config-{digest[:32]}.json"


def load(text: str, name: str, folder: Path | None) -> Tree | None:
    """The tree stored for exactly this text, or None."""
    if folder is None or len(text) < MIN_BYTES or not private(folder):
        return None
    try:
        stored = json.loads(_slot(folder, name).read_text(encoding="utf-8"))
        if stored["key"] != _key(text):
            return None
        lines = {tuple(path): int(line) for path, line in stored["lines"]}
        problems = [str(p) for p in stored["problems"]]
        return stored["data"], lines, problems
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(text: str, name: str, folder: Path | None, tree: Tree) -> None:
    """Keep ``tree`` for this text, when JSON gives back the same data (a YAML
    date, a set or a key that is no string do not survive it: such a file is
    simply not cached). Never fails: a cache that cannot be written is none."""
    if folder is None or len(text) < MIN_BYTES:
        return
    data, lines, problems = tree
    try:
        encoded = json.dumps(data, ensure_ascii=False, allow_nan=False)
        if json.loads(encoded) != data:
            return
        body = (
            f'{{"key": {json.dumps(_key(text))}, "data": {encoded}, '
            f'"lines": {json.dumps([[list(p), n] for p, n in lines.items()], ensure_ascii=False)}, '
            f'"problems": {json.dumps(problems, ensure_ascii=False)}}}'
        )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not private(folder):
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".config-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(tmp, _slot(folder, name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, ValueError, TypeError, RecursionError):
        return
