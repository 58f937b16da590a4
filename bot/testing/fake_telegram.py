"""A small fake Telegram Bot API server on 127.0.0.1, for tests and benchmarks.

Point a bot at it with `PUFA_TELEGRAM_API_URL=<fake.url>` and `PUFA_TELEGRAM_TOKEN=<fake.token>`
(or `Application.builder().base_url(f"{fake.url}/bot")`). It speaks enough of the Bot API
for python-telegram-bot: getMe, getUpdates (long polling), setWebhook / deleteWebhook (and then
POSTs updates to the webhook with the secret header), send* methods, answerCallbackQuery,
setMyCommands, editMessage*, close / logOut. Unknown methods answer 404 as Telegram does.

What a test (or a broadcast benchmark) can do:

* script users: `push(text_update(chat, "你好"))`, `push(callback_update(chat, "help"))`,
  photos, documents, voice, stickers, locations, `blocked_update(chat)`;
* inspect: `messages_to(chat)` (every accepted send to a chat, in order), `attempts_to(chat)`
  (accepted and refused, with times), `calls(method)`, `sent_count()`, `commands`,
  `callback_answers`; wait with `wait_for_messages(chat, n)` / `wait_until(predicate)`;
* inject failures per chat: `block(chat)` → 403 Forbidden, `flood(chat, retry_after, times)` →
  429 with `retry_after`, `fail(chat, code, description, times)` → any other error.

Everything is thread-safe: the server runs in daemon threads, so sync tests, asyncio code in the
same process and a bot in a subprocess can all use it. For benchmarks, `RemoteFakeBotAPI` has
the same interface but runs the server in a process of its own (so it does not compete with the
bot under measurement for the GIL), driven over a small control API (`/_fake/push`, `sent`,
`attempts`, `block`, `flood`, `fail`, `stats`); standalone: `python -m bot.testing.fake_telegram
--port 8081`.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import itertools
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlparse

DEFAULT_TOKEN = "123456789:FAKE-telegram-token_for-tests"
JSON_PARAMETERS = {
    "reply_markup",
    "commands",
    "allowed_updates",
    "entities",
    "caption_entities",
    "scope",
    "link_preview_options",
    "reply_parameters",
    "media",
}
INTEGER_PARAMETERS = {"chat_id", "offset", "limit", "timeout", "message_id", "max_connections"}
SEND_METHODS = {
    "sendmessage": "text",
    "sendphoto": "photo",
    "senddocument": "document",
    "sendvoice": "voice",
    "sendaudio": "audio",
    "sendvideo": "video",
    "sendanimation": "animation",
    "sendsticker": "sticker",
    "sendlocation": "location",
}
EDIT_METHODS = {"editmessagetext", "editmessagereplymarkup", "editmessagecaption"}
MAX_POLL_SECONDS = 50.0


@dataclass
class SentMessage:
    """One send* call the server accepted (or refused, in `attempts_to`)."""

    method: str
    chat_id: int | str
    params: dict[str, Any]
    at: float
    message_id: int | None = None
    status: int = 200
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message text, or the caption of a file."""
        return self.params.get("text") or self.params.get("caption") or ""

    @property
    def keyboard(self) -> list[list[dict]]:
        markup = self.params.get("reply_markup") or {}
        return markup.get("inline_keyboard", [])

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of the inline keyboard, row by row."""
        return [(b["text"], b.get("callback_data", "")) for row in self.keyboard for b in row]

    def file(self) -> tuple[str, bytes] | None:
        """(filename, content) of an uploaded photo or document."""
        return next(iter(self.files.values()), None)

    def to_json(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "files"}
        data["files"] = {k: [n, base64.b64encode(c).decode()] for k, (n, c) in self.files.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> SentMessage:
        files = {k: (n, base64.b64decode(c)) for k, (n, c) in data.pop("files", {}).items()}
        return cls(**data, files=files)


@dataclass
class _Fault:
    code: int
    description: str
    parameters: dict | None = None


class FakeBotAPI:
    """The fake server. Use as a context manager or call start() / stop()."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "pufa_test_bot",
        latency: float = 0.0,
        first_update_id: int = 1,
    ) -> None:
        self.token = token
        self.first_update_id = first_update_id
        self.latency = latency  # seconds each call takes (but getUpdates), like a far server
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.username = username
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._updates: list[dict] = []
        self._polling_faults: list[_Fault] = []
        self.files: dict[str, bytes] = {}  # file_id → content, for getFile and downloads
        self._update_ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._calls: list[tuple[str, dict]] = []
        self._call_counts: dict[str, int] = defaultdict(int)
        self._sent: dict[int | str, list[SentMessage]] = defaultdict(list)
        self._attempts: dict[int | str, list[SentMessage]] = defaultdict(list)
        self._sent_total = 0
        self._blocked: set[int | str] = set()
        self._faults: dict[int | str, deque[_Fault]] = defaultdict(deque)
        self.commands: dict[str, list[dict]] = {}
        self.callback_answers: list[dict] = []
        self.webhook: dict | None = None
        self.webhook_responses: list[int] = []
        self._webhook_queue: queue.Queue[dict | None] = queue.Queue()
        self._webhook_thread: threading.Thread | None = None
        self._record_calls = True
        self._stopping = False

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> FakeBotAPI:
        handler = _make_handler(self)
        self._server = _Server((self._host, self._port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-telegram", daemon=True
        )
        self._thread.start()
        self._webhook_thread = threading.Thread(
            target=self._webhook_loop, name="fake-telegram-webhook", daemon=True
        )
        self._webhook_thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._webhook_queue.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The Bot API base URL (what PUFA_TELEGRAM_API_URL takes)."""
        return f"http://{self._host}:{self.port}"

    def record_calls(self, enabled: bool) -> None:
        """Keep (or stop keeping) the parameters of every call; counts are always kept.
        A large benchmark may turn this off to save memory; sends are still recorded."""
        self._record_calls = enabled

    # --- scripting users -------------------------------------------------------------------------
    def push(self, update: dict) -> dict:
        """Queue an update for getUpdates, or POST it to the webhook if one is set."""
        self.push_many([update])
        return update

    def push_many(self, updates: list[dict]) -> None:
        """Queue several updates at once (one wake-up for the long poll)."""
        with self._cond:
            self._updates.extend(updates)
            webhook = self.webhook
            self._cond.notify_all()
        if webhook is not None:
            for update in updates:
                self._webhook_queue.put(update)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def user(self, user_id: int, first_name: str = "测试用户", **extra: Any) -> dict:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "zh-hans",
            **extra,
        }

    def chat(self, chat_id: int, first_name: str = "测试用户") -> dict:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": first_name}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "测试群"}

    def message(
        self, chat_id: int, *, from_id: int | None = None, first_name: str = "测试用户", **content
    ) -> dict:
        """A user's message (content: text=..., photo=[...], document={...}, ...)."""
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id, first_name),
            "from": self.user(from_id or chat_id, first_name),
            **content,
        }

    def text_update(self, chat_id: int, text: str, **kwargs: Any) -> dict:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._update(message=self.message(chat_id, **kwargs, **content))

    def photo_update(self, chat_id: int, caption: str | None = None, **kwargs: Any) -> dict:
        sizes = [
            {"file_id": f"photo-{chat_id}-{w}", "file_unique_id": f"u{w}", "width": w, "height": w}
            for w in (90, 320, 1280)
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._update(message=self.message(chat_id, **kwargs, **content))

    def document_update(
        self, chat_id: int, file_name: str = "合同.pdf", mime_type: str = "application/pdf", **kw
    ) -> dict:
        document = {
            "file_id": f"doc-{chat_id}",
            "file_unique_id": "udoc",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": 1024,
        }
        return self._update(message=self.message(chat_id, **kw, document=document))

    def voice_update(self, chat_id: int, duration: int = 3, **kwargs: Any) -> dict:
        voice = {"file_id": f"voice-{chat_id}", "file_unique_id": "uv", "duration": duration}
        return self._update(message=self.message(chat_id, **kwargs, voice=voice))

    def sticker_update(self, chat_id: int, emoji: str = "👍", **kwargs: Any) -> dict:
        sticker = {
            "file_id": f"sticker-{chat_id}",
            "file_unique_id": "us",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._update(message=self.message(chat_id, **kwargs, sticker=sticker))

    def location_update(self, chat_id: int, latitude: float, longitude: float, **kw) -> dict:
        location = {"latitude": latitude, "longitude": longitude}
        return self._update(message=self.message(chat_id, **kw, location=location))

    def callback_update(
        self,
        chat_id: int,
        data: str,
        *,
        from_id: int | None = None,
        message: dict | None = None,
        first_name: str = "测试用户",
    ) -> dict:
        """A button press. The pressed message is the latest one sent to the chat whose
        keyboard has `data` (as Telegram would send it), unless `message` is given."""
        if message is None:
            message = self._message_with_button(chat_id, data)
        query = {
            "id": str(next(self._callback_ids)),
            "from": self.user(from_id or chat_id, first_name),
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": message,
        }
        return self._update(callback_query=query)

    def blocked_update(self, chat_id: int, status: str = "kicked") -> dict:
        """The user blocked ('kicked') or unblocked ('member') the bot in a private chat."""
        bot = {"id": self.bot_id, "is_bot": True, "first_name": "普法助手"}
        old = "member" if status == "kicked" else "kicked"
        member = {
            "chat": self.chat(chat_id),
            "from": self.user(chat_id),
            "date": int(time.time()),
            "old_chat_member": {"user": bot, "status": old, **_until(old)},
            "new_chat_member": {"user": bot, "status": status, **_until(status)},
        }
        return self._update(my_chat_member=member)

    def _update(self, **content: Any) -> dict:
        return {"update_id": self.next_update_id(), **content}

    def _message_with_button(self, chat_id: int, data: str) -> dict:
        with self._cond:
            for sent in reversed(self._sent.get(chat_id, [])):
                if any(d == data for _, d in sent.buttons):
                    return self._message_object(sent)
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self._bot_user(),
            "text": "（按钮消息）",
        }

    # --- failure injection -----------------------------------------------------------------------
    def block(self, chat_id: int | str) -> None:
        """Every send to the chat answers 403 'bot was blocked by the user'."""
        with self._cond:
            self._blocked.add(_chat_key(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        with self._cond:
            self._blocked.discard(_chat_key(chat_id))

    def flood(self, chat_id: int | str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` sends to the chat answer 429 with `retry_after` seconds."""
        fault = _Fault(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )
        self._add_faults(chat_id, fault, times)

    def fail(self, chat_id: int | str, code: int, description: str, times: int = 1) -> None:
        """The next `times` sends to the chat answer `code` (400 BadRequest, 502 …)."""
        self._add_faults(chat_id, _Fault(code, description), times)

    def fail_polling(self, code: int, description: str, times: int = 1) -> None:
        """The next `times` getUpdates calls answer `code` (502 Bad Gateway, 409 Conflict …)."""
        with self._cond:
            self._polling_faults.extend([_Fault(code, description)] * times)

    def _add_faults(self, chat_id: int | str, fault: _Fault, times: int) -> None:
        with self._cond:
            self._faults[_chat_key(chat_id)].extend([fault] * times)

    # --- inspection --------------------------------------------------------------------------------
    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        """Every send the server accepted for this chat, in order."""
        with self._cond:
            return list(self._sent.get(_chat_key(chat_id), []))

    def attempts_to(self, chat_id: int | str) -> list[SentMessage]:
        """Every send tried for this chat, refused ones included (see `.status`)."""
        with self._cond:
            return list(self._attempts.get(_chat_key(chat_id), []))

    def chats(self) -> list[int | str]:
        """Chats that received at least one message."""
        with self._cond:
            return list(self._sent)

    def chat_count(self) -> int:
        """How many chats received at least one message."""
        with self._cond:
            return len(self._sent)

    def sent_count(self) -> int:
        with self._cond:
            return self._sent_total

    def calls(self, method: str) -> list[dict]:
        """Parameters of every call of `method` (case-insensitive), in order."""
        name = method.lower()
        with self._cond:
            return [params for called, params in self._calls if called == name]

    def call_count(self, method: str) -> int:
        with self._cond:
            return self._call_counts[method.lower()]

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every call the server gets)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fake Bot API: condition not met in {timeout}s")
                self._cond.wait(min(remaining, 0.1))

    def wait_for_messages(
        self, chat_id: int | str, count: int = 1, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Wait until the chat has received `count` messages; return them all."""
        return self.wait_until(
            lambda: (sent := self.messages_to(chat_id)) and len(sent) >= count and sent, timeout
        )

    def wait_for_sent_count(self, total: int, timeout: float = 60.0) -> None:
        self.wait_until(lambda: self.sent_count() >= total, timeout)

    # --- the API -----------------------------------------------------------------------------------
    def handle(self, method: str, params: dict, files: dict) -> tuple[int, dict]:
        """Answer one Bot API call: (HTTP status, JSON body)."""
        name = method.lower()
        with self._cond:
            self._call_counts[name] += 1
            if self._record_calls:
                self._calls.append((name, params))
            self._cond.notify_all()
        if name == "getupdates":
            with self._cond:
                fault = self._polling_faults.pop(0) if self._polling_faults else None
            if fault is not None:
                return _error(fault.code, fault.description)
            return self._get_updates(params)
        if self.latency:
            time.sleep(self.latency)
        if name in SEND_METHODS:
            return self._send(name, params, files)
        if name == "getfile":
            return self._get_file(params)
        simple = {
            "getme": lambda: self._bot_user(full=True),
            "deletewebhook": lambda: self._delete_webhook(params),
            "setwebhook": lambda: self._set_webhook(params),
            "getwebhookinfo": self._webhook_info,
            "setmycommands": lambda: self._set_commands(params),
            "getmycommands": lambda: self.commands.get(_scope_key(params), []),
            "deletemycommands": lambda: bool(self.commands.pop(_scope_key(params), True)),
            "answercallbackquery": lambda: self._answer_callback(params),
            "sendchataction": lambda: True,
            "close": lambda: True,
            "logout": lambda: True,
        }
        if name in simple:
            return _ok(simple[name]())
        if name in EDIT_METHODS:
            return _ok(self._edit(params))
        return _error(404, "Not Found: method not found")

    def _get_file(self, params: dict) -> tuple[int, dict]:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path = f"photos/{file_id}.jpg"
        return _ok({"file_id": file_id, "file_unique_id": f"u-{file_id}",
                    "file_size": len(self.files[file_id]), "file_path": path})  # fmt: skip

    def file_content(self, path: str) -> bytes | None:
        """The bytes behind a file_path that getFile handed out."""
        name = path.removeprefix("photos/").removesuffix(".jpg")
        return self.files.get(name) if path.startswith("photos/") else None

    def _get_updates(self, params: dict) -> tuple[int, dict]:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(int(params.get("limit") or 100), 100)
        timeout = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        deadline = time.monotonic() + timeout
        with self._cond:
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return _ok(self._updates[:limit])

    def _send(self, name: str, params: dict, files: dict) -> tuple[int, dict]:
        chat_id = _chat_key(params.get("chat_id"))
        record = SentMessage(SEND_METHODS_NAMES[name], chat_id, params, time.time(), files=files)
        with self._cond:
            fault = self._fault_for(chat_id)
            if fault is not None:
                record.status = fault.code
                self._attempts[chat_id].append(record)
                self._cond.notify_all()
                return _error(fault.code, fault.description, fault.parameters)
            record.message_id = next(self._message_ids)
            self._attempts[chat_id].append(record)
            self._sent[chat_id].append(record)
            self._sent_total += 1
            self._cond.notify_all()
        return _ok(self._message_object(record))

    def _fault_for(self, chat_id: int | str) -> _Fault | None:
        if chat_id in self._blocked:
            return _Fault(403, "Forbidden: bot was blocked by the user")
        faults = self._faults.get(chat_id)
        if faults:
            return faults.popleft()
        return None

    def _message_object(self, sent: SentMessage) -> dict:
        chat_id = sent.chat_id if isinstance(sent.chat_id, int) else 0
        message: dict[str, Any] = {
            "message_id": sent.message_id or 0,
            "date": int(sent.at),
            "chat": self.chat(chat_id),
            "from": self._bot_user(),
        }
        kind = SEND_METHODS.get(sent.method.lower(), "text")
        if kind == "text":
            message["text"] = sent.params.get("text", "")
        elif kind == "photo":
            message["photo"] = [
                {
                    "file_id": f"sent-{sent.message_id}",
                    "file_unique_id": "x",
                    "width": 1,
                    "height": 1,
                }
            ]
        elif kind == "location":
            message["location"] = {
                "latitude": float(sent.params.get("latitude", 0)),
                "longitude": float(sent.params.get("longitude", 0)),
            }
        else:
            filename = (sent.file() or ("file", b""))[0]
            message[kind] = {
                "file_id": f"sent-{sent.message_id}",
                "file_unique_id": "x",
                "file_name": filename,
            }
        if sent.params.get("caption"):
            message["caption"] = sent.params["caption"]
        if sent.params.get("reply_markup"):
            message["reply_markup"] = sent.params["reply_markup"]
        return message

    def _edit(self, params: dict) -> dict | bool:
        chat_id = _chat_key(params.get("chat_id"))
        message_id = params.get("message_id")
        with self._cond:
            for sent in self._sent.get(chat_id, []):
                if sent.message_id == message_id:
                    for key in ("text", "caption", "reply_markup"):
                        if key in params:
                            sent.params[key] = params[key]
                    if "reply_markup" not in params:
                        sent.params.pop("reply_markup", None)
                    return self._message_object(sent)
        return True

    def _bot_user(self, full: bool = False) -> dict:
        user = {"id": self.bot_id, "is_bot": True, "first_name": "普法助手"}
        user["username"] = self.username
        if full:
            user.update(
                can_join_groups=True,
                can_read_all_group_messages=False,
                supports_inline_queries=False,
            )
        return user

    def _set_commands(self, params: dict) -> bool:
        with self._cond:
            self.commands[_scope_key(params)] = list(params.get("commands") or [])
        return True

    def _answer_callback(self, params: dict) -> bool:
        with self._cond:
            self.callback_answers.append(params)
            self._cond.notify_all()
        return True

    def _delete_webhook(self, params: dict) -> bool:
        with self._cond:
            self.webhook = None
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
        return True

    def _set_webhook(self, params: dict) -> bool:
        with self._cond:
            self.webhook = {"url": params.get("url", ""), "secret": params.get("secret_token")}
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
            backlog, self._updates = list(self._updates), []
        for update in backlog:
            self._webhook_queue.put(update)
        return True

    def _webhook_info(self) -> dict:
        with self._cond:
            url = self.webhook["url"] if self.webhook else ""
            return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}

    def _webhook_loop(self) -> None:
        """Deliver updates to the webhook one at a time, like Telegram does for a chat."""
        while True:
            update = self._webhook_queue.get()
            if update is None:
                return
            with self._cond:
                webhook = self.webhook
                if webhook is not None and update in self._updates:
                    self._updates.remove(update)
            if webhook is None:
                continue
            status = _post_json(webhook["url"], update, webhook.get("secret"))
            with self._cond:
                self.webhook_responses.append(status)
                self._cond.notify_all()

    # --- control API (for a bot or benchmark in another process) ----------------------------------
    def control(self, action: str, query: dict, body: Any) -> tuple[int, Any]:
        chat = query.get("chat_id")
        if action == "push" and body is not None:
            self.push_many(body if isinstance(body, list) else [body])
            return 200, True
        if action in ("sent", "attempts") and chat is not None:
            records = self.messages_to(chat) if action == "sent" else self.attempts_to(chat)
            return 200, [record.to_json() for record in records]
        if action == "block" and chat is not None:
            self.block(chat)
            return 200, True
        if action == "flood" and chat is not None:
            self.flood(chat, int(query.get("retry_after", 1)), int(query.get("times", 1)))
            return 200, True
        if action == "fail" and chat is not None:
            code, description = int(query["code"]), query.get("description", "Bad Request")
            self.fail(chat, code, description, int(query.get("times", 1)))
            return 200, True
        if action == "fail_polling":
            code, description = int(query["code"]), query.get("description", "Bad Gateway")
            self.fail_polling(code, description, int(query.get("times", 1)))
            return 200, True
        if action == "stats":
            with self._cond:
                counts = dict(self._call_counts)
            return 200, {"sent": self.sent_count(), "chats": self.chat_count(), "calls": counts}
        return 404, {"error": f"unknown control action {action!r}"}


class RemoteFakeBotAPI(FakeBotAPI):
    """The same server in a process of its own, so that it takes no CPU time (and no GIL)
    from the bot being measured. Update builders run here; pushes, failure injection and
    inspection go over the control API. Waiting polls every 50 ms."""

    def start(self) -> RemoteFakeBotAPI:
        command = [sys.executable, "-m", "bot.testing.fake_telegram", "--port", str(self._port)]
        self._process = subprocess.Popen(
            [
                *command,
                "--token",
                self.token,
                "--latency",
                str(self.latency),
                "--first-update-id",
                str(self.first_update_id),
            ],  # fmt: skip
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._process.stdout.readline()  # "fake Bot API on http://127.0.0.1:PORT ..."
        if not line.startswith("fake Bot API on "):
            self._process.kill()
            raise RuntimeError(f"fake Bot API did not start: {line!r}")
        self._url = line.split()[4]
        self._http = urllib.request.build_opener()
        return self

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)

    @property
    def url(self) -> str:
        return self._url

    @property
    def port(self) -> int:
        return int(self._url.rsplit(":", 1)[1])

    def _control(self, action: str, body: Any = None, **query: Any) -> Any:
        url = f"{self._url}/_fake/{action}?{urlencode(query)}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        with self._http.open(request, timeout=30) as response:
            return json.loads(response.read())

    def push_many(self, updates: list[dict]) -> None:
        self._control("push", updates)

    def block(self, chat_id: int | str) -> None:
        self._control("block", chat_id=chat_id)

    def flood(self, chat_id: int | str, retry_after: int = 1, times: int = 1) -> None:
        self._control("flood", chat_id=chat_id, retry_after=retry_after, times=times)

    def fail(self, chat_id: int | str, code: int, description: str, times: int = 1) -> None:
        self._control("fail", chat_id=chat_id, code=code, description=description, times=times)

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        return [SentMessage.from_json(r) for r in self._control("sent", chat_id=chat_id)]

    def attempts_to(self, chat_id: int | str) -> list[SentMessage]:
        return [SentMessage.from_json(r) for r in self._control("attempts", chat_id=chat_id)]

    def stats(self) -> dict:
        return self._control("stats")

    def sent_count(self) -> int:
        return self.stats()["sent"]

    def chat_count(self) -> int:
        return self.stats()["chats"]

    def call_count(self, method: str) -> int:
        return self.stats()["calls"].get(method.lower(), 0)

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake Bot API: condition not met in {timeout}s")
            time.sleep(0.05)


SEND_METHODS_NAMES = {
    "sendmessage": "sendMessage",
    "sendphoto": "sendPhoto",
    "senddocument": "sendDocument",
    "sendvoice": "sendVoice",
    "sendaudio": "sendAudio",
    "sendvideo": "sendVideo",
    "sendanimation": "sendAnimation",
    "sendsticker": "sendSticker",
    "sendlocation": "sendLocation",
}


# --- HTTP plumbing ---------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # many clients connect at once (a broadcast's connection pool)


def _make_handler(api: FakeBotAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Bot API client expects
        disable_nagle_algorithm = True  # else small keep-alive replies wait for delayed ACKs

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # quiet

        def _dispatch(self) -> None:
            url = urlparse(self.path)
            body = self._read_body()
            parts = url.path.strip("/").split("/")
            if parts[0] == "_fake" and len(parts) == 2:
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                payload = json.loads(body) if body else None
                status, result = api.control(parts[1], query, payload)
                return self._reply(status, result)
            if parts[0] == "file" and len(parts) >= 3 and unquote(parts[1]) == f"bot{api.token}":
                return self._file("/".join(parts[2:]))
            if len(parts) != 2 or not parts[0].startswith("bot"):
                return self._reply(*_error(404, "Not Found"))
            if parts[0][3:] != api.token:
                return self._reply(*_error(401, "Unauthorized"))
            try:
                params, files = _parse_parameters(self.headers, url.query, body)
            except ValueError as exc:
                return self._reply(*_error(400, f"Bad Request: {exc}"))
            self._reply(*api.handle(parts[1], params, files))

        def _file(self, path: str) -> None:
            data = api.file_content(path)
            if data is None:
                return self._reply(*_error(404, "Not Found"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a cancelled long poll)

    return Handler


def _parse_parameters(headers: Any, query: str, body: bytes) -> tuple[dict, dict]:
    """Bot API parameters from a query string, a form, JSON or multipart body."""
    raw: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
    files: dict[str, tuple[str, bytes]] = {}
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("application/json") and body:
        raw.update(json.loads(body))
    elif content_type.startswith("multipart/form-data"):
        header = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            content = part.get_payload(decode=True) or b""
            if filename is not None:
                files[name] = (filename, content)
            else:
                raw[name] = content.decode()
    elif body:
        raw.update({k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()})
    params = {key: _decode(key, value) for key, value in raw.items()}
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            attached = value.removeprefix("attach://")
            if attached in files:
                files[key] = files.pop(attached)
    return params, files


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in JSON_PARAMETERS:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"can't parse {key} JSON object") from exc
    if key in INTEGER_PARAMETERS:
        try:
            return int(value)
        except ValueError:
            return value  # '@channelname'
    return value


def _post_json(url: str, update: dict, secret: str | None) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(update).encode(), headers={"Content-Type": "application/json"}
    )
    if secret:
        request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _ok(result: Any) -> tuple[int, dict]:
    return 200, {"ok": True, "result": result}


def _error(code: int, description: str, parameters: dict | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


def _chat_key(chat_id: Any) -> int | str:
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)


def _scope_key(params: dict) -> str:
    """'default', 'chat:123', 'all_private_chats' … (+ ':<language>' when one is given)."""
    scope = params.get("scope") or {"type": "default"}
    key = scope.get("type", "default")
    if "chat_id" in scope:
        key += f":{scope['chat_id']}"
    language = params.get("language_code")
    return f"{key}:{language}" if language else key


def _truthy(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1)


def _until(status: str) -> dict:
    return {"until_date": 0} if status == "kicked" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API server.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    parser.add_argument("--first-update-id", type=int, default=1)
    args = parser.parse_args()
    fake = FakeBotAPI(
        args.token, port=args.port, latency=args.latency, first_update_id=args.first_update_id
    ).start()
    print(f"fake Bot API on {fake.url} (token {fake.token}); Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
