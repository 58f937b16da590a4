"""Publicity: subscriptions, notices, audiences, fan-out into the outbox, delivery reports,
and the 每日一条民法典 picks.

A push (one sending of a notice) is fanned out in ONE transaction: the `pushes` row (its
`run_key` is unique), one outbox row per recipient (dedup key `push:<push id>:<user id>`,
unique) and the ledger rows. A crash during the fan-out rolls all of it back, and a
resumed or repeated firing can never queue a second copy. Users flagged unreachable (they
blocked the bot) are left out and counted in `Push.excluded`.

Ledger kinds (written in the transaction of the work):
  subscribe / unsubscribe — topic None: the subscription as a whole; topic T: one topic
      switched on / off; topic DAILY_LEDGER_TOPIC: the 每日一条民法典 opt-in. Channel and
      community are the resident's.
  notice_published — per push, one row per recipient channel: value = recipients on that
      channel, topic = the notice topic, community = the audience community, ref push:<id>.
  push_skipped — (bot.services.schedules) a scheduled push missed beyond the misfire grace.
  out_push / push_failed / push_unreachable — per delivery (bot.runtime.outbox).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, select

from bot import ledger
from bot.config import Settings
from bot.ledger import Kind, Source
from bot.messages import Attachment, Reply
from bot.models import (
    Notice,
    OutboxMessage,
    OutboxStatus,
    Push,
    PushStatus,
    Subscriber,
    SubscriptionTopic,
    User,
)
from bot.runtime import outbox
from bot.services import users
from bot.timeutil import as_utc
from faq.kb import Entry

log = logging.getLogger(__name__)

AUDIENCE_KINDS = ("all", "topic", "community", "daily")
DAILY_LEDGER_TOPIC = "每日一条民法典"
DAILY_NOTICE_TOPIC = "民法典"
MAX_NOTICE_CHARS = 2000
FOOTER = "——\n回复“退订”可取消订阅，发送 /subscribe 可调整订阅。"
DAILY_DISCLAIMER = "ℹ️ 以上是一般性法律知识，具体问题可直接向本助手提问，或咨询街道法律顾问。"
NO_REPEAT_WITHIN = timedelta(days=365)
REPORT_SOURCE = Source.REPORT
STAFF_ROLES = ("staff", "admin")


def push_source(push_id: int) -> str:
    return Source.push(push_id)


# --- audiences -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Audience:
    """Who a notice goes to: all subscribers, one topic, one community, or the daily series."""

    kind: str
    value: str | None = None

    def label(self) -> str:
        if self.kind == "topic":
            return f"订阅“{self.value}”主题的居民"
        if self.kind == "community":
            return f"{self.value}的订阅者"
        if self.kind == "daily":
            return "开启“每日一条民法典”的订阅者"
        return "全部订阅者"

    def problem(self, settings: Settings) -> str | None:
        """A Chinese reason why this audience is not valid, or None."""
        if self.kind not in AUDIENCE_KINDS:
            return f"未知的发送对象“{self.kind}”"
        if self.kind == "topic" and self.value not in settings.subscription_topics:
            return f"没有“{self.value}”这个主题，可选：{'、'.join(settings.subscription_topics)}"
        if self.kind == "community" and self.value not in settings.communities:
            return f"没有“{self.value}”这个社区，可选：{'、'.join(settings.communities)}"
        return None


def _audience_statement(audience: Audience):
    statement = (
        select(User.id, User.channel)
        .join(Subscriber, Subscriber.user_id == User.id)
        .where(Subscriber.active == True)  # noqa: E712  (SQL expression)
    )
    if audience.kind == "topic":
        chosen = select(SubscriptionTopic.user_id).where(SubscriptionTopic.topic == audience.value)
        statement = statement.where(User.id.in_(chosen))
    elif audience.kind == "community":
        statement = statement.where(User.community == audience.value)
    elif audience.kind == "daily":
        statement = statement.where(Subscriber.daily == True)  # noqa: E712
    return statement


def recipients(session: Session, audience: Audience) -> list[tuple[int, str]]:
    """(user id, channel) of every reachable member of the audience, by user id."""
    statement = _audience_statement(audience).where(User.unreachable == False)  # noqa: E712
    return [(row[0], row[1]) for row in session.exec(statement.order_by(User.id))]


def count_audience(session: Session, audience: Audience) -> tuple[int, int]:
    """(reachable, unreachable) members of the audience."""
    members = _audience_statement(audience).add_columns(User.unreachable).subquery()
    rows = session.exec(select(members.c.unreachable, func.count()).group_by(members.c.unreachable))
    counts = {bool(flag): number for flag, number in rows}
    return counts.get(False, 0), counts.get(True, 0)


# --- subscriptions -------------------------------------------------------------------------
def subscriber(session: Session, user: User) -> Subscriber | None:
    return session.get(Subscriber, user.id)


def is_subscribed(session: Session, user: User) -> bool:
    row = subscriber(session, user)
    return row is not None and row.active


def user_topics(session: Session, user: User) -> list[str]:
    rows = session.exec(select(SubscriptionTopic.topic).where(SubscriptionTopic.user_id == user.id))
    return sorted(rows)


def subscribe(
    session: Session, user: User, *, topics: Sequence[str], channel: str, now: datetime
) -> bool:
    """Subscribe in one step (a first subscription gets every topic); False if already on."""
    row = subscriber(session, user)
    if row is not None and row.active:
        return False
    if row is None:
        row = Subscriber(user_id=user.id, created_at=now)
        session.add(row)
        for topic in topics:
            session.add(SubscriptionTopic(user_id=user.id, topic=topic))
    row.active = True
    row.updated_at = now
    ledger.record(session, Kind.SUBSCRIBE, channel=channel, user=user)
    return True


def unsubscribe(session: Session, user: User, *, channel: str, now: datetime) -> bool:
    """Stop every push in one step (topics are kept for a later re-subscription)."""
    row = subscriber(session, user)
    if row is None or not row.active:
        return False
    row.active = False
    row.updated_at = now
    ledger.record(session, Kind.UNSUBSCRIBE, channel=channel, user=user)
    return True


def toggle_topic(session: Session, user: User, topic: str, *, channel: str, now: datetime) -> bool:
    """Switch one topic; returns True when it is now on."""
    row = session.get(SubscriptionTopic, (user.id, topic))
    if row is None:
        session.add(SubscriptionTopic(user_id=user.id, topic=topic))
    else:
        session.delete(row)
    _touch(session, user, now)
    ledger.record(
        session,
        Kind.SUBSCRIBE if row is None else Kind.UNSUBSCRIBE,
        channel=channel,
        user=user,
        topic=topic,
    )
    return row is None


def toggle_daily(session: Session, user: User, *, channel: str, now: datetime) -> bool:
    """Switch the 每日一条民法典 opt-in; returns True when it is now on."""
    row = _touch(session, user, now)
    row.daily = not row.daily
    kind = Kind.SUBSCRIBE if row.daily else Kind.UNSUBSCRIBE
    ledger.record(session, kind, channel=channel, user=user, topic=DAILY_LEDGER_TOPIC)
    return row.daily


def set_community(session: Session, user: User, community: str, *, now: datetime) -> None:
    user.community = community
    _touch(session, user, now)


def _touch(session: Session, user: User, now: datetime) -> Subscriber:
    row = subscriber(session, user)
    if row is None:
        raise LookupError("not subscribed")
    row.updated_at = now
    return row


# --- notices -------------------------------------------------------------------------------
def create_notice(
    session: Session,
    *,
    text: str,
    audience: Audience,
    author: User | None,
    attachment: Attachment | None = None,
    kb_entry: str | None = None,
    topic: str | None = None,
    now: datetime,
) -> Notice:
    if not text.strip():
        raise ValueError("通知内容不能为空")
    if len(text) > MAX_NOTICE_CHARS:
        raise ValueError(f"通知内容有 {len(text)} 字，超过了 {MAX_NOTICE_CHARS} 字的上限")
    if topic is None and audience.kind == "topic":
        topic = audience.value
    notice = Notice(
        created_at=now,
        author_id=author.id if author else None,
        text=text.strip(),
        attachment=_attachment_dict(attachment),
        audience=audience.kind,
        audience_value=audience.value,
        topic=topic,
        kb_entry=kb_entry,
    )
    session.add(notice)
    session.flush()
    return notice


def _attachment_dict(attachment: Attachment | None) -> dict | None:
    if attachment is None:
        return None
    if not attachment.path:
        raise ValueError("附件必须是服务器上的文件")
    return {"kind": attachment.kind, "filename": attachment.filename, "path": attachment.path}


def audience_of(notice: Notice) -> Audience:
    return Audience(notice.audience, notice.audience_value)


def notice_reply(notice: Notice) -> Reply:
    """The message exactly as residents receive it (also what the preview shows)."""
    body = notice.text if notice.kb_entry else f"📢 {notice.text}"
    attachment = Attachment(**notice.attachment) if notice.attachment else None
    return Reply(f"{body}\n\n{FOOTER}", attachment=attachment)


def notice_title(notice: Notice, width: int = 24) -> str:
    first = notice.text.strip().splitlines()[0] if notice.text.strip() else ""
    return first if len(first) <= width else first[: width - 1] + "…"


# --- fan-out -------------------------------------------------------------------------------
def fan_out(
    session: Session,
    notice: Notice,
    *,
    run_key: str,
    due_at: datetime,
    now: datetime,
    schedule_id: int | None = None,
    channel: str = "system",
) -> Push | None:
    """Queue `notice` for every reachable member of its audience, in the caller's
    transaction. Returns None when `run_key` was fanned out already. `channel` labels the
    notice_published ledger row when the audience is empty."""
    if session.exec(select(Push.id).where(Push.run_key == run_key)).first() is not None:
        log.info("push %s exists already; not fanned out again", run_key)
        return None
    push = Push(
        created_at=now,
        notice_id=notice.id,
        schedule_id=schedule_id,
        run_key=run_key[:64],
        due_at=due_at,
    )
    session.add(push)
    session.flush()  # the unique run_key stops a concurrent twin here
    people = recipients(session, audience_of(notice))
    push.excluded = count_audience(session, audience_of(notice))[1]
    push.recipients = len(people)
    source = push_source(push.id)
    if people:
        reply = notice_reply(notice).to_dict()
        rows = [
            {
                "created_at": now,
                "user_id": user_id,
                "channel": user_channel,
                "source": source,
                "dedup_key": f"{source}:{user_id}",
                "reply": reply,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
            }
            for user_id, user_channel in people
        ]
        ids = outbox.fan_out(session, rows)
        push.first_outbox_id, push.last_outbox_id = min(ids), max(ids)
    else:
        push.status, push.finished_at = PushStatus.DONE, now
    community = notice.audience_value if notice.audience == "community" else None
    per_channel = Counter(user_channel for _, user_channel in people) or Counter({channel: 0})
    for name, count in sorted(per_channel.items()):
        ledger.record(
            session,
            Kind.NOTICE_PUBLISHED,
            channel=name,
            topic=notice.topic,
            community=community,
            ref=source,
            value=float(count),
        )
    log.info("push %s: notice %s queued for %d recipient(s)", run_key, notice.id, len(people))
    return push


def send_now(session: Session, notice: Notice, *, now: datetime, channel: str = "system") -> Push:
    push = fan_out(
        session, notice, run_key=f"now:{notice.id}", due_at=now, now=now, channel=channel
    )
    if push is None:
        raise ValueError(f"通知 #{notice.id} 已经发送过了")
    return push


# --- completion and reports -------------------------------------------------------------------
def push_counts(session: Session, push: Push) -> dict[str, int]:
    """Outbox rows of `push` by status (a primary-key range scan, not a table scan)."""
    if push.first_outbox_id is None:
        return {}
    statement = (
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.id.between(push.first_outbox_id, push.last_outbox_id))
        .where(OutboxMessage.source == push_source(push.id))
        .group_by(OutboxMessage.status)
    )
    return {status: count for status, count in session.exec(statement)}


def complete_pushes(session: Session, now: datetime) -> list[int]:
    """Close every queued push whose rows are all final and queue the author's report."""
    finished = []
    queued = session.exec(
        select(Push).where(Push.status == PushStatus.QUEUED).order_by(Push.id)
    ).all()
    for push in queued:
        counts = push_counts(session, push)
        if counts.get(OutboxStatus.PENDING) or counts.get(OutboxStatus.SENDING):
            continue
        closed = session.exec(
            update(Push)
            .where(Push.id == push.id, Push.status == PushStatus.QUEUED)
            .values(status=PushStatus.DONE, finished_at=now)
        )
        if closed.rowcount != 1:
            continue
        finished.append(push.id)
        send_report(session, push, counts)
    return finished


