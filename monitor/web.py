"""The process's web face: /healthz, /readyz, /metrics and a read-only dashboard. [IO]

uvicorn on an event loop of its own in a daemon thread, with connection
timeouts and a connection limit (see :class:`WebServer`); no framework, no
build step, every page rendered on the server from the store. It only reads;
it never blocks the event loop of ``run`` (database reads go through the
store's connection pool, not the poll thread).

======================  =============================================================
path                    what
======================  =============================================================
``/``                   recent stories (filter by province, category, dates, text)
                        and the source health table
``/stories/<id>``       a story, its articles and why each was grouped with it
``/sources/<id>``       a source: its state and its recent polls (the fetch log)
``/healthz``            liveness: 200 when the process and the database answer,
                        else 503 with the reason (JSON)
``/readyz``             readiness: 200 once started (schema current, scheduler
                        running) and until a stop begins, else 503 with the reason
``/metrics``            Prometheus text format (see monitor/metrics.py)
======================  =============================================================

Dates are shown and filtered in China Standard Time (UTC+8), the time zone
of the sites watched.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from monitor import __version__
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.metrics import Metrics
from monitor.model import CATEGORY_LABELS_ZH, Category
from notifiers.redact import redact_url
from storage.store import SourceState, Store, StoryFilter, StoryRow

log = logging.getLogger("monitor.web")

CST = timezone(timedelta(hours=8), "CST")
PAGE_SIZE = 50
MAX_QUERY = 200  # characters of the search box; past that the query is cut (and said so)
MAX_PAGE = 100_000  # pages of results; a larger number is the last of these
MAX_ID = 2**63 - 1  # the largest id a database row can have
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)  # dates the filter takes
DB_TIMEOUT = 5.0  # seconds /healthz waits for the database
STALL_LIMIT = 60.0  # seconds without an event-loop heartbeat before /healthz fails
IDLE_TIMEOUT = 10.0  # seconds a connection may take to send a request head, or stay idle
MAX_CONNECTIONS = 200  # open connections (or requests in progress) before a request gets 503
WORKERS = 8  # threads rendering pages (each reads the database)
BACKLOG = 256  # connections the kernel queues before the server accepts them
STOP_TIMEOUT = 3.0  # seconds a stop waits for requests in progress


# ── status: what /healthz and /readyz report ────────────────────────────────


class Status:
    """The process's state as the probes see it. Thread-safe.

    ``run`` marks itself ready once the schema is current and the scheduler
    runs, beats from its event loop every few seconds (a stalled loop makes
    /healthz fail), and turns not ready as soon as a stop begins.
    """

    def __init__(self, *, mode: str, replica: str, stall_limit: float = STALL_LIMIT) -> None:
        self.mode = mode
        self.replica = replica
        self.stall_limit = stall_limit
        self.started = time.time()
        self._lock = threading.Lock()
        self._ready = False
        self._reason = "starting"
        self._beat: float | None = None

    def set_ready(self) -> None:
        with self._lock:
            self._ready, self._reason = True, ""

    def set_not_ready(self, reason: str) -> None:
        with self._lock:
            self._ready, self._reason = False, reason

    def readiness(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason

    def beat(self) -> None:
        with self._lock:
            self._beat = time.monotonic()

    def stalled_for(self) -> float | None:
        """Seconds since the last heartbeat, when past the limit; None otherwise."""
        with self._lock:
            if self._beat is None:
                return None
            quiet = time.monotonic() - self._beat
        return quiet if quiet > self.stall_limit else None


# ── the application ─────────────────────────────────────────────────────────


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"


class WebApp:
    """Routes a GET to its page. Independent of the HTTP server, so it can be
    called directly; the server below is a thin adapter."""

    def __init__(
        self,
        store: Store,
        config: Config,
        status: Status,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.config = config
        self.status = status
        self.metrics = metrics
        self.clock = clock

    def handle(self, path: str) -> Response:
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=False).items()}
        route = parts.path.rstrip("/") or "/"
        try:
            if route == "/healthz":
                return self.healthz()
            if route == "/readyz":
                return self.readyz()
            if route == "/metrics":
                body, content_type = self.metrics.render()
                return Response(200, body, content_type)
            if route == "/":
                return self.index(query)
            number = route.removeprefix("/stories/")
            if route.startswith("/stories/") and number.isdigit() and int(number) <= MAX_ID:
                return self.story(int(number))
            if route.startswith("/sources/"):
                return self.source(route.removeprefix("/sources/"))
        except MonitorError as exc:
            log.error("web: %s: %s", route, exc)
            return _page(
                503,
                "Database unavailable",
                f"<p class=error>The database did not answer: {_e(str(exc))}</p>",
            )
        return _page(404, "Not found", f"<p>Nothing at {_e(parts.path)}.</p>")

    # ── probes ──────────────────────────────────────────────────────────────

    def _database_answers(self) -> str | None:
        """None when the database answers within DB_TIMEOUT, else why not."""
        outcome: list[str | None] = []

        def ping() -> None:
            try:
                self.store.ping()
                outcome.append(None)
            except MonitorError as exc:
                outcome.append(str(exc))

        worker = threading.Thread(target=ping, name="healthz-ping", daemon=True)
        worker.start()
        worker.join(DB_TIMEOUT)
        if not outcome:
            return f"the database did not answer within {DB_TIMEOUT:g}s"
        return outcome[0]

    def _probe(self, ok: bool, reason: str) -> Response:
        body: dict[str, Any] = {
            "status": "ok" if ok else "unavailable",
            "mode": self.status.mode,
            "replica": self.status.replica,
            "version": __version__,
        }
        if not ok:
            body["reason"] = reason
        return Response(
            200 if ok else 503,
            json.dumps(body, ensure_ascii=False).encode(),
            "application/json",
        )

    def healthz(self) -> Response:
        stalled = self.status.stalled_for()
        if stalled is not None:
            return self._probe(False, f"the event loop has not run for {stalled:.0f}s")
        problem = self._database_answers()
        return self._probe(problem is None, problem or "")

    def readyz(self) -> Response:
        ready, reason = self.status.readiness()
        if not ready:
            return self._probe(False, reason)
        problem = self._database_answers()
        return self._probe(problem is None, problem or "")

    # ── pages ───────────────────────────────────────────────────────────────

    def index(self, query: dict[str, str]) -> Response:
        where, form, problems = _filter(query)
        page = min(max(1, _int(query.get("page"), 1)), MAX_PAGE)
        stories, total = self.store.find_stories(
            where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        facets = self.store.story_facets()
        alerts = self.store.story_alerts([s.id for s in stories])
        states = self.store.all_source_states()
        schedules = self.store.schedules()
        now = self.clock()
        parts = [
            _filter_form(form, facets, problems),
            f"<p id=total>{total} stor{'y' if total == 1 else 'ies'}"
            f"{' match' if _filtered(form) else ''}"
            f"{f', page {page}' if total > PAGE_SIZE else ''}</p>",
        ]
        if stories:
            parts.append("<ol id=stories>")
            parts += [_story_item(s, alerts.get(s.id, [])) for s in stories]
            parts.append("</ol>")
        else:
            parts.append("<p class=empty>No story matches.</p>")
        parts.append(_pager(form, page, total))
        parts.append(_sources_table(self.config, states, schedules, now))
        return _page(200, "Stories", "\n".join(parts))

    def story(self, story_id: int) -> Response:
        story = self.store.story(story_id)
        if story is None:
            return _page(404, "No such story", f"<p>There is no story {story_id}.</p>")
        articles = self.store.story_articles(story_id)
        alerts = self.store.story_alerts([story_id]).get(story_id, [])
        rows = []
        for a in articles:
            if a["match_level"] is None:
                why = "<b>lead</b>: the first article of the event"
            else:
                score = f" {a['match_score']:.2f}" if a["match_score"] is not None else ""
                why = f"<b>{_e(a['match_level'])}</b>{score}: {_e(a['match_reason'] or '')}"
            rows.append(
                "<tr>"
                f"<td><a href='/sources/{_e(a['source_id'])}'>{_e(a['source_name'])}</a></td>"
                f"<td>{_link(a['title'], a['url'])}</td>"
                f"<td>{_e(a['language'])}</td>"
                f"<td class=why>{why}</td>"
                "</tr>"
            )
        body = f"""
