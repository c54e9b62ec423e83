"""The dashboard's pages: HTML rendered on the server from the store. [IO: reads]

Three pages and their error pages, in Chinese by default and in English with
``?lang=en`` (every link of a page keeps the choice). No script, no style or
font from elsewhere: the Content-Security-Policy of ``monitor/web.py`` allows
neither, and the chart is an inline SVG drawn here.

======================  =============================================================
page                    what
======================  =============================================================
``/``                   how many sources fail, the chart of stories per province and
                        week, recent stories (filter by province, category, dates,
                        words), and the source health table
``/stories/<id>``       a story, its alerts, its articles and why each was grouped
``/sources/<id>``       a source: its state and its recent polls (the fetch log)
======================  =============================================================

What a page shows of the outbox is per channel of ``sources.yaml``; the
private chats of the bot's subscribers are counted together as "subscribers",
never named by chat id. Province names come from the lexicon
(:func:`monitor.lexicon.province_label`), like those of posts.

Dates are shown and filtered in China Standard Time (UTC+8), the time zone
of the sites watched. This module knows nothing of HTTP: ``monitor/web.py``
routes a request here and sends back the :class:`Page`.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from monitor.clock import CHINA as CST
from monitor.clock import shown
from monitor.config import Config
from monitor.lexicon import province_label
from monitor.model import CATEGORY_LABELS_ZH, AlertStatus, Category
from notifiers.redact import redact_url
from storage.chats import CHAT_PREFIX
from storage.store import Schedule, SourceState, Store, StoryFilter, StoryRow

PAGE_SIZE = 50
MAX_QUERY = 200  # characters of the search box; past that the query is cut (and said so)
MAX_PAGE = 100_000  # pages of results; a larger number is the last of these
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)  # dates the filter takes
CHART_WEEKS = 12  # the chart's span, up to the newest story shown
CHART_ROWS = 10  # provinces drawn one per row; the rest share a row

# ── words ───────────────────────────────────────────────────────────────────

LANGUAGES = ("zh", "en")

# key → (Chinese, English). Placeholders are filled with str.format.
_WORDS: dict[str, tuple[str, str]] = {
    "site": ("质量强省动态", "quality-province news"),
    "other_language": ("English", "中文"),
    "stories": ("报道", "Stories"),
    "total": ("共 {n} 条报道", "{n} stories"),
    "total_one": ("共 {n} 条报道", "{n} story"),
    "total_match": ("符合条件的报道 {n} 条", "{n} stories match"),
    "total_match_one": ("符合条件的报道 {n} 条", "{n} story matches"),
    "page_n": ("，第 {page} 页", ", page {page}"),
    "no_match": ("没有符合条件的报道。", "No story matches."),
    "province": ("省份", "Province"),
    "category": ("类别", "Category"),
    "from": ("起", "From"),
    "to": ("止", "To"),
    "search": ("搜索", "Search"),
    "search_hint": ("标题、摘要、媒体名称中的词", "words in titles, summary, outlets"),
    "show": ("显示", "Show"),
    "all": ("全部", "all"),
    "relevant": ("相关", "relevant"),
    "not_relevant": ("不相关", "not relevant"),
    "apply": ("筛选", "Apply"),
    "reset": ("重置", "reset"),
    "not_a_date": (
        "{name}：{value} 不是日期（YYYY-MM-DD）",
        "{name}: {value} is not a date (YYYY-MM-DD)",
    ),
    "out_of_range": (
        "{name}：{value} 超出范围（{first} 至 {last}）",
        "{name}: {value} is out of range ({first} to {last})",
    ),
    "field_from": ("起始日期", "from"),
    "field_to": ("截止日期", "to"),
    "query_cut": ("搜索：只搜索前 {n} 个字符", "q: only the first {n} characters are searched"),
    "unknown_category": ("类别：未知的 {value}", "category: unknown {value}"),
    "newer": ("较新", "newer"),
    "older": ("较早", "older"),
    "articles_n": ("{n} 篇文章", "{n} articles"),
    "no_alert": ("未推送", "no alert"),
    "subscribers": ("订阅者", "subscribers"),
    "status_sent": ("已发送", "sent"),
    "status_pending": ("待发送", "pending"),
    "status_failed": ("失败", "failed"),
    "status_skipped": ("已跳过", "skipped"),
    "sent_at": ("发送于 {time}", "sent {time}"),
    "channel_down": (
        "频道 {channel} 无法发送：{why}。{n} 条待发送，修复后按序发出（自 {since} 起）",
        "Channel {channel} cannot take posts: {why}. {n} alerts wait (since {since}) and go "
        "out in order once it is fixed",
    ),
    "failing_none": ("{m} 个来源全部正常", "all {m} sources answering"),
    "failing_some": ("{m} 个来源中 {n} 个失败", "{n} of {m} sources failing"),
    "sources": ("来源", "Sources"),
    "col_source": ("来源", "Source"),
    "col_name": ("名称", "Name"),
    "col_last_success": ("上次成功", "Last success"),
    "col_last_error": ("上次错误", "Last error"),
    "col_failures": ("连续失败", "Failures in a row"),
    "col_next_poll": ("下次抓取", "Next poll"),
    "col_polled_by": ("抓取副本", "Polled by"),
    "never_polled": ("从未抓取", "never polled"),
    "disabled": ("已停用", "disabled"),
    "backing_off": ("（退避中）", " (backing off)"),
    "not_configured": ("（不在 sources.yaml 中）", "(not in sources.yaml)"),
    "times_note": (
        "时间均为北京时间（UTC+8）；现在 {now}。",
        "Times are China Standard Time (UTC+8); now {now}.",
    ),
    "all_stories": ("← 全部报道", "← all stories"),
    "dashboard": ("← 仪表盘", "← dashboard"),
    "first_seen": ("首次发现 {time}", "first seen {time}"),
    "grouped_heading": ("文章及归并原因", "Articles and why they were grouped"),
    "col_article": ("文章", "Article"),
    "col_language": ("语言", "Language"),
    "col_grouped": ("归并原因", "Grouped because"),
    "lead": ("<b>lead</b>：事件的第一篇报道", "<b>lead</b>: the first article of the event"),
    "no_longer_configured": ("已不在配置中", "no longer configured"),
    "recent_polls": ("最近的抓取", "Recent polls"),
    "col_started": ("开始", "Started"),
    "col_outcome": ("结果", "Outcome"),
    "col_time": ("用时", "Time"),
    "col_entries": ("条目", "Entries"),
    "col_new": ("新条目", "New"),
    "col_articles": ("文章", "Articles"),
    "col_stories": ("报道", "Stories"),
    "col_replica": ("副本", "Replica"),
    "col_error": ("错误", "Error"),
    "not_found": ("未找到", "Not found"),
    "nothing_at": ("{path} 没有内容。", "Nothing at {path}."),
    "no_such_story": ("没有这条报道", "No such story"),
    "no_story_n": ("没有编号为 {id} 的报道。", "There is no story {id}."),
    "no_such_source": ("没有这个来源", "No such source"),
    "no_source_id": ("没有来源 {id}。", "There is no source {id}."),
    "db_unavailable": ("数据库不可用", "Database unavailable"),
    "db_no_answer": ("数据库没有响应：{error}", "The database did not answer: {error}"),
    "error": ("出错", "Error"),
    "internal_error": ("内部错误，详见日志。", "Internal error; see the log."),
    "chart_heading": ("各省每周报道数", "Stories per province and week"),
    "chart_empty": ("还没有报道可画。", "No stories to chart yet."),
    "chart_total": ("合计", "Total"),
    "chart_other": ("其他省份", "Other provinces"),
    "chart_note": (
        "每格为该省该周（周一至周日，北京时间）的报道数，点击可查看；"
        "最近 {weeks} 周，截至最新一条报道。",
        "Each cell counts a province's stories in one week (Monday to Sunday, China time); "
        "click to list them. The last {weeks} weeks up to the newest story.",
    ),
    "unknown_province": ("省份未知", "unknown province"),
}

# Categories in English: the code, readable.
_CATEGORY_EN = {c.value: c.value.replace("_", " ") for c in Category}


@dataclass(frozen=True, slots=True)
class Words:
    """The dashboard's words in one language (``zh`` or ``en``)."""

    language: str

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Words:
        return cls("en" if query.get("lang", "").lower().startswith("en") else "zh")

    @property
    def english(self) -> bool:
        return self.language == "en"

    def __call__(self, key: str, **values: object) -> str:
        zh, en = _WORDS[key]
        text = en if self.english else zh
        return text.format(**values) if values else text

    def province(self, code: str | None) -> str:
        if not code:
            return self("unknown_province")
        return province_label(code, self.language) or code

    def category(self, category: str) -> str:
        table = _CATEGORY_EN if self.english else CATEGORY_LABELS_ZH
        return table.get(category, category)

    def status(self, status: str) -> str:
        key = f"status_{status}"
        return self(key) if key in _WORDS else status

    def href(self, path: str, params: dict[str, object] | None = None) -> str:
        """``path`` with ``params`` and, in English, ``lang=en``."""
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        if self.english:
            params["lang"] = "en"
        return f"{path}?{urlencode(params)}" if params else path


