"""The legal adviser's and legal staff's work log: contracts reviewed or revised, model
contract texts, written legal opinions, meetings attended with on-the-spot advice,
legality reviews of major enforcement decisions (重大行政执法决定法制审核) and training
given to staff. Figures for the annual report and the statistics are read from the
`work_entries` table by local date; every change also writes a history row
(bot.services.legal_history) and a ledger row, in the same transaction.

Ledger kinds of the legal work (the one place they are named; ref = the record id):
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from sqlmodel import Session, select

from bot import ledger
from bot.ledger import Kind
from bot.models import WorkEntry
from bot.services import legal_history
from bot.services.legal_history import Actor
from bot.services.periods import Period, PeriodError, parse_date
from bot.services.sheet_import import ImportReport, read_rows
from bot.timeutil import utcnow

# --- ledger kinds of issue 15 (work log and litigation register) ---------------------------
WORK_ADDED = Kind.WORK_ADDED
WORK_UPDATED = Kind.WORK_UPDATED
WORK_DELETED = Kind.WORK_DELETED
LITIGATION_ADDED = Kind.LITIGATION_ADDED
LITIGATION_UPDATED = Kind.LITIGATION_UPDATED
LITIGATION_DATE_ADDED = Kind.LITIGATION_DATE_ADDED
LITIGATION_CLOSED = Kind.LITIGATION_CLOSED
LITIGATION_REMINDER = Kind.LITIGATION_REMINDER
LEGAL_REPORT = Kind.LEGAL_REPORT
KINDS = (
    WORK_ADDED,
    WORK_UPDATED,
    WORK_DELETED,
    LITIGATION_ADDED,
    LITIGATION_UPDATED,
    LITIGATION_DATE_ADDED,
    LITIGATION_CLOSED,
    LITIGATION_REMINDER,
    LEGAL_REPORT,
)
__doc__ += "\n".join(f"- {kind}" for kind in KINDS)


@dataclass(frozen=True)
class WorkType:
    key: str
    label: str  # as the report says it
    title_label: str  # what `title` means for this type
    count_label: str  # what `count` counts
    unit: str
    department_label: str | None = None  # required department, if the type has one


WORK_TYPES = {
    t.key: t
    for t in (
        WorkType("contract", "合同审查修改", "合同名称", "合同文稿份数", "份", "委托部门"),
        WorkType("model_text", "合同示范文本", "示范文本名称", "文本份数", "份"),
        WorkType("opinion", "书面法律意见", "意见主题", "意见条数", "条", "提供对象"),
        WorkType("meeting", "参会现场法律意见", "会议名称", "现场意见条数", "条"),
        WorkType("review", "重大行政执法决定法制审核", "审核事项", "件数", "件"),
        WorkType("training", "法治培训授课", "培训主题", "参训人数", "人"),
    )
}
TYPE_WORDS = {
    **{key: key for key in WORK_TYPES},
    **{t.label: t.key for t in WORK_TYPES.values()},
    "合同": "contract",
    "合同审查": "contract",
    "合同修改": "contract",
    "示范文本": "model_text",
    "范本": "model_text",
    "法律意见": "opinion",
    "意见": "opinion",
    "会议": "meeting",
    "参会": "meeting",
    "法制审核": "review",
    "合法性审核": "review",
    "审核": "review",
    "培训": "training",
    "授课": "training",
    "讲座": "training",
}
OPINIONS = {"agree": "同意", "amend": "修改后同意", "disagree": "不同意"}
OPINION_WORDS = {**{k: k for k in OPINIONS}, **{v: k for k, v in OPINIONS.items()}}
MAX_COUNT = 100_000
EMPTY_WORDS = ("", "-", "—", "无", "跳过", "none")
FIELD_NAMES = {
    "date": "day",
    "日期": "day",
    "type": "kind",
    "类型": "kind",
    "title": "title",
    "事项": "title",
    "名称": "title",
    "主题": "title",
    "department": "department",
    "部门": "department",
    "对象": "department",
    "count": "count",
    "数量": "count",
    "decision": "decision_number",
    "文号": "decision_number",
    "决定文号": "decision_number",
    "opinion": "opinion",
    "意见": "opinion",
    "审核意见": "opinion",
    "notes": "notes",
    "备注": "notes",
}
IMPORT_COLUMNS = {
    "日期": "day",
    "类型": "kind",
    "事项": "title",
    "事项名称": "title",
    "名称": "title",
    "部门/对象": "department",
    "委托部门": "department",
    "部门": "department",
    "提供对象": "department",
    "数量": "count",
    "份数/条数/人数": "count",
    "决定文号": "decision_number",
    "审核意见": "opinion",
    "备注": "notes",
}
IMPORT_LAYOUT = ("日期", "类型", "事项", "部门/对象", "数量", "决定文号", "审核意见", "备注")


class WorkError(ValueError):
    """Input for the work log is invalid; the message is Chinese and says how to fix it."""


@dataclass
class Draft:
    day: date
    kind: str
    title: str
    count: int = 1
    department: str | None = None
    decision_number: str | None = None
    opinion: str | None = None
    notes: str | None = None


# --- validation ------------------------------------------------------------------------------
def clean_day(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return parse_date(str(value))
    except PeriodError as exc:
        raise WorkError(str(exc)) from None


def clean_kind(value: str) -> str:
    key = TYPE_WORDS.get(str(value or "").strip())
    if key is None:
        choices = "、".join(t.label for t in WORK_TYPES.values())
        raise WorkError(f"未知的工作类型“{str(value or '').strip()[:20]}”，可选：{choices}。")
    return key


def clean_text(value: object, limit: int, name: str) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise WorkError(f"{name}不能为空。")
    if len(text) > limit:
        raise WorkError(f"{name}有 {len(text)} 字，最多 {limit} 字。")
    return text


def clean_optional(value: object, limit: int, name: str) -> str | None:
    if value is None or str(value).strip().lower() in EMPTY_WORDS:
        return None
    return clean_text(value, limit, name)


def clean_count(value: object, name: str = "数量") -> int:
    raw = str(value if value is not None else "").strip()
    for unit in ("人次", "份", "条", "次", "件", "人"):
        raw = raw.removesuffix(unit)
    try:
        number = int(raw)
    except ValueError:
        raise WorkError(f"{name}应为整数，收到的是“{str(value).strip()[:20]}”。") from None
    if number < 1:
        raise WorkError(f"{name}至少为 1。")
    if number > MAX_COUNT:
        raise WorkError(f"{name} {number} 太大了，请检查。")
    return number


def clean_opinion(value: object) -> str:
    key = OPINION_WORDS.get(str(value or "").strip())
    if key is None:
        raise WorkError("审核意见应为：同意、修改后同意或不同意。")
    return key


def draft(
    *,
    day: str | date,
    kind: str,
    title: str | None = None,
    count: object = None,
    department: str | None = None,
    decision_number: str | None = None,
    opinion: str | None = None,
    notes: str | None = None,
) -> Draft:
    key = clean_kind(kind)
    kind_ = WORK_TYPES[key]
    data = Draft(day=clean_day(day), kind=key, title="", notes=clean_optional(notes, 1000, "备注"))
    data.department = clean_optional(department, 64, kind_.department_label or "部门")
    if kind_.department_label and data.department is None:
        raise WorkError(f"{kind_.label}需要填写{kind_.department_label}。")
    if key == "review":
        data.decision_number = clean_text(decision_number, 64, "决定文号")
        data.opinion = clean_opinion(opinion)
        data.title = clean_optional(title, 200, kind_.title_label) or data.decision_number
        data.count = 1
    else:
        if decision_number not in (None, "") or opinion not in (None, ""):
            raise WorkError("只有重大行政执法决定法制审核才填写决定文号和审核意见。")
        data.title = clean_text(title, 200, kind_.title_label)
        data.count = clean_count(1 if count in (None, "") else count, kind_.count_label)
    return data


def clean_field(name: str, value: str) -> tuple[str, str]:
    """('数量', '3') → ('count', '3'): which field an edit names (checked by `update`)."""
    field = FIELD_NAMES.get(name.strip().lower())
    if field is None:
        raise WorkError(
            f"未知的字段“{name[:20]}”，可改：日期、类型、事项、部门、数量、决定文号、审核意见、备注。"
        )
    return field, value


# --- storage ---------------------------------------------------------------------------------
def _values(data: Draft) -> dict[str, object]:
    return {f.name: getattr(data, f.name) for f in fields(Draft)}


def add(session: Session, data: Draft, actor: Actor, action: str = "add") -> WorkEntry:
    entry = WorkEntry(
        **_values(data),
        author_id=actor.user.id if actor.user is not None else None,
        created_by=actor.name[:160],
    )
    session.add(entry)
    session.flush()
    changes = {k: [None, legal_history.plain(v)] for k, v in _values(data).items() if v is not None}
    legal_history.record(session, "work", entry.id, action, actor, changes)
    ledger.record(session, WORK_ADDED, channel=actor.channel, user=actor.user, ref=str(entry.id))
    return entry


def get_id(entry_id: int | str) -> int:
    text = str(entry_id).strip().lstrip("#")
    if not text.isdigit():
        raise WorkError(f"工作记录编号应为数字，收到的是“{text[:20]}”。")
    return int(text)


def get(session: Session, entry_id: int | str) -> WorkEntry:
    number = get_id(entry_id)
    entry = session.get(WorkEntry, number)
    if entry is None:
        raise WorkError(f"没有编号为 {number} 的工作记录。")
    return entry


def update(
    session: Session, entry_id: int | str, changes: dict[str, object], actor: Actor
) -> WorkEntry:
    """Apply `changes` (field → typed value); the whole record is validated again."""
    if not changes:
        raise WorkError("没有要修改的内容。")
    entry = get(session, entry_id)
    merged = {f.name: getattr(entry, f.name) for f in fields(Draft)} | changes
    if merged["kind"] != "review" and "kind" in changes:
        merged["decision_number"] = merged["opinion"] = None
    data = draft(**merged)
    delta = legal_history.diff(entry, _values(data))
    if not delta:
        raise WorkError("新值与原值相同，没有修改。")
    for name, value in _values(data).items():
        setattr(entry, name, value)
    entry.updated_at = utcnow()
    session.add(entry)
    legal_history.record(session, "work", entry.id, "edit", actor, delta)
    ledger.record(session, WORK_UPDATED, channel=actor.channel, user=actor.user, ref=str(entry.id))
    return entry


def delete(session: Session, entry_id: int | str, actor: Actor) -> WorkEntry:
    entry = get(session, entry_id)
    values = _values(_as_draft(entry))
    before = {k: [legal_history.plain(v), None] for k, v in values.items() if v is not None}
    legal_history.record(session, "work", entry.id, "delete", actor, before)
    ledger.record(session, WORK_DELETED, channel=actor.channel, user=actor.user, ref=str(entry.id))
    session.delete(entry)
    return entry


def _as_draft(entry: WorkEntry) -> Draft:
    return Draft(**{f.name: getattr(entry, f.name) for f in fields(Draft)})


def in_period(
    session: Session, period: Period | None = None, kind: str | None = None
) -> list[WorkEntry]:
    statement = select(WorkEntry).order_by(WorkEntry.day, WorkEntry.id)
    if period is not None:
        statement = statement.where(WorkEntry.day >= period.start, WorkEntry.day < period.end)
    if kind is not None:
        statement = statement.where(WorkEntry.kind == kind)
    return list(session.exec(statement))


# --- import ----------------------------------------------------------------------------------
def check_import(path: str) -> ImportReport:
    """Read and validate every row of a work-log spreadsheet (nothing is saved)."""
    report = ImportReport()
    for number, values in read_rows(path, IMPORT_COLUMNS, ("day", "kind")):
        try:
            report.rows.append((number, draft(**values)))
        except (WorkError, TypeError) as exc:
            report.error(number, str(exc))
    return report


def import_rows(session: Session, report: ImportReport, actor: Actor) -> list[WorkEntry]:
    if report.errors:
        raise WorkError("表格有误，没有导入任何记录。")
    return [add(session, data, actor, action="import") for _, data in report.rows]


# --- presentation ----------------------------------------------------------------------------
def describe(entry: WorkEntry | Draft) -> str:
    kind = WORK_TYPES[entry.kind]
    head = f"#{entry.id} " if isinstance(entry, WorkEntry) else ""
    parts = [f"{head}{entry.day.isoformat()} {kind.label}“{entry.title}”"]
    if entry.department:
        parts.append(f"{kind.department_label or '部门'}：{entry.department}")
    if entry.kind == "review":
        parts.append(f"文号：{entry.decision_number}，意见：{OPINIONS[entry.opinion]}")
    else:
        parts.append(f"{entry.count} {kind.unit}")
    text = "，".join(parts)
    return f"{text}（{entry.notes}）" if entry.notes else text


def as_row(entry: WorkEntry) -> dict:
    kind = WORK_TYPES[entry.kind]
    return {
        "id": entry.id,
        "date": entry.day.isoformat(),
        "kind": kind.label,
        "title": entry.title,
        "department": entry.department or "",
        "count": entry.count,
        "unit": kind.unit,
        "decision_number": entry.decision_number or "",
        "opinion": OPINIONS.get(entry.opinion or "", ""),
        "notes": entry.notes or "",
    }
