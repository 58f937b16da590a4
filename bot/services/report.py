"""The publicity and consultation paragraphs of the annual 法治政府建设情况报告, drafted
from the statistics: DOCX rendered from a Word template (docxtpl; the default A4 one is in
`report_template`, PUFA_REPORT_TEMPLATE names the office's own), or Markdown.

The headings follow the report's own structure ("一、主要举措和成效" → "（五）强化法治宣传…"
with 一是/二是/三是 paragraphs), so a paragraph can be pasted into the office's report as is.

Every number in the text is read from a `Stats` object; where a figure is missing (no
consultation answered, so no median) the sentence says so instead of guessing. Rankings
(the books and topics asked about most) list only items with a count above zero.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.services.report_template import default_template
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
    "consult_in_person",
    "consult_answered",
    "consult_closed",
    "median_answer_hours",
    "items_published",
    "publications",
    "activities",
    "attendance",
    "materials",
    "study_activities",
    "study_attendance",
)
SPAN_WORDS = {"year": "全年", "quarter": "本季度", "month": "本月", "range": "期间"}


class ReportError(ValueError):
    """The report cannot be written as asked; the message is Chinese."""


@dataclass
class Section:
    heading: str
    paragraphs: list[str]
    children: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class Block:
    level: int  # 1: "一、…" heading, 2: "（五）…" heading, 0: body paragraph
    text: str


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


def title(stats: Stats, office: str = "") -> str:
    return f"{office}{stats.period.label}普法宣传和法律咨询工作情况（初稿）"


def as_of(stats: Stats) -> date:
    """The last day the figures cover: the period's end, or today while it is running."""
    today = stats.generated_at.astimezone(stats.period.zone).date()
    return min(stats.period.last_day, today)


def _day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def publicity_paragraphs(stats: Stats) -> list[str]:
    """（五）强化法治宣传: 一是 online, 二是 offline, 三是 the legal adviser."""
    return [_online(stats), _offline(stats), _consultations(stats)]


def _online(stats: Stats) -> str:
    s = stats.summary
    span = SPAN_WORDS[stats.period.kind]
    text = (
        f"一是创新线上普法方式。依托“普法助手”，{span}解答群众《民法典》咨询"
        f"{_n(s['answers_shown'])}次，其中直接解答{_n(s['answered'])}次、群众浏览查看解答"
        f"{_n(s['views'])}次，服务群众{_n(s['residents'])}人，共收到各类消息{_n(s['messages_in'])}条；"
        f"群众对解答给予“有帮助”评价{_n(s['helpful'])}次、“没帮助”评价{_n(s['unhelpful'])}次。"
    )
    books = _top(stats, "book", "answers_shown")
    if books:
        listed = "、".join(f"{label}（{count}次）" for label, count in books)
        text += f"群众咨询较多的依次是《民法典》{listed}。"
    return (
        text
        + (
            f"推送普法信息{_n(s['notices'])}条，覆盖{_n(s['deliveries'])}人次；截至"
            f"{_day(as_of(stats))}，订阅普法信息的群众{_n(s['subscribers'])}人。"
        )
        + _published(stats)
    )


def _published(stats: Stats) -> str:
    """Every item published: the bot's notices and those registered from other channels."""
    s = stats.summary
    if not s["publications"]:
        return ""
    listed = "、".join(f"{label}{count}条" for label, count in stats.publication_channels.items())
    return (
        f"{SPAN_WORDS[stats.period.kind]}累计发布普法学习宣传信息{_n(s['items_published'])}条，"
        f"其中普法助手推送{_n(s['notices'])}条，其他渠道发布{_n(s['publications'])}条（{listed}）。"
    )


