"""The bot in private chats: commands, subscriptions, operator commands. [IO]

Built on python-telegram-bot's :class:`~telegram.ext.Application`, polling
``getUpdates`` by default or taking Telegram's webhook requests
(``bot.mode: webhook``). It answers:

========================  =====================================================
``/start``, ``/help``     what the bot does and its commands
``/latest [province]``    the newest relevant stories, five a page, with ◀ ▶ buttons
``/search TERM``          stories whose titles, summary or outlets hold TERM, paged
``/subscribe …``          province and/or category (``/subscribe 四川 政策文件``);
                          matching stories found from then on come to this chat
``/unsubscribe …``        the same words, ``all``, or buttons for each subscription
``/sources``              what is monitored and which sources are unwell
``/status``               last poll, stories today, alerts waiting and refused
``/pause [channel]``      operators: hold a channel's posts (all without a name)
``/resume [channel]``     operators: let them go again
``/resend STORY [ch…]``   operators: post a story again (to its channels, or these)
========================  =====================================================

The command list is registered with ``setMyCommands`` (operators whose user
id is configured also see theirs). Only one replica answers: the one that
holds the database lease ``telegram-bot`` (30 s, renewed every ten seconds:
another replica takes over within ten seconds of a clean stop, forty of a
crash), since Telegram allows one ``getUpdates`` consumer per bot.

Replies are rate-limited with the channels' posts (one bot-wide limit) and
every field from the web is escaped as in channel posts.

In a group anyone may read (``/latest``, ``/search``, the list of the group's
subscriptions), but only the group's administrators (``getChatMember``: owner
or administrator; an anonymous administrator writes as the group itself) may
change what the group receives: ``/subscribe``, ``/unsubscribe`` and their
buttons. A chat holds at most :data:`MAX_SUBSCRIPTIONS` subscriptions.

This module keeps the lifecycle (the lease, polling or the webhook) and the
handlers; what the words after a command and the buttons' data mean is read in
:mod:`notifiers.commands`, pure and tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from monitor.clock import CHINA, shown
from monitor.model import CATEGORY_LABELS_ZH
from monitor.names import parse_category, parse_province
from notifiers.commands import (
    MAX_ID,
    MAX_QUERY_BYTES,
    NOOP,
    OPERATOR_COMMANDS,
    PUBLIC_COMMANDS,
    LatestPage,
    Refused,
    SearchPage,
    Unsubscribe,
    Wanted,
    parse_button,
    parse_channel,
    parse_latest,
    parse_resend,
    parse_search,
    parse_subscription,
)
from notifiers.ratelimit import RateLimiter
from notifiers.redact import protect, redact_url
from notifiers.render import (
    province_label_zh,
    render_story_list_telegram,
    shorten,
    telegram_length,
)
from storage.chats import ALL_CHANNELS, ANY, CHAT_PREFIX, ChatStore
from storage.rows import story_of
from storage.runner import DbRunner
from storage.store import Store, StoryFilter, utcnow

if TYPE_CHECKING:
    from monitor.config import BotSettings, Config

__all__ = [
    "LEASE",
    "OPERATOR_COMMANDS",
    "PUBLIC_COMMANDS",
    "BotService",
    "Wanted",
    "parse_category",
    "parse_province",
    "parse_subscription",
]

log = logging.getLogger("monitor.bot")

LEASE = "telegram-bot"
LEASE_TTL = 30.0  # seconds; renewed every third of it
MAX_SUBSCRIPTIONS = 50  # per chat; one /subscribe of 35 provinces × 7 categories made 245
ADMIN_STATUSES = frozenset({"creator", "administrator"})  # getChatMember's, for groups
# What the commands' words and the buttons' data mean: notifiers/commands.py.


def _subscription_label(province: str, category: str) -> str:
    where = "全部省份" if province == ANY else (province_label_zh(province) or province)
    what = "全部类别" if category == ANY else CATEGORY_LABELS_ZH.get(category, category)
    return f"{where} · {what}"


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "尚无"
    seconds = max(0, int((now - when).total_seconds()))
    local = shown(when)  # China time with its zone
    if seconds < 120:
        return f"{local}（刚刚）"
    if seconds < 7200:
        return f"{local}（{seconds // 60} 分钟前）"
    if seconds < 2 * 86400:
        return f"{local}（{seconds // 3600} 小时前）"
    return f"{local}（{seconds // 86400} 天前）"


# ── rate limit shared with the channels ─────────────────────────────────────


class _SharedRateLimiter(BaseRateLimiter[None]):
    """PTB's rate-limiter door, opened onto the bot-wide :class:`RateLimiter`."""

    _COUNTED = frozenset({"sendMessage", "editMessageText"})

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Any:
        if endpoint in self._COUNTED:
            await self._limiter.acquire()
        return await callback(*args, **kwargs)


