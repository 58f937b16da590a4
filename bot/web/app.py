"""The console application: routes, templates, the secret, and serving it.

`create_app(services)` builds the Starlette app on the same `Services` as the chat;
`serve_web(services, stop)` runs it under uvicorn until `stop` is set (what
`python bot.py web` and the runner use)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.runtime.http import HttpServer, listen
from bot.web import auth, security
from bot.web.figures import FiguresCache
from bot.web.settings import WebSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "pufa_session"
NAV = (
    ("/", "概览", security.EVERYONE),
    ("/cases", "咨询", security.ADVISERS),
    ("/notices", "通知与推送", security.STAFF),
    ("/activities", "活动", security.STAFF),
    ("/work", "顾问工作", security.ADVISERS),
    ("/litigation", "诉讼登记", security.ADVISERS),
    ("/stats", "统计与报表", security.STAFF),
    ("/kb", "问答库", security.STAFF),
    ("/admin/accounts", "用户与角色", security.ADMIN),
    ("/admin/audit", "操作记录", security.ADMIN),
)


class WebConsole:
    """Shared state of the app (request.app.state.web): services, settings, templates."""

    def __init__(self, services, web_settings: WebSettings) -> None:
        self.services = services
        self.web_settings = web_settings
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(("html",), default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["local"] = self.local_time
        self.figures = FiguresCache(services.engine, web_settings.figures_ttl)

    def local_time(self, moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
        from bot.timeutil import as_utc

        return (
            as_utc(moment).astimezone(self.services.settings.zone).strftime(fmt) if moment else "—"
        )

    def render(self, page, template: str, status_code: int = 200, **values) -> HTMLResponse:
        request = page.request
        context = {
            "page": page,
            "account": page.account,
            "role": page.role,
            "role_name": auth.role_label(page.role),
            "nav": [(url, label) for url, label, roles in NAV if page.role in roles],
            "path": request.url.path,
            "csrf": security.csrf_token(request),
            "flashes": request.session.pop("flash", []),
            "office": self.services.settings.office_name,
            **values,
        }
        html = self.templates.get_template(template).render(context)
        return HTMLResponse(html, status_code=status_code)

    def render_refusal(self, request: Request, account, role) -> HTMLResponse:
        page = security.Page(request, None, account, role, None)
        return self.render(page, "refused.html", status_code=403, message=security.FORBIDDEN)


async def _server_error(request: Request, exc: Exception) -> HTMLResponse:
    log.error("web: %s %s failed", request.method, request.url.path, exc_info=exc)
    return HTMLResponse(
        "系统出错了，这次操作没有完成，错误已记入日志。请返回重试，或联系管理员。", status_code=500
    )


def routes() -> list[Route]:
    from bot.web.routes import ALL

    table = []
    for module in ALL:
        for path, roles, endpoint, methods in module.ROUTES:
            table.append(Route(path, security.guarded(roles, endpoint), methods=methods))
    return table


def secret_for(services, web_settings: WebSettings) -> str:
    if web_settings.secret:
        return web_settings.secret
    with Session(services.engine) as session:
        return auth.stored_secret(session)


def create_app(services, web_settings: WebSettings | None = None) -> Starlette:
    web_settings = web_settings or WebSettings()
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret_for(services, web_settings),
            session_cookie=SESSION_COOKIE,
            max_age=web_settings.session_hours * 3600,
            same_site="lax",
            https_only=web_settings.secure_cookies,
        )
    ]
    app = Starlette(
        routes=[*routes(), Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
        middleware=middleware,
        exception_handlers={500: _server_error},
    )
    app.state.web = WebConsole(services, web_settings)
    return app


class WebServer:
    """The console under uvicorn, started and stopped by its owner (the runner, tests)."""

    def __init__(self, services, web_settings: WebSettings | None = None) -> None:
        self.web_settings = web_settings or WebSettings()
        self.app = create_app(services, self.web_settings)
        self.port: int | None = None
        self._http: HttpServer | None = None

    async def start(self) -> None:
        sock = listen(self.web_settings.host, self.web_settings.port, "PUFA_WEB_PORT")
        self.port = sock.getsockname()[1]
        self._http = HttpServer(self.app, sock, proxy_headers=self.web_settings.secure_cookies)
        await self._http.start("web")
        self.app.state.web.figures.warm(self.app.state.web.services.settings.zone)
        log.info("web console on http://%s:%d/", self.web_settings.host, self.port)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()
        await asyncio.to_thread(self.app.state.web.figures.close)


async def serve_web(services, stop: asyncio.Event, web_settings: WebSettings | None = None) -> None:
    """Serve the console until `stop` is set (for the runner, beside the channels)."""
    server = WebServer(services, web_settings)
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.stop()
