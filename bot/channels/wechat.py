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
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError
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
from bot.db import insert_or_ignore
from bot.ledger import Kind, Source
from bot.messages import Incoming, Reply
from bot.models import WeChatNonce
from bot.runtime import inbox, outbox
from bot.runtime.http import HttpServer, listen
from bot.runtime.inbox import InboxWorker
from bot.runtime.locks import KeyedLocks
from bot.services import users
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_CLOCK_SKEW = 300
REPLY_DEADLINE = 4.0
COMMIT_GRACE_SECONDS = 0.8  # within WeChat's 5 s: a passive reply being committed
RETRY_POLL_SECONDS = 0.1
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
NONCE_PRUNE_EVERY = 50
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


def record_event(session: Session, openid: str, event: EventOnly) -> None:
    """Count an event that needs no answer; after unsubscribe the user is unreachable."""
    user = users.get_or_create(session, CHANNEL, openid)
    if event.unreachable:
        user.unreachable = True
    ledger.record(session, Kind.IN_EVENT, channel=CHANNEL, user=user, ref=event.event)


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


def queue_replies(session: Session, user, key: str, replies: list[Reply], first_index: int) -> None:
    """Queue `replies` for `user` in the caller's transaction, keyed
    wechat:<message key>:<first_index + n>; rows already queued under a key are left alone."""
    for number, reply in enumerate(replies, first_index):
        outbox.enqueue(
            session, user, reply, source=OUTBOX_SOURCE, dedup_key=f"{CHANNEL}:{key}:{number}"
        )


