"""Guangdong's gkmlpt (政府信息公开平台), on every ``*.gd.gov.cn`` site and many cities.

``{site}/gkmlpt/api/all/{column}?page={n}&sid={sid}`` answers JSON::

    {"total": 812, "articles": [{"id": 4123, "title": "…", "url": "http://…/post_4123.html",
      "publisher": "…", "first_publish_time": 1694311200, "display_publish_time": …}]}

so a source is the site's root (``http://amr.gd.gov.cn/``; anything before
``/gkmlpt/`` also works), the ``column`` (0: everything) and, where the site
needs it, its ``sid``. Field names vary a little between deployments
(``url``/``post_url``, ``first_publish_time``/``create_time``/``created_at``):
the first one present is used. Article pages carry ``ArticleTitle`` and
``PubDate`` metas and their body in ``div.article-content``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from monitor.config.sources import SourceBase
from monitor.errors import ParseError
from monitor.model import Entry, FetchResult
from monitor.sources import Request, headers_of, join, register
from monitor.sources.json_api import clean_text, load_json, to_datetime

_URL_FIELDS = ("url", "post_url", "link")
_DATE_FIELDS = (
    "first_publish_time",
    "publish_time",
    "display_publish_time",
    "create_time",
    "created_at",
    "date",
)


class GkmlptSource(SourceBase):
    """Guangdong's gkmlpt: {site}/gkmlpt/api/all/{column}?page=N&sid=S (JSON)."""

    kind: Literal["gkmlpt"]
    column: int = Field(0, ge=0, description="the gkmlpt category id; 0 lists everything")
    sid: int | None = Field(None, description="the site id some gkmlpt sites require")


def site_root(url: str) -> str:
    """``http://x.gd.gov.cn/sub/gkmlpt/index#12`` → ``http://x.gd.gov.cn/sub``."""
    parts = urlsplit(url)
    path = parts.path.split("/gkmlpt", 1)[0].rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def plan(source: GkmlptSource, page: int) -> Request:
    url = f"{site_root(source.url)}/gkmlpt/api/all/{source.column}?page={page}"
    if source.sid is not None:
        url += f"&sid={source.sid}"
    return Request(url, headers=headers_of(source, Accept="application/json, */*; q=0.01"))


@register(GkmlptSource, request=plan)
def parse_articles(result: FetchResult, source: GkmlptSource) -> list[Entry]:
    data = load_json(result, source.id)
    articles = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise ParseError(source.id, "the gkmlpt answer has no articles list")
    entries: list[Entry] = []
    seen: set[str] = set()
    for article in articles:
        if not isinstance(article, dict):
            continue
        link = next((article[k] for k in _URL_FIELDS if isinstance(article.get(k), str)), "")
        url = join(result.final_url, link.strip()) if link.strip() else ""
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        published = None
        for key in _DATE_FIELDS:
            if (published := to_datetime(article.get(key), result.fetched_at)) is not None:
                break
        ident = article.get("id")
        guid = f"gkmlpt:{urlsplit(url).hostname}:{ident}" if ident not in (None, "") else None
        entries.append(
            Entry(
                source_id=source.id,
                url=url,
                title=clean_text(article.get("title")),
                published=published,
                guid=guid,
            )
        )
    return entries
