"""A generated ledger with known contents, and the figures it must give, computed here
independently of bot.services.stats: plain Python over the generated rows, periods cut by
converting each timestamp to a local date (the service compares UTC instants instead).

Helpers only (no tests); test_stats*.py and test_export*.py import them.

What this proves and what it does not: the rows are written by hand, with the kind names
the real writers use, so tests built on it check the aggregation (SQL against plain Python
over the same rows), the period and time-zone edges and the files' layout — not that the
chat, the delivery worker and the CLI write what the statistics read. That is
tests/test_stats_flows.py, which drives the real paths and writes no ledger row itself.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy import insert as sa_insert
from sqlmodel import Session

from bot.ledger import Kind
from bot.models import Activity, FaqQuestion, LedgerEvent, Publication, User

ZONE = ZoneInfo("Asia/Shanghai")
CHANNELS = ("console", "telegram", "wechat")
COMMUNITIES = ("东风里社区", "平阳里社区", "华阳里社区")
SITES = ("东风里社区法治文化广场", "平阳里社区法治宣传长廊")
TOPICS = ("婚姻家庭", "租赁", "继承", "相邻关系")
BOOKS = ("合同", "婚姻家庭", "继承", "物权")
ACTIVITY_KINDS = ("lecture", "study", "tour", "culture_spot", "other")
INBOUND = ("in_text", "in_command", "in_button", "in_media", "in_event")
TOPICAL = {
    "faq_answered", "faq_suggested", "faq_unanswered", "faq_out_of_scope", "faq_view",
    "feedback_helpful", "feedback_unhelpful", "consult_submitted", "consult_claimed",
    "consult_answered", "consult_closed", "consult_followup", "consult_rated",
    "notice_published", "subscribe",
}  # fmt: skip
BOOKISH = {"faq_answered", "faq_view", "feedback_helpful", "feedback_unhelpful"}
RANDOM_KINDS = (
    *INBOUND, "out_reply", "out_push", "push_failed", "push_unreachable",
    *sorted(TOPICAL - {"subscribe"}), "faq_chitchat", "faq_article", "faq_safety",
    "error", "refused", "activity_added", "role_granted",  # never counted
)  # fmt: skip

# The figures, defined here without looking at the service: event → counts or not.
COUNT_RULES = {
    "messages_in": lambda e: e.kind in INBOUND,
    "messages_out": lambda e: e.kind in ("out_reply", "out_push"),
    "replies": lambda e: e.kind == "out_reply",
    "questions": lambda e: (
        e.kind in ("faq_answered", "faq_suggested", "faq_out_of_scope", "faq_safety")
        or (e.kind == "faq_unanswered" and e.ref != "suggest_rejected")
    ),
    "answered": lambda e: e.kind == "faq_answered",
    "suggested": lambda e: e.kind == "faq_suggested",
    "unanswered": lambda e: e.kind == "faq_unanswered",
    "out_of_scope": lambda e: e.kind == "faq_out_of_scope",
    "safety": lambda e: e.kind == "faq_safety",
    "chitchat": lambda e: e.kind == "faq_chitchat",
    "views": lambda e: e.kind == "faq_view",
    "answers_shown": lambda e: e.kind in ("faq_answered", "faq_view"),
    "articles": lambda e: e.kind == "faq_article",
    "helpful": lambda e: e.kind == "feedback_helpful",
    "unhelpful": lambda e: e.kind == "feedback_unhelpful",
    "consult_submitted": lambda e: e.kind == "consult_submitted",
    "consult_in_person": lambda e: (
        e.kind == "consult_submitted" and e.channel in ("walk_in", "phone", "hotline")
    ),
    "consult_claimed": lambda e: e.kind == "consult_claimed",
    "consult_answered": lambda e: e.kind == "consult_answered",
    "consult_closed": lambda e: e.kind == "consult_closed",
    "consult_followup": lambda e: e.kind == "consult_followup",
    "consult_rated": lambda e: e.kind == "consult_rated",
    "notices": lambda e: e.kind == "notice_published",
    "deliveries": lambda e: e.kind == "out_push" and (e.ref or "").startswith("push:"),
    "pushes": lambda e: e.kind == "out_push",
    "push_failed": lambda e: e.kind == "push_failed",
    "push_unreachable": lambda e: e.kind == "push_unreachable",
    "subscribes": lambda e: e.kind == "subscribe",
    "unsubscribes": lambda e: e.kind == "unsubscribe",
}
COUNTED = {
    "in_text", "in_command", "in_button", "in_media", "in_event", "out_reply", "out_push",
    "faq_answered", "faq_suggested", "faq_unanswered", "faq_out_of_scope", "faq_chitchat",
    "faq_safety", "faq_view", "faq_article", "feedback_helpful", "feedback_unhelpful",
    "consult_submitted", "consult_claimed", "consult_answered", "consult_closed",
    "consult_followup", "consult_rated", "notice_published", "push_failed",
    "push_unreachable", "subscribe", "unsubscribe",
}  # fmt: skip


@dataclass
class Ev:
    at: datetime
    kind: str
    channel: str
    user: int  # index into Data.users
    topic: str | None = None
    book: str | None = None
    community: str | None = None
    ref: str | None = None
    value: float | None = None


@dataclass
class Act:
    day: date
    kind: str
    title: str
    community: str | None
    topic: str | None
    attendance: int
    audience: str = "residents"
    materials: int = 0
    site: str | None = None
    series: str | None = None


@dataclass
class Gap:
    at: datetime
    channel: str
    question: str
    status: str
    feedback: str | None


@dataclass
class Data:
    users: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    events: list[Ev] = field(default_factory=list)
    activities: list[Act] = field(default_factory=list)
    questions: list[Gap] = field(default_factory=list)
    publications: list[date] = field(default_factory=list)  # items registered, by day
    user_ids: list[int] = field(default_factory=list)  # database ids, after insert


def _moment(rng: random.Random, first: datetime, last: datetime) -> datetime:
    seconds = int((last - first).total_seconds())
    return first + timedelta(seconds=rng.randrange(seconds), microseconds=rng.randrange(10**6))


def generate(seed: int = 7, events: int = 2500, prefix: str = "u") -> Data:
    """Users, events around 2026 (and its edges), activities and FAQ questions."""
    rng = random.Random(seed)
    data = Data()
    for number in range(40):
        role = rng.choice(("resident",) * 6 + ("staff", "adviser", "admin"))
        community = rng.choice((*COMMUNITIES, None))
        data.users.append((rng.choice(CHANNELS), f"{prefix}{number}", role, community))
    first, last = datetime(2025, 12, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
    for _ in range(events):
        kind = rng.choice(RANDOM_KINDS)
        data.events.append(_event(rng, kind, _moment(rng, first, last), data))
    for at in EDGE_MOMENTS:
        data.events.append(_event(rng, "in_text", at, data))
        data.events.append(_event(rng, "faq_answered", at, data))
    _subscriptions(rng, data, first, last)
    for number in range(30):
        day = date(2025, 12, 20) + timedelta(days=rng.randrange(400))
        community = rng.choice((*COMMUNITIES, None))
        topic = rng.choice(("民法典", "宪法", "反诈", None))
        kind = rng.choice(ACTIVITY_KINDS)
        data.activities.append(
            Act(
                day,
                kind,
                f"活动{number}",
                community,
                topic,
                rng.randrange(0, 300),
                audience=rng.choice(("residents", "residents", "cadres", "enforcement")),
                materials=rng.choice((0, rng.randrange(1, 500))),
                site=rng.choice((*SITES, None)),
                series=rng.choice(("大赵讲纪、小赵说法", "法治讲堂", None)),
            )  # fmt: skip
        )
    data.activities.append(Act(date(2026, 12, 31), "lecture", "年终宣讲", None, None, 88))
    data.activities.append(Act(date(2027, 1, 1), "lecture", "新年宣讲", None, None, 77))
    data.publications = [date(2025, 12, 25) + timedelta(days=rng.randrange(400)) for _ in range(25)]
    for number in range(60):
        status = rng.choice(("answered", "suggest", "none", "out_of_scope"))
        feedback = (
            rng.choice((None, None, "helpful", "unhelpful")) if status == "answered" else None
        )
        at = _moment(rng, first, last)
        data.questions.append(Gap(at, rng.choice(CHANNELS), f"问题{number}", status, feedback))
    return data


# 2026-01-01 00:00 and 2026-12-31 23:30 Beijing time are in 2026; 2025-12-31 23:59:59 and
# 2027-01-01 00:10 are not; 2026-04-30 16:00 UTC is May 1st in Beijing.
EDGE_MOMENTS = (
    datetime(2025, 12, 31, 16, 0, tzinfo=UTC),
    datetime(2025, 12, 31, 15, 59, 59, tzinfo=UTC),
    datetime(2026, 12, 31, 15, 30, tzinfo=UTC),
    datetime(2026, 12, 31, 16, 10, tzinfo=UTC),
    datetime(2026, 4, 30, 16, 0, tzinfo=UTC),
)


def _event(rng: random.Random, kind: str, at: datetime, data: Data) -> Ev:
    user = rng.randrange(len(data.users))
    channel, _, _, home = data.users[user]
    event = Ev(at, kind, channel, user, community=rng.choice((home, home, home, "")))
    if kind in TOPICAL:
        event.topic = rng.choice((*TOPICS, None))
    if kind in BOOKISH:
        event.book = rng.choice((*BOOKS, None))
    if kind == "faq_unanswered" and rng.random() < 0.3:
        event.ref = "suggest_rejected"
    if kind in ("out_push", "push_failed", "push_unreachable"):
        event.ref = rng.choice(("push:1", "push:22", "case:ZS-2026-0005", None))
    if kind == Kind.CONSULT_SUBMITTED and rng.random() < 0.3:  # recorded by staff
        event.channel = rng.choice(("walk_in", "phone", "hotline"))
    if kind == "consult_answered" and rng.random() < 0.9:
        event.value = round(rng.uniform(0.1, 120), 2)
    return event


def _subscriptions(rng: random.Random, data: Data, first: datetime, last: datetime) -> None:
    """Each user's subscribe/unsubscribe events at distinct times (no ties)."""
    for user in range(len(data.users)):
        moments = sorted(_moment(rng, first, last) for _ in range(rng.randrange(0, 5)))
        subscribed = False
        for at in moments:
            kind = "unsubscribe" if subscribed and rng.random() < 0.6 else "subscribe"
            subscribed = kind == "subscribe"
            event = _event(rng, kind, at, data)
            event.user = user
            event.channel = data.users[user][0]
            data.events.append(event)


