"""The WeChat side, for tests: a fake API server on 127.0.0.1 and a signer that builds
webhook requests exactly as WeChat does.

The signing and the safe-mode encryption here are written independently of
bot.channels.wechat_crypto (cryptography's PKCS7 padder with a 256-bit block stands in
for the hand-written 32-byte padding), so a shared mistake cannot make both agree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOKEN = "pufaToken2024"
APPID = "wx1234567890abcdef"
SECRET = "s3cr3t-app-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_pufa_account"


# --- the webhook side: what WeChat's servers send --------------------------------------------
def wechat_signature(*parts: str) -> str:
    digest = hashlib.sha1()
    for part in sorted(parts):
        digest.update(part.encode())
    return digest.hexdigest()


def cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def message_xml(openid: str, msg_type: str, **fields: object) -> str:
    """A WeChat push such as text (Content, MsgId) or event (Event, EventKey)."""
    items = {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": fields.pop("CreateTime", int(time.time())),
        "MsgType": msg_type,
        **fields,
    }
    body = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{cdata(str(v))}</{k}>"
        for k, v in items.items()
    )
    return f"<xml>{body}</xml>"


@dataclass
class WeChatSigner:
    """Builds signed webhook requests, plaintext or safe mode, and opens the replies."""

    token: str = TOKEN
    appid: str = APPID
    aes_key: str | None = None
    sent_timestamps: list[str] = field(default_factory=list)

    @property
    def _key(self) -> bytes:
        return base64.b64decode(self.aes_key + "=")

    def query(self, *, timestamp: int | None = None, nonce: str | None = None) -> dict:
        timestamp_text = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(uuid.uuid4().int % 10**9)
        return {
            "signature": wechat_signature(self.token, timestamp_text, nonce),
            "timestamp": timestamp_text,
            "nonce": nonce,
        }

    def encrypt(self, plain: str, appid: str | None = None) -> str:
        data = plain.encode()
        raw = os.urandom(16) + struct.pack("!I", len(data)) + data + (appid or self.appid).encode()
        padder = padding.PKCS7(256).padder()
        padded = padder.update(raw) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> tuple[str, str]:
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
        unpadder = padding.PKCS7(256).unpadder()
        raw = unpadder.update(padded) + unpadder.finalize()
        (length,) = struct.unpack("!I", raw[16:20])
        return raw[20 : 20 + length].decode(), raw[20 + length :].decode()

    def request(
        self, xml: str, *, encrypted: bool = False, timestamp: int | None = None, appid=None
    ) -> tuple[dict, bytes]:
        """(query parameters, body) of a POST as WeChat sends it."""
        params = self.query(timestamp=timestamp)
        params["openid"] = _field(xml, "FromUserName") or ""
        if not encrypted:
            return params, xml.encode()
        secret = self.encrypt(xml, appid)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = wechat_signature(
            self.token, params["timestamp"], params["nonce"], secret
        )
        body = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(secret)}</Encrypt></xml>"
        return params, body.encode()

    def open_reply(self, body: str) -> dict[str, str]:
        """The fields of a passive reply; in safe mode checks its signature and AppID."""
        fields = _fields(body)
        if "Encrypt" not in fields:
            return fields
        expected = wechat_signature(
            self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"]
        )
        assert fields["MsgSignature"] == expected, "reply signature does not verify"
        plain, appid = self.decrypt(fields["Encrypt"])
        assert appid == self.appid, f"reply encrypted for {appid}"
        return _fields(plain)


def _fields(xml: str) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ElementTree.fromstring(xml)}


def _field(xml: str, name: str) -> str | None:
    try:
        return _fields(xml).get(name)
    except ElementTree.ParseError:  # hostile test XML: the openid does not matter then
        return None


# --- the API side: what api.weixin.qq.com answers --------------------------------------------
class FakeWeChatApi:
    """access token + customer-service send + image upload, with scriptable errors."""

    def __init__(self, appid: str = APPID, secret: str = SECRET, token_ttl: int = 7200) -> None:
        self.appid, self.secret, self.token_ttl = appid, secret, token_ttl
        self.lock = threading.Condition()
        self.sent: list[dict] = []
        self.uploads: list[dict] = []
        self.media: dict[str, bytes] = {}  # media_id → a resident's picture, for media/get
        self.token_requests = 0
        self.valid_tokens: set[str] = set()
        self.errors: deque[tuple[int, str]] = deque()
        self.errors_for: dict[str, tuple[int, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeWeChatApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- scripting ---------------------------------------------------------------------------
    def fail_next(self, errcode: int, errmsg: str = "scripted", times: int = 1) -> None:
        with self.lock:
            self.errors.extend([(errcode, errmsg)] * times)

    def fail_for(self, openid: str, errcode: int, errmsg: str = "scripted") -> None:
        with self.lock:
            self.errors_for[openid] = (errcode, errmsg)

    def invalidate_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def texts_to(self, openid: str) -> list[str]:
        with self.lock:
            return [
                m["text"]["content"]
                for m in self.sent
                if m["touser"] == openid and m["msgtype"] == "text"
            ]

    def wait_for_sends(self, count: int, timeout: float = 30.0) -> list[dict]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.sent) >= count, timeout)
            return list(self.sent)

    # --- the HTTP side -----------------------------------------------------------------------
    def _token(self, query: dict) -> dict:
        with self.lock:
            self.token_requests += 1
            if query.get("appid") != self.appid or query.get("secret") != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = f"TOKEN-{self.token_requests}-{uuid.uuid4().hex[:8]}"
            self.valid_tokens.add(token)
            return {"access_token": token, "expires_in": self.token_ttl}

    def _authorized(self, query: dict) -> dict | None:
        if query.get("access_token") not in self.valid_tokens:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        return None

    def _custom_send(self, query: dict, body: bytes) -> dict:
        with self.lock:
            denied = self._authorized(query)
            if denied:
                return denied
            message = json.loads(body.decode("utf-8"))
            if self.errors:
                code, text = self.errors.popleft()
                return {"errcode": code, "errmsg": text}
            if message["touser"] in self.errors_for:
                code, text = self.errors_for[message["touser"]]
                return {"errcode": code, "errmsg": text}
            if message["msgtype"] == "text" and len(message["text"]["content"].encode()) > 2048:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
            self.sent.append(message)
            self.lock.notify_all()
            return {"errcode": 0, "errmsg": "ok"}

    def _upload(self, query: dict, body: bytes, content_type: str) -> dict:
        with self.lock:
            denied = self._authorized(query)
            if denied:
                return denied
            media_id = f"MEDIA-{len(self.uploads) + 1}"
            self.uploads.append(
                {
                    "type": query.get("type"),
                    "size": len(body),
                    "media_id": media_id,
                    "multipart": content_type.startswith("multipart/form-data"),
                }
            )
            return {"type": query.get("type"), "media_id": media_id, "created_at": int(time.time())}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _answer(self, data: dict) -> None:
                payload = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _file(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _parts(self) -> tuple[str, dict]:
                url = urlparse(self.path)
                return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}

            def do_GET(self) -> None:
                path, query = self._parts()
                if path == "/cgi-bin/token" and query.get("grant_type") == "client_credential":
                    self._answer(fake._token(query))
                elif (
                    path == "/cgi-bin/media/get"
                    and query.get("access_token") not in fake.valid_tokens
                ):
                    self._answer({"errcode": 40001, "errmsg": "invalid credential"})
                elif path == "/cgi-bin/media/get" and query.get("media_id") in fake.media:
                    self._file(fake.media[query["media_id"]])
                elif path == "/cgi-bin/media/get":
                    self._answer({"errcode": 40007, "errmsg": "invalid media_id"})
                else:
                    self._answer({"errcode": 40004, "errmsg": f"no such API {path}"})

            def do_POST(self) -> None:
                path, query = self._parts()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if path == "/cgi-bin/message/custom/send":
                    self._answer(fake._custom_send(query, body))
                elif path == "/cgi-bin/media/upload":
                    self._answer(fake._upload(query, body, self.headers.get("Content-Type", "")))
                else:
                    self._answer({"errcode": 40004, "errmsg": f"no such API {path}"})

        return Handler


def wechat_settings(
    database_url: str, api_url: str, admins: list[str], *, aes_key: str | None = None
):
    """Settings for a bot whose WeChat channel talks to the fake API (plaintext mode, or
    safe mode with `aes_key`)."""
    from bot.config import Settings

    return Settings(
        database_url=database_url,
        admins=admins,
        wechat_token=TOKEN,
        wechat_appid=APPID,
        wechat_secret=SECRET,
        wechat_aes_key=aes_key,
        wechat_api_url=api_url,
        _env_file=None,
    )
