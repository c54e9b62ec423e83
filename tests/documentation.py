"""The project's documentation as the tests read it: the README and docs/*.md.

The README keeps the pitch, the quick start, the commands and the environment;
the reference lives in docs/. A fact checked by a test may sit in any of them.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_FILE = ROOT / "README.md"
FILES = (README_FILE, *sorted((ROOT / "docs").glob("*.md")))
README = README_FILE.read_text(encoding="utf-8")
TEXT = "\n".join(path.read_text(encoding="utf-8") for path in FILES)


def yaml_examples() -> list[tuple[Path, str]]:
    """Every ```yaml block of the documentation, with the file it is in."""
    block = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
    return [
        (path, match.group(1))
        for path in FILES
        for match in block.finditer(path.read_text(encoding="utf-8"))
    ]
