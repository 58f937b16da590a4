"""The default Word template of the annual-report draft, built in code.

Offices have a house style, so the report is rendered from a template (docxtpl: a .docx
with Jinja tags) that staff may edit in Word or WPS; `python bot.py report template --out
F.docx` writes this default for them to start from, and PUFA_REPORT_TEMPLATE points the
report at their copy. The default follows the common layout of official documents
(GB/T 9704): A4, margins 37/35/28/26 mm, title in 方正小标宋简体 二号, first-level headings
in 黑体 三号, second-level in 楷体 三号, body in 仿宋 三号 on a fixed 28-point line, page
numbers "— 1 —" at the foot. Word and WPS substitute a face the PC lacks (LibreOffice
names the substitute in its font dialog); the names below are the ones government PCs
have.

The template sees: `title`, `note`, `blocks` (level 1 = "一、…" heading, 2 = "（五）…"
heading, 0 = a body paragraph) and `table` (rows of `label`, `value`).
"""

from __future__ import annotations

import io

TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体"
BODY_FONT = "仿宋"
LATIN_FONT = "Times New Roman"
SIZE_TITLE = 22  # 二号
SIZE_BODY = 16  # 三号
SIZE_TABLE = 12  # 小四
LINE_PITCH = 28  # points, fixed


def _set_fonts(style_or_run, east_asian: str, size: float, bold: bool = False) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    font = style_or_run.font
    font.name = LATIN_FONT
    font.size = Pt(size)
    font.bold = bold
    fonts = style_or_run.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), east_asian)


def _paragraph_style(document, name: str, east_asian: str, size: float, **layout):
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_LINE_SPACING
    from docx.shared import Pt

    style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = document.styles["Normal"]
    _set_fonts(style, east_asian, size, layout.pop("bold", False))
    paragraph = style.paragraph_format
    paragraph.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph.line_spacing = Pt(layout.pop("line", LINE_PITCH))
    paragraph.space_before = Pt(layout.pop("before", 0))
    paragraph.space_after = Pt(layout.pop("after", 0))
    paragraph.first_line_indent = Pt(layout.pop("indent", 0))
    paragraph.alignment = layout.pop("align", None)
    paragraph.keep_with_next = layout.pop("keep_with_next", False)
    paragraph.widow_control = True
    return style


def _page_setup(document) -> None:
    from docx.shared import Mm

    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(20)


def _page_number_footer(document) -> None:
    """ "— N —" centred at the foot of every page (a PAGE field)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    paragraph = document.sections[0].footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def run(text: str = ""):
        item = paragraph.add_run(text)
        _set_fonts(item, BODY_FONT, 14)
        return item

    run("— ")
    for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), ("end", None)):
        element = run()._r
        if kind is None:
            code = OxmlElement("w:instrText")
            code.set(qn("xml:space"), "preserve")
            code.text = text
            element.append(code)
        else:
            field = OxmlElement("w:fldChar")
            field.set(qn("w:fldCharType"), kind)
            element.append(field)
            if kind == "separate":
                run("1")
    run(" —")


def _styles(document) -> dict[str, str]:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    _set_fonts(document.styles["Normal"], BODY_FONT, SIZE_BODY)
    centred = WD_ALIGN_PARAGRAPH.CENTER
    justified = WD_ALIGN_PARAGRAPH.JUSTIFY
    made = {
        "title": _paragraph_style(
            document, "报告标题", TITLE_FONT, SIZE_TITLE, line=36, after=16, align=centred
        ),
        "note": _paragraph_style(document, "报告说明", BODY_FONT, 12, line=20, after=12),
        "h1": _paragraph_style(
            document, "一级标题", HEADING_FONT, SIZE_BODY, indent=32, keep_with_next=True
        ),
        "h2": _paragraph_style(
            document, "二级标题", SUBHEADING_FONT, SIZE_BODY, indent=32, keep_with_next=True
        ),
        "body": _paragraph_style(
            document, "报告正文", BODY_FONT, SIZE_BODY, indent=32, align=justified
        ),
        "table": _paragraph_style(document, "表格文字", BODY_FONT, SIZE_TABLE, line=20),
    }
    return {key: style.name for key, style in made.items()}


def _block_paragraphs(document, styles: dict[str, str]) -> None:
    """One paragraph per block; docxtpl keeps the branch whose level matches."""
    document.add_paragraph("{%p for block in blocks %}", styles["body"])
    document.add_paragraph("{%p if block.level == 1 %}", styles["body"])
    document.add_paragraph("{{ block.text }}", styles["h1"])
    document.add_paragraph("{%p elif block.level == 2 %}", styles["body"])
    document.add_paragraph("{{ block.text }}", styles["h2"])
    document.add_paragraph("{%p else %}", styles["body"])
    document.add_paragraph("{{ block.text }}", styles["body"])
    document.add_paragraph("{%p endif %}", styles["body"])
    document.add_paragraph("{%p endfor %}", styles["body"])


def _figure_table(document, styles: dict[str, str]) -> None:
    """The appendix of figures on a page of its own, kept in one piece: it starts on a new
    page, every row keeps with the next, no row splits, and the header row repeats should a
    longer table still run over."""
    from docx.oxml import OxmlElement
    from docx.shared import Mm

    heading = document.add_paragraph("附：主要数据", styles["h1"])
    heading.paragraph_format.page_break_before = True
    table = document.add_table(rows=3, cols=2)
    table.style = "Table Grid"
    rows = (
        ("指标", "数值"),
        ("{%tr for row in table %}", ""),
        ("{{ row.label }}", "{{ row.value }}"),
    )
    for cells, texts in zip(table.rows, rows, strict=True):
        for cell, text in zip(cells.cells, texts, strict=True):
            cell.paragraphs[0].text = text
            cell.paragraphs[0].style = document.styles[styles["table"]]
    closing = table.add_row().cells
    closing[0].paragraphs[0].text = "{%tr endfor %}"
    for number, row in enumerate(table.rows):
        row.cells[0].width, row.cells[1].width = Mm(120), Mm(36)
        properties = row._tr.get_or_add_trPr()
        properties.append(OxmlElement("w:cantSplit"))
        if number == 0:
            properties.append(OxmlElement("w:tblHeader"))
        for cell in row.cells:
            cell.paragraphs[0].paragraph_format.keep_with_next = True


def default_template() -> bytes:
    """The default A4 template as .docx bytes."""
    from docx import Document

    document = Document()
    _page_setup(document)
    styles = _styles(document)
    _page_number_footer(document)
    document.add_paragraph("{{ title }}", styles["title"])
    document.add_paragraph("{{ note }}", styles["note"])
    _block_paragraphs(document, styles)
    _figure_table(document, styles)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
