"""登记窗口、电话咨询: a consultation that came in at the window, on the phone or the
hotline, recorded by staff or the adviser — counted like a chat consultation (the same
bot.services.walkin as /walkin and `cases add`), with the channel as its breakdown."""

from __future__ import annotations

import logging

from bot.services import cases, walkin
from bot.timeutil import utcnow
from bot.web.security import ADVISERS, Page

log = logging.getLogger(__name__)

FIELDS = ("channel", "day", "community", "topic", "resident_name", "summary", "answer")


def form(page: Page, values: dict | None = None, status_code: int = 200):
    today = utcnow().astimezone(page.settings.zone).date().isoformat()
    return page.render(
        "walkin.html",
        status_code=status_code,
        title="登记窗口、电话咨询",
        form=values or {"channel": "walk_in", "day": today},
        today=today,
        channels=walkin.CHANNELS,
        topics=cases.TOPICS,
        communities=[*page.settings.communities, cases.OTHER_COMMUNITY],
        max_answer=walkin.MAX_ANSWER,
    )


def record(page: Page):
    values = {name: page.value(name) for name in FIELDS}
    now = utcnow()
    zone = page.settings.zone
    try:
        data = walkin.draft(
            channel=values["channel"],
            topic=values["topic"],
            community=values["community"] or None,
            summary=values["summary"],
            communities=page.settings.communities,
            today=now.astimezone(zone).date(),
            answer=values["answer"] or None,
            day=values["day"] or None,
            resident_name=values["resident_name"] or None,
        )
    except walkin.WalkinError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        page.flash(str(exc), "error")
        return form(page, values, status_code=400)
    case = walkin.record(page.db, data, recorder=page.actor, now=now, zone=zone)
    page.audit("walkin_recorded", case.number, walkin.describe(case)[:200])
    log.info("web: %s recorded walk-in case %s", page.account.name, case.number)
    return page.redirect(f"/cases/{case.number}", f"已登记：{walkin.describe(case)}")


ROUTES = [
    ("/cases/walkin", ADVISERS, form, ["GET"]),
    ("/cases/walkin", ADVISERS, record, ["POST"]),
]
