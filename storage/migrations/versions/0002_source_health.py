"""source health: backoff, learned cadence, flags; content hash per fetched URL

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("source_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_elapsed", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("failing_since", _UTC_DT, nullable=True))
        batch_op.add_column(sa.Column("backoff_until", _UTC_DT, nullable=True))
        batch_op.add_column(sa.Column("cadence_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("usual_entries", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("newest_entry_at", _UTC_DT, nullable=True))
        batch_op.add_column(sa.Column("health_flags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("health_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("health_changed_at", _UTC_DT, nullable=True))
    with op.batch_alter_table("http_cache", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("http_cache", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
    with op.batch_alter_table("source_state", schema=None) as batch_op:
        for column in (
            "health_changed_at",
            "health_note",
            "health_flags",
            "newest_entry_at",
            "usual_entries",
            "cadence_seconds",
            "backoff_until",
            "failing_since",
            "last_elapsed",
            "last_status",
        ):
            batch_op.drop_column(column)
