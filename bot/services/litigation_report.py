"""The quarterly litigation report to the district justice bureau (诉讼数据按季度整理报送区司法局):
an xlsx (summary by type and stage, new / closed / pending in the period, the case list)
and a docx (cover page and summary), from the `litigation_cases` table.

Periods are cut in PUFA_TIMEZONE (bot.services.periods); a case is
- new      when its filing date lies in the period,
- closed   when its closing date lies in the period,
- pending  when it is still open at the period's end (filed before it, not closed by it),
- listed   when it was open at some point of the period (filed before the end, not
           closed before the start); the stage shown is the case's current stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.services import litigation
from bot.services.litigation import CASE_TYPES, STAGES
from bot.services.periods import Period
from bot.timeutil import utcnow

FORMATS = ("xlsx", "docx")
COUNT_LABELS = {
    "new": "本期新收",
    "closed": "本期办结",
    "pending": "期末未结",
    "listed": "本期在办",
}
CASE_COLUMNS = (
    ("id", "编号"),
    ("kind", "类型"),
    ("number", "案号"),
    ("body", "法院/复议机关"),
    ("parties", "当事人"),
    ("our_role", "我方身份"),
    ("cause", "案由"),
    ("amount", "标的额（元）"),
    ("stage", "阶段"),
    ("filed_on", "立案日期"),
    ("hearings", "开庭日期"),
    ("outcome", "结果"),
    ("closed_on", "结案日期"),
    ("community", "协助社区"),
    ("responsible", "承办人"),
)
CASE_WIDTHS = {"id": 6, "number": 24, "body": 16, "parties": 26, "cause": 16, "amount": 12,
               "hearings": 17, "outcome": 18, "community": 12, "filed_on": 11,
               "closed_on": 11}  # fmt: skip
DOCX_WIDTHS_MM = (22, 44, 34, 16, 16, 24)  # of DOCX_COLUMNS, within the 156 mm text width
DOCX_COLUMNS = (("kind", "类型"), ("number", "案号"), ("cause", "案由"), ("our_role", "我方"),
                ("stage", "阶段"), ("community", "协助社区"))  # fmt: skip


class LitigationReportError(ValueError):
    """The report cannot be written as asked; the message is Chinese."""


@dataclass
class QuarterReport:
    period: Period
    counts: dict[str, dict[str, int]]  # type → {new, closed, pending, listed}
    stages: dict[str, dict[str, int]]  # type → stage → listed cases
    cases: list[dict]
    communities: list[str]
    generated_at: datetime = field(default_factory=utcnow)

    def total(self, key: str) -> int:
        return sum(row[key] for row in self.counts.values())


def report_format(out: str | Path) -> str:
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise LitigationReportError(
            f"诉讼季报文件应以 .xlsx（Excel）或 .docx（Word）结尾，收到的是“{Path(out).name}”。"
        )
    return suffix


def compute(session: Session, period: Period) -> QuarterReport:
    counts = {k: dict.fromkeys(COUNT_LABELS, 0) for k in CASE_TYPES}
    stages = {k: dict.fromkeys(STAGES, 0) for k in CASE_TYPES}
    found = litigation.active_in(session, period)
    for case in found:
        row = counts[case.kind]
        row["listed"] += 1
        row["new"] += period.start <= case.filed_on < period.end
        closed = case.closed_on is not None and case.closed_on < period.end
        row["closed"] += closed and case.closed_on >= period.start
        row["pending"] += not closed
        stages[case.kind][case.stage] += 1
    communities = sorted({c.community for c in found if c.community})
    rows = [litigation.as_row(session, c, period.zone) for c in found]
    return QuarterReport(period, counts, stages, rows, communities)


def title(report: QuarterReport, office: str = "") -> str:
    return f"{office}{report.period.label}诉讼和行政复议案件情况"


def summary_paragraph(report: QuarterReport, office: str = "") -> str:
    parts = []
    for key, label in CASE_TYPES.items():
        row = report.counts[key]
        parts.append(
            f"{label}在办{row['listed']}件（新收{row['new']}件、办结{row['closed']}件、"
            f"期末未结{row['pending']}件）"
        )
    text = (
        f"{report.period.label}，{office or '本单位'}共办理诉讼和行政复议案件{report.total('listed')}件，其中"
        + "；".join(parts)
        + "。"
    )
    assisted: dict[str, int] = {}
    for case in report.cases:
        if case["community"]:
            assisted[case["community"]] = assisted.get(case["community"], 0) + 1
    if assisted:
        places = "、".join(f"{_place(name)}处理案件{n}件" for name, n in sorted(assisted.items()))
        text += f"协助{places}。"
    return text


def _place(name: str) -> str:
    return name if name.endswith("社区") else f"{name}社区"


def write(report: QuarterReport, out: str | Path, office: str = "") -> Path:
    path = Path(out)
    fmt = report_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (write_xlsx if fmt == "xlsx" else write_docx)(report, path, office)
    return path


# --- xlsx ------------------------------------------------------------------------------------
def write_xlsx(report: QuarterReport, path: Path, office: str = "") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    from bot.services.export import _bold_header, _list_sheet, _print_setup

    book = Workbook()
    sheet = book.active
    sheet.title = "汇总"
    sheet["A1"] = title(report, office)
    sheet["A1"].font = Font(bold=True, size=14)
    period = report.period
    sheet["A2"] = f"统计范围：{period.start} 至 {period.last_day}（{period.zone.key}）"
    sheet["A3"] = summary_paragraph(report, office)
    sheet.merge_cells("A3:G3")
    sheet["A3"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[3].height = 15 * (1 + len(sheet["A3"].value) // 45)
    _bold_header(sheet, 5, ["案件类型", *COUNT_LABELS.values()])
    for offset, (key, label) in enumerate([*CASE_TYPES.items(), ("", "合计")]):
        row = report.counts.get(key) or {k: report.total(k) for k in COUNT_LABELS}
        sheet.cell(row=6 + offset, column=1, value=label)
        for column, name in enumerate(COUNT_LABELS, 2):
            sheet.cell(row=6 + offset, column=column, value=row[name])
    _bold_header(sheet, 11, ["案件类型（在办）", *STAGES.values()])
    for offset, (key, label) in enumerate(CASE_TYPES.items()):
        sheet.cell(row=12 + offset, column=1, value=label)
        for column, stage in enumerate(STAGES, 2):
            sheet.cell(row=12 + offset, column=column, value=report.stages[key][stage])
    sheet.column_dimensions["A"].width = 18
    _print_setup(sheet, "5:5")
    cases = book.create_sheet("案件清单")
    _list_sheet(cases, CASE_COLUMNS, report.cases)
    for column, (key, _) in enumerate(CASE_COLUMNS, 1):
        cases.column_dimensions[get_column_letter(column)].width = CASE_WIDTHS.get(key, 10)
    _print_setup(cases, "1:1", landscape=True)
    book.save(path)


# --- docx ------------------------------------------------------------------------------------
def write_docx(report: QuarterReport, path: Path, office: str = "") -> None:
    from docx import Document
    from docx.enum.text import WD_BREAK

    from bot.services import report_template as tpl

    document = Document()
    tpl._page_setup(document)
    styles = tpl._styles(document)
    tpl._page_number_footer(document)
    _cover(document, styles, report, office)
    document.paragraphs[-1].add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("一、总体情况", styles["h1"])
    document.add_paragraph(summary_paragraph(report, office), styles["body"])
    document.add_paragraph("二、分类统计", styles["h1"])
    header = ["案件类型", *COUNT_LABELS.values()]
    body = [
        [label, *(str(report.counts[key][k]) for k in COUNT_LABELS)]
        for key, label in CASE_TYPES.items()
    ]
    body.append(["合计", *(str(report.total(k)) for k in COUNT_LABELS)])
    _table(document, styles, header, body)
    document.add_paragraph("三、案件清单", styles["h1"])
    rows = [[str(c[k] or "—") for k, _ in DOCX_COLUMNS] for c in report.cases]
    if rows:
        table = _table(document, styles, [label for _, label in DOCX_COLUMNS], rows)
        _widths(table, DOCX_WIDTHS_MM)
    else:
        document.add_paragraph("本期无在办案件。", styles["body"])
    document.save(str(path))


def _cover(document, styles, report: QuarterReport, office: str) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    for _ in range(6):
        document.add_paragraph("", styles["body"])
    document.add_paragraph(f"{report.period.label}诉讼和行政复议案件情况报告", styles["title"])
    local = report.generated_at.astimezone(report.period.zone)
    for text in (
        office or "（报送单位）",
        "报送：区司法局",
        f"{local.year}年{local.month}月{local.day}日",
    ):
        paragraph = document.add_paragraph(text, styles["h2"])
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.first_line_indent = 0


def _widths(table, widths_mm) -> None:
    from docx.shared import Mm

    table.autofit = False
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)  # the grid LibreOffice and WPS lay out by
    for row in table.rows:
        for cell, width in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(width)


def _table(document, styles, header: list[str], rows: list[list[str]]):
    from docx.oxml import OxmlElement

    table = document.add_table(rows=1 + len(rows), cols=len(header))
    table.style = "Table Grid"
    for r, values in enumerate([header, *rows]):
        row = table.rows[r]
        no_split = OxmlElement("w:cantSplit")
        row._tr.get_or_add_trPr().append(no_split)
        if r == 0:
            row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
        for cell, text in zip(row.cells, values, strict=True):
            cell.paragraphs[0].text = text
            cell.paragraphs[0].style = document.styles[styles["table"]]
            if r == 0:
                for run in cell.paragraphs[0].runs:
                    run.font.bold = True
    return table
