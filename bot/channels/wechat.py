"""The WeChat Official Account channel: a webhook (starlette, served by uvicorn in the
runner's event loop) plus the customer-service Sender (bot.channels.wechat_api).

Requests: GET verifies the URL (echostr); POST carries one message. Both must be signed
with PUFA_WECHAT_TOKEN and recent (MAX_CLOCK_SKEW); otherwise 403 and a log line. Safe
mode (`encrypt_type=aes`, PUFA_WECHAT_AES_KEY) is decrypted and answered encrypted;
plaintext and compatible mode are answered in plaintext. XML is parsed with defusedxml
(no DTD, hence no entities) and bodies over MAX_BODY_BYTES are refused (413).

Translation: text → text; image → image (media_ref = MediaId); voice → its Recognition
text when WeChat supplies one, else a voice message; subscribe → "/start" (the welcome);
a menu CLICK → a button press with payload EventKey (configure the account menu with the
bot's payloads: browse, consult, sub, help); unsubscribe, VIEW, SCAN … are counted
(`in_event`, ref = the event) without a reply, unsubscribe also marks the user
unreachable. Those events are not given to the dispatcher because an open conversation
flow would take them as the resident's answer. Automatic reports (LOCATION, template and
mass-send receipts) are ignored. Every message carries `digit_buttons=True`.

The 5-second rule: the dispatcher runs in a worker thread; when it answers within
`reply_deadline` (4 s) the first message goes back as the passive reply, anything more
(long texts, several replies, files) is queued in the outbox; otherwise WeChat gets
"success" and the whole answer is queued. The delivery worker sends queued rows through
the customer-service API. Rows are keyed `wechat:<message key>:<n>` (the outbox's unique
dedup_key), so an answer can never be queued twice.

Retries: WeChat resends a message it got no answer to, three times within ~15 s. Each
message is keyed by MsgId (events by FromUserName + CreateTime + Event) and remembered in
a bounded in-memory map for DEDUP_SECONDS: a retry waits for the first attempt's decision
and gets the same passive reply, or "success" if the answer went to the outbox; it is
never handled or counted again. In memory suffices because exactly one process serves the
webhook (uvicorn inside `bot.py run`, no worker processes); the outbox key above makes
the queued part safe even across processes. The one gap: a restart between a message and
its retry handles that retry once more.

Messages of one resident are handled one at a time, in order of arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

import uvicorn
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot import ledger
from bot.channels.wechat_api import (
    CHANNEL,
    WeChatApi,
    WeChatSender,
    render_all,
    split_text,
)
from bot.channels.wechat_crypto import CryptoError, MessageCrypto, signature_ok
from bot.config import ConfigError
from bot.ledger import Kind, Source
from bot.messages import Incoming, Reply
from bot.runtime import outbox
from bot.runtime.locks import KeyedLocks
from bot.services import users

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_CLOCK_SKEW = 300
REPLY_DEADLINE = 4.0
DEDUP_SECONDS = 300
DEDUP_MAX = 5000
SHUTDOWN_GRACE = 30.0
OUTBOX_SOURCE = Source.WECHAT_REPLY
IGNORED_EVENTS = frozenset({"location", "templatesendjobfinish", "masssendjobfinish"})


class Rejected(Exception):
    """A request we refuse; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# --- XML -------------------------------------------------------------------------------------
