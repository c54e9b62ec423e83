"""The list pages of ``tests/data/lists/``: one per CMS family, and their variants.

Each ``<name>.html`` is a column page as its family renders it, with
navigation, breadcrumbs, sidebars, a pager and a footer around the list; the
``<name>.json`` beside it says where it was served from (``url``), when
(``fetched``: the year of ``[09-10]`` dates), and every item of its list
(title, link, China date). The list sits between ``<!-- list -->`` and
``<!-- /list -->``, which the variants use:

* ``as served``: the page;
* ``class renamed``: the classes named in ``rename`` replaced (a template
  revision: the configured selectors no longer match);
* ``wrapper added``: the list wrapped in two more ``div`` elements.

Used by ``tests/test_detect.py`` and ``python -m bench.detect``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor.extract import CHINA_TZ
from monitor.model import Entry

LISTS_DIR = Path(__file__).resolve().parent / "data" / "lists"
VARIANTS = ("as served", "class renamed", "wrapper added")


@dataclass(frozen=True)
class ListPage:
    name: str
    family: str
    url: str
    fetched: datetime
    html: str
    items: tuple[tuple[str, str, str], ...]  # title, link, YYYY-MM-DD (China)
    rename: dict[str, str]

    def variant(self, which: str) -> str:
        if which == "as served":
            return self.html
        if which == "class renamed":
            html = self.html
            for old, new in self.rename.items():
                assert f'class="{old}"' in html, (self.name, old)
                html = html.replace(f'class="{old}"', f'class="{new}"')
            return html
        if which == "wrapper added":
            assert "<!-- list -->" in self.html and "<!-- /list -->" in self.html, self.name
            return self.html.replace(
                "<!-- list -->", '<div class="wrap-2026"><div class="inner">'
            ).replace("<!-- /list -->", "</div></div>")
        raise ValueError(which)


def list_pages() -> list[ListPage]:
    pages = []
    for path in sorted(LISTS_DIR.glob("*.html")):
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        pages.append(
            ListPage(
                name=path.stem,
                family=meta["family"],
                url=meta["url"],
                fetched=datetime.fromisoformat(meta["fetched"]).replace(hour=4, tzinfo=UTC),
                html=path.read_text(encoding="utf-8"),
                items=tuple(tuple(i) for i in meta["items"]),  # type: ignore[misc]
                rename=meta["rename"],
            )
        )
    return pages


def as_items(entries: list[Entry] | tuple[Entry, ...]) -> list[tuple[str, str, str | None]]:
    """Entries as the fixtures write items: title, link, China date."""
    return [
        (
            e.title,
            e.url,
            e.published.astimezone(CHINA_TZ).date().isoformat() if e.published else None,
        )
        for e in entries
    ]


def score(expected: tuple[tuple[str, str, str], ...], found: list[tuple[str, str, str | None]]):
    """(items found right, expected, extra links): an item is right with its title,
    link and date; an extra is a link found that is no item of the list."""
    wanted = set(expected)
    links = {link for _title, link, _date in expected}
    right = sum(1 for item in found if item in wanted)
    extra = sum(1 for _title, link, _date in found if link not in links)
    return right, len(expected), extra