def insert(engine: Engine, data: Data) -> Data:
    with Session(engine) as session:
        users = [User(channel=c, external_id=x, role=r, community=m) for c, x, r, m in data.users]
        session.add_all(users)
        session.flush()
        data.user_ids = [u.id for u in users]
        rows = [
            {
                "at": e.at,
                "kind": e.kind,
                "channel": e.channel,
                "user_id": data.user_ids[e.user],
                "topic": e.topic,
                "book": e.book,
                "community": e.community,
                "ref": e.ref,
                "value": e.value,
            }
            for e in data.events
        ]
        session.connection().execute(sa_insert(LedgerEvent), rows)  # bulk: fast on both databases
        session.add_all(
            Activity(
                day=a.day,
                kind=a.kind,
                title=a.title,
                community=a.community,
                topic=a.topic,
                attendance=a.attendance,
                audience=a.audience,
                materials=a.materials,
                site=a.site,
                series=a.series,
            )
            for a in data.activities
        )
        session.add_all(
            Publication(day=day, channel="official", title=f"信息{n}")
            for n, day in enumerate(data.publications)
        )
        session.add_all(
            FaqQuestion(
                at=q.at,
                user_id=data.user_ids[0],
                channel=q.channel,
                question=q.question,
                status=q.status,
                feedback=q.feedback,
            )
            for q in data.questions
        )
        session.commit()
    return data