# --- decisions between the HTTP request and the handler thread --------------------------------
class PassiveDecision:
    """Whether an answer goes back as the passive reply or through the outbox.

    The handler (a thread, inside its transaction) and the request (waiting until its
    deadline) race; whichever decides first wins, under a lock: the handler claims the
    passive reply, or the request gives up waiting and answers "success", after which the
    handler queues the whole answer. If the handler claimed the passive reply but its commit
    outlasts the request's grace period, the request answers "success" and the passive text
    is queued afterwards (`abandon`), so it is never lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._late = False
        self.claimed = False
        self.abandoned = False

    def claim_passive(self) -> bool:
        with self._lock:
            if not self._late:
                self.claimed = True
            return self.claimed

    def go_late(self) -> bool:
        """True if the request may answer "success" now (the handler will queue all)."""
        with self._lock:
            if not self.claimed:
                self._late = True
            return self._late


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
        self.owner = inbox.worker_id()
        self.locks = KeyedLocks()
        self.on_queued: Callable[[], None] = lambda: None
        self._background: set[asyncio.Task] = set()
        self.app = Starlette(
            routes=[Route(settings.wechat_path, self.endpoint, methods=["GET", "POST"])]
        )

    async def endpoint(self, request: Request) -> Response:
        try:
            stamp = self._check_signature(request)
            if request.method == "GET":
                return PlainTextResponse(request.query_params.get("echostr", ""))
            return await self._post(request, stamp)
        except SQLAlchemyError:
            # Not stored, so not acknowledged: WeChat sends the message again.
            log.exception("wechat: the database is unavailable; the message was not stored")
            return PlainTextResponse("unavailable", 503)
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

    def _check_signature(self, request: Request) -> tuple[int, str]:
        """(timestamp, nonce) of a correctly signed, recent request."""
        query = request.query_params
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature_ok((self.token, timestamp, nonce), query.get("signature", "")):
            raise Rejected(403, "bad signature")
        seconds = parse_timestamp(timestamp)
        if seconds is None or abs(time.time() - seconds) > MAX_CLOCK_SKEW:
            raise Rejected(403, f"stale or malformed timestamp {timestamp[:20]!r}")
        if not NONCE_PATTERN.fullmatch(nonce):
            raise Rejected(403, f"malformed nonce {nonce[:20]!r}")
        return seconds, nonce

    async def _post(self, request: Request, stamp: tuple[int, str]) -> Response:
        started = time.monotonic()
        body = await _read_limited(request, MAX_BODY_BYTES)
        encrypted = request.query_params.get("encrypt_type", "").lower() == "aes"
        if self.crypto is not None and not encrypted:
            # Safe mode is configured: a plaintext body is covered by no signature at all.
            raise Rejected(403, "plaintext message while PUFA_WECHAT_AES_KEY is set")
        message = self._open(body, request.query_params) if encrypted else parse_xml(body)
        if not message.get("FromUserName") or not message.get("MsgType"):
            raise Rejected(400, "FromUserName or MsgType missing")
        passive = await self.answer(message, started + self.reply_deadline, stamp)
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
    async def answer(
        self, message: dict[str, str], deadline: float, stamp: tuple[int, str]
    ) -> str | None:
        """The passive reply text for `message`, or None for "success".

        The message is stored (with its signature's nonce) before anything else; a message
        stored before is a retry and gets the stored passive reply."""
        key = message_key(message)
        incoming = translate(message, key)
        if incoming is None:
            return None  # automatic reports: nothing to keep
        openid = message["FromUserName"]
        async with self.locks.hold(openid):
            stored = await asyncio.to_thread(self._store, message, key, stamp)
            if not stored.new:
                log.info("wechat: retry of %s", key)
                return await self._retried(stored, deadline)
            if not stored.claimed:  # an older message of this user is still being handled
                self.on_queued_inbox()
                return None
            if isinstance(incoming, EventOnly):
                await asyncio.to_thread(self._record_event, stored.id, openid, incoming)
                return None
            return await self._answer_inline(stored.id, incoming, key, deadline)

    def on_queued_inbox(self) -> None:
        """Set by the channel: wake its inbox worker."""

    def _store(self, message: dict[str, str], key: str, stamp: tuple[int, str]) -> inbox.Stored:
        with Session(self.engine) as session:
            # A read first: a retry must not wait for the write lock, which on SQLite the
            # first attempt's handler may hold for as long as it runs.
            seen = inbox.find(session, CHANNEL, key[:160])
            if seen is not None:  # a retry (or a replay of it): nothing new will be handled
                return inbox.Stored(seen.id, False, False, seen.status, seen.passive)
            check_nonce(session, stamp, key)
            stored = inbox.store(
                session,
                CHANNEL,
                key,
                message["FromUserName"],
                message,
                claim_for=self.owner,
                looked_up=True,
            )
            session.commit()
            return stored

    async def _retried(self, stored: inbox.Stored, deadline: float) -> str | None:
        """A retry waits (until its own deadline) for the first attempt to be done."""
        status, passive = stored.status, stored.passive
        while status in inbox.UNFINISHED and _left(deadline) > 0:
            await asyncio.sleep(min(RETRY_POLL_SECONDS, _left(deadline)))
            status, passive = await asyncio.to_thread(self._row_state, stored.id)
        return passive if status == inbox.DONE else None

    def _row_state(self, row_id: int) -> tuple[str, str | None]:
        with Session(self.engine) as session:
            row = inbox.load(session, row_id)
            return row.status, row.passive

    def _record_event(self, row_id: int, openid: str, event: EventOnly) -> None:
        """Count an event that needs no answer; after unsubscribe the user is unreachable."""
        with Session(self.engine) as session:
            record_event(session, openid, event)
            inbox.finish(session, row_id, self.owner)
            session.commit()

    async def _answer_inline(
        self, row_id: int, incoming: Incoming, key: str, deadline: float
    ) -> str | None:
        decision = PassiveDecision()
        task = self._spawn(
            asyncio.to_thread(self._dispatch_inline, row_id, incoming, key, decision)
        )
        try:
            await asyncio.wait({task}, timeout=_left(deadline))
        except asyncio.CancelledError:
            decision.go_late()
            raise
        if not task.done() and decision.go_late():
            log.info("wechat: %s is slow; answering through the customer-service API", key)
            return None
        if not task.done():  # the handler took the passive reply and is committing it
            await asyncio.wait({task}, timeout=COMMIT_GRACE_SECONDS)
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        decision.abandoned = True  # the handler, when it commits, queues the passive text
        return None

    def _dispatch_inline(self, row_id: int, incoming: Incoming, key: str, decision) -> str | None:
        """As `_dispatch`; a failure hands the stored message back for a retry with backoff."""
        try:
            return self._dispatch(row_id, self.owner, incoming, key, decision)
        except Exception as exc:
            inbox.release_after_failure(self.engine, row_id, self.owner, repr(exc))
            raise

    def _dispatch(
        self, row_id: int, owner: str, incoming: Incoming, key: str, decision
    ) -> str | None:
        """Handle a stored message (a thread); the passive text, or None if all was queued."""
        result: list[str | None] = [None]

        def before_commit(session: Session, user, replies: list[Reply]) -> None:
            passive, rest = plan(replies)
            if decision is not None and passive is not None and decision.claim_passive():
                queue_replies(session, user, key, rest, first_index=1)
                inbox.finish(session, row_id, owner, passive=passive)
                result[0] = passive
            else:
                whole = ([Reply(passive)] if passive else []) + rest
                queue_replies(session, user, key, whole, first_index=0)
                inbox.finish(session, row_id, owner)

        self.services.dispatcher.handle(incoming, before_commit=before_commit)
        if decision is not None and decision.abandoned and result[0] is not None:
            self._queue_abandoned(key, incoming.user_id, result[0])
        self.on_queued()
        return result[0]

    def _queue_abandoned(self, key: str, openid: str, passive: str) -> None:
        with Session(self.engine) as session:
            user = users.get_or_create(session, CHANNEL, openid)
            queue_replies(session, user, key, [Reply(passive)], first_index=0)
            session.commit()

    async def handle_stored(self, row, owner: str) -> None:
        """The inbox worker's way: a stored message nobody answered passively (after a
        restart, or behind an older one of the same user); the answer goes to the outbox."""
        incoming = translate(row.payload, row.key)
        if isinstance(incoming, EventOnly):
            with Session(self.engine) as session:
                record_event(session, row.user_key, incoming)
                inbox.finish(session, row.id, owner)
                session.commit()
            return
        if incoming is None:
            await asyncio.to_thread(inbox.skip, self.engine, row.id, owner, "nothing to handle")
            return
        async with self.locks.hold(incoming.user_id):
            await asyncio.to_thread(self._dispatch, row.id, owner, incoming, row.key, None)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("wechat: handling failed", exc_info=task.exception())

    async def drain(self, timeout: float = SHUTDOWN_GRACE) -> None:
        """Wait for handlers still running (their answers are queued when they commit)."""
        while self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=timeout)
            if pending:
                log.error("wechat: %d answers still running at shutdown", len(pending))
                return


def parse_timestamp(text: str) -> int | None:
    """Seconds since the epoch, from ASCII digits only (at most 12 of them)."""
    if not (0 < len(text) <= 12 and text.isascii() and text.isdigit()):
        return None
    return int(text)


def check_nonce(session: Session, stamp: tuple[int, str], key: str) -> None:
    """Refuse a signed query string used again for another message (a replay); WeChat's
    own retries of the same message may reuse it. Old nonces are pruned as we go."""
    timestamp, nonce = stamp
    added = insert_or_ignore(
        session, WeChatNonce, timestamp=timestamp, nonce=nonce, message_key=key, seen_at=utcnow()
    )
    if added is None:  # seen before: fine for a retry of the same message only
        seen = session.execute(
            select(WeChatNonce.message_key).where(
                WeChatNonce.timestamp == timestamp, WeChatNonce.nonce == nonce
            )
        ).scalar_one_or_none()
        if seen != key:
            raise Rejected(403, "a signed query string was replayed with another message")
        return
    if secrets.randbelow(NONCE_PRUNE_EVERY) == 0:
        cutoff = utcnow() - timedelta(seconds=2 * MAX_CLOCK_SKEW)
        session.execute(delete(WeChatNonce).where(WeChatNonce.seen_at < cutoff))


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
class WeChatChannel:
    name = CHANNEL

    def __init__(self, services, *, reply_deadline: float = REPLY_DEADLINE) -> None:
        settings = services.settings
        self.settings = settings
        self.webhook = Webhook(services, reply_deadline=reply_deadline)
        self.app = self.webhook.app
        self.api = WeChatApi(settings.wechat_api_url, settings.wechat_appid, settings.wechat_secret)
        self.sender = WeChatSender(self.api, services.engine)
        self.worker = InboxWorker(
            services.engine, CHANNEL, self.webhook.handle_stored, owner=self.webhook.owner
        )
        self.webhook.on_queued_inbox = self.worker.notify
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._http: HttpServer | None = None

    @property
    def on_queued(self) -> Callable[[], None]:
        return self.webhook.on_queued

    @on_queued.setter
    def on_queued(self, callback: Callable[[], None]) -> None:
        """The runner wakes the delivery worker through this when answers were queued."""
        self.webhook.on_queued = callback

    async def start(self) -> None:
        sock = listen(self.settings.wechat_host, self.settings.wechat_port, "PUFA_WECHAT_PORT")
        self._http = HttpServer(self.app, sock, graceful_seconds=int(REPLY_DEADLINE) + 2)
        await self._http.start("wechat-http")
        self._tasks.append(asyncio.create_task(self.worker.run(self._stop), name="wechat-inbox"))
        host, port = self._http.address
        log.info("wechat: webhook on http://%s:%d%s", host, port, self.settings.wechat_path)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()
        await self.webhook.drain()
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.api.aclose()
