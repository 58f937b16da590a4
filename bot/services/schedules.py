"""Scheduled pushes: the schedule rows (the source of truth), staff's time phrases,
recurrences in PUFA_TIMEZONE, and firing with the misfire policy.

Recurrences: once at a date-time; daily, weekly (a weekday) or monthly (a day of the month;
a day the month lacks, e.g. the 31st, falls on its last day) at HH:MM local time.

Misfire policy (`fire`), applied with an injected `now` so tests are deterministic: the
occurrences due between the row's `next_run_at` and now are collected; the latest one is
sent once if it is no older than PUFA_MISFIRE_GRACE, every other one is skipped, and
skipped ones are reported to staff (and the author) through the outbox. The fan-out, the
advance of `next_run_at`, the report and the ledger rows share one transaction, so a crash
in the middle leaves the schedule due and the next start does it again, once.

Ledger: push_skipped (value = occurrences skipped, ref = schedule:<id>, topic = the notice
topic, channel "scheduler").
"""

from __future__ import annotations

import calendar
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot import ledger
from bot.config import Settings
from bot.ledger import Kind, Source, schedule_ref
from bot.messages import Reply
from bot.models import Notice, Schedule, ScheduleStatus, User
from bot.observances import CAMPAIGN_TIME, Observance
from bot.runtime import outbox
from bot.services import publicity
from bot.timeutil import as_utc
from faq.kb import Entry

log = logging.getLogger(__name__)

KINDS = ("once", "daily", "weekly", "monthly")
SERIES_DAILY = "civil_code_daily"
DAILY_SERIES_TIME = "08:00"
WEEKDAY_NAMES = "一二三四五六日"
MAX_CATCH_UP = 1000
WHEN_HELP = (
    "时间的写法：2026-03-15 09:00（一次）、3-15 09:00、明天 09:00、"
    "每天 08:00、每周一 08:00、每月1日 08:00。"
)
SKIPPED_SOURCE = Source.SKIPPED


# --- when ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class When:
    """When a schedule runs: `run_at` (aware UTC) for once; `at_time` HH:MM local otherwise."""

    kind: str
    run_at: datetime | None = None
    at_time: str | None = None
    weekday: int | None = None  # 0 = Monday
    day_of_month: int | None = None


def parse_clock(text: str) -> str:
    match = re.fullmatch(r"(\d{1,2})[:：点](\d{2})?分?", text)
    if not match:
        raise ValueError(f"看不懂时间“{text}”。{WHEN_HELP}")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"“{text}”不是有效的时刻。{WHEN_HELP}")
    return f"{hour:02d}:{minute:02d}"


