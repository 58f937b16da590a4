"""Application wiring: settings → database → services → dispatcher (+ channels).

The only module that knows both handlers and channels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from bot import db
from bot.config import Settings
from bot.dispatcher import Dispatcher, include_all
from faq.store import FaqStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseActions:
    """The adviser's actions on a case, each `(ctx, case, …) -> replies`."""

    claim: Callable
    answer: Callable
    ask_for_more: Callable
    close: Callable


@dataclass
class Services:
    """Shared objects handlers reach through `ctx.services`."""

    settings: Settings
    engine: Engine
    faq: FaqStore
    dispatcher: Dispatcher | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    case_actions: CaseActions | None = None
    # channel → an object with `async fetch(ref) -> Photo` (pictures residents sent)
    photos: dict[str, Any] = field(default_factory=dict)


def build(
    settings: Settings,
    *,
    engine: Engine | None = None,
    faq: FaqStore | None = None,
    migrate: bool = True,
) -> Services:
    """Build the application core (no channel started)."""
    from handlers import all_routers
    from handlers.start import MAIN_MENU

    engine = engine or db.make_engine(settings.database_url)
    if migrate:
        db.upgrade(engine)
    services = Services(settings=settings, engine=engine, faq=faq or FaqStore())
    dispatcher = Dispatcher(engine, settings, services)
    include_all(dispatcher, all_routers())
    dispatcher.menu = MAIN_MENU
    services.dispatcher = dispatcher
    services.case_actions = _case_actions()
    services.photos = _photo_sources(settings)
    return services


def _photo_sources(settings: Settings) -> dict[str, Any]:
    """Where the web console fetches residents' pictures back from, per configured channel."""
    sources: dict[str, Any] = {}
    if settings.telegram_enabled:
        from bot.channels.telegram_photos import TelegramPhotos

        sources["telegram"] = TelegramPhotos(settings)
    if settings.wechat_enabled:
        from bot.channels.wechat_api import WeChatPhotos

        sources["wechat"] = WeChatPhotos(settings)
    return sources


def _case_actions() -> CaseActions:
    """What the web console does to a case: the chat's own adviser actions (so a resident
    hears of it exactly as from chat), handed over here so bot.web imports no handlers."""
    from handlers.cases import queue

    return CaseActions(
        claim=queue.do_claim,
        answer=queue.send_answer,
        ask_for_more=queue.send_info_request,
        close=queue.do_close,
    )
