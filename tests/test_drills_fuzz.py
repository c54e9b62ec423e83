"""Fault drill: bad input, fuzzed (Hypothesis).

Random bytes, and the fixture site's real pages mutated (bytes flipped,
inserted, deleted, truncated, duplicated), go into every source kind's parser,
the article extractor, the normaliser and the rest of the pure text steps;
random and mutated YAML goes into the configuration loader. Nothing may raise
but the documented errors — :class:`~monitor.errors.ParseError` (a source's
answer cannot be read) and :class:`~monitor.errors.ConfigError` (every problem
with its line) — and nothing may hang: each example runs under an alarm.

The RSS parser's fast path (lxml) must also agree with feedparser on every
feed it accepts: Hypothesis writes well-formed RSS 2.0 and Atom feeds with
awkward titles, links, dates and bodies, and both paths must give the same
entries.

Runs are derandomised (the same examples every time, so CI is stable); set
``HYPOTHESIS_PROFILE=deep`` for a long random run.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor import sources
from monitor.classify import Lexicon, classify
from monitor.config import parse_config
from monitor.dedup import Concepts, fingerprint
from monitor.errors import ConfigError, ParseError
from monitor.extract import extract_article, html_to_text, parse_date
from monitor.fetch import decode
from monitor.model import FetchResult
from monitor.normalize import canonical_url, normalize_article, text_hash
from monitor.sources import rss
from monitor.summarize import summarize
from tests.lists import list_pages
from tests.servers.newssite import NewsSite
from tests.test_config import GOOD

pytestmark = pytest.mark.drill  # `make test-fast` leaves the fault drills out

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,  # the alarm below catches hangs; timing varies on a loaded machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    max_examples=2000,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
HANG = 10.0  # seconds one example may take before it counts as a hang

ROOT = "http://127.0.0.1:9"


@contextlib.contextmanager
def no_hang(seconds: float = HANG) -> Iterator[None]:
    """Fail (instead of waiting forever) when the body runs longer than ``seconds``."""

    def alarm(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"hung for more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _source(kind_yaml: str) -> Any:
    return parse_config(f"version: 1\nsources:\n  - {kind_yaml}\n", env={}).sources[0]


SOURCES = {
    "rss": _source(f'{{id: rss, name: r, kind: rss, url: "{ROOT}/feed.xml"}}'),
    "html": _source(
        f'{{id: html, name: h, kind: html, url: "{ROOT}/gbk/list.html",'
        ' list: {item: "ul.news-list li", link: "a", date: "span.date"}}'
    ),
    "html-detect": _source(f'{{id: found, name: f, kind: html, url: "{ROOT}/gbk/list.html"}}'),
    "jcms": _source(
        f'{{id: jcms, name: j, kind: jcms, url: "{ROOT}/jcms/col/col1229/index.html"}}'
    ),
    "jpaas": _source(f'{{id: jpaas, name: j, kind: jpaas, url: "{ROOT}/jpaas/xw/zj/"}}'),
    "gkmlpt": _source(f'{{id: gk, name: g, kind: gkmlpt, url: "{ROOT}/", column: 5}}'),
    "json": _source(
        f'{{id: json, name: j, kind: json, url: "{ROOT}/search-gov/data?q=质量",'
        " fields: {items: searchVO.catMap.*.listVO, title: title, url: url, date: pubtimeStr}}"
    ),
}
PAGES = {  # kind → fixture page paths (and queries) it reads
    "rss": [("/feed.xml", ""), ("/atom.xml", ""), ("/fault/recovered.xml", "")],
    "html": [("/gbk/list.html", ""), ("/mislabelled/list.html", "")],
    "html-detect": [("/gbk/list.html", ""), ("/with-feed/list.html", ""), ("/feed.xml", "")],
    "jcms": [("/jcms/col/col1229/index.html", "")],
    "jpaas": [
        ("/jpaas/xw/zj/", ""),
        (
            "/api-gateway/jpaas-publish-server/front/page/build/unit",
            "webId=w&pageId=p&tplSetId=t&paramJson=%7B%22pageNo%22%3A1%2C%22pageSize%22%3A20%7D",
        ),
    ],
    "gkmlpt": [("/gkmlpt/api/all/5", "page=1")],
    "json": [("/search-gov/data", "q=质量")],
}


def _pages() -> dict[str, list[bytes]]:
    site = NewsSite()  # not started: pages are rendered without a server
    out: dict[str, list[bytes]] = {}
    for kind, paths in PAGES.items():
        out[kind] = []
        for path, query in paths:
            page = site.page(path, root=ROOT, query=query)
            out[kind].append(page.body if page is not None else b"")
    return out


CORPUS = _pages()
CORPUS["html-detect"] += [page.html.encode() for page in list_pages()]  # every CMS layout
ARTICLE_PAGES = [
    page.body
    for path in ("/news/zh/sc-opinions-zh.html", "/news/sc-opinions-en.html")
    if (page := NewsSite().page(path, root=ROOT)) is not None
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real page with a few random edits: flips, inserts, deletes, cuts, repeats."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat", "markup"]))
        if edit == "flip":
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif edit == "cut":
            del data[at:]
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 2000))] * draw(st.integers(2, 50))
        else:
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"<",
                        b">",
                        b"&",
                        b"]]>",
                        b"<![CDATA[",
                        b"<!--",
                        b"</item>",
                        b"<item>",
                        b'"',
                        b"\x00",
                        b"\xef\xbb\xbf",
                        b"&#0;",
                        b"&#xD800;",
                        b"<!DOCTYPE x [",
                        b"{",
                        b"}",
                        b"[",
                        b"]",
                        b"null",
                        b"\\u0000",
                        b"<a href='javascript:x'>",
                    ]
                )
            )
    return bytes(data)


def _result(content: bytes, *, declared: str | None = None) -> FetchResult:
    text, encoding = decode(content, declared=declared)
    return FetchResult(
        url=ROOT + "/x",
        final_url=ROOT + "/x",
        status=200,
        content=content,
        text=text,
        encoding=encoding,
        fetched_at=datetime(2025, 11, 20, tzinfo=UTC),
    )


def _parse(kind: str, content: bytes) -> None:
    source = SOURCES[kind]
    result = _result(content)
    refused: ParseError | None = None
    with no_hang():
        try:
            following = sources.step(result, source)
            entries = sources.parse(result, source)
        except ParseError as exc:
            refused = exc
    if refused is not None:
        assert refused.source_id == source.id
        return
    assert following is None or following.url.startswith(("http://", "https://"))
    for entry in entries:
        assert entry.url.startswith(("http://", "https://")), entry
        assert isinstance(entry.title, str)
        canonical_url(entry.url)  # every URL a parser gives must survive the pipeline


@pytest.mark.parametrize("kind", sorted(SOURCES))
@PROFILE
@given(data=st.data())
def test_parsers_take_mutated_pages(kind: str, data: st.DataObject) -> None:
    _parse(kind, data.draw(mutated(CORPUS[kind])))


@pytest.mark.parametrize("kind", sorted(SOURCES))
@PROFILE
@given(content=st.binary(max_size=4000))
def test_parsers_take_random_bytes(kind: str, content: bytes) -> None:
    _parse(kind, content)


@PROFILE
@given(content=st.one_of(st.binary(max_size=3000), mutated(ARTICLE_PAGES)))
def test_the_extractor_and_text_steps_take_anything(content: bytes) -> None:
    lexicon, concepts = _text_tools()
    text, _ = decode(content)
    with no_hang():
        page = extract_article(text, ROOT + "/news/1.html", SOURCES["html"].article)
        body = page.text or html_to_text(text)
        normal = normalize_article(page.title, body)
        verdict = classify(normal.title, normal.text, lexicon)
        summarize(normal.title, normal.text, normal.language, facts=verdict.facts)
        fingerprint(normal.title, normal.text, normal.language, text_hash(normal.text), concepts)


@PROFILE
@given(text=st.text(max_size=2000), title=st.text(max_size=200))
def test_the_normaliser_takes_any_text(title: str, text: str) -> None:
    lexicon, concepts = _text_tools()
    with no_hang():
        normal = normalize_article(title, text)
        assert isinstance(normal.text, str) and normal.language
        verdict = classify(normal.title, normal.text, lexicon)
        summarize(normal.title, normal.text, normal.language, facts=verdict.facts)
        fingerprint(normal.title, normal.text, normal.language, text_hash(normal.text), concepts)
        parse_date(text, now=datetime(2025, 11, 20, tzinfo=UTC))


@PROFILE
@example(url="index.htm")  # a relative path: its normal form once had none
@given(
    url=st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
            st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
            st.text(max_size=30),
            st.sampled_from(["", ":80", ":443", ":8080", ":99999", ":x", ":-1", ":"]),
            st.text(max_size=60),
        ),
    )
)
def test_canonical_urls_never_raise(url: str) -> None:
    first = canonical_url(url, mobile_hosts=["m", "wap"])
    assert canonical_url(first, mobile_hosts=["m", "wap"]) == first  # a normal form is stable


@PROFILE
@given(grams=st.sets(st.binary(max_size=12), max_size=300))
def test_minhash_is_datasketchs_bit_for_bit(grams: set[bytes]) -> None:
    """monitor.dedup computes datasketch's MinHash itself (datasketch imports scipy:
    80 MB); stored signatures must not change."""
    from datasketch import MinHash

    from monitor.dedup import NUM_PERM, minhash_of

    reference = MinHash(num_perm=NUM_PERM, seed=7)
    reference.update_batch(list(grams))
    assert minhash_of(grams) == tuple(int(v) for v in reference.hashvalues)


_tools: list[tuple[Lexicon, Concepts]] = []


def _text_tools() -> tuple[Lexicon, Concepts]:
    if not _tools:
        _tools.append((Lexicon.load(), Concepts.load()))
    return _tools[0]


# ── the configuration loader ────────────────────────────────────────────────


def _load_config(text: str) -> None:
    refused: ConfigError | None = None
    with no_hang():
        try:
            parse_config(text, name="sources.yaml", env={"CHAT": "@x"})
        except ConfigError as exc:
            refused = exc
    if refused is not None:
        assert refused.problems
        for problem in refused.problems:
            assert problem.file == "sources.yaml"
            assert str(problem).startswith("sources.yaml")


@st.composite
def mutated_yaml(draw: st.DrawFn) -> str:
    lines = GOOD.splitlines()
    for _ in range(draw(st.integers(1, 5))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "dup", "indent", "dedent", "replace", "insert"]))
        if edit == "drop":
            del lines[at]
        elif edit == "dup":
            lines.insert(at, lines[at])
        elif edit == "indent":
            lines[at] = "  " + lines[at]
        elif edit == "dedent":
            lines[at] = lines[at][2:]
        elif edit == "replace":
            lines[at] = draw(st.text(max_size=40))
        else:
            lines.insert(
                at,
                draw(
                    st.sampled_from(
                        ["- x", "x: [", "x: {a: b", "  - id: []", "sources: 3", "&a x", "*a",
                         "!!python/object:os.system ls", "<<: *a", "\t", "x: !!binary AAAA",
                         "interval: 1e999", "backlog: -1", "url: ${", "url: ${X:-", "'"]
                    )
                ),
            )  # fmt: skip
    return "\n".join(lines) + "\n"


@PROFILE
@given(text=st.one_of(mutated_yaml(), st.text(max_size=500)))
def test_the_config_loader_gives_only_config_errors(text: str) -> None:
    _load_config(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",  # an alias inside the value it names
        "x: " + "[" * 5000 + "]" * 5000 + "\n",  # deeper than the YAML parser recurses
        "x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "x: " + "[" * 60 + "]" * 60 + "\n",
    ],
    ids=["alias-loop", "deep-lists", "deep-maps", "nested-60"],
)
def test_the_config_loader_refuses_loops_and_depth(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text, name="sources.yaml", env={})
    _load_config(text)


def test_the_config_loader_survives_an_alias_bomb() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
        f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        parse_config(bomb, name="sources.yaml", env={})


def test_xml_entity_bombs_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
        )
        + b']>\n<rss version="2.0"><channel><title>&j;</title><item><title>&j;</title>'
        b"<link>http://x.cn/1</link></item></channel></rss>"
    )
    _parse("rss", bomb)


# ── the fast RSS path agrees with feedparser ────────────────────────────────

_words = st.text(
    alphabet=st.sampled_from(list("质量强省建设 abcXYZ<>&\"'.,;:/?=#%0123456789\u3000\t\n")),
    max_size=40,
)


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    atom = draw(st.booleans())
    items = []
    for n in range(draw(st.integers(1, 5))):
        title = draw(_words)
        link = draw(
            st.sampled_from(
                [f"http://x.cn/a/{n}.html", f"/rel/{n}.html", f" https://x.cn/{n} ", "", "ftp://x"]
            )
        )
        when = draw(st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2035, 1, 1)))
        when = when.replace(tzinfo=UTC, microsecond=0)
        body = draw(st.one_of(st.none(), _words.map(lambda w: f"<p>{escape(w)}</p>")))
        summary = draw(st.one_of(st.none(), _words))
        guid = draw(st.one_of(st.none(), st.sampled_from([f"id-{n}", f"http://x.cn/g/{n}"])))
        if atom:
            parts = [f"<title>{escape(title)}</title>"]
            if link:
                parts.append(f'<link rel="alternate" href="{escape(link)}"/>')
            if guid:
                parts.append(f"<id>{escape(guid)}</id>")
            parts.append(f"<updated>{when.isoformat()}</updated>")
            if summary is not None:
                parts.append(f"<summary>{escape(summary)}</summary>")
            if body is not None:
                parts.append(f'<content type="html">{escape(body)}</content>')
            items.append(f"<entry>{''.join(parts)}</entry>")
        else:
            parts = [f"<title>{escape(title)}</title>"]
            if link:
                parts.append(f"<link>{escape(link)}</link>")
            if guid:
                permalink = draw(
                    st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"'])
                )
                parts.append(f"<guid{permalink}>{escape(guid)}</guid>")
            parts.append(f"<pubDate>{format_datetime(when)}</pubDate>")
            if summary is not None:
                parts.append(f"<description>{escape(summary)}</description>")
            if body is not None:
                parts.append(f"<content:encoded><![CDATA[{body}]]></content:encoded>")
            items.append(f"<item>{''.join(parts)}</item>")
    if atom:
        text = (
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>t</title><id>urn:x</id>{''.join(items)}</feed>"
        )
    else:
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
            f"<link>http://x.cn/</link>{''.join(items)}</channel></rss>"
        )
    return text.encode()


def _essentials(entries: list[Any]) -> list[tuple[Any, ...]]:
    def body(entry: Any) -> str:
        html = entry.content_html or entry.summary
        return " ".join(html_to_text(html).split()) if html else ""

    return [(e.url, e.title, e.published, e.guid, body(e)) for e in entries]


@PROFILE
@given(content=feeds())
def test_the_fast_feed_path_agrees_with_feedparser(content: bytes) -> None:
    result = _result(content)
    fast = rss._read_fast(result, SOURCES["rss"])
    assert fast is not None  # plain UTF-8 RSS and Atom: the fast path reads them
    slow = sources.parse(
        FetchResult(
            url=result.url,
            final_url=result.final_url,
            status=200,
            content=content,
            text="",  # no text: the fast path declines, feedparser reads it
            encoding=None,
        ),
        SOURCES["rss"],
    )
    assert _essentials(fast) == _essentials(slow)