# --- expected figures ------------------------------------------------------------------------
def local_day(at: datetime) -> date:
    return at.astimezone(ZONE).date()


def within(data: Data, first: date, end: date) -> list[Ev]:
    return [e for e in data.events if first <= local_day(e.at) < end]


def activities_within(data: Data, first: date, end: date) -> list[Act]:
    return [a for a in data.activities if first <= a.day < end]


def subscribers_before(data: Data, moment: datetime) -> int:
    last_action: dict[int, tuple[datetime, str]] = {}
    for event in data.events:
        if event.kind not in ("subscribe", "unsubscribe") or event.at >= moment:
            continue
        if event.user not in last_action or last_action[event.user][0] < event.at:
            last_action[event.user] = (event.at, event.kind)
    return sum(1 for _, kind in last_action.values() if kind == "subscribe")


def figures(data: Data, events: list[Ev], acts: list[Act]) -> dict:
    result = {key: sum(1 for e in events if rule(e)) for key, rule in COUNT_RULES.items()}
    result["residents"] = len(
        {e.user for e in events if e.kind in INBOUND and data.users[e.user][2] == "resident"}
    )
    public = [a for a in acts if a.audience == "residents"]
    study = [a for a in acts if a.audience != "residents"]
    result["activities"] = len(public)
    result["attendance"] = sum(a.attendance for a in public)
    result["study_activities"] = len(study)
    result["study_attendance"] = sum(a.attendance for a in study)
    result["materials"] = sum(a.materials for a in acts)
    return result


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC)