<p class=back><a href="/">← all stories</a></p>
<h2 id=story-title>{_link(story.title, story.url)}</h2>
<p class=meta>{_date(story.published or story.first_seen)} · {_province(story.province)}
 · {_category(story.category)} · {_e(story.language)} · first seen {_time(story.first_seen)}</p>
<p class=summary>{_e(story.summary)}</p>
<p class=alerts>{_alerts(alerts) or "no alert"}</p>
<h3>Articles and why they were grouped</h3>
<table id=articles>
<thead><tr><th>Source</th><th>Article</th><th>Language</th><th>Grouped because</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>"""
        return _page(200, story.title, body)

    def source(self, source_id: str) -> Response:
        try:
            source = self.config.source(source_id)
        except KeyError:
            source = None
        state = self.store.source_state(source_id)
        if source is None and state is None:
            return _page(404, "No such source", f"<p>There is no source {_e(source_id)}.</p>")
        polls = self.store.recent_polls(source_id)
        schedule = self.store.schedules().get(source_id)
        now = self.clock()
        rows = "".join(
            "<tr" + (" class=failing" if p["status"] == "error" else "") + ">"
            f"<td>{_time(p['started_at'])}</td><td>{_e(p['status'])}</td>"
            f"<td>{p['seconds']:.1f}s</td><td>{p['entries']}</td><td>{p['new']}</td>"
            f"<td>{p['articles']}</td><td>{p['stories']}</td>"
            f"<td>{_e(p['replica'] or '')}</td><td>{_e(redact_url(p['error'] or ''))}</td></tr>"
            for p in polls
        )
        name = source.name if source is not None else source_id
        kind = source.kind if source is not None else "no longer configured"
        shown = redact_url(source.url) if source is not None else ""  # no credentials, even linked
        url = _link(shown, shown) if source is not None else ""
        body = f"""