def _offline(stats: Stats) -> str:
    s = stats.summary
    span = SPAN_WORDS[stats.period.kind]
    text = (
        f"二是深入开展线下普法活动。{span}开展线下普法活动{_n(s['activities'])}次，"
        f"参与群众{_n(s['attendance'])}人次"
    )
    kinds = [r for r in stats.breakdown("activity_kind").rows if r.values["activities"] > 0]
    if kinds:
        parts = "、".join(
            f"{r.label}{r.values['activities']}次（{r.values['attendance']}人次）" for r in kinds
        )
        text += f"，其中{parts}"
    places = [r for r in stats.breakdown("community").rows if r.key and r.values["activities"] > 0]
    if places:
        text += f"，覆盖{len(places)}个社区"
    if s["materials"]:
        text += f"，发放宣传资料{_n(s['materials'])}份"
    return text + "。" + _sites_and_series(stats)


def _named_rows(stats: Stats, dimension: str) -> list:
    rows = [r for r in stats.breakdown(dimension).rows if r.key and r.values["activities"] > 0]
    return sorted(rows, key=lambda r: (-r.values["activities"], r.label))


def _sites_and_series(stats: Stats) -> str:
    """The office's 法治文化阵地 and its series or columns, as far as activities name them."""
    text = ""
    sites = _named_rows(stats, "site")
    if sites:
        names = "、".join(r.label for r in sites[:3])
        count = sum(r.values["activities"] for r in sites)
        text += f"依托{names}等{len(sites)}处法治文化阵地开展活动{count}次。"
    series = _named_rows(stats, "series")
    if series:
        parts = "、".join(f"“{r.label}”{r.values['activities']}次" for r in series[:3])
        text += f"打造普法品牌栏目，开展{parts}。"
    return text


def study_paragraphs(stats: Stats) -> list[str]:
    """（二）学法用法: the cadres' study sessions and the enforcement trainings."""
    s = stats.summary
    span = SPAN_WORDS[stats.period.kind]
    if not s["study_activities"]:
        return [
            f"{span}暂无登记的机关干部学法和执法人员培训活动（登记时选择对象“机关干部”或“执法人员”）。"
        ]
    rows = [
        r
        for r in stats.breakdown("audience").rows
        if r.key in ("cadres", "enforcement") and r.values["study_activities"]
    ]
    words = {"cadres": "机关干部学法", "enforcement": "执法人员培训"}
    parts = "、".join(
        f"{words[r.key]}{r.values['study_activities']}次（{r.values['study_attendance']}人次）"
        for r in rows
    )
    return [
        f"{span}组织机关干部和执法人员学法{_n(s['study_activities'])}次，参与"
        f"{_n(s['study_attendance'])}人次，其中{parts}，以学促用，提升依法履职能力。"
    ]


def _consultations(stats: Stats) -> str:
    s = stats.summary
    span = SPAN_WORDS[stats.period.kind]
    text = f"三是发挥法律顾问作用，为群众提供便捷法律服务。{span}{_received(stats)}"
    text += f"，法律顾问答复群众咨询{_n(s['consult_answered'])}件，办结{_n(s['consult_closed'])}件"
    if s["median_answer_hours"] is None:
        text += "，暂无答复记录可计算首次答复时间。"
    else:
        text += f"，首次答复时间中位数为{_n(s['median_answer_hours'])}小时。"
    topics = _top(stats, "topic", "consult_submitted")
    if topics:
        listed = "、".join(f"{label}（{count}件）" for label, count in topics)
        text += f"咨询主要集中在{listed}等方面。"
    return text


def _place(name: str) -> str:
    return name if name.endswith("社区") else f"{name}社区"


def legality_paragraphs(stats: Stats) -> list[str]:
    """（三）强化合法性审核: contracts and model texts, opinions and meetings, reviews."""
    s = stats.legal.summary
    span = SPAN_WORDS[stats.period.kind]
    return [
        f"一是严格合同审查。{span}审查修改各类合同文稿{s['contract_docs']}份（{s['contracts']}项），"
        f"完善合同示范文本{s['model_texts']}份。",
        f"二是发挥法律顾问作用。就街道履职过程中的法律问题提出书面法律意见{s['opinions']}件、"
        f"{s['opinion_items']}条；应邀参加工作会议{s['meetings']}次，现场提供法律咨询意见"
        f"{s['meeting_opinions']}条；为机关干部开展法治培训授课{s['trainings']}次，参训"
        f"{s['training_attendance']}人次。",
        f"三是落实重大行政执法决定法制审核。审核重大行政执法决定{s['reviews']}件，其中同意"
        f"{s['reviews_agree']}件、修改后同意{s['reviews_amend']}件、不同意{s['reviews_disagree']}件。",
    ]