def send_report(session: Session, push: Push, counts: dict[str, int]) -> None:
    notice = session.get(Notice, push.notice_id)
    author = session.get(User, notice.author_id) if notice.author_id else None
    if author is None:
        return
    outbox.enqueue(
        session,
        author,
        Reply(report_text(notice, push, counts)),
        source=REPORT_SOURCE,
        dedup_key=f"report:{push.id}",
    )


def report_text(notice: Notice, push: Push, counts: dict[str, int]) -> str:
    lines = [
        f"📊 送达报告：通知 #{notice.id}「{notice_title(notice)}」",
        f"发送对象：{audience_of(notice).label()}，共 {push.recipients} 人",
        f"✅ 已送达：{counts.get(OutboxStatus.SENT, 0)}",
        f"❌ 发送失败：{counts.get(OutboxStatus.FAILED, 0)}",
        f"🚫 无法送达（对方已屏蔽机器人等）：{counts.get(OutboxStatus.UNREACHABLE, 0)}",
    ]
    if counts.get(OutboxStatus.IN_DOUBT):
        doubt = counts[OutboxStatus.IN_DOUBT]
        lines.append(f"❔ 状态不明：{doubt}（发送时系统中断，为避免重复没有再发）")
    if push.excluded:
        lines.append(f"另有 {push.excluded} 人此前已无法送达，本次没有发送。")
    return "\n".join(lines)


