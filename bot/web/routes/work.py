"""顾问工作: the legal adviser's and legal staff's work log — the year's entries with
their figures, add, edit, delete, and an Excel import in the layout offices already keep
(checked row by row; nothing is saved unless every row is good, as with `work import`).

Every change goes through bot.services.worklog with an Actor for the signed-in person, so
the history, the ledger and the annual report see a web entry exactly like a chat one."""

from __future__ import annotations

import logging

from bot.services import legal_history, legal_stats, periods, worklog
from bot.timeutil import utcnow
from bot.web.routes._sheets import checked_import
from bot.web.security import ADVISERS, Page

log = logging.getLogger(__name__)

FIELDS = ("day", "kind", "title", "department", "count", "decision_number", "opinion", "notes")


def _values(page: Page) -> dict[str, str]:
    return {name: page.value(name) for name in FIELDS}


def _draft(values: dict[str, str]) -> worklog.Draft:
    kind = values.get("kind", "")
    review = worklog.TYPE_WORDS.get(kind) == "review"
    return worklog.draft(
        day=values.get("day", ""),
        kind=kind,
        title=values.get("title") or None,
        count=values.get("count") or None,
        department=values.get("department") or None,
        decision_number=(values.get("decision_number") or None) if review else None,
        opinion=(values.get("opinion") or None) if review else None,
        notes=values.get("notes") or None,
    )


def _year(page: Page) -> periods.Period:
    zone = page.settings.zone
    try:
        return periods.from_parts(
            zone, year=page.query("year") or str(utcnow().astimezone(zone).year)
        )
    except periods.PeriodError as exc:
        page.flash(str(exc), "error")
        return periods.current_year(zone)


def index(page: Page, form: dict | None = None, status_code: int = 200):
    period = _year(page)
    kind = page.query("kind")
    kind = kind if kind in worklog.WORK_TYPES else ""
    rows = worklog.in_period(page.db, period, kind or None)
    figures = legal_stats.compute(page.db, period)
    return page.render(
        "work.html",
        status_code=status_code,
        title="顾问工作",
        period=period,
        rows=rows,
        kind=kind,
        types=worklog.WORK_TYPES,
        opinions=worklog.OPINIONS,
        summary=legal_stats.summary_lines(figures)[0],
        layout=worklog.IMPORT_LAYOUT,
        entry=form or {"day": utcnow().astimezone(page.settings.zone).date().isoformat()},
    )


def add(page: Page):
    values = _values(page)
    try:
        entry = worklog.add(page.db, _draft(values), page.legal_actor)
    except worklog.WorkError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        page.flash(str(exc), "error")
        return index(page, form=values, status_code=400)
    page.db.flush()
    page.audit("work_added", f"work:{entry.id}", worklog.describe(entry)[:200])
    return page.redirect("/work", f"已登记：{worklog.describe(entry)}")


def _entry(page: Page):
    try:
        return worklog.get(page.db, page.request.path_params["entry_id"])
    except worklog.WorkError:
        return None


def _missing(page: Page):
    return page.redirect("/work", "没有这条工作记录。", "error")


def edit_form(page: Page):
    entry = _entry(page)
    if entry is None:
        return _missing(page)
    history = [
        legal_history.describe(h, page.settings.zone)
        for h in legal_history.of(page.db, "work", entry.id)
    ]
    return page.render(
        "work_edit.html",
        title=f"修改工作记录 #{entry.id}",
        entry=entry,
        types=worklog.WORK_TYPES,
        opinions=worklog.OPINIONS,
        history=history,
    )


def edit(page: Page):
    entry = _entry(page)
    if entry is None:
        return _missing(page)
    try:
        data = _draft(_values(page))
        changes = {name: getattr(data, name) for name in FIELDS}
        worklog.update(page.db, entry.id, changes, page.legal_actor)
    except worklog.WorkError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        return page.redirect(f"/work/{entry.id}", str(exc), "error")
    page.audit("work_updated", f"work:{entry.id}", worklog.describe(entry)[:200])
    return page.redirect("/work", f"已修改：{worklog.describe(entry)}")


def delete(page: Page):
    entry = _entry(page)
    if entry is None:
        return _missing(page)
    text = worklog.describe(entry)
    worklog.delete(page.db, entry.id, page.legal_actor)
    page.audit("work_deleted", f"work:{entry.id}", text[:200])
    return page.redirect("/work", f"已删除：{text}")


def import_file(page: Page):
    def save(report) -> list[str]:
        return [worklog.describe(e) for e in worklog.import_rows(page.db, report, page.legal_actor)]

    return checked_import(
        page, back=("/work", "顾问工作"), noun="工作记录", check=worklog.check_import,
        save=save, audit_action="work_imported",
    )  # fmt: skip


ROUTES = [
    ("/work", ADVISERS, index, ["GET"]),
    ("/work", ADVISERS, add, ["POST"]),
    ("/work/import", ADVISERS, import_file, ["POST"]),
    ("/work/{entry_id}", ADVISERS, edit_form, ["GET"]),
    ("/work/{entry_id}", ADVISERS, edit, ["POST"]),
    ("/work/{entry_id}/delete", ADVISERS, delete, ["POST"]),
]