<p class=back><a href="/">← dashboard</a></p>
<h2>{_e(name)} <small>{_e(source_id)} · {_e(kind)}</small></h2>
<p>{url}</p>
{
            _sources_table(
                self.config,
                {source_id: state} if state else {},
                {source_id: schedule} if schedule else {},
                now,
                only=source_id,
            )
        }
<h3>Recent polls</h3>
<table id=polls>
<thead><tr><th>Started</th><th>Outcome</th><th>Time</th><th>Entries</th><th>New</th>
<th>Articles</th><th>Stories</th><th>Replica</th><th>Error</th></tr></thead>
<tbody>{rows}</tbody>
</table>"""
        return _page(200, name, body)


# ── the filter ──────────────────────────────────────────────────────────────


def _filter(query: dict[str, str]) -> tuple[StoryFilter, dict[str, str], list[str]]:
    """Query parameters → the store's filter, the form's values, and what was wrong."""
    problems: list[str] = []
    form = {k: query.get(k, "").strip() for k in ("province", "category", "from", "to", "q")}
    form["show"] = query.get("show", "relevant").strip() or "relevant"

    def day(name: str) -> date | None:
        if not form[name]:
            return None
        try:
            value = date.fromisoformat(form[name])
        except ValueError:
            problems.append(f"{name}: {form[name][:40]!r} is not a date (YYYY-MM-DD)")
            form[name] = ""
            return None
        if not FIRST_DAY <= value <= LAST_DAY:
            problems.append(f"{name}: {form[name]} is out of range ({FIRST_DAY} to {LAST_DAY})")
            form[name] = ""
            return None
        return value

    if len(form["q"]) > MAX_QUERY:
        problems.append(f"q: only the first {MAX_QUERY} characters are searched")
        form["q"] = form["q"][:MAX_QUERY].strip()
    since, until = day("from"), day("to")
    category = form["category"]
    if category and category not in {c.value for c in Category}:
        problems.append(f"category: unknown {category!r}")
        form["category"] = category = ""
    relevant = {"relevant": True, "other": False}.get(form["show"])
    if relevant is None and form["show"] != "all":
        form["show"], relevant = "relevant", True
    where = StoryFilter(
        province=form["province"] or None,
        category=category or None,
        since=datetime.combine(since, datetime.min.time(), CST) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time(), CST)
        if until
        else None,
        query=form["q"] or None,
        relevant=relevant,
    )
    return where, form, problems


def _filtered(form: dict[str, str]) -> bool:
    """Whether the form narrows the default view (relevant stories, no filter)."""
    return form["show"] != "relevant" or any(v for k, v in form.items() if k != "show")


def _filter_form(
    form: dict[str, str], facets: dict[str, list[tuple[str, int]]], problems: list[str]
) -> str:
    def options(name: str, choices: Iterable[tuple[str, str]]) -> str:
        out = ["<option value=''>all</option>"]
        for value, label in choices:
            selected = " selected" if form[name] == value else ""
            out.append(f"<option value='{_e(value)}'{selected}>{_e(label)}</option>")
        return "".join(out)

    provinces = [(code, f"{_province_text(code)} ({n})") for code, n in facets["province"]]
    if form["province"] and form["province"] not in {c for c, _ in facets["province"]}:
        provinces.append((form["province"], _province_text(form["province"])))
    counts = dict(facets["category"])
    categories = [
        (
            c.value,
            f"{CATEGORY_LABELS_ZH.get(c.value, c.value)} {c.value} ({counts.get(c.value, 0)})",
        )
        for c in Category
    ]
    shows = [("relevant", "relevant"), ("other", "not relevant"), ("all", "all")]
    show_options = "".join(
        f"<option value='{v}'{' selected' if form['show'] == v else ''}>{label}</option>"
        for v, label in shows
    )
    errors = "".join(f"<p class=error>{_e(p)}</p>" for p in problems)
    return f"""
