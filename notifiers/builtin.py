"""Registers the built-in notifier kinds with the same door plug-ins use."""

from __future__ import annotations

from typing import Any

from notifiers.base import register
from notifiers.console import ConsoleNotifier
from notifiers.ratelimit import RateLimiter
from notifiers.telegram import TelegramClient, TelegramNotifier
from notifiers.webhook import WebhookNotifier


class Shared:
    """What the notifiers of one process share: one Telegram client (one
    connection pool, one bot-wide rate limit) for every Telegram chat, the
    channels' and the subscribers' alike. Closed once, by its owner."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._telegram: TelegramClient | None = None

    def telegram(self) -> TelegramClient | None:
        """The bot's client, made on first use; None without a token."""
        if self._telegram is None and self.settings.telegram_token is not None:
            self._telegram = TelegramClient(
                token=self.settings.telegram_token.get_secret_value(),
                api_url=self.settings.telegram_api_url,
                limiter=RateLimiter(),
            )
        return self._telegram

    async def aclose(self) -> None:
        if self._telegram is not None:
            await self._telegram.aclose()
            self._telegram = None


@register("console")
def _console(channel: Any, settings: Any, shared: Shared) -> ConsoleNotifier:
    return ConsoleNotifier()


@register("telegram")
def _telegram(channel: Any, settings: Any, shared: Shared) -> TelegramNotifier | None:
    client = shared.telegram()
    if client is None or not channel.chat.strip():
        return None  # not configured here: the channel is inactive, said once at start
    return TelegramNotifier(
        client=client,
        chat=channel.chat.strip(),
        link_preview=channel.link_preview,
        min_interval=channel.pace,
    )


@register("webhook")
def _webhook(channel: Any, settings: Any, shared: Shared) -> WebhookNotifier:
    return WebhookNotifier(
        url=channel.url,
        channel_id=channel.id,
        secret=channel.secret.get_secret_value() if channel.secret is not None else None,
        headers=channel.headers,
        timeout=channel.timeout,
        min_interval=channel.pace,
    )


@register("apprise")
def _apprise(channel: Any, settings: Any, shared: Shared) -> Any:
    url = channel.url.get_secret_value().strip()
    if not url:
        return None  # ${DINGTALK_URL:-} left empty: inactive, said once at start
    from notifiers.apprise import AppriseNotifier  # Apprise loads ~100 plugins: only when used

    return AppriseNotifier(
        url=url, markdown=channel.format == "markdown", min_interval=channel.pace
    )