def expected_summary(data: Data, first: date, end: date) -> dict:
    events = within(data, first, end)
    result = figures(data, events, activities_within(data, first, end))
    result["subscribers"] = subscribers_before(data, midnight(end))
    result["publications"] = sum(1 for day in data.publications if first <= day < end)
    result["items_published"] = result["notices"] + result["publications"]
    hours = [e.value for e in events if e.kind == "consult_answered" and e.value is not None]
    result["median_answer_hours"] = round(statistics.median(hours), 2) if hours else None
    return result


def _months(first: date, end: date) -> list[tuple[str, date, date]]:
    months, cursor = [], first
    while cursor < end:
        following = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        months.append((f"{cursor.year}-{cursor.month:02d}", cursor, min(following, end)))
        cursor = following
    return months


def _group_key(value):
    return None if value in (None, "") else value


def expected_breakdown(data: Data, first: date, end: date, dimension: str) -> dict:
    """{row key: {metric: figure}} with every metric (the test picks the sheet's columns)."""
    if dimension == "month":
        result = {}
        for key, start, stop in _months(first, end):
            row = figures(data, within(data, start, stop), activities_within(data, start, stop))
            row["subscribers"] = subscribers_before(data, midnight(stop))
            result[key] = row
        return result
    events = [e for e in within(data, first, end) if e.kind in COUNTED]
    acts = activities_within(data, first, end)
    if dimension == "activity_kind":
        events, act_key = [], lambda a: a.kind
    elif dimension in ("audience", "site", "series"):
        events, act_key = [], lambda a: getattr(a, dimension)  # noqa: E731
    elif dimension == "book":
        acts, act_key = [], None
    elif dimension == "channel":
        act_key = lambda a: "offline"  # noqa: E731
    else:
        act_key = lambda a: getattr(a, dimension)  # noqa: E731
    event_key = (lambda e: getattr(e, dimension)) if events else None
    keys = {_group_key(event_key(e)) for e in events} if events else set()
    keys |= {_group_key(act_key(a)) for a in acts} if act_key else set()
    if dimension == "community":
        keys.add(None)  # 未填写 is always shown, with its share
    result = {
        key: figures(
            data,
            [e for e in events if _group_key(event_key(e)) == key],
            [a for a in acts if _group_key(act_key(a)) == key],
        )
        for key in keys
    }
    if dimension == "community":
        total = figures(data, events, acts)["residents"]
        for row in result.values():
            row["residents_share"] = round(100 * row["residents"] / total, 1) if total else 0.0
    return result


def expected_rows(data: Data, first: date, end: date, dimension) -> dict:
    """The rows of one breakdown sheet: its metrics only; groups with nothing to show on
    that sheet are left out (every month is kept)."""
    rows = expected_breakdown(data, first, end, dimension.key)
    shown = {k: {m: row[m] for m in dimension.metrics} for k, row in rows.items()}
    always = ("month",) if dimension.key != "community" else ()
    return {
        k: v
        for k, v in shown.items()
        if dimension.key in always
        or any(v.values())
        or (dimension.key == "community" and k is None)
    }
