"""Consultations: a resident's case for the legal adviser, from intake to the answer.

A case moves new → claimed → answered → closed. A resident's follow-up on an answered case
moves it back to claimed, so it returns to the adviser's queue. Every change is a
CaseEvent row with its time and actor. Case numbers are ZS-<year>-<seq>: the year in
PUFA_TIMEZONE, the sequence per year. The unique (year, seq) constraint keeps numbers
unique when two submissions race; `create_case` then retries with the next number inside
a savepoint. Status changes are compare-and-set UPDATEs, so two advisers pressing 认领 at
once cannot both win.

Ledger kinds (written by the handlers in handlers/cases/ in the transaction of
the change, each with the case's topic and community and ref = the case number):
  consult_submitted  a resident submitted a case
  consult_claimed    an adviser took a case
  consult_answered   the first answer to a case (value = hours from submission)
  consult_replied    every adviser reply, the first one included (the opinions given)
  consult_closed     a case was closed
  consult_followup   a resident added a follow-up or the information the adviser asked for
  consult_rated      a resident rated the answer (value = 1..5)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.config import Settings
from bot.ledger import Source
from bot.messages import Reply
from bot.models import Case, CaseEvent, CaseStatus, OutboxMessage, User
from bot.runtime import outbox
from bot.services import users
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

TOPICS = (
    "婚姻家庭",
    "继承遗产",
    "房产物业",
    "邻里纠纷",
    "合同消费",
    "借款债务",
    "人身损害",
    "劳动社保",
    "其他",
)
OTHER_COMMUNITY = "其他"
STATUSES = tuple(CaseStatus)
OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.CLAIMED, CaseStatus.ANSWERED)
STATUS_NAMES = {
    CaseStatus.NEW: "待认领",
    CaseStatus.CLAIMED: "处理中",
    CaseStatus.ANSWERED: "已答复",
    CaseStatus.CLOSED: "已结案",
}
RETENTION_DAYS = 365  # what the consent text promises and `cases purge` defaults to
MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 2000
MAX_PHOTOS = 9
NUMBER_ATTEMPTS = 20
ANONYMIZED = "（已匿名化）"
DIGEST_SOURCE = Source.CASE_DIGEST

NUMBER_PATTERN = re.compile(r"ZS-(\d{4})-(\d{1,6})", re.IGNORECASE)
MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")


class CaseError(Exception):
    """An action that does not fit the case's state; the message is for the user."""


# --- small parsers -------------------------------------------------------------------------
def format_number(year: int, seq: int) -> str:
    return f"ZS-{year}-{seq:04d}"


def parse_number(text: str) -> str | None:
    """The case number in `text` in canonical form, or None."""
    match = NUMBER_PATTERN.search(text.replace("－", "-").replace("—", "-"))
    return format_number(int(match.group(1)), int(match.group(2))) if match else None


def normalize_phone(text: str) -> str | None:
    """A mainland mobile (13812345678) or a landline with area code (022-12345678), else None."""
    compact = re.sub(r"[\s()（）]", "", text).replace("－", "-").replace("—", "-")
    compact = re.sub(r"^(\+86|0086)-?", "", compact)
    if MOBILE.fullmatch(compact.replace("-", "")):
        return compact.replace("-", "")
    if LANDLINE.fullmatch(compact):
        return compact
    return None


def hours_between(start: datetime, end: datetime) -> float:
    return round((as_utc(end) - as_utc(start)).total_seconds() / 3600, 2)


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"


