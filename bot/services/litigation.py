"""The litigation and review register: civil suits, administrative suits and
administrative reconsiderations (行政复议) the office handles or assists a community with,
their hearings and deadlines, and the reminders a week and a day before each of them to
the responsible person.

Reminders are rows (`litigation_reminders`) made when a date is entered; a periodic job
(bot.scheduler, every REMINDER_SECONDS) calls `queue_due_reminders`, which writes the
outbox row with the dedup key "litigation-reminder:<id>" and marks the reminder queued in
the same transaction. The delivery worker sends it like any other outbox row, so a
restart neither loses a reminder (still pending) nor repeats it (queued, and the dedup
key is unique). Ledger kinds are named in bot.services.worklog.KINDS.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_
from sqlmodel import Session, select

from bot import ledger
from bot.messages import Reply
from bot.models import LitigationCase, LitigationDate, LitigationReminder, User
from bot.runtime import outbox
from bot.services import legal_history
from bot.services.legal_history import Actor
from bot.services.periods import Period, PeriodError, parse_date
from bot.services.sheet_import import ImportReport, read_rows
from bot.services.worklog import (
    LITIGATION_ADDED,
    LITIGATION_CLOSED,
    LITIGATION_DATE_ADDED,
    LITIGATION_REMINDER,
    LITIGATION_UPDATED,
)
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

CASE_TYPES = {"civil": "民事诉讼", "administrative": "行政诉讼", "reconsideration": "行政复议"}
TYPE_WORDS = {
    **{k: k for k in CASE_TYPES},
    **{v: k for k, v in CASE_TYPES.items()},
    "民事": "civil",
    "行政": "administrative",
    "复议": "reconsideration",
}
ROLES = {
    "plaintiff": "原告",
    "defendant": "被告",
    "third_party": "第三人",
    "applicant": "申请人",
    "respondent": "被申请人",
}
ROLE_WORDS = {**{k: k for k in ROLES}, **{v: k for k, v in ROLES.items()}}
ROLES_OF = {
    "civil": ("plaintiff", "defendant", "third_party"),
    "administrative": ("plaintiff", "defendant", "third_party"),
    "reconsideration": ("applicant", "respondent", "third_party"),
}
STAGES = {
    "filed": "立案",
    "trial": "审理",
    "judgment": "判决",
    "appeal": "上诉",
    "enforcement": "执行",
    "closed": "结案",
}
STAGE_WORDS = {**{k: k for k in STAGES}, **{v: k for k, v in STAGES.items()}, "审理中": "trial"}
DATE_KINDS = {"hearing": "开庭", "deadline": "期限"}
DATE_WORDS = {
    **{k: k for k in DATE_KINDS},
    **{v: k for k, v in DATE_KINDS.items()},
    "庭审": "hearing",
}
RESPONSIBLE_ROLES = ("adviser", "staff")
REMINDER_DAYS = (7, 1)
REMINDER_SECONDS = 60.0
DEFAULT_HOUR = time(9, 0)
MAX_AMOUNT_FEN = 10**15
EMPTY_WORDS = ("", "-", "—", "无", "跳过", "none")
_DATETIME = re.compile(r"^(.+?)(?:\s+|T)(\d{1,2})[:：](\d{2})$")
FIELD_NAMES = {
    "type": "kind",
    "类型": "kind",
    "number": "number",
    "案号": "number",
    "body": "body",
    "法院": "body",
    "复议机关": "body",
    "parties": "parties",
    "当事人": "parties",
    "role": "our_role",
    "我方身份": "our_role",
    "身份": "our_role",
    "cause": "cause",
    "案由": "cause",
    "amount": "amount",
    "标的额": "amount",
    "金额": "amount",
    "stage": "stage",
    "阶段": "stage",
    "outcome": "outcome",
    "结果": "outcome",
    "filed": "filed_on",
    "立案日期": "filed_on",
    "community": "community",
    "社区": "community",
    "协助社区": "community",
    "responsible": "responsible",
    "承办人": "responsible",
    "notes": "notes",
    "备注": "notes",
}
IMPORT_COLUMNS = {
    "类型": "kind",
    "案件类型": "kind",
    "案号": "number",
    "法院/复议机关": "body",
    "法院": "body",
    "复议机关": "body",
    "当事人": "parties",
    "我方身份": "our_role",
    "案由": "cause",
    "标的额(元)": "amount",
    "标的额": "amount",
    "阶段": "stage",
    "立案日期": "filed_on",
    "开庭日期": "hearings",
    "结果": "outcome",
    "结案日期": "closed_on",
    "协助社区": "community",
    "承办人": "responsible",
    "备注": "notes",
}
IMPORT_LAYOUT = (
    "类型", "案号", "法院/复议机关", "当事人", "我方身份", "案由", "标的额(元)", "阶段",
    "立案日期", "开庭日期", "结果", "结案日期", "协助社区", "承办人", "备注",
)  # fmt: skip


class LitigationError(ValueError):
    """Input for the register is invalid; the message is Chinese and says how to fix it."""


@dataclass
class Draft:
    kind: str
    number: str
    body: str
    parties: str
    our_role: str
    cause: str
    filed_on: date
    amount_fen: int | None = None
    stage: str = "filed"
    outcome: str | None = None
    closed_on: date | None = None
    community: str | None = None
    responsible_id: int | None = None
    notes: str | None = None


# --- validation ------------------------------------------------------------------------------
def _word(table: dict, value: object, what: str, choices: dict) -> str:
    key = table.get(str(value or "").strip())
    if key is None:
        shown = "、".join(choices.values())
        raise LitigationError(f"未知的{what}“{str(value or '').strip()[:20]}”，可选：{shown}。")
    return key


def clean_kind(value: object) -> str:
    return _word(TYPE_WORDS, value, "案件类型", CASE_TYPES)


def clean_stage(value: object) -> str:
    return _word(STAGE_WORDS, value, "阶段", STAGES)


def clean_role(value: object, kind: str) -> str:
    key = _word(ROLE_WORDS, value, "我方身份", ROLES)
    if key not in ROLES_OF[kind]:
        allowed = "、".join(ROLES[r] for r in ROLES_OF[kind])
        raise LitigationError(f"{CASE_TYPES[kind]}中我方身份应为：{allowed}。")
    return key


def clean_text(value: object, limit: int, name: str) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise LitigationError(f"{name}不能为空。")
    if len(text) > limit:
        raise LitigationError(f"{name}有 {len(text)} 字，最多 {limit} 字。")
    return text


def clean_optional(value: object, limit: int, name: str) -> str | None:
    if value is None or str(value).strip().lower() in EMPTY_WORDS:
        return None
    return clean_text(value, limit, name)


def clean_day(value: object, name: str = "日期") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return parse_date(str(value or ""))
    except PeriodError as exc:
        raise LitigationError(f"{name}：{exc}") from None


def clean_amount(value: object) -> int | None:
    """Yuan as typed ("12,345.60", "3.5万", 1200) → fen; empty → None."""
    if value is None or str(value).strip().lower() in EMPTY_WORDS:
        return None
    text = str(value).strip().replace(",", "").replace("，", "").removesuffix("元")
    scale = Decimal(10000) if text.endswith("万") else Decimal(1)
    try:
        yuan = Decimal(text.removesuffix("万")) * scale
    except InvalidOperation:
        raise LitigationError(f"标的额应为金额（元），收到的是“{str(value)[:20]}”。") from None
    fen = yuan * 100
    if fen < 0 or fen != fen.to_integral_value() or fen > MAX_AMOUNT_FEN:
        raise LitigationError(f"标的额“{str(value)[:20]}”不对：应为不小于 0、最多两位小数的金额。")
    return int(fen)


def amount_yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def find_user(session: Session, ref: object) -> User:
    """A user by "channel:external_id" or "#id"."""
    text = str(ref or "").strip()
    user = None
    if text.lstrip("#").isdigit():
        user = session.get(User, int(text.lstrip("#")))
    elif ":" in text:
        channel, _, external = text.partition(":")
        user = session.exec(
            select(User).where(User.channel == channel, User.external_id == external)
        ).first()
    if user is None:
        raise LitigationError(f"找不到用户“{text[:40]}”，请写成 telegram:123456 或 #用户编号。")
    return user


def clean_responsible(session: Session, ref: object) -> int | None:
    if ref is None or str(ref).strip().lower() in EMPTY_WORDS:
        return None
    user = find_user(session, ref)
    if user.role not in RESPONSIBLE_ROLES:
        raise LitigationError(
            f"承办人 {user.ref} 不是法律顾问或工作人员（当前角色：{user.role}）。"
        )
    return user.id


def draft(session: Session, values: dict[str, object]) -> Draft:
    kind = clean_kind(values.get("kind"))
    data = Draft(
        kind=kind,
        number=clean_text(values.get("number"), 64, "案号"),
        body=clean_text(values.get("body"), 128, "法院或复议机关"),
        parties=clean_text(values.get("parties"), 500, "当事人"),
        our_role=clean_role(values.get("our_role"), kind),
        cause=clean_text(values.get("cause"), 200, "案由"),
        filed_on=clean_day(values.get("filed_on"), "立案日期"),
        amount_fen=clean_amount(values.get("amount")),
        stage=clean_stage(values.get("stage") or "filed"),
        outcome=clean_optional(values.get("outcome"), 500, "结果"),
        community=clean_optional(values.get("community"), 64, "协助社区"),
        responsible_id=clean_responsible(session, values.get("responsible")),
        notes=clean_optional(values.get("notes"), 1000, "备注"),
    )
    closed = values.get("closed_on")
    if closed not in (None, ""):
        data.closed_on = clean_day(closed, "结案日期")
        data.stage = "closed"
    if data.stage == "closed" and data.closed_on is None:
        raise LitigationError("阶段为结案时请给出结案日期。")
    if data.closed_on is not None and data.closed_on < data.filed_on:
        raise LitigationError("结案日期早于立案日期。")
    return data


def parse_local(text: object, zone: ZoneInfo) -> datetime:
    """ "2026-08-12 09:30" (or a date alone: 09:00) in PUFA_TIMEZONE → aware UTC."""
    if isinstance(text, datetime):
        moment = text if text.tzinfo else text.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    raw = str(text or "").strip()
    found = _DATETIME.match(raw)
    day_text, clock = (found.group(1), (found.group(2), found.group(3))) if found else (raw, None)
    day = clean_day(text if isinstance(text, date) else day_text, "时间")
    hour, minute = (int(clock[0]), int(clock[1])) if clock else (DEFAULT_HOUR.hour, 0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise LitigationError(f"时间“{raw[:30]}”不对，请写成 2026-08-12 09:30。")
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


# --- storage ---------------------------------------------------------------------------------
def _values(data: Draft) -> dict[str, object]:
    return {f.name: getattr(data, f.name) for f in fields(Draft)}


def _count(session: Session, kind: str, case: LitigationCase, actor: Actor) -> None:
    event = ledger.record(session, kind, channel=actor.channel, user=actor.user, ref=str(case.id))
    event.community = case.community


def _unique_number(session: Session, number: str, own_id: int | None = None) -> None:
    found = session.exec(select(LitigationCase).where(LitigationCase.number == number)).first()
    if found is not None and found.id != own_id:
        raise LitigationError(f"案号“{number}”已登记（#{found.id}）。")


def add(session: Session, data: Draft, actor: Actor, action: str = "add") -> LitigationCase:
    _unique_number(session, data.number)
    case = LitigationCase(**_values(data))
    session.add(case)
    session.flush()
    changes = {k: [None, legal_history.plain(v)] for k, v in _values(data).items() if v is not None}
    legal_history.record(session, "litigation", case.id, action, actor, changes)
    _count(session, LITIGATION_ADDED, case, actor)
    return case


def get(session: Session, ref: int | str) -> LitigationCase:
    """A case by its register number (#3, 3) or its case number (案号)."""
    text = str(ref).strip()
    case = None
    if text.lstrip("#").isdigit():
        case = session.get(LitigationCase, int(text.lstrip("#")))
    if case is None and text:
        case = session.exec(select(LitigationCase).where(LitigationCase.number == text)).first()
    if case is None:
        raise LitigationError(f"没有找到案件“{text[:40]}”（可用登记编号或案号）。")
    return case


def _fields_of(case: LitigationCase) -> dict[str, object]:
    values = {f.name: getattr(case, f.name) for f in fields(Draft)}
    values["amount"] = amount_yuan(values.pop("amount_fen"))
    values["responsible"] = f"#{case.responsible_id}" if case.responsible_id else None
    values.pop("responsible_id")
    return values


def update(
    session: Session, ref: int | str, changes: dict[str, object], actor: Actor
) -> LitigationCase:
    """Apply `changes` (field names of FIELD_NAMES' values, as typed); revalidated whole."""
    if not changes:
        raise LitigationError("没有要修改的内容。")
    case = get(session, ref)
    merged = _fields_of(case) | changes
    if merged.get("stage") not in (None, "") and clean_stage(merged["stage"]) != "closed":
        merged["closed_on"] = None
    data = draft(session, merged)
    _unique_number(session, data.number, case.id)
    delta = legal_history.diff(case, _values(data))
    if not delta:
        raise LitigationError("新值与原值相同，没有修改。")
    for name, value in _values(data).items():
        setattr(case, name, value)
    case.updated_at = utcnow()
    session.add(case)
    legal_history.record(session, "litigation", case.id, "edit", actor, delta)
    _count(session, LITIGATION_UPDATED, case, actor)
    return case


def close(
    session: Session, ref: int | str, day: object, outcome: object, actor: Actor
) -> LitigationCase:
    case = get(session, ref)
    if case.stage == "closed":
        raise LitigationError(f"案件 #{case.id} 已于 {case.closed_on} 结案。")
    closed_on = clean_day(day, "结案日期")
    if closed_on < case.filed_on:
        raise LitigationError("结案日期早于立案日期。")
    values = {"stage": "closed", "closed_on": closed_on}
    values["outcome"] = clean_text(outcome, 500, "结果")
    delta = legal_history.diff(case, values)
    for name, value in values.items():
        setattr(case, name, value)
    case.updated_at = utcnow()
    session.add(case)
    legal_history.record(session, "litigation", case.id, "close", actor, delta)
    _count(session, LITIGATION_CLOSED, case, actor)
    return case


def add_date(
    session: Session,
    ref: int | str,
    kind: object,
    at: object,
    note: object,
    actor: Actor,
    *,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> tuple[LitigationDate, list[LitigationReminder]]:
    """Enter a hearing or deadline and make its reminders (those not already past)."""
    now = now or utcnow()
    case = get(session, ref)
    if case.stage == "closed":
        raise LitigationError(f"案件 #{case.id} 已结案，不能再登记开庭或期限。")
    key = _word(DATE_WORDS, kind or "hearing", "日期类型", DATE_KINDS)
    moment = parse_local(at, zone)
    if moment <= now:
        raise LitigationError("这个时间已经过去了，请检查。")
    row = LitigationDate(
        case_id=case.id, kind=key, at=moment, note=clean_optional(note, 200, "说明")
    )
    session.add(row)
    session.flush()
    reminders = []
    for days in REMINDER_DAYS:
        remind_at = moment - timedelta(days=days)
        if remind_at > now:
            reminders.append(
                LitigationReminder(date_id=row.id, days_before=days, remind_at=remind_at)
            )
    session.add_all(reminders)
    local = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    change = {DATE_KINDS[key]: [None, local]}
    legal_history.record(session, "litigation", case.id, key, actor, change)
    _count(session, LITIGATION_DATE_ADDED, case, actor)
    return row, reminders


def dates_of(session: Session, case_id: int) -> list[LitigationDate]:
    statement = (
        select(LitigationDate)
        .where(LitigationDate.case_id == case_id)
        .order_by(LitigationDate.at, LitigationDate.id)
    )
    return list(session.exec(statement))


def listing(
    session: Session, *, open_only: bool = False, responsible_id: int | None = None
) -> list[LitigationCase]:
    statement = select(LitigationCase).order_by(LitigationCase.filed_on, LitigationCase.id)
    if open_only:
        statement = statement.where(LitigationCase.stage != "closed")
    if responsible_id is not None:
        statement = statement.where(LitigationCase.responsible_id == responsible_id)
    return list(session.exec(statement))


def active_in(session: Session, period: Period) -> list[LitigationCase]:
    """Cases open at some point of `period`: filed before its end, not closed before it."""
    statement = (
        select(LitigationCase)
        .where(LitigationCase.filed_on < period.end)
        .where(or_(LitigationCase.closed_on.is_(None), LitigationCase.closed_on >= period.start))
        .order_by(LitigationCase.kind, LitigationCase.filed_on, LitigationCase.id)
    )
    return list(session.exec(statement))


# --- reminders -------------------------------------------------------------------------------
def reminder_text(case: LitigationCase, when: LitigationDate, days: int, zone: ZoneInfo) -> str:
    local = as_utc(when.at).astimezone(zone)
    what = "开庭" if when.kind == "hearing" else f"期限届满（{when.note or '期限'}）"
    span = "一周后" if days == 7 else ("明天" if days == 1 else f"{days} 天后")
    lines = [
        f"⏰ 案件提醒：{span}（{local:%Y年%m月%d日 %H:%M}）{what}",
        f"{CASE_TYPES[case.kind]} {case.number}（#{case.id}）",
        f"{case.body}；案由：{case.cause}；我方：{ROLES[case.our_role]}",
    ]
    if when.kind == "hearing" and when.note:
        lines.append(f"说明：{when.note}")
    return "\n".join(lines)


def queue_due_reminders(session: Session, *, now: datetime, zone: ZoneInfo) -> int:
    """Put every due reminder in the outbox (idempotent); returns how many were queued."""
    due = session.exec(
        select(LitigationReminder)
        .where(LitigationReminder.status == "pending", LitigationReminder.remind_at <= now)
        .order_by(LitigationReminder.remind_at, LitigationReminder.id)
    ).all()
    queued = 0
    for reminder in due:
        queued += _queue_one(session, reminder, now, zone)
    return queued


def _queue_one(session: Session, reminder: LitigationReminder, now: datetime, zone) -> int:
    when = session.get(LitigationDate, reminder.date_id)
    case = session.get(LitigationCase, when.case_id)
    person = session.get(User, case.responsible_id) if case.responsible_id else None
    reason = _skip_reason(case, when, person, now)
    if reason:
        log.warning("litigation reminder %s skipped: %s", reminder.id, reason)
        reminder.status = "skipped"
        session.add(reminder)
        return 0
    text = reminder_text(case, when, reminder.days_before, zone)
    message = outbox.enqueue(
        session,
        person,
        Reply(text),
        source=f"litigation:{case.id}",
        dedup_key=f"litigation-reminder:{reminder.id}",
    )
    if message is not None:
        session.flush()
        reminder.outbox_id = message.id
    reminder.status, reminder.queued_at = "queued", now
    session.add(reminder)
    event = ledger.record(
        session, LITIGATION_REMINDER, channel=person.channel, user=person, ref=str(case.id)
    )
    event.community = case.community
    return 1


def _skip_reason(case, when, person, now: datetime) -> str | None:
    if case.stage == "closed":
        return f"case {case.id} is closed"
    if as_utc(when.at) <= now:
        return f"date {when.id} has passed"
    if person is None:
        return f"case {case.id} has no responsible person"
    if person.role not in RESPONSIBLE_ROLES:
        return f"responsible user {person.ref} is no longer adviser or staff"
    return None


def run_reminders(engine: Engine, zone: ZoneInfo, now: datetime | None = None) -> int:
    """One pass of the periodic job (its own transaction)."""
    with Session(engine) as session:
        queued = queue_due_reminders(session, now=now or utcnow(), zone=zone)
        session.commit()
    if queued:
        log.info("queued %d litigation reminder(s)", queued)
    return queued


# --- import ----------------------------------------------------------------------------------
def check_import(session: Session, path: str, zone: ZoneInfo) -> ImportReport:
    """Validate every row of a register spreadsheet (nothing saved); row data is
    (Draft, [hearing datetimes])."""
    report = ImportReport()
    seen: dict[str, int] = {}
    for number, values in read_rows(path, IMPORT_COLUMNS, ("kind", "number", "filed_on")):
        try:
            data = draft(session, values)
            _unique_number(session, data.number)
            if data.number in seen:
                raise LitigationError(f"案号“{data.number}”与第 {seen[data.number]} 行重复。")
            hearings = [parse_local(h, zone) for h in _split(values.get("hearings"))]
        except (LitigationError, TypeError) as exc:
            report.error(number, str(exc))
            continue
        seen[data.number] = number
        report.rows.append((number, (data, hearings)))
    return report


def _split(value: object) -> list[object]:
    if value in (None, ""):
        return []
    if isinstance(value, date | datetime):
        return [value]
    return [part.strip() for part in re.split(r"[;；\n、]", str(value)) if part.strip()]


def import_rows(
    session: Session, report: ImportReport, actor: Actor, *, zone: ZoneInfo, now: datetime
) -> list[LitigationCase]:
    if report.errors:
        raise LitigationError("表格有误，没有导入任何案件。")
    cases = []
    for _, (data, hearings) in report.rows:
        case = add(session, data, actor, action="import")
        for moment in hearings:
            _import_hearing(session, case, moment, now)
        cases.append(case)
    return cases


def _import_hearing(session: Session, case: LitigationCase, moment: datetime, now) -> None:
    """Past hearings are kept as history; future ones get their reminders."""
    row = LitigationDate(case_id=case.id, kind="hearing", at=moment)
    session.add(row)
    session.flush()
    if case.stage == "closed":
        return
    for days in REMINDER_DAYS:
        if moment - timedelta(days=days) > now:
            session.add(
                LitigationReminder(
                    date_id=row.id, days_before=days, remind_at=moment - timedelta(days=days)
                )
            )


# --- presentation ----------------------------------------------------------------------------
def yuan_text(fen: int | None) -> str:
    return "—" if fen is None else f"{amount_yuan(fen):,} 元"


def describe(case: LitigationCase) -> str:
    text = (
        f"#{case.id} {CASE_TYPES[case.kind]} {case.number} · {STAGES[case.stage]} · "
        f"{case.cause}（我方{ROLES[case.our_role]}）"
    )
    return f"{text} · 协助{case.community}" if case.community else text


def details(session: Session, case: LitigationCase, zone: ZoneInfo) -> str:
    person = session.get(User, case.responsible_id) if case.responsible_id else None
    lines = [
        f"#{case.id} {CASE_TYPES[case.kind]} {case.number}",
        f"法院/复议机关：{case.body}",
        f"当事人：{case.parties}",
        f"我方身份：{ROLES[case.our_role]}；案由：{case.cause}",
        f"标的额：{yuan_text(case.amount_fen)}",
        f"阶段：{STAGES[case.stage]}；立案：{case.filed_on}"
        + (f"；结案：{case.closed_on}" if case.closed_on else ""),
        f"结果：{case.outcome or '—'}",
        f"协助社区：{case.community or '—'}",
        f"承办人：{(person.display_name or person.ref) if person else '—'}",
    ]
    for when in dates_of(session, case.id):
        local = as_utc(when.at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        note = f"（{when.note}）" if when.note else ""
        lines.append(f"{DATE_KINDS[when.kind]}：{local}{note}")
    if case.notes:
        lines.append(f"备注：{case.notes}")
    return "\n".join(lines)


def as_row(session: Session, case: LitigationCase, zone: ZoneInfo) -> dict:
    person = session.get(User, case.responsible_id) if case.responsible_id else None
    hearings = [
        as_utc(d.at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        for d in dates_of(session, case.id)
        if d.kind == "hearing"
    ]
    return {
        "id": case.id,
        "kind": CASE_TYPES[case.kind],
        "number": case.number,
        "body": case.body,
        "parties": case.parties,
        "our_role": ROLES[case.our_role],
        "cause": case.cause,
        "amount": float(amount_yuan(case.amount_fen)) if case.amount_fen is not None else None,
        "stage": STAGES[case.stage],
        "filed_on": case.filed_on.isoformat(),
        "hearings": "；".join(hearings),
        "outcome": case.outcome or "",
        "closed_on": case.closed_on.isoformat() if case.closed_on else "",
        "community": case.community or "",
        "responsible": (person.display_name or person.ref) if person else "",
    }
