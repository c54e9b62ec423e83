"""Finding the news list on a page nobody wrote selectors for. Pure.

A column page of a government site is mostly furniture: navigation,
breadcrumbs, a sidebar of other columns (or of other dated links), a pager,
a footer of friendly links. The list is the block that repeats: sibling
elements of one tag, each holding one link with a title and a date — the TRS
``ul li`` + ``span``, Hanweb JCMS table rows with the date in the last cell,
gkmlpt tables with a document number between, cards with
"发布时间：2025年9月10日", ``[09-10]`` after the link. :func:`detect` finds it
in five steps:

1. **Candidate links**: every ``a[href]`` whose text (or ``title``) reads like
   a title — at least four characters, not "更多" or "下一页", not itself a
   date (an archive's "2025年09月").
2. **Groups**: each ancestor of a candidate link (up to eight levels) whose
   parent has other children of the same tag holding candidate links is a
   possible item; a group is (parent, tag). Containers that repeat side by
   side (TRS chunks of five ``li`` in several ``ul``) merge into one group.
3. **Items**: a child of the group holding one to three distinct candidate
   links (more is a block of items, not an item) and a date outside its title:
   of the strings with a date, the one with the least other text around it
   ("发布时间：2025年9月12日" beats a date in the summary above it).
4. **The best group**: its dated items, weighed by how title-like their
   titles are and by the share of the group's items that are dated; raised
   when a pager follows it or a heading before it names the page's column
   (the ``<title>`` or ``ColumnName``), lowered inside ``nav``, ``aside``,
   ``footer`` or a box whose class says side, hot, rank, related, links.
5. **Selectors**: the first item/link/title/date selectors that give —
   through :func:`monitor.sources.html.entries_from_items`, the reader of
   configured selectors — exactly the entries found, so that a suggested
   ``list:`` reads what detection read. None when no simple selector does.

Also here, without parsing the page: the feeds a page advertises
(``<link rel="alternate" type="application/rss+xml">``) and the CMS family its
URL and markup betray.

Cost: one walk up from each candidate link (links × depth), the strings of
the groups' items, and for step 5 a few ``select`` calls over the tree; the
tree itself is the caller's (``bench.detect`` measures both; detection is a
fraction of parsing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag
from bs4.element import Comment, Declaration, NavigableString, ProcessingInstruction

from monitor.extract import date_span, parse_date
from monitor.model import Entry
from monitor.sources import join

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "#")
_OTHER_SCHEME = re.compile(r"^(?!https?:)[a-zA-Z][a-zA-Z0-9+.-]*:")  # ftp:, data:, weixin:
_MAX_DEPTH = 8  # a list item sits at most this far above its link
_MIN_TITLE = 4  # characters: 首页, 更多 and 返回 are shorter
_MAX_LINKS = 3  # distinct article links in one item (image, title, column tag)
_NOT_TITLE = re.compile(
    r"^[\s\W]*(更多|查看更多|更多内容|详细|详情|下一?页|上一?页|首页|尾页|末页|返回|more|next|"
    r"prev(ious)?|read more)[\s\W]*$",
    re.I,
)
_PAGER = re.compile(
    r"下一?页|下页|上一?页|上页|尾页|末页|共\s*\d+\s*[页条]|页次|第\s*\d+\s*页|createPageHTML|"
    r"\bnext\b|»|›",
    re.I,
)
_PAGER_TEXT_MAX = 300  # characters: a pager is short; a block holding other lists is not one
_LABEL = re.compile(r"发布(时间|日期)|更新(时间|日期)|日期|时间|date|time|posted|[\s\W_]", re.I)
_NEGATIVE_TAGS = frozenset({"nav", "aside", "footer", "header", "marquee", "select"})
_NEGATIVE_WORDS = frozenset(
    {
        "nav", "navbar", "menu", "submenu", "footer", "foot", "bottom", "header", "topbar",
        "side", "sidebar", "aside", "sidenav", "hot", "hots", "rank", "ranking", "top10",
        "tuijian", "recommend", "related", "relate", "xgxw", "xglj", "yqlj", "links", "friend",
        "ad", "ads", "banner", "share", "comment", "comments", "crumb", "crumbs", "breadcrumb",
        "position", "location", "weizhi", "dqwz",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-z]+|\d+")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TITLE_SPLIT = re.compile(r"\s*(?:[_|｜—–]|--|\s-\s)\s*")
_FEED_LINK = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


@dataclass(frozen=True, slots=True)
class FoundSelectors:
    """List selectors as ``sources.yaml`` takes them (``list: {item, link, title, date}``)."""

    item: str
    link: str = "a"
    title: str | None = None
    date: str | None = None

    def as_dict(self) -> dict[str, str]:
        """Only what differs from the defaults (link ``a``, no title, no date)."""
        found = {"item": self.item}
        if self.link != "a":
            found["link"] = self.link
        if self.title:
            found["title"] = self.title
        if self.date:
            found["date"] = self.date
        return found

    def __str__(self) -> str:
        return "{" + ", ".join(f'{k}: "{v}"' for k, v in self.as_dict().items()) + "}"


@dataclass(frozen=True, slots=True)
class Detection:
    """What :func:`detect` found: the entries, the selectors that read them, and why."""

    entries: tuple[Entry, ...] = ()
    selectors: FoundSelectors | None = None
    score: float = 0.0
    items: int = 0  # items in the chosen group, dated or not


@dataclass(slots=True)
class _Item:
    element: Tag
    anchor: Tag
    url: str  # the href, resolved once the list is chosen
    title: str
    date_node: Tag  # the element around the date string (may be the item itself)
    date_text: str
    published: datetime | None


@dataclass(slots=True)
class _Group:
    containers: list[Tag]
    tag: str
    items: list[_Item] = field(default_factory=list)
    candidates: int = 0  # children of the tag holding candidate links
    score: float = 0.0


def detect(
    page: BeautifulSoup | str,
    base_url: str,
    *,
    source_id: str = "",
    now: datetime | None = None,
    selectors: bool = True,
) -> Detection:
    """The page's list of dated links, or an empty :class:`Detection`.

    ``now`` (when the page was fetched) gives ``[09-10]`` its year;
    ``selectors=False`` skips step 5 (a poll reads the entries, not the
    selectors).
    """
    soup = page if isinstance(page, BeautifulSoup) else _soup(page)
    anchors = _candidate_anchors(soup)
    if len(anchors) < 2:
        return Detection()
    inside: dict[int, list[int]] = {}  # element id → indexes of the candidate links inside
    parents: dict[tuple[int, str], Tag] = {}
    for index, (anchor, _url, _title) in enumerate(anchors):
        node: Tag = anchor
        for _ in range(_MAX_DEPTH):
            inside.setdefault(id(node), []).append(index)
            parent = node.parent
            if parent is None or parent.name in ("body", "html", "[document]"):
                break
            parents.setdefault((id(parent), node.name), parent)
            node = parent
    groups: list[_Group] = []
    for (_pid, tag), parent in parents.items():
        group = _group(parent, tag, anchors, inside, now)
        if group is not None:
            groups.append(group)
    groups = _merge(groups)
    if not groups:
        return Detection()
    names = _column_names(soup)
    for group in groups:
        group.score = _score(group, names)
    best = max(groups, key=lambda g: g.score)  # the first of equals: document order
    seen: set[str] = set()
    kept = []
    for item in best.items:  # as the html reader does: absolute links, each once
        item.url = join(base_url, item.url)
        if item.url.startswith(("http://", "https://")) and item.url not in seen:
            seen.add(item.url)
            kept.append(item)
    best.items = kept
    if not best.items:
        return Detection()
    entries = tuple(
        Entry(source_id=source_id, url=i.url, title=i.title, published=i.published)
        for i in best.items
    )
    found = _selectors(soup, best, base_url, now, entries) if selectors else None
    return Detection(entries, found, round(best.score, 2), best.candidates)


def _soup(text: str) -> BeautifulSoup:
    from monitor.sources.html import soup_of  # html imports this module

    return soup_of(text)


def _text(tag: Tag | None) -> str:
    return " ".join(tag.get_text(" ", strip=True).split()) if tag is not None else ""


def _anchor_title(anchor: Tag) -> str:
    attr = anchor.get("title")
    if isinstance(attr, str) and attr.strip():
        return attr.strip()
    return _text(anchor)


def _candidate_anchors(soup: BeautifulSoup) -> list[tuple[Tag, str, str]]:
    """(link, href, title) of every link that reads like an article's. Links are
    resolved only for the list chosen: ``urljoin`` on every link of a page cost a
    third of detection."""
    found: list[tuple[Tag, str, str]] = []
    for anchor in soup.descendants:
        if not isinstance(anchor, Tag) or anchor.name != "a":
            continue
        href = anchor.get("href")
        if not isinstance(href, str):
            continue
        href = href.strip()
        if not href or href.startswith(_SKIP_SCHEMES) or _OTHER_SCHEME.match(href):
            continue
        title = _anchor_title(anchor)
        if len(title) < _MIN_TITLE or _NOT_TITLE.match(title):
            continue
        span = date_span(title)
        if span is not None and len(title) - (span[1] - span[0]) < _MIN_TITLE:
            continue  # an archive link ("2025年09月"), not an article
        found.append((anchor, href, title))
    return found


def _group(
    parent: Tag,
    tag: str,
    anchors: list[tuple[Tag, str, str]],
    inside: dict[int, list[int]],
    now: datetime | None,
) -> _Group | None:
    children = [
        c for c in parent.contents if isinstance(c, Tag) and c.name == tag and id(c) in inside
    ]
    if len(children) < 2:
        return None
    group = _Group([parent], tag, candidates=len(children))
    blocks = 0
    for child in children:
        indexes = inside[id(child)]
        urls = {anchors[i][1] for i in indexes}
        if len(urls) > _MAX_LINKS:
            blocks += 1
            continue
        anchor, url, title = max((anchors[i] for i in indexes), key=lambda a: len(a[2]))
        dated = _date_of(child, anchor)
        if dated is None:
            continue
        node, text = dated
        title = _title_without(anchor, node, title)
        group.items.append(_Item(child, anchor, url, title, node, text, parse_date(text, now=now)))
    if blocks * 2 > len(children) or len(group.items) < 2:
        return None
    return group


def _date_of(item: Tag, anchor: Tag) -> tuple[Tag, str] | None:
    """The element around the item's date, and the date's string: of the strings
    outside the title's own text, the one with the least other text around it."""
    best: tuple[int, Tag, str] | None = None
    title_strings = {id(s) for s in _strings(anchor)}
    for string in _strings(item):
        text = " ".join(str(string).split())
        if not text or not any(ch.isdigit() for ch in text):
            continue
        parent = string.parent
        if parent is None or parent.name in ("script", "style", "noscript"):
            continue
        span = date_span(text)
        if span is None:
            continue
        rest = len(_LABEL.sub("", text[: span[0]] + text[span[1] :]))
        if id(string) in title_strings and (rest > 2 or parent is anchor):
            continue  # the title itself, which may mention a date
        if best is None or rest < best[0]:
            best = (rest, parent, text)
    return (best[1], best[2]) if best is not None else None