def _weekday(text: str) -> int:
    names = {c: i for i, c in enumerate(WEEKDAY_NAMES)} | {"天": 6}
    english = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    if text in names:
        return names[text]
    if text.isdigit() and 1 <= int(text) <= 7:
        return int(text) - 1
    if text[:3].lower() in english:
        return english.index(text[:3].lower())
    raise ValueError(f"看不懂星期“{text}”。{WHEN_HELP}")


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> When:
    """Parse staff's phrase; raise ValueError with a Chinese explanation."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    if not text:
        raise ValueError(f"请写出时间。{WHEN_HELP}")
    lowered = text.lower()
    if match := re.fullmatch(r"(?:每天|每日|daily) ?(\S+)", lowered):
        return When("daily", at_time=parse_clock(match.group(1)))
    if match := re.fullmatch(
        r"(?:每周|每星期|每礼拜|weekly) ?([一二三四五六日天1-7]|[a-z]+) ?(\S+)", lowered
    ):
        return When("weekly", at_time=parse_clock(match.group(2)), weekday=_weekday(match.group(1)))
    if match := re.fullmatch(r"(?:每月|monthly) ?(\d{1,2}) ?[日号]? ?(\S+)", lowered):
        day = int(match.group(1))
        if not 1 <= day <= 31:
            raise ValueError(f"每月的日子应在 1 到 31 之间。{WHEN_HELP}")
        return When("monthly", at_time=parse_clock(match.group(2)), day_of_month=day)
    return When("once", run_at=_parse_once(text, now, zone))


def _parse_once(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    today = now.astimezone(zone).date()
    relative = {"今天": 0, "明天": 1, "后天": 2}
    if match := re.fullmatch(r"(今天|明天|后天) ?(\S+)", text):
        day = today + timedelta(days=relative[match.group(1)])
        clock = parse_clock(match.group(2))
        year_given = True
    elif match := re.fullmatch(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})[日号]? ?(\S+)", text):
        year_given = match.group(1) is not None
        year = int(match.group(1)) if year_given else today.year
        try:
            day = date(year, int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise ValueError(f"“{text}”不是有效的日期。{WHEN_HELP}") from None
        clock = parse_clock(match.group(4))
    else:
        raise ValueError(f"看不懂“{text}”。{WHEN_HELP}")
    moment = _at(day, clock, zone)
    if moment <= now and not year_given:
        moment = _at(day.replace(year=day.year + 1), clock, zone)
    if moment <= now:
        raise ValueError(f"{_local(moment, zone)} 已经过去了，请给一个将来的时间。")
    return moment


def _at(day: date, clock: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def describe(when: When, zone: ZoneInfo) -> str:
    if when.kind == "once":
        return f"{_local(when.run_at, zone)}（一次）" if when.run_at else "一次"
    if when.kind == "daily":
        return f"每天 {when.at_time}"
    if when.kind == "weekly":
        return f"每周{WEEKDAY_NAMES[when.weekday]} {when.at_time}"
    return f"每月{when.day_of_month}日 {when.at_time}"


def next_after(when: When, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after `after` (aware UTC), or None (a past 'once')."""
    if when.kind == "once":
        return when.run_at if when.run_at and as_utc(when.run_at) > after else None
    day = after.astimezone(zone).date()
    if when.kind == "daily":
        candidates = (day + timedelta(days=n) for n in range(3))
    elif when.kind == "weekly":
        first = day + timedelta(days=(when.weekday - day.weekday()) % 7)
        candidates = (first + timedelta(days=7 * n) for n in range(3))
    else:
        candidates = (_month_day(day, n, when.day_of_month) for n in range(3))
    for candidate in candidates:
        moment = _at(candidate, when.at_time, zone)
        if moment > after:
            return moment
    raise AssertionError("unreachable: a later occurrence always exists")


def _month_day(day: date, months_ahead: int, wanted: int) -> date:
    index = day.year * 12 + day.month - 1 + months_ahead
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(wanted, last))


def when_of(schedule: Schedule) -> When:
    return When(
        schedule.kind,
        run_at=_once_time(schedule),
        at_time=schedule.at_time,
        weekday=schedule.weekday,
        day_of_month=schedule.day_of_month,
    )


def _once_time(schedule: Schedule) -> datetime | None:
    if schedule.kind != "once":
        return None
    moment = schedule.next_run_at or schedule.last_run_at
    return as_utc(moment) if moment else None


def due_times(schedule: Schedule, now: datetime, zone: ZoneInfo) -> list[datetime]:
    """Occurrences from `next_run_at` up to `now` (at most MAX_CATCH_UP of them)."""
    if schedule.next_run_at is None or as_utc(schedule.next_run_at) > now:
        return []
    due = [as_utc(schedule.next_run_at)]
    when = when_of(schedule)
    while when.kind != "once" and len(due) < MAX_CATCH_UP:
        following = next_after(when, due[-1], zone)
        if following is None or following > now:
            break
        due.append(following)
    return due


# --- rows ------------------------------------------------------------------------------------
def create(
    session: Session,
    *,
    notice: Notice | None,
    when: When,
    author: User | None,
    now: datetime,
    zone: ZoneInfo,
    series: str | None = None,
    campaign: str | None = None,
) -> Schedule:
    schedule = Schedule(
        created_at=now,
        notice_id=notice.id if notice else None,
        series=series,
        campaign=campaign,
        author_id=author.id if author else None,
        kind=when.kind,
    )
    set_when(schedule, when, now, zone)
    session.add(schedule)
    session.flush()
    return schedule


def set_when(schedule: Schedule, when: When, now: datetime, zone: ZoneInfo) -> None:
    """Give the schedule a new time (used by create and by staff's edit)."""
    if when.kind not in KINDS:
        raise ValueError(f"unknown schedule kind {when.kind!r}")
    schedule.kind = when.kind
    schedule.at_time = when.at_time
    schedule.weekday = when.weekday
    schedule.day_of_month = when.day_of_month
    schedule.next_run_at = next_after(when, now, zone)
    if schedule.next_run_at is None:
        raise ValueError(f"{describe(when, zone)} 已经过去了，请给一个将来的时间。")
    schedule.status = ScheduleStatus.ACTIVE


