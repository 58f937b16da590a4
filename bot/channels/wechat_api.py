"""WeChat Official Account: text rendering, the access token and the customer-service API.

Rendering: WeChat has no keyboards, so buttons become numbered options that the resident
answers with the digit (the dispatcher presses the button, see `Incoming.digit_buttons`).
A text message may carry at most 2048 bytes of UTF-8, so longer texts are split at line
breaks into several messages, each but the last ending with a "continued" marker.

Active sends (adviser replies, notices, late answers) go through the customer-service
message API (`message/custom/send`). WeChat accepts them only within 48 hours of the
resident's last message (errcode 45015) and only a limited number before the resident
answers (45047); both become a permanent delivery failure whose reason staff see in the
outbox row (`last_error`) and in the `push_failed` ledger row. The access token is
fetched, cached until shortly before it expires and fetched again when WeChat reports it
invalid (40001, 40014, 42001), then the call is retried once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from bot.channels.base import DeliveryOutcome
from bot.messages import Attachment, Button, Photo, PhotoUnavailable, Reply
from bot.services import users

log = logging.getLogger(__name__)

CHANNEL = "wechat"
MAX_TEXT_BYTES = 2048
OPTIONS_HEADER = "回复数字选择："
CONTINUED = "\n……（未完，见下条）"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
TOKEN_MARGIN_SECONDS = 300
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

TEXT_OUT_OF_WINDOW = (
    "超出 48 小时互动窗口：该居民 48 小时内没有给公众号发过消息，微信不允许主动发送。"
    "请等其再次发消息后重发，或改用电话等方式联系。"
    "(WeChat 45015: outside the 48-hour customer-service window)"
)
TEXT_OVER_QUOTA = (
    "超出客服消息条数上限：居民回复前，公众号最多只能主动发送有限条数的消息。请等其回复后再发。"
    "(WeChat 45047: customer-service message quota exceeded)"
)
TEXT_UNSUBSCRIBED = "该居民已取消关注公众号，无法发送。(WeChat 43004: user not subscribed)"
TEXT_BAD_OPENID = "无效的微信用户 OpenID，无法发送。(WeChat 40003: invalid openid)"
TEXT_TOKEN_FAILED = (
    "获取微信 access_token 失败，请检查 PUFA_WECHAT_APPID、PUFA_WECHAT_SECRET 和公众号后台的"
    " IP 白名单。(WeChat {code}: {message})"
)
TEXT_NO_FILE = "📎 文件“{name}”无法通过微信公众号发送，请联系街道工作人员获取。"


# --- rendering -----------------------------------------------------------------------------
def render(reply: Reply, first_number: int = 1, *, file_notice: bool = False) -> str:
    """A reply as WeChat text: the text, then its buttons as numbered options."""
    lines = [reply.text] if reply.text else []
    if file_notice and reply.attachment is not None:
        lines.append(TEXT_NO_FILE.format(name=reply.attachment.filename))
    if reply.buttons:
        lines.append(OPTIONS_HEADER)
        lines += [f"{n}. {b.label}" for n, b in enumerate(reply.buttons, first_number)]
    return "\n".join(lines)


def render_all(replies: Iterable[Reply], *, file_notice: Callable[[Reply], bool]) -> str:
    """Several replies as one text. Options are numbered on across replies, as the
    dispatcher remembers the buttons of all replies to one message in that order."""
    texts, number = [], 1
    for reply in replies:
        text = render(reply, number, file_notice=file_notice(reply))
        number += len(reply.buttons)
        if text:
            texts.append(text)
    return "\n\n".join(texts)


def utf8_size(text: str) -> int:
    return len(text.encode())


def _cut(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` bytes (never half a character)."""
    return text.encode()[:limit].decode(errors="ignore")


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split at line breaks into messages of at most `limit` UTF-8 bytes; every message
    but the last ends with a "continued" marker (counted within the limit)."""
    if utf8_size(text) <= limit:
        return [text] if text else []
    room = limit - utf8_size(CONTINUED)
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf8_size(candidate) <= room:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while utf8_size(line) > room:
            head = _cut(line, room)
            chunks.append(head)
            line = line[len(head) :]
        current = line
    if current:
        chunks.append(current)
    return [chunk + CONTINUED for chunk in chunks[:-1]] + chunks[-1:]


# --- the API -------------------------------------------------------------------------------
class ApiError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, code: int, message: str, *, token: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.token = token  # raised while fetching the access token


def _json(response: httpx.Response) -> dict:
    """The JSON body of an API answer; an HTTP error or a non-JSON body is transient."""
    response.raise_for_status()
    try:
        data = response.json()
    except ValueError:
        raise ApiError(-1, f"not JSON: {response.text[:80]!r}") from None
    if not isinstance(data, dict):
        raise ApiError(-1, f"not a JSON object: {response.text[:80]!r}")
    return data


class AccessToken:
    """The account's access token: fetched once, cached until shortly before expiry."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_url: str,
        appid: str,
        secret: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.api_url, self.appid, self.secret = client, api_url, appid, secret
        self.clock = clock
        self._value: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._value is None or self.clock() >= self._expires:
                await self._fetch()
            return self._value

    async def invalidate(self, stale: str) -> None:
        """Forget `stale` (unless another call already replaced it)."""
        async with self._lock:
            if self._value == stale:
                self._value = None

    async def _fetch(self) -> None:
        response = await self.client.get(
            f"{self.api_url}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        data = _json(response)
        if data.get("errcode") or "access_token" not in data:
            code = int(data.get("errcode") or -1)
            raise ApiError(code, str(data.get("errmsg", "no access_token")), token=True)
        lifetime = float(data.get("expires_in", 7200))
        self._value = data["access_token"]
        self._expires = self.clock() + lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 2)
        log.info("wechat: access token fetched (valid %.0f s)", lifetime)