def litigation_paragraphs(stats: Stats) -> list[str]:
    """（四）强化应诉应议: suits and reconsiderations handled, communities assisted."""
    s = stats.legal.summary
    span = SPAN_WORDS[stats.period.kind]
    text = (
        f"{span}牵头办理民事诉讼案件{s['civil_cases']}件，行政诉讼案件{s['administrative_cases']}件，"
        f"行政复议案件{s['reconsideration_cases']}件"
    )
    assisted: dict[tuple[str, str], int] = {}
    for row in stats.legal.sources["community_cases"]:
        key = (row["community"], row["kind"])
        assisted[key] = assisted.get(key, 0) + 1
    if assisted:
        parts = "、".join(f"协助{_place(c)}处理{k}{n}件" for (c, k), n in sorted(assisted.items()))
        text += f"，{parts}"
    return [
        text + f"；其中新收{s['new_cases']}件、办结{s['closed_cases']}件，截至"
        f"{_day(as_of(stats))}尚未办结{s['pending_cases']}件。诉讼数据按季度整理报送区司法局。"
    ]


IN_PERSON_WORDS = {"walk_in": "窗口来访", "phone": "电话咨询", "hotline": "热线咨询"}


def _received(stats: Stats) -> str:
    """How many consultations came in, and by which way when some were recorded by staff."""
    s = stats.summary
    if not s["consult_in_person"]:
        return f"群众通过普法助手向法律顾问提交咨询{_n(s['consult_submitted'])}件"
    by_channel = {r.key: r.values["consult_submitted"] for r in stats.breakdown("channel").rows}
    online = s["consult_submitted"] - s["consult_in_person"]
    parts = [f"通过普法助手提交{online}件"] if online else []
    parts += [
        f"{word}{by_channel[key]}件" for key, word in IN_PERSON_WORDS.items() if by_channel.get(key)
    ]
    return f"受理群众法律咨询{_n(s['consult_submitted'])}件，其中{'、'.join(parts)}"


def _unset_community(stats: Stats) -> str:
    """How many residents served gave no community: the by-community figures leave them out."""
    unset = next((r for r in stats.breakdown("community").rows if r.key is None), None)
    if unset is None or not unset.values["residents"]:
        return ""
    return (
        f"服务群众中有{unset.values['residents']}人未填写所在社区（占"
        f"{unset.values['residents_share']:.1f}%），按社区的统计只反映已填写的部分。"
    )


def gap_paragraphs(stats: Stats) -> list[str]:
    s = stats.summary
    return [
        f"普法助手仍有{_n(s['unanswered'])}次提问未能解答、{_n(s['unhelpful'])}次解答被群众评为"
        f"“没帮助”，另有{_n(s['out_of_scope'])}次提问超出《民法典》范围，已引导群众通过其他渠道解决。"
        "未解答和评价不佳的问题已整理为问答库完善清单（见统计表“未解答问题”）。"
        + _unset_community(stats),
        "下一步，将根据群众咨询的热点持续充实问答库，进一步发挥法律顾问作用，"
        "结合重要时间节点开展线上线下相结合的普法宣传活动。",
    ]


