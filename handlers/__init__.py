"""Feature handlers. Each module owns one Router; `all_routers` lists them for the wiring.

Handlers take (Incoming, Context) and return replies; they never import a channel SDK.
"""

from __future__ import annotations

from bot.routing import Router


def all_routers() -> list[Router]:
    from handlers import admin, community, faq, litigation, publicity, start, stats, walkin, worklog
    from handlers.cases import intake, mine, queue

    return [
        start.router,
        faq.router,
        admin.router,
        stats.router,
        intake.router,
        mine.router,
        queue.router,
        publicity.router,
        worklog.router,
        litigation.router,
        walkin.router,
        community.router,
    ]