def active(session: Session) -> list[Schedule]:
    statement = (
        select(Schedule)
        .where(Schedule.status == ScheduleStatus.ACTIVE)
        .order_by(Schedule.next_run_at, Schedule.id)
    )
    return list(session.exec(statement))


def cancel(session: Session, schedule: Schedule) -> None:
    schedule.status = ScheduleStatus.CANCELLED
    schedule.next_run_at = None


def title(session: Session, schedule: Schedule) -> str:
    if schedule.series == SERIES_DAILY:
        return "每日一条民法典"
    notice = session.get(Notice, schedule.notice_id) if schedule.notice_id else None
    return publicity.notice_title(notice) if notice else "（无内容）"


def audience_label(session: Session, schedule: Schedule) -> str:
    if schedule.series == SERIES_DAILY:
        return publicity.Audience("daily").label()
    notice = session.get(Notice, schedule.notice_id)
    return publicity.audience_of(notice).label()


def summary(session: Session, schedule: Schedule, zone: ZoneInfo) -> str:
    """One line for lists: #id, when, audience, next run, title."""
    upcoming = _local(schedule.next_run_at, zone) if schedule.next_run_at else "—"
    return (
        f"#{schedule.id} {describe(when_of(schedule), zone)} · {audience_label(session, schedule)}"
        f" · 下次 {upcoming} · 「{title(session, schedule)}」"
    )


def ensure_daily_series(
    session: Session,
    *,
    now: datetime,
    zone: ZoneInfo,
    at_time: str | None = None,
    reactivate: bool = False,
) -> Schedule:
    """The 每日一条民法典 schedule, created on first use. A cancelled one stays cancelled
    unless `reactivate` (staff turned it back on); `at_time` moves it."""
    row = session.exec(select(Schedule).where(Schedule.series == SERIES_DAILY)).first()
    if row is None:
        when = When("daily", at_time=at_time or DAILY_SERIES_TIME)
        return create(
            session, notice=None, when=when, author=None, now=now, zone=zone, series=SERIES_DAILY
        )
    if (row.status == ScheduleStatus.ACTIVE and at_time) or (
        row.status != ScheduleStatus.ACTIVE and reactivate
    ):
        set_when(row, When("daily", at_time=at_time or row.at_time), now, zone)
    return row


def schedule_campaign(
    session: Session,
    observance: Observance,
    *,
    settings: Settings,
    author: User | None,
    now: datetime,
    at_time: str = CAMPAIGN_TIME,
) -> tuple[Schedule, bool]:
    """Turn an observance into a one-time scheduled notice at its next date; returns
    (schedule, created). An active schedule for the same observance is reused."""
    existing = session.exec(
        select(Schedule).where(
            Schedule.campaign == observance.key, Schedule.status == ScheduleStatus.ACTIVE
        )
    ).first()
    if existing is not None:
        return existing, False
    topic = observance.topic if observance.topic in settings.subscription_topics else None
    audience = publicity.Audience("topic", topic) if topic else publicity.Audience("all")
    notice = publicity.create_notice(
        session, text=observance.text, audience=audience, author=author, now=now
    )
    when = When("once", run_at=observance.next_time(now, settings.zone, at_time))
    schedule = create(
        session,
        notice=notice,
        when=when,
        author=author,
        now=now,
        zone=settings.zone,
        campaign=observance.key,
    )
    return schedule, True


# --- firing ----------------------------------------------------------------------------------
@dataclass
class FireResult:
    schedule_id: int
    sent_for: datetime | None = None
    push_id: int | None = None
    recipients: int = 0
    skipped: list[datetime] = field(default_factory=list)
    note: str = ""


def run_key(schedule: Schedule, due: datetime) -> str:
    return f"sched:{schedule.id}:{as_utc(due):%Y%m%dT%H%M}"


def fire(
    session: Session,
    schedule: Schedule,
    *,
    now: datetime,
    settings: Settings,
    entries: Sequence[Entry] = (),
) -> FireResult | None:
    """Apply the misfire policy to one schedule at `now` (None when nothing is due)."""
    if schedule.status != ScheduleStatus.ACTIVE:
        return None
    zone = settings.zone
    due = due_times(schedule, now, zone)
    if not due:
        return None
    result = FireResult(schedule.id)
    latest = due[-1]
    if now - latest <= settings.misfire_grace:
        result.sent_for = latest
        _send(session, schedule, latest, now, settings, entries, result)
    result.skipped = [moment for moment in due if moment != result.sent_for]
    if result.skipped:
        _report_skipped(session, schedule, result.skipped, now, settings)
    _advance(schedule, latest, now, zone)
    return result


