"""Stories and queued alerts written straight into a store, for delivery tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from monitor.config import Config, Settings, parse_config
from storage.store import Store

NOW = datetime(2025, 9, 11, 1, 0, tzinfo=UTC)
PROVINCES = ("CN-SC", "CN-GD", "CN", "CN-ZJ", None)
CATEGORIES = ("policy_document", "meeting", "press_conference", "award_brand")


def story_values(i: int = 0, **changes: Any) -> dict[str, Any]:
    when = changes.pop("when", NOW + timedelta(seconds=i))
    values: dict[str, Any] = {
        "title": f"第{i}条 质量强省建设推进会召开",
        "url": f"https://www.example.gov.cn/news/{i}.html",
        "summary": "会议部署质量强省建设重点任务。",
        "province": PROVINCES[i % len(PROVINCES)],
        "category": CATEGORIES[i % len(CATEGORIES)],
        "language": "zh-Hans",
        "source_id": "site",
        "source_name": "测试站",
        "relevant": True,
        "score": 9.0,
        "published": when,
        "first_seen": when,
        "updated_at": when,
    }
    return values | changes


def add_stories(
    store: Store,
    count: int,
    channels: Sequence[str] = (),
    *,
    start: int = 0,
    **changes: Any,
) -> list[int]:
    """``count`` stories, each queued as a post to every channel of ``channels``."""
    ids = []
    with store.transaction() as tx:
        for i in range(start, start + count):
            story_id = tx.insert_story(story_values(i, **changes))
            ids.append(story_id)
            when = changes.get("when", NOW + timedelta(seconds=i))
            for channel in channels:
                tx.enqueue(story_id, channel, when)
    return ids


def outbox_rows(store: Store, channel: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from storage.schema import outbox

    query = select(outbox).order_by(outbox.c.id)
    if channel is not None:
        query = query.where(outbox.c.channel_id == channel)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def make_all_due(store: Store) -> None:
    from sqlalchemy import update

    from storage.schema import outbox

    with store.engine.begin() as conn:
        conn.execute(update(outbox).values(next_attempt_at=outbox.c.created_at))


def config(yaml_channels: str, *, extra: str = "", env: dict[str, str] | None = None) -> Config:
    return parse_config(
        f"version: 1\nchannels:\n{yaml_channels}\n{extra}", name="test.yaml", env=env or {}
    )


def settings(db_url: str, *, token: str | None = None, api_url: str = "") -> Settings:
    return Settings(
        config_path=Path("test.yaml"),
        db_url=db_url,
        telegram_token=SecretStr(token) if token else None,
        telegram_api_url=api_url or "https://api.telegram.org",
        http_port=None,
        log_level="INFO",
        log_format="text",
    )


def ids_in(texts: Iterable[str]) -> list[int]:
    """The story numbers ("第N条") in posted texts, in order."""
    import re

    return [int(n) for text in texts for n in re.findall(r"第(\d+)条", text)]
