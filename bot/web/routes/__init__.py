"""Console pages, one module per area; each exposes ROUTES = [(path, roles, endpoint, methods)]."""

from bot.web.routes import account, activities, admin, cases, kb, notices, overview, stats

ALL = (account, overview, cases, notices, activities, stats, kb, admin)
