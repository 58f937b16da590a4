"""诉讼登记: the litigation and review register — the cases (open or all, by type), a
case page with its details, hearings and deadlines (each gets its reminders a week and a
day before), its change history, edit and close; a new case; an Excel import checked row
by row (all or nothing, as with `litigation import`); and the quarterly report to the
district justice bureau (xlsx or docx), the same file `report --kind litigation` writes."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from sqlmodel import select
from starlette.responses import Response

from bot.models import User
from bot.services import legal_history, litigation, litigation_report, periods
from bot.services.litigation import LitigationError
from bot.timeutil import utcnow
from bot.web import uploads
from bot.web.routes._sheets import checked_import
from bot.web.security import ADVISERS, Page

log = logging.getLogger(__name__)

FIELDS = ("kind", "number", "body", "parties", "our_role", "cause", "amount", "stage",
          "filed_on", "outcome", "closed_on", "community", "responsible", "notes")  # fmt: skip
SHOWN = {"open": "未结案件", "all": "全部案件"}
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _people(page: Page) -> list[User]:
    """Who may be responsible for a case (the chat's advisers and staff)."""
    statement = select(User).where(User.role.in_(litigation.RESPONSIBLE_ROLES)).order_by(User.id)
    return list(page.db.exec(statement))


def _choices(page: Page) -> dict:
    return {
        "types": litigation.CASE_TYPES,
        "roles": litigation.ROLES,
        "stages": litigation.STAGES,
        "date_kinds": litigation.DATE_KINDS,
        "communities": page.settings.communities,
        "people": _people(page),
    }


def _values(page: Page) -> dict[str, str]:
    """The fields the form sent (the edit form has no outcome or closing date: a case is
    closed with its own form, and an edit must not wipe what it does not show)."""
    return {name: page.value(name) for name in FIELDS if name in page.form}


def last_finished_quarter(today) -> tuple[int, int]:
    """The quarter the office reports now (the bureau wants it after the quarter ends)."""
    quarter = (today.month - 1) // 3  # 0 in the first quarter
    return (today.year, quarter) if quarter else (today.year - 1, 4)


def index(page: Page, form: dict | None = None, status_code: int = 200):
    shown = page.query("show", "open")
    shown = shown if shown in SHOWN else "open"
    kind = page.query("kind")
    rows = litigation.listing(page.db, open_only=shown == "open")
    if kind in litigation.CASE_TYPES:
        rows = [case for case in rows if case.kind == kind]
    today = utcnow().astimezone(page.settings.zone).date()
    report_year, report_quarter = last_finished_quarter(today)
    return page.render(
        "litigation.html",
        status_code=status_code,
        title="诉讼登记",
        rows=rows,
        shown=shown,
        shown_names=SHOWN,
        kind=kind,
        case=form or {"stage": "filed"},
        years=list(range(today.year, today.year - 6, -1)),
        report_year=report_year,
        report_quarter=report_quarter,
        layout=litigation.IMPORT_LAYOUT,
        yuan=litigation.yuan_text,
        **_choices(page),
    )


def add(page: Page):
    values = _values(page)
    try:
        case = litigation.add(page.db, litigation.draft(page.db, values), page.legal_actor)
    except LitigationError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        page.flash(str(exc), "error")
        return index(page, form=values, status_code=400)
    page.audit("litigation_added", f"litigation:{case.id}", litigation.describe(case)[:200])
    return page.redirect(f"/litigation/{case.id}", f"已登记：{litigation.describe(case)}")


def _case(page: Page):
    raw = page.request.path_params["case_id"]
    try:
        return litigation.get(page.db, int(raw)) if raw.isdigit() else None
    except LitigationError:
        return None


def _missing(page: Page):
    return page.redirect("/litigation", "没有这个案件。", "error")


def case_page(page: Page):
    case = _case(page)
    if case is None:
        return _missing(page)
    zone = page.settings.zone
    history = legal_history.of(page.db, "litigation", case.id)
    return page.render(
        "litigation_case.html",
        title=f"{litigation.CASE_TYPES[case.kind]} {case.number}",
        case=case,
        details=litigation.details(page.db, case, zone),
        dates=litigation.dates_of(page.db, case.id),
        history=[legal_history.describe(row, zone) for row in history],
        amount=litigation.amount_yuan(case.amount_fen),
        today=utcnow().astimezone(zone).date().isoformat(),
        **_choices(page),
    )


def edit(page: Page):
    case = _case(page)
    if case is None:
        return _missing(page)
    try:
        litigation.update(page.db, case.id, _values(page), page.legal_actor)
    except LitigationError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        return page.redirect(f"/litigation/{case.id}", str(exc), "error")
    page.audit("litigation_updated", f"litigation:{case.id}", litigation.describe(case)[:200])
    return page.redirect(f"/litigation/{case.id}", f"已修改：{litigation.describe(case)}")


def add_date(page: Page):
    case = _case(page)
    if case is None:
        return _missing(page)
    at = " ".join(part for part in (page.value("day"), page.value("time")) if part)
    try:
        row, reminders = litigation.add_date(
            page.db, case.id, page.value("kind"), at, page.value("note") or None,
            page.legal_actor, zone=page.settings.zone,
        )  # fmt: skip
    except LitigationError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        return page.redirect(f"/litigation/{case.id}", str(exc), "error")
    what = litigation.DATE_KINDS[row.kind]
    page.audit("litigation_date", f"litigation:{case.id}", f"{what} {at}")
    told = f"，将提前 {len(reminders)} 次提醒承办人" if reminders else ""
    if reminders and case.responsible_id is None:
        told = "；还没有承办人，提醒不会发出，请先在下面指定承办人"
    return page.redirect(f"/litigation/{case.id}", f"已登记{what}：{at}{told}。")


def close(page: Page):
    case = _case(page)
    if case is None:
        return _missing(page)
    try:
        litigation.close(
            page.db, case.id, page.value("closed_on"), page.value("outcome"), page.legal_actor
        )
    except LitigationError as exc:
        log.info("web: %s refused on %s: %s", page.account.name, page.request.url.path, exc)
        return page.redirect(f"/litigation/{case.id}", str(exc), "error")
    page.audit("litigation_closed", f"litigation:{case.id}", case.outcome[:200])
    return page.redirect(f"/litigation/{case.id}", f"已结案：{litigation.describe(case)}")


def import_file(page: Page):
    zone = page.settings.zone

    def save(report) -> list[str]:
        found = litigation.import_rows(page.db, report, page.legal_actor, zone=zone, now=utcnow())
        return [litigation.describe(case) for case in found]

    return checked_import(
        page, back=("/litigation", "诉讼登记"), noun="案件",
        check=lambda path: litigation.check_import(page.db, path, zone), save=save,
        audit_action="litigation_imported",
    )  # fmt: skip


def quarterly_report(page: Page):
    fmt = page.query("format", "xlsx")
    if fmt not in FORMATS:
        return Response("季报格式可选 xlsx 或 docx。", status_code=400)
    try:
        period = periods.from_parts(
            page.settings.zone, year=page.query("year"), quarter=page.query("quarter")
        )
    except periods.PeriodError as exc:
        return Response(str(exc), status_code=400)
    report = litigation_report.compute(page.db, period)
    with tempfile.TemporaryDirectory(prefix="pufa-web-") as folder:
        path = litigation_report.write(
            report, Path(folder) / f"report.{fmt}", office=page.settings.office_name
        )
        data = path.read_bytes()
    page.audit("litigation_report", period.slug, fmt)
    return uploads.download(
        data,
        FORMATS[fmt],
        f"litigation-{period.slug}.{fmt}",
        f"诉讼和行政复议季报-{period.slug}.{fmt}",
    )


ROUTES = [
    ("/litigation", ADVISERS, index, ["GET"]),
    ("/litigation", ADVISERS, add, ["POST"]),
    ("/litigation/report", ADVISERS, quarterly_report, ["GET"]),
    ("/litigation/import", ADVISERS, import_file, ["POST"]),
    ("/litigation/{case_id}", ADVISERS, case_page, ["GET"]),
    ("/litigation/{case_id}", ADVISERS, edit, ["POST"]),
    ("/litigation/{case_id}/dates", ADVISERS, add_date, ["POST"]),
    ("/litigation/{case_id}/close", ADVISERS, close, ["POST"]),
]