def _strings(tag: Tag) -> Iterator[NavigableString]:
    """The text strings under a tag (comments and the like left out); faster than
    ``find_all(string=True)``, which builds a filter per call."""
    for node in tag.descendants:
        if type(node) is NavigableString or (
            isinstance(node, NavigableString)
            and not isinstance(node, Comment | Declaration | ProcessingInstruction)
        ):
            yield node


def _title_without(anchor: Tag, date_node: Tag, title: str) -> str:
    """The title of a link that holds its date in an element of its own
    (``<a><span>title</span><span class="time">2025-09-10</span></a>``)."""
    if anchor.get("title") or date_node is anchor or anchor not in date_node.parents:
        return title
    rest = [s for s in _strings(anchor) if date_node not in s.parents]
    return " ".join(" ".join(rest).split()) or title


def _merge(groups: list[_Group]) -> list[_Group]:
    """One group for lists split over sibling containers (TRS: five ``li`` per ``ul``)."""
    by_key: dict[tuple[int, str, str, str], list[_Group]] = {}
    for group in groups:
        container = group.containers[0]
        grand = container.parent
        key = (id(grand), container.name, " ".join(container.get("class") or ()), group.tag)
        by_key.setdefault(key, []).append(group)
    merged = []
    for members in by_key.values():
        if len(members) == 1 or not _adjacent([m.containers[0] for m in members]):
            merged.extend(members)
            continue
        members.sort(key=lambda g: _position(g.containers[0]))
        merged.append(
            _Group(
                [m.containers[0] for m in members],
                members[0].tag,
                [item for m in members for item in m.items],
                sum(m.candidates for m in members),
            )
        )
    return merged


