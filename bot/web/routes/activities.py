"""活动: offline publicity activities — list, add, edit, delete, and an Excel import that
reports row by row (a bad row is reported and skipped; the good rows are saved)."""

from __future__ import annotations

import io
import logging

from bot.models import Activity
from bot.services import activities, periods
from bot.timeutil import utcnow
from bot.web.security import STAFF, Page, Upload

log = logging.getLogger(__name__)

FIELDS = ("day", "kind", "title", "community", "topic", "attendance", "notes", "audience",
          "materials", "site", "series", "lecturer")  # fmt: skip
IMPORT_LIMIT = 2000


def _draft(values) -> activities.Draft:
    return activities.draft(
        day=values("day"),
        kind=values("kind"),
        title=values("title"),
        attendance=values("attendance") or "0",
        community=values("community") or None,
        topic=values("topic") or None,
        notes=values("notes") or None,
        audience=values("audience") or None,
        materials=values("materials") or None,
        site=values("site") or None,
        series=values("series") or None,
        lecturer=values("lecturer") or None,
    )


def index(page: Page, **extra):
    zone = page.settings.zone
    year = page.query("year") or str(utcnow().astimezone(zone).year)
    try:
        period = periods.from_parts(zone, year=year)
    except periods.PeriodError as exc:
        page.flash(str(exc), "error")
        period = periods.current_year(zone)
    rows = activities.in_period(page.db, period)
    return page.render(
        "activities.html",
        title="活动",
        rows=rows,
        period=period,
        kinds=activities.KINDS,
        audiences=activities.AUDIENCES,
        communities=page.settings.communities,
        sites=page.settings.sites,
        form=extra.pop("form", {}),
        **extra,
    )


def add(page: Page):
    try:
        data = _draft(page.value)
    except activities.ActivityError as exc:
        page.flash(str(exc), "error")
        return index(page, form={f: page.value(f) for f in FIELDS})
    activity = activities.add(
        page.db, data, channel="web", user=page.actor, actor=f"web:{page.account.name}"
    )
    page.audit("activity_added", f"activity:{activity.id}", activity.title)
    return page.redirect("/activities", f"已登记活动 #{activity.id}：{activity.title}")


def _activity(page: Page) -> Activity | None:
    raw = page.request.path_params["activity_id"]
    return page.db.get(Activity, int(raw)) if raw.isdigit() else None


def edit_form(page: Page):
    activity = _activity(page)
    if activity is None:
        return page.redirect("/activities", "没有这个活动。", "error")
    return page.render(
        "activity_edit.html",
        title=f"修改活动 #{activity.id}",
        activity=activity,
        kinds=activities.KINDS,
        audiences=activities.AUDIENCES,
        communities=page.settings.communities,
        sites=page.settings.sites,
    )


def edit(page: Page):
    activity = _activity(page)
    if activity is None:
        return page.redirect("/activities", "没有这个活动。", "error")
    try:
        data = _draft(page.value)
    except activities.ActivityError as exc:
        return page.redirect(f"/activities/{activity.id}", str(exc), "error")
    changes = {field: getattr(data, field) for field in FIELDS}
    activities.update(page.db, activity.id, changes, channel="web", user=page.actor)
    page.audit("activity_updated", f"activity:{activity.id}", data.title)
    return page.redirect("/activities", f"已修改活动 #{activity.id}。")


def delete(page: Page):
    activity = _activity(page)
    if activity is None:
        return page.redirect("/activities", "没有这个活动。", "error")
    activities.delete(page.db, activity.id, channel="web", user=page.actor)
    page.audit("activity_deleted", f"activity:{activity.id}", activity.title)
    return page.redirect("/activities", f"已删除活动 #{activity.id}。")


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(row number, field → text) for every non-empty row after the header row; the header
    names columns in Chinese or English (日期 类型 标题 社区 主题 人数 备注)."""
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None) or ()
    columns = [activities.FIELD_NAMES.get(str(h or "").strip().lower()) for h in header]
    if "day" not in columns or "title" not in columns:
        raise activities.ActivityError(
            "第一行应是表头，至少要有“日期”和“标题”两列（还可有 类型、社区、主题、人数、备注）。"
        )
    rows = []
    for number, values in enumerate(lines, start=2):
        if not any(v not in (None, "") for v in values):
            continue
        rows.append((number, {c: _text(v) for c, v in zip(columns, values, strict=False) if c}))
    return rows


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and callable(value.date):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def import_file(page: Page):
    upload = page.form.get("file")
    if not isinstance(upload, Upload):
        return page.redirect("/activities", "请选择一个 Excel 文件（.xlsx）。", "error")
    try:
        rows = read_rows(upload.data)
    except activities.ActivityError as exc:
        return page.redirect("/activities", str(exc), "error")
    except Exception as exc:  # not an xlsx at all
        log.info("web: activity import of %s failed: %s", upload.filename, exc)
        return page.redirect(
            "/activities", "无法读取这个文件，请上传 Excel（.xlsx）表格。", "error"
        )
    if len(rows) > IMPORT_LIMIT:
        return page.redirect(
            "/activities", f"一次最多导入 {IMPORT_LIMIT} 行，这个文件有 {len(rows)} 行。", "error"
        )
    report = [_import_row(page, number, values) for number, values in rows]
    saved = sum(ok for _, ok, _ in report)
    page.audit("activities_imported", upload.filename[:64], f"{saved}/{len(report)} 行导入")
    return page.render("activity_import.html", title="导入结果", report=report, saved=saved)


def _import_row(page: Page, number: int, values: dict[str, str]) -> tuple[int, bool, str]:
    try:
        data = _draft(lambda name: values.get(name, ""))
    except activities.ActivityError as exc:
        return number, False, str(exc)
    activity = activities.add(
        page.db, data, channel="web", user=page.actor, actor=f"web:{page.account.name}"
    )
    return number, True, f"已登记 #{activity.id}：{data.day} {data.title}"


ROUTES = [
    ("/activities", STAFF, index, ["GET"]),
    ("/activities", STAFF, add, ["POST"]),
    ("/activities/import", STAFF, import_file, ["POST"]),
    ("/activities/{activity_id}", STAFF, edit_form, ["GET"]),
    ("/activities/{activity_id}", STAFF, edit, ["POST"]),
    ("/activities/{activity_id}/delete", STAFF, delete, ["POST"]),
]
