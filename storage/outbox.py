"""The outbox: alerts queued in the poll's transaction, then claimed, sent,
retried and marked by the delivery loop (``notifiers/deliver.py``). [IO]

Every insert of a row goes through :func:`outbox_row` (its columns) and, for a
post, :func:`insert_post` (once per story and channel: the unique constraint
says so): the pipeline's channels and the subscribers' chats
(:meth:`storage.chats.ChatStore.fan_out`) alike.

Several replicas may drain one outbox. A replica *claims* the rows it is
about to send (claimed_by, claimed_until) in a short transaction that
locks them with SELECT … FOR UPDATE SKIP LOCKED, so two replicas never
take the same row; it renews the claim right before each send
(confirm_claim) and clears it when it marks the row. A replica that dies
leaves its claims behind; they expire after the lease, and another
replica takes the rows then.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.rows import utc, utcnow
from storage.schema import outbox
from storage.tx import Database, TxBase

__all__ = ["CHANNEL_DOWN", "Outbox", "OutboxRow", "OutboxTx", "insert_post", "outbox_row"]

# How an outbox row's last_error starts when the channel, not the message, was
# refused (wrong token, chat not found, the bot not allowed to post): the row
# stays pending, and :meth:`Outbox.held_channels` reports the channel failing.
CHANNEL_DOWN = "channel cannot take posts: "


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    story_id: int
    channel_id: str
    kind: str  # post | edit
    attempts: int
    message_id: str | None  # for an edit: the post's message id


def outbox_row(story_id: int, channel_id: str, kind: str, now: datetime) -> dict[str, Any]:
    """The columns of a new outbox row: pending, due now."""
    return {
        "story_id": story_id,
        "channel_id": channel_id,
        "kind": kind,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


def insert_post(conn: Connection, story_id: int, channel_id: str, now: datetime) -> bool:
    """Queue a post of this story to this channel, once; False when it was queued
    already (by this process or another replica: the unique constraint says so)."""
    try:
        with conn.begin_nested():
            conn.execute(outbox.insert(), outbox_row(story_id, channel_id, "post", now))
    except IntegrityError:
        return False
    return True


class OutboxTx(TxBase):
    """A poll's statements on the outbox."""

    def enqueue(self, story_id: int, channel_id: str, now: datetime) -> None:
        """A post of this story to this channel, once: the unique constraint says so."""
        insert_post(self.conn, story_id, channel_id, now)

    def enqueue_edits(self, story_id: int, now: datetime) -> int:
        """Re-arm an edit for each channel where the story was posted or is pending."""
        posts = (
            self.conn.execute(
                select(outbox.c.channel_id).where(
                    outbox.c.story_id == story_id,
                    outbox.c.kind == "post",
                    outbox.c.status.in_(("pending", "sent")),
                )
            )
            .scalars()
            .all()
        )
        for channel_id in posts:
            done = self.conn.execute(
                update(outbox)
                .where(
                    outbox.c.story_id == story_id,
                    outbox.c.channel_id == channel_id,
                    outbox.c.kind == "edit",
                )
                .values(
                    status="pending",
                    next_attempt_at=now,
                    attempts=0,
                    last_error=None,
                    # an edit being sent right now must go out again with the newer text
                    claimed_by=None,
                    claimed_until=None,
                )
            )
            if done.rowcount == 0:
                self.conn.execute(outbox.insert(), outbox_row(story_id, channel_id, "edit", now))
        return len(posts)