# ── the service ─────────────────────────────────────────────────────────────


class WebhookSecret(str):
    """The webhook secret, compared in constant time.

    python-telegram-bot checks each request's ``X-Telegram-Bot-Api-Secret-Token``
    with ``token != secret``, which returns as soon as a character differs and so
    tells a prober, by its timing, how much of a guess is right. Python asks the
    right operand first when its type is a subclass of the left's, so a ``str``
    subclass whose ``__ne__`` (and ``__eq__``) use :func:`hmac.compare_digest`
    makes that comparison constant-time without patching the library; to
    everything else (``setWebhook``'s JSON) it is the plain string.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self.encode(), other.encode())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return NotImplemented if equal is NotImplemented else not equal

    __hash__ = str.__hash__


class BotService:
    """Runs the bot while this replica holds the ``telegram-bot`` lease."""

    def __init__(
        self,
        *,
        settings: BotSettings,
        config: Config,
        token: str,
        api_url: str,
        store: Store,
        db: DbRunner,
        limiter: RateLimiter | None = None,
        replica: str = "local",
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        poll_timeout: float = 10.0,
    ) -> None:
        """``on_queued`` is called when a command queued alerts (``/resend``):
        it wakes the delivery loop."""
        protect(token)
        if settings.secret is not None:
            protect(settings.secret.get_secret_value())
        self.settings = settings
        self.config = config
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.store = store
        self.chats = ChatStore(store)
        self.db = db
        self.limiter = limiter or RateLimiter()
        self.replica = replica
        self.on_queued = on_queued
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.operators = {o for o in settings.operators}
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._running = False
        self._answering = asyncio.Event()
        self._said_other = False
        self._poll_failures = 0

    def __repr__(self) -> str:
        return f"BotService({self.settings.mode}, api_url={self.api_url!r})"

    # ── lifecycle ────────────────────────────────────────────────────────────

    async def start(self) -> None:
        """Start answering in the background: take the lease (or wait for it), then
        poll or listen. Returns at once; :attr:`running` says when it answers."""
        if self._lease_task is None:
            self._lease_task = asyncio.create_task(self._lease_loop(), name="bot-lease")

    async def wait_running(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the bot to answer (tests, start-up logs)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answering.wait(), timeout)
        return self._running

    async def stop(self) -> None:
        """Stop answering and hand the lease over (idempotent)."""
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
            self._lease_task = None
        await self._stop_app()
        with contextlib.suppress(Exception):
            await self.db(self.chats.drop_lease, LEASE, self.replica)

    @property
    def running(self) -> bool:
        return self._running

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self._lease_round()
            except Exception:  # the loop must outlive one bad round
                log.exception("bot: lease round failed")
            await asyncio.sleep(LEASE_TTL / 3)

    async def _lease_round(self) -> None:
        try:
            mine = await self.db(
                self.chats.take_lease, LEASE, self.replica, self.clock(), LEASE_TTL
            )
        except Exception as exc:
            log.error("bot: cannot take the lease: %s", exc)
            mine = False
        if mine and not self._running:
            self._said_other = False
            await self._start_app()
        elif not mine and self._running:
            log.warning("bot: another replica took over the bot")
            await self._stop_app()
        elif not mine and not self._said_other:
            self._said_other = True
            log.info("bot: another replica answers the bot")

    async def _start_app(self) -> None:
        app = self._build()
        try:
            await app.initialize()
            await self._register_commands(app)
            await app.start()
            assert app.updater is not None
            if self.settings.mode == "webhook":
                await self._start_webhook(app)
            else:
                await app.updater.start_polling(
                    timeout=timedelta(seconds=self.poll_timeout),
                    allowed_updates=["message", "callback_query"],
                    error_callback=self._polling_error,
                )
        except (TelegramError, OSError, RuntimeError) as exc:
            log.error("bot: cannot start (tried again in %.0fs): %s", LEASE_TTL / 3, exc)
            await self._close(app)
            return
        except asyncio.CancelledError:
            await self._close(app)
            raise
        self.app = app
        self._running = True
        self._answering.set()
        me = app.bot.username
        log.info("bot: @%s answers commands (%s)", me, self.settings.mode)

    async def _start_webhook(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        assert app.updater is not None and self.settings.webhook_url is not None
        path = urlsplit(self.settings.webhook_url).path.lstrip("/")
        # The configuration requires a secret in webhook mode; without one, any POST
        # to the port would be taken for Telegram's, with whatever sender it names.
        assert self.settings.secret is not None
        secret = WebhookSecret(self.settings.secret.get_secret_value())
        await app.updater.start_webhook(
            listen=self.settings.listen,
            port=self.settings.port,
            url_path=path,
            webhook_url=self.settings.webhook_url,
            secret_token=secret,
            allowed_updates=["message", "callback_query"],
        )

    async def _stop_app(self) -> None:
        app, self.app = self.app, None
        self._running = False
        self._answering.clear()
        if app is None:
            return
        await self._close(app)
        log.info("bot: stopped")

    @staticmethod
    async def _close(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Stop polling or listening, stop processing, close the connections."""
        with contextlib.suppress(Exception):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
        with contextlib.suppress(Exception):
            if app.running:
                await app.stop()
        with contextlib.suppress(Exception):
            await app.shutdown()

    def _polling_error(self, exc: TelegramError) -> None:
        self._poll_failures += 1
        if self._poll_failures in (1, 10) or self._poll_failures % 100 == 0:
            log.warning("bot: getUpdates failed (%d in a row): %s", self._poll_failures, exc)

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        timeout = 20.0
        app = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(f"{self.api_url}/bot")
            .base_file_url(f"{self.api_url}/file/bot")
            .request(HTTPXRequest(connection_pool_size=8, read_timeout=timeout))
            .get_updates_request(
                HTTPXRequest(connection_pool_size=1, read_timeout=self.poll_timeout + timeout)
            )
            .rate_limiter(_SharedRateLimiter(self.limiter))
            .job_queue(None)
            .build()
        )
        public = [
            ("start", self.cmd_start),
            ("help", self.cmd_help),
            ("latest", self.cmd_latest),
            ("search", self.cmd_search),
            ("subscribe", self.cmd_subscribe),
            ("unsubscribe", self.cmd_unsubscribe),
            ("sources", self.cmd_sources),
            ("status", self.cmd_status),
            ("pause", self.cmd_pause),
            ("resume", self.cmd_resume),
            ("resend", self.cmd_resend),
        ]
        for name, callback in public:
            app.add_handler(CommandHandler(name, callback))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(
            MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, self.on_text)
        )
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, self.on_unknown))
        app.add_error_handler(self.on_error)
        return app

    async def _register_commands(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        public = [BotCommand(name, text) for name, text in PUBLIC_COMMANDS]
        await app.bot.set_my_commands(public, scope=BotCommandScopeDefault())
        everything = public + [BotCommand(name, text) for name, text in OPERATOR_COMMANDS]
        for operator in sorted(o for o in self.operators if isinstance(o, int)):
            try:
                await app.bot.set_my_commands(everything, scope=BotCommandScopeChat(operator))
            except TelegramError as exc:  # the operator never opened a chat with the bot
                log.info("bot: operator %s's command list not set: %s", operator, exc)

    # ── replies ──────────────────────────────────────────────────────────────

    async def _reply(
        self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        message = update.effective_message
        if message is None:
            return
        await message.reply_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    def _is_operator(self, update: Update) -> bool:
        user = update.effective_user
        if user is None:
            return False
        return user.id in self.operators or (
            user.username is not None and f"@{user.username.lower()}" in self.operators
        )

    async def _may_change_subscriptions(self, update: Update, bot: Bot) -> bool:
        """Whether whoever sent ``update`` may change its chat's subscriptions: in a
        private chat its user; in a group or channel only an administrator. One
        ``getChatMember`` per change (changes are rare; a cache would outlive a
        demotion); when Telegram cannot say, the answer is no."""
        chat = update.effective_chat
        if chat is None:
            return False
        if chat.type == "private":
            return True
        message = update.message
        if message is not None and message.sender_chat is not None:
            return message.sender_chat.id == chat.id  # an anonymous admin, or the channel
        user = update.effective_user
        if user is None:
            return False
        try:
            member = await bot.get_chat_member(chat.id, user.id)
        except TelegramError as exc:
            log.info("bot: cannot tell whether %s administers chat %s: %s", user.id, chat.id, exc)
            return False
        return member.status in ADMIN_STATUSES

    async def _admins_only(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        if await self._may_change_subscriptions(update, context.bot):
            return True
        await self._reply(update, "在群组中，只有管理员可以更改订阅。")
        return False

    async def _operator_only(self, update: Update) -> bool:
        if self._is_operator(update):
            return True
        await self._reply(update, "此命令仅限管理员使用。")
        return False

    def _help(self, update: Update) -> str:
        lines = [
            "<b>质量强省动态</b>：监测各省市场监管局、政府网站和媒体关于质量强省、质量月、"
            "质量奖等的报道，每个事件推送一次。",
            "",
            *(f"/{name} — {_esc(text)}" for name, text in PUBLIC_COMMANDS),
        ]
        if self._is_operator(update):
            lines += ["", *(f"/{name} — {_esc(text)}" for name, text in OPERATOR_COMMANDS)]
        return "\n".join(lines)

    async def cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "你好！" + self._help(update))

    async def cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, self._help(update))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "发送 /help 查看可用命令，或 /search 关键词 搜索报道。")

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "不认识这个命令。发送 /help 查看可用命令。")

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error("bot: update failed: %s: %s", type(error).__name__, error)
        if isinstance(update, Update) and update.effective_message is not None:
            with contextlib.suppress(Exception):
                await self._reply(update, "出错了，请稍后再试。")

    # ── /latest and /search, paged ───────────────────────────────────────────

    def _page_markup(
        self, page: LatestPage | SearchPage, total: int
    ) -> InlineKeyboardMarkup | None:
        size, offset = self.settings.page_size, page.offset
        if total <= size:
            return None
        buttons = []
        if offset > 0:
            newer = replace(page, offset=max(0, offset - size))
            buttons.append(InlineKeyboardButton("◀ 较新", callback_data=newer.data))
        number, pages = offset // size + 1, (total + size - 1) // size
        buttons.append(InlineKeyboardButton(f"{number}/{pages}", callback_data=NOOP))
        if offset + size < total:
            older = replace(page, offset=offset + size)
            buttons.append(InlineKeyboardButton("较早 ▶", callback_data=older.data))
        return InlineKeyboardMarkup([buttons])

    async def _page(
        self, where: StoryFilter, heading: str, page: LatestPage | SearchPage
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        size, offset = self.settings.page_size, page.offset
        rows, total = await self.db(self.store.find_stories, where, limit=size, offset=offset)
        if not rows:
            empty = f"<b>{_esc(heading)}</b>\n\n暂无报道。" if offset == 0 else "没有更多了。"
            return empty, None
        title = f"{heading}（{offset + 1}–{offset + len(rows)} / {total}）"
        text = render_story_list_telegram([story_of(r) for r in rows], title, start=offset + 1)
        return text, self._page_markup(page, total)

    async def _latest_page(self, page: LatestPage) -> tuple[str, InlineKeyboardMarkup | None]:
        label = province_label_zh(page.province) if page.province else None
        heading = f"最新报道 · {label}" if label else "最新报道"
        return await self._page(StoryFilter(province=page.province, relevant=True), heading, page)

    async def _search_page(self, page: SearchPage) -> tuple[str, InlineKeyboardMarkup | None]:
        where = StoryFilter(query=page.term, relevant=True)
        return await self._page(where, f"搜索：{page.term}", page)

    async def cmd_latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            province = parse_latest(context.args or [])
        except Refused as refused:
            await self._reply(
                update, f"不认识的省份：{_esc(refused.words)}。例如 /latest 四川 或 /latest CN-GD"
            )
            return
        text, markup = await self._latest_page(LatestPage(province))
        await self._reply(update, text, markup)

    async def cmd_search(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            term = parse_search(context.args or [])
        except Refused as refused:
            if refused.reason == "too long":
                text = f"关键词太长（最多 {MAX_QUERY_BYTES} 字节，约 16 个汉字）。"
            else:
                text = "用法：/search 关键词，例如 /search 质量月"
            await self._reply(update, text)
            return
        text, markup = await self._search_page(SearchPage(term))
        await self._reply(update, text, markup)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        data = query.data
        try:
            # Who may press a cancel button is asked first, whatever its data says.
            if data.startswith("u|") and not await self._may_change_subscriptions(
                update, context.bot
            ):
                await query.answer("在群组中，只有管理员可以更改订阅。", show_alert=True)
                return
            button = parse_button(data)
            if isinstance(button, LatestPage):
                text, markup = await self._latest_page(button)
            elif isinstance(button, SearchPage):
                text, markup = await self._search_page(button)
            elif isinstance(button, Unsubscribe):
                text, markup = await self._unsubscribe_button(update, button)
            else:
                await query.answer()
                return
        except ValueError:
            await query.answer("无效的按钮")
            return
        await query.answer()
        try:
            await query.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    # ── subscriptions ────────────────────────────────────────────────────────

    async def _list_subscriptions(self, chat_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
        subs = await self.db(self.chats.subscriptions, chat_id)
        if not subs:
            return (
                "还没有订阅。用法：\n/subscribe 四川 — 四川的所有报道\n"
                "/subscribe 政策文件 — 各省的政策文件\n/subscribe 四川 政策文件 — 两者都满足\n"
                "/subscribe all — 全部相关报道"
            ), None
        lines = ["<b>当前订阅</b>"]
        buttons = []
        for s in subs:
            label = _subscription_label(s.province, s.category)
            lines.append(f"• {_esc(label)}")
            cancel = Unsubscribe(s.province, s.category)
            buttons.append([InlineKeyboardButton(f"取消 {label}", callback_data=cancel.data)])
        everything = Unsubscribe(None, None)
        buttons.append([InlineKeyboardButton("全部取消", callback_data=everything.data)])
        return "\n".join(lines), InlineKeyboardMarkup(buttons)

    async def cmd_subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        words = context.args or []
        if not words:
            text, markup = await self._list_subscriptions(chat.id)
            await self._reply(update, text, markup)
            return
        if not await self._admins_only(update, context):
            return
        wanted = parse_subscription(words)
        if wanted.unknown:
            await self._reply(
                update,
                f"不认识：{_esc('、'.join(wanted.unknown))}。省份如 四川、CN-GD，类别如 "
                + "、".join(CATEGORY_LABELS_ZH.values()),
            )
            return
        # The cap is checked before anything is added, so a refused /subscribe adds
        # nothing; PTB handles one update at a time, so no other command races it.
        have = {(s.province, s.category) for s in await self.db(self.chats.subscriptions, chat.id)}
        new = set(wanted.pairs()) - have
        if len(have) + len(new) > MAX_SUBSCRIPTIONS:
            await self._reply(
                update,
                f"订阅太多：一个聊天最多 {MAX_SUBSCRIPTIONS} 项，现有 {len(have)} 项，"
                f"这次要新增 {len(new)} 项，未做更改。可以少选几个省份或类别，"
                "或用 /subscribe all 订阅全部相关报道（算一项）。",
            )
            return
        user = update.effective_user
        added: list[str] = []
        had: list[str] = []
        now = self.clock()
        for province, category in wanted.pairs():
            user_id = user.id if user else None
            fresh = await self.db(self.chats.subscribe, chat.id, user_id, province, category, now)
            (added if fresh else had).append(_subscription_label(province, category))
        lines = []
        if added:
            lines.append("已订阅：" + "；".join(added) + "。之后发现的相关报道会发到这里。")
        if had:
            lines.append("已经订阅过：" + "；".join(had) + "。")
        await self._reply(update, _esc("\n".join(lines)))

    async def cmd_unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        words = context.args or []
        if not words:
            text, markup = await self._list_subscriptions(chat.id)
            await self._reply(update, text, markup)
            return
        if not await self._admins_only(update, context):
            return
        wanted = parse_subscription(words)
        if wanted.unknown:
            await self._reply(update, f"不认识：{_esc('、'.join(wanted.unknown))}。")
            return
        if wanted.everything:
            removed = await self.db(self.chats.unsubscribe, chat.id)
        else:
            removed = 0
            for province, category in wanted.pairs():
                removed += await self.db(self.chats.unsubscribe, chat.id, province, category)
        if removed:
            await self._reply(update, f"已取消 {removed} 项订阅。")
        else:
            text, markup = await self._list_subscriptions(chat.id)
            await self._reply(update, "没有这项订阅。\n\n" + text, markup)

    async def _unsubscribe_button(
        self, update: Update, button: Unsubscribe
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        chat = update.effective_chat
        if chat is None:
            raise ValueError(button.data)
        if button.province is None or button.category is None:
            await self.db(self.chats.unsubscribe, chat.id)
        else:
            await self.db(self.chats.unsubscribe, chat.id, button.province, button.category)
        text, markup = await self._list_subscriptions(chat.id)
        return text, markup

    # ── what is watched ──────────────────────────────────────────────────────

    async def cmd_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sources = list(self.config.sources)
        enabled = [s for s in sources if s.enabled]
        states = {s.source_id: s for s in await self.db(self.store.source_health)}
        unwell = []
        never = 0
        for source in enabled:
            state = states.get(source.id)
            if state is None or state.last_polled_at is None:
                never += 1
                continue
            if state.health_flags or state.consecutive_failures:
                unwell.append((source, state))
        kinds: dict[str, int] = {}
        for source in enabled:
            kinds[source.kind] = kinds.get(source.kind, 0) + 1
        lines = [
            f"<b>监测来源</b>：启用 {len(enabled)} 个（共 {len(sources)} 个）",
            "类型：" + "，".join(f"{k} {n}" for k, n in sorted(kinds.items())),
            f"正常 {len(enabled) - len(unwell) - never} · 异常 {len(unwell)} · 尚未抓取 {never}",
        ]
        if unwell:
            lines.append("")
        for source, state in unwell:
            flags = ", ".join(state.health_flags) or "failing"
            why = redact_url(state.last_error or state.health_note or "")
            failures = state.consecutive_failures
            detail = f"连续失败 {failures} 次" if failures else ""
            bits = "；".join(b for b in (detail, shorten(why, 120) if why else "") if b)
            lines.append(
                f"⚠️ <b>{_esc(source.id)}</b> {_esc(shorten(source.name, 40))}: {_esc(flags)}"
                + (f"（{_esc(bits)}）" if bits else "")
            )
        await self._reply(update, _fit(lines))

    async def cmd_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        now = self.clock()
        today = now.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
        # in UTC: SQLite compares stored UTC text with the bound as written
        totals = await self.db(self.chats.totals, today.astimezone(UTC))
        paused = await self.db(self.chats.paused)
        lines = [
            "<b>运行状态</b>",
            f"最近一次抓取：{_ago(totals.last_poll, now)}",
            f"今日发现报道：{totals.stories_since} 条（相关 {totals.relevant_since} 条）",
            f"待发送：{totals.pending} 条 · 今日发送失败：{totals.failed_since} 条",
            f"抓取出错的来源：{len(totals.sources_failing)} 个",
        ]
        for source_id, failures, error in totals.sources_failing[:10]:
            lines.append(
                f"• {_esc(source_id)}：连续 {failures} 次"
                + (f"（{_esc(shorten(redact_url(error), 100))}）" if error else "")
            )
        held = await self.db(self.chats.store.held_channels)
        for channel, (waiting, why, _since) in sorted(held.items()):
            if not channel.startswith(CHAT_PREFIX):
                lines.append(
                    f"⚠️ 频道 {_esc(channel)} 无法发送（{_esc(shorten(why, 100))}），"
                    f"{waiting} 条待修复后按序发出"
                )
        if paused:
            names = "全部频道" if ALL_CHANNELS in paused else "、".join(sorted(paused))
            lines.append(f"已暂停：{_esc(names)}")
        await self._reply(update, _fit(lines))

    # ── operators ────────────────────────────────────────────────────────────

    def _channel_arg(self, words: list[str]) -> str | None:
        """The channel a /pause or /resume names (or * for all); None when unknown."""
        try:
            return parse_channel(words, {c.id for c in self.config.channels})
        except Refused:
            return None

    def _who(self, update: Update) -> str:
        user = update.effective_user
        if user is None:
            return "?"
        return f"{user.id}" + (f" (@{user.username})" if user.username else "")

    async def cmd_pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._operator_only(update):
            return
        channel = self._channel_arg(context.args or [])
        if channel is None:
            await self._reply(update, self._channels_hint("/pause"))
            return
        new = await self.db(self.chats.pause, channel, self._who(update), self.clock())
        name = "全部频道" if channel == ALL_CHANNELS else channel
        log.warning("bot: %s paused %s", self._who(update), name)
        await self._reply(
            update,
            _esc(f"已暂停 {name}：新报道留在队列里，/resume 后按顺序发出。")
            if new
            else _esc(f"{name} 已经是暂停状态。"),
        )

    async def cmd_resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._operator_only(update):
            return
        channel = self._channel_arg(context.args or [])
        if channel is None:
            await self._reply(update, self._channels_hint("/resume"))
            return
        lifted = await self.db(self.chats.resume, channel)
        name = "全部频道" if channel == ALL_CHANNELS else channel
        log.warning("bot: %s resumed %s", self._who(update), name)
        if lifted and self.on_queued is not None:
            self.on_queued()
        await self._reply(
            update, _esc(f"已恢复 {name}。") if lifted else _esc(f"{name} 没有暂停。")
        )

    def _channels_hint(self, command: str) -> str:
        names = ", ".join(c.id for c in self.config.channels) or "（无）"
        return _esc(f"用法：{command} [频道]，频道为 {names}，不写则为全部。")

    async def cmd_resend(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._operator_only(update):
            return
        try:
            resend = parse_resend(context.args or [])
        except Refused:
            await self._reply(update, "用法：/resend 报道编号 [频道…]")
            return
        story_id = resend.story_id
        if story_id > MAX_ID or not await self.db(self.chats.story_exists, story_id):
            await self._reply(update, f"没有编号为 {story_id} 的报道。")
            return
        known = {c.id for c in self.config.channels if c.enabled}
        wanted = list(resend.channels)
        if unknown := resend.unknown(known):
            await self._reply(update, self._channels_hint("/resend " + str(story_id)))
            log.info("bot: /resend to unknown channels %s", unknown)
            return
        if not wanted:
            alerts = (await self.db(self.store.story_alerts, [story_id])).get(story_id, [])
            posted = {a.channel_id for a in alerts if a.kind == "post"}
            wanted = sorted(posted & known) or sorted(known)
        done = await self.db(self.chats.resend, story_id, wanted, self.clock())
        log.warning("bot: %s resent story %d to %s", self._who(update), story_id, ", ".join(done))
        if self.on_queued is not None:
            self.on_queued()
        await self._reply(update, _esc(f"报道 {story_id} 已重新排队发往：{', '.join(done)}。"))


def _fit(lines: list[str], limit: int = 4000) -> str:
    """Lines joined, the last ones dropped (with "…") until Telegram takes it."""
    text = "\n".join(lines)
    while telegram_length(text) > limit and len(lines) > 1:
        lines = lines[:-1]
        text = "\n".join([*lines, "…"])
    return text