<form id=filters method=get action="/">
<label>Province <select id=province name=province>{options("province", provinces)}</select></label>
<label>Category <select id=category name=category>{options("category", categories)}</select></label>
<label>From <input id=from name=from type=date value="{_e(form["from"])}"></label>
<label>To <input id=to name=to type=date value="{_e(form["to"])}"></label>
<label>Search <input id=q name=q type=search value="{_e(form["q"])}"
 placeholder="words in titles, summary, outlets"></label>
<label>Show <select id=show name=show>{show_options}</select></label>
<button id=apply type=submit>Apply</button> <a href="/" id=reset>reset</a>
</form>{errors}"""


def _pager(form: dict[str, str], page: int, total: int) -> str:
    if total <= PAGE_SIZE:
        return ""
    base = {k: v for k, v in form.items() if v}
    links = []
    if page > 1:
        links.append(f"<a rel=prev href='/?{_e(urlencode(base | {'page': page - 1}))}'>newer</a>")
    if page * PAGE_SIZE < total:
        links.append(f"<a rel=next href='/?{_e(urlencode(base | {'page': page + 1}))}'>older</a>")
    return f"<p class=pager>{' · '.join(links)}</p>"


# ── fragments ───────────────────────────────────────────────────────────────


def _story_item(story: StoryRow, alerts: list[dict[str, Any]]) -> str:
    sources = "".join(f"<span class=source>{_e(name)}</span>" for name in story.sources)
    more = f" · {story.articles} articles" if story.articles > 1 else ""
    return f"""<li class=story data-id="{story.id}" data-province="{_e(story.province or "")}"
 data-category="{_e(story.category)}">
<h3><a href="/stories/{story.id}">{_e(story.title)}</a></h3>
<p class=meta>{_date(story.published or story.first_seen)} · {_province(story.province)}
 · {_category(story.category)}{more} · {_alerts(alerts) or "no alert"}</p>
<p class=sources>{sources}</p>
<p class=summary>{_e(story.summary)}</p>
</li>"""


def _sources_table(
    config: Config,
    states: dict[str, SourceState],
    schedules: dict[str, Any],
    now: datetime,
    *,
    only: str | None = None,
) -> str:
    ids = [s.id for s in config.sources if only is None or s.id == only]
    ids += sorted(i for i in states if i not in ids and (only is None or i == only))
    rows = []
    for source_id in ids:
        state = states.get(source_id)
        try:
            source = config.source(source_id)
            name = source.name
            enabled = source.enabled
        except KeyError:
            name, enabled = "(not in sources.yaml)", False
        schedule = schedules.get(source_id)
        failures = state.consecutive_failures if state else 0
        flags = list(state.health_flags) if state else []
        next_poll = schedule.next_poll_at if schedule else None
        backoff = state.backoff_until if state else None
        if backoff is not None and (next_poll is None or backoff > next_poll):
            next_poll = backoff
        if not enabled:
            next_text = "disabled"
        elif next_poll is not None:
            next_text = _time(next_poll) + (" (backing off)" if next_poll is backoff else "")
        else:
            next_text = "—"
        error = ""
        if state and state.last_error and failures:
            error = f"{_time(state.last_error_at)}: {_e(_shorten(state.last_error, 160))}"
        elif state and state.last_error:
            since = _time(state.last_error_at)
            error = f"<span class=old>{since}: {_e(_shorten(state.last_error, 80))}</span>"
        badges = "".join(f"<span class=flag>{_e(f)}</span>" for f in flags)
        rows.append(
            f"<tr data-source='{_e(source_id)}'"
            + (" class=failing" if failures or flags else "")
            + ">"
            f"<td><a href='/sources/{_e(source_id)}'>{_e(source_id)}</a>{badges}</td>"
            f"<td>{_e(name)}</td>"
            f"<td>{_time(state.last_success_at) if state else 'never polled'}</td>"
            f"<td>{error}</td>"
            f"<td class=num>{failures}</td>"
            f"<td>{next_text}</td>"
            f"<td>{_e(schedule.owner or '') if schedule else ''}</td>"
            "</tr>"
        )
    return f"""
