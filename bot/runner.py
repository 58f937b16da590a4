"""Running the configured channels in one event loop, with the delivery workers and the
scheduler beside them, until SIGINT/SIGTERM. SIGHUP reloads the knowledge base."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.app import Services, build
from bot.config import Settings
from bot.runtime.delivery import DeliveryWorker
from bot.runtime.leader import Role, run_as_leader
from bot.scheduler import PublicityScheduler

log = logging.getLogger(__name__)


def make_channel(name: str, services: Services):
    """The live channel object for a configured channel name."""
    if name == "telegram":
        from bot.channels.telegram import TelegramChannel

        return TelegramChannel(services)
    if name == "wechat":
        from bot.channels.wechat import WeChatChannel

        return WeChatChannel(services)
    raise ValueError(f"unknown channel {name!r}")


async def serve(services: Services, names: list[str], stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload(services))

    await asyncio.to_thread(unattended_cases, services)
    channels = [make_channel(name, services) for name in names]
    web = _web_console(services)
    if web is not None:
        await web.start()
    roles: list[asyncio.Task] = []
    for channel in channels:
        wake = asyncio.Event()
        channel.on_queued = wake.set  # a queued answer is sent at once, not at the next poll
        await channel.start()
        log.info("channel %s started", channel.name)
        roles.append(
            _role_task(
                services, f"deliver:{channel.name}", stop, _delivery(services, channel, wake)
            )
        )
    roles.append(_role_task(services, "scheduler", stop, _scheduling(services)))
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await asyncio.gather(*roles, return_exceptions=True)
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.stop()
        if web is not None:
            await web.stop()
    return 0


def _web_console(services: Services):
    """The staff web console, when PUFA_WEB_ENABLED is set (same process and database)."""
    from bot.web.app import WebServer
    from bot.web.settings import WebSettings

    settings = WebSettings()
    return WebServer(services, settings) if settings.enabled else None


def _role_task(services: Services, name: str, stop: asyncio.Event, work) -> asyncio.Task:
    role = Role(services.engine, name)
    return asyncio.create_task(run_as_leader(role, stop, work), name=f"role-{name}")


def _delivery(services: Services, channel, wake: asyncio.Event):
    """The channel's delivery worker, run by whichever process holds its role."""

    async def work(stop_work: asyncio.Event) -> None:
        await DeliveryWorker(services.engine, channel.sender, wake=wake).run(stop_work)

    return work


def _scheduling(services: Services):
    """The publicity scheduler, run by whichever process holds the role."""

    async def work(stop_work: asyncio.Event) -> None:
        scheduler = PublicityScheduler(services.engine, services.settings, services.faq)
        await scheduler.start()
        services.extra["scheduler"] = scheduler
        try:
            await stop_work.wait()
        finally:
            services.extra.pop("scheduler", None)
            await scheduler.stop()

    return work


def _reload(services: Services) -> None:
    problems = services.faq.reload()
    if problems:
        log.error("SIGHUP: knowledge base not replaced (%d problems)", len(problems))


async def serve_console(services: Services, console, stdin=None, stdout=None) -> int:
    """The console chat with the machine around it: the publicity scheduler (a role, so a
    second console on the same SQLite file leaves it to the first) runs while it reads."""
    import sys

    stop = asyncio.Event()
    stdout = stdout or sys.stdout
    warning = await asyncio.to_thread(unattended_cases, services)
    if warning:
        stdout.write(f"⚠️ {warning}\n\n")
    scheduler = _role_task(services, "scheduler", stop, _scheduling(services))
    try:
        return await console.run_async(stop, stdin or sys.stdin, stdout)
    finally:
        stop.set()
        await asyncio.gather(scheduler, return_exceptions=True)


def unattended_cases(services: Services) -> str | None:
    """Warn (log, and the caller may print it) when cases wait and nobody can answer them."""
    from sqlmodel import Session

    from bot.services import cases

    with Session(services.engine) as session:
        warning = cases.unattended_warning(session)
    if warning:
        log.warning(warning)
    return warning


def run_channels(settings: Settings, names: list[str]) -> int:
    services = build(settings)
    return asyncio.run(serve(services, names))
