"""Every console route goes through `guarded`: sign-in, the role, the forced password
change and (for POST) the session-bound CSRF token are checked server-side before the
endpoint runs. Endpoints are plain functions of a `Page`, run in a worker thread with one
database session that is committed when they return."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.models import User, WebAccount
from bot.services.legal_history import Actor
from bot.web import auth

log = logging.getLogger(__name__)

STAFF = frozenset({"staff", "admin"})
ADVISERS = frozenset({"adviser", "staff", "admin"})
ADMIN = frozenset({"admin"})
EVERYONE = frozenset(auth.WEB_ROLES)
PASSWORD_PATH = "/account/password"
CSRF_FIELD = "csrf"
FORBIDDEN = "您没有权限访问这个页面。"
CSRF_FAILED = "表单已过期或来源不明（CSRF 校验失败），没有做任何修改。请返回刷新页面后重试。"


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Page:
    """What an endpoint sees: the request, its form, one DB session and who is acting."""

    request: Request
    db: Session
    account: WebAccount | None
    role: str | None
    actor: User | None
    form: dict[str, Any] = field(default_factory=dict)

    @property
    def web(self):
        return self.request.app.state.web

    @property
    def services(self):
        return self.web.services

    @property
    def settings(self):
        return self.web.services.settings

    def value(self, name: str, default: str = "") -> str:
        item = self.form.get(name, default)
        return item.strip() if isinstance(item, str) else default

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def render(self, template: str, status_code: int = 200, **values) -> HTMLResponse:
        return self.web.render(self, template, status_code=status_code, **values)

    def flash(self, text: str, kind: str = "ok") -> None:
        self.request.session.setdefault("flash", []).append([kind, text])

    def redirect(self, url: str, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
        if flash:
            self.flash(flash, kind)
        return RedirectResponse(url, status_code=303)

    @property
    def legal_actor(self) -> Actor:
        """Who the legal records (work log, litigation) name: the linked chat user, else
        the web account."""
        return Actor("web", self.actor, label=f"web:{self.account.name}")

    def audit(self, action: str, target: str | None = None, detail: str | None = None) -> None:
        auth.audit(self.db, self.account, action, target, detail)


Endpoint = Callable[[Page], Response]


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def csrf_ok(request: Request, form: dict) -> bool:
    expected = request.session.get(CSRF_FIELD)
    given = form.get(CSRF_FIELD)
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected, given)


def guarded(roles: frozenset[str] | None, endpoint: Endpoint) -> Callable:
    """The Starlette endpoint for `endpoint`; roles None marks a public page (sign-in)."""

    async def handle(request: Request) -> Response:
        form = await read_form(request) if request.method == "POST" else {}
        if isinstance(form, Response):
            return form
        return await run_in_threadpool(_run, request, roles, endpoint, form)

    handle.roles = roles  # the route test reads this
    handle.__name__ = endpoint.__name__
    return handle


async def read_form(request: Request) -> dict | Response:
    limit = request.app.state.web.web_settings.max_upload_mb * 1024 * 1024
    try:
        raw = await request.form(max_files=4, max_fields=200)
    except Exception as exc:  # a malformed body or too many parts
        log.info("web: unreadable form on %s: %s", request.url.path, exc)
        return HTMLResponse("表单内容无法读取。", status_code=400)
    form: dict[str, Any] = {}
    for key, item in raw.multi_items():
        if isinstance(item, UploadFile):
            data = await item.read(limit + 1)
            if len(data) > limit:
                return HTMLResponse(f"上传的文件超过 {limit // 1024 // 1024} MB。", status_code=413)
            if item.filename:
                form[key] = Upload(item.filename, item.content_type or "", data)
        else:
            form[key] = item.replace("\r\n", "\n").replace("\r", "\n")  # browsers send CRLF
    return form


def _run(request: Request, roles, endpoint: Endpoint, form: dict) -> Response:
    web = request.app.state.web
    with Session(web.services.engine, expire_on_commit=False) as db:
        account, role = _signed_in(request, db)
        refusal = _refusal(request, roles, account, role, form)
        if refusal is not None:
            return refusal
        actor = db.get(User, account.user_id) if account else None
        page = Page(request, db, account, role, actor, form)
        response = endpoint(page)
        db.commit()
        return response


def _signed_in(request: Request, db: Session) -> tuple[WebAccount | None, str | None]:
    account_id = request.session.get("aid")
    if not isinstance(account_id, int):
        return None, None
    account = db.get(WebAccount, account_id)
    if account is None or account.disabled or account.session_epoch != request.session.get("ep"):
        request.session.pop("aid", None)
        return None, None
    return account, auth.role_of(db, account)


def _refusal(request: Request, roles, account, role, form: dict) -> Response | None:
    if roles is None:  # public: only the CSRF check for its POST
        if request.method == "POST" and not csrf_ok(request, form):
            return _csrf_failed(request, account)
        return None
    if account is None:
        if request.method == "GET":
            target = quote(request.url.path)
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return HTMLResponse("请先登录。", status_code=403)
    if role not in roles:
        log.warning(
            "web: %s (%s) refused %s %s", account.name, role, request.method, request.url.path
        )
        return request.app.state.web.render_refusal(request, account, role)
    if account.must_change and request.url.path != PASSWORD_PATH:
        if request.method == "GET":
            return RedirectResponse(PASSWORD_PATH, status_code=303)
        return HTMLResponse("请先修改初始密码。", status_code=403)
    if request.method == "POST" and not csrf_ok(request, form):
        return _csrf_failed(request, account)
    return None


def _csrf_failed(request: Request, account) -> Response:
    who = account.name if account else "anonymous"
    log.warning("web: CSRF check failed for %s on %s", who, request.url.path)
    return HTMLResponse(CSRF_FAILED, status_code=403)
