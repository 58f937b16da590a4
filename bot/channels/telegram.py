"""The Telegram channel on python-telegram-bot 22: translate updates, render replies.

Updates become neutral `Incoming` messages for the dispatcher (run in a worker thread: the
handlers use a synchronous database session); the replies come back as plain-text messages
with inline keyboards (button payloads are the callback data), split at paragraph boundaries
when longer than Telegram allows, and files as photos or documents (the translation and
rendering themselves are in `telegram_format`). No business logic here.

Receiving is durable (bot.runtime.inbox): long polling fetches raw updates and moves the
offset (which confirms them to Telegram) only past updates already stored; a webhook (when
PUFA_TELEGRAM_WEBHOOK_URL is set; our own Starlette route checks the secret token, one is
generated when none is configured) answers 200 only after storing. The inbox worker then
handles stored updates, one user's in order, and the replies go into the outbox in the same
transaction, so nothing is answered-but-unsent or lost at a crash. An update the library
cannot parse is set aside and logged once; polling errors back off instead of spinning.
PUFA_TELEGRAM_API_URL points the bot at a self-hosted Bot API server (or a test fake).

Telegram's limits: `TelegramRateLimiter` (PTB's AIORateLimiter: 30 messages/s overall, 20/min
per group, RetryAfter waited out and retried) plus about one message per second per private
chat (bursts of three allowed, so a long answer in parts is not held back).

Failures: a user who blocked the bot (Forbidden) is marked unreachable, which is not an error.
The `TelegramSender` maps Telegram's answers to `DeliveryOutcome`s and the delivery worker
retries transient ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hmac
import json
import logging
import re
import secrets
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from aiolimiter import AsyncLimiter
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import BotCommand, CallbackQuery, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ExtBot
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.channels.base import DeliveryOutcome
from bot.channels.telegram_format import (
    CHANNEL,
    addressed_elsewhere,
    incoming_from_update,
    plan,
    send_part,
)
from bot.config import ConfigError
from bot.messages import Reply
from bot.runtime import inbox, outbox
from bot.runtime.http import HttpServer, listen
from bot.runtime.inbox import InboxWorker
from bot.runtime.locks import KeyedLocks
from bot.services import users
from bot.timeutil import as_utc

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
POLL_TIMEOUT_SECONDS = 25
DEFAULT_CONCURRENCY = 16
RATE_LIMIT_RETRIES = 3  # RetryAfter waited out and retried this often by the rate limiter
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
COMMAND_PATTERN = re.compile(r"[a-z0-9_]{1,32}")


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


# --- Telegram's limits and update ordering ---------------------------------------------------------
class TelegramRateLimiter(AIORateLimiter):
    """AIORateLimiter plus about one message per second per private chat.

    Telegram asks for no more than one message per second in a chat but tolerates short
    bursts, so each private chat gets a bucket of `chat_burst` messages refilled at 1/s.
    """

    def __init__(self, *, chat_burst: int = 3, max_retries: int = RATE_LIMIT_RETRIES, **kwargs):
        super().__init__(max_retries=max_retries, **kwargs)
        self._chat_burst = chat_burst
        self._chat_limiters: dict[int, AsyncLimiter] = {}

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        limiter = self.chat_limiter(data.get("chat_id"))
        if limiter is None:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        async with limiter:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

    def chat_limiter(self, chat_id: object) -> AsyncLimiter | None:
        """The bucket of a private chat (positive id); groups are AIORateLimiter's."""
        try:
            key = int(chat_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if key <= 0:
            return None
        if key not in self._chat_limiters and len(self._chat_limiters) > 1024:
            full = [k for k, v in self._chat_limiters.items() if v.has_capacity(v.max_rate)]
            for idle in full:
                del self._chat_limiters[idle]
        limiter = self._chat_limiters.get(key)
        if limiter is None:
            limiter = AsyncLimiter(self._chat_burst, self._chat_burst)
            self._chat_limiters[key] = limiter
        return limiter


# --- the sender (outbox deliveries) ---------------------------------------------------------------
class TelegramSender:
    """Sends queued replies for the delivery worker and says what happened.

    Flood control the rate limiter could not wait out comes back as `retry` after Telegram's
    `retry_after`; network trouble as `retry` after a backoff that doubles while failures go
    on (2 s, 4 s … 300 s; the worker holds the channel that long, which is what an outage
    needs) and resets on the next success. Up to `max_in_flight` sends run at once (Telegram
    answers in 50–300 ms, so one at a time could not reach the rate), but one chat's messages
    are sent one after the other, in order.
    """

    channel = CHANNEL
    max_backoff = 300.0
    max_in_flight = 8

    def __init__(self, bot: ExtBot, rate_per_second: float) -> None:
        self.bot = bot
        self.rate_per_second = rate_per_second
        self._chats = KeyedLocks()
        self._network_failures = 0
        self._closing = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def send(self, external_id: str, reply: Reply) -> DeliveryOutcome:
        if self._closing:
            return DeliveryOutcome("retry", retry_after=1.0, error="telegram channel stopping")
        try:
            chat_id = int(external_id)
        except ValueError:
            return DeliveryOutcome("failed", error=f"not a Telegram chat id: {external_id!r}")
        self._in_flight += 1
        self._idle.clear()
        try:
            async with self._chats.hold(chat_id):
                outcome = await self._send(chat_id, reply)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        if outcome.status == "retry" and outcome.error.startswith("network"):
            self._network_failures += 1
        else:
            self._network_failures = 0
        return outcome

    async def _send(self, chat_id: int, reply: Reply) -> DeliveryOutcome:
        try:
            for part in plan(reply):
                await send_part(self.bot, chat_id, part)
        except RetryAfter as exc:
            return DeliveryOutcome("retry", retry_after=retry_seconds(exc), error=str(exc))
        except Forbidden as exc:
            return DeliveryOutcome("unreachable", error=exc.message)
        except BadRequest as exc:
            return DeliveryOutcome("failed", error=exc.message)
        except ChatMigrated as exc:
            return DeliveryOutcome("failed", error=f"chat migrated to {exc.new_chat_id}")
        except TelegramError as exc:  # NetworkError, TimedOut, InvalidToken, Conflict …
            delay = min(self.max_backoff, 2.0 * 2 ** min(self._network_failures, 10))
            return DeliveryOutcome("retry", retry_after=delay, error=f"network: {exc.message}")
        except OSError as exc:  # the attachment file is gone
            return DeliveryOutcome("failed", error=f"attachment unreadable: {exc}")
        return DeliveryOutcome("sent")

    async def close(self, timeout: float = 5.0) -> None:
        """Refuse new sends and wait (a little) for those under way."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


# --- the channel ---------------------------------------------------------------------------------
MAX_WEBHOOK_BODY = 1024 * 1024
POLL_BACKOFF_FIRST = 1.0  # seconds after the first failed getUpdates; doubled each time
POLL_BACKOFF_MAX = 60.0


def user_key(update: dict) -> str:
    """Whose update this is (one user's updates are handled in order), from the raw JSON."""
    for field in ("message", "edited_message", "callback_query", "my_chat_member"):
        item = update.get(field)
        if isinstance(item, dict):
            person = item.get("from") or item.get("chat") or {}
            if isinstance(person, dict) and person.get("id") is not None:
                return str(person["id"])[:64]
    return f"update:{update.get('update_id')}"


def _is_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in ("group", "supergroup")


def addressed_in_group(incoming, update: Update, username: str | None, bot_id: int):
    """In a group the bot answers only what is meant for it: a command, a press of its
    button, a message that mentions @bot or replies to one of its messages (the mention is
    dropped from the question). Anything else is the members talking among themselves."""
    mention = f"@{username}" if username else None
    text = incoming.text
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    addressed = (
        incoming.kind == "button"
        or incoming.is_command
        or (mention is not None and mention.lower() in text.lower())
        or (
            replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
        )
    )
    if not addressed:
        return None
    if mention and not incoming.is_command:
        text = re.sub(re.escape(mention), "", text, flags=re.IGNORECASE).strip()
    return dataclasses.replace(incoming, text=text, in_group=True)


def _for_another_bot(incoming, username: str) -> bool:
    return bool(incoming and incoming.is_command and addressed_elsewhere(incoming.text, username))


def update_id(update: object) -> int | None:
    """The update_id of a raw update, or None when there is none to trust."""
    if not isinstance(update, dict):
        return None
    value = update.get("update_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TelegramChannel:
    """The live Telegram channel (see the module docstring)."""

    name = CHANNEL
    start_attempts = 4  # connecting at start: tries, 1 s, 2 s, 4 s apart

    def __init__(
        self,
        services: Any,
        *,
        rate_limited: bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        settings = services.settings
        if not settings.telegram_token:
            raise ConfigError("配置错误：PUFA_TELEGRAM_TOKEN 未设置")
        self.services = services
        self.settings = settings
        self.dispatcher = services.dispatcher
        self.webhook_secret = _webhook_secret(settings)
        self.application = build_application(settings, rate_limited=rate_limited)
        self.sender = TelegramSender(self.application.bot, settings.telegram_rate)
        self.worker = (
            InboxWorker(services.engine, CHANNEL, self.handle_stored, concurrency=concurrency)
            if getattr(services, "engine", None) is not None
            else None
        )
        self.on_queued: Callable[[], None] = lambda: None  # the runner wakes the outbox
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._http: HttpServer | None = None
        self._offset: int | None = None  # getUpdates offset: past the last stored update

    @property
    def bot(self) -> ExtBot:
        return self.application.bot

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.telegram_webhook_url)

    # --- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await self._initialize()
        await self._set_commands()
        try:
            if self.webhook_mode:
                await self._start_webhook()
            else:
                await self._call_with_retries(self.bot.delete_webhook)
                self._tasks.append(asyncio.create_task(self._poll(), name="telegram-poll"))
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop), name="tg-inbox"))
        except BaseException:
            await self._shutdown()
            raise
        mode = f"webhook {self.settings.telegram_webhook_url}" if self.webhook_mode else "polling"
        log.info("telegram: @%s receiving by %s", self.bot.username, mode)

    async def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            await self._http.stop()
        for task in self._tasks:
            if task.get_name() == "telegram-poll":  # a long poll would hold the stop up
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if not self.webhook_mode:
            await self._confirm_stored()
        await self.sender.close()
        await self._shutdown()

    async def _shutdown(self) -> None:
        try:
            await self.application.shutdown()
        except Exception:
            log.exception("telegram: error while stopping")

    async def _initialize(self) -> None:
        """Connect (getMe), retrying network errors a few times; a rejected token or an
        unreachable server ends the start with one clear line."""
        where = self.settings.telegram_api_url or "https://api.telegram.org"
        last: TelegramError | None = None
        for attempt in range(self.start_attempts):
            if attempt:
                await asyncio.sleep(2 ** (attempt - 1))
            try:
                await self.application.initialize()
                return
            except InvalidToken:
                hint = (
                    "（或 PUFA_TELEGRAM_API_URL 不是 Bot API 地址）"
                    if self.settings.telegram_api_url
                    else ""
                )
                raise ConfigError(
                    f"配置错误：PUFA_TELEGRAM_TOKEN 无效：Telegram 拒绝了这个令牌{hint}"
                ) from None
            except TelegramError as exc:
                last = exc
                log.warning("telegram: cannot reach %s (%s), retrying", where, exc.message)
        raise ConfigError(
            f"无法连接 Telegram Bot API（{where}）：{last.message if last else '未知错误'}。"
            "请检查网络，或用 PUFA_TELEGRAM_API_URL 指定 Bot API 地址。"
        )

    async def _call_with_retries(self, call, *args, **kwargs):
        for attempt in range(self.start_attempts):
            try:
                return await call(*args, **kwargs)
            except (NetworkError, RetryAfter):
                if attempt == self.start_attempts - 1:
                    raise
                await asyncio.sleep(2**attempt)
        return None

    async def _start_webhook(self) -> None:
        url = self.settings.telegram_webhook_url
        app = Starlette(routes=[Route(urlparse(url).path or "/", self._webhook, methods=["POST"])])
        sock = listen(
            self.settings.telegram_webhook_listen,
            self.settings.telegram_webhook_port,
            "PUFA_TELEGRAM_WEBHOOK_PORT",
        )
        self._http = HttpServer(app, sock)
        await self._http.start("telegram-webhook")
        try:
            await self._call_with_retries(
                self.bot.set_webhook,
                url=url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        except BadRequest as exc:
            raise ConfigError(f"配置错误：PUFA_TELEGRAM_WEBHOOK_URL 无效：{exc.message}") from None

    async def _set_commands(self) -> None:
        """The Chinese command menu (what a resident may use)."""
        commands = [
            BotCommand(c.name, c.help[:256])
            for c in self.dispatcher.command_help("resident")
            if COMMAND_PATTERN.fullmatch(c.name)
        ]
        try:
            await self.bot.set_my_commands(commands)
        except TelegramError as exc:
            log.warning("telegram: could not set the command menu: %s", exc.message)

    # --- receiving: stored first, confirmed after -----------------------------------------------
    def store_updates(self, updates: list) -> list[int]:
        """Store raw updates (idempotent by update_id) in one transaction; their ids."""
        stored: list[int] = []
        with Session(self.services.engine) as session:
            for update in updates:
                number = update_id(update)
                if number is None:
                    log.error("telegram: an update without a usable update_id was dropped")
                    continue
                inbox.store(session, CHANNEL, str(number), user_key(update), update)
                stored.append(number)
            session.commit()
        return stored

    async def receive(self, updates: list) -> list[int]:
        """Store, then wake the worker; what polling and the webhook both do."""
        stored = await asyncio.to_thread(self.store_updates, updates)
        if stored and self.worker is not None:
            self.worker.notify()
        return stored

    async def _poll(self) -> None:
        """Long polling that confirms (moves the offset past) only what is stored.

        The updates are fetched as raw JSON, so one the library cannot parse is stored and
        set aside by the worker instead of failing the whole fetch; repeated errors back off
        (1 s, 2 s … 60 s) instead of retrying in a tight loop."""
        failures = 0
        while not self._stop.is_set():
            try:
                raw = await self._raw_updates(self._offset)
                stored = await self.receive(raw if isinstance(raw, list) else [])
                if stored:
                    self._offset = max(stored) + 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, Conflict, a database outage …
                failures += 1
                delay = min(POLL_BACKOFF_MAX, POLL_BACKOFF_FIRST * 2.0 ** (failures - 1))
                level = logging.WARNING if failures < 5 else logging.ERROR
                log.log(level, "telegram: polling failed (%r); retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)

    async def _confirm_stored(self) -> None:
        """At stop: tell Telegram the last stored batch arrived (else it is sent again,
        which the inbox would ignore, at the next start)."""
        if self._offset is None:
            return
        try:
            await self.bot.get_updates(offset=self._offset, timeout=0, limit=1)
        except Exception as exc:
            log.info("telegram: could not confirm the last updates at stop: %r", exc)

    async def _raw_updates(self, offset: int | None) -> list:
        """getUpdates as JSON (Bot.get_updates would parse, and fail on one odd update)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PTBUserWarning)
            return await self.bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": offset,
                    "timeout": POLL_TIMEOUT_SECONDS,
                    "allowed_updates": ALLOWED_UPDATES,
                },
                read_timeout=POLL_TIMEOUT_SECONDS + 10,
            )

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), (self.webhook_secret or "").encode()):
            log.warning("telegram: webhook call with a wrong secret token refused")
            return PlainTextResponse("forbidden", 403)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BODY:
            return PlainTextResponse("too large", 413)
        try:
            update = json.loads(body)
        except ValueError:
            update = None
        if update_id(update) is None:
            log.warning("telegram: webhook body is not an update; refused")
            return PlainTextResponse("bad request", 400)
        try:
            await self.receive([update])
        except Exception:
            log.exception(
                "telegram: could not store update %s; Telegram will resend", update_id(update)
            )
            return PlainTextResponse("unavailable", 503)
        return PlainTextResponse("ok")

    # --- handling a stored update -----------------------------------------------------------------
    async def handle_stored(self, row, owner: str) -> None:
        """Translate one stored update, let the dispatcher decide, queue the replies."""
        try:
            update = Update.de_json(row.payload, self.bot)
        except Exception as exc:
            await asyncio.to_thread(
                inbox.skip, self.services.engine, row.id, owner, f"update {row.key}: {exc!r}"
            )
            return
        if update.my_chat_member is not None:
            await asyncio.to_thread(self._membership, update, row.id, owner)
            return
        if update.callback_query is not None:
            await self._answer_query(update.callback_query)
        incoming = incoming_from_update(update)
        if _for_another_bot(incoming, self.bot.username):
            incoming = None
        if incoming is not None and _is_group(update):
            incoming = addressed_in_group(incoming, update, self.bot.username, self.bot.id)
        if incoming is None:
            await asyncio.to_thread(self._finish_silently, row.id, owner)
            return
        chat = update.effective_chat
        chat_id = str(chat.id) if chat else incoming.user_id
        queue = functools.partial(self._queue_replies, row, owner, chat_id)
        await asyncio.to_thread(self.dispatcher.handle, incoming, before_commit=queue)
        self.on_queued()

    @staticmethod
    def _queue_replies(row, owner: str, chat_id: str, session, user, replies) -> None:
        """In the dispatcher's transaction: the replies into the outbox, the update done.

        The dedup key names the stored update by its id *and* arrival time: Telegram reuses
        update ids (at random after an idle week, anew with a new token), and the answer to
        a new update must not be mistaken for the answer to an old one with the same id."""
        elsewhere = None if chat_id == user.external_id else chat_id
        arrived = f"{as_utc(row.received_at):%Y%m%d%H%M%S%f}"
        for number, reply in enumerate(replies):
            outbox.enqueue(
                session,
                user,
                reply,
                source=outbox.REPLY_SOURCE,
                dedup_key=f"{CHANNEL}:u{row.key}:{arrived}:{number}",
                chat_id=elsewhere,
            )
        inbox.finish(session, row.id, owner)

    def _finish_silently(self, row_id: int, owner: str) -> None:
        with Session(self.services.engine) as session:
            inbox.finish(session, row_id, owner)
            session.commit()

    async def _answer_query(self, query: CallbackQuery) -> None:
        """Stop the button's spinner; a query that is too old is harmless."""
        try:
            await query.answer()
        except TelegramError as exc:
            log.debug("telegram: could not answer callback query: %s", exc.message)

    def _membership(self, update: Update, row_id: int, owner: str) -> None:
        """A private chat's user blocked ('kicked') or unblocked the bot."""
        member = update.my_chat_member
        with Session(self.services.engine) as session:
            status = member.new_chat_member.status
            if member.chat.type == "private" and status in ("kicked", "member"):
                user = users.find(session, CHANNEL, str(member.chat.id))
                if user is not None:
                    user.unreachable = status == "kicked"
            inbox.finish(session, row_id, owner)
            session.commit()


def build_application(settings: Any, *, rate_limited: bool = True) -> Application:
    """The PTB Application for the settings: used for its bot (requests, rate limiter);
    receiving is ours (polling and webhook store updates in the inbox first)."""
    builder = Application.builder().token(settings.telegram_token).job_queue(None).updater(None)
    if settings.telegram_api_url:
        base = settings.telegram_api_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    if rate_limited:
        builder = builder.rate_limiter(TelegramRateLimiter())
    try:
        return builder.build()
    except InvalidToken as exc:
        raise ConfigError(f"配置错误：PUFA_TELEGRAM_TOKEN 无效：{exc.message}") from None


def _webhook_secret(settings: Any) -> str | None:
    """The configured secret, checked; or a random one (Telegram echoes it back)."""
    if not settings.telegram_webhook_url:
        return None
    secret = settings.telegram_webhook_secret
    if secret is None:
        return secrets.token_urlsafe(32)
    if not SECRET_PATTERN.fullmatch(secret):
        raise ConfigError(
            "配置错误：PUFA_TELEGRAM_WEBHOOK_SECRET 无效：只能包含字母、数字、_ 和 -，长度 1 到 256"
        )
    return secret
