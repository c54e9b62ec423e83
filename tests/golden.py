"""Golden files of the source parsers: each fixture beside what it must give.

``tests/data/golden/cases.yaml`` names each case: the fixture file (a feed, a
list page, an API answer, as the server sent it, bytes and all), the source
entry as ``sources.yaml`` would hold it, and how the answer came (its URL, the
charset of its ``Content-Type``, when it was fetched). Beside each fixture,
``<case>.expected.json`` holds what reading it gives: the charset it was
decoded with, the next request when the answer is only a stepping stone
(``step``), the entries (or the ParseError), and the list's ``origin``,
``notice`` and ``warnings``. ``tests/test_golden.py`` compares the two, so a
change in what a parser gives shows as a diff of that file.

After a change that is meant to alter the output, regenerate and review::

    .venv/bin/python -m tests.golden            # rewrite every *.expected.json
    .venv/bin/python -m tests.golden rss-utf8   # or only the cases named
    git diff tests/data/golden/
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from monitor import sources
from monitor.config import parse_config
from monitor.errors import ParseError
from monitor.fetch import decode
from monitor.model import FetchResult

GOLDEN = Path(__file__).parent / "data" / "golden"
FETCHED_AT = "2025-10-01T08:00:00+08:00"  # unless a case says otherwise


@dataclass(frozen=True)
class Case:
    name: str
    file: Path
    source: dict[str, Any]
    url: str
    final_url: str
    charset: str | None
    fetched_at: datetime

    @property
    def expected_file(self) -> Path:
        return GOLDEN / f"{self.name}.expected.json"


def cases() -> list[Case]:
    spec = yaml.safe_load((GOLDEN / "cases.yaml").read_text(encoding="utf-8"))
    found = []
    for name, case in spec.items():
        url = case.get("url", case["source"]["url"])
        found.append(
            Case(
                name=name,
                file=GOLDEN / case["file"],
                source=case["source"],
                url=url,
                final_url=case.get("final_url", url),
                charset=case.get("charset"),
                fetched_at=datetime.fromisoformat(case.get("fetched_at", FETCHED_AT)),
            )
        )
    return found


def _source(case: Case) -> Any:
    """The source entry, validated as the configuration loader validates it."""
    text = yaml.safe_dump({"version": 1, "sources": [case.source]}, allow_unicode=True)
    return parse_config(text, name=f"cases.yaml: {case.name}", env={}).sources[0]


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "url": entry.url,
        "title": entry.title,
        "published": entry.published.isoformat() if entry.published else None,
        "guid": entry.guid,
        "summary": entry.summary,
        "content_html": entry.content_html,
    }


def read(case: Case) -> dict[str, Any]:
    """What the fixture gives: decoded as the fetcher decodes, then the kind's
    ``step`` and ``parse`` (through the registry, as a poll calls them)."""
    source = _source(case)
    content = case.file.read_bytes()
    text, encoding = decode(content, declared=case.charset, forced=source.encoding)
    result = FetchResult(
        url=case.url,
        final_url=case.final_url,
        status=200,
        content=content,
        text=text,
        encoding=encoding,
        fetched_at=case.fetched_at,
    )
    out: dict[str, Any] = {"encoding": encoding}
    try:
        following = sources.step(result, source)
    except ParseError as exc:
        out["step"] = {"error": str(exc)}
    else:
        out["step"] = following and {"url": following.url, "method": following.method}
    try:
        entries = sources.parse(result, source)
    except ParseError as exc:
        out["error"] = str(exc)
        return out
    out["origin"] = getattr(entries, "origin", None)
    out["notice"] = getattr(entries, "notice", None)
    out["warnings"] = list(getattr(entries, "warnings", ()))
    out["entries"] = [_entry(e) for e in entries]
    return out


def dumps(data: dict[str, Any]) -> str:
    """The expected file's text: one key a line, so that a change reads as a diff."""
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str]) -> int:
    wanted = set(argv)
    known = {case.name for case in cases()}
    if unknown := wanted - known:
        print(f"no such case: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for case in cases():
        if wanted and case.name not in wanted:
            continue
        text = dumps(read(case))
        old = case.expected_file.read_text(encoding="utf-8") if case.expected_file.exists() else ""
        if text != old:
            case.expected_file.write_text(text, encoding="utf-8")
            print(f"{case.expected_file.name}: {'updated' if old else 'written'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