def waited(start: datetime, now: datetime) -> str:
    """'2天3小时' — how long since `start`."""
    total = max(0, int((as_utc(now) - as_utc(start)).total_seconds() // 3600))
    days, hours = divmod(total, 24)
    return f"{days}天{hours}小时" if days else f"{hours}小时"


# --- creation ------------------------------------------------------------------------------
def next_seq(session: Session, year: int) -> int:
    latest = session.exec(select(func.max(Case.seq)).where(Case.year == year)).one()
    return (latest or 0) + 1


def create_case(
    session: Session,
    user: User | None,
    *,
    channel: str,
    topic: str,
    community: str,
    description: str,
    photos: Sequence[str],
    phone: str | None,
    consent_at: datetime,
    now: datetime,
    zone: ZoneInfo,
    min_length: int = MIN_DESCRIPTION,
) -> Case:
    """Insert a case with the next free number of the year (local time) and its first event.

    A number taken by a concurrent submission fails the unique constraint inside a
    savepoint and the next one is tried. Call it in a transaction that has already
    written (the dispatcher's always has: it updates the user first): pysqlite only
    begins a transaction at the first write, so a savepoint opened before any write
    would be released as a commit of its own."""
    if not min_length <= len(description) <= MAX_DESCRIPTION:
        raise CaseError(f"情况描述应为 {min_length}–{MAX_DESCRIPTION} 字")
    year = as_utc(now).astimezone(zone).year
    for _ in range(NUMBER_ATTEMPTS):
        seq = next_seq(session, year)
        case = Case(
            number=format_number(year, seq),
            year=year,
            seq=seq,
            user_id=user.id if user else None,  # None: recorded by staff (walk-in, phone)
            channel=channel,
            resident_name=user.display_name if user else None,
            topic=topic,
            community=community,
            description=description,
            photos=list(photos),
            phone=phone,
            consent_at=consent_at,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(case)
        except IntegrityError:
            log.info("case number %s-%d taken concurrently; trying the next", year, seq)
            continue
        add_event(session, case, user, "submitted", now, status_to=CaseStatus.NEW)
        return case
    raise RuntimeError(f"no free case number for {year} after {NUMBER_ATTEMPTS} attempts")


def add_event(
    session: Session,
    case: Case,
    actor: User | None,
    kind: str,
    now: datetime,
    *,
    status_from: str | None = None,
    status_to: str | None = None,
    body: str | None = None,
    photos: Sequence[str] | None = None,
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor_id=actor.id if actor else None,
        kind=kind,
        status_from=status_from,
        status_to=status_to,
        body=body,
        photos=list(photos) if photos else None,
    )
    session.add(event)
    session.flush()
    return event


# --- transitions ---------------------------------------------------------------------------
def _move(session: Session, case: Case, allowed: Iterable[str], to: str, **values) -> bool:
    """Compare-and-set the status: True when this transaction made the change."""
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status.in_(tuple(allowed)))
        .values(status=to, **values)
    )
    session.refresh(case)
    return result.rowcount == 1


def claim(session: Session, case: Case, adviser: User, now: datetime) -> None:
    if case.status == CaseStatus.CLOSED:
        raise CaseError(f"{case.number} 已结案。")
    if case.adviser_id == adviser.id:
        raise CaseError(f"您已经认领了 {case.number}。")
    if not _move(
        session, case, (CaseStatus.NEW,), CaseStatus.CLAIMED, adviser_id=adviser.id, updated_at=now
    ):
        holder = session.get(User, case.adviser_id) if case.adviser_id else None
        raise CaseError(f"{case.number} 已由{display(holder)}认领。")
    add_event(
        session,
        case,
        adviser,
        "claimed",
        now,
        status_from=CaseStatus.NEW,
        status_to=CaseStatus.CLAIMED,
    )


def answer(
    session: Session, case: Case, adviser: User, text: str, photos: Sequence[str], now: datetime
) -> tuple[CaseEvent, bool]:
    """Record an adviser's reply; returns (event, whether it is the first answer)."""
    before = case.status
    if before == CaseStatus.CLOSED:
        raise CaseError(f"{case.number} 已结案，不能再答复。")
    values = {"updated_at": now, "awaiting_info": False}
    if case.adviser_id is None:
        values["adviser_id"] = adviser.id
    first = case.first_answer_at is None
    if first:
        values["first_answer_at"] = now
    if not _move(session, case, OPEN_STATUSES, CaseStatus.ANSWERED, **values):
        raise CaseError(f"{case.number} 已结案，不能再答复。")
    event = add_event(
        session,
        case,
        adviser,
        "answered",
        now,
        status_from=before,
        status_to=CaseStatus.ANSWERED,
        body=text,
        photos=photos,
    )
    return event, first


def request_info(session: Session, case: Case, adviser: User, text: str, now: datetime):
    """The adviser asks the resident for more; an unclaimed case is claimed by the asker."""
    before = case.status
    if before == CaseStatus.CLOSED:
        raise CaseError(f"{case.number} 已结案。")
    values = {"awaiting_info": True, "updated_at": now}
    to = CaseStatus.CLAIMED if before == CaseStatus.NEW else before
    if before == CaseStatus.NEW:
        values["adviser_id"] = adviser.id
    if not _move(session, case, (before,), to, **values):
        raise CaseError(f"{case.number} 刚刚被其他人处理过，请重新查看。")
    return add_event(
        session,
        case,
        adviser,
        "info_requested",
        now,
        status_from=before if to != before else None,
        status_to=to if to != before else None,
        body=text,
    )


def add_followup(
    session: Session, case: Case, resident: User, text: str, photos: Sequence[str], now: datetime
) -> CaseEvent:
    """A resident's follow-up (or the information asked for); an answered case goes back to
    the queue as claimed."""
    before = case.status
    if before == CaseStatus.CLOSED:
        raise CaseError(f"{case.number} 已结案。如有新的问题，请发送 /consult 重新咨询。")
    kind = "info_added" if case.awaiting_info else "followup"
    to = CaseStatus.CLAIMED if before == CaseStatus.ANSWERED else before
    if not _move(session, case, (before,), to, awaiting_info=False, updated_at=now):
        raise CaseError(f"{case.number} 刚刚有了变化，请再发一次。")
    return add_event(
        session,
        case,
        resident,
        kind,
        now,
        status_from=before if to != before else None,
        status_to=to if to != before else None,
        body=text or None,
        photos=photos,
    )


def close(session: Session, case: Case, actor: User, now: datetime) -> None:
    before = case.status
    if not _move(session, case, OPEN_STATUSES, CaseStatus.CLOSED, closed_at=now, updated_at=now):
        raise CaseError(f"{case.number} 已经结案了。")
    add_event(session, case, actor, "closed", now, status_from=before, status_to=CaseStatus.CLOSED)


def rate(session: Session, case: Case, resident: User, score: int, now: datetime) -> None:
    if case.first_answer_at is None:
        raise CaseError(f"{case.number} 还没有答复，答复后才能评价。")
    if case.rating is not None:
        raise CaseError(f"您已经评价过 {case.number} 了（{case.rating} 分），谢谢！")
    case.rating = score
    case.updated_at = now
    add_event(session, case, resident, "rated", now, body=str(score))


# --- queries -------------------------------------------------------------------------------
def get_case(session: Session, number: str) -> Case | None:
    return session.exec(select(Case).where(Case.number == number)).first()


def list_cases(
    session: Session,
    statuses: Sequence[str] = OPEN_STATUSES,
    topic: str | None = None,
    adviser_id: int | None = None,
) -> list[Case]:
    """Cases in the given statuses, oldest first (the order they should be handled in)."""
    statement = select(Case).where(Case.status.in_(tuple(statuses))).order_by(Case.id)
    if topic:
        statement = statement.where(Case.topic == topic)
    if adviser_id is not None:
        statement = statement.where(Case.adviser_id == adviser_id)
    return list(session.exec(statement))


def cases_of(session: Session, user: User) -> list[Case]:
    """A resident's own cases, newest first."""
    return list(session.exec(select(Case).where(Case.user_id == user.id).order_by(Case.id.desc())))


def events_of(session: Session, case: Case) -> list[CaseEvent]:
    return list(
        session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    )


def display(user: User | None) -> str:
    if user is None:
        return "—"
    return f"{user.display_name}（{user.ref}）" if user.display_name else user.ref


def notify_targets(session: Session, case: Case | None = None) -> list[User]:
    """Who hears about a case: its adviser once claimed, else every adviser, else staff and
    admins (when the office has not named an adviser yet)."""
    if case is not None and case.adviser_id is not None:
        holder = session.get(User, case.adviser_id)
        if holder is not None and holder.role in ("adviser", "staff", "admin"):
            return [holder]
    return users.with_roles(session, ("adviser",)) or users.with_roles(session, ("staff", "admin"))


def waiting_cases(session: Session) -> list[Case]:
    """Cases nobody has claimed or answered yet, oldest first."""
    statement = (
        select(Case)
        .where(Case.status == CaseStatus.NEW, Case.first_answer_at.is_(None))
        .order_by(Case.id)
    )
    return list(session.exec(statement))


UNATTENDED = (
    "有 {n} 件咨询在等待答复，但还没有人能收到：请在 PUFA_ADMINS 中设置管理员（例如 "
    "console:admin），再由管理员用 /grant 渠道:用户ID adviser 指定法律顾问。"
)


def unattended_warning(session: Session) -> str | None:
    """A warning when cases wait and no adviser, staff member or admin exists to hear of them."""
    waiting = waiting_cases(session)
    if waiting and not notify_targets(session):
        return UNATTENDED.format(n=len(waiting))
    return None


def waiting_text(cases: Sequence[Case]) -> str:
    """What a newly appointed adviser is told about the cases already waiting."""
    lines = [f"📋 现有 {len(cases)} 件咨询等待处理："]
    lines += [f"• {case.number} {case.topic} · {case.community}" for case in cases[:20]]
    if len(cases) > 20:
        lines.append(f"……另有 {len(cases) - 20} 件")
    lines.append("发送 /cases new 查看并认领。")
    return "\n".join(lines)


# --- reminders -----------------------------------------------------------------------------
def overdue_cases(session: Session, now: datetime, sla_hours: int) -> list[Case]:
    """Open cases with no answer yet, submitted more than `sla_hours` before `now`."""
    cutoff = as_utc(now) - timedelta(hours=sla_hours)
    statement = (
        select(Case)
        .where(
            Case.status.in_((CaseStatus.NEW, CaseStatus.CLAIMED)),
            Case.first_answer_at.is_(None),
            Case.created_at <= cutoff,
        )
        .order_by(Case.id)
    )
    return list(session.exec(statement))


def digest_text(
    session: Session, cases: Sequence[Case], now: datetime, zone: ZoneInfo, sla_hours: int
) -> str:
    lines = [f"⏰ 今日提醒：{len(cases)} 件咨询超过 {sla_hours} 小时还没有答复："]
    for case in cases:
        holder = session.get(User, case.adviser_id) if case.adviser_id else None
        who = f"顾问 {display(holder)}" if holder else "未认领"
        lines.append(
            f"• {case.number} {case.topic} · {case.community} · "
            f"提交于 {local_time(case.created_at, zone)}，已等待 {waited(case.created_at, now)} · {who}"
        )
    lines.append("发送 /case 编号 查看并答复，/cases new 查看待认领的咨询。")
    return "\n".join(lines)


def send_daily_digest(engine: Engine, settings: Settings, now: datetime | None = None) -> int:
    """Queue today's digest of overdue cases for the advisers (staff and admins when there
    is no adviser). Returns how many messages were queued; none when nothing is overdue.
    Called daily at PUFA_DIGEST_TIME by the scheduler; safe to call twice a day."""
    now = as_utc(now or utcnow())
    with Session(engine) as session:
        cases = overdue_cases(session, now, settings.case_sla_hours)
        if not cases:
            return 0
        text = digest_text(session, cases, now, settings.zone, settings.case_sla_hours)
        day = now.astimezone(settings.zone).date().isoformat()
        queued = [
            outbox.enqueue(
                session,
                person,
                Reply(text),
                source=DIGEST_SOURCE,
                dedup_key=f"{DIGEST_SOURCE}:{day}:{person.id}",
            )
            for person in notify_targets(session)
        ]
        session.commit()
    sent = sum(message is not None for message in queued)
    log.info("case digest: %d overdue cases, %d messages queued", len(cases), sent)
    return sent


# --- retention -----------------------------------------------------------------------------
def purge(session: Session, now: datetime, older_than: timedelta) -> list[str]:
    """Anonymize cases closed more than `older_than` ago: the description, photos, phone and
    name go, so do the link to the resident and the texts of the thread and of the messages
    queued about the case. Number, topic, community, status, times and rating stay, so every
    count is unchanged. Returns the numbers anonymized."""
    cutoff = as_utc(now) - older_than
    cases = session.exec(
        select(Case).where(
            Case.status == CaseStatus.CLOSED, Case.closed_at <= cutoff, Case.anonymized_at.is_(None)
        )
    ).all()
    for case in cases:
        for event in events_of(session, case):
            if event.actor_id is not None and event.actor_id == case.user_id:
                event.actor_id = None
            if event.body is not None and event.kind != "rated":
                event.body = ANONYMIZED
            event.photos = None
        messages = session.exec(
            select(OutboxMessage).where(OutboxMessage.source == Source.case(case.number))
        )
        for message in messages:
            message.reply = Reply(ANONYMIZED).to_dict()
        case.description = ANONYMIZED
        case.photos = []
        case.phone = None
        case.resident_name = None
        case.user_id = None
        case.anonymized_at = now
    return [case.number for case in cases]


# --- export --------------------------------------------------------------------------------
EXPORT_FIELDS = {
    "number": "编号",
    "status": "状态",
    "topic": "主题",
    "community": "社区",
    "channel": "渠道",
    "created_at": "提交时间",
    "first_answer_at": "首次答复时间",
    "hours_to_answer": "首次答复用时（小时）",
    "closed_at": "结案时间",
    "rating": "评分",
}
PERSONAL_FIELDS = {"resident": "居民", "phone": "电话", "description": "情况描述"}


def export_rows(
    session: Session, zone: ZoneInfo, *, personal: bool = False, year: int | None = None
) -> list[dict]:
    """One dict per case, keyed by EXPORT_FIELDS (plus PERSONAL_FIELDS if `personal`)."""
    statement = select(Case).order_by(Case.id)
    if year is not None:
        statement = statement.where(Case.year == year)

    def when(moment: datetime | None) -> str | None:
        return local_time(moment, zone) if moment else None

    rows = []
    for case in session.exec(statement):
        row = {
            "number": case.number,
            "status": STATUS_NAMES[case.status],
            "topic": case.topic,
            "community": case.community,
            "channel": case.channel,
            "created_at": when(case.created_at),
            "first_answer_at": when(case.first_answer_at),
            "hours_to_answer": (
                hours_between(case.created_at, case.first_answer_at)
                if case.first_answer_at
                else None
            ),
            "closed_at": when(case.closed_at),
            "rating": case.rating,
        }
        if personal:
            resident = session.get(User, case.user_id) if case.user_id else None
            row["resident"] = case.resident_name or (resident.ref if resident else "")
            row["phone"] = case.phone or ""
            row["description"] = case.description
        rows.append(row)
    return rows


# --- rendering (the chat view and `cases show`) --------------------------------------------
EVENT_NAMES = {
    "submitted": "提交",
    "claimed": "认领",
    "answered": "答复",
    "info_requested": "请居民补充",
    "info_added": "补充",
    "followup": "追问",
    "closed": "结案",
    "rated": "评分",
}


def case_text(session: Session, case: Case, zone: ZoneInfo) -> str:
    """A case and its history as text (the chat view, and `cases show`)."""
    resident = session.get(User, case.user_id) if case.user_id else None
    holder = session.get(User, case.adviser_id) if case.adviser_id else None
    lines = [
        f"📁 {case.number} · {STATUS_NAMES[case.status]}"
        + (" · 等待居民补充" if case.awaiting_info else ""),
        f"类别：{case.topic}　社区：{case.community}",
        f"居民：{case.resident_name or '—'}（{resident.ref if resident else '已匿名化'}）",
        f"联系方式：{case.phone or '在这里回复'}",
        f"提交：{local_time(case.created_at, zone)}　顾问：{display(holder)}",
    ]
    if case.first_answer_at:
        hours = hours_between(case.created_at, case.first_answer_at)
        lines.append(f"首次答复：{local_time(case.first_answer_at, zone)}（用时 {hours} 小时）")
    if case.rating:
        lines.append(f"居民评分：{case.rating} 分")
    lines.append(f"情况描述：\n{case.description}")
    if case.photos:
        lines.append(f"图片 {len(case.photos)} 张：{'、'.join(case.photos)}")
    lines += ["", "—— 记录 ——"]
    lines += [event_line(session, case, e, zone) for e in events_of(session, case)]
    return "\n".join(lines)


def event_line(session: Session, case: Case, event: CaseEvent, zone: ZoneInfo) -> str:
    if event.actor_id is None:
        who = "居民（已匿名化）" if case.anonymized_at else "系统"
    elif event.actor_id == case.user_id:
        who = "居民"
    else:
        who = display(session.get(User, event.actor_id))
    line = f"{local_time(event.at, zone)[5:]} {who} {EVENT_NAMES.get(event.kind, event.kind)}"
    if event.body:
        line += f"：{event.body}"
    if event.photos:
        line += f"（图片 {len(event.photos)} 张）"
    return line