# ── pages ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Page:
    """One rendered page: its HTTP status and the whole HTML document."""

    status: int
    body: bytes


class Dashboard:
    """Renders the pages from the store; routing and HTTP live in ``monitor/web.py``."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def index(self, query: dict[str, str]) -> Page:
        w = Words.from_query(query)
        where, form, problems = _filter(query, w)
        page = min(max(1, _int(query.get("page"), 1)), MAX_PAGE)
        stories, total = self.store.find_stories(
            where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        facets = self.store.story_facets()
        alerts = self.store.story_alerts([s.id for s in stories])
        states = self.store.all_source_states()
        schedules = self.store.schedules()
        days = self.store.story_days(where, timedelta(weeks=CHART_WEEKS))
        now = self.clock()
        filtered = _filtered(form)
        key = ("total_match" if filtered else "total") + ("_one" if total == 1 else "")
        parts = [
            *_held_channels(self.store.held_channels(), w),
            _failing_line(self.config, states, w),
            _filter_form(form, facets, problems, w),
            _chart(days, form, w),
            f"<p id=total>{_e(w(key, n=total))}"
            f"{_e(w('page_n', page=page)) if total > PAGE_SIZE else ''}</p>",
        ]
        if stories:
            parts.append("<ol id=stories>")
            parts += [_story_item(s, alerts.get(s.id, []), w) for s in stories]
            parts.append("</ol>")
        else:
            parts.append(f"<p class=empty>{_e(w('no_match'))}</p>")
        parts.append(_pager(form, page, total, w))
        parts.append(_sources_table(self.config, states, schedules, now, w))
        return _page(200, w("stories"), "\n".join(parts), w, query)

    def story(self, story_id: int, query: dict[str, str]) -> Page:
        w = Words.from_query(query)
        story = self.store.story(story_id)
        if story is None:
            return _page(
                404, w("no_such_story"), f"<p>{_e(w('no_story_n', id=story_id))}</p>", w, query
            )
        articles = self.store.story_articles(story_id)
        alerts = self.store.story_alerts([story_id]).get(story_id, [])
        rows = []
        for a in articles:
            if a.match_level is None:
                why = w("lead")
            else:
                score = f" {a.match_score:.2f}" if a.match_score is not None else ""
                why = f"<b>{_e(a.match_level)}</b>{score}: {_e(a.match_reason or '')}"
            rows.append(
                "<tr>"
                f"<td><a href='{_e(w.href('/sources/' + a.source_id))}'>"
                f"{_e(a.source_name)}</a></td>"
                f"<td>{_link(a.title, a.url)}</td>"
                f"<td>{_e(a.language)}</td>"
                f"<td class=why>{why}</td>"
                "</tr>"
            )
        body = f"""
