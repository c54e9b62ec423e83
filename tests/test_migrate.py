"""`quality-monitor migrate`: upgrade, current, history; the schema the
migrations build is the one the code declares; a database newer than the
code is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from monitor.cli import main
from storage.schema import metadata
from storage.store import Store
from tests.test_e2e import write_config


class _Site:
    url = "http://127.0.0.1:9"


def test_history_lists_every_revision_applied_or_pending(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    assert main(["migrate", "history"]) == 0
    before = capsys.readouterr().out.splitlines()
    assert before[0].startswith("0001  pending") and len(before) >= 3
    assert "0003  pending  replicas and retention" in "\n".join(before)
    assert main(["migrate", "current"]) == 0
    assert "schema revision none (this code's newest is" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["migrate", "history"]) == 0
    after = capsys.readouterr().out.splitlines()
    assert all("  applied  " in line for line in after)
    assert after[-1].endswith("(current, head)")
    assert main(["migrate", "current"]) == 0
    assert "(this code's newest" not in capsys.readouterr().out


def test_the_migrations_build_the_schema_the_code_declares(store: Store) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_a_database_newer_than_the_code_is_refused_with_a_clear_message(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Store(db_url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    monkeypatch.setenv("MONITOR_DB_URL", db_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    config = write_config(tmp_path, _Site())
    for command in (["run", "--once"], ["run"], ["serve", "--port", "0"], ["migrate"]):
        assert main(["--config", str(config), *command]) == 1, command
        err = capsys.readouterr().err
        assert (
            "database error: the database is at schema revision 9999, newer than this "
            "version of quality-monitor knows; upgrade quality-monitor" in err
        ), command
    assert main(["migrate", "history"]) == 0
    assert "the database is at 9999, newer than this code knows" in capsys.readouterr().out


def test_the_newest_revision_read_from_the_files_is_alembics(store: Store) -> None:
    from storage.migrate import head_revision

    assert head_revision() is not None
    assert head_revision() == store.head_revision() == store.revision()


def test_a_database_at_the_newest_revision_starts_without_importing_alembic(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url)
    store.migrate()
    head = store.head_revision()
    store.close()
    code = (
        "import sys; from storage.store import Store; s = Store(sys.argv[1]); s.migrate(); "
        "print(s.revision(), 'alembic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(head), "False"]
    fresh = f"sqlite:///{tmp_path / 'new.db'}"  # a migration to run: alembic, then
    done = subprocess.run(
        [sys.executable, "-c", code, fresh], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(head), "True"]
