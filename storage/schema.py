"""The tables. The database is the truth: uniqueness is a constraint, scheduling
state lives on the source's row, and alerts go through an outbox."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTC_DT = DateTime(timezone=True)

source_state = Table(
    "source_state",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("first_polled_at", UTC_DT),
    Column("last_polled_at", UTC_DT),
    Column("last_success_at", UTC_DT),
    Column("last_error", Text),
    Column("last_error_at", UTC_DT),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("entries_last_poll", Integer),
    # Health (migration 0002): see monitor/health.py for what each means.
    Column("last_status", String(16)),  # ok | not_modified | error
    Column("last_elapsed", Float),
    Column("failing_since", UTC_DT),  # first failure of the current run of failures
    Column("backoff_until", UTC_DT),  # failing: the scheduler skips polls until then
    Column("cadence_seconds", Float),  # learned: usual time between two items
    Column("usual_entries", Float),  # learned: usual number of items a poll finds
    Column("newest_entry_at", UTC_DT),
    Column("health_flags", JSON),  # raised flags: empty, stale, failing, selectors
    Column("health_note", Text),  # why, for the last flag raised or cleared
    Column("health_changed_at", UTC_DT),
)

http_cache = Table(
    "http_cache",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("updated_at", UTC_DT, nullable=False),
    Column("content_hash", String(64)),  # for servers without validators: same bytes, no parse
)

# Every entry a source listed, followed or not: what makes the next poll "new".
entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("key", String(2048), nullable=False),
    Column("guid", Text),
    Column("first_seen", UTC_DT, nullable=False),
    UniqueConstraint("source_id", "key"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("province", String(8)),
    Column("category", String(32), nullable=False),
    Column("language", String(8), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("source_name", Text, nullable=False),
    Column("relevant", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("published", UTC_DT),
    Column("first_seen", UTC_DT, nullable=False),
    Column("updated_at", UTC_DT, nullable=False),
    Index("ix_stories_first_seen", "first_seen"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("source_name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("canonical_url", String(2048), nullable=False, unique=True),
    Column("guid", Text),
    Column("title", Text, nullable=False),
    Column("original_title", Text, nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("language", String(8), nullable=False),
    Column("text_hash", String(64), nullable=False, index=True),
    Column("published", UTC_DT),
    Column("first_seen", UTC_DT, nullable=False, index=True),
    Column("relevant", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("province", String(8)),
    Column("category", String(32), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("minhash", JSON, nullable=False),
    Column("concepts", JSON, nullable=False),
    Column("doc_numbers", JSON, nullable=False),
    Column("story_id", Integer, ForeignKey("stories.id"), index=True),
    Column("match_level", String(32)),  # null for a story's lead
    Column("match_score", Float),
    Column("match_reason", Text),
)

# One row per story and channel (kind "post"), plus one "edit" row that is
# re-armed whenever a later article joins a story already posted.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id"), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False, default="post"),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UTC_DT, nullable=False),
    Column("next_attempt_at", UTC_DT, nullable=False),
    Column("sent_at", UTC_DT),
    Column("message_id", String(64)),
    # The replica sending the row, and until when that claim holds if it stops
    # answering (see Store.claim_outbox).
    Column("claimed_by", String(128)),
    Column("claimed_until", UTC_DT),
    UniqueConstraint("story_id", "channel_id", "kind"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

# When each source is polled next and by which replica (written by the scheduler).
source_schedule = Table(
    "source_schedule",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("owner", String(128)),
    Column("next_poll_at", UTC_DT),
    Column("updated_at", UTC_DT, nullable=False),
)

# One row per poll: what it found or why it failed. Pruned by `retention.fetch_log`.
fetch_log = Table(
    "fetch_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("replica", String(128)),
    Column("started_at", UTC_DT, nullable=False),
    Column("status", String(16), nullable=False),  # ok | not_modified | error
    Column("seconds", Float, nullable=False),
    Column("entries", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("articles", Integer, nullable=False, default=0),
    Column("stories", Integer, nullable=False, default=0),
    Column("error", Text),
    Index("ix_fetch_log_source_started", "source_id", "started_at"),
    Index("ix_fetch_log_started", "started_at"),
)

# Periodic work done by one replica for all (retention): when it last ran.
maintenance = Table(
    "maintenance",
    metadata,
    Column("task", String(64), primary_key=True),
    Column("last_run_at", UTC_DT, nullable=False),
    Column("owner", String(128)),
)

# ── the chat side (migration 0004) ──────────────────────────────────────────

# A private chat's subscription through the bot: stories of one province and
# one category ("*" for any) found after it was made (``since_story_id``) are
# queued to that chat as outbox rows of channel "chat:<chat_id>".
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("user_id", BigInteger),
    Column("province", String(8), nullable=False),  # ISO code, or "*"
    Column("category", String(32), nullable=False),  # category, or "*"
    Column("created_at", UTC_DT, nullable=False),
    Column("since_story_id", Integer, nullable=False, default=0),
    UniqueConstraint("chat_id", "province", "category"),
)

# Channels an operator paused with /pause ("*": every channel); deleted by /resume.
channel_pauses = Table(
    "channel_pauses",
    metadata,
    Column("channel_id", String(64), primary_key=True),
    Column("paused_by", String(128)),
    Column("paused_at", UTC_DT, nullable=False),
)

# Work one replica does at a time for all (the bot's getUpdates): who, until when.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("until", UTC_DT, nullable=False),
)
