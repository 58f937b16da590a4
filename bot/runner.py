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

    channels = [make_channel(name, services) for name in names]
    for channel in channels:
        await channel.start()
        log.info("channel %s started", channel.name)
    workers = [
        asyncio.create_task(
            DeliveryWorker(services.engine, c.sender).run(stop), name=f"deliver-{c.name}"
        )
        for c in channels
    ]
    scheduler = PublicityScheduler(services.engine, services.settings, services.faq)
    try:
        await scheduler.start()
        services.extra["scheduler"] = scheduler
        await stop.wait()
    finally:
        log.info("stopping")
        services.extra.pop("scheduler", None)
        scheduler.shutdown()
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.stop()
        await asyncio.gather(*workers, return_exceptions=True)
    return 0


def _reload(services: Services) -> None:
    problems = services.faq.reload()
    if problems:
        log.error("SIGHUP: knowledge base not replaced (%d problems)", len(problems))


def run_channels(settings: Settings, names: list[str]) -> int:
    services = build(settings)
    return asyncio.run(serve(services, names))