<h2 id=health>Sources</h2>
<table id=sources>
<thead><tr><th>Source</th><th>Name</th><th>Last success</th><th>Last error</th>
<th>Failures in a row</th><th>Next poll</th><th>Polled by</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>
<p class=note>Times are China Standard Time (UTC+8); now {_time(now)}.</p>"""


def _alerts(alerts: list[dict[str, Any]]) -> str:
    out = []
    for a in alerts:
        if a["kind"] != "post":
            continue
        title = _e(
            redact_url(a["last_error"] or "")
            or (f"sent {_time(a['sent_at'])}" if a["sent_at"] else "")
        )
        out.append(
            f"<span class='alert {_e(a['status'])}' title='{title}'>"
            f"{_e(a['channel_id'])}: {_e(a['status'])}</span>"
        )
    return " ".join(out)


def _province_text(code: str | None) -> str:
    if not code:
        return "unknown province"
    from monitor.lexicon import province_by_code

    if code == "CN":
        return "CN 全国 national"
    try:
        p = province_by_code(code)
    except KeyError:
        return code
    return f"{code} {p.zh_short} {p.en[0] if p.en else ''}".strip()


def _province(code: str | None) -> str:
    return f"<span class=province>{_e(_province_text(code))}</span>"


def _category(category: str) -> str:
    label = CATEGORY_LABELS_ZH.get(category, category)
    return f"<span class=category>{_e(label)} {_e(category)}</span>"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _link(text: str, url: str | None) -> str:
    """A link only to http(s) URLs: a stored URL is web input."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return f"<a href='{_e(url)}' rel='noreferrer noopener' target=_blank>{_e(text)}</a>"
    return _e(text)


def _date(value: datetime | None) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%d") if value else "—"


def _time(value: datetime | None) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%d %H:%M") if value else "—"