def _send(session, schedule, due, now, settings, entries, result: FireResult) -> None:
    if schedule.series == SERIES_DAILY:
        if publicity.count_audience(session, publicity.Audience("daily"))[0] == 0:
            result.note = "no daily subscribers"
            return
        notice = publicity.daily_notice(
            session, entries, author_id=None, now=now, zone=settings.zone
        )
        if notice is None:
            result.note = "every knowledge-base entry was pushed within the last year"
            log.warning("daily series: %s; nothing sent", result.note)
            return
    else:
        notice = session.get(Notice, schedule.notice_id)
    push = publicity.fan_out(
        session,
        notice,
        run_key=run_key(schedule, due),
        due_at=due,
        now=now,
        schedule_id=schedule.id,
    )
    if push is not None:
        result.push_id, result.recipients = push.id, push.recipients


def _advance(schedule: Schedule, latest: datetime, now: datetime, zone: ZoneInfo) -> None:
    schedule.last_run_at = latest  # the occurrence just handled (sent or skipped)
    if schedule.kind == "once":
        schedule.status, schedule.next_run_at = ScheduleStatus.DONE, None
    else:
        schedule.next_run_at = next_after(when_of(schedule), max(now, latest), zone)


def _report_skipped(session, schedule, skipped, now, settings: Settings) -> None:
    zone = settings.zone
    minutes = int(settings.misfire_grace.total_seconds() // 60)
    grace = f"{minutes // 60} 小时" if minutes % 60 == 0 and minutes else f"{minutes} 分钟"
    span = _local(skipped[0], zone) + (
        f" 至 {_local(skipped[-1], zone)}" if len(skipped) > 1 else ""
    )
    text = (
        f"⚠️ 定时推送 #{schedule.id}（{describe(when_of(schedule), zone)}，「{title(session, schedule)}」）"
        f"错过了 {len(skipped)} 次（{span}），多半是系统当时停机。超过了补发时限（{grace}），"
        "这些没有补发，以免居民集中收到过时的消息。"
    )
    people = publicity.staff_recipients(session, settings, extra=[schedule.author_id])
    if not people:
        log.warning(
            "schedule %s: %d push(es) skipped, but no staff to tell", schedule.id, len(skipped)
        )
    for person in people:
        outbox.enqueue(
            session,
            person,
            Reply(text),
            source=SKIPPED_SOURCE,
            dedup_key=f"skip:{schedule.id}:{as_utc(skipped[0]):%Y%m%dT%H%M}:{person.id}",
        )
    notice = session.get(Notice, schedule.notice_id) if schedule.notice_id else None
    ledger.record(
        session,
        Kind.PUSH_SKIPPED,
        channel="scheduler",
        topic=notice.topic if notice else publicity.DAILY_NOTICE_TOPIC,
        ref=schedule_ref(schedule.id),
        value=float(len(skipped)),
    )
    log.warning(
        "schedule %s: skipped %d push(es) beyond the misfire grace", schedule.id, len(skipped)
    )


def fire_one(
    engine: Engine,
    settings: Settings,
    schedule_id: int,
    *,
    now: datetime,
    entries: Sequence[Entry] = (),
) -> FireResult | None:
    """Fire one schedule in its own transaction."""
    with Session(engine, expire_on_commit=False) as session:
        schedule = session.get(Schedule, schedule_id)
        if schedule is None:
            return None
        result = fire(session, schedule, now=now, settings=settings, entries=entries)
        session.commit()
        return result


def fire_due(
    engine: Engine, settings: Settings, *, now: datetime, entries: Sequence[Entry] = ()
) -> list[FireResult]:
    """Fire every active schedule that is due (the catch-up at start), one transaction each."""
    with Session(engine) as session:
        due_ids = list(
            session.exec(
                select(Schedule.id)
                .where(Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at <= now)
                .order_by(Schedule.next_run_at, Schedule.id)
            )
        )
    results = []
    for schedule_id in due_ids:
        try:
            result = fire_one(engine, settings, schedule_id, now=now, entries=entries)
        except Exception:  # one broken schedule must not stop the others
            log.exception("schedule %s could not be fired", schedule_id)
            continue
        if result is not None:
            results.append(result)
    return results
