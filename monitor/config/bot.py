"""``bot:``: the Telegram bot in private chats (commands, subscriptions)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, model_validator

from monitor.config.values import HttpUrl, Model, parse_duration


def _operators(value: object) -> object:
    # ``operators: ${TELEGRAM_OPERATORS:-}`` arrives as one string: "123, @name".
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return value


def _operator(value: object) -> int | str:
    if isinstance(value, bool):
        raise ValueError("a Telegram user id (a number) or @username")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", text):
            return text.lower()
    raise ValueError(f"{value!r} is not a Telegram user id (a number) or @username")


Operator = Annotated[int | str, BeforeValidator(_operator)]


class BotSettings(Model):
    """The bot in private chats: commands, subscriptions, operator commands."""

    enabled: bool = Field(True, description="false keeps the section without running the bot")
    mode: Literal["polling", "webhook"] = Field(
        "polling", description="polling: getUpdates; webhook: Telegram POSTs updates to us"
    )
    webhook_url: HttpUrl | None = Field(
        None, description="webhook: the public https URL Telegram posts updates to"
    )
    listen: str = Field("127.0.0.1", description="webhook: the address to listen on")
    port: int = Field(8443, ge=0, lt=65536, description="webhook: the port to listen on")
    secret: SecretStr | None = Field(
        None, description="webhook: the secret Telegram sends in each request (${ENV})"
    )
    operators: Annotated[list[Operator], BeforeValidator(_operators)] = Field(
        default_factory=list,
        description="who may /pause, /resume and /resend: Telegram user ids or @usernames",
    )
    page_size: int = Field(5, ge=1, le=20, description="stories per page of /latest and /search")
    pace: Annotated[float, BeforeValidator(parse_duration)] = Field(
        1.0, ge=0, le=600, description="seconds between two posts to one subscriber's chat"
    )

    @model_validator(mode="after")
    def _webhook(self) -> BotSettings:
        if self.secret is not None and not self.secret.get_secret_value():
            object.__setattr__(self, "secret", None)
        if self.webhook_url is not None:
            parts = urlsplit(self.webhook_url)
            if parts.scheme == "http" and not _loopback(parts.hostname or ""):
                raise ValueError(
                    f"webhook_url {_show_url(self.webhook_url)!r}: Telegram calls https URLs "
                    "only (http works for a loopback address, with a Bot API server of your own)"
                )
        if self.mode != "webhook":
            return self
        if self.webhook_url is None:
            raise ValueError("mode webhook needs webhook_url (the public URL Telegram calls)")
        if self.secret is None:
            raise ValueError(
                "mode webhook needs secret (such as ${TELEGRAM_WEBHOOK_SECRET}): without it "
                "anyone who can reach the port could send commands as any user"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.secret.get_secret_value()):
            raise ValueError("secret: 1 to 256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return self


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    import ipaddress

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _show_url(url: str) -> str:
    from notifiers.redact import redact_url  # the one way a URL is shown

    return redact_url(url)