def staff_recipients(
    session: Session, settings: Settings, extra: Iterable[int | None] = ()
) -> list[User]:
    """Staff and admins who have used the bot, plus the given user ids, without repeats."""
    people = {u.id: u for u in users.with_roles(session, STAFF_ROLES)}
    for ref in settings.admins:
        admin = users.find_by_ref(session, ref)
        if admin is not None:
            people.setdefault(admin.id, admin)
    for user_id in extra:
        user = session.get(User, user_id) if user_id else None
        if user is not None:
            people.setdefault(user.id, user)
    return [people[k] for k in sorted(people)]


def recent_pushes(session: Session, limit: int = 20) -> list[tuple[Push, Notice]]:
    statement = (
        select(Push, Notice).join(Notice, Notice.id == Push.notice_id).order_by(Push.id.desc())
    )
    return [(p, n) for p, n in session.exec(statement.limit(limit))]


# --- 每日一条民法典 -------------------------------------------------------------------------
def _spread(entry: Entry) -> str:
    """A stable pseudo-random order, so consecutive days wander across the books."""
    return hashlib.sha1(entry.id.encode()).hexdigest()


def pick_daily_entry(session: Session, entries: Sequence[Entry], now: datetime) -> Entry | None:
    """An entry not pushed within the last year: never-pushed ones first, then the one
    pushed longest ago. None when every entry was pushed within the year."""
    rows = session.exec(
        select(Notice.kb_entry, func.max(Notice.created_at))
        .where(Notice.kb_entry.is_not(None))
        .group_by(Notice.kb_entry)
    )
    last = {entry_id: as_utc(at) for entry_id, at in rows}
    fresh = [e for e in entries if e.id not in last]
    if fresh:
        return min(fresh, key=_spread)
    cutoff = now - NO_REPEAT_WITHIN
    old = [e for e in entries if last[e.id] <= cutoff]
    return min(old, key=lambda e: (last[e.id], _spread(e))) if old else None


def daily_text(entry: Entry, now: datetime, zone: ZoneInfo) -> str:
    day = now.astimezone(zone)
    articles = "、".join(f"第{n}条" for n in entry.articles)
    return (
        f"📘 每日一条民法典 · {day.month}月{day.day}日\n\n"
        f"❓ {entry.question}\n\n{entry.answer}\n\n"
        f"📖 依据：《民法典》{articles}\n\n{DAILY_DISCLAIMER}"
    )


def daily_notice(
    session: Session,
    entries: Sequence[Entry],
    *,
    author_id: int | None,
    now: datetime,
    zone: ZoneInfo,
) -> Notice | None:
    """Today's 每日一条民法典 notice, or None when no entry may be used."""
    entry = pick_daily_entry(session, entries, now)
    if entry is None:
        return None
    author = session.get(User, author_id) if author_id else None
    return create_notice(
        session,
        text=daily_text(entry, now, zone),
        audience=Audience("daily"),
        author=author,
        kb_entry=entry.id,
        topic=DAILY_NOTICE_TOPIC,
        now=now,
    )
