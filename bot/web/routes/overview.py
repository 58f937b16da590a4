"""概览: today / this month / this year at a glance, the monthly chart, the cases waiting,
the next scheduled pushes, and messages the bot queued for this account's "web" identity
(delivery reports, new-case notices), shown here because that identity has no chat."""

from __future__ import annotations

from sqlmodel import func, select

from bot.models import Case
from bot.runtime import outbox
from bot.services import cases, schedules, stats
from bot.timeutil import utcnow
from bot.web import auth
from bot.web.figures import overview_periods
from bot.web.security import EVERYONE, STAFF, Page

FIGURES = (
    "residents",
    "messages_in",
    "answers_shown",
    "consult_submitted",
    "deliveries",
    "activities",
)
WAITING_LIMIT = 10


def _figures(page: Page) -> list[tuple[str, list[tuple[str, object]], object]]:
    """(period label, [(figure label, value)], when computed) for today, month, year."""
    result = []
    for label, period in overview_periods(page.settings.zone):
        figures = page.web.figures.stats(period)
        items = [(stats.METRICS[k].label, figures.summary.get(k)) for k in FIGURES]
        result.append((label, items, figures.generated_at))
    return result


def _waiting(page: Page):
    counts = dict(
        page.db.exec(
            select(Case.status, func.count())
            .where(Case.status.in_(cases.OPEN_STATUSES))
            .group_by(Case.status)
        ).all()
    )
    oldest = page.db.exec(
        select(Case)
        .where(Case.status.in_(("new", "claimed")))
        .order_by(Case.id)
        .limit(WAITING_LIMIT)
    ).all()
    overdue = len(cases.overdue_cases(page.db, utcnow(), page.settings.case_sla_hours))
    return counts, list(oldest), overdue


def _inbox(page: Page) -> list:
    """This account's queued messages when it acts as a "web" user; marked delivered."""
    if page.actor is None or page.actor.channel != auth.WEB_CHANNEL:
        return []
    messages = outbox.pending(page.db, auth.WEB_CHANNEL, user_id=page.actor.id, limit=20)
    replies = [(m.created_at, outbox.reply_of(m)) for m in messages]
    for message in messages:
        outbox.mark_sent(page.db, message)
    return replies


def index(page: Page):
    staff = page.role in STAFF
    counts, oldest, overdue = _waiting(page)
    zone = page.settings.zone
    upcoming = (
        [
            (row, schedules.title(page.db, row), schedules.describe(schedules.when_of(row), zone))
            for row in schedules.active(page.db)[:5]
        ]
        if staff
        else []
    )
    return page.render(
        "overview.html",
        title="概览",
        figures=_figures(page) if staff else [],
        counts=counts,
        oldest=oldest,
        overdue=overdue,
        upcoming=upcoming,
        inbox=_inbox(page),
        status_names=cases.STATUS_NAMES,
        staff=staff,
        year=utcnow().astimezone(zone).year,
        waited=lambda c: cases.waited(c.created_at, utcnow()),
    )


ROUTES = [("/", EVERYONE, index, ["GET"])]
