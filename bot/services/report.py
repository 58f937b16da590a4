"""The publicity and consultation paragraphs of the annual 法治政府建设情况报告, drafted
from the statistics (DOCX via python-docx, or Markdown).

Every number in the text is read from a `Stats` object; where a figure is missing (no
consultation answered, so no median) the sentence says so instead of guessing. Rankings
(the books and topics asked about most) list only items with a count above zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.services.stats import METRICS, Stats

REPORT_FORMATS = ("docx", "md")
TABLE_METRICS = (
    "residents",
    "messages_in",
    "answers_shown",
    "answered",
    "unanswered",
    "helpful",
    "unhelpful",
    "notices",
    "deliveries",
    "subscribers",
    "consult_submitted",
    "consult_answered",
    "consult_closed",
    "median_answer_hours",
    "activities",
    "attendance",
)
SPAN_WORDS = {"year": "全年", "quarter": "本季度", "month": "本月", "range": "期间"}


class ReportError(ValueError):
    """The report cannot be written as asked; the message is Chinese."""


@dataclass
class Section:
    heading: str
    paragraphs: list[str]


def report_format(out: str | Path) -> str:
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix == "markdown":
        suffix = "md"
    if suffix not in REPORT_FORMATS:
        raise ReportError(
            f"报告文件应以 .docx（Word）或 .md（Markdown）结尾，收到的是“{Path(out).name}”。"
        )
    return suffix


def _n(value: int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _top(stats: Stats, dimension: str, metric: str, limit: int = 3) -> list[tuple[str, int]]:
    rows = [r for r in stats.breakdown(dimension).rows if r.key is not None]
    ranked = sorted(rows, key=lambda r: (-r.values[metric], r.label))
    return [(r.label, r.values[metric]) for r in ranked[:limit] if r.values[metric] > 0]


def title(stats: Stats) -> str:
    return f"{stats.period.label}普法宣传和法律咨询工作情况（初稿）"


def sections(stats: Stats) -> list[Section]:
    s = stats.summary
    span = SPAN_WORDS[stats.period.kind]
    last = stats.period.last_day
    online = [
        f"{span}通过普法助手解答群众《民法典》咨询{_n(s['answers_shown'])}次，其中直接解答"
        f"{_n(s['answered'])}次、群众浏览查看解答{_n(s['views'])}次，服务群众{_n(s['residents'])}人；"
        f"共收到各类消息{_n(s['messages_in'])}条。群众对解答给予“有帮助”评价"
        f"{_n(s['helpful'])}次、“没帮助”评价{_n(s['unhelpful'])}次。"
    ]
    books = _top(stats, "book", "answers_shown")
    if books:
        listed = "、".join(f"{label}（{count}次）" for label, count in books)
        online.append(f"群众咨询较多的依次是《民法典》{listed}。")
    online.append(
        f"推送普法信息{_n(s['notices'])}条，覆盖{_n(s['deliveries'])}人次；截至"
        f"{last.year}年{last.month}月{last.day}日，订阅普法信息的群众{_n(s['subscribers'])}人。"
    )
    consult = (
        f"{span}群众通过普法助手向法律顾问提交咨询{_n(s['consult_submitted'])}件，法律顾问答复群众"
        f"咨询{_n(s['consult_answered'])}件，办结{_n(s['consult_closed'])}件"
    )
    if s["median_answer_hours"] is None:
        consult += "，暂无答复记录可计算首次答复时间。"
    else:
        consult += f"，首次答复时间中位数为{_n(s['median_answer_hours'])}小时。"
    consults = [consult]
    topics = _top(stats, "topic", "consult_submitted")
    if topics:
        listed = "、".join(f"{label}（{count}件）" for label, count in topics)
        consults.append(f"咨询主要集中在{listed}等方面。")
    return [
        Section("一、创新普法方式，线上普法覆盖面持续扩大", online),
        Section("二、发挥法律顾问作用，为群众提供便捷法律服务", consults),
        Section("三、深入开展线下普法活动", _offline(stats, span)),
        Section("四、存在的不足和下一步打算", _gaps(stats)),
    ]


def _offline(stats: Stats, span: str) -> list[str]:
    s = stats.summary
    text = f"{span}开展线下普法活动{_n(s['activities'])}次，参与群众{_n(s['attendance'])}人次"
    kinds = [r for r in stats.breakdown("activity_kind").rows if r.values["activities"] > 0]
    if kinds:
        parts = "、".join(
            f"{r.label}{r.values['activities']}次（{r.values['attendance']}人次）" for r in kinds
        )
        text += f"，其中{parts}"
    places = [r for r in stats.breakdown("community").rows if r.key and r.values["activities"] > 0]
    if places:
        text += f"，覆盖{len(places)}个社区"
    return [text + "。"]


def _gaps(stats: Stats) -> list[str]:
    s = stats.summary
    return [
        f"普法助手仍有{_n(s['unanswered'])}次提问未能解答、{_n(s['unhelpful'])}次解答被群众评为"
        f"“没帮助”，另有{_n(s['out_of_scope'])}次提问超出《民法典》范围，已引导群众通过其他渠道解决。"
        "未解答和评价不佳的问题已整理为问答库完善清单（见统计表“未解答问题”）。",
        "下一步，将根据群众咨询的热点持续充实问答库，进一步发挥法律顾问作用，"
        "结合重要时间节点开展线上线下相结合的普法宣传活动。",
    ]


def table_rows(stats: Stats) -> list[tuple[str, str]]:
    return [(METRICS[key].label, _n(stats.summary[key])) for key in TABLE_METRICS]


def note(stats: Stats) -> str:
    period = stats.period
    return (
        f"（本稿由普法助手根据系统记录和登记的线下活动自动生成，统计范围为"
        f"{period.start.isoformat()}至{period.last_day.isoformat()}（{period.zone.key}），请核对后使用。）"
    )


# --- writers ---------------------------------------------------------------------------------
def to_markdown(stats: Stats) -> str:
    lines = [f"# {title(stats)}", "", note(stats), ""]
    for section in sections(stats):
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
    lines += ["## 附：主要数据", "", "| 指标 | 数值 |", "| --- | ---: |"]
    lines += [f"| {label} | {value} |" for label, value in table_rows(stats)]
    return "\n".join(lines) + "\n"


def write_docx(stats: Stats, path: Path) -> None:
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "宋体"
    normal.font.size = Pt(12)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    document.add_heading(title(stats), level=1)
    document.add_paragraph(note(stats))
    for section in sections(stats):
        document.add_heading(section.heading, level=2)
        for paragraph in section.paragraphs:
            document.add_paragraph(paragraph).paragraph_format.first_line_indent = Pt(24)
    document.add_heading("附：主要数据", level=2)
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "指标", "数值"
    for label, value in table_rows(stats):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    document.save(str(path))


def write(stats: Stats, out: str | Path) -> Path:
    path = Path(out)
    fmt = report_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        path.write_text(to_markdown(stats), encoding="utf-8")
    else:
        write_docx(stats, path)
    return path