def _position(tag: Tag) -> int:
    parent = tag.parent
    return parent.contents.index(tag) if parent is not None else 0


def _adjacent(containers: list[Tag]) -> bool:
    """Sibling containers with nothing but separators between them (no heading
    that would make them two lists)."""
    ours = {id(c) for c in containers}
    parent = containers[0].parent
    if parent is None:
        return False
    seen = 0
    for child in parent.children:
        if id(child) in ours:
            seen += 1
            if seen == len(ours):
                return True
        elif seen and _has_text(child):
            return False
    return False


def _has_text(node: Any) -> bool:
    if isinstance(node, Tag):
        return bool(_text(node))
    text = isinstance(node, NavigableString) and not isinstance(node, Comment)
    return text and bool(str(node).strip())


def _column_names(soup: BeautifulSoup) -> set[str]:
    """The page's <title>, its parts, and ``ColumnName``: one walk through the head."""
    names: set[str] = set()
    for node in soup.descendants:
        if not isinstance(node, Tag):
            continue
        if node.name == "body":
            break
        if node.name == "title":
            title = _text(node)
            names.update(p for p in _TITLE_SPLIT.split(title) if len(p) >= 2)
            names.add(title)
        elif node.name == "meta" and str(node.get("name", "")).lower() == "columnname":
            content = node.get("content")
            if isinstance(content, str) and content.strip():
                names.add(content.strip())
    names.discard("")
    return names


