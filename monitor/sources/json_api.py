"""Any JSON API or search endpoint (``kind: json``), and the helpers the JSON kinds share.

The YAML says where the items are and which field is what::

    fields: {items: searchVO.catMap.*.listVO, title: title, url: url, date: pubtimeStr}

A path is dotted; ``*`` walks every value of an object or element of a list,
and lists met along the way are flattened, so ``catMap.*.listVO`` gathers the
items of every category. Titles lose their HTML (search answers wrap the query
in ``<em>``). A date is text in any format :func:`~monitor.extract.parse_date`
reads, or epoch seconds or milliseconds. JSONP (``cb({...})``) is unwrapped.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, model_validator

from monitor.config.sources import SourceBase
from monitor.config.values import DottedPath, Model
from monitor.errors import ParseError
from monitor.extract import parse_date
from monitor.model import Entry, FetchResult
from monitor.sources import Request, default_request, headers_of, join, json_request, register

_JSONP = re.compile(r"^\s*[\w$.]+\s*\((.*)\)\s*;?\s*$", re.S)
_TAGS = re.compile(r"<[^>]+>")
_FIELD = re.compile(r"\{([\w.]+)\}")
_JSON_ACCEPT = "application/json, text/javascript, */*; q=0.01"


class JsonFields(Model):
    """Where a JSON answer keeps its items and, in each item, the fields of an entry."""

    items: DottedPath = Field(description="dotted path to the list of items; * matches any key")
    title: DottedPath = Field("title", description="the title field (HTML tags are dropped)")
    url: DottedPath | None = Field("url", description="the link field (relative links resolve)")
    url_template: str | None = Field(
        None, description="build the link from fields instead, e.g. https://x/detail/{contId}"
    )
    date: DottedPath | None = Field(None, description="date: text, or epoch seconds/milliseconds")
    summary: DottedPath | None = Field(None, description="text the item carries, if any")
    guid: DottedPath | None = Field(None, description="a stable id field, if any")

    @model_validator(mode="after")
    def _has_link(self) -> JsonFields:
        if not self.url and not self.url_template:
            raise ValueError("give url or url_template")
        return self


class JsonSource(SourceBase):
    """Any JSON API or search endpoint: where the items are and which fields to read."""

    kind: Literal["json"]
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, object] | None = Field(None, description="POST: a JSON body")
    form: dict[str, str] | None = Field(None, description="POST: a form body")
    fields: JsonFields


def load_json(result: FetchResult, source_id: str) -> object:
    """The answer as JSON (JSONP unwrapped); ParseError naming the source otherwise.

    What the wire says is ``object``: narrowed with ``isinstance`` where read."""
    text = result.text.lstrip("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        m = _JSONP.match(text)
        if m:
            try:
                return json.loads(m.group(1))
            except json.JSONDecodeError:
                pass
        snippet = " ".join(text[:60].split())
        raise ParseError(source_id, f"not JSON ({first.msg}); starts {snippet!r}") from first


def walk(data: object, path: str) -> list[object]:
    """Every value at a dotted path; ``*`` fans out, lists on the way are flattened."""
    current = [data]
    for part in path.split("."):
        following: list[object] = []
        for value in current:
            if part == "*":
                if isinstance(value, dict):
                    following.extend(value.values())
                elif isinstance(value, list):
                    following.extend(value)
            elif isinstance(value, dict) and part in value:
                following.append(value[part])
            elif isinstance(value, list):  # a list before a key: the key of each element
                following.extend(v[part] for v in value if isinstance(v, dict) and part in v)
        current = following
    flat: list[object] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def field(item: object, path: str | None) -> object:
    if not path:
        return None
    found = walk(item, path)
    return found[0] if found else None


def clean_text(value: object) -> str:
    """Plain one-line text: HTML tags dropped, entities decoded, spaces collapsed."""
    if value is None:
        return ""
    text = html_lib.unescape(_TAGS.sub("", str(value)))
    return " ".join(text.split())


def to_datetime(value: object, now: datetime | None = None) -> datetime | None:
    """Epoch seconds or milliseconds, or a date in text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000
        if number < 1e8:  # not an epoch time (a year, an id)
            return None
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_date(str(value), now=now)


def plan(source: JsonSource, page: int) -> Request | None:
    if source.method == "GET":
        found = default_request(source, page)
        if found is None:
            return None
        return Request(found.url, headers=headers_of(source, Accept=_JSON_ACCEPT))
    if page > 1:
        return None  # a POST API pages through its body: not expressible as page_url
    if source.form is not None:
        return Request(
            source.url,
            method="POST",
            form=tuple(source.form.items()),
            headers=headers_of(source, Accept=_JSON_ACCEPT),
        )
    return json_request(source.url, source, source.body or {})


@register(JsonSource, request=plan)
def parse_json(result: FetchResult, source: JsonSource) -> list[Entry]:
    data = load_json(result, source.id)
    spec = source.fields
    items = walk(data, spec.items)
    if not items and not _path_exists(data, spec.items):
        raise ParseError(source.id, f"no {spec.items!r} in the answer")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        if spec.url_template:
            link = _fill(spec.url_template, item)
        else:
            link = str(field(item, spec.url) or "").strip()
        if not link:
            continue
        url = join(result.final_url, link)
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        guid = field(item, spec.guid)
        entries.append(
            Entry(
                source_id=source.id,
                url=url,
                title=clean_text(field(item, spec.title)),
                published=to_datetime(field(item, spec.date), result.fetched_at),
                guid=str(guid) if guid not in (None, "") else None,
                summary=clean_text(field(item, spec.summary)) if spec.summary else "",
            )
        )
    return entries


def _fill(template: str, item: dict[str, object]) -> str:
    """``https://x/detail/{contId}`` with the item's fields; empty when one is missing."""
    values = {m: field(item, m) for m in _FIELD.findall(template)}
    if any(v in (None, "") for v in values.values()):
        return ""
    return _FIELD.sub(lambda m: str(values[m.group(1)]), template)


def _path_exists(data: object, path: str) -> bool:
    """An empty list at the path is a search without hits, not a wrong path."""
    head, _, last = path.rpartition(".")
    parents = walk(data, head) if head else [data]
    return any(isinstance(p, dict) and (last in p or last == "*") for p in parents)
