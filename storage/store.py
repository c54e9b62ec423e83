"""The store: one :class:`Store` over the parts of ``storage/``. [IO]

A :class:`Store` wraps one SQLAlchemy engine (SQLite in WAL mode by default,
PostgreSQL via ``postgresql+psycopg://``). Reads are methods of the store;
writes of one poll happen inside :meth:`Store.transaction`, whose
:class:`Tx` offers the few statements a poll needs, so that articles, stories
and outbox rows are committed together or not at all.

Each area's SQL lives in its own module; :class:`Store` is their union::

    schema.py     the tables (migrations/: Alembic's revisions of them)
    tx.py         the engine, connections, transactions, errors → StoreError
    locks.py      PostgreSQL advisory locks
    rows.py       rows ↔ the value types of monitor.model (one place)
    migrate.py    the schema's revisions (Alembic, imported only to migrate)
    sources.py    source state and health, validators, seen entries, schedule, fetch log
    stories.py    stories and articles: reads, inserts, joins, merges, fingerprints
    outbox.py     the outbox: queue (outbox_row), claim, send, retry
    poll.py       a poll's transaction (Tx): the article its decision placed, its last writes
    dashboard.py  the dashboard's queries
    retention.py  what is old enough to go
    chats.py      subscribers, pauses, leases (ChatStore, on the same engine)
    replicas.py   which replica polls which source
    runner.py     the one database thread asyncio code calls the store through

Rows never leave ``storage``: callers get the value types of
``monitor.model`` or the small records defined beside each area.
"""

from __future__ import annotations

from storage.dashboard import Dashboard, StoryFilter, StoryRow
from storage.locks import LOCK_MEMBER, LOCK_MIGRATE, LOCK_SOURCE, LOCK_STORIES, lock_key, schema_key
from storage.migrate import Migrations, Revision
from storage.outbox import CHANNEL_DOWN, Outbox, OutboxRow, outbox_row
from storage.poll import PollEnd, PollWrites, Tx
from storage.retention import Retention
from storage.rows import SourceState, utcnow
from storage.sources import Cached, Schedule, Sources
from storage.stories import IndexRow, KnownArticle, Stories
from storage.tx import SQLITE_BUSY_TIMEOUT, normalize_db_url


class Store(Migrations, Sources, Stories, Outbox, PollWrites, Dashboard, Retention):
    """Everything persistent: ``Store(url)``, then ``migrate()``; see each part."""


__all__ = [
    "CHANNEL_DOWN",
    "LOCK_MEMBER",
    "LOCK_MIGRATE",
    "LOCK_SOURCE",
    "LOCK_STORIES",
    "SQLITE_BUSY_TIMEOUT",
    "Cached",
    "IndexRow",
    "KnownArticle",
    "OutboxRow",
    "PollEnd",
    "Revision",
    "Schedule",
    "SourceState",
    "Store",
    "StoryFilter",
    "StoryRow",
    "Tx",
    "lock_key",
    "normalize_db_url",
    "outbox_row",
    "schema_key",
    "utcnow",
]