def parse_xml(data: bytes | str) -> dict[str, str]:
    """The fields of a WeChat <xml> message. No DTD is allowed, so no entity of any kind."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise Rejected(400, f"bad XML: {exc!r}") from None
    if root.tag != "xml":
        raise Rejected(400, f"unexpected root <{root.tag}>")
    return {child.tag: child.text or "" for child in root}


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(message: dict[str, str], content: str) -> str:
    return (
        f"<xml><ToUserName>{cdata(message['FromUserName'])}</ToUserName>"
        f"<FromUserName>{cdata(message.get('ToUserName', ''))}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def encrypted_xml(crypto: MessageCrypto, plain: str) -> str:
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    encrypted = crypto.encrypt(plain)
    signature = crypto.msg_signature(timestamp, nonce, encrypted)
    return (
        f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(signature)}"
        f"</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )


# --- translation -----------------------------------------------------------------------------
@dataclass(frozen=True)
class EventOnly:
    """An event that is counted but not handed to the dispatcher."""

    event: str
    unreachable: bool = False


def message_key(message: dict[str, str]) -> str:
    if message.get("MsgId"):
        return f"m{message['MsgId']}"
    parts = (message.get("FromUserName", ""), message.get("CreateTime", ""), message.get("Event"))
    return "e{}:{}:{}".format(*parts)[:120]


def translate(message: dict[str, str], key: str) -> Incoming | EventOnly | None:
    """A WeChat message as the channel-neutral `Incoming` (or an event to count, or None)."""
    common = {"channel": CHANNEL, "user_id": message["FromUserName"], "digit_buttons": True}
    common["message_id"] = key
    kind = message.get("MsgType", "").strip().lower()
    if kind == "text":
        return Incoming(kind="text", text=message.get("Content", ""), **common)
    if kind == "image":
        ref = message.get("MediaId") or message.get("PicUrl")
        return Incoming(kind="image", media_ref=ref, **common)
    if kind == "voice":
        recognized = message.get("Recognition", "").strip()
        if recognized:
            return Incoming(kind="text", text=recognized, meta={"voice": True}, **common)
        return Incoming(kind="voice", media_ref=message.get("MediaId"), **common)
    if kind == "location":
        return Incoming(kind="location", text=message.get("Label", ""), **common)
    if kind != "event":
        return Incoming(kind="file", media_ref=message.get("MediaId"), **common)
    return _translate_event(message, common)


def _translate_event(message: dict[str, str], common: dict) -> Incoming | EventOnly | None:
    event = message.get("Event", "").strip().lower()
    key = message.get("EventKey", "").strip()
    if event == "subscribe":
        return Incoming(kind="text", text="/start", meta={"event": "subscribe"}, **common)
    if event == "click" and key:
        return Incoming(kind="button", text=key, payload=key, **common)
    if event == "unsubscribe":
        return EventOnly("unsubscribe", unreachable=True)
    if event in IGNORED_EVENTS or not event:
        return None
    return EventOnly(event[:32])


def record_event(engine: Engine, openid: str, event: EventOnly) -> None:
    """Count an event that needs no answer; after unsubscribe the user is unreachable."""
    with Session(engine) as session:
        user = users.get_or_create(session, CHANNEL, openid)
        if event.unreachable:
            user.unreachable = True
        ledger.record(session, Kind.IN_EVENT, channel=CHANNEL, user=user, ref=event.event)
        session.commit()


# --- planning an answer ----------------------------------------------------------------------
def plan(replies: list[Reply]) -> tuple[str | None, list[Reply]]:
    """(the passive reply text or None, the replies to queue in the outbox after it).

    All texts are joined (options numbered on) and split within 2048 bytes; the first
    piece is the passive reply. Files stored on disk follow through the outbox (images
    are uploaded by the Sender); files only in memory are described in the text.
    """
    text = render_all(replies, file_notice=lambda r: bool(r.attachment and not r.attachment.path))
    pieces = split_text(text)
    files = [
        Reply("", attachment=r.attachment) for r in replies if r.attachment and r.attachment.path
    ]
    if not pieces:
        return None, files
    return pieces[0], [Reply(piece) for piece in pieces[1:]] + files


def queue_replies(
    engine: Engine, openid: str, key: str, replies: list[Reply], first_index: int = 0
) -> int:
    """Queue `replies` for `openid` in the outbox, keyed wechat:<key>:<first_index + n>;
    rows already queued under those keys are left alone. Returns how many were added."""
    with Session(engine) as session:
        user = users.get_or_create(session, CHANNEL, openid)
        added = [
            outbox.enqueue(
                session, user, reply, source=OUTBOX_SOURCE, dedup_key=f"{CHANNEL}:{key}:{n}"
            )
            for n, reply in enumerate(replies, first_index)
        ]
        try:
            session.commit()
        except IntegrityError:  # another process queued the same answer meanwhile
            session.rollback()
            log.info("wechat: answer %s was already queued", key)
            return 0
        return sum(row is not None for row in added)


# --- retries ---------------------------------------------------------------------------------
@dataclass
class Attempt:
    """The first attempt at one message; retries wait for its decision."""

    created: float
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    passive: str | None = None
    retries: int = 0

    def decide(self, passive: str | None) -> None:
        if not self.decided.is_set():
            self.passive = passive
            self.decided.set()


class RecentMessages:
    """Message keys seen in the last DEDUP_SECONDS (at most DEDUP_MAX of them)."""

    def __init__(self, seconds: float = DEDUP_SECONDS, limit: int = DEDUP_MAX) -> None:
        self.seconds, self.limit = seconds, limit
        self._attempts: OrderedDict[str, Attempt] = OrderedDict()

    def claim(self, key: str) -> tuple[Attempt, bool]:
        """(the attempt for `key`, whether this call is the first)."""
        now = time.monotonic()
        while self._attempts and (
            len(self._attempts) >= self.limit
            or next(iter(self._attempts.values())).created < now - self.seconds
        ):
            self._attempts.popitem(last=False)
        if key in self._attempts:
            attempt = self._attempts[key]
            attempt.retries += 1
            return attempt, False
        attempt = self._attempts[key] = Attempt(created=now)
        return attempt, True

    def get(self, key: str) -> Attempt | None:
        return self._attempts.get(key)


# --- the webhook -----------------------------------------------------------------------------
class Webhook:
    """The ASGI app and what it needs to answer one request."""

    def __init__(self, services, *, reply_deadline: float = REPLY_DEADLINE) -> None:
        settings = services.settings
        self.services = services
        self.engine: Engine = services.engine
        self.token: str = settings.wechat_token
        self.crypto = (
            MessageCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
            if settings.wechat_aes_key
            else None
        )
        self.reply_deadline = reply_deadline
        self.recent = RecentMessages()
        self.locks = KeyedLocks()
        self._background: set[asyncio.Task] = set()
        self.app = Starlette(
            routes=[Route(settings.wechat_path, self.endpoint, methods=["GET", "POST"])]
        )

    async def endpoint(self, request: Request) -> Response:
        try:
            self._check_signature(request)
            if request.method == "GET":
                return PlainTextResponse(request.query_params.get("echostr", ""))
            return await self._post(request)
        except Rejected as exc:
            client = request.client.host if request.client else "?"
            log.warning(
                "wechat: %s %s from %s refused (%d): %s",
                request.method,
                request.url.path,
                client,
                exc.status,
                exc,
            )
            return PlainTextResponse(_REJECTED_TEXT.get(exc.status, "error"), exc.status)

    def _check_signature(self, request: Request) -> None:
        query = request.query_params
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature_ok((self.token, timestamp, nonce), query.get("signature", "")):
            raise Rejected(403, "bad signature")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
            raise Rejected(403, f"stale timestamp {timestamp[:20]!r}")

    async def _post(self, request: Request) -> Response:
        started = time.monotonic()
        body = await _read_limited(request, MAX_BODY_BYTES)
        encrypted = request.query_params.get("encrypt_type", "").lower() == "aes"
        message = self._open(body, request.query_params) if encrypted else parse_xml(body)
        if not message.get("FromUserName") or not message.get("MsgType"):
            raise Rejected(400, "FromUserName or MsgType missing")
        passive = await self.answer(message, started + self.reply_deadline)
        if passive is None:
            return PlainTextResponse("success")
        xml = text_reply_xml(message, passive)
        if encrypted:
            xml = encrypted_xml(self.crypto, xml)
        return Response(xml, media_type="application/xml")

    def _open(self, body: bytes, query) -> dict[str, str]:
        if self.crypto is None:
            raise Rejected(500, "an encrypted message arrived but PUFA_WECHAT_AES_KEY is not set")
        encrypted = parse_xml(body).get("Encrypt", "")
        parts = (self.token, query.get("timestamp", ""), query.get("nonce", ""), encrypted)
        if not encrypted or not signature_ok(parts, query.get("msg_signature", "")):
            raise Rejected(403, "bad msg_signature")
        try:
            return parse_xml(self.crypto.decrypt(encrypted))
        except CryptoError as exc:
            raise Rejected(403, f"cannot decrypt ({exc}); check PUFA_WECHAT_AES_KEY") from None

    # --- answering ---------------------------------------------------------------------------
    async def answer(self, message: dict[str, str], deadline: float) -> str | None:
        """The passive reply text for `message`, or None for "success"."""
        key = message_key(message)
        attempt, first = self.recent.claim(key)
        if not first:
            log.info("wechat: retry %d of %s", attempt.retries, key)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(attempt.decided.wait(), _left(deadline))
            return attempt.passive
        try:
            return await self._first_answer(message, key, attempt, deadline)
        finally:
            attempt.decide(None)  # a no-op once decided; otherwise retries get "success"

    async def _first_answer(self, message, key: str, attempt: Attempt, deadline: float):
        incoming = translate(message, key)
        if isinstance(incoming, EventOnly):
            await asyncio.to_thread(record_event, self.engine, message["FromUserName"], incoming)
        if not isinstance(incoming, Incoming):
            return None
        task = self._spawn(self._handle(incoming))
        try:
            await asyncio.wait({task}, timeout=_left(deadline))
        except asyncio.CancelledError:
            self._answer_late(attempt, task, incoming.user_id, key)
            raise
        if not task.done():
            log.info("wechat: %s is slow; answering through the customer-service API", key)
            self._answer_late(attempt, task, incoming.user_id, key)
            return None
        passive, rest = plan(task.result())
        attempt.decide(passive)
        if rest:
            self._spawn(self._queue(incoming.user_id, key, rest, first_index=1))
        return passive

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        async with self.locks.hold(incoming.user_id):
            return await asyncio.to_thread(self.services.dispatcher.handle, incoming)

    def _answer_late(self, attempt: Attempt, task: asyncio.Task, openid: str, key: str) -> None:
        attempt.decide(None)
        self._spawn(self._deliver_late(task, openid, key))

    async def _deliver_late(self, task: asyncio.Task, openid: str, key: str) -> None:
        passive, rest = plan(await task)
        await self._queue(openid, key, ([Reply(passive)] if passive else []) + rest, first_index=0)

    async def _queue(self, openid: str, key: str, replies: list[Reply], first_index: int) -> None:
        try:
            await asyncio.to_thread(queue_replies, self.engine, openid, key, replies, first_index)
        except Exception:
            log.exception("wechat: could not queue the answer to %s for %s", key, openid)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("wechat: background work failed", exc_info=task.exception())

    async def drain(self, timeout: float = SHUTDOWN_GRACE) -> None:
        """Wait for handlers still running and for their answers to be queued."""
        while self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=timeout)
            if pending:
                log.error("wechat: %d answers still running at shutdown", len(pending))
                return


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


_REJECTED_TEXT = {400: "bad request", 403: "forbidden", 413: "too large", 500: "not configured"}


async def _read_limited(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise Rejected(413, f"body of {length} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Rejected(413, f"body over {limit} bytes")
    return bytes(body)


# --- the channel -----------------------------------------------------------------------------
class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class WeChatChannel:
    name = CHANNEL

    def __init__(self, services, *, reply_deadline: float = REPLY_DEADLINE) -> None:
        settings = services.settings
        self.settings = settings
        self.webhook = Webhook(services, reply_deadline=reply_deadline)
        self.app = self.webhook.app
        self.api = WeChatApi(settings.wechat_api_url, settings.wechat_appid, settings.wechat_secret)
        self.sender = WeChatSender(self.api, services.engine)
        self._server: _Server | None = None
        self._serving: asyncio.Task | None = None

    async def start(self) -> None:
        sock = _listen(self.settings.wechat_host, self.settings.wechat_port)
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(REPLY_DEADLINE) + 2,
        )
        self._server = _Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="wechat-http")
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise RuntimeError("the WeChat webhook server stopped while starting")
            await asyncio.sleep(0.02)
        host, port = sock.getsockname()[:2]
        log.info("wechat: webhook on http://%s:%d%s", host, port, self.settings.wechat_path)

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serving
        await self.webhook.drain()
        await self.api.aclose()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"配置错误：PUFA_WECHAT_PORT 无效：无法监听 {host}:{port}（{exc.strerror or exc}），"
            "请换一个端口或检查 PUFA_WECHAT_HOST"
        ) from None
    sock.setblocking(False)
    return sock