class Outbox(Database):
    """The outbox part of :class:`~storage.store.Store`."""

    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first, in order per channel.

        A post that waits (deferred after a 429 or an outage) holds back the
        later posts of its channel, so that a channel receives its stories in
        the order they were found. An edit waits for its post. Claims are not
        looked at: this is the single-process view; replicas use
        :meth:`claim_outbox`.
        """
        with self.read() as conn:
            rows = conn.execute(
                _outbox_view()
                .where(outbox.c.status == "pending")
                .order_by(outbox.c.id)
                .limit(limit * 5)
            ).all()
        return _pick_due(rows, now, limit)

    def claim_outbox(
        self,
        owner: str,
        now: datetime,
        lease: float,
        *,
        channels: Collection[str] | None = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        """Claim for ``owner`` the rows it may send now, for ``lease`` seconds.

        The rules of :meth:`due_outbox` apply, and a channel whose oldest
        pending post is locked or claimed by another replica is held back
        whole, so that posts to one chat still go out in order when several
        replicas deliver. Rows already claimed by ``owner`` are claimed again.
        Only rows of ``channels`` are taken (the channels this replica can
        deliver to), when given.
        """
        with self.write() as conn:
            pending = outbox.c.status == "pending"
            if channels is not None:
                pending = pending & outbox.c.channel_id.in_(list(channels))
            lockable = set(
                conn.execute(
                    select(outbox.c.id)
                    .where(pending)
                    .order_by(outbox.c.id)
                    .limit(limit * 5)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not lockable:
                return []
            rows = conn.execute(
                _outbox_view().where(pending, outbox.c.id <= max(lockable)).order_by(outbox.c.id)
            ).all()
            picked = _pick_due(rows, now, limit, owner=owner, lockable=lockable)
            if picked:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in picked]))
                    .values(claimed_by=owner, claimed_until=now + timedelta(seconds=lease))
                )
        return picked

    def confirm_claim(self, row_id: int, owner: str, now: datetime, lease: float) -> bool:
        """Renew ``owner``'s claim on a row right before sending it, and on the
        rows of the same channel it still holds (they wait behind this one).

        False when the claim was lost: the lease ran out and another replica
        took the row, or (an edit) a later article re-armed it. Do not send then.
        """
        until = now + timedelta(seconds=lease)
        with self.write() as conn:
            channel = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row_id,
                    outbox.c.claimed_by == owner,
                    outbox.c.status == "pending",
                )
                .values(claimed_until=until)
                .returning(outbox.c.channel_id)
            ).scalar_one_or_none()
            if channel is None:
                return False
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.claimed_by == owner,
                    outbox.c.channel_id == channel,
                    outbox.c.status == "pending",
                )
                .values(claimed_until=until)
            )
        return True

    def release_claims(self, owner: str, row_ids: Collection[int] | None = None) -> int:
        """Give back ``owner``'s claims on rows it did not send (all, or these)."""
        with self.write() as conn:
            query = update(outbox).where(outbox.c.claimed_by == owner, outbox.c.status == "pending")
            if row_ids is not None:
                if not row_ids:
                    return 0
                query = query.where(outbox.c.id.in_(list(row_ids)))
            return conn.execute(query.values(claimed_by=None, claimed_until=None)).rowcount

    def next_due(self, now: datetime) -> datetime | None:
        """When the earliest deferred row comes due (None: nothing is waiting for time)."""
        with self.read() as conn:
            value = conn.execute(
                select(func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.status == "pending", outbox.c.next_attempt_at > now
                )
            ).scalar_one_or_none()
        return utc(value)

    def mark_sent(
        self,
        row_id: int,
        message_id: str | None,
        now: datetime,
        owner: str | None = None,
        *,
        rendered_at: datetime | None = None,
    ) -> None:
        """The service accepted the row. An edit that a later article re-armed
        while it was being sent (its claim cleared) stays pending: the newer
        text still has to go out.

        A post rendered at ``rendered_at`` already shows every article that
        had joined its story by then: an edit armed before that moment (an
        article arrived while the post waited) would send the same text again,
        so it is marked done too.
        """
        with self.write() as conn:
            if rendered_at is not None:
                post = conn.execute(
                    select(outbox.c.story_id, outbox.c.channel_id).where(
                        outbox.c.id == row_id, outbox.c.kind == "post"
                    )
                ).one_or_none()
                if post is not None:
                    conn.execute(
                        update(outbox)
                        .where(
                            outbox.c.story_id == post.story_id,
                            outbox.c.channel_id == post.channel_id,
                            outbox.c.kind == "edit",
                            outbox.c.status == "pending",
                            outbox.c.claimed_by.is_(None),
                            outbox.c.next_attempt_at <= rendered_at,
                        )
                        .values(status="sent", sent_at=now, last_error=None)
                    )
            values: dict[str, Any] = {
                "status": "sent",
                "sent_at": now,
                "last_error": None,
                "claimed_by": None,
                "claimed_until": None,
            }
            if message_id is not None:
                values["message_id"] = message_id
            claim = outbox.c.claimed_by.is_(None) if owner is None else outbox.c.claimed_by == owner
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, or_(outbox.c.kind == "post", claim))
                .values(**values)
            )

    def mark_failed(self, row_id: int, reason: str, now: datetime) -> None:
        with self.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    status="failed",
                    last_error=reason[:2000],
                    sent_at=None,
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=now,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def defer(self, row_id: int, reason: str, until: datetime) -> None:
        with self.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(
                    last_error=reason[:2000],
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=until,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def skip(self, row_id: int, reason: str) -> None:
        with self.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(status="skipped", last_error=reason, claimed_by=None, claimed_until=None)
            )

    def skip_unconfigured(self, configured: Collection[str]) -> int:
        """Let go of the pending rows of channels no longer in the configuration."""
        with self.write() as conn:
            return conn.execute(
                update(outbox)
                .where(outbox.c.status == "pending", outbox.c.channel_id.not_in(list(configured)))
                .values(
                    status="skipped",
                    last_error="channel no longer configured",
                    claimed_by=None,
                    claimed_until=None,
                )
            ).rowcount

    def held_channels(self) -> dict[str, tuple[int, str, datetime]]:
        """Channels that cannot take posts now (see :data:`CHANNEL_DOWN`): channel
        → (alerts waiting, the reason, since when the oldest has waited). Read
        from the outbox, so every replica and ``serve`` see the same."""
        with self.read() as conn:
            oldest = (
                select(outbox.c.channel_id, func.min(outbox.c.id).label("first"))
                .where(outbox.c.status == "pending")
                .group_by(outbox.c.channel_id)
                .subquery()
            )
            heads = conn.execute(
                select(outbox.c.channel_id, outbox.c.last_error, outbox.c.created_at)
                .join(oldest, outbox.c.id == oldest.c.first)
                .where(outbox.c.last_error.like(f"{CHANNEL_DOWN}%"))
            ).all()
            if not heads:
                return {}
            waiting = {
                channel: n
                for channel, n in conn.execute(
                    select(outbox.c.channel_id, func.count())
                    .where(
                        outbox.c.status == "pending",
                        outbox.c.channel_id.in_([h.channel_id for h in heads]),
                    )
                    .group_by(outbox.c.channel_id)
                )
            }
        return {
            h.channel_id: (
                int(waiting.get(h.channel_id, 0)),
                h.last_error.removeprefix(CHANNEL_DOWN),
                utc(h.created_at) or utcnow(),
            )
            for h in heads
        }

    def pending_by_channel(self) -> dict[str, int]:
        """How many alerts wait, per channel (for /metrics)."""
        with self.read() as conn:
            return {
                channel: n
                for channel, n in conn.execute(
                    select(outbox.c.channel_id, func.count())
                    .where(outbox.c.status == "pending")
                    .group_by(outbox.c.channel_id)
                )
            }


