"""The writes of one poll: the article its decision placed (``monitor/decide.py``
gives the :class:`~monitor.decide.Intent`, :meth:`Tx.write` maps it to rows),
and what polls write last, many to a transaction (:class:`PollEnd`); and the
reads of many polls at once (:meth:`PollWrites.poll_states`,
:meth:`PollWrites.new_entries`: one visit to the database for a batch). [IO]"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, or_, select
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from monitor.model import HealthRecord, Known, PollLine, Processed
from storage.rows import (
    SourceState,
    article_columns,
    health_columns,
    log_columns,
    source_state_of,
    story_columns,
    utcnow,
)
from storage.schema import entries, fetch_log, http_cache, source_state
from storage.sources import UPDATE_STATE, UPDATE_SUCCESS, Cached, SourcesTx
from storage.stories import StoriesTx
from storage.tx import Database, short_error, upsert_insert

if TYPE_CHECKING:
    from monitor.decide import Intent

__all__ = ["PollEnd", "PollWrites", "Tx"]

CHUNK = 500  # values bound in one statement (a driver's limit is far above)
_STATES_OF = select(source_state).where(
    source_state.c.source_id.in_(bindparam("b_values", expanding=True))
)
_CACHES_OF = select(
    http_cache.c.url, http_cache.c.etag, http_cache.c.last_modified, http_cache.c.content_hash
).where(http_cache.c.url.in_(bindparam("b_values", expanding=True)))
# The entries of these sources with one of these keys or one of these GUIDs
# (new_entries): a source's values are matched against every source of the
# chunk, and which matched, for which source, is told apart in Python.
_LISTED_OF = select(entries.c.source_id, entries.c.key, entries.c.guid).where(
    entries.c.source_id.in_(bindparam("b_ids", expanding=True)),
    or_(
        entries.c.key.in_(bindparam("b_keys", expanding=True)),
        entries.c.guid.in_(bindparam("b_guids", expanding=True)),
    ),
)

# Rows written many at a time (Tx.finish_polls) go to the driver's executemany
# with their values converted here, once per statement and per distinct time:
# SQLAlchemy's per-row work (a dict of parameters, then each value's bind
# processor) was a third of a first pass's database time (20,000 entries seen).
_Plan = tuple[str, tuple[int, ...], tuple[tuple[int, Any], ...], tuple[str, ...] | None]
_PLANS: dict[tuple[str, str, str, tuple[str, ...]], _Plan | None] = {}


def _plan(
    conn: Connection, name: str, statement: Callable[[], Any], names: tuple[str, ...]
) -> _Plan | None:
    """How to run ``statement`` for rows of ``names`` through the driver: its SQL,
    which value of a row goes where, the bind processors to apply (by position),
    and for a named paramstyle the parameters' names; None when the statement
    binds anything else (a default, an expanding list): SQLAlchemy runs it then."""
    dialect = conn.dialect
    key = (dialect.name, dialect.paramstyle, name, names)
    if key in _PLANS:
        return _PLANS[key]
    compiled = statement().compile(dialect=dialect, column_keys=list(names))
    binds: list[str] = list(compiled.positiontup or ()) if compiled.positional else []
    if not compiled.positional:
        binds = list(compiled.binds)
    plan: _Plan | None = None
    if (
        set(binds) <= set(names)
        and not compiled.escaped_bind_names
        and not compiled.literal_execute_params
        and not compiled.post_compile_params
    ):
        processors = []
        for i, bind in enumerate(binds):
            impl = compiled.binds[bind].type.dialect_impl(dialect)
            if (process := impl.bind_processor(dialect)) is not None:
                processors.append((i, process))
        plan = (
            compiled.string,
            tuple(names.index(bind) for bind in binds),
            tuple(processors),
            None if compiled.positional else tuple(binds),
        )
    _PLANS[key] = plan
    return plan


def execute_many(
    conn: Connection,
    name: str,
    statement: Callable[[], Any],
    names: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """``conn.execute(statement(), [dict(zip(names, row)) for row in rows])``, as
    one executemany of the driver. ``name`` names the statement (with the dialect
    and ``names``, the key its compiled form is kept under); ``statement`` makes
    it, only when it is not compiled yet (an upsert's construct costs more than
    its rows in a batch of a few polls)."""
    if not rows:
        return
    plan = _plan(conn, name, statement, names)
    if plan is None:
        conn.execute(statement(), [dict(zip(names, row, strict=True)) for row in rows])
        return
    sql, order, processors, named = plan
    # A poll's rows share their times (the same object): each converted once. By
    # identity, not equality (equal instants in two zones may convert differently);
    # ``rows`` keeps every one alive meanwhile, so no id is reused.
    converted: dict[int, Any] = {}
    params: list[Any] = []
    for row in rows:
        values = [row[i] for i in order]
        for i, process in processors:
            value = values[i]
            if value is None:
                continue
            if type(value) is datetime:
                done = converted.get(id(value))
                if done is None:
                    done = converted[id(value)] = process(value)
                values[i] = done
            else:
                values[i] = process(value)
        params.append(dict(zip(named, values, strict=True)) if named else tuple(values))
    conn.exec_driver_sql(sql, params)


@dataclass(frozen=True)
class PollEnd:
    """What a poll writes last: its health, its line in the fetch log, and,
    for a poll that found nothing new and so committed nothing of its own, that
    it polled successfully at ``polled_at`` (with ``entries_found`` when it read
    the list) and the list's new ``validators`` (its key, what to store)."""

    source_id: str
    health: HealthRecord | None  # None: not judged (left as it was)
    log: PollLine | None = None
    polled_at: datetime | None = None
    entries_found: int | None = None
    validators: tuple[str, Cached] | None = None
    # (canonical URL, GUID) of the entries now seen, for a poll that stored no
    # article (a first poll's backlog, skipped links): marked with polled_at.
    seen: tuple[tuple[str, str | None], ...] = ()
    has_state: bool = True  # the source's state row exists (it has been polled before)
    # The health learned is what the row holds already (most polls of a healthy
    # source): only the poll's status and time are written, not the same values again.
    health_unchanged: bool = False
    schedule: tuple[str, datetime | None] | None = None  # (owner, next poll) for `run`