def _shorten(text: str, n: int) -> str:
    """One line of at most ``n`` characters, without credentials (an error names URLs)."""
    text = " ".join(redact_url(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


_STYLE = """
body{font:15px/1.5 system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:0;color:#1d232a;
background:#f6f7f9}
header{background:#1f3b57;color:#fff;padding:.6em 1.2em}header a{color:#fff;text-decoration:none}
main{max-width:1100px;margin:0 auto;padding:1em 1.2em}
form#filters{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:end;background:#fff;
padding:.8em;border:1px solid #dde2e8;border-radius:6px}
form label{display:flex;flex-direction:column;font-size:12px;color:#56606b}
input,select,button{font:inherit;padding:.25em .4em}
button{background:#1f3b57;color:#fff;border:0;border-radius:4px;padding:.35em 1em}
ol#stories{list-style:none;padding:0}
li.story{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:.7em 0;padding:.6em 1em}
li.story h3{margin:.1em 0;font-size:17px}
.meta{color:#56606b;font-size:13px;margin:.2em 0}
.source{display:inline-block;background:#eef3f8;border-radius:3px;padding:0 .4em;margin:0 .3em 0 0;
font-size:12px}
.alert{font-size:12px;border-radius:3px;padding:0 .3em}.alert.sent{background:#e3f4e6}
.alert.pending{background:#fff3d6}.alert.failed{background:#fde2e1}
.flag{background:#fde2e1;color:#8a1f17;border-radius:3px;padding:0 .3em;margin-left:.4em;
font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #dde2e8;padding:.3em .5em;text-align:left;vertical-align:top}
tr.failing td{background:#fff4f3}td.num{text-align:right}.old{color:#8b949e}
.error{color:#a1271c}.empty,.note{color:#56606b}.why{max-width:420px}
"""


def _page(status: int, title: str, body: str) -> Response:
    document = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{_e(title)} · quality-monitor</title><style>{_STYLE}</style></head>
<body><header><a href="/"><b>quality-monitor</b></a> · quality-province news</header>
<main>
{body}
</main></body></html>"""
    return Response(status, document.encode("utf-8"))


# ── the HTTP server ─────────────────────────────────────────────────────────


_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"server", f"quality-monitor/{__version__}".encode()),
)


class _Asgi:
    """The ASGI face of a :class:`WebApp`: GET and HEAD are answered by
    :meth:`WebApp.handle` in a small thread pool (its pages read the database
    synchronously), every other method is refused."""

    def __init__(self, app: WebApp, workers: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            body = b"read-only: GET and HEAD only\n"
            headers = [
                (b"allow", b"GET, HEAD"),
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # The request target as the client wrote it, as the standard library's server gave it.
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        path = target.decode("latin-1")
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.pool, self.app.handle, path)
        except Exception:  # a bug in a page must not take the server down
            log.exception("web: %s failed", _shorten(path, 200))
            response = _page(500, "Error", "<p class=error>Internal error; see the log.</p>")
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
            *_HEADERS,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's head and a
    cap on open connections that makes room by closing idle ones.

    uvicorn closes a keep-alive connection that stays quiet after a response,
    but not one that never finishes its first request: a client that connects
    and sends nothing, or one byte now and then, would hold its socket (and a
    file descriptor) for as long as it likes. Here the whole request head must
    arrive within ``timeout_keep_alive`` of the connection opening or of the
    previous response, or the connection is closed.

    And past ``max_open`` open connections, a new one closes the oldest that
    has not sent a complete request head (idle, or a request still trickling
    in), so that idle connections can neither exhaust file descriptors nor
    keep a probe out: ``/healthz`` answers at once. Only when every connection
    is busy with a request does a new request get uvicorn's 503.
    """

    max_open: ClassVar[int] = MAX_CONNECTIONS
    _head_deadline: asyncio.TimerHandle | None = None
    _opened = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm()
        if len(self.connections) > self.max_open:
            self._close_oldest_idle()

    def _idle(self) -> bool:
        return (
            self.conn.their_state is h11.IDLE
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def _close_oldest_idle(self) -> None:
        idle = [
            c for c in self.connections if c is not self and isinstance(c, _Protocol) and c._idle()
        ]
        if idle:
            min(idle, key=lambda c: c._opened).transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.timeout_keep_alive, self._too_slow)

    def _too_slow(self) -> None:
        # IDLE: no complete request head since the deadline was armed.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class WebServer:
    """Serves a :class:`WebApp` with uvicorn, on an event loop in a daemon thread,
    until :meth:`stop`.

    The standard library's threaded server gave each connection a thread for as
    long as the client kept it open: a thousand idle connections held a
    thousand threads and, with 1,024 file descriptors, starved the polls and
    ``/healthz`` itself. uvicorn serves every connection from one event loop;
    a connection that does not send its request head within ``idle_timeout``
    (or stays quiet that long after a response) is closed; past
    ``max_connections`` open connections a new one closes the oldest idle one,
    and when all are busy with requests a request is answered 503 at once
    instead of queueing (see :class:`_Protocol`). The socket is bound in the
    constructor, so a port in use is an ``OSError`` there, as before.
    """

    def __init__(
        self,
        app: WebApp,
        host: str,
        port: int,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        workers: int = WORKERS,
    ) -> None:
        self.app = app
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._socket = socket.socket(family, kind, proto)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(address)
        except OSError:
            self._socket.close()
            raise
        self._asgi = _Asgi(app, workers)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._asgi,
                http=type("_Protocol", (_Protocol,), {"max_open": max_connections}),
                ws="none",
                lifespan="off",
                interface="asgi3",
                timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]  # a float works
                timeout_graceful_shutdown=STOP_TIMEOUT,
                # one more than the connections kept open: uvicorn counts with >=
                limit_concurrency=max_connections + 1,
                backlog=BACKLOG,
                server_header=False,
                access_log=False,
                log_config=None,
                log_level="warning",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> WebServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        log.info("serving the dashboard, /healthz and /metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT + 2)
            self._thread = None
        self._socket.close()
        self._asgi.pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["Status", "WebApp", "WebServer"]
