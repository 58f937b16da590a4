"""Statistics as files: XLSX (summary, one sheet per breakdown, native Excel charts, the
activities and the unanswered questions), CSV and JSON with the same figures, and a PNG
chart of activity by month for the chat.

The CSV is "long": one line per figure (分表, 分组, 指标, 数值 ...), so every figure of
every sheet fits one table that Excel can pivot; it is written with a BOM so Excel opens
the Chinese correctly.

Ledger kind added (written by /export in chat, in the same transaction):
- stats_exported   ref = "<period slug>:<format>", e.g. "2026Q3:csv"
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.services.stats import METRICS, SUMMARY_ORDER, Breakdown, Stats

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "csv", "json")
FORMAT_HELP = "导出格式可选 xlsx（Excel）、csv 或 json"
CSV_HEADER = ("时间段", "分表", "分组键", "分组", "指标键", "指标", "数值")
SUMMARY_SHEET = "汇总"
ACTIVITY_SHEET = "线下活动"
GAPS_SHEET = "未解答问题"
ACTIVITY_COLUMNS = (
    ("id", "编号"),
    ("date", "日期"),
    ("kind", "类型"),
    ("title", "名称"),
    ("community", "社区"),
    ("topic", "主题"),
    ("attendance", "参与人数"),
    ("notes", "备注"),
)
GAP_COLUMNS = (
    ("at", "时间"),
    ("channel", "渠道"),
    ("question", "问题"),
    ("problem", "情况"),
    ("entry_id", "问答编号"),
    ("reviewed", "已处理"),
)
# Which metrics each breakdown sheet charts (kept to a few so the chart stays readable).
CHARTED = {
    "month": ("messages_in", "answers_shown", "deliveries"),
    "channel": ("messages_in", "answers_shown"),
    "community": ("residents", "questions", "consult_submitted"),
    "topic": ("questions", "consult_submitted"),
    "book": ("answers_shown",),
    "activity_kind": ("attendance",),
}
MONTH_BAR_CHART = ("consult_submitted", "consult_answered", "activities")
CHART_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)


class ExportError(ValueError):
    """The export cannot be made as asked; the message is Chinese."""


def check_format(name: str | None, out: str | Path | None = None) -> str:
    """The format to write: as given, or from the output file's extension."""
    if not name and out is not None:
        name = Path(out).suffix.lstrip(".")
    fmt = (name or "").strip().lower()
    if fmt not in FORMATS:
        shown = f"“{name}”" if name else "（未给出）"
        raise ExportError(f"不支持的导出格式{shown}。{FORMAT_HELP}。")
    return fmt


