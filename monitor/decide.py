"""Where one processed article goes: the commit step's decision. [pure]

Given the article, what storage knows of it (:class:`~monitor.model.Known`:
an article with the same canonical URL or the same normalised text), the
candidate stories the index found and the channels, :func:`decide_article`
returns an :class:`Intent`, in the manner of lemon24/reader's ``Decider``: it
reads no database and no clock, it only processes data. The pipeline
(``monitor/pipeline.py``) gathers the inputs in the poll's transaction and
storage maps the intent to rows (:meth:`storage.poll.Tx.write`)::

    known?  same URL ................................. skip (nothing to add)
            same text, another URL ................... join its story (same_text)
    else    monitor.dedup.decide: a story matches .... join it (merging the others)
            none ..................................... new story, a post to each
                                                       channel whose filter takes it

A joined story's posts are updated (edited, or followed up, as each channel's
``on_update`` says) wherever they were queued or sent: storage knows where.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from monitor.dedup import Candidate, Decision, Match, Rarity, decide
from monitor.model import Known, Processed
from notifiers.base import accepts
from notifiers.filters import story_text

if TYPE_CHECKING:
    from monitor.config import ChannelFilter

__all__ = ["JOIN", "NEW", "SAME_TEXT", "SKIP", "Intent", "decide_article"]

SKIP, JOIN, NEW = "skip", "join", "new"
SAME_TEXT = "same_text"  # the match level of an article whose text is stored under another URL


@dataclass(frozen=True, slots=True)
class Intent:
    """What to store for one article.

    ``action`` is ``skip`` (the very same article is stored), ``join`` (the
    story ``match.story_id``, for ``match.reason``; ``merged`` are stories
    folded into it) or ``new`` (a story of its own, posted to ``posts``).
    ``decision`` is :func:`monitor.dedup.decide`'s result, with every
    comparison made; None when the article's text decided (or nothing did).
    """

    action: str  # skip | join | new
    match: Match | None = None
    decision: Decision | None = None
    merged: tuple[int, ...] = ()
    posts: tuple[str, ...] = ()  # new: the channels that get a post

    @property
    def story_id(self) -> int | None:
        """The story joined (None for a new story, or nothing stored)."""
        return self.match.story_id if self.match is not None else None

    @property
    def updates_posts(self) -> bool:
        """Whether the story's posts are to be updated (it gained an article)."""
        return self.action == JOIN


def decide_article(
    p: Processed,
    source_name: str,
    known: Known | None,
    candidates: Sequence[Candidate],
    rarity: Rarity,
    channels: Sequence[tuple[str, ChannelFilter]],
    *,
    when: date | None = None,
) -> Intent:
    """Where ``p`` goes; see the module's docstring. ``candidates`` are looked at
    only when nothing is ``known``; ``channels`` are the active channels and
    their filters (:func:`notifiers.base.accepts`); ``when`` the article's
    publication date, else when it was first seen (the date rules of
    :func:`monitor.dedup.veto`)."""
    if known is not None:
        if known.story_id is None or known.same_url:
            return Intent(SKIP)
        reason = f"same normalised text as article {known.article_id}"
        return Intent(JOIN, match=Match(known.story_id, SAME_TEXT, 1.0, reason))
    a, v = p.article, p.verdict
    decision = decide(p.fingerprint, v.province, list(candidates), rarity, when)
    if decision.match is not None:
        return Intent(JOIN, match=decision.match, decision=decision, merged=decision.merged)
    text = story_text(a.title, p.summary, source_name)
    posts = tuple(
        channel_id
        for channel_id, channel_filter in channels
        if accepts(
            channel_filter,
            relevant=v.relevant,
            province=v.province,
            category=v.category,
            language=a.language,
            score=v.score,
            text=text,
        )
    )
    return Intent(NEW, decision=decision, posts=posts)