<p class=back><a href="{_e(w.href("/"))}">{_e(w("all_stories"))}</a></p>
<h2 id=story-title>{_link(story.title, story.url)}</h2>
<p class=meta>{_date(story.published)} · {_province(story.province, w)}
 · {_category(story.category, w)} · {_e(story.language)} · {
            _e(w("first_seen", time=_time(story.first_seen)))
        }</p>
<p class=summary>{_e(story.summary)}</p>
<p class=alerts>{_alerts(alerts, w) or _e(w("no_alert"))}</p>
<h3>{_e(w("grouped_heading"))}</h3>
<table id=articles>
<colgroup><col style="width:18%"><col style="width:37%"><col style="width:9%"><col></colgroup>
<thead><tr><th>{_e(w("col_source"))}</th><th>{_e(w("col_article"))}</th>
<th>{_e(w("col_language"))}</th><th>{_e(w("col_grouped"))}</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>"""
        return _page(200, story.title, body, w, query)

    def source(self, source_id: str, query: dict[str, str]) -> Page:
        w = Words.from_query(query)
        try:
            source = self.config.source(source_id)
        except KeyError:
            source = None
        state = self.store.source_state(source_id)
        if source is None and state is None:
            return _page(
                404, w("no_such_source"), f"<p>{_e(w('no_source_id', id=source_id))}</p>", w, query
            )
        polls = self.store.recent_polls(source_id)
        schedule = self.store.schedules().get(source_id)
        now = self.clock()
        rows = "".join(
            "<tr" + (" class=failing" if p.status == "error" else "") + ">"
            f"<td>{_time(p.started_at)}</td><td>{_e(p.status)}</td>"
            f"<td>{p.seconds:.1f}s</td><td>{p.entries}</td><td>{p.new}</td>"
            f"<td>{p.articles}</td><td>{p.stories}</td>"
            f"<td>{_e(p.replica or '')}</td><td>{_e(redact_url(p.error or ''))}</td></tr>"
            for p in polls
        )
        name = source.name if source is not None else source_id
        kind = source.kind if source is not None else w("no_longer_configured")
        shown = redact_url(source.url) if source is not None else ""  # no credentials, even linked
        url = _link(shown, shown) if source is not None else ""
        table = _sources_table(
            self.config,
            {source_id: state} if state else {},
            {source_id: schedule} if schedule else {},
            now,
            w,
            only=source_id,
        )
        heads = "".join(
            f"<th>{_e(w(k))}</th>"
            for k in (
                "col_started",
                "col_outcome",
                "col_time",
                "col_entries",
                "col_new",
                "col_articles",
                "col_stories",
                "col_replica",
                "col_error",
            )
        )
        body = f"""
