"""What the chat side keeps in the database: subscriptions, paused channels,
the bot's lease, and the reads of digests and bot commands. [IO]

Kept apart from the pipeline's and the outbox's SQL so the two can change
independently; it works on the same engine, through the same
:meth:`~storage.tx.Database.read` and :meth:`~storage.tx.Database.write`
(so it raises the same :class:`~monitor.errors.StoreError`), and queues its
alerts with the same :func:`~storage.outbox.insert_post`.

A subscriber's alerts are ordinary outbox rows whose channel is
``chat:<chat_id>``: :meth:`ChatStore.fan_out` queues them, and the delivery
loop sends, retries, orders and marks them like any channel's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from monitor.model import Story
from storage.outbox import insert_post, outbox_row
from storage.rows import read_story, utc
from storage.schema import channel_pauses, leases, outbox, source_state, stories, subscriptions
from storage.store import Store

__all__ = [
    "ANY",
    "CHAT_PREFIX",
    "ChatStore",
    "Subscription",
    "Totals",
    "chat_channel",
    "chat_of",
]

ANY = "*"  # a subscription's province or category that matches every story
CHAT_PREFIX = "chat:"  # outbox channel ids of subscribers' private chats
ALL_CHANNELS = "*"  # /pause without a channel pauses them all
FAN_OUT_WINDOW = timedelta(days=2)  # stories found longer ago are not queued to subscribers
# Telegram's words for a private chat that will never take a message again.
_GONE = ("bot was blocked by the user", "user is deactivated", "chat not found")


def chat_channel(chat_id: int) -> str:
    """The outbox channel id of a subscriber's private chat."""
    return f"{CHAT_PREFIX}{chat_id}"


def chat_of(channel_id: str) -> int | None:
    """The chat id of a subscriber channel id, or None for a configured channel."""
    if not channel_id.startswith(CHAT_PREFIX):
        return None
    try:
        return int(channel_id[len(CHAT_PREFIX) :])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Subscription:
    chat_id: int
    province: str  # ISO code or "*"
    category: str  # category or "*"
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Totals:
    """What /status reports."""

    last_poll: datetime | None
    stories_since: int  # stories found since the time asked about
    relevant_since: int
    pending: int  # alerts waiting
    failed_since: int  # alerts refused since the time asked about
    sources_failing: list[tuple[str, int, str | None]]  # (source, failures in a row, error)


