"""Alembic environment: the URL and connection come from Store.migrate()."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # the alembic command line: MONITOR_DB_URL or sqlalchemy.url
    import os

    url = os.environ.get("MONITOR_DB_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set MONITOR_DB_URL or sqlalchemy.url in alembic.ini")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
