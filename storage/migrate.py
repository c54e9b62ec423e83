"""The schema's revisions: upgrade, current, history. [IO]

Alembic runs the migrations (``storage/migrations``), but it is imported only
when a migration must run or the script directory must be read: a database
already at this code's newest revision (every start after the first) is
recognised by reading ``alembic_version`` and the ``revision = "…"`` lines of
the migration files, which costs a few milliseconds where importing Alembic's
command and script machinery cost a third of a second.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from monitor.errors import StoreError
from storage.locks import LOCK_MIGRATE, schema_key
from storage.tx import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

__all__ = ["Migrations", "Revision", "head_revision"]

_ALEMBIC_INI = Path(__file__).parent / "alembic.ini"
_VERSIONS = Path(__file__).parent / "migrations" / "versions"
_ASSIGNED = re.compile(
    r"""^(revision|down_revision)\s*(?::[^=]+)?=\s*(?:None|["']([^"']+)["'])\s*$""", re.M
)


@dataclass(frozen=True, slots=True)
class Revision:
    """One schema revision, as ``migrate history`` lists it."""

    revision: str
    title: str
    applied: bool
    current: bool
    head: bool


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the migration files, read without Alembic; None
    when they do not say plainly (several heads, an unusual file): Alembic decides then."""
    revisions: dict[str, str | None] = {}
    for path in _VERSIONS.glob("*.py"):
        found = dict((name, value or None) for name, value in _ASSIGNED.findall(path.read_text()))
        if "revision" not in found:
            continue
        revision = found["revision"]
        if revision is None or "down_revision" not in found:
            return None
        revisions[revision] = found["down_revision"]
    heads = set(revisions) - {down for down in revisions.values() if down}
    return heads.pop() if len(heads) == 1 else None


def current_revision(conn: Connection) -> str | None:
    """The database's revision, read from ``alembic_version`` without Alembic.

    Raises LookupError when the table holds several (branches): Alembic decides then.
    """
    if not inspect(conn).has_table("alembic_version"):
        return None
    found = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(found) > 1:
        raise LookupError("several schema revisions")
    return found[0] if found else None


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_ALEMBIC_INI.parent / "migrations"))


def _known_revision(script: ScriptDirectory, revision: str) -> bool:
    """Whether this code has the migration ``revision`` (alembic raises when not)."""
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


class Migrations(Database):
    """The schema part of :class:`~storage.store.Store`."""

    def _alembic(self, connection: Connection) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig(str(_ALEMBIC_INI))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest revision; refuse a database newer than the code."""
        try:
            if self._at_head():
                return
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    # Replicas starting together upgrade one after the other; the
                    # lock ends with this transaction.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                        {"ns": LOCK_MIGRATE, "key": schema_key(conn)},
                    )
                from alembic import command
                from alembic.runtime.migration import MigrationContext
                from alembic.script import ScriptDirectory

                cfg = self._alembic(conn)
                script = ScriptDirectory.from_config(cfg)
                current = MigrationContext.configure(conn).get_current_revision()
                if current is not None and not _known_revision(script, current):
                    raise StoreError(
                        f"the database is at schema revision {current}, newer than this "
                        f"version of quality-monitor knows; upgrade quality-monitor"
                    )
                command.upgrade(cfg, "head")
        except StoreError:
            raise
        except Exception as exc:  # alembic raises assorted errors; all mean "cannot migrate"
            raise StoreError(f"cannot migrate {self.safe_url}: {exc}") from exc

    def _at_head(self) -> bool:
        """Whether the database is at this code's newest revision already (no
        Alembic needed); False whenever that is not plain, and Alembic looks."""
        head = head_revision()
        if head is None:
            return False
        with self.engine.connect() as conn:
            try:
                return current_revision(conn) == head
            except LookupError:
                return False

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return current_revision(conn)
            except LookupError:
                pass
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(conn).get_current_revision()

    def history(self) -> list[Revision]:
        """Every schema revision this code knows, oldest first, and which are applied.

        A database at a revision this code does not know (newer) shows every
        known revision as applied; :meth:`migrate` refuses to run on it.
        """
        current = self.revision()
        chain = list(reversed(list(_scripts().walk_revisions())))
        applied = current is not None
        found: list[Revision] = []
        for rev in chain:
            first_line = (rev.doc or "").strip().splitlines()
            found.append(
                Revision(
                    revision=rev.revision,
                    title=first_line[0] if first_line else "",
                    applied=applied,
                    current=rev.revision == current,
                    head=rev.is_head,
                )
            )
            if rev.revision == current:
                applied = False  # the revisions after the current one are not applied yet
        return found

    def head_revision(self) -> str | None:
        """The newest revision this code knows."""
        return _scripts().get_current_head()
