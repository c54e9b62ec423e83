"""The process's web face: /healthz, /readyz, /metrics and a read-only dashboard. [IO]

A stdlib :class:`~http.server.ThreadingHTTPServer` in a daemon thread: no
framework, no build step, every page rendered on the server from the store.
It only reads; it never blocks the event loop of ``run`` (database reads go
through the store's connection pool, not the poll thread).

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

import html
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from monitor import __version__
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.metrics import Metrics
from monitor.model import CATEGORY_LABELS_ZH, Category
from storage.store import SourceState, Store, StoryFilter, StoryRow

log = logging.getLogger("monitor.web")

CST = timezone(timedelta(hours=8), "CST")
PAGE_SIZE = 50
DB_TIMEOUT = 5.0  # seconds /healthz waits for the database
MAX_ID = 2**63 - 1  # the largest row id either database stores
MAX_PAGE = 100_000  # a page number past this is read as this one (its offset must fit)
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)  # the dates the filter takes
STALL_LIMIT = 60.0  # seconds without an event-loop heartbeat before /healthz fails


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
            story_id = route.removeprefix("/stories/")
            if route.startswith("/stories/") and story_id.isdigit():
                if int(story_id) > MAX_ID:  # no such row: the database cannot even hold it
                    return _page(404, "No such story", f"<p>There is no story {_e(story_id)}.</p>")
                return self.story(int(story_id))
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
            f"<td>{_e(p['replica'] or '')}</td><td>{_e(p['error'] or '')}</td></tr>"
            for p in polls
        )
        name = source.name if source is not None else source_id
        kind = source.kind if source is not None else "no longer configured"
        url = _link(source.url, source.url) if source is not None else ""
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
            problems.append(f"{name}: {form[name]!r} is not a date (YYYY-MM-DD)")
            form[name] = ""
            return None
        if not FIRST_DAY <= value <= LAST_DAY:  # the day after 9999-12-31 does not exist
            problems.append(
                f"{name}: {form[name]} is out of range ({FIRST_DAY} to {LAST_DAY}); ignored"
            )
            form[name] = ""
            return None
        return value

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
        title = _e(a["last_error"] or (f"sent {_time(a['sent_at'])}" if a["sent_at"] else ""))
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
    text = " ".join(text.split())
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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = f"quality-monitor/{__version__}"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _refuse(self) -> None:
        body = b"read-only: GET and HEAD only\n"
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _answer(self, *, head: bool) -> None:
        try:
            response = self.server.app.handle(self.path)
        except Exception:  # a bug in a page must not kill the server thread
            log.exception("web: %s failed", self.path)
            response = _page(500, "Error", "<p class=error>Internal error; see the log.</p>")
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
        )
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: %s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: WebApp


class WebServer:
    """Serves a :class:`WebApp` from a daemon thread until :meth:`stop`."""

    def __init__(self, app: WebApp, host: str, port: int) -> None:
        self.app = app
        self._server = _Server((host, port), _Handler)
        self._server.app = app
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def start(self) -> WebServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="web",
            daemon=True,
        )
        self._thread.start()
        log.info("serving the dashboard, /healthz and /metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


__all__ = ["Status", "WebApp", "WebServer"]
