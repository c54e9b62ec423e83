"""chat subscriptions, paused channels, leases

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("created_at", _UTC_DT, nullable=False),
        sa.Column("since_story_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "chat_id", "province", "category", name=op.f("uq_subscriptions_chat_id")
        ),
    )
    op.create_table(
        "channel_pauses",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("paused_by", sa.String(length=128), nullable=True),
        sa.Column("paused_at", _UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_pauses")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("until", _UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("channel_pauses")
    op.drop_table("subscriptions")
