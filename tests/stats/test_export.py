"""Exports and the report, read back with openpyxl / csv / json / python-docx and compared
with the figures computed independently from the generated ledger."""

from __future__ import annotations

import csv
import json
import re
from datetime import date

import pytest
from docx import Document
from openpyxl import load_workbook
from openpyxl.chart import BarChart, LineChart
from sqlmodel import Session

from bot.services import export, periods, report, stats
from bot.services.activities import KINDS
from bot.services.export import ExportError
from bot.services.report import ReportError
from bot.services.stats import DIMENSIONS, METRICS, SUMMARY_ORDER
from bot.testing.stats_data import (
    ZONE,
    expected_breakdown,
    expected_rows,
    expected_summary,
    generate,
    insert,
)

FIRST, END = date(2026, 1, 1), date(2027, 1, 1)
CHANNEL_NAMES = {
    "console": "控制台",
    "telegram": "Telegram",
    "wechat": "微信",
    "offline": "线下活动",
}


def row_label(dimension: str, key) -> str:
    """How the test expects a group to be named in the files."""
    if dimension == "month":
        return f"{key[:4]}年{int(key[5:])}月"
    if key is None:
        return "未填写"
    return {
        "channel": lambda: CHANNEL_NAMES[key],
        "book": lambda: f"{key}编",
        "activity_kind": lambda: KINDS[key],
    }.get(dimension, lambda: key)()


def expected_tables(data) -> dict:
    """{sheet title: {row label: {metric label: figure}}} for every breakdown."""
    tables = {}
    for dimension in DIMENSIONS:
        rows = expected_rows(data, FIRST, END, dimension)
        tables[dimension.title] = {
            row_label(dimension.key, key): {METRICS[m].label: v for m, v in figures.items()}
            for key, figures in rows.items()
        }
    return tables


@pytest.fixture
def generated(engine):
    data = insert(engine, generate())
    with Session(engine) as session:
        figures = stats.compute(session, periods.parse_period("2026", ZONE))
    return data, figures


# --- XLSX ------------------------------------------------------------------------------------
def test_xlsx_has_every_figure_and_native_charts(generated, tmp_path):
    data, figures = generated
    path = export.write(figures, "xlsx", tmp_path / "out" / "stats.xlsx")
    book = load_workbook(path)
    titles = [d.title for d in DIMENSIONS]
    assert book.sheetnames == ["汇总", *titles, "线下活动", "未解答问题"]

    summary_sheet = book["汇总"]
    header = next(r for r in range(1, 10) if summary_sheet.cell(r, 1).value == "指标")
    found = {
        summary_sheet.cell(r, 1).value: summary_sheet.cell(r, 2).value
        for r in range(header + 1, header + 1 + len(SUMMARY_ORDER))
    }
    want = expected_summary(data, FIRST, END)
    assert found == {METRICS[k].label: want[k] for k in SUMMARY_ORDER}

    for title, rows in expected_tables(data).items():
        sheet = book[title]
        labels = [cell.value for cell in sheet[1]]
        table = {
            line[0]: dict(zip(labels[1:], line[1:], strict=True))
            for line in sheet.iter_rows(min_row=2, values_only=True)
        }
        assert table == rows, title
        assert sheet._charts, f"{title} has no chart"
        for chart in sheet._charts:
            for series in chart.series:
                _check_series(book, series, table)
    month_charts = book["按月"]._charts
    assert {type(c) for c in month_charts} == {LineChart, BarChart}


def _check_series(book, series, table: dict) -> None:
    """A chart series names a metric column and points at exactly that column's figures."""
    sheet_name, cell = series.tx.strRef.f.split("!")
    sheet = book[sheet_name.strip("'")]
    metric = sheet[cell.replace("$", "")].value
    _, cells = series.val.numRef.f.split("!")
    values = [c[0].value for c in sheet[cells.replace("$", "")]]
    assert values == [row[metric] for row in table.values()]


def test_xlsx_lists_unanswered_questions_and_activities(generated, tmp_path):
    data, figures = generated
    book = load_workbook(export.write(figures, "xlsx", tmp_path / "stats.xlsx"))
    gaps = list(book["未解答问题"].iter_rows(min_row=2, values_only=True))
    expected = sorted(
        (q for q in data.questions if FIRST <= q.at.astimezone(ZONE).date() < END),
        key=lambda q: q.at,
    )
    expected = [q for q in expected if q.status == "none" or q.feedback == "unhelpful"]
    assert [row[2] for row in gaps] == [q.question for q in expected]
    assert {row[3] for row in gaps} <= {"未解答", "没帮助"}
    acts = list(book["线下活动"].iter_rows(min_row=2, values_only=True))
    want = sorted((a for a in data.activities if FIRST <= a.day < END), key=lambda a: a.day)
    assert sorted(row[3] for row in acts) == sorted(a.title for a in want)
    assert sum(row[6] for row in acts) == sum(a.attendance for a in want)


