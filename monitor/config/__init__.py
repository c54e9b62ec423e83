"""``sources.yaml`` and the environment → frozen, validated settings.

This package is the only reader of both. Everything else receives a
:class:`Config` (what to watch and where to post) and a :class:`Settings`
(how this process runs: database, tokens, ports). One module per concern:

=================  ==========================================================
``values``         the value types (durations, URLs, selectors, codes, cron)
``sources``        what every source shares: defaults, HTTP, selectors, base
``channels``       what every channel shares: the filter, the base
``bot``            ``bot:``, the Telegram bot in private chats
``sections``       ``lexicon:``, ``retention:``, ``dedup:``
``root``           :class:`Config`: the kinds' unions, joined from registries
``loader``         YAML with line numbers, ``${ENV}``, every mistake at once
``words``          those mistakes put in words
``leaks``          ``check``'s warnings: secrets written into the file
``settings``       :class:`Settings`, from the environment
=================  ==========================================================

Each source kind's schema lives beside its parser (``monitor/sources/``),
each notifier kind's beside its factory (``notifiers/``). Those modules
import their base classes from here, so the names that need every kind
loaded (:class:`Config`, the unions, the kinds' schemas) are looked up on
first use (``__getattr__`` below) rather than on import: importing
``monitor.config`` never waits for a parser or a chat client, and a kind's
module may be imported first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.config.bot import BotSettings
from monitor.config.channels import ChannelBase, ChannelFilter
from monitor.config.leaks import config_warnings
from monitor.config.loader import expand_env, load_config, parse_config
from monitor.config.sections import DedupSettings, LexiconExtension, Retention
from monitor.config.settings import Settings
from monitor.config.sources import (
    ArticleSelectors,
    Defaults,
    HttpSettings,
    ListSelectors,
    SourceBase,
)
from monitor.config.values import (
    Crontab,
    DottedPath,
    Duration,
    Encoding,
    FilterTerm,
    HttpUrl,
    Interval,
    Model,
    PrivateHost,
    ProvinceCode,
    Selector,
    SourceId,
    parse_duration,
)

if TYPE_CHECKING:
    from monitor.config.root import AnyChannel, AnySource, ChannelConfig, Config, SourceConfig
    from monitor.sources.gkmlpt import GkmlptSource
    from monitor.sources.html import HtmlSource
    from monitor.sources.jcms import ItemSelectors, JcmsSource
    from monitor.sources.jpaas import JpaasSource
    from monitor.sources.json_api import JsonFields, JsonSource
    from monitor.sources.rss import RssSource
    from notifiers.apprise import AppriseChannel
    from notifiers.console import ConsoleChannel
    from notifiers.telegram import TelegramChannel
    from notifiers.webhook import WebhookChannel

# Names that need the kinds loaded: where each is defined.
_LAZY = {
    "AnyChannel": "monitor.config.root",
    "AnySource": "monitor.config.root",
    "ChannelConfig": "monitor.config.root",
    "Config": "monitor.config.root",
    "SourceConfig": "monitor.config.root",
    "GkmlptSource": "monitor.sources.gkmlpt",
    "HtmlSource": "monitor.sources.html",
    "ItemSelectors": "monitor.sources.jcms",
    "JcmsSource": "monitor.sources.jcms",
    "JpaasSource": "monitor.sources.jpaas",
    "JsonFields": "monitor.sources.json_api",
    "JsonSource": "monitor.sources.json_api",
    "RssSource": "monitor.sources.rss",
    "AppriseChannel": "notifiers.apprise",
    "ConsoleChannel": "notifiers.console",
    "TelegramChannel": "notifiers.telegram",
    "WebhookChannel": "notifiers.webhook",
}


def __getattr__(name: str) -> Any:
    """``from monitor.config import Config`` (or a kind's schema): load it, and
    with it every kind, on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'monitor.config' has no attribute {name!r}")
    import importlib

    importlib.import_module("monitor.config.root")  # every kind registered, the unions made
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "AnyChannel",
    "AnySource",
    "AppriseChannel",
    "ArticleSelectors",
    "BotSettings",
    "ChannelBase",
    "ChannelConfig",
    "ChannelFilter",
    "Config",
    "ConsoleChannel",
    "Crontab",
    "DedupSettings",
    "Defaults",
    "DottedPath",
    "Duration",
    "Encoding",
    "FilterTerm",
    "GkmlptSource",
    "HtmlSource",
    "HttpSettings",
    "HttpUrl",
    "Interval",
    "ItemSelectors",
    "JcmsSource",
    "JpaasSource",
    "JsonFields",
    "JsonSource",
    "LexiconExtension",
    "ListSelectors",
    "Model",
    "PrivateHost",
    "ProvinceCode",
    "Retention",
    "RssSource",
    "Selector",
    "Settings",
    "SourceBase",
    "SourceConfig",
    "SourceId",
    "TelegramChannel",
    "WebhookChannel",
    "config_warnings",
    "expand_env",
    "load_config",
    "parse_config",
    "parse_duration",
]
