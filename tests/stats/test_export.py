"""Exports and the report, read back with openpyxl / csv / json / python-docx and compared
with the figures computed independently from the generated ledger."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from datetime import UTC, date, datetime

import pytest
from docx import Document
from openpyxl import load_workbook
from openpyxl.chart import BarChart, LineChart
from sqlmodel import Session

from bot.services import export, periods, report, stats
from bot.services.activities import AUDIENCES, KINDS
from bot.services.export import ExportError
from bot.services.legal_stats import LEGAL_METRICS
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
    "walk_in": "窗口",
    "phone": "电话",
    "hotline": "热线",
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
        "audience": lambda: AUDIENCES[key],
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
    legal = ["法律事务", "法律事务按月", "法律事务按季度", "法律事务按类型", "附录-数字来源"]
    assert book.sheetnames == ["汇总", *titles, "线下活动", "未解答问题", *legal]

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
        table = read_table(sheet)
        assert table == rows, title
        assert sheet._charts, f"{title} has no chart"
        for chart in sheet._charts:
            for series in chart.series:
                _check_series(book, series, table)
    month_charts = book["按月"]._charts
    assert {type(c) for c in month_charts} == {LineChart, BarChart}


def read_table(sheet) -> dict:
    """{group: {metric: figure}} from a breakdown sheet, in either orientation."""
    lines = [line for line in sheet.iter_rows(min_row=1, values_only=True) if line[0] is not None]
    header, body = lines[0], lines[1:]
    if header[0] == export.TRANSPOSED_CORNER:  # a row per metric, a column per group
        return {
            group: {line[0]: line[column] for line in body}
            for column, group in enumerate(header[1:], 1)
        }
    return {line[0]: dict(zip(header[1:], line[1:], strict=True)) for line in body}


def _check_series(book, series, table: dict) -> None:
    """A chart series names a metric and points at exactly that metric's figures."""
    sheet_name, cell = series.tx.strRef.f.split("!")
    sheet = book[sheet_name.strip("'")]
    metric = sheet[cell.replace("$", "")].value
    _, cells = series.val.numRef.f.split("!")
    found = sheet[cells.replace("$", "")]
    values = [c.value for line in found for c in line]
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
    legal = {key: got.pop(key) for key in list(got) if key.startswith("法律事务")}
    assert legal["法律事务"] == {"全部": {label: "0" for label in LEGAL_METRICS.values()}}
    assert set(legal) == {"法律事务", "法律事务按月", "法律事务按季度", "法律事务按类型"}
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
    for dimension in ("book", "topic", "activity_kind", "audience", "site", "series"):
        rows = expected_breakdown(data, FIRST, END, dimension)
        for row in rows.values():
            allowed |= {str(v) for v in row.values()}
        allowed.add(str(sum(1 for k, row in rows.items() if k and row["activities"])))
    channels = expected_breakdown(data, FIRST, END, "channel")  # 窗口/电话/热线 consultations
    allowed |= {str(row["consult_submitted"]) for row in channels.values()}
    allowed.add(str(summary["consult_submitted"] - summary["consult_in_person"]))
    places = expected_breakdown(data, FIRST, END, "community")
    unset = places[None]  # 未填写: its residents and their share
    allowed |= {str(unset["residents"]), f"{unset['residents_share']:.1f}"}
    allowed.add(str(sum(1 for k, row in places.items() if k and row["activities"])))
    as_of = min(date(2026, 12, 31), datetime.now(ZONE).date())  # "截至…" while 2026 runs
    allowed |= {str(as_of.year), str(as_of.month), str(as_of.day)}
    return allowed


def check_report_text(text: str, data) -> None:
    s = expected_summary(data, FIRST, END)
    assert f"全年解答群众《民法典》咨询{s['answers_shown']}次" in text
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


# --- print-ready layout ----------------------------------------------------------------------
def test_xlsx_prints_on_a4_with_charts_under_their_tables(generated, tmp_path):
    _, figures = generated
    book = load_workbook(export.write(figures, "xlsx", tmp_path / "stats.xlsx"))
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert int(setup.paperSize) == int(sheet.PAPERSIZE_A4), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), sheet.title
        assert sheet.print_title_rows, sheet.title
        last_table_row = max(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value)
        for chart in sheet._charts:
            marker = chart.anchor._from
            assert marker.col == 0, f"{sheet.title}: chart beside the table, not under it"
            assert marker.row + 1 > last_table_row, f"{sheet.title}: chart over the table"


def test_charts_never_straddle_a_page():
    for first_free in range(1, 120):
        for charts in (1, 2, 3):
            placed = export.chart_rows(first_free, charts, per_page=44)
            for row, _ in placed:
                page_of_first = (row - 1) // 44
                page_of_last = (row - 1 + export.CHART_ROWS - 1) // 44
                assert page_of_first == page_of_last, (first_free, charts, row)
                assert row >= first_free
            starts = [row for row, _ in placed]
            assert all(b - a >= export.CHART_ROWS for a, b in zip(starts, starts[1:], strict=False))