# --- CSV and JSON ----------------------------------------------------------------------------
def test_csv_carries_the_same_figures(generated, tmp_path):
    data, figures = generated
    path = export.write(figures, "csv", tmp_path / "stats.csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert set(lines[0]) == {"时间段", "分表", "分组键", "分组", "指标键", "指标", "数值"}
    assert {line["时间段"] for line in lines} == {"2026年"}
    got: dict = {}
    for line in lines:
        got.setdefault(line["分表"], {}).setdefault(line["分组"], {})[line["指标"]] = line["数值"]
    want = expected_summary(data, FIRST, END)
    assert got.pop("汇总") == {
        "全部": {METRICS[k].label: "" if want[k] is None else str(want[k]) for k in SUMMARY_ORDER}
    }
    tables = {
        title: {label: {m: str(v) for m, v in row.items()} for label, row in rows.items()}
        for title, rows in expected_tables(data).items()
        if rows
    }
    assert got == tables


def test_json_carries_the_same_figures(generated, tmp_path):
    data, figures = generated
    path = export.write(figures, "json", tmp_path / "stats.json")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded["period"]["first_day"] == "2026-01-01"
    assert loaded["period"]["last_day"] == "2026-12-31"
    assert loaded["period"]["timezone"] == "Asia/Shanghai"
    assert loaded["summary"] == expected_summary(data, FIRST, END)
    for dimension in DIMENSIONS:
        part = loaded["breakdowns"][dimension.key]
        got = {row["key"]: row["values"] for row in part["rows"]}
        assert got == expected_rows(data, FIRST, END, dimension)
    gaps = [q for q in data.questions if FIRST <= q.at.astimezone(ZONE).date() < END]
    gaps = [q for q in gaps if q.status == "none" or q.feedback == "unhelpful"]
    assert len(loaded["unanswered_questions"]) == len(gaps)


def test_unknown_format_is_refused_in_chinese(tmp_path):
    with pytest.raises(ExportError, match="不支持的导出格式“pdf”"):
        export.check_format("pdf")
    with pytest.raises(ExportError, match="不支持的导出格式"):
        export.check_format(None, tmp_path / "stats.txt")
    assert export.check_format(None, tmp_path / "stats.CSV") == "csv"
    assert export.check_format("XLSX") == "xlsx"


# --- chart image -----------------------------------------------------------------------------
@pytest.mark.parametrize("with_cjk_font", [True, False])
def test_month_chart_is_a_png(generated, monkeypatch, with_cjk_font):
    _, figures = generated
    if not with_cjk_font:
        monkeypatch.setattr(export, "_chart_font", lambda: None)
    image = export.month_chart_png(figures)
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 5000


# --- report ----------------------------------------------------------------------------------
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def report_figures(data) -> set[str]:
    """Every figure the report may cite, as text."""
    summary = expected_summary(data, FIRST, END)
    allowed = {str(v) for v in summary.values() if isinstance(v, int)}
    if summary["median_answer_hours"] is not None:
        allowed.add(f"{summary['median_answer_hours']:.1f}")
    for dimension in ("book", "topic", "activity_kind"):
        for row in expected_breakdown(data, FIRST, END, dimension).values():
            allowed |= {str(v) for v in row.values()}
    places = expected_breakdown(data, FIRST, END, "community")
    allowed.add(str(sum(1 for k, row in places.items() if k and row["activities"])))
    allowed |= {"2026", "12", "31"}  # "截至2026年12月31日"
    return allowed


def check_report_text(text: str, data) -> None:
    s = expected_summary(data, FIRST, END)
    assert f"全年通过普法助手解答群众《民法典》咨询{s['answers_shown']}次" in text
    assert f"推送普法信息{s['notices']}条，覆盖{s['deliveries']}人次" in text
    assert f"法律顾问答复群众咨询{s['consult_answered']}件" in text
    assert f"开展线下普法活动{s['activities']}次，参与群众{s['attendance']}人次" in text
    assert f"订阅普法信息的群众{s['subscribers']}人" in text
    assert f"首次答复时间中位数为{s['median_answer_hours']:.1f}小时" in text
    cited = set(NUMBER.findall(text))
    assert cited <= report_figures(data), cited - report_figures(data)


def test_docx_report_has_the_figures_and_no_others(generated, tmp_path):
    data, figures = generated
    path = report.write(figures, tmp_path / "report.docx")
    document = Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "2026年普法宣传和法律咨询工作情况（初稿）"
    body = "\n".join(p for p in paragraphs[2:] if not p.startswith("附"))
    check_report_text(body, data)
    table = {row.cells[0].text: row.cells[1].text for row in document.tables[0].rows[1:]}
    s = expected_summary(data, FIRST, END)
    assert table[METRICS["answers_shown"].label] == str(s["answers_shown"])
    assert table[METRICS["attendance"].label] == str(s["attendance"])


def test_markdown_report_matches_the_docx(generated, tmp_path):
    data, figures = generated
    text = report.write(figures, tmp_path / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# 2026年普法宣传和法律咨询工作情况（初稿）")
    body = text.split("## 一、", 1)[1].split("## 附", 1)[0]
    check_report_text(body, data)
    docx_text = "\n".join(
        p.text for p in Document(str(report.write(figures, tmp_path / "r.docx"))).paragraphs
    )
    for paragraph in body.split("\n"):
        if paragraph and not paragraph.startswith("#"):
            assert paragraph in docx_text


def test_report_of_an_empty_year_says_what_is_missing(engine, tmp_path):
    with Session(engine) as session:
        figures = stats.compute(session, periods.parse_period("2031", ZONE), lists=False)
    text = report.to_markdown(figures)
    assert "暂无答复记录可计算首次答复时间" in text
    assert "开展线下普法活动0次，参与群众0人次。" in text
    assert "咨询较多的依次是" not in text  # no ranking of zeros


def test_report_needs_docx_or_md(tmp_path):
    with pytest.raises(ReportError, match=r"\.docx（Word）或 \.md"):
        report.report_format(tmp_path / "report.pdf")
