"""Registers the built-in notifier kinds with the same door plug-ins use."""

from __future__ import annotations

from typing import Any

from notifiers.base import register
from notifiers.console import ConsoleNotifier
from notifiers.telegram import TelegramNotifier


@register("console")
def _console(channel: Any, settings: Any) -> ConsoleNotifier:
    return ConsoleNotifier()


@register("telegram")
def _telegram(channel: Any, settings: Any) -> TelegramNotifier | None:
    if settings.telegram_token is None or not channel.chat.strip():
        return None  # not configured here: the channel is inactive, said once at start
    return TelegramNotifier(
        token=settings.telegram_token.get_secret_value(),
        chat=channel.chat.strip(),
        api_url=settings.telegram_api_url,
        link_preview=channel.link_preview,
        min_interval=channel.pace,
    )
