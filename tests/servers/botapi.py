"""A Telegram Bot API look-alike on 127.0.0.1 for tests.

It answers the few methods quality-monitor uses the way api.telegram.org does:
same URL layout (``{url}/bot{token}/{method}``), same JSON envelopes, same
error descriptions, and — most importantly — the same ``parse_mode=HTML``
rules and the same message-length arithmetic (UTF-16 code units of the text
after entity parsing), so a renderer that passes here passes there.

The HTML parser follows TDLib's ``parse_html`` (``td/telegram/MessageEntity.cpp``),
byte offsets included, with one deliberate difference, ``strict_entities``:
Telegram silently keeps an ``&`` that starts no valid entity (``AT&T``); in
strict mode (the default) this server rejects it, because an unescaped ``&``
in generated text is a bug even when Telegram forgives it (``&lt`` inside a
title would be decoded to ``<``).

Usage::

    with BotApiServer() as api:
        bot = telegram.Bot(api.token, base_url=f"{api.url}/bot")
        ...
        assert api.sent[-1]["text"] == "..."
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "DEFAULT_TOKEN",
    "MAX_MESSAGE_UNITS",
    "BotApiServer",
    "EntityParseError",
    "botapi_server",
    "parse_html",
    "utf16_units",
]

_log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST-token"
MAX_MESSAGE_UNITS = 4096  # Telegram's limit for a text message, in UTF-16 code units

# A token Telegram would route at all: digits, colon, then the secret. Anything
# else is not a bot URL and Telegram answers 404 rather than 401.
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# Keys that make a dict an Update rather than a bare Message.
_UPDATE_KINDS = frozenset(
    {
        "update_id",
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "inline_query",
        "my_chat_member",
        "chat_member",
    }
)
_BOT_PATH = re.compile(r"/bot[^/\s]*/")
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


# --------------------------------------------------------------------------- HTML


class EntityParseError(ValueError):
    """``parse_mode=HTML`` text Telegram would refuse; ``str()`` is TDLib's wording."""


_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_ALLOWED_TAGS = frozenset({"a", *_ENTITY_TYPES})
_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
# TDLib's is_space: note NUL counts, which is how its loops stop at the end of the text.
_SPACES = frozenset(b" \t\r\n\v\f\0")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALNUM = _ALPHA | _DIGITS


def utf16_units(text: str) -> int:
    """Length of ``text`` as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _at(data: bytes, i: int) -> int:
    # TDLib reads a NUL-terminated C string; reading past the end yields 0.
    return data[i] if i < len(data) else 0


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """TDLib's decode_html_entity: (code point, position after it), or (0, pos)."""
    end = pos + 1
    value = 0
    if _at(data, pos + 1) == ord("#"):
        end += 1
        if _at(data, pos + 2) == ord("x"):
            end += 1
            while _at(data, end) in _HEX:
                value = value * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while _at(data, end) in _DIGITS:
                value = value * 10 + data[end] - ord("0")
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while _at(data, end) in _ALPHA:
            end += 1
        named = _NAMED_ENTITIES.get(data[pos + 1 : end])
        if named is None:
            return 0, pos
        value = ord(named)
    if _at(data, end) == ord(";"):
        end += 1
    return value, end


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    begin: int  # index into the decoded text, for <a> without href


