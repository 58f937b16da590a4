"""Consultations that did not come through the bot: a resident at the office's window (窗口),
on the phone (电话) or on the hotline (热线), recorded by staff or the adviser — from the CLI
(`cases add`) or in chat (/walkin).

They are ordinary cases (numbers ZS-<year>-<seq>, listed by `cases list`), with the way
they came in as `Case.channel` (walk_in | phone | hotline) and no resident account. They
are counted like the others: the ledger rows carry that channel, so the statistics show
窗口/电话/热线 as rows of the channel breakdown and in the summary's 窗口电话热线 figure.

A case recorded with the adviser's answer was settled on the spot: it is answered and
closed at once. Its `consult_answered` row carries no waiting time (value None): the median
time to first answer measures how long residents waited, and nobody waited for an answer
given across the counter. Without an answer the case joins the adviser's queue (new).

Ledger kinds written (channel = walk_in | phone | hotline, topic and community of the
case, ref = the case number, at = the day of the consultation): consult_submitted, and for
a case answered on the spot consult_answered, consult_replied and consult_closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import ledger
from bot.ledger import Kind
from bot.models import Case, User
from bot.services import cases
from bot.services.periods import PeriodError, parse_date
from bot.timeutil import as_utc

CHANNELS = {"walk_in": "窗口", "phone": "电话", "hotline": "热线"}
CHANNEL_WORDS = {
    **{key: key for key in CHANNELS},
    **{label: key for key, label in CHANNELS.items()},
    "来访": "walk_in",
    "现场": "walk_in",
    "窗口来访": "walk_in",
    "电话咨询": "phone",
    "热线电话": "hotline",
    "12348": "hotline",
}
MIN_SUMMARY, MAX_SUMMARY = 4, cases.MAX_DESCRIPTION
MAX_ANSWER = 2000
PAST_NOON = time(12, 0)  # a consultation on an earlier day is timed at its local noon


class WalkinError(ValueError):
    """Input for a walk-in consultation is invalid; the message is Chinese."""


@dataclass
class Draft:
    channel: str
    topic: str
    community: str
    summary: str
    answer: str | None = None
    day: date | None = None  # None: today
    resident_name: str | None = None


def clean_channel(text: str) -> str:
    key = CHANNEL_WORDS.get(str(text).strip().lower()) or CHANNEL_WORDS.get(str(text).strip())
    if key is None:
        raise WalkinError(
            f"未知的咨询方式“{str(text).strip()[:20]}”，可选：{'、'.join(CHANNELS.values())}。"
        )
    return key


def clean_topic(text: str) -> str:
    topic = str(text).strip()
    if topic not in cases.TOPICS:
        raise WalkinError(f"未知的咨询类别“{topic[:20]}”，可选：{'、'.join(cases.TOPICS)}。")
    return topic


def clean_community(text: str | None, communities: list[str]) -> str:
    name = (text or "").strip()
    if name in communities or name == cases.OTHER_COMMUNITY:
        return name
    choices = "、".join([*communities, cases.OTHER_COMMUNITY])
    raise WalkinError(f"未知的社区“{name[:20]}”，可选：{choices}。")


def clean_summary(text: str) -> str:
    summary = " ".join(str(text).split())
    if not MIN_SUMMARY <= len(summary) <= MAX_SUMMARY:
        raise WalkinError(f"咨询摘要应为 {MIN_SUMMARY}–{MAX_SUMMARY} 字，收到 {len(summary)} 字。")
    return summary


def clean_answer(text: str | None) -> str | None:
    if text is None or str(text).strip() in ("", "-", "无", "跳过"):
        return None
    answer = str(text).strip()
    if len(answer) > MAX_ANSWER:
        raise WalkinError(f"答复最多 {MAX_ANSWER} 字，收到 {len(answer)} 字。")
    return answer


def clean_day(text: str | date | None, today: date) -> date | None:
    if text is None or text == "":
        return None
    try:
        day = text if isinstance(text, date) else parse_date(str(text))
    except PeriodError as exc:
        raise WalkinError(str(exc)) from None
    if day > today:
        raise WalkinError(f"咨询日期 {day.isoformat()} 晚于今天，请检查。")
    return None if day == today else day


def draft(
    *,
    channel: str,
    topic: str,
    community: str | None,
    summary: str,
    communities: list[str],
    today: date,
    answer: str | None = None,
    day: str | date | None = None,
    resident_name: str | None = None,
) -> Draft:
    name = (resident_name or "").strip() or None
    if name and len(name) > 64:
        raise WalkinError("居民称呼最多 64 字。")
    return Draft(
        channel=clean_channel(channel),
        topic=clean_topic(topic),
        community=clean_community(community, communities),
        summary=clean_summary(summary),
        answer=clean_answer(answer),
        day=clean_day(day, today),
        resident_name=name,
    )


def moment(data: Draft, now: datetime, zone: ZoneInfo) -> datetime:
    """When the consultation happened: now for today, local noon of an earlier day."""
    if data.day is None:
        return as_utc(now)
    return as_utc(datetime.combine(data.day, PAST_NOON, tzinfo=zone))


def record(
    session: Session,
    data: Draft,
    *,
    recorder: User | None,
    now: datetime,
    zone: ZoneInfo,
) -> Case:
    """Insert the case (and, with an answer, settle it) with its ledger rows."""
    at = moment(data, now, zone)
    case = cases.create_case(
        session,
        None,
        channel=data.channel,
        topic=data.topic,
        community=data.community,
        description=data.summary,
        photos=(),
        phone=None,
        consent_at=at,  # given in person (or on the phone) to the staff member
        now=at,
        zone=zone,
        min_length=MIN_SUMMARY,  # a staff member's summary, not the resident's account
    )
    case.resident_name = data.resident_name
    _count(session, Kind.CONSULT_SUBMITTED, case, recorder, at)
    if data.answer:
        _settle(session, case, data.answer, recorder, at)
    session.add(case)
    session.flush()
    return case


def _settle(session: Session, case: Case, answer: str, recorder: User | None, at: datetime):
    case.status, case.first_answer_at, case.closed_at = "closed", at, at
    case.adviser_id = recorder.id if recorder else None
    cases.add_event(
        session, case, recorder, "answered", at, status_from="new", status_to="answered",
        body=answer,
    )  # fmt: skip
    cases.add_event(
        session, case, recorder, "closed", at, status_from="answered", status_to="closed"
    )
    for kind in (Kind.CONSULT_ANSWERED, Kind.CONSULT_REPLIED, Kind.CONSULT_CLOSED):
        _count(session, kind, case, recorder, at)


def _count(session: Session, kind: str, case: Case, recorder: User | None, at: datetime):
    event = ledger.record(
        session,
        kind,
        channel=case.channel,
        user=recorder,
        topic=case.topic,
        community=case.community,
        ref=case.number,
    )
    event.at = at


def describe(case: Case) -> str:
    how = CHANNELS.get(case.channel, case.channel)
    state = "当场答复并办结" if case.status == "closed" else "待法律顾问答复"
    return f"{case.number}（{how}）{case.topic}　{case.community}　{state}：{case.description[:60]}"


def describe_draft(data: Draft) -> str:
    return "\n".join(
        (
            f"方式：{CHANNELS[data.channel]}",
            f"日期：{data.day.isoformat() if data.day else '今天'}",
            f"社区：{data.community}",
            f"类别：{data.topic}",
            f"摘要：{data.summary}",
            f"答复：{data.answer or '—（转法律顾问答复）'}",
        )
    )
