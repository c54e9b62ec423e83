"""jpaas publish-server sites (SAMR, CNCA, MIIT): JavaScript shells over a JSON API.

A column page such as ``https://www.samr.gov.cn/xw/zj/`` is a ~3 KB shell whose
list is filled in by script: it carries::

    <script parseType="bulidstatic" url="/api-gateway/jpaas-publish-server/front/page/build/unit"
            querydata="{'webId':'…','pageId':'…','tplSetId':'…','pageType':'column',…}">

GET ``url?querydata`` answers ``{"data": {"html": "<ul><li><a …>…</a><span>date</span></li>…"}}``
and that fragment is the list. With ``webid``, ``pageid`` and ``tplsetid`` in
the YAML the shell is skipped and the API asked directly (one request, and
later pages through ``paramJson``); without them the shell is read each poll
(two requests, so a column's ids never go stale).
"""

from __future__ import annotations

import json
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import Field, model_validator

from monitor.config.sources import ListSelectors, SourceBase
from monitor.errors import ParseError
from monitor.model import Entry, FetchResult
from monitor.sources import Request, default_request, headers_of, join, register
from monitor.sources.html import entries_from_items, soup_of

API_PATH = "/api-gateway/jpaas-publish-server/front/page/build/unit"
_JSON_ACCEPT = "application/json, text/javascript, */*; q=0.01"


class JpaasSource(SourceBase):
    """jpaas publish-server (SAMR, CNCA): build/unit JSON whose data.html is the list."""

    kind: Literal["jpaas"]
    webid: str | None = Field(None, description="with pageid and tplsetid: skip the shell page")
    pageid: str | None = None
    tplsetid: str | None = None
    tagid: str = Field("内容区域", description="the page unit holding the list")
    page_size: int = Field(20, ge=1, le=200, description="items asked for")
    # Built unvalidated: validating compiles soupsieve's own patterns (0.1 s) at import,
    # before the first request, for a default that is valid.
    list: ListSelectors = ListSelectors.model_construct(item="li")

    @model_validator(mode="after")
    def _ids(self) -> JpaasSource:
        given = [x is not None for x in (self.webid, self.pageid, self.tplsetid)]
        if any(given) and not all(given):
            raise ValueError("give webid, pageid and tplsetid together, or none (read the shell)")
        return self


def plan(source: JpaasSource, page: int) -> Request | None:
    if source.webid is None:
        return default_request(source, page) if page == 1 else None  # the shell names the API
    parts = urlsplit(source.url)
    query = {
        "webId": source.webid,
        "pageId": source.pageid,
        "parseType": "bulidstatic",  # sic: the API's own spelling
        "pageType": "column",
        "tagId": source.tagid,
        "tplSetId": source.tplsetid,
        "paramJson": json.dumps({"pageNo": page, "pageSize": source.page_size}),
    }
    return Request(
        f"{parts.scheme}://{parts.netloc}{API_PATH}?{urlencode(query)}",
        headers=headers_of(source, Accept=_JSON_ACCEPT, Referer=source.url),
    )


def step(result: FetchResult, source: JpaasSource) -> Request | None:
    """From the shell page to the API request its build script names."""
    if "/front/page/build/unit" in result.final_url:
        return None  # already the API's answer
    soup = soup_of(result.text)
    script = soup.find("script", attrs={"parsetype": "bulidstatic"})
    if script is None:
        raise ParseError(source.id, "no jpaas build script (parseType=bulidstatic) on the page")
    api, raw = script.get("url"), script.get("querydata")
    if not isinstance(api, str) or not api.strip():
        raise ParseError(source.id, "the jpaas build script names no url")
    query = _querydata(raw if isinstance(raw, str) else "")
    target = join(result.final_url, api.strip())
    if not target:
        raise ParseError(source.id, f"the jpaas build script names no usable url: {api!r}")
    if query:
        target += ("&" if "?" in target else "?") + urlencode(query)
    return Request(target, headers=headers_of(source, Accept=_JSON_ACCEPT, Referer=source.url))


def _querydata(raw: str) -> dict[str, str]:
    """``{'webId':'x','pageNo':1}`` (JSON with single quotes) or a query string."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            data = json.loads(raw.replace("'", '"'))
        except json.JSONDecodeError:
            return {}
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in data.items()
        }
    return dict(parse_qsl(raw.lstrip("?")))


@register(JpaasSource, request=plan, step=step)
def parse_unit(result: FetchResult, source: JpaasSource) -> list[Entry]:
    try:
        answer = json.loads(result.text)
    except json.JSONDecodeError as exc:
        raise ParseError(source.id, f"the jpaas API did not answer JSON: {exc}") from exc
    data = answer.get("data") if isinstance(answer, dict) else None
    fragment = data.get("html") if isinstance(data, dict) else data
    if not isinstance(fragment, str):
        raise ParseError(source.id, "the jpaas answer has no data.html")
    soup = soup_of(fragment)
    items = soup.select(source.list.item)
    if not items:
        raise ParseError(
            source.id, f"list selector {source.list.item!r} matched nothing in data.html"
        )
    return entries_from_items(
        items,
        source_id=source.id,
        base_url=source.url,  # the fragment's links are relative to the column, not the API
        link=source.list.link,
        title=source.list.title,
        date=source.list.date,
        now=result.fetched_at,
    )