class WeChatApi:
    """The few calls the channel needs; `api_url` is PUFA_WECHAT_API_URL."""

    def __init__(self, api_url: str, appid: str, secret: str, clock=time.monotonic) -> None:
        self.api_url = api_url.rstrip("/")
        self.client = httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        self.tokens = AccessToken(self.client, self.api_url, appid, secret, clock)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(self, path: str, *, payload: dict | None = None, **request) -> dict:
        """POST to `path` with the access token; refresh it and retry once if stale."""
        if payload is not None:
            request["content"] = json.dumps(payload, ensure_ascii=False).encode()
            request["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        extra = request.pop("params", {})
        url = f"{self.api_url}/cgi-bin/{path}"
        return await self._with_token(
            lambda token: self.client.post(url, params={"access_token": token, **extra}, **request)
        )

    async def _with_token(self, send, accept=None):
        """`send(token)` with the access token; a rejected token is refreshed and the request
        sent once more. `accept(response)` may take a response that is not an API answer (a
        file); anything else is the API's JSON, returned when its errcode is 0."""
        for attempt in (1, 2):
            token = await self.tokens.get()
            response = await send(token)
            if accept is not None and (taken := accept(response)) is not None:
                return taken
            data = _json(response)
            code = int(data.get("errcode") or 0)
            if code in TOKEN_ERRORS and attempt == 1:
                log.info("wechat: access token rejected (%s), fetching a new one", code)
                await self.tokens.invalidate(token)
                continue
            if code:
                raise ApiError(code, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    async def send_text(self, openid: str, content: str) -> None:
        message = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        await self.call("message/custom/send", payload=message)

    async def send_image(self, openid: str, media_id: str) -> None:
        message = {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}}
        await self.call("message/custom/send", payload=message)

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """A temporary media file (a picture a resident sent; WeChat keeps it 3 days):
        (bytes, content type). An error comes back as JSON instead of the file."""

        def image(response: httpx.Response) -> tuple[bytes, str] | None:
            kind = response.headers.get("Content-Type", "").split(";")[0].strip()
            ok = response.status_code == 200 and kind.startswith("image/")
            return (response.content, kind) if ok else None

        url = f"{self.api_url}/cgi-bin/media/get"
        found = await self._with_token(
            lambda token: self.client.get(
                url, params={"access_token": token, "media_id": media_id}
            ),
            accept=image,
        )
        if not isinstance(found, tuple):
            raise ApiError(-1, "not an image")
        return found

    async def upload_image(self, filename: str, content: bytes) -> str:
        files = {"media": (filename, content, "application/octet-stream")}
        data = await self.call("media/upload", params={"type": "image"}, files=files)
        return str(data["media_id"])


class WeChatPhotos:
    """Pictures residents sent, fetched back for the web console by their MediaId."""

    def __init__(self, settings) -> None:
        self.settings = settings

    async def fetch(self, ref: str) -> Photo:
        if ref.startswith(("http://", "https://")):  # an old PicUrl, not a MediaId
            raise PhotoUnavailable("这张图片只有微信的图片地址，请在微信中查看。")
        settings = self.settings
        api = WeChatApi(settings.wechat_api_url, settings.wechat_appid, settings.wechat_secret)
        try:
            data, kind = await api.download_media(ref)
        except (ApiError, httpx.HTTPError) as exc:
            log.warning("wechat: photo %s could not be fetched: %s", ref[:40], exc)
            raise PhotoUnavailable(
                "微信没有返回这张图片（临时素材只保存 3 天，可能已过期），请在微信中查看。"
            ) from None
        finally:
            await api.aclose()
        return Photo(data, kind)


# --- the Sender the delivery worker drives ------------------------------------------------
def outcome_for(error: ApiError) -> DeliveryOutcome:
    """How the outbox should treat a WeChat error code."""
    code = error.code
    if error.token:
        log.error("wechat: cannot get an access token: %s", error)
        reason = TEXT_TOKEN_FAILED.format(code=code, message=error.message)
        return DeliveryOutcome("retry", retry_after=60.0, error=reason)
    if code == 45015:
        return DeliveryOutcome("failed", error=TEXT_OUT_OF_WINDOW)
    if code == 45047:
        return DeliveryOutcome("failed", error=TEXT_OVER_QUOTA)
    if code == 43004:
        return DeliveryOutcome("unreachable", error=TEXT_UNSUBSCRIBED)
    if code == 40003:
        return DeliveryOutcome("unreachable", error=TEXT_BAD_OPENID)
    if code in TOKEN_ERRORS or code in (-1, 45009, 45011):
        delay = 60.0 if code in (45009, 45011) else 5.0
        return DeliveryOutcome("retry", retry_after=delay, error=f"微信接口暂时不可用 ({error})")
    return DeliveryOutcome("failed", error=f"微信接口拒绝了这条消息 (WeChat {error})")


def remember_buttons(engine: Engine, openid: str, buttons: tuple[Button, ...]) -> None:
    """After a pushed message with options, a digit must press those options."""
    with Session(engine) as session:
        user = users.find(session, CHANNEL, openid)
        if user is not None:
            user.offered_buttons = [{"label": b.label, "payload": b.payload} for b in buttons]
            session.commit()


class WeChatSender:
    """Sends outbox rows through the customer-service API."""

    channel = CHANNEL
    rate_per_second = 20.0

    def __init__(self, api: WeChatApi, engine: Engine | None = None) -> None:
        self.api = api
        self.engine = engine

    async def send(self, external_id: str, reply: Reply) -> DeliveryOutcome:
        image = reply.attachment if _is_image(reply.attachment) else None
        text = render(reply, file_notice=reply.attachment is not None and image is None)
        try:
            content = image.read() if image is not None else b""
        except (OSError, ValueError) as exc:
            log.error("wechat: attachment %s unreadable: %s", image.filename, exc)
            return DeliveryOutcome("failed", error=f"附件无法读取：{exc}"[:300])
        try:
            for chunk in split_text(text):
                await self.api.send_text(external_id, chunk)
            if image is not None:
                media_id = await self.api.upload_image(image.filename, content)
                await self.api.send_image(external_id, media_id)
        except ApiError as exc:
            outcome = outcome_for(exc)
            log.warning("wechat: send to %s: %s (%s)", external_id, exc, outcome.status)
            return outcome
        except httpx.HTTPError as exc:
            log.warning("wechat: send to %s failed: %r", external_id, exc)
            return DeliveryOutcome("retry", retry_after=5.0, error=f"网络错误：{exc!r}"[:300])
        if reply.buttons and self.engine is not None:
            try:  # it was sent: a failure here must not make the worker send it again
                await asyncio.to_thread(remember_buttons, self.engine, external_id, reply.buttons)
            except Exception:
                log.exception("wechat: could not remember the options sent to %s", external_id)
        return DeliveryOutcome("sent")


def _is_image(attachment: Attachment | None) -> bool:
    return attachment is not None and attachment.kind == "image"
