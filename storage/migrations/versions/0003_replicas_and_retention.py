"""replicas and retention: outbox claims, source schedule, fetch log, maintenance

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", _UTC_DT, nullable=True))

    op.create_table(
        "source_schedule",
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("next_poll_at", _UTC_DT, nullable=True),
        sa.Column("updated_at", _UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_source_schedule")),
    )
    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("replica", sa.String(length=128), nullable=True),
        sa.Column("started_at", _UTC_DT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_log")),
    )
    with op.batch_alter_table("fetch_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fetch_log_source_started", ["source_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_fetch_log_started", ["started_at"], unique=False)
    op.create_table(
        "maintenance",
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", _UTC_DT, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("task", name=op.f("pk_maintenance")),
    )


def downgrade() -> None:
    op.drop_table("maintenance")
    with op.batch_alter_table("fetch_log", schema=None) as batch_op:
        batch_op.drop_index("ix_fetch_log_started")
        batch_op.drop_index("ix_fetch_log_source_started")
    op.drop_table("fetch_log")
    op.drop_table("source_schedule")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