class Tx(SourcesTx, StoriesTx):
    """The statements of one poll's transaction."""

    def known(self, canonical_url: str, text_hash: str) -> Known | None:
        """A stored article with this canonical URL or this text, the oldest,
        and whether an article at this very URL is stored (itself, then)."""
        found = self.known_article(canonical_url, text_hash)
        if found is None:
            return None
        same_url = found.story_id is not None and self.url_known(canonical_url)
        return Known(found.id, found.story_id, same_url)

    def write(
        self, intent: Intent, source_id: str, source_name: str, p: Processed, now: datetime
    ) -> tuple[int, int] | None:
        """Store ``p`` as ``intent`` says: (story id, article id), or None when
        nothing was stored (the same article, or another poll stored its URL first)."""
        match = intent.match
        if intent.action == "join" and match is not None:
            if intent.merged:
                # One article reports the events of several stories: they are one.
                self.merge_stories(match.story_id, intent.merged, now)
            article_id = self.insert_article(
                article_columns(
                    source_id,
                    source_name,
                    p,
                    now,
                    match.story_id,
                    (match.level, match.score, match.reason),
                )
            )
            if article_id is None:
                return None
            self.story_updated(match.story_id, now)
            self.enqueue_edits(match.story_id, now)
            return match.story_id, article_id
        if intent.action != "new":
            return None
        story_id = self.insert_story(story_columns(source_id, source_name, p, now))
        article_id = self.insert_article(
            article_columns(source_id, source_name, p, now, story_id, None)
        )
        if article_id is None:
            raise StoreError(f"article {p.article.canonical_url} was stored twice at once")
        for channel_id in intent.posts:
            self.enqueue(story_id, channel_id, now)
        return story_id, article_id

    def finish_polls(self, ends: Iterable[PollEnd]) -> None:
        """See :class:`PollEnd`. The state updates and the fetch log lines go as
        one executemany each (per set of columns; see :func:`execute_many`)."""
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        lines: list[dict[str, Any]] = []
        upsert = upsert_insert(self.conn.dialect.name)
        # With an upsert (SQLite, PostgreSQL), the first polls' new state rows, the
        # entries seen and the validators go as one executemany each for the batch;
        # otherwise row by row, as a poll alone writes them.
        new_states: list[tuple[str, datetime, int]] = []
        seen: list[tuple[str, str, str | None, datetime]] = []
        cached: list[tuple[str, str | None, str | None, datetime, str | None]] = []
        for end in ends:
            values: dict[str, object] = {"b_source_id": end.source_id}
            if end.health is not None and end.health_unchanged:
                values |= {"last_status": end.health.status, "last_elapsed": end.health.elapsed}
            elif end.health is not None:
                values |= health_columns(end.health)
            if end.polled_at is not None:
                at = end.polled_at
                if not end.has_state:
                    if upsert is None:
                        self.source_polled(end.source_id, at, end.entries_found)
                    else:  # inserted unless a row is there; the UPDATE below fills it
                        new_states.append((end.source_id, at, 0))
                if end.seen and upsert is None:
                    self.mark_seen(end.source_id, end.seen, at)
                elif end.seen:
                    source_id = end.source_id
                    seen.extend([(source_id, k, g, at) for k, g in end.seen])
                values |= {
                    "b_first_polled": at,
                    "last_polled_at": at,
                    "last_success_at": at,
                    "consecutive_failures": 0,
                }
                if end.entries_found is not None:
                    values["entries_last_poll"] = end.entries_found
                if end.validators is not None and upsert is None:
                    key, new = end.validators
                    self.save_validators(key, new.etag, new.last_modified, at, new.content_hash)
                elif end.validators is not None:
                    key, new = end.validators
                    cached.append((key, new.etag, new.last_modified, at, new.content_hash))
            if len(values) > 1:
                updates.setdefault(tuple(sorted(values)), []).append(values)
            if end.log is not None:
                lines.append(log_columns(end.source_id, end.log))
            if end.schedule is not None:
                owner, next_poll_at = end.schedule
                self.set_schedule(end.source_id, owner, next_poll_at, utcnow())
        conn = self.conn
        names: tuple[str, ...]
        if upsert is not None:
            if new_states:  # consecutive_failures: its default, bound here
                names = ("source_id", "first_polled_at", "consecutive_failures")
                execute_many(conn, "new states", partial(_insert_new, upsert), names, new_states)
            if seen:  # an entry a concurrent poll listed first is simply not inserted again
                names = ("source_id", "key", "guid", "first_seen")
                execute_many(conn, "seen", partial(_insert_seen, upsert), names, seen)
            if cached:
                names = ("url", *_VALIDATORS)
                execute_many(conn, "validators", partial(_upsert_cached, upsert), names, cached)
        for keys, rows in updates.items():
            success = "b_first_polled" in keys
            execute_many(
                conn,
                "success" if success else "state",
                partial(_same, UPDATE_SUCCESS if success else UPDATE_STATE),
                keys,
                [tuple([row[k] for k in keys]) for row in rows],
            )
        if lines:
            keys = tuple(lines[0])  # log_columns' keys, the same for every line
            logged = [tuple(line.values()) for line in lines]
            execute_many(conn, "fetch log", fetch_log.insert, keys, logged)