def test_xlsx_dates_are_dates(generated, tmp_path):
    _, figures = generated
    book = load_workbook(export.write(figures, "xlsx", tmp_path / "stats.xlsx"))
    days = [row[1] for row in book["线下活动"].iter_rows(min_row=2, values_only=True)]
    assert days and all(isinstance(day, datetime) for day in days)
    times = [row[0] for row in book["未解答问题"].iter_rows(min_row=2, values_only=True)]
    assert times and all(isinstance(at, datetime) for at in times)


def test_docx_is_a4_official_style_with_page_numbers(generated, tmp_path):
    from docx.shared import Mm

    _, figures = generated
    document = Document(str(report.write(figures, tmp_path / "report.docx")))
    section = document.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(1)
    assert abs(section.page_height - Mm(297)) < Mm(1)
    styles = {p.text[:6]: p.style for p in document.paragraphs if p.text}
    east_asian = {
        name: style.element.rPr.rFonts.get(
            "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia"
        )
        for name, style in styles.items()
    }
    assert east_asian["一、主要举措"] == "黑体"
    assert east_asian["（五）强化法"] == "楷体"
    assert east_asian["一是创新线上"] == "仿宋"
    assert styles["一是创新线上"].font.size.pt == 16  # 三号
    footer = section.footer.paragraphs[0]._p.xml
    assert "PAGE" in footer and "fldChar" in footer


def test_docx_figure_table_is_kept_in_one_piece(generated, tmp_path):
    """Rendered with LibreOffice, the appendix table ran over from page 3 to page 4; now it
    starts a page, its rows keep together and never split, and its header row repeats."""
    from docx.oxml.ns import qn

    _, figures = generated
    document = Document(str(report.write(figures, tmp_path / "report.docx")))
    heading = next(p for p in document.paragraphs if p.text == "附：主要数据")
    assert heading.paragraph_format.page_break_before
    table = document.tables[-1]
    assert len(table.rows) == len(report.table_rows(figures)) + 1
    for number, row in enumerate(table.rows):
        properties = row._tr.trPr
        assert properties is not None and properties.find(qn("w:cantSplit")) is not None
        assert (properties.find(qn("w:tblHeader")) is not None) == (number == 0)
        assert all(c.paragraphs[0].paragraph_format.keep_with_next for c in row.cells)


def test_report_follows_the_report_structure(generated):
    _, figures = generated
    text = report.to_markdown(figures)
    assert "## 一、主要举措和成效" in text
    assert "### （五）强化法治宣传，营造浓厚法治氛围" in text
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert [h[4:7] for h in headings] == ["（二）", "（三）", "（四）", "（五）"]
    paragraphs = [line for line in text.splitlines() if line[:2] in ("一是", "二是", "三是")]
    assert [p[:2] for p in paragraphs] == ["一是", "二是", "三是"] * 2


def test_report_says_as_of_today_while_the_period_runs(generated):
    _, figures = generated
    running = dataclasses.replace(figures, generated_at=datetime(2026, 12, 4, 2, 0, tzinfo=UTC))
    assert "截至2026年12月4日" in report.to_markdown(running)
    closed = dataclasses.replace(figures, generated_at=datetime(2027, 1, 5, 2, 0, tzinfo=UTC))
    assert "截至2026年12月31日" in report.to_markdown(closed)
    assert "统计范围为2026-01-01至2026-12-04（截至生成之日）" in report.note(running)
    assert "统计范围为2026-01-01至2026-12-31（Asia/Shanghai）" in report.note(closed)


def test_office_template_is_used(generated, tmp_path):
    from docx import Document as NewDocument

    _, figures = generated
    custom = NewDocument()
    custom.add_paragraph("{{ office }}专用模板：{{ title }}")
    custom.add_paragraph("{%p for block in blocks %}")
    custom.add_paragraph("{{ block.text }}")
    custom.add_paragraph("{%p endfor %}")
    template = tmp_path / "office.docx"
    custom.save(str(template))
    path = report.write(figures, tmp_path / "r.docx", office="华阳街道", template=template)
    texts = [p.text for p in Document(str(path)).paragraphs]
    assert texts[0] == "华阳街道专用模板：华阳街道2026年普法宣传和法律咨询工作情况（初稿）"
    assert "（五）强化法治宣传，营造浓厚法治氛围" in texts


def test_broken_or_missing_template_is_a_clear_error(generated, tmp_path):
    from docx import Document as NewDocument

    _, figures = generated
    with pytest.raises(ReportError, match="找不到报告模板"):
        report.write(figures, tmp_path / "r.docx", template=tmp_path / "nope.docx")
    broken = NewDocument()
    broken.add_paragraph("{% for x in %}")
    broken.save(str(tmp_path / "broken.docx"))
    with pytest.raises(ReportError, match="报告模板无法使用"):
        report.write(figures, tmp_path / "r.docx", template=tmp_path / "broken.docx")


def test_default_template_can_be_written_for_staff_to_edit(tmp_path):
    path = report.write_default_template(tmp_path / "mine.docx")
    texts = [p.text for p in Document(str(path)).paragraphs]
    assert "{{ title }}" in texts and "{%p for block in blocks %}" in texts
