"""The change history of the legal-work records (work log, litigation register): one
`legal_history` row per add, edit, delete, hearing or close — who, when, what changed —
written in the transaction of the change itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Session, select

from bot.models import LegalHistory, User


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a chat user, or the command line (user None)."""

    channel: str
    user: User | None = None
    label: str = "cli"

    @property
    def name(self) -> str:
        return self.user.ref if self.user is not None else self.label


CLI_ACTOR = Actor("cli")
FIELD_LABELS = {
    "day": "日期", "kind": "类型", "title": "事项", "department": "部门/对象", "count": "数量",
    "decision_number": "决定文号", "opinion": "审核意见", "notes": "备注", "number": "案号",
    "body": "法院/复议机关", "parties": "当事人", "our_role": "我方身份", "cause": "案由",
    "amount_fen": "标的额（分）", "stage": "阶段", "outcome": "结果", "filed_on": "立案日期",
    "closed_on": "结案日期", "community": "协助社区", "responsible_id": "承办人（用户编号）",
}  # fmt: skip
ACTION_LABELS = {"add": "登记", "import": "导入", "edit": "修改", "delete": "删除",
                 "close": "结案", "hearing": "登记开庭", "deadline": "登记期限"}  # fmt: skip


def plain(value: object) -> object:
    """A JSON-safe copy of a field value (dates as ISO text, Decimal as text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def diff(record: object, changes: dict[str, object]) -> dict[str, list]:
    """{field: [old, new]} for the fields whose value really changes."""
    return {
        field: [plain(getattr(record, field)), plain(value)]
        for field, value in changes.items()
        if getattr(record, field) != value
    }


def record(
    session: Session,
    record_type: str,
    record_id: int,
    action: str,
    actor: Actor,
    changes: dict[str, list],
) -> LegalHistory:
    row = LegalHistory(
        record_type=record_type,
        record_id=record_id,
        action=action,
        actor_id=actor.user.id if actor.user is not None else None,
        actor=actor.name[:160],
        changes=changes,
    )
    session.add(row)
    return row


def of(session: Session, record_type: str, record_id: int) -> list[LegalHistory]:
    statement = (
        select(LegalHistory)
        .where(LegalHistory.record_type == record_type, LegalHistory.record_id == record_id)
        .order_by(LegalHistory.at, LegalHistory.id)
    )
    return list(session.exec(statement))


def describe(row: LegalHistory, zone) -> str:
    """One history line for people: time, who, what, field: old → new."""
    local = row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    words = _value_labels()

    def shown(field: str, value: object) -> str:
        if value is None:
            return "—"
        return words.get((field, value), str(value))

    changed = "；".join(
        f"{FIELD_LABELS.get(k, k)}：{shown(k, old)} → {shown(k, new)}"
        for k, (old, new) in row.changes.items()
    )
    return f"{local} {row.actor} {ACTION_LABELS.get(row.action, row.action)} {changed}"


def _value_labels() -> dict[tuple[str, object], str]:
    """(field, stored key) → its Chinese word, from the vocabularies of the two records."""
    from bot.services import litigation, worklog

    tables = {
        "kind": {**litigation.CASE_TYPES, **{k: t.label for k, t in worklog.WORK_TYPES.items()}},
        "our_role": litigation.ROLES,
        "stage": litigation.STAGES,
        "opinion": worklog.OPINIONS,
    }
    return {(field, key): word for field, table in tables.items() for key, word in table.items()}