def _outbox_view() -> Any:
    """Outbox rows with, for an edit, its post's message id and status."""
    post = outbox.alias("post")
    return select(
        outbox.c.id,
        outbox.c.story_id,
        outbox.c.channel_id,
        outbox.c.kind,
        outbox.c.attempts,
        outbox.c.next_attempt_at,
        outbox.c.claimed_by,
        outbox.c.claimed_until,
        post.c.message_id,
        post.c.status.label("post_status"),
    ).outerjoin(
        post,
        (post.c.story_id == outbox.c.story_id)
        & (post.c.channel_id == outbox.c.channel_id)
        & (post.c.kind == "post"),
    )


def _pick_due(
    rows: Iterable[Any],
    now: datetime,
    limit: int,
    *,
    owner: str | None = None,
    lockable: set[int] | None = None,
) -> list[OutboxRow]:
    """The rows of ``rows`` (pending, oldest first) that may be sent now.

    A post that is not due, or that another replica holds (row locked by its
    claim transaction, or claimed and the lease still running), holds back
    the later posts of its channel. An edit waits for its post to be sent.
    """
    due: list[OutboxRow] = []
    held: set[str] = set()  # channels whose oldest pending post cannot go now
    for r in rows:
        if len(due) >= limit:
            break
        taken = (lockable is not None and r.id not in lockable) or (
            owner is not None
            and r.claimed_by not in (None, owner)
            and (utc(r.claimed_until) or now) > now
        )
        not_yet = (utc(r.next_attempt_at) or now) > now
        if r.kind == "post" and (r.channel_id in held or taken or not_yet):
            held.add(r.channel_id)
            continue
        if r.kind == "edit" and (taken or not_yet or r.post_status != "sent"):
            continue  # the post goes first (it will show the mentions anyway)
        due.append(
            OutboxRow(
                r.id,
                r.story_id,
                r.channel_id,
                r.kind,
                r.attempts,
                r.message_id if r.kind == "edit" else None,
            )
        )
    return due