<p class=back><a href="{_e(w.href("/"))}">{_e(w("dashboard"))}</a></p>
<h2>{_e(name)} <small>{_e(source_id)} · {_e(kind)}</small></h2>
<p class=url>{url}</p>
{table}
<h3>{_e(w("recent_polls"))}</h3>
<table id=polls>
<colgroup><col style="width:13%"><col style="width:8%"><col style="width:6%">
<col style="width:6%"><col style="width:6%"><col style="width:6%"><col style="width:6%">
<col style="width:12%"><col></colgroup>
<thead><tr>{heads}</tr></thead>
<tbody>{rows}</tbody>
</table>"""
        return _page(200, name, body, w, query)

    def not_found(self, path: str, query: dict[str, str]) -> Page:
        w = Words.from_query(query)
        return _page(404, w("not_found"), f"<p>{_e(w('nothing_at', path=path))}</p>", w, query)

    def unavailable(self, error: str, query: dict[str, str]) -> Page:
        w = Words.from_query(query)
        text = w("db_no_answer", error=error)
        return _page(503, w("db_unavailable"), f"<p class=error>{_e(text)}</p>", w, query)


def error_page(query: dict[str, str] | None = None) -> Page:
    """The page of a request whose page raised (status 500)."""
    w = Words.from_query(query or {})
    body = f"<p class=error>{_e(w('internal_error'))}</p>"
    return _page(500, w("error"), body, w, query or {})


# ── the filter ──────────────────────────────────────────────────────────────


def _filter(query: dict[str, str], w: Words) -> tuple[StoryFilter, dict[str, str], list[str]]:
    """Query parameters → the store's filter, the form's values, and what was wrong."""
    problems: list[str] = []
    form = {k: query.get(k, "").strip() for k in ("province", "category", "from", "to", "q")}
    form["show"] = query.get("show", "relevant").strip() or "relevant"

    def day(name: str) -> date | None:
        if not form[name]:
            return None
        field = w(f"field_{name}")
        try:
            value = date.fromisoformat(form[name])
        except ValueError:
            problems.append(w("not_a_date", name=field, value=repr(form[name][:40])))
            form[name] = ""
            return None
        if not FIRST_DAY <= value <= LAST_DAY:
            problems.append(
                w("out_of_range", name=field, value=form[name], first=FIRST_DAY, last=LAST_DAY)
            )
            form[name] = ""
            return None
        return value

    if len(form["q"]) > MAX_QUERY:
        problems.append(w("query_cut", n=MAX_QUERY))
        form["q"] = form["q"][:MAX_QUERY].strip()

    since, until = day("from"), day("to")
    category = form["category"]
    if category and category not in {c.value for c in Category}:
        problems.append(w("unknown_category", value=repr(category)))
        form["category"] = category = ""
    relevant = {"relevant": True, "other": False}.get(form["show"])
    if relevant is None and form["show"] != "all":
        form["show"], relevant = "relevant", True
    # A China day's bounds, in UTC: SQLite compares the stored UTC text with the
    # bound as written, so a +08:00 bound would shift every day by eight hours.
    where = StoryFilter(
        province=form["province"] or None,
        category=category or None,
        since=datetime.combine(since, datetime.min.time(), CST).astimezone(UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time(), CST).astimezone(UTC)
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
    form: dict[str, str],
    facets: dict[str, list[tuple[str, int]]],
    problems: list[str],
    w: Words,
) -> str:
    def options(name: str, choices: Iterable[tuple[str, str]]) -> str:
        out = [f"<option value=''>{_e(w('all'))}</option>"]
        for value, label in choices:
            selected = " selected" if form[name] == value else ""
            out.append(f"<option value='{_e(value)}'{selected}>{_e(label)}</option>")
        return "".join(out)

    provinces = [(code, f"{w.province(code)} ({n})") for code, n in facets["province"]]
    if form["province"] and form["province"] not in {c for c, _ in facets["province"]}:
        provinces.append((form["province"], w.province(form["province"])))
    counts = dict(facets["category"])
    categories = [(c.value, f"{w.category(c.value)} ({counts.get(c.value, 0)})") for c in Category]
    shows = [("relevant", w("relevant")), ("other", w("not_relevant")), ("all", w("all"))]
    show_options = "".join(
        f"<option value='{v}'{' selected' if form['show'] == v else ''}>{_e(label)}</option>"
        for v, label in shows
    )
    errors = "".join(f"<p class=error>{_e(p)}</p>" for p in problems)
    language = "<input type=hidden name=lang value=en>" if w.english else ""
    return f"""
