"""Golden files: each fixture of tests/data/golden/ gives what its
*.expected.json says (regenerate with `python -m tests.golden`; see tests/golden.py)."""

from __future__ import annotations

import pytest

from monitor.sources import PARSERS
from tests.golden import Case, cases, dumps, read

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_fixture_gives_its_expected_entries(case: Case) -> None:
    assert case.expected_file.exists(), f"run: python -m tests.golden {case.name}"
    expected = case.expected_file.read_text(encoding="utf-8")
    # Compared line by line, so that pytest -vv shows the change as a diff.
    assert dumps(read(case)).splitlines() == expected.splitlines(), (
        f"{case.name}: the parser's output changed; if that is meant, "
        f"run `python -m tests.golden {case.name}` and review `git diff`"
    )


def test_every_source_kind_has_a_golden_case() -> None:
    assert {c.source["kind"] for c in CASES} == set(PARSERS)


def test_every_fixture_has_a_case_and_every_case_its_files() -> None:
    from tests.golden import GOLDEN

    used = {c.file.name for c in CASES} | {c.expected_file.name for c in CASES}
    present = {p.name for p in GOLDEN.iterdir()} - {"cases.yaml"}
    assert present == used