def export_dir(database_url: str) -> Path:
    """data/exports next to a SQLite database file (data/ is git-ignored), otherwise
    ./data/exports."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / "exports"
    return Path("data") / "exports"


def write(stats: Stats, fmt: str, out: str | Path) -> Path:
    path = Path(out)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    writers = {"xlsx": write_xlsx, "csv": write_csv, "json": write_json}
    writers[check_format(fmt)](stats, path)
    log.debug("wrote %s statistics for %s to %s", fmt, stats.period.slug, path)
    return path


# --- shared shape ----------------------------------------------------------------------------
def period_info(stats: Stats) -> dict:
    period = stats.period
    return {
        "label": period.label,
        "kind": period.kind,
        "first_day": period.start.isoformat(),
        "last_day": period.last_day.isoformat(),
        "timezone": period.zone.key,
        "start_utc": period.start_utc.isoformat(),
        "end_utc": period.end_utc.isoformat(),
    }


def figure_lines(stats: Stats):
    """(sheet, group key, group, metric key, metric label, value) for every figure."""
    for key in SUMMARY_ORDER:
        yield SUMMARY_SHEET, "", "全部", key, METRICS[key].label, stats.summary[key]
    for breakdown in stats.breakdowns:
        for row in breakdown.rows:
            for key in breakdown.dimension.metrics:
                yield (
                    breakdown.dimension.title,
                    "" if row.key is None else str(row.key),
                    row.label,
                    key,
                    METRICS[key].label,
                    row.values[key],
                )


# --- JSON and CSV ----------------------------------------------------------------------------
def to_dict(stats: Stats) -> dict:
    return {
        "period": period_info(stats),
        "generated_at": stats.generated_at.isoformat(),
        "metrics": {k: {"label": m.label, "note": m.note} for k, m in METRICS.items()},
        "summary": dict(stats.summary),
        "breakdowns": {
            b.dimension.key: {
                "title": b.dimension.title,
                "header": b.dimension.header,
                "metrics": list(b.dimension.metrics),
                "rows": [{"key": r.key, "label": r.label, "values": r.values} for r in b.rows],
            }
            for b in stats.breakdowns
        },
        "activities": stats.activity_list,
        "unanswered_questions": stats.unanswered_questions,
    }


def write_json(stats: Stats, path: Path) -> None:
    path.write_text(json.dumps(to_dict(stats), ensure_ascii=False, indent=2), encoding="utf-8")


def write_csv(stats: Stats, path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for line in figure_lines(stats):
            value = line[-1]
            writer.writerow((stats.period.label, *line[:-1], "" if value is None else value))


# --- XLSX ------------------------------------------------------------------------------------
def write_xlsx(stats: Stats, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    _summary_sheet(book.active, stats)
    for breakdown in stats.breakdowns:
        _breakdown_sheet(book.create_sheet(breakdown.dimension.title), breakdown)
    _list_sheet(book.create_sheet(ACTIVITY_SHEET), ACTIVITY_COLUMNS, stats.activity_list)
    _list_sheet(book.create_sheet(GAPS_SHEET), GAP_COLUMNS, stats.unanswered_questions)
    book.save(path)


def _bold_header(sheet, row: int, values: list[str]) -> None:
    from openpyxl.styles import Font, PatternFill

    fill = PatternFill("solid", fgColor="DDEBF7")
    for column, value in enumerate(values, 1):
        cell = sheet.cell(row=row, column=column, value=value)
        cell.font = Font(bold=True)
        cell.fill = fill


def _summary_sheet(sheet, stats: Stats) -> None:
    from openpyxl.styles import Font

    info = period_info(stats)
    sheet.title = SUMMARY_SHEET
    sheet["A1"] = f"普法助手工作统计 · {stats.period.label}"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = f"统计范围：{info['first_day']} 至 {info['last_day']}（{info['timezone']}）"
    generated = stats.generated_at.astimezone(stats.period.zone)
    sheet["A3"] = (
        f"生成时间：{generated:%Y-%m-%d %H:%M}；数据来自普法助手记录和工作人员登记的线下活动"
    )
    _bold_header(sheet, 5, ["指标", "数值", "口径说明"])
    for offset, key in enumerate(SUMMARY_ORDER):
        value = stats.summary[key]
        sheet.cell(row=6 + offset, column=1, value=METRICS[key].label)
        cell = sheet.cell(row=6 + offset, column=2, value=value if value is not None else "—")
        if isinstance(value, float):
            cell.number_format = "0.00"
        sheet.cell(row=6 + offset, column=3, value=METRICS[key].note)
    sheet.column_dimensions["A"].width = 26
    sheet.column_dimensions["B"].width = 12
    sheet.column_dimensions["C"].width = 70


def _breakdown_sheet(sheet, breakdown: Breakdown) -> None:
    from openpyxl.utils import get_column_letter

    metrics = breakdown.dimension.metrics
    _bold_header(sheet, 1, [breakdown.dimension.header, *(METRICS[k].label for k in metrics)])
    for offset, row in enumerate(breakdown.rows):
        sheet.cell(row=2 + offset, column=1, value=row.label)
        for column, key in enumerate(metrics, 2):
            sheet.cell(row=2 + offset, column=column, value=row.values[key])
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 16
    for column in range(2, len(metrics) + 2):
        sheet.column_dimensions[get_column_letter(column)].width = 13
    if breakdown.rows:
        _add_charts(sheet, breakdown)


def _series_chart(chart, sheet, breakdown: Breakdown, keys: tuple[str, ...]):
    from openpyxl.chart import Reference

    metrics = breakdown.dimension.metrics
    last = len(breakdown.rows) + 1
    for key in keys:
        column = metrics.index(key) + 2
        data = Reference(sheet, min_col=column, min_row=1, max_row=last)
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last))
    chart.x_axis.title = breakdown.dimension.header
    chart.y_axis.title = "数量"
    chart.height, chart.width = 8, 18
    return chart


def _add_charts(sheet, breakdown: Breakdown) -> None:
    from openpyxl.chart import BarChart, LineChart
    from openpyxl.utils import get_column_letter

    key = breakdown.dimension.key
    anchor_column = get_column_letter(len(breakdown.dimension.metrics) + 3)
    first = LineChart() if key == "month" else BarChart()
    first.title = f"{breakdown.dimension.title}统计"
    sheet.add_chart(_series_chart(first, sheet, breakdown, CHARTED[key]), f"{anchor_column}2")
    if key == "month":
        second = BarChart()
        second.title = "每月法律咨询和线下活动"
        chart = _series_chart(second, sheet, breakdown, MONTH_BAR_CHART)
        sheet.add_chart(chart, f"{anchor_column}20")


def _list_sheet(sheet, columns, rows: list[dict]) -> None:
    from openpyxl.utils import get_column_letter

    _bold_header(sheet, 1, [label for _, label in columns])
    for offset, item in enumerate(rows):
        for column, (key, _) in enumerate(columns, 1):
            sheet.cell(row=2 + offset, column=column, value=item[key])
    sheet.freeze_panes = "A2"
    for column, (key, _) in enumerate(columns, 1):
        wide = key in ("question", "title", "notes")
        sheet.column_dimensions[get_column_letter(column)].width = 60 if wide else 14


# --- chart image for the chat ----------------------------------------------------------------
def _chart_font():
    """A font with Chinese glyphs if the machine has one (fonts-noto-cjk, WenQuanYi...)."""
    from matplotlib import font_manager

    names = {entry.name for entry in font_manager.fontManager.ttflist}
    for name in CHART_FONTS:
        if name in names:
            return font_manager.FontProperties(family=name)
    return None


def _month_tick(key: str, rows, font) -> str:
    one_year = rows[0].key[:4] == rows[-1].key[:4]
    if font is None:
        return key[5:] if one_year else key
    return f"{int(key[5:])}月" if one_year else f"{key[2:4]}年{int(key[5:])}月"


def month_chart_png(stats: Stats) -> bytes:
    """Bars of messages in, Civil Code answers and publicity deliveries per month.

    Labels are Chinese when a CJK font is installed; otherwise they fall back to English
    so the image never shows empty boxes (the reply text names the series in Chinese).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = stats.breakdown("month").rows
    keys = CHARTED["month"]
    font = _chart_font()
    chinese = {"messages_in": "收到消息", "answers_shown": "解答", "deliveries": "普法信息送达"}
    english = {"messages_in": "messages in", "answers_shown": "answers", "deliveries": "pushes"}
    names = chinese if font else english
    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(keys)
    positions = range(len(rows))
    for index, key in enumerate(keys):
        shifted = [p + (index - (len(keys) - 1) / 2) * width for p in positions]
        axes.bar(shifted, [row.values[key] for row in rows], width, label=names[key])
    axes.set_xticks(list(positions))
    axes.set_xticklabels([_month_tick(row.key, rows, font) for row in rows], fontproperties=font)
    title = f"{stats.period.label}每月情况" if font else f"{stats.period.slug} by month"
    axes.set_title(title, fontproperties=font)
    axes.legend(prop=font, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(keys))
    axes.grid(axis="y", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