<form id=filters method=get action="/">{language}
<label>{_e(w("province"))} <select id=province name=province>{
        options("province", provinces)
    }</select></label>
<label>{_e(w("category"))} <select id=category name=category>{
        options("category", categories)
    }</select></label>
<label>{_e(w("from"))} <input id=from name=from type=date value="{_e(form["from"])}"></label>
<label>{_e(w("to"))} <input id=to name=to type=date value="{_e(form["to"])}"></label>
<label>{_e(w("search"))} <input id=q name=q type=search value="{_e(form["q"])}"
 placeholder="{_e(w("search_hint"))}"></label>
<label>{_e(w("show"))} <select id=show name=show>{show_options}</select></label>
<button id=apply type=submit>{_e(w("apply"))}</button>
<a href="{_e(w.href("/"))}" id=reset>{_e(w("reset"))}</a>
</form>{errors}"""


def _pager(form: dict[str, str], page: int, total: int, w: Words) -> str:
    if total <= PAGE_SIZE:
        return ""
    base: dict[str, object] = {k: v for k, v in form.items() if v}
    links = []
    if page > 1:
        href = w.href("/", base | {"page": page - 1})
        links.append(f"<a rel=prev href='{_e(href)}'>{_e(w('newer'))}</a>")
    if page * PAGE_SIZE < total:
        href = w.href("/", base | {"page": page + 1})
        links.append(f"<a rel=next href='{_e(href)}'>{_e(w('older'))}</a>")
    return f"<p class=pager>{' · '.join(links)}</p>"


# ── the chart ───────────────────────────────────────────────────────────────


def _week(day: datetime) -> date:
    """The Monday (China time) of ``day``'s week."""
    local = day.astimezone(CST).date()
    return local - timedelta(days=local.weekday())


