"""The user's own cache folder, for what a process may keep for the next one. [IO]

``$XDG_CACHE_HOME/quality-monitor``, else ``~/.cache/quality-monitor``. What is
kept there (the YAML stage of a big ``sources.yaml``, the segmentation
dictionary) is read back by later processes, so it is used only from a folder
that belongs to this user and that no one else may write to: a shared folder
such as /tmp would let another local user plant what this process reads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["cache_dir", "keep", "private", "private_cache_dir"]


def cache_dir(env: dict[str, str] | None = None) -> Path | None:
    """The user's cache folder for quality-monitor, or None when there is no home."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CACHE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / "quality-monitor"
    with contextlib.suppress(RuntimeError, KeyError):  # no home directory to speak of
        return Path.home() / ".cache" / "quality-monitor"
    return None


def private(folder: Path) -> bool:
    """Whether ``folder`` is a directory of this user that no one else may write to."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def private_cache_dir() -> Path | None:
    """The cache folder, made (0700) when missing, or None when there is no
    such folder this user alone may write to."""
    folder = cache_dir()
    if folder is None:
        return None
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder if private(folder) else None


def keep(path: Path, data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` in the cache folder whole or not at all (a
    temporary file beside it, then renamed over it). A cache that cannot be
    written only costs the next process the work again: a warning, no error."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not cache %s in %s: %s", what, path.parent, exc)