def _score(group: _Group, names: set[str]) -> float:
    dated = len(group.items)
    mean = sum(min(len(i.title), 24) for i in group.items) / dated
    score = dated * (0.5 + 0.5 * mean / 24) * (dated / max(group.candidates, dated))
    first, last = group.containers[0], group.containers[-1]
    if _paged(last):
        score *= 1.6
    if _headed(first, names):
        score *= 1.4
    if _furniture(first):
        score *= 0.3
    return score


def _near(tag: Tag, forward: bool) -> Iterator[Tag]:
    """The element siblings after (or before) the container, its parent and grandparent."""
    node: Tag | None = tag
    for _ in range(3):
        if node is None or node.name in ("body", "html", "[document]"):
            return
        siblings = node.next_siblings if forward else node.previous_siblings
        count = 0
        for sibling in siblings:
            if isinstance(sibling, Tag):
                yield sibling
                count += 1
                if count == 2:
                    break
        node = node.parent


def _paged(container: Tag) -> bool:
    last = [c for c in container.contents if isinstance(c, Tag)][-1:]
    for element in (*last, *_near(container, forward=True)):
        text = element.get_text(" ", strip=True)
        if len(text) > _PAGER_TEXT_MAX:
            continue
        if _PAGER.search(text):
            return True
        scripts = (n for n in element.descendants if getattr(n, "name", None) == "script")
        if any(_PAGER.search(str(script)) for script in scripts):  # createPageHTML(…)
            return True
    return False


def _headed(container: Tag, names: set[str]) -> bool:
    for element in _near(container, forward=False):
        text = element.get_text(" ", strip=True)
        if 2 <= len(text) <= 30 and any(name in text or text in name for name in names):
            return True
    return False


def _furniture(container: Tag) -> bool:
    for node in (container, *container.parents):
        if not isinstance(node, Tag) or node.name in ("body", "html", "[document]"):
            break
        if node.name in _NEGATIVE_TAGS:
            return True
        words: list[str] = []
        for attr in ("class", "id"):
            value = node.get(attr)
            joined = " ".join(value) if isinstance(value, list) else (value or "")
            words.extend(_WORD.findall(joined.lower()))
        if _NEGATIVE_WORDS.intersection(words):
            return True
    return False


# ── step 5: selectors that read the same entries ────────────────────────────


