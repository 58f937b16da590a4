"""统计与报表: a period picker, the figures and the monthly chart, and downloads (xlsx,
csv, json, the report docx), each generated into a temporary folder and sent as bytes —
no user-controlled path is ever opened."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from starlette.responses import Response

from bot.services import export, periods, report, stats
from bot.timeutil import utcnow
from bot.web import uploads
from bot.web.security import STAFF, Page

log = logging.getLogger(__name__)

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
FORMAT_NAMES = {"xlsx": "Excel 表格", "csv": "CSV", "json": "JSON", "docx": "Word 报告草稿"}


def period_of(page: Page) -> periods.Period:
    zone = page.settings.zone
    year = page.query("year") or str(utcnow().astimezone(zone).year)
    scope = page.query("scope")
    quarter = scope[1:] if scope.startswith("q") else None
    month = scope[1:] if scope.startswith("m") else None
    return periods.from_parts(zone, year=year, quarter=quarter, month=month)


def _picker(page: Page) -> dict:
    this_year = utcnow().astimezone(page.settings.zone).year
    return {
        "years": list(range(this_year, this_year - 6, -1)),
        "year": page.query("year") or str(this_year),
        "scope": page.query("scope"),
        "scopes": [("", "全年")]
        + [(f"q{n}", f"第{n}季度") for n in range(1, 5)]
        + [(f"m{n}", f"{n}月") for n in range(1, 13)],
    }


def index(page: Page):
    try:
        period = period_of(page)
    except periods.PeriodError as exc:
        page.flash(str(exc), "error")
        period = periods.current_year(page.settings.zone)
    figures = page.web.figures.stats(period)
    summary = [(stats.METRICS[k].label, figures.summary[k]) for k in stats.SUMMARY_ORDER]
    return page.render(
        "stats.html",
        title="统计与报表",
        period=period,
        figures=figures,
        summary=summary,
        metrics=stats.METRICS,
        formats=FORMAT_NAMES,
        query=page.request.url.query,
        ttl=page.web.figures.ttl,
        updating=page.web.figures.is_stale(period),
        **_picker(page),
    )


def chart(page: Page):
    try:
        period = period_of(page)
    except periods.PeriodError:
        return Response("时间段无效。", status_code=400)
    return Response(
        page.web.figures.chart(period),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=60"},
    )


def download(page: Page):
    fmt = page.query("format")
    if fmt not in FORMATS:
        return Response("不支持的格式，可选 xlsx、csv、json、docx。", status_code=400)
    try:
        period = period_of(page)
    except periods.PeriodError as exc:
        return Response(str(exc), status_code=400)
    figures = stats.compute(page.db, period, lists=fmt != "docx")
    name = f"普法统计-{period.slug}.{fmt}" if fmt != "docx" else f"普法工作报告-{period.slug}.docx"
    with tempfile.TemporaryDirectory(prefix="pufa-web-") as folder:
        path = Path(folder) / f"out.{fmt}"
        if fmt == "docx":
            report.write(
                figures,
                path,
                office=page.settings.office_name,
                template=page.settings.report_template,
            )
        else:
            export.write(figures, fmt, path)
        data = path.read_bytes()
    page.audit("download", period.slug, fmt)
    log.info("web: %s downloaded %s %s", page.account.name, period.slug, fmt)
    return uploads.download(data, FORMATS[fmt], f"pufa-{period.slug}.{fmt}", name)


ROUTES = [
    ("/stats", STAFF, index, ["GET"]),
    ("/stats/chart.png", STAFF, chart, ["GET"]),
    ("/stats/download", STAFF, download, ["GET"]),
]