# The statements of Tx.finish_polls, made when first compiled (see execute_many).
_VALIDATORS = ("etag", "last_modified", "updated_at", "content_hash")


def _insert_new(upsert: Any) -> Any:
    return upsert(source_state).on_conflict_do_nothing()


def _insert_seen(upsert: Any) -> Any:
    return upsert(entries).on_conflict_do_nothing()


def _upsert_cached(upsert: Any) -> Any:
    insert = upsert(http_cache)
    return insert.on_conflict_do_update(
        index_elements=[http_cache.c.url],
        set_={name: insert.excluded[name] for name in _VALIDATORS},
    )


def _same(statement: Any) -> Any:
    return statement


class PollWrites(Database):
    """The transactions of :class:`~storage.store.Store`."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.engine.begin() as conn:
                yield Tx(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {short_error(exc)}") from exc

    def finish_polls(self, ends: list[PollEnd]) -> None:
        """What polls write last, in one transaction for many of them (group
        commit: one transaction per poll cost more than its statements)."""
        with self.transaction() as tx:
            tx.finish_polls(ends)

    def poll_states(
        self, wanted: list[tuple[str, str | None]]
    ) -> list[tuple[SourceState | None, Cached]]:
        """What polls read first, for many at once: for each (source, key of its
        list's first request), the source's state and what is stored for the key
        (one statement per 500 sources and one per 500 keys, instead of two a poll)."""
        ids = list(dict.fromkeys(source_id for source_id, _ in wanted))
        keys = list(dict.fromkeys(key for _, key in wanted if key is not None))
        states: dict[str, SourceState] = {}
        cached: dict[str, Cached] = {}
        with self.read() as conn:
            for i in range(0, len(ids), CHUNK):
                for row in conn.execute(_STATES_OF, {"b_values": ids[i : i + CHUNK]}):
                    states[row.source_id] = source_state_of(row)
            for i in range(0, len(keys), CHUNK):
                for hit in conn.execute(_CACHES_OF, {"b_values": keys[i : i + CHUNK]}):
                    cached[hit.url] = Cached(hit.etag, hit.last_modified, hit.content_hash)
        none = Cached()
        return [
            (states.get(source_id), cached.get(key, none) if key is not None else none)
            for source_id, key in wanted
        ]

    def new_entries(
        self, lists: list[tuple[str, list[tuple[str, str | None]]]]
    ) -> list[tuple[set[str], set[str]]]:
        """For each (source, its list's (key, GUID) pairs): the keys the source has
        not listed before, and the GUIDs of those unlisted entries that it has
        listed under another key (a moved page). Many lists, one visit."""
        # One statement for both questions (two cost a second visit and statement per
        # chunk): every GUID of the list is asked, those of listed keys dropped here.
        keys_of: dict[str, set[str]] = {}
        guids_of: dict[str, set[str]] = {}
        chunks: list[tuple[list[str], list[str], list[str]]] = []
        ids: list[str] = []
        keys: list[str] = []
        guids: list[str] = []
        for source_id, pairs in lists:
            mine = [k for k in dict.fromkeys(k for k, _ in pairs) if k]
            theirs = [g for g in dict.fromkeys(g for _, g in pairs) if g]
            keys_of.setdefault(source_id, set()).update(mine)
            guids_of.setdefault(source_id, set()).update(theirs)
            if not mine and not theirs:
                continue
            if (keys or guids) and len(keys) + len(guids) + len(mine) + len(theirs) > CHUNK:
                chunks.append((ids, keys, guids))
                ids, keys, guids = [], [], []
            ids.append(source_id)
            keys.extend(mine)
            guids.extend(theirs)
        if keys or guids:
            chunks.append((ids, keys, guids))
        listed: dict[str, set[str]] = {source_id: set() for source_id in keys_of}
        moved: dict[str, set[str]] = {source_id: set() for source_id in keys_of}
        if chunks:
            with self.read() as conn:
                for chunk_ids, chunk_keys, chunk_guids in chunks:
                    # one source's list may be long: its values a slice at a time
                    step = CHUNK // 2
                    for i in range(0, max(len(chunk_keys), len(chunk_guids)), step):
                        params = {
                            "b_ids": chunk_ids,
                            "b_keys": chunk_keys[i : i + step],
                            "b_guids": chunk_guids[i : i + step],
                        }
                        for source_id, key, guid in conn.execute(_LISTED_OF, params):
                            if key in keys_of[source_id]:
                                listed[source_id].add(key)
                            if guid is not None and guid in guids_of[source_id]:
                                moved[source_id].add(guid)
        found: list[tuple[set[str], set[str]]] = []
        for source_id, pairs in lists:
            new = {k for k, _ in pairs} - listed[source_id]
            found.append((new, {g for k, g in pairs if g and k in new} & moved[source_id]))
        return found