def sections(stats: Stats) -> list[Section]:
    """The report's own structure, ready to paste: headings as in 法治政府建设情况报告."""
    legal = []
    if stats.legal is not None:
        legal = [
            Section("（三）强化合法性审核，提升依法决策水平", legality_paragraphs(stats)),
            Section("（四）强化应诉应议，依法化解矛盾纠纷", litigation_paragraphs(stats)),
        ]
    return [
        Section(
            "一、主要举措和成效",
            [],
            [
                Section("（二）深入推进学法用法，提升依法履职能力", study_paragraphs(stats)),
                *legal,
                Section("（五）强化法治宣传，营造浓厚法治氛围", publicity_paragraphs(stats)),
            ],
        ),
        Section("二、存在的不足和下一步打算", gap_paragraphs(stats)),
    ]


def blocks(stats: Stats) -> list[Block]:
    """The sections flattened for the template: headings of level 1 and 2, then paragraphs."""
    flat: list[Block] = []

    def walk(section: Section, level: int) -> None:
        flat.append(Block(level, section.heading))
        flat.extend(Block(0, paragraph) for paragraph in section.paragraphs)
        for child in section.children:
            walk(child, level + 1)

    for section in sections(stats):
        walk(section, 1)
    return flat


def table_rows(stats: Stats) -> list[tuple[str, str]]:
    return [(METRICS[key].label, _n(stats.summary[key])) for key in TABLE_METRICS]


def note(stats: Stats) -> str:
    """Where the draft comes from and what it covers: up to today while the period runs."""
    period, last = stats.period, as_of(stats)
    running = "（截至生成之日）" if last < period.last_day else ""
    return (
        f"（本稿由普法助手根据系统记录和登记的线下活动自动生成，统计范围为"
        f"{period.start.isoformat()}至{last.isoformat()}{running}（{period.zone.key}），"
        "请核对后使用。各部分序号与年度法治政府建设情况报告一致，可直接粘贴；"
        "（一）等其余部分请按实际情况撰写。）"
    )


# --- writers ---------------------------------------------------------------------------------
MARKDOWN_HEADINGS = {1: "##", 2: "###"}


def to_markdown(stats: Stats, office: str = "") -> str:
    lines = [f"# {title(stats, office)}", "", note(stats), ""]
    for block in blocks(stats):
        prefix = MARKDOWN_HEADINGS.get(block.level)
        lines += [f"{prefix} {block.text}" if prefix else block.text, ""]
    lines += ["## 附：主要数据", "", "| 指标 | 数值 |", "| --- | ---: |"]
    lines += [f"| {label} | {value} |" for label, value in table_rows(stats)]
    return "\n".join(lines) + "\n"


def template_source(template: str | Path | None) -> str | Path | io.BytesIO:
    """The office's template (PUFA_REPORT_TEMPLATE) or the default one."""
    if template is None:
        return io.BytesIO(default_template())
    path = Path(template)
    if not path.is_file():
        raise ReportError(f"找不到报告模板“{path}”（PUFA_REPORT_TEMPLATE）。")
    return path


def write_docx(stats: Stats, path: Path, *, office: str = "", template=None) -> None:
    from docxtpl import DocxTemplate
    from jinja2 import TemplateError

    context = {
        "title": title(stats, office),
        "note": note(stats),
        "office": office,
        "period": stats.period.label,
        "blocks": blocks(stats),
        "table": [{"label": label, "value": value} for label, value in table_rows(stats)],
        "summary": dict(stats.summary),
    }
    document = DocxTemplate(template_source(template))
    try:
        document.render(context, autoescape=True)
    except (TemplateError, KeyError, ValueError) as exc:
        raise ReportError(
            f"报告模板无法使用：{exc}。可用 report template 重新生成默认模板。"
        ) from None
    document.save(str(path))


def write_default_template(out: str | Path) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".docx":
        raise ReportError(f"模板文件应以 .docx 结尾，收到的是“{path.name}”。")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(default_template())
    return path


def write(stats: Stats, out: str | Path, *, office: str = "", template=None) -> Path:
    path = Path(out)
    fmt = report_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        path.write_text(to_markdown(stats, office), encoding="utf-8")
    else:
        write_docx(stats, path, office=office, template=template)
    return path
