"""Serving an ASGI app (a webhook) with uvicorn inside the runner's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from bot.config import ConfigError

log = logging.getLogger(__name__)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def listen(host: str, port: int, setting: str) -> socket.socket:
    """A bound, non-blocking socket; a port in use is one clear ConfigError naming `setting`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle's algorithm off only on connections whose
    # socket says it is TCP; with proto 0 every response whose headers and body go out in two
    # writes waited for the client's delayed ACK — 40 ms on each webhook call and page.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted ones
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"配置错误：{setting} 无效：无法监听 {host}:{port}（{exc.strerror or exc}），"
            "请换一个端口或检查监听地址"
        ) from None
    sock.setblocking(False)
    return sock


class HttpServer:
    """One uvicorn server for `app` on a socket, started and stopped with the channel."""

    def __init__(
        self, app, sock: socket.socket, *, graceful_seconds: int = 6, proxy_headers: bool = False
    ) -> None:
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=graceful_seconds,
            proxy_headers=proxy_headers,
        )
        self.sock = sock
        self._server = QuietServer(config)
        self._serving: asyncio.Task | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    async def start(self, name: str) -> None:
        self._serving = asyncio.create_task(self._server.serve(sockets=[self.sock]), name=name)
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise RuntimeError(f"{name}: the HTTP server stopped while starting")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serving
