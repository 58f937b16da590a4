"""Feature handlers. Each module owns one Router; `all_routers` lists them for the wiring.

Handlers take (Incoming, Context) and return replies; they never import a channel SDK.
"""

from __future__ import annotations

from bot.routing import Router


def all_routers() -> list[Router]:
    from handlers import admin, adviser, community, consult, faq, publicity, start, stats, walkin

    return [
        start.router,
        faq.router,
        admin.router,
        stats.router,
        consult.router,
        adviser.router,
        publicity.router,
        walkin.router,
        community.router,
    ]