class ChatStore:
    """Subscriptions, pauses, leases and the chat side's reads, on a :class:`Store`'s engine."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ── subscriptions ───────────────────────────────────────────────────────

    def subscribe(
        self, chat_id: int, user_id: int | None, province: str, category: str, now: datetime
    ) -> bool:
        """Add a subscription; False when the chat already had it. Only stories found
        from now on are sent to it."""
        with self.store.write() as conn:
            newest = conn.execute(select(func.max(stories.c.id))).scalar_one_or_none() or 0
            try:
                with conn.begin_nested():
                    conn.execute(
                        subscriptions.insert().values(
                            chat_id=chat_id,
                            user_id=user_id,
                            province=province,
                            category=category,
                            created_at=now,
                            since_story_id=newest,
                        )
                    )
            except IntegrityError:
                return False
        return True

    def unsubscribe(
        self, chat_id: int, province: str | None = None, category: str | None = None
    ) -> int:
        """Remove a chat's subscriptions: the one given, or (both None) all of them."""
        query = delete(subscriptions).where(subscriptions.c.chat_id == chat_id)
        if province is not None:
            query = query.where(subscriptions.c.province == province)
        if category is not None:
            query = query.where(subscriptions.c.category == category)
        with self.store.write() as conn:
            return conn.execute(query).rowcount

    def subscriptions(self, chat_id: int | None = None) -> list[Subscription]:
        """A chat's subscriptions (every chat's when None), oldest first."""
        query = select(subscriptions).order_by(subscriptions.c.id)
        if chat_id is not None:
            query = query.where(subscriptions.c.chat_id == chat_id)
        with self.store.read() as conn:
            return [
                Subscription(r.chat_id, r.province, r.category, utc(r.created_at) or r.created_at)
                for r in conn.execute(query)
            ]

    def subscriber_chats(self) -> set[int]:
        with self.store.read() as conn:
            return set(conn.execute(select(subscriptions.c.chat_id).distinct()).scalars())

    def fan_out(self, now: datetime) -> int:
        """Queue each story found since a subscription was made, and matching it,
        to the subscriber's chat, once. Returns how many alerts were queued.

        Safe to run on several replicas at once: the outbox's unique constraint
        (story, channel, kind) keeps a second copy out.
        """
        matching = and_(
            stories.c.id > subscriptions.c.since_story_id,
            stories.c.relevant.is_(True),
            stories.c.first_seen >= now - FAN_OUT_WINDOW,
            or_(subscriptions.c.province == ANY, stories.c.province == subscriptions.c.province),
            or_(subscriptions.c.category == ANY, stories.c.category == subscriptions.c.category),
        )
        with self.store.write() as conn:
            pairs = conn.execute(
                select(stories.c.id, subscriptions.c.chat_id)
                .select_from(subscriptions.join(stories, matching))
                .order_by(stories.c.id, subscriptions.c.chat_id)
            ).all()
            if not pairs:
                return 0
            wanted = {(story_id, chat_channel(chat_id)) for story_id, chat_id in pairs}
            queued = {
                (story_id, channel_id)
                for story_id, channel_id in conn.execute(
                    select(outbox.c.story_id, outbox.c.channel_id).where(
                        outbox.c.story_id.in_({s for s, _ in wanted}),
                        outbox.c.channel_id.in_({c for _, c in wanted}),
                        outbox.c.kind == "post",
                    )
                )
            }
            # another replica may have queued one first: insert_post leaves it then
            return sum(
                insert_post(conn, story_id, channel_id, now)
                for story_id, channel_id in sorted(wanted - queued)
            )

    def drop_unreachable(self) -> list[int]:
        """Remove the subscriptions of chats Telegram said are gone for good (the user
        blocked the bot, deleted the account): their alert failed with those words."""
        with self.store.write() as conn:
            gone = {
                chat
                for channel_id, error in conn.execute(
                    select(outbox.c.channel_id, outbox.c.last_error).where(
                        # refused for good, or (now that a gone chat is a channel
                        # failure, notifiers/deliver.py) kept waiting for it
                        outbox.c.status.in_(("failed", "pending")),
                        outbox.c.channel_id.like(f"{CHAT_PREFIX}%"),
                    )
                )
                if error
                and any(words in error.lower() for words in _GONE)
                and (chat := chat_of(channel_id)) is not None
            }
            subscribed = set(
                conn.execute(
                    select(subscriptions.c.chat_id).where(subscriptions.c.chat_id.in_(gone))
                ).scalars()
            )
            if subscribed:
                conn.execute(delete(subscriptions).where(subscriptions.c.chat_id.in_(subscribed)))
                # What was still queued for them would only fail the same way.
                conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.status == "pending",
                        outbox.c.channel_id.in_([chat_channel(c) for c in subscribed]),
                    )
                    .values(status="skipped", last_error="the chat is gone; unsubscribed")
                )
        return sorted(subscribed)

    # ── pauses ──────────────────────────────────────────────────────────────

    def pause(self, channel_id: str, by: str, now: datetime) -> bool:
        """Pause a channel (``*``: every one); False when it already was."""
        with self.store.write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        channel_pauses.insert().values(
                            channel_id=channel_id, paused_by=by, paused_at=now
                        )
                    )
            except IntegrityError:
                return False
        return True

    def resume(self, channel_id: str) -> bool:
        """Lift a pause (``*``: the pause of every channel); False when there was none."""
        with self.store.write() as conn:
            return (
                conn.execute(
                    delete(channel_pauses).where(channel_pauses.c.channel_id == channel_id)
                ).rowcount
                > 0
            )

    def paused(self) -> dict[str, tuple[str | None, datetime]]:
        """Paused channels: id → (who paused it, when)."""
        with self.store.read() as conn:
            return {
                r.channel_id: (r.paused_by, utc(r.paused_at) or r.paused_at)
                for r in conn.execute(select(channel_pauses))
            }

    # ── leases ──────────────────────────────────────────────────────────────

    def take_lease(self, name: str, owner: str, now: datetime, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl`` seconds; False while another
        owner holds it."""
        until = now + timedelta(seconds=ttl)
        with self.store.write() as conn:
            done = conn.execute(
                update(leases)
                .where(leases.c.name == name, or_(leases.c.owner == owner, leases.c.until < now))
                .values(owner=owner, until=until)
            )
            if done.rowcount == 1:
                return True
            if conn.execute(select(leases.c.name).where(leases.c.name == name)).first():
                return False
            try:
                with conn.begin_nested():
                    conn.execute(leases.insert().values(name=name, owner=owner, until=until))
            except IntegrityError:
                return False
        return True

    def drop_lease(self, name: str, owner: str) -> None:
        with self.store.write() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))

    # ── reads for digests and commands ──────────────────────────────────────

    def stories_since(self, since: datetime, *, limit: int = 2000) -> list[tuple[Story, bool]]:
        """Stories first seen since ``since``, oldest first, each with whether it is relevant."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(stories.c.id, stories.c.relevant)
                .where(stories.c.first_seen >= since)
                .order_by(stories.c.first_seen, stories.c.id)
                .limit(limit)
            ).all()
            found = []
            for story_id, relevant in rows:
                story = read_story(conn, story_id)
                if story is not None:
                    found.append((story, bool(relevant)))
        return found

    def stories(self, story_ids: Collection[int]) -> dict[int, Story]:
        """These stories (the ones that still exist), by id."""
        with self.store.read() as conn:
            return {i: s for i in story_ids if (s := read_story(conn, i)) is not None}

    def story_exists(self, story_id: int) -> bool:
        with self.store.read() as conn:
            found = conn.execute(select(stories.c.id).where(stories.c.id == story_id)).first()
        return found is not None

    def resend(self, story_id: int, channels: Collection[str], now: datetime) -> list[str]:
        """Queue the story again to these channels (posted, failed or never queued);
        returns the channels it was queued to."""
        done: list[str] = []
        with self.store.write() as conn:
            for channel_id in sorted(channels):
                changed = conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.story_id == story_id,
                        outbox.c.channel_id == channel_id,
                        outbox.c.kind == "post",
                        outbox.c.status != "pending",
                    )
                    .values(
                        status="pending",
                        attempts=0,
                        last_error=None,
                        next_attempt_at=now,
                        sent_at=None,
                        claimed_by=None,
                        claimed_until=None,
                    )
                ).rowcount
                if changed:
                    done.append(channel_id)
                    continue
                exists = conn.execute(
                    select(outbox.c.status).where(
                        outbox.c.story_id == story_id,
                        outbox.c.channel_id == channel_id,
                        outbox.c.kind == "post",
                    )
                ).first()
                if exists is not None:
                    done.append(channel_id)  # pending already: it goes out anyway
                    continue
                conn.execute(outbox.insert(), outbox_row(story_id, channel_id, "post", now))
                done.append(channel_id)
        return done

    def totals(self, since: datetime) -> Totals:
        """Last poll, stories and refusals since ``since``, alerts waiting, failing sources."""
        with self.store.read() as conn:
            last_poll = conn.execute(select(func.max(source_state.c.last_polled_at))).scalar()
            found = conn.execute(
                select(func.count(), func.count().filter(stories.c.relevant.is_(True))).where(
                    stories.c.first_seen >= since
                )
            ).one()
            pending = conn.execute(
                select(func.count()).where(outbox.c.status == "pending")
            ).scalar_one()
            failed = conn.execute(
                select(func.count()).where(
                    outbox.c.status == "failed", outbox.c.next_attempt_at >= since
                )
            ).scalar_one()
            failing = [
                (r.source_id, r.consecutive_failures, r.last_error)
                for r in conn.execute(
                    select(
                        source_state.c.source_id,
                        source_state.c.consecutive_failures,
                        source_state.c.last_error,
                    )
                    .where(source_state.c.consecutive_failures > 0)
                    .order_by(source_state.c.consecutive_failures.desc(), source_state.c.source_id)
                )
            ]
        return Totals(
            last_poll=utc(last_poll),
            stories_since=int(found[0]),
            relevant_since=int(found[1]),
            pending=int(pending),
            failed_since=int(failed),
            sources_failing=failing,
        )