def chart_cells(
    days: Iterable[tuple[str | None, datetime]], *, weeks: int = CHART_WEEKS, rows: int = CHART_ROWS
) -> tuple[list[date], list[tuple[str | None, list[int]]]]:
    """Stories binned by province and week. Pure.

    Returns the weeks (their Mondays, oldest first, ending with the newest
    story's week) and one row per province, busiest first (ties by code),
    with a count per week; past ``rows`` provinces the rest share a last row
    whose province is ``"*"``. Stories without a province have the row None.
    """
    found = list(days)
    if not found:
        return [], []
    last = max(_week(d) for _, d in found)
    columns = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    index = {monday: i for i, monday in enumerate(columns)}
    counts: dict[str | None, list[int]] = {}
    for province, day in found:
        column = index.get(_week(day))
        if column is not None:
            counts.setdefault(province, [0] * weeks)[column] += 1
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0] or "~"))
    if len(ranked) > rows:
        rest = [sum(col) for col in zip(*(c for _, c in ranked[rows - 1 :]), strict=True)]
        ranked = [*ranked[: rows - 1], ("*", rest)]
    return columns, ranked


def _chart(days: list[tuple[str | None, datetime]], form: dict[str, str], w: Words) -> str:
    """Stories per province and week as an SVG grid: one row per province, one
    column per week, each cell shaded by its count and linking to its stories."""
    columns, rows = chart_cells(days)
    heading = f"<h2 id=chart-heading>{_e(w('chart_heading'))}</h2>"
    if not rows:
        return f"<section id=chart>{heading}<p class=empty>{_e(w('chart_empty'))}</p></section>"
    label_width, cell, gap, total_width, top = 120, 64, 2, 56, 22
    width = label_width + len(columns) * (cell + gap) + total_width
    height = top + len(rows) * (cell // 2 + gap) + 4
    peak = max(max(counts) for _, counts in rows) or 1
    keep: dict[str, object] = {
        k: v for k, v in form.items() if v and k in ("category", "q", "show")
    }
    parts = [
        f'<svg id=chart-svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="chart-heading">'
    ]
    for i, monday in enumerate(columns):
        x = label_width + i * (cell + gap) + cell / 2
        parts.append(
            f'<text class=week x="{x:g}" y="14" text-anchor="middle">{monday:%m-%d}</text>'
        )
    parts.append(
        f'<text class=week x="{width - total_width / 2:g}" y="14" text-anchor="middle">'
        f"{_e(w('chart_total'))}</text>"
    )
    for r, (province, counts) in enumerate(rows):
        y = top + r * (cell // 2 + gap)
        name = w("chart_other") if province == "*" else w.province(province)
        parts.append(
            f'<text class=province x="{label_width - 8}" y="{y + cell // 4 + 5}" '
            f'text-anchor="end">{_e(name)}</text>'
        )
        for i, n in enumerate(counts):
            x = label_width + i * (cell + gap)
            shade = 0.0 if n == 0 else 0.15 + 0.85 * n / peak
            rect = (
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell // 2}" rx="3" '
                f'fill="#1f6f9f" fill-opacity="{shade:.2f}" stroke="#dde2e8"/>'
            )
            if n:
                colour = "#fff" if shade > 0.55 else "#1d232a"
                rect += (
                    f'<text x="{x + cell / 2:g}" y="{y + cell // 4 + 5}" text-anchor="middle" '
                    f'fill="{colour}">{n}</text>'
                )
                if province != "*":
                    until = columns[i] + timedelta(days=6)
                    params: dict[str, object] = keep | {
                        "province": province or "",
                        "from": columns[i].isoformat(),
                        "to": until.isoformat(),
                    }
                    title = f"{name} {columns[i]:%m-%d}–{until:%m-%d}: {n}"
                    rect = (
                        f'<a class=cell href="{_e(w.href("/", params))}"><title>{_e(title)}</title>'
                        f"{rect}</a>"
                    )
            parts.append(rect)
        parts.append(
            f'<text class=total x="{width - total_width / 2:g}" y="{y + cell // 4 + 5}" '
            f'text-anchor="middle">{sum(counts)}</text>'
        )
    parts.append("</svg>")
    note = f"<p class=note>{_e(w('chart_note', weeks=len(columns)))}</p>"
    return f"<section id=chart>{heading}<div class=chart>{''.join(parts)}</div>{note}</section>"


# ── fragments ───────────────────────────────────────────────────────────────


def _held_channels(held: dict[str, tuple[int, str, datetime]], w: Words) -> list[str]:
    """One line per channel that cannot take posts (a wrong token, a misspelt
    chat, the bot not allowed to post), above everything else."""
    return [
        f"<p class=error id=channel-{_e(cid)}>"
        + _e(w("channel_down", channel=cid, why=why, n=waiting, since=_time(since)))
        + "</p>"
        for cid, (waiting, why, since) in sorted(held.items())
        if not cid.startswith(CHAT_PREFIX)  # subscribers' chats: their ids stay private
    ]


def _failing_line(config: Config, states: dict[str, SourceState], w: Words) -> str:
    """ "N of M sources failing" over the enabled sources, linking to the table."""
    enabled = [s.id for s in config.sources if s.enabled]
    failing = sum(1 for i in enabled if (st := states.get(i)) and st.consecutive_failures)
    if failing:
        text, css = w("failing_some", n=failing, m=len(enabled)), "failing"
    else:
        text, css = w("failing_none", m=len(enabled)), "ok"
    return (
        f"<p id=source-status class={css} data-failing={failing} data-sources={len(enabled)}>"
        f"<a href='#health'>{_e(text)}</a></p>"
    )


def _story_item(story: StoryRow, alerts: list[AlertStatus], w: Words) -> str:
    sources = "".join(f"<span class=source>{_e(name)}</span>" for name in story.sources)
    more = f" · {_e(w('articles_n', n=story.articles))}" if story.articles > 1 else ""
    return f"""<li class=story data-id="{story.id}" data-province="{_e(story.province or "")}"
 data-category="{_e(story.category)}">
<h3><a href="{_e(w.href(f"/stories/{story.id}"))}">{_e(story.title)}</a></h3>
<p class=meta>{_date(story.published)} · {_province(story.province, w)}
 · {_category(story.category, w)}{more} · {_alerts(alerts, w) or _e(w("no_alert"))}</p>
<p class=sources>{sources}</p>
<p class=summary>{_e(story.summary)}</p>
</li>"""


def _sources_table(
    config: Config,
    states: dict[str, SourceState],
    schedules: dict[str, Schedule],
    now: datetime,
    w: Words,
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
            name, enabled = w("not_configured"), False
        schedule = schedules.get(source_id)
        failures = state.consecutive_failures if state else 0
        flags = list(state.health_flags) if state else []
        next_poll = schedule.next_poll_at if schedule else None
        backoff = state.backoff_until if state else None
        if backoff is not None and (next_poll is None or backoff > next_poll):
            next_poll = backoff
        if not enabled:
            next_text = _e(w("disabled"))
        elif next_poll is not None:
            next_text = _time(next_poll) + (_e(w("backing_off")) if next_poll is backoff else "")
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
            f"<td><a href='{_e(w.href('/sources/' + source_id))}'>{_e(source_id)}</a>{badges}</td>"
            f"<td>{_e(name)}</td>"
            f"<td>{_time(state.last_success_at) if state else _e(w('never_polled'))}</td>"
            f"<td>{error}</td>"
            f"<td class=num>{failures}</td>"
            f"<td>{next_text}</td>"
            f"<td>{_e(schedule.owner or '') if schedule else ''}</td>"
            "</tr>"
        )
    heads = "".join(
        f"<th>{_e(w(k))}</th>"
        for k in (
            "col_source",
            "col_name",
            "col_last_success",
            "col_last_error",
            "col_failures",
            "col_next_poll",
            "col_polled_by",
        )
    )
    return f"""
<h2 id=health>{_e(w("sources"))}</h2>
<table id=sources>
<colgroup><col style="width:14%"><col style="width:17%"><col style="width:11%">
<col style="width:28%"><col style="width:7%"><col style="width:12%"><col></colgroup>
<thead><tr>{heads}</tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>
<p class=note>{_e(w("times_note", now=_time(now)))}</p>"""


def _alerts(alerts: list[AlertStatus], w: Words) -> str:
    """Each channel's post and its status; subscribers' chats counted together."""
    out = []
    subscribers: Counter[str] = Counter()
    for a in alerts:
        if a.kind != "post":
            continue
        if a.channel_id.startswith(CHAT_PREFIX):
            subscribers[a.status] += 1
            continue
        sent = w("sent_at", time=_time(a.sent_at)) if a.sent_at else ""
        title = _e(redact_url(a.last_error or "") or sent)
        out.append(
            f"<span class='alert {_e(a.status)}' title='{title}'>"
            f"{_e(a.channel_id)}: {_e(w.status(a.status))}</span>"
        )
    for status, n in sorted(subscribers.items()):
        out.append(
            f"<span class='alert {_e(status)} subscribers'>"
            f"{_e(w('subscribers'))} ×{n}: {_e(w.status(status))}</span>"
        )
    return " ".join(out)


def _province(code: str | None, w: Words) -> str:
    return f"<span class=province title='{_e(code or '')}'>{_e(w.province(code))}</span>"


def _category(category: str, w: Words) -> str:
    return f"<span class=category title='{_e(category)}'>{_e(w.category(category))}</span>"


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
    return shown(value, empty="—")  # China time with its zone (monitor/clock.py)


def _shorten(text: str, n: int) -> str:
    """One line of at most ``n`` characters, without credentials (an error names URLs)."""
    text = " ".join(redact_url(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


# Fixed table layouts and wrapping anywhere keep every table within the page:
# a long error or an unbroken URL wraps in its cell instead of widening the page.
_STYLE = """
body{font:15px/1.5 system-ui,"Noto Sans CJK SC","PingFang SC","WenQuanYi Micro Hei",sans-serif;
margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1f3b57;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:baseline}
header a{color:#fff;text-decoration:none}header .lang{margin-left:auto;font-size:13px}
main{max-width:1200px;margin:0 auto;padding:1em 1.2em;box-sizing:border-box}
#source-status{margin:.2em 0 .8em;font-weight:600}#source-status.failing a{color:#a1271c}
#source-status.ok a{color:#2b6a36}
form#filters{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:end;background:#fff;
padding:.8em;border:1px solid #dde2e8;border-radius:6px}
form label{display:flex;flex-direction:column;font-size:12px;color:#56606b}
input,select,button{font:inherit;padding:.25em .4em;max-width:100%}
button{background:#1f3b57;color:#fff;border:0;border-radius:4px;padding:.35em 1em}
section#chart{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:.8em 0;
padding:.2em 1em .4em}
section#chart h2{font-size:16px;margin:.4em 0}.chart{overflow-x:auto}
#chart-svg{max-width:100%;height:auto;font-size:12px}
#chart-svg .week,#chart-svg .total{fill:#56606b}
#chart-svg .province{fill:#1d232a}#chart-svg a.cell:hover rect{stroke:#1d232a}
ol#stories{list-style:none;padding:0}
li.story{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:.7em 0;padding:.6em 1em;
overflow-wrap:anywhere}
li.story h3{margin:.1em 0;font-size:17px}
.meta{color:#56606b;font-size:13px;margin:.2em 0}
.source{display:inline-block;background:#eef3f8;border-radius:3px;padding:0 .4em;margin:0 .3em 0 0;
font-size:12px}
.alert{font-size:12px;border-radius:3px;padding:0 .3em}.alert.sent{background:#e3f4e6}
.alert.pending{background:#fff3d6}.alert.failed{background:#fde2e1}
.flag{background:#fde2e1;color:#8a1f17;border-radius:3px;padding:0 .3em;margin-left:.4em;
font-size:12px;display:inline-block}
table{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff;font-size:13px}
th,td{border:1px solid #dde2e8;padding:.3em .5em;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
tr.failing td{background:#fff4f3}td.num{text-align:right}.old{color:#8b949e}
.error{color:#a1271c}.empty,.note{color:#56606b}.note{font-size:13px}
h2 small,.url{overflow-wrap:anywhere}
"""


def _page(status: int, title: str, body: str, w: Words, query: dict[str, str]) -> Page:
    other = dict(query)
    if w.english:
        other.pop("lang", None)
    else:
        other["lang"] = "en"
    switch = "?" + urlencode(other) if other else "?"
    document = f"""<!doctype html>
<html lang={"en" if w.english else "zh-Hans"}><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{_e(title)} · quality-monitor</title><style>{_STYLE}</style></head>
<body><header><a href="{_e(w.href("/"))}"><b>quality-monitor</b></a> <span>{_e(w("site"))}</span>
<a class=lang id=lang href="{_e(switch)}">{_e(w("other_language"))}</a></header>
<main>
{body}
</main></body></html>"""
    return Page(status, document.encode("utf-8"))


__all__ = ["LANGUAGES", "Dashboard", "Page", "Words", "chart_cells", "error_page"]