def _selectors(
    soup: BeautifulSoup,
    group: _Group,
    base_url: str,
    now: datetime | None,
    entries: tuple[Entry, ...],
) -> FoundSelectors | None:
    from monitor.sources.html import entries_from_items  # html imports this module

    items = group.items
    link = title = None
    for choice in _link_choices(items):
        if not all(_picks_link(i, choice) for i in items):
            continue
        if all(_title_by_default(i, choice) for i in items):
            link = choice
            break
        title = _first(
            _title_choices(items),
            lambda s: all(_text(i.element.select_one(s)) == i.title for i in items),
        )
        if title is not None:
            link = choice
            break
    if link is None:
        return None
    date = _first(_date_choices(items), lambda s: all(_picks_date(i, s, now) for i in items))
    if date is None:
        return None
    date = date or None  # "": the item's own text
    wanted = [(e.url, e.title, e.published) for e in entries]
    for item in _item_choices(group, date):
        try:
            selected = soup.select(item)
        except Exception:  # a selector we built that soupsieve refuses: the next
            continue
        got = entries_from_items(
            selected, source_id="", base_url=base_url, link=link, title=title, date=date, now=now
        )
        if [(e.url, e.title, e.published) for e in got] == wanted:
            return FoundSelectors(item, link, title, date)
    return None


def _first(choices: Iterable[str], works: Any) -> str | None:
    for choice in choices:
        try:
            if works(choice):
                return choice
        except Exception:  # soupsieve refused a selector we built: the next
            continue
    return None


def _classes(tag: Tag) -> list[str]:
    value = tag.get("class")
    return [c for c in value if _IDENT.match(c)] if isinstance(value, list) else []


def _common_classes(tags: Iterable[Tag]) -> list[str]:
    tags = list(tags)
    common = set(_classes(tags[0]))
    for tag in tags[1:]:
        common &= set(_classes(tag))
    return [c for c in _classes(tags[0]) if c in common]


def _names(tag: Tag) -> list[str]:
    """Ways to name one element on its own: ``tag#id``, ``tag.class``."""
    names = []
    ident = tag.get("id")
    if isinstance(ident, str) and _IDENT.match(ident) and not re.search(r"\d{3,}", ident):
        names.append(f"{tag.name}#{ident}")
    classes = _classes(tag)
    if classes:
        names.append(tag.name + "." + classes[0])
        if len(classes) > 1:
            names.append(tag.name + "".join(f".{c}" for c in classes))
    return names


def _container_choices(group: _Group) -> Iterator[str]:
    """Selectors for the element(s) holding the items, the most specific first."""
    containers = group.containers
    first = containers[0]
    if len(containers) == 1:
        yield from _names(first)
        above = first
    else:  # sibling chunks of one list: name them through their common parent
        for cls in _common_classes(containers)[:1]:
            yield f"{first.name}.{cls}"
        above = first.parent if isinstance(first.parent, Tag) else first
        if above is not first:
            yield from (f"{name} > {first.name}" for name in _names(above))
    for depth, ancestor in enumerate(above.parents):
        if depth >= 4 or ancestor.name in ("html", "[document]"):
            break
        yield from (f"{name} {first.name}" for name in _names(ancestor))
    yield first.name


def _item_choices(group: _Group, date: str | None) -> Iterator[str]:
    seen: set[str] = set()
    common = _common_classes(i.element for i in group.items)
    tails = [group.tag, *(f"{group.tag}.{c}" for c in common)]
    if date:  # other children of the tag (a "更多" link): only those with a date
        tails.append(f"{group.tag}:has({date})")
    for container in _container_choices(group):
        for tail in tails:
            choice = f"{container} > {tail}"
            if choice not in seen:
                seen.add(choice)
                yield choice


def _link_choices(items: list[_Item]) -> Iterator[str]:
    yield "a"
    anchors = [i.anchor for i in items]
    for cls in _common_classes(anchors):
        yield f"a.{cls}"
    parents = [a.parent for a in anchors if isinstance(a.parent, Tag)]
    if len(parents) == len(anchors):
        for cls in _common_classes(parents):
            yield f"{parents[0].name}.{cls} a"
        if len({p.name for p in parents}) == 1:
            yield f"{parents[0].name} > a"
    if all(a.get("title") for a in anchors):
        yield "a[title]"


def _picks_link(item: _Item, selector: str) -> bool:
    chosen = item.element.select_one(selector)
    return chosen is item.anchor or (
        chosen is not None and chosen.get("href") == item.anchor.get("href")
    )


