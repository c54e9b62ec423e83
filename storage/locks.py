"""PostgreSQL advisory locks: their namespaces and keys.

The first int4 key is a namespace below; the second a hash of the schema and,
for sources, the source id. Several installations can share one database in
different schemas without sharing locks.
"""

from __future__ import annotations

import zlib

from sqlalchemy import Connection, text

__all__ = ["LOCK_MEMBER", "LOCK_MIGRATE", "LOCK_SOURCE", "LOCK_STORIES", "lock_key", "schema_key"]

LOCK_MIGRATE = 0x716D0001  # transaction lock: one schema upgrade at a time
LOCK_STORIES = 0x716D0002  # transaction lock: story matching and creation, one poll at a time
LOCK_SOURCE = 0x716D0003  # session lock per source: the replica that polls it
LOCK_MEMBER = 0x716D0004  # shared session lock: every live replica holds it


def lock_key(*parts: str) -> int:
    """A stable non-negative int4 for an advisory lock's second key."""
    return zlib.crc32("\x00".join(parts).encode("utf-8")) & 0x7FFFFFFF


def schema_key(conn: Connection) -> int:
    """The lock key of the schema this connection works in (PostgreSQL)."""
    return lock_key(str(conn.execute(text("SELECT current_schema()")).scalar_one()))
