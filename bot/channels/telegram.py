"""The Telegram channel on python-telegram-bot 22: translate updates, render replies.

Updates become neutral `Incoming` messages for the dispatcher (run in a worker thread: the
handlers use a synchronous database session); the replies come back as plain-text messages
with inline keyboards (button payloads are the callback data), split at paragraph boundaries
when longer than Telegram allows, and files as photos or documents (the translation and
rendering themselves are in `telegram_format`). No business logic here.

Receiving: long polling by default, a webhook when PUFA_TELEGRAM_WEBHOOK_URL is set (PTB's
webhook server checks the secret token; one is generated when none is configured).
PUFA_TELEGRAM_API_URL points the bot at a self-hosted Bot API server (or a test fake).

Telegram's limits: `TelegramRateLimiter` (PTB's AIORateLimiter: 30 messages/s overall, 20/min
per group, RetryAfter waited out and retried) plus about one message per second per private
chat (bursts of three allowed, so a long answer in parts is not held back). Updates are handled
concurrently across users but in order for each user (`UserOrderedProcessor`).

Failures: a user who blocked the bot (Forbidden) is marked unreachable, which is not an error;
network errors are retried with backoff; anything else is logged by the error handler and the
application keeps running. For queued messages (outbox) the `TelegramSender` maps the same
errors to `DeliveryOutcome`s and lets the delivery worker retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import warnings
from typing import Any
from urllib.parse import urlparse

from aiolimiter import AsyncLimiter
from sqlmodel import Session
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
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseUpdateProcessor,
    ContextTypes,
    ExtBot,
    TypeHandler,
)
from telegram.warnings import PTBDeprecationWarning

from bot.channels.base import DeliveryOutcome
from bot.channels.telegram_format import (
    CHANNEL,
    Part,
    addressed_elsewhere,
    incoming_from_update,
    plan,
    send_part,
)
from bot.config import ConfigError
from bot.messages import Reply
from bot.runtime.locks import KeyedLocks
from bot.services import users

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
POLL_TIMEOUT_SECONDS = 25
DEFAULT_CONCURRENCY = 16
RATE_LIMIT_RETRIES = 3  # RetryAfter waited out and retried this often by the rate limiter
REPLY_ATTEMPTS = 4  # an answer's message is tried this often on network errors
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


class UserOrderedProcessor(BaseUpdateProcessor):
    """Handle up to `max_concurrent_updates` updates at once, but one user's updates one at
    a time and in arrival order (their conversation state and replies depend on order)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks = KeyedLocks()

    async def do_process_update(self, update: object, coroutine) -> None:
        key = _ordering_key(update)
        if key is None:
            await coroutine
            return
        async with self._locks.hold(key):
            await coroutine

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _ordering_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None


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
class TelegramChannel:
    """The live Telegram channel (see the module docstring)."""

    name = CHANNEL
    start_attempts = 4  # connecting at start: tries, 1 s, 2 s, 4 s apart
    reply_backoff = 0.5  # seconds before the first retry of an answer; doubled each time

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
        self.application = build_application(
            settings, rate_limited=rate_limited, concurrency=concurrency
        )
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender(self.application.bot, settings.telegram_rate)

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
                await self.application.updater.start_polling(
                    timeout=POLL_TIMEOUT_SECONDS,
                    allowed_updates=ALLOWED_UPDATES,
                    bootstrap_retries=3,
                    error_callback=self._polling_error,
                )
            await self.application.start()
        except BaseException:
            await self._shutdown()
            raise
        mode = f"webhook {self.settings.telegram_webhook_url}" if self.webhook_mode else "polling"
        log.info("telegram: @%s receiving by %s", self.bot.username, mode)

    async def stop(self) -> None:
        await self.sender.close()
        await self._shutdown()

    async def _shutdown(self) -> None:
        application = self.application
        steps = []
        if application.updater is not None and application.updater.running:
            steps.append(application.updater.stop)
        if application.running:
            steps.append(application.stop)
        steps.append(application.shutdown)
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("telegram: error while stopping (%s)", step.__name__)

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

    async def _start_webhook(self) -> None:
        url = self.settings.telegram_webhook_url
        try:
            await self.application.updater.start_webhook(
                listen=self.settings.telegram_webhook_listen,
                port=self.settings.telegram_webhook_port,
                url_path=urlparse(url).path,
                webhook_url=url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=3,
            )
        except BadRequest as exc:
            raise ConfigError(f"配置错误：PUFA_TELEGRAM_WEBHOOK_URL 无效：{exc.message}") from None
        except RuntimeError as exc:  # PTB installed without its webhook server (tornado)
            raise ConfigError(
                "配置错误：PUFA_TELEGRAM_WEBHOOK_URL 已设置，但 webhook 模式需要安装 "
                f"python-telegram-bot[webhooks]（{exc}）"
            ) from None
        except OSError as exc:
            raise ConfigError(
                "配置错误：PUFA_TELEGRAM_WEBHOOK_PORT 无效：无法监听 "
                f"{self.settings.telegram_webhook_listen}:{self.settings.telegram_webhook_port}"
                f"（{exc.strerror or exc}）"
            ) from None

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

    def _polling_error(self, error: TelegramError) -> None:
        log.warning("telegram: polling failed, retrying: %s", error.message)

    # --- updates -------------------------------------------------------------------------------
    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.my_chat_member is not None:
            await self._on_membership(update)
            return
        if update.callback_query is not None:
            await self._answer_query(update.callback_query)
        incoming = incoming_from_update(update)
        if incoming is None:
            return
        if incoming.is_command and addressed_elsewhere(incoming.text, self.bot.username):
            return
        replies = await asyncio.to_thread(self.dispatcher.handle, incoming)
        chat = update.effective_chat
        await self.send_replies(chat.id if chat else int(incoming.user_id), replies)

    async def _answer_query(self, query: CallbackQuery) -> None:
        """Stop the button's spinner; a query that is too old is harmless."""
        try:
            await query.answer()
        except TelegramError as exc:
            log.debug("telegram: could not answer callback query: %s", exc.message)

    async def _on_membership(self, update: Update) -> None:
        """A private chat's user blocked ('kicked') or unblocked the bot."""
        member = update.my_chat_member
        if member.chat.type != "private":
            return
        status = member.new_chat_member.status
        if status in ("kicked", "member"):
            await asyncio.to_thread(self._set_unreachable, str(member.chat.id), status == "kicked")

    async def send_replies(self, chat_id: int, replies: list[Reply]) -> None:
        """Send the answers to an update, message by message, never raising."""
        for reply in replies:
            for part in plan(reply):
                try:
                    await self._send_reliably(chat_id, part)
                except Forbidden:
                    log.info("telegram: chat %s blocked the bot; marked unreachable", chat_id)
                    if chat_id > 0:
                        await asyncio.to_thread(self._set_unreachable, str(chat_id), True)
                    return
                except BadRequest as exc:
                    log.error("telegram: reply to %s refused: %s", chat_id, exc.message)
                except (TelegramError, OSError) as exc:
                    log.error("telegram: reply to %s not delivered: %s", chat_id, exc)
                    return

    async def _send_reliably(self, chat_id: int, part: Part) -> None:
        """One call, retried with backoff on network errors and after flood waits."""
        for attempt in range(REPLY_ATTEMPTS):
            try:
                await send_part(self.bot, chat_id, part)
                return
            except RetryAfter as exc:
                if attempt == REPLY_ATTEMPTS - 1:
                    raise
                delay = retry_seconds(exc)
            except (BadRequest, Forbidden):
                raise
            except NetworkError as exc:
                if attempt == REPLY_ATTEMPTS - 1:
                    raise
                delay = self.reply_backoff * 2**attempt
                log.warning("telegram: sending to %s failed (%s), retrying", chat_id, exc)
            await asyncio.sleep(delay)

    def _set_unreachable(self, external_id: str, unreachable: bool) -> None:
        with Session(self.services.engine) as session:
            user = users.find(session, CHANNEL, external_id)
            if user is not None and user.unreachable != unreachable:
                user.unreachable = unreachable
                session.commit()

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log and carry on: one bad update must never stop the application."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "telegram: update %s failed: %r", update_id, context.error, exc_info=context.error
        )


def build_application(
    settings: Any, *, rate_limited: bool = True, concurrency: int = DEFAULT_CONCURRENCY
) -> Application:
    """The PTB Application for the settings (no handlers yet)."""
    builder = (
        Application.builder()
        .token(settings.telegram_token)
        .job_queue(None)
        .concurrent_updates(UserOrderedProcessor(concurrency))
    )
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
