"""One article through the pure steps (normalise, classify, fingerprint), as the
pipeline hands it to the commit step: for the decision and grouping tests."""

from __future__ import annotations

from datetime import datetime

from monitor.classify import Lexicon, classify
from monitor.dedup import Concepts, fingerprint
from monitor.model import Article, Entry, Processed
from monitor.normalize import normalize_article, text_hash


def processed(
    text: str,
    url: str,
    tools: tuple[Lexicon, Concepts],
    *,
    published: datetime,
    source_province: str | None = None,
    with_province: bool = True,
) -> Processed:
    """Source ``s``'s article at ``url``; its title is the text's first 20 characters."""
    lexicon, concepts = tools
    normal = normalize_article("", text)
    verdict = classify(normal.title, normal.text, lexicon, source_province=source_province)
    article = Article(
        source_id="s",
        url=url,
        canonical_url=url,
        title=normal.text[:20],
        text=normal.text,
        language=normal.language,
        text_hash=text_hash(normal.text),
        published=published,
    )
    fp = fingerprint(
        article.title,
        article.text,
        article.language,
        article.text_hash,
        concepts,
        doc_titles=verdict.facts.titles,
        province=verdict.province if with_province else None,
    )
    return Processed(Entry("s", url, article.title), article, verdict, "", fp)
