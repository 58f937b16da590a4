"""Console pages, one module per area; each exposes ROUTES = [(path, roles, endpoint, methods)].
The order matters where paths overlap: /cases/walkin before /cases/{number}."""

from bot.web.routes import (
    account,
    activities,
    admin,
    cases,
    kb,
    litigation,
    notices,
    overview,
    stats,
    walkin,
    work,
)

ALL = (account, overview, walkin, cases, notices, activities, work, litigation, stats, kb, admin)