def _title_by_default(item: _Item, link: str) -> bool:
    chosen = item.element.select_one(link)
    return chosen is not None and _anchor_title(chosen) == item.title


def _title_choices(items: list[_Item]) -> Iterator[str]:
    first = items[0]
    for element in first.element.find_all(True):
        if _text(element) == first.title:
            yield from _names(element)
            yield element.name


def _date_choices(items: list[_Item]) -> Iterator[str]:
    nodes = [i.date_node for i in items]
    if all(i.date_node is i.element for i in items):
        yield ""  # the date is the item's own text: no selector
        return
    first = nodes[0]
    for cls in _common_classes(nodes):
        yield f"{first.name}.{cls}"
    yield first.name
    siblings = first.parent.find_all(first.name, recursive=False) if first.parent else []
    if siblings and siblings[-1] is first:
        yield f"{first.name}:last-child"
    if first in siblings:
        yield f"{first.name}:nth-of-type({siblings.index(first) + 1})"
    yield ""


def _picks_date(item: _Item, selector: str, now: datetime | None) -> bool:
    if selector == "":
        return parse_date(_text(item.element), now=now) == item.published
    chosen = item.element.select_one(selector)
    return chosen is not None and parse_date(_text(chosen), now=now) == item.published


# ── without parsing the page: feeds and CMS families ───────────────────────


def advertised_feeds(text: str, base_url: str) -> list[str]:
    """The RSS/Atom feeds a page names in ``<link rel="alternate">``, the one
    nearest the page's own path first; comment feeds left out."""
    head = text[: text.lower().find("</head>") if "</head>" in text.lower() else 65536]
    feeds: list[str] = []
    for tag in _FEED_LINK.findall(head):
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
            for m in _ATTR.finditer(tag)
        }
        rel = attrs.get("rel", "").lower().split()
        kind = attrs.get("type", "").lower()
        if "alternate" not in rel or not any(k in kind for k in ("rss", "atom", "rdf")):
            continue
        href = attrs.get("href", "").strip()
        title = attrs.get("title", "").lower()
        if not href or "comment" in href.lower() or "comment" in title or "评论" in title:
            continue
        url = join(base_url, href)
        if url.startswith(("http://", "https://")) and url not in feeds:
            feeds.append(url)
    page_path = urlsplit(base_url).path
    return sorted(feeds, key=lambda u: -_shared_prefix(urlsplit(u).path, page_path))


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y:
            break
        n += 1
    return n


_JCMS_URL = re.compile(r"/col/col\d+/")
_JCMS_PAGE = re.compile(r"<record\b|/module/web/jpage/|/module/jpage/|dataproxy\.jsp", re.I)
_JPAAS_PAGE = re.compile(r"parseType\s*=\s*[\"']?bulidstatic", re.I)
_TRS_PAGE = re.compile(r"createPageHTML|/t\d{8}_\d+\.s?html|TRS_Editor|trs_paper", re.I)
_VSB_PAGE = re.compile(r"pb_sys_common|/system/resource/|id=\"line_u\d+_\d+\"", re.I)


def cms_family(text: str, url: str) -> str | None:
    """The CMS family of a list page, when its URL or markup says: ``jcms``,
    ``jpaas``, ``gkmlpt`` (which have kinds of their own), ``trs``, ``vsb``."""
    if _JPAAS_PAGE.search(text):
        return "jpaas"
    if _JCMS_URL.search(url) and _JCMS_PAGE.search(text):
        return "jcms"
    if "/gkmlpt/" in urlsplit(url).path + "/" or "/gkmlpt/api/" in text:
        return "gkmlpt"
    if _TRS_PAGE.search(text):
        return "trs"
    if _VSB_PAGE.search(text):
        return "vsb"
    return None


def looks_like_feed(text: str) -> bool:
    """An RSS, Atom or RDF document rather than a web page."""
    start = text.lstrip("\ufeff \t\r\n")[:2048].lower()
    if "<html" in start:
        return False
    return start.startswith(("<?xml", "<rss", "<feed", "<rdf")) and (
        "<rss" in start or "<feed" in start or "<rdf:rdf" in start
    )


__all__ = [
    "Detection",
    "FoundSelectors",
    "advertised_feeds",
    "cms_family",
    "detect",
    "looks_like_feed",
]
