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

from bot.services import legal_stats
from bot.services.stats import METRICS, SUMMARY_ORDER, Breakdown, Stats

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "csv", "json")
FORMAT_HELP = "导出格式可选 xlsx（Excel）、csv 或 json"
CSV_HEADER = ("时间段", "分表", "分组键", "分组", "指标键", "指标", "数值")
SUMMARY_SHEET = "汇总"
ACTIVITY_SHEET = "线下活动"
GAPS_SHEET = "未解答问题"
LEGAL_SHEET = "法律事务"
SOURCES_SHEET = "附录-数字来源"
SOURCE_COLUMNS = (
    ("metric", "指标"),
    ("record", "来源"),
    ("id", "编号"),
    ("date", "日期"),
    ("kind", "类型"),
    ("title", "事项/案号"),
    ("amount", "计入数量"),
)
ACTIVITY_COLUMNS = (
    ("id", "编号"),
    ("date", "日期"),
    ("kind", "类型"),
    ("title", "名称"),
    ("community", "社区"),
    ("topic", "主题"),
    ("attendance", "参与人数"),
    ("audience", "对象"),
    ("materials", "发放资料（份）"),
    ("site", "阵地"),
    ("series", "系列栏目"),
    ("lecturer", "主讲人或团队"),
    ("attachments", "附件"),
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
    "audience": ("attendance", "study_attendance"),
    "site": ("attendance",),
    "series": ("attendance",),
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
    yield from _legal_lines(stats)


def _legal_lines(stats: Stats):
    if stats.legal is None:
        return
    for key, value in stats.legal.summary.items():
        yield LEGAL_SHEET, "", "全部", key, legal_stats.label(key), value
    for breakdown in stats.legal.breakdowns:
        for row_label, values in breakdown.rows:
            for key in breakdown.metrics:
                yield (
                    breakdown.title,
                    row_label,
                    row_label,
                    key,
                    legal_stats.label(key),
                    values[key],
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
        "legal": _legal_dict(stats),
    }


def _legal_dict(stats: Stats) -> dict | None:
    legal = stats.legal
    if legal is None:
        return None
    return {
        "metrics": {k: legal_stats.label(k) for k in legal.summary},
        "summary": dict(legal.summary),
        "breakdowns": {
            b.key: {
                "title": b.title,
                "header": b.header,
                "metrics": list(b.metrics),
                "rows": [{"label": label, "values": values} for label, values in b.rows],
            }
            for b in legal.breakdowns
        },
        "sources": legal.sources,
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
# Printing: every sheet is set up for A4 portrait, scaled to the page width, with its header
# rows repeated on each page. Charts sit under their table; a chart that would not fit on
# the rest of a page starts a new one (a manual row break), so none is cut in two.
ROWS_PER_PAGE = 44  # rows of default height on an A4 portrait page at 100 %, with margins
LANDSCAPE_ROWS_PER_PAGE = 30
CHART_ROWS = 16  # rows a chart of CHART_HEIGHT_CM covers, plus a gap
CHART_HEIGHT_CM, CHART_WIDTH_CM = 7.5, 16.0
DATE_FORMAT, TIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm"


def write_xlsx(stats: Stats, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    _summary_sheet(book.active, stats)
    for breakdown in stats.breakdowns:
        _breakdown_sheet(book.create_sheet(breakdown.dimension.title), breakdown)
    activities = [_with_date(item, "date") for item in stats.activity_list]
    _list_sheet(book.create_sheet(ACTIVITY_SHEET), ACTIVITY_COLUMNS, activities)
    gaps = [_with_time(item, "at") for item in stats.unanswered_questions]
    _list_sheet(book.create_sheet(GAPS_SHEET), GAP_COLUMNS, gaps)
    if stats.legal is not None:
        _legal_sheets(book, stats)
    book.save(path)


def _legal_sheets(book, stats: Stats) -> None:
    """The legal-work figures, their breakdowns, and the appendix of the rows behind them."""
    legal = stats.legal
    sheet = book.create_sheet(LEGAL_SHEET)
    _bold_header(sheet, 1, ["指标", "数值"])
    for offset, (key, value) in enumerate(legal.summary.items()):
        sheet.cell(row=2 + offset, column=1, value=legal_stats.label(key))
        sheet.cell(row=2 + offset, column=2, value=value)
    sheet.column_dimensions["A"].width = 34
    _print_setup(sheet, "1:1")
    for breakdown in legal.breakdowns:
        part = book.create_sheet(breakdown.title)
        labels = [legal_stats.label(k) for k in breakdown.metrics]
        _bold_header(part, 1, [breakdown.header, *labels])
        for offset, (label, values) in enumerate(breakdown.rows):
            part.cell(row=2 + offset, column=1, value=label)
            for column, key in enumerate(breakdown.metrics, 2):
                part.cell(row=2 + offset, column=column, value=values[key])
        part.column_dimensions["A"].width = 26
        _print_setup(part, "1:1", landscape=len(breakdown.metrics) > 6)
    _list_sheet(book.create_sheet(SOURCES_SHEET), SOURCE_COLUMNS, source_rows(stats))


def source_rows(stats: Stats) -> list[dict]:
    """One line per (figure, row behind it): the appendix that makes each figure traceable."""
    from datetime import date

    lines = []
    for key, rows in stats.legal.sources.items():
        for row in rows:
            lines.append(
                {
                    "metric": legal_stats.label(key),
                    "record": row["record"],
                    "id": row["id"],
                    "date": date.fromisoformat(row.get("date") or row["filed_on"]),
                    "kind": row["kind"],
                    "title": row.get("number") or row.get("title"),
                    "amount": _source_amount(key, row),
                }
            )
    return lines


def _source_amount(key: str, row: dict) -> int:
    """What the row adds to the figure: its count for sums of documents/opinions/people."""
    sums = ("contract_docs", "model_texts", "opinion_items", "meeting_opinions",
            "training_attendance")  # fmt: skip
    return row["count"] if key in sums else 1


def _with_date(item: dict, key: str) -> dict:
    """A copy whose `key` is a real date (Excel sorts and filters it as one)."""
    from datetime import date

    value = item.get(key)
    return {**item, key: date.fromisoformat(value)} if isinstance(value, str) else item


def _with_time(item: dict, key: str) -> dict:
    from datetime import datetime

    value = item.get(key)
    if isinstance(value, str):
        return {**item, key: datetime.strptime(value, "%Y-%m-%d %H:%M")}
    return item


def _print_setup(sheet, title_rows: str, landscape: bool = False) -> None:
    """A4, fit to the page width (any number of pages tall), header rows repeated."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = (
        sheet.ORIENTATION_LANDSCAPE if landscape else sheet.ORIENTATION_PORTRAIT
    )
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = title_rows
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


def _bold_header(sheet, row: int, values: list[str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    fill = PatternFill("solid", fgColor="DDEBF7")
    for column, value in enumerate(values, 1):
        cell = sheet.cell(row=row, column=column, value=value)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _summary_sheet(sheet, stats: Stats) -> None:
    from openpyxl.styles import Alignment, Font

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
    wrap = Alignment(wrap_text=True, vertical="top")
    for offset, key in enumerate(SUMMARY_ORDER):
        value = stats.summary[key]
        sheet.cell(row=6 + offset, column=1, value=METRICS[key].label).alignment = wrap
        cell = sheet.cell(row=6 + offset, column=2, value=value if value is not None else "—")
        if isinstance(value, float):
            cell.number_format = "0.00"
        sheet.cell(row=6 + offset, column=3, value=METRICS[key].note).alignment = wrap
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 10
    sheet.column_dimensions["C"].width = 58
    _print_setup(sheet, "5:5")


WIDE_TABLE_METRICS = 6  # more metrics than this: one row per metric, groups across
TRANSPOSED_CORNER = "指标"


def _breakdown_sheet(sheet, breakdown: Breakdown) -> None:
    """One table per breakdown with its charts under it.

    A breakdown with only a few metrics has one row per group (a month, a community) and a
    column per metric; one with many has a row per metric and a column per group, which
    keeps it readable when printed on one page width.
    """
    transposed = len(breakdown.dimension.metrics) > WIDE_TABLE_METRICS
    if transposed:
        columns, rows = _transposed_table(sheet, breakdown)
    else:
        columns, rows = _plain_table(sheet, breakdown)
    wide = columns > 9
    _print_setup(sheet, "1:1", landscape=wide)
    if breakdown.rows:
        charts = _charts(sheet, breakdown, transposed, wide)
        _place_charts(sheet, charts, first_free_row=rows + 3, landscape=wide)


def _plain_table(sheet, breakdown: Breakdown) -> tuple[int, int]:
    from openpyxl.utils import get_column_letter

    metrics = breakdown.dimension.metrics
    _bold_header(sheet, 1, [breakdown.dimension.header, *(METRICS[k].label for k in metrics)])
    for offset, row in enumerate(breakdown.rows):
        sheet.cell(row=2 + offset, column=1, value=row.label)
        for column, key in enumerate(metrics, 2):
            sheet.cell(row=2 + offset, column=column, value=row.values[key])
    sheet.freeze_panes = "B2"
    sheet.row_dimensions[1].height = 32
    sheet.column_dimensions["A"].width = 16
    for column in range(2, len(metrics) + 2):
        sheet.column_dimensions[get_column_letter(column)].width = 11
    return len(metrics) + 1, len(breakdown.rows) + 1


def _transposed_table(sheet, breakdown: Breakdown) -> tuple[int, int]:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    metrics = breakdown.dimension.metrics
    _bold_header(sheet, 1, [TRANSPOSED_CORNER, *(row.label for row in breakdown.rows)])
    for offset, key in enumerate(metrics):
        sheet.cell(row=2 + offset, column=1, value=METRICS[key].label).font = Font(bold=True)
        for column, row in enumerate(breakdown.rows, 2):
            sheet.cell(row=2 + offset, column=column, value=row.values[key])
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 22
    for column in range(2, len(breakdown.rows) + 2):
        sheet.column_dimensions[get_column_letter(column)].width = 9
    return len(breakdown.rows) + 1, len(metrics) + 1


def _series_chart(chart, sheet, breakdown: Breakdown, keys: tuple[str, ...], transposed: bool):
    from openpyxl.chart import Reference

    metrics = breakdown.dimension.metrics
    last = len(breakdown.rows) + 1
    for key in keys:
        index = metrics.index(key) + 2
        if transposed:
            data = Reference(sheet, min_col=1, max_col=last, min_row=index, max_row=index)
            chart.add_data(data, from_rows=True, titles_from_data=True)
        else:
            data = Reference(sheet, min_col=index, min_row=1, max_row=last)
            chart.add_data(data, titles_from_data=True)
    if transposed:
        categories = Reference(sheet, min_col=2, max_col=last, min_row=1, max_row=1)
    else:
        categories = Reference(sheet, min_col=1, min_row=2, max_row=last)
    chart.set_categories(categories)
    chart.x_axis.title = breakdown.dimension.header
    chart.y_axis.title = "数量"
    return chart


def _charts(sheet, breakdown: Breakdown, transposed: bool, wide: bool) -> list:
    from openpyxl.chart import BarChart, LineChart

    key = breakdown.dimension.key
    first = LineChart() if key == "month" else BarChart()
    first.title = f"{breakdown.dimension.title}统计"
    charts = [_series_chart(first, sheet, breakdown, CHARTED[key], transposed)]
    if key == "month":
        second = BarChart()
        second.title = "每月法律咨询和线下活动"
        charts.append(_series_chart(second, sheet, breakdown, MONTH_BAR_CHART, transposed))
    for chart in charts:
        chart.height = CHART_HEIGHT_CM
        chart.width = CHART_WIDTH_CM * (1.5 if wide else 1)
    return charts


def chart_rows(first_free_row: int, charts: int, per_page: int = ROWS_PER_PAGE):
    """(anchor row, page break before it) for each chart placed under a table.

    Pages are counted in rows of default height: a chart that would run past the end of the
    current page starts the next one instead.
    """
    placed: list[tuple[int, bool]] = []
    row, page_end = first_free_row, per_page
    while row > page_end:
        page_end += per_page
    for _ in range(charts):
        needs_break = row + CHART_ROWS > page_end
        if needs_break:
            row = page_end + 1
            page_end = row - 1 + per_page
        placed.append((row, needs_break))
        row += CHART_ROWS
    return placed


def _place_charts(sheet, charts: list, first_free_row: int, landscape: bool = False) -> None:
    from openpyxl.worksheet.pagebreak import Break

    per_page = LANDSCAPE_ROWS_PER_PAGE if landscape else ROWS_PER_PAGE
    placed = chart_rows(first_free_row, len(charts), per_page)
    for chart, (row, needs_break) in zip(charts, placed, strict=True):
        if needs_break:
            sheet.row_breaks.append(Break(id=row - 1))
        sheet.add_chart(chart, f"A{row}")


def _list_sheet(sheet, columns, rows: list[dict]) -> None:
    from datetime import date, datetime

    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    _bold_header(sheet, 1, [label for _, label in columns])
    wrap = Alignment(wrap_text=True, vertical="top")
    for offset, item in enumerate(rows):
        for column, (key, _) in enumerate(columns, 1):
            cell = sheet.cell(row=2 + offset, column=column, value=item[key])
            if isinstance(item[key], datetime):
                cell.number_format = TIME_FORMAT
            elif isinstance(item[key], date):
                cell.number_format = DATE_FORMAT
            elif isinstance(item[key], str):
                cell.alignment = wrap
    sheet.freeze_panes = "A2"
    for column, (key, _) in enumerate(columns, 1):
        wide = key in ("question", "title", "notes")
        sheet.column_dimensions[get_column_letter(column)].width = 40 if wide else 12
    _print_setup(sheet, "1:1", landscape=len(columns) > 9)  # the activities' many columns


# --- chart image for the chat ----------------------------------------------------------------
CJK_FONT_FILES = (  # Debian/Ubuntu packages: fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)


def _chart_font():
    """A font with Chinese glyphs (fonts-noto-cjk, WenQuanYi …), or None.

    A known font file is used by path, so the labels never depend on matplotlib's font
    cache (which does not see a font installed after the cache was built); failing that,
    a CJK family the cache does know.
    """
    from matplotlib import font_manager

    for path in CJK_FONT_FILES:
        if Path(path).is_file():
            return font_manager.FontProperties(fname=path)
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
    from matplotlib.ticker import MaxNLocator

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
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts, never 1.75
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