def _check_url(url: str) -> str | None:
    """The URL Telegram would link, or None (Telegram then drops the link silently)."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https", "ftp", "tg", "ton"):
        return url if (parts.netloc or scheme in ("tg", "ton")) else None
    if not scheme and "." in url:
        return "http://" + url
    return None


def parse_html(text: str, *, strict_entities: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``parse_mode=HTML`` text as Telegram does.

    Returns the visible text and its entities (Bot API dicts, UTF-16 offsets).
    Raises EntityParseError with TDLib's description (byte offsets into the
    UTF-8 text) when Telegram would answer "can't parse entities".
    """
    data = text.encode("utf-8", "surrogatepass")
    out: list[str] = []
    units = 0  # UTF-16 offset of the end of ``out``
    chars = 0  # len("".join(out))
    bad_code_point = False
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(data)
    i = 0
    while i < n:
        c = data[i]
        if c == ord("&"):
            value, after = _decode_entity(data, i)
            if value:
                if 0xD800 <= value <= 0xDFFF:
                    bad_code_point = True
                ch = chr(value)
                out.append(ch)
                chars += 1
                units += 2 if value > 0xFFFF else 1
                i = after
                continue
            if strict_entities:
                raise EntityParseError(
                    f'Character "&" at byte offset {i} does not start an entity; '
                    "escape it as &amp; (strict test server)"
                )
        if c != ord("<"):
            # Copy one whole UTF-8 character so ``out`` stays a str.
            width = 1 if c < 0x80 else 2 if c < 0xE0 else 3 if c < 0xF0 else 4
            ch = data[i : i + width].decode("utf-8", "surrogatepass")
            out.append(ch)
            chars += len(ch)
            units += utf16_units(ch)
            i += width
            continue

        begin = i
        i += 1
        if _at(data, i) != ord("/"):
            # A start tag.
            while _at(data, i) not in _SPACES and _at(data, i) != ord(">"):
                i += 1
            if _at(data, i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _ALLOWED_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while _at(data, i) != ord(">"):
                while _at(data, i) != 0 and _at(data, i) in _SPACES:
                    i += 1
                if _at(data, i) == ord(">"):
                    break
                name_begin = i
                while _at(data, i) not in _SPACES and _at(data, i) != ord("="):
                    i += 1
                attribute = data[name_begin:i].decode("utf-8", "replace")
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while _at(data, i) != 0 and _at(data, i) in _SPACES:
                    i += 1
                if _at(data, i) != ord("="):
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while _at(data, i) != 0 and _at(data, i) in _SPACES:
                    i += 1
                if _at(data, i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if _at(data, i) not in (ord("'"), ord('"')):
                    # An unquoted name token: letters, digits, periods, hyphens.
                    token_begin = i
                    while _at(data, i) in _ALNUM or _at(data, i) in (ord("."), ord("-")):
                        i += 1
                    value_text = data[token_begin:i].decode("ascii").lower()
                    if _at(data, i) not in _SPACES and _at(data, i) != ord(">"):
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = data[i]
                    i += 1
                    raw = bytearray()
                    while _at(data, i) != quote and _at(data, i) != 0:
                        if data[i] == ord("&"):
                            value, after = _decode_entity(data, i)
                            if value:
                                raw += chr(value).encode("utf-8", "surrogatepass")
                                i = after
                                continue
                        raw.append(data[i])
                        i += 1
                    if _at(data, i) == quote:
                        i += 1
                    value_text = raw.decode("utf-8", "replace")
                if _at(data, i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attribute == "href":
                    argument = value_text
                elif tag == "code" and attribute == "class" and value_text.startswith("language-"):
                    argument = value_text[len("language-") :]
                elif tag == "span" and attribute == "class" and value_text.startswith("tg-"):
                    argument = value_text[len("tg-") :]
                elif tag == "tg-emoji" and attribute == "emoji-id":
                    argument = value_text
                elif tag == "blockquote" and attribute == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            stack.append(_OpenTag(tag, argument, units, chars))
            i += 1  # past ">"
            continue

        # An end tag.
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while _at(data, i) not in _SPACES and _at(data, i) != ord(">"):
            i += 1
        end_name = data[begin + 2 : i].decode("utf-8", "replace").lower()
        while _at(data, i) != 0 and _at(data, i) in _SPACES:
            i += 1
        if _at(data, i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        open_tag = stack.pop()
        if end_name and end_name != open_tag.name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{open_tag.name}>", '
                f'found "</{end_name}>"'
            )
        length = units - open_tag.utf16_offset
        if length <= 0:
            continue  # Telegram drops empty entities without complaint
        entity: dict[str, Any] = {
            "type": _ENTITY_TYPES.get(open_tag.name, ""),
            "offset": open_tag.utf16_offset,
            "length": length,
        }
        if open_tag.name == "a":
            url = _check_url(open_tag.argument or "".join(out)[open_tag.begin :])
            if url is None:
                continue
            entity.update(type="text_link", url=url)
        elif open_tag.name == "code" and open_tag.argument:
            entity.update(type="pre", language=open_tag.argument)
        elif open_tag.name == "blockquote" and open_tag.argument:
            entity["type"] = "expandable_blockquote"
        elif open_tag.name == "tg-emoji":
            if not open_tag.argument:
                continue
            entity["custom_emoji_id"] = open_tag.argument
        entities.append(entity)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    if bad_code_point:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, keeping entity offsets right."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_units(text[: len(text) - len(text.lstrip())])
    total = utf16_units(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


# --------------------------------------------------------------------------- state


class _ApiError(Exception):
    """An error answer; raised inside method handlers, turned into JSON by the handler."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    members: dict[int, str] = field(default_factory=dict)  # user id → status (groups)
    # What the bot is in this chat (its getChatMember): "administrator", "member",
    # "left", "kicked"; in a private chat "member", or "blocked" by the user.
    bot_status: str = "administrator"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name"):  # not members: Telegram never says
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass
class _Fault:
    status: int
    retry_after: int
    description: str | None
    method: str | None
    parameters: dict[str, Any] | None = None


@dataclass
class _Stored:
    chat: _Chat
    message_id: int
    date: int
    text: str
    html: str
    entities: list[dict[str, Any]]
    edit_date: int | None = None
    link_preview_options: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None

    def as_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": self.chat.as_dict(),
            "text": self.text,
        }
        if self.chat.type == "channel":
            message["sender_chat"] = self.chat.as_dict()
        if self.entities:
            message["entities"] = copy.deepcopy(self.entities)
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if self.link_preview_options:
            message["link_preview_options"] = dict(self.link_preview_options)
        if self.reply_markup:
            message["reply_markup"] = copy.deepcopy(self.reply_markup)
        return message


@dataclass
class _Params:
    """Request parameters from query string and body, as Telegram reads them.

    Form and multipart values are strings (PTB JSON-encodes non-strings); a
    JSON body carries typed values. The accessors accept both.
    """

    values: dict[str, Any] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return key in self.values and self.values[key] not in (None, "")

    def get_str(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return json.dumps(value) if isinstance(value, dict | list | bool) else str(value)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            return default

    def get_bool(self, key: str) -> bool | None:
        value = self.values.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1")

    def get_json(self, key: str) -> Any:
        value = self.values.get(key)
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError:
                raise _ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
        return value


class BotApiServer:
    """A Bot API server on 127.0.0.1 (random port) that answers like Telegram.

    Thread-safe: the HTTP server runs in a daemon thread; the fault controls
    and records may be used from the test thread at any time.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        chats: Iterable[str | int] = ("@quality_test", -1001),
        strict_entities: bool = True,
        bot_username: str = "quality_test_bot",
    ) -> None:
        self._token = token
        self.strict_entities = strict_entities
        self.bot_username = bot_username
        self._lock = threading.RLock()
        self._updates_ready = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._chats: dict[int, _Chat] = {}
        self._usernames: dict[str, int] = {}
        self._next_channel_id = -1009000000001
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], _Stored] = {}
        self._sent: list[dict[str, Any]] = []
        self._edits: list[dict[str, Any]] = []
        self._calls: list[str] = []
        self._requests: list[dict[str, Any]] = []
        self._updates: deque[dict[str, Any]] = deque()
        self._next_update_id = 100000001
        self._commands: list[dict[str, Any]] = []
        self._scoped_commands: dict[str, list[dict[str, Any]]] = {}
        self._webhook: dict[str, Any] = {}
        self._callback_answers: list[dict[str, Any]] = []
        self.flood_rejections = 0  # 429 answers flood control gave (not fail_next ones)
        self._faults: deque[_Fault] = deque()
        self._delay = 0.0
        self._flood_per_chat: int | None = None
        self._flood_chat_window = 60.0
        self._flood_per_second: int | None = None
        self._flood_chat_times: dict[int, deque[float]] = {}
        self._flood_times: deque[float] = deque()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        for chat in chats:
            self.add_chat(chat)

    # ------------------------------------------------------------- lifecycle

    def start(self) -> BotApiServer:
        """Bind 127.0.0.1:0 and serve in a daemon thread. Returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        httpd.api = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"botapi-{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        with self._lock:
            self._updates_ready.notify_all()  # wake long polls
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL to use as TELEGRAM_API_URL; clients call ``{url}/bot{token}/{method}``."""
        if self._httpd is None:
            raise RuntimeError("BotApiServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token(self) -> str:
        """The only token this server accepts."""
        return self._token

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"BotApiServer({where})"

    # ------------------------------------------------------------- set-up

    def add_chat(self, chat: str | int, *, type: str = "channel", title: str | None = None) -> int:
        """Make a chat known (``"@name"`` or a numeric id); returns its numeric id."""
        with self._lock:
            if isinstance(chat, str) and chat.startswith("@"):
                username = chat[1:]
                if username.lower() in self._usernames:
                    return self._usernames[username.lower()]
                chat_id = self._next_channel_id
                self._next_channel_id -= 1
                record = _Chat(chat_id, type, title or f"Test {username}", username)
                self._usernames[username.lower()] = chat_id
            else:
                chat_id = int(chat)
                if chat_id in self._chats:
                    return chat_id
                if type == "private":
                    record = _Chat(chat_id, type, first_name=title or "Tester")
                else:
                    record = _Chat(chat_id, type, title or f"Test chat {chat_id}")
            if type != "channel":
                record.bot_status = "member"
            self._chats[chat_id] = record
            return chat_id

    def add_member(self, chat: str | int, user_id: int, status: str = "member") -> None:
        """Make ``user_id`` a member of a group with ``status`` (``creator``,
        ``administrator``, ``member``, ``restricted``, ``left``, ``kicked``), as
        ``getChatMember`` will report it."""
        if status not in _MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            found = self._resolve(chat)
            if found is None:
                raise KeyError(chat)
            found.members[user_id] = status

    def push_group_message(
        self, text: str, *, chat_id: int, user_id: int = 4242, title: str | None = None
    ) -> dict[str, Any]:
        """Queue a message a user writes in a group (made known, type ``supergroup``)."""
        self.add_chat(chat_id, type="supergroup", title=title)
        with self._lock:
            chat = self._chats[chat_id].as_dict()
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        return self.push_update({"message": {"from": user, "chat": chat, "text": text}})

    def set_bot_status(self, chat: str | int, status: str) -> None:
        """Make the bot ``administrator``, ``member``, ``left`` or ``kicked`` in a
        known chat, or (a private chat) ``blocked`` by its user. Sends then
        fail as Telegram's do: 403 "bot is not a member of the channel chat",
        "bot was kicked from the group chat", "bot was blocked by the user",
        or 400 "need administrator rights in the channel chat"."""
        if status not in ("administrator", "member", "left", "kicked", "blocked"):
            raise ValueError(status)
        with self._lock:
            found = self._resolve(chat)
            if found is None:
                raise KeyError(chat)
            found.bot_status = status

    def set_token(self, token: str) -> None:
        """Accept ``token`` from now on (and answer 401 to the old one): the
        operator fixed the token, or revoked it at @BotFather."""
        with self._lock:
            self._token = token

    def chat_id(self, chat: str | int) -> int:
        """The numeric id of a known chat (``"@name"``, ``"-1001"`` or ``-1001``)."""
        with self._lock:
            found = self._resolve(chat)
        if found is None:
            raise KeyError(chat)
        return found.id

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an Update for getUpdates and return it as queued.

        ``update`` is an Update (``{"message": {...}}``) or, for short, a bare
        Message. ``update_id`` is assigned when missing, and a message gets
        what Telegram always sends and the test left out (message_id, date, a
        private chat with a default user), so PTB can read it.
        """
        stored = copy.deepcopy(update)
        if not _UPDATE_KINDS & stored.keys() and ("text" in stored or "chat" in stored):
            stored = {"message": stored}
        for kind in ("message", "edited_message"):
            if isinstance(stored.get(kind), dict):
                stored[kind] = self._complete_message(stored[kind])
        with self._lock:
            if "update_id" not in stored:
                stored["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, stored["update_id"]) + 1
            self._updates.append(stored)
            self._updates_ready.notify_all()
            return copy.deepcopy(stored)

    def push_message(
        self,
        text: str,
        *,
        user_id: int = 4242,
        first_name: str = "Tester",
        username: str | None = "tester",
    ) -> dict[str, Any]:
        """Queue a private-chat text message from a user (as an Update); returns it.

        A leading ``/command`` gets its ``bot_command`` entity, as Telegram adds one.
        The private chat becomes known, so the bot may answer with sendMessage.
        """
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        return self.push_update({"message": {"from": user, "text": text}})

    def push_callback(
        self, data: str, *, message_id: int, user_id: int = 4242, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a press on an inline button of a message the bot sent; returns the Update."""
        chat = user_id if chat_id is None else chat_id
        user = {"id": user_id, "is_bot": False, "first_name": "Tester", "username": "tester"}
        with self._lock:
            query_id = str(self._next_update_id * 7)
        return self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "chat_instance": f"ci-{chat}",
                    "data": data,
                    "message": self.message(chat, message_id),
                }
            }
        )

    def _complete_message(self, message: dict[str, Any]) -> dict[str, Any]:
        user = message.setdefault(
            "from",
            {"id": 4242, "is_bot": False, "first_name": "Tester", "username": "tester"},
        )
        user.setdefault("is_bot", False)
        user.setdefault("first_name", "Tester")
        user.setdefault("language_code", "zh-hans")
        chat = message.setdefault("chat", {"id": user["id"], "type": "private"})
        if chat.get("type") == "private":
            chat.setdefault("first_name", user["first_name"])
            if user.get("username"):
                chat.setdefault("username", user["username"])
            self.add_chat(chat["id"], type="private", title=chat["first_name"])
        message.setdefault("date", int(time.time()))
        if "message_id" not in message:
            with self._lock:
                message["message_id"] = self._take_message_id(int(chat["id"]))
        text = message.get("text")
        command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text) if text else None
        if command and "entities" not in message:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_units(command.group())}
            ]
        return message

    # ------------------------------------------------------------- faults

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        retry_after: int = 1,
        description: str | None = None,
        *,
        method: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Make the next ``count`` calls (of ``method``, or any) fail with ``status``.

        429 answers carry ``parameters.retry_after``; 502 and 504 answer with
        nginx's HTML page, as Telegram's front end does; others answer with the
        JSON error envelope, plus ``parameters`` when given (for example
        ``{"migrate_to_chat_id": -100123}``).
        """
        with self._lock:
            for _ in range(count):
                self._faults.append(
                    _Fault(
                        status,
                        retry_after,
                        description,
                        method.lower() if method else None,
                        dict(parameters) if parameters else None,
                    )
                )

    def flood_limit(
        self,
        per_chat_per_minute: int | None = 20,
        per_second: int | None = 30,
        *,
        chat_window: float = 60.0,
    ) -> None:
        """Turn on flood control for sendMessage/editMessageText (None turns a limit off).

        ``chat_window`` shrinks Telegram's one-minute window of the per-chat
        limit, so a test can check pacing without waiting minutes (20 posts per
        0.5 s asks for the same spacing as 20 a minute, 120 times faster).
        """
        with self._lock:
            self._flood_per_chat = per_chat_per_minute
            self._flood_chat_window = chat_window
            self._flood_per_second = per_second
            self._flood_chat_times.clear()
            self._flood_times.clear()

    def delay(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each request (0 turns it off)."""
        with self._lock:
            self._delay = max(0.0, seconds)

    def reset_faults(self) -> None:
        """Forget pending fail_next faults, the delay and flood control."""
        with self._lock:
            self._faults.clear()
            self._delay = 0.0
        self.flood_limit(None, None)

    # ------------------------------------------------------------- records

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Successful sendMessage calls, oldest first (a snapshot)."""
        with self._lock:
            return copy.deepcopy(self._sent)

    @property
    def edits(self) -> list[dict[str, Any]]:
        """Successful editMessageText calls, oldest first (a snapshot)."""
        with self._lock:
            return copy.deepcopy(self._edits)

    @property
    def calls(self) -> list[str]:
        """Method names of every call that reached a bot URL, in order, failed ones too."""
        with self._lock:
            return list(self._calls)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every call with how it arrived: method, http_method, content_type, params."""
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def messages(self) -> dict[tuple[str | int, int], str]:
        """Current text of every message, keyed by (chat, message_id).

        Each message appears under every name of its chat: the numeric id as
        int and as str, and ``"@username"`` when the chat has one.
        """
        with self._lock:
            view: dict[tuple[str | int, int], str] = {}
            for (chat_id, message_id), stored in self._messages.items():
                view[(chat_id, message_id)] = stored.text
                view[(str(chat_id), message_id)] = stored.text
                if stored.chat.username:
                    view[(f"@{stored.chat.username}", message_id)] = stored.text
            return view

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The bot commands last set with setMyCommands for the default scope."""
        with self._lock:
            return copy.deepcopy(self._commands)

    @property
    def scoped_commands(self) -> dict[str, list[dict[str, Any]]]:
        """Every command list set, keyed by its scope as sorted JSON."""
        with self._lock:
            return copy.deepcopy(self._scoped_commands)

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls, oldest first."""
        with self._lock:
            return copy.deepcopy(self._callback_answers)

    @property
    def webhook(self) -> dict[str, Any]:
        """What setWebhook last set (empty after deleteWebhook)."""
        with self._lock:
            return copy.deepcopy(self._webhook)

    def message(self, chat: str | int, message_id: int) -> dict[str, Any]:
        """A stored message as getUpdates would show it (reply_markup included)."""
        with self._lock:
            found = self._resolve(chat)
            if found is None or (found.id, message_id) not in self._messages:
                raise KeyError((chat, message_id))
            return self._messages[(found.id, message_id)].as_message()

    # ------------------------------------------------------------- internals

    def _resolve(self, chat: object) -> _Chat | None:
        if chat is None:
            return None
        text = str(chat).strip()
        if text.startswith("@"):
            chat_id = self._usernames.get(text[1:].lower())
            return None if chat_id is None else self._chats[chat_id]
        try:
            return self._chats.get(int(text))
        except ValueError:
            return None

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method is None or fault.method == method.lower():
                    self._faults.remove(fault)
                    return fault
        return None

    def _check_flood(self, chat_id: int) -> None:
        now = time.monotonic()
        if self._flood_per_second:
            while self._flood_times and now - self._flood_times[0] >= 1.0:
                self._flood_times.popleft()
            if len(self._flood_times) >= self._flood_per_second:
                self.flood_rejections += 1
                raise _flood_error(1)
        if self._flood_per_chat:
            times = self._flood_chat_times.setdefault(chat_id, deque())
            window = self._flood_chat_window
            while times and now - times[0] >= window:
                times.popleft()
            if len(times) >= self._flood_per_chat:
                self.flood_rejections += 1
                raise _flood_error(max(1, math.ceil(times[0] + window - now)))
        if self._flood_per_second or self._flood_per_chat:
            self._flood_times.append(now)
            self._flood_chat_times.setdefault(chat_id, deque()).append(now)

    def _formatted(self, params: _Params) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get_str("text")
        if not raw:
            raise _ApiError(400, "Bad Request: message text is empty")
        parse_mode = (params.get_str("parse_mode") or "").strip().lower()
        if parse_mode == "html":
            try:
                text, entities = parse_html(raw, strict_entities=self.strict_entities)
            except EntityParseError as exc:
                raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        elif parse_mode in ("", "none"):
            text, entities = raw, []
        elif parse_mode in ("markdown", "markdownv2"):
            # Not emulated: better a loud refusal than a silently wrong acceptance.
            raise _ApiError(400, "Bad Request: can't parse entities: test server speaks HTML only")
        else:
            raise _ApiError(400, "Bad Request: unsupported parse_mode")
        text, entities = _strip_text(text, entities)
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_units(text) > MAX_MESSAGE_UNITS:
            raise _ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _reply_markup(self, params: _Params) -> dict[str, Any] | None:
        markup = params.get_json("reply_markup")
        if markup is not None and not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and len(str(data).encode("utf-8")) > 64:
                        raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _link_preview(self, params: _Params) -> dict[str, Any] | None:
        options = params.get_json("link_preview_options")
        if options is not None and not isinstance(options, dict):
            raise _ApiError(400, "Bad Request: can't parse link preview options")
        return options

    def _check_may_post(self, chat: _Chat) -> None:
        """Refuse a post where the bot may not write, with Telegram's words."""
        kind = "channel" if chat.type == "channel" else "group"
        if chat.bot_status == "blocked":
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.bot_status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if chat.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        if chat.type == "channel" and chat.bot_status != "administrator":
            raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")

    # ------------------------------------------------------------- methods

    def _get_chat(self, params: _Params) -> Any:
        with self._lock:
            chat = self._resolve(params.get_str("chat_id"))
            if chat is None or (chat.bot_status in ("left", "kicked") and chat.type != "channel"):
                raise _ApiError(400, "Bad Request: chat not found")
            data = chat.as_dict()
        data["accent_color_id"] = 0
        data["max_reaction_count"] = 11
        return data

    def _bot_member(self, chat: _Chat) -> Any:
        """The bot's own ChatMember in ``chat`` (what the channel checks ask)."""
        bot_id = int(self._token.split(":", 1)[0])
        status = chat.bot_status
        user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Quality Test Bot",
            "username": self.bot_username,
        }
        if status == "administrator":
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": False,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_post_messages": True,
                "can_edit_messages": True,
            }
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": "left" if status == "blocked" else status, "user": user}

    def _get_me(self, params: _Params) -> Any:
        return {
            "id": int(self._token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Quality Test Bot",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: _Params) -> Any:
        if not params.has("chat_id"):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        raw_text = params.get_str("text")
        if not raw_text:
            raise _ApiError(400, "Bad Request: message text is empty")
        with self._lock:
            chat = self._resolve(params.get_str("chat_id"))
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        self._check_may_post(chat)
        text, entities = self._formatted(params)
        preview = self._link_preview(params)
        markup = self._reply_markup(params)
        with self._lock:
            self._check_flood(chat.id)
            stored = _Stored(
                chat=chat,
                message_id=self._take_message_id(chat.id),
                date=int(time.time()),
                text=text,
                html=raw_text,
                entities=entities,
                link_preview_options=preview,
                reply_markup=markup,
            )
            self._messages[(chat.id, stored.message_id)] = stored
            self._sent.append(
                {
                    "chat_id": params.get_str("chat_id"),
                    "chat": chat.id,
                    "message_id": stored.message_id,
                    "text": text,
                    "html": raw_text,
                    "entities": copy.deepcopy(entities),
                    "parse_mode": params.get_str("parse_mode"),
                    "disable_web_page_preview": params.get_bool("disable_web_page_preview"),
                    "link_preview_options": preview,
                    "reply_markup": copy.deepcopy(markup),
                    "time": time.time(),
                }
            )
            return stored.as_message()

    def _edit_message_text(self, params: _Params) -> Any:
        if params.has("inline_message_id"):
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        if not params.has("chat_id"):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        raw_text = params.get_str("text")
        if not raw_text:
            raise _ApiError(400, "Bad Request: message text is empty")
        with self._lock:
            chat = self._resolve(params.get_str("chat_id"))
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        self._check_may_post(chat)
        message_id = params.get_int("message_id")
        if message_id is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        text, entities = self._formatted(params)
        preview = self._link_preview(params)
        markup = self._reply_markup(params)
        with self._lock:
            stored = self._messages.get((chat.id, message_id))
            if stored is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            same = (stored.text, stored.entities, stored.reply_markup) == (text, entities, markup)
            if same:
                raise _ApiError(400, _NOT_MODIFIED)
            self._check_flood(chat.id)
            stored.text, stored.html, stored.entities = text, raw_text, entities
            stored.reply_markup = markup
            stored.edit_date = int(time.time())
            if preview is not None:
                stored.link_preview_options = preview
            self._edits.append(
                {
                    "chat_id": params.get_str("chat_id"),
                    "chat": chat.id,
                    "message_id": message_id,
                    "text": text,
                    "html": raw_text,
                    "entities": copy.deepcopy(entities),
                    "parse_mode": params.get_str("parse_mode"),
                    "link_preview_options": preview,
                    "reply_markup": copy.deepcopy(markup),
                    "time": time.time(),
                }
            )
            return stored.as_message()

    def _answer_callback_query(self, params: _Params) -> Any:
        query_id = params.get_str("callback_query_id")
        if not query_id:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired")
        with self._lock:
            self._callback_answers.append(
                {"callback_query_id": query_id, "text": params.get_str("text")}
            )
        return True

    def _set_webhook(self, params: _Params) -> Any:
        url = params.get_str("url") or ""
        if url and not url.startswith("https://"):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        with self._lock:
            self._webhook = {
                "url": url,
                "secret_token": params.get_str("secret_token"),
                "allowed_updates": params.get_json("allowed_updates"),
            }
        return True

    def _get_webhook_info(self, params: _Params) -> Any:
        with self._lock:
            return {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _get_updates(self, params: _Params) -> Any:
        offset = params.get_int("offset")
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_int("timeout", 0) or 0, 0)
        deadline = time.monotonic() + timeout
        with self._updates_ready:
            if offset is not None and offset < 0:
                # "-N": keep the last N updates, forget the rest.
                while len(self._updates) > -offset:
                    self._updates.popleft()
            elif offset is not None:
                # Asking from ``offset`` confirms everything before it.
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()
            while not self._updates and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._updates_ready.wait(remaining)
            return [copy.deepcopy(u) for u in list(self._updates)[:limit]]

    def _delete_webhook(self, params: _Params) -> Any:
        with self._lock:
            self._webhook = {}
            if params.get_bool("drop_pending_updates"):
                self._updates.clear()
        return True

    def _set_my_commands(self, params: _Params) -> Any:
        commands = params.get_json("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, 'Bad Request: parameter "commands" is required')
        scope = params.get_json("scope") or {"type": "default"}
        key = json.dumps(scope, sort_keys=True)
        with self._lock:
            if scope.get("type", "default") == "default":
                self._commands = commands
            self._scoped_commands[key] = commands
        return True

    def _get_my_commands(self, params: _Params) -> Any:
        return self.commands

    def _get_chat_member(self, params: _Params) -> Any:
        """A ChatMember object as Telegram's, every field PTB requires included; a user
        who is not in the group is ``left``, as Telegram reports one it knows."""
        user_id = params.get_int("user_id")
        if user_id is None:
            raise _ApiError(400, "Bad Request: user_id is empty")
        with self._lock:
            chat = self._resolve(params.get_str("chat_id"))
            if chat is None:
                raise _ApiError(400, "Bad Request: chat not found")
            if user_id == int(self._token.split(":", 1)[0]):
                return self._bot_member(chat)
            if chat.type == "private":
                status = "member" if user_id == chat.id else "left"
            else:
                status = chat.members.get(user_id, "left")
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_pin_messages=True,
                can_manage_topics=False,
            )
        elif status == "restricted":
            member.update(
                is_member=True,
                can_send_messages=True,
                can_send_audios=True,
                can_send_documents=True,
                can_send_photos=True,
                can_send_videos=True,
                can_send_video_notes=True,
                can_send_voice_notes=True,
                can_send_polls=False,
                can_send_other_messages=False,
                can_add_web_page_previews=False,
                can_change_info=False,
                can_invite_users=False,
                can_pin_messages=False,
                can_manage_topics=False,
                can_edit_tag=False,
                can_react_to_messages=True,
                until_date=0,
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    _METHODS: ClassVar[dict[str, Callable[[BotApiServer, _Params], Any]]] = {
        "getme": _get_me,
        "getchat": _get_chat,
        "sendmessage": _send_message,
        "editmessagetext": _edit_message_text,
        "getupdates": _get_updates,
        "deletewebhook": _delete_webhook,
        "setmycommands": _set_my_commands,
        "getmycommands": _get_my_commands,
        "getchatmember": _get_chat_member,
        "answercallbackquery": _answer_callback_query,
        "setwebhook": _set_webhook,
        "getwebhookinfo": _get_webhook_info,
    }

    def _dispatch(
        self, path: str, params: _Params, http_method: str, content_type: str
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body)."""
        with self._lock:
            delay = self._delay
        if delay:
            time.sleep(delay)
        match = re.fullmatch(r"/bot([^/]*)/([^/]+)/?", path)
        if match is None:
            return _json_answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = match.groups()
        with self._lock:
            self._calls.append(method)
            self._requests.append(
                {
                    "method": method,
                    "http_method": http_method,
                    "content_type": content_type,
                    "params": copy.deepcopy(params.values),
                }
            )
        fault = self._take_fault(method)
        if fault is not None:
            return _fault_answer(fault)
        if not _TOKEN_SHAPE.match(token):
            return _json_answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if token != self._token:
            return _json_answer(
                401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        handler = self._METHODS.get(method.lower())
        if handler is None:
            return _json_answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            result = handler(self, params)
        except _ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.status,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return _json_answer(exc.status, body)
        answer: dict[str, Any] = {"ok": True, "result": result}
        if method.lower() == "deletewebhook":
            answer["description"] = "Webhook is already deleted"
        return _json_answer(200, answer)


def _flood_error(retry_after: int) -> _ApiError:
    return _ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


def _json_answer(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return status, {"Content-Type": "application/json"}, data


_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _fault_answer(fault: _Fault) -> tuple[int, dict[str, str], bytes]:
    phrase = HTTPStatus(fault.status).phrase
    if fault.status == 429:
        err = _flood_error(fault.retry_after)
        body: dict[str, Any] = {
            "ok": False,
            "error_code": 429,
            "description": fault.description or err.description,
            "parameters": err.parameters,
        }
        return _json_answer(429, body)
    if fault.status in (502, 504) and fault.description is None:
        page = _NGINX_PAGE.format(code=fault.status, phrase=phrase).encode("ascii")
        return fault.status, {"Content-Type": "text/html"}, page
    answer: dict[str, Any] = {
        "ok": False,
        "error_code": fault.status,
        "description": fault.description or phrase,
    }
    if fault.parameters:
        answer["parameters"] = fault.parameters
    return _json_answer(fault.status, answer)


# --------------------------------------------------------------------------- HTTP


class _HttpServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can end keep-alive handlers at once.

    A keep-alive handler thread blocks reading the next request until its
    client hangs up; a client that never closes would otherwise leave the
    socket open past the test (a ResourceWarning under filterwarnings=error).
    """

    daemon_threads = True
    allow_reuse_address = True
    api: BotApiServer

    def server_activate(self) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self, timeout: float = 2.0) -> None:
        """Hang up on every client and wait for the handlers to close their sockets."""
        with self.connections_lock:
            open_now = list(self.connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.connections_lock:
                if not self.connections:
                    return
            time.sleep(0.01)


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        try:
            value = json.loads(body)
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON object") from None
        return value if isinstance(value, dict) else {}
    if kind == "multipart/form-data":
        header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
        message = BytesParser(policy=HTTP).parsebytes(header + body)
        values: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = b""
            # A part with a filename is an upload; anything else is a parameter.
            values[name] = payload if part.get_filename() else payload.decode("utf-8")
        return values
    # application/x-www-form-urlencoded, and Telegram's fallback for anything else
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    # Headers and body go out in two writes; with Nagle's algorithm the body
    # waits for the client's delayed ACK of the headers: 40 ms per call.
    disable_nagle_algorithm = True
    server: _HttpServer
    server_version = "nginx/1.18.0"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        # Like any access log, it would print tokens; tests look for leaks in logs.
        line = _BOT_PATH.sub("/bot<token>/", format % args)
        _log.debug("botapi: %s", line)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        api = self.server.api
        parts = urlsplit(self.path)
        content_type = self.headers.get("Content-Type", "")
        try:
            body = self._read_body()
            values: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
            values.update(_parse_body(content_type, body))
            status, headers, data = api._dispatch(
                parts.path, _Params(values), self.command, content_type
            )
        except _ApiError as exc:
            status, headers, data = _json_answer(
                exc.status, {"ok": False, "error_code": exc.status, "description": exc.description}
            )
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


@contextlib.contextmanager
def botapi_server(**kwargs: Any) -> Iterator[BotApiServer]:
    """A started BotApiServer for the duration of a ``with`` block (for fixtures)."""
    server = BotApiServer(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
