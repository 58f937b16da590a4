"""Every database table, in one module (SQLModel).

Timestamps are aware UTC (SQLModel stores them as UTC on every backend). JSON columns
hold small structured data (conversation state, offered buttons, queued replies).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.timeutil import utcnow


class MatchStatus(StrEnum):
    """What the civil-code matcher made of a question (faq.MatchResult.status)."""

    ANSWERED = "answered"
    SUGGEST = "suggest"
    NONE = "none"
    OUT_OF_SCOPE = "out_of_scope"
    CHITCHAT = "chitchat"
    SAFETY = "safety"  # fraud in progress, domestic violence, consumer: who to call first


class OutboxStatus(StrEnum):
    """pending → sending → sent | unreachable | failed | in_doubt (bot.runtime.outbox)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    UNREACHABLE = "unreachable"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


class CaseStatus(StrEnum):
    NEW = "new"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"


class PushStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class User(SQLModel, table=True):
    """A person on one channel, identified by (channel, external_id)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_users_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=128)
    role: str = Field(default="resident", max_length=16, index=True)
    community: str | None = Field(default=None, max_length=64)
    unreachable: bool = Field(default=False)
    offered_buttons: list | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)

    @property
    def ref(self) -> str:
        return f"{self.channel}:{self.external_id}"


class ConversationState(SQLModel, table=True):
    """Where a user is in a multi-step flow; a row per user, so it survives restarts."""

    __tablename__ = "conversation_states"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    flow: str = Field(max_length=32)
    step: str = Field(max_length=32)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class LedgerEvent(SQLModel, table=True):
    """One counted interaction. Statistics are aggregated from this table."""

    __tablename__ = "ledger_events"
    __table_args__ = (
        Index("ix_ledger_kind_at", "kind", "at"),
        Index("ix_ledger_at_user", "at", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    topic: str | None = Field(default=None, max_length=32)
    book: str | None = Field(default=None, max_length=16)
    community: str | None = Field(default=None, max_length=64)
    ref: str | None = Field(default=None, max_length=64)
    value: float | None = None


class FaqQuestion(SQLModel, table=True):
    """A question put to the FAQ, with what it got and the resident's feedback. Questions
    that found no answer, and answers marked unhelpful, are what staff curate from."""

    __tablename__ = "faq_questions"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    channel: str = Field(max_length=16)
    question: str = Field(max_length=2000)
    status: str = Field(max_length=16, index=True)  # MatchStatus
    entry_id: str | None = Field(default=None, max_length=64)
    feedback: str | None = Field(default=None, max_length=16)  # helpful|unhelpful
    reviewed: bool = Field(default=False)


class OutboxMessage(SQLModel, table=True):
    """A message for a user other than the one being answered, written before it is sent.

    `dedup_key` makes each (source, recipient) unique, so a retried or resumed job can
    never queue the same delivery twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_channel_status", "channel", "status", "id"),
        UniqueConstraint("dedup_key", name="uq_outbox_dedup"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    user_id: int = Field(foreign_key="users.id")
    channel: str = Field(max_length=16)
    source: str = Field(max_length=64)
    dedup_key: str = Field(max_length=160)
    chat_id: str | None = Field(default=None, max_length=128)  # a group, not the user's chat
    reply: dict = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    not_before: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = None


# --- consultations (issue 5): tables go here ------------------------------------------------
class Case(SQLModel, table=True):
    """A resident's consultation for the legal adviser.

    `number` is ZS-<year>-<seq>; the unique (year, seq) pair is what keeps numbers unique
    when two submissions race. Personal data (resident_name, description, photos, phone)
    is cleared by `cases purge`; topic, community, status and times stay for the counts.
    """

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("year", "seq", name="uq_cases_year_seq"),
        UniqueConstraint("number", name="uq_cases_number"),
        Index("ix_cases_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20)
    year: int
    seq: int
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    channel: str = Field(max_length=16)
    resident_name: str | None = Field(default=None, max_length=128)
    topic: str = Field(max_length=32)
    community: str = Field(max_length=64)
    description: str = Field(max_length=2000)
    photos: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    phone: str | None = Field(default=None, max_length=20)
    status: str = Field(default=CaseStatus.NEW, max_length=16)
    adviser_id: int | None = Field(default=None, foreign_key="users.id")
    awaiting_info: bool = Field(default=False)
    rating: int | None = None
    consent_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    first_answer_at: datetime | None = None
    closed_at: datetime | None = None
    anonymized_at: datetime | None = None


class CaseEvent(SQLModel, table=True):
    """One thing that happened to a case, with its time and actor: a status change, a
    reply, a follow-up, a rating. `body`/`photos` carry the message, if any."""

    __tablename__ = "case_events"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(max_length=16)
    status_from: str | None = Field(default=None, max_length=16)
    status_to: str | None = Field(default=None, max_length=16)
    body: str | None = Field(default=None, max_length=2000)
    photos: list | None = Field(default=None, sa_column=Column(JSON))


# --- publicity: subscriptions, notices, schedules (issue 6): tables go here -----------------
class Subscriber(SQLModel, table=True):
    """A resident who receives notices. The community is `User.community` (shared with the
    rest of the app); topics are rows of `subscription_topics`; `daily` is the opt-in to
    the 每日一条民法典 series."""

    __tablename__ = "subscribers"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    active: bool = Field(default=True)
    daily: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SubscriptionTopic(SQLModel, table=True):
    """One topic a subscriber chose (a name from PUFA_SUBSCRIPTION_TOPICS)."""

    __tablename__ = "subscription_topics"
    __table_args__ = (Index("ix_subscription_topics_topic", "topic"),)

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    topic: str = Field(max_length=32, primary_key=True)


class Notice(SQLModel, table=True):
    """What staff publish: text, an optional file (stored by path) and an audience
    (all | topic | community | daily). `kb_entry` is set for 每日一条民法典 notices."""

    __tablename__ = "notices"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    author_id: int | None = Field(default=None, foreign_key="users.id")
    text: str = Field(max_length=4000)
    attachment: dict | None = Field(default=None, sa_column=Column(JSON))
    audience: str = Field(max_length=16)
    audience_value: str | None = Field(default=None, max_length=64)
    topic: str | None = Field(default=None, max_length=32)
    kb_entry: str | None = Field(default=None, max_length=64, index=True)


class Schedule(SQLModel, table=True):
    """A scheduled push: once at `next_run_at`, or daily / weekly / monthly at `at_time`
    (HH:MM in PUFA_TIMEZONE). The row is the source of truth; the scheduler's jobs are
    rebuilt from these rows. `series` names a generated series (no fixed notice)."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_status_next", "status", "next_run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    notice_id: int | None = Field(default=None, foreign_key="notices.id")
    series: str | None = Field(default=None, max_length=32)
    campaign: str | None = Field(default=None, max_length=32)
    author_id: int | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(max_length=16)  # once|daily|weekly|monthly
    at_time: str | None = Field(default=None, max_length=5)
    weekday: int | None = None  # 0 = Monday
    day_of_month: int | None = None
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    status: str = Field(default=ScheduleStatus.ACTIVE, max_length=16)


class Push(SQLModel, table=True):
    """One sending of a notice (a 'send now' or one firing of a schedule), fanned out into
    the outbox in one transaction. `run_key` is unique, so a resumed or repeated firing
    can never fan out twice; its outbox rows lie in [first_outbox_id, last_outbox_id]."""

    __tablename__ = "pushes"
    __table_args__ = (
        UniqueConstraint("run_key", name="uq_pushes_run_key"),
        Index("ix_pushes_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    schedule_id: int | None = Field(default=None, foreign_key="schedules.id")
    run_key: str = Field(max_length=64)
    due_at: datetime
    status: str = Field(default=PushStatus.QUEUED, max_length=16)
    recipients: int = 0
    excluded: int = 0
    first_outbox_id: int | None = None
    last_outbox_id: int | None = None
    finished_at: datetime | None = None


# --- statistics: offline activities (issue 7): tables go here -------------------------------
class Activity(SQLModel, table=True):
    """An offline publicity activity recorded by staff (lecture, study session, touring
    event, rule-of-law culture spot). `day` is a calendar date in PUFA_TIMEZONE; `kind` is
    a key of bot.services.activities.KINDS."""

    __tablename__ = "activities"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=200)
    community: str | None = Field(default=None, max_length=64)
    topic: str | None = Field(default=None, max_length=32)
    attendance: int = Field(default=0)
    notes: str | None = Field(default=None, max_length=1000)
    created_by: str | None = Field(default=None, max_length=160)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # issue 13: who it was for, what was handed out, where, in which series, by whom
    audience: str = Field(default="residents", max_length=16)  # residents|cadres|enforcement
    materials: int = Field(default=0)  # 份 of leaflets and booklets handed out
    site: str | None = Field(default=None, max_length=64)  # one of PUFA_SITES (法治文化阵地)
    series: str | None = Field(default=None, max_length=64)  # e.g. 大赵讲纪、小赵说法
    lecturer: str | None = Field(default=None, max_length=64)  # person or team, e.g. 老法官志愿团
    attachments: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Publication(SQLModel, table=True):
    """An item published through another channel (the office's 两微一端, WeChat groups,
    notice boards), registered by staff so the statistics count every item published,
    not only the bot's notices. `channel` is a key of bot.services.publications.CHANNELS."""

    __tablename__ = "publications"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    channel: str = Field(max_length=16)
    title: str = Field(max_length=200)
    topic: str | None = Field(default=None, max_length=32)
    link: str | None = Field(default=None, max_length=500)
    created_by: str | None = Field(default=None, max_length=160)
    created_at: datetime = Field(default_factory=utcnow)


# --- durable intake: received updates and WeChat request nonces (issue 14) ------------------
class InboxUpdate(SQLModel, table=True):
    """One update received from a platform, stored before the platform is told it arrived.

    `key` is the platform's own id (Telegram update_id, WeChat MsgId or FromUserName +
    CreateTime + Event), unique per channel, so a redelivered update is stored once.
    `user_key` orders one user's updates: only the oldest unfinished one of a user is
    handled at a time. Status: pending → handling (claimed by `owner` until `lease_until`)
    → done | skipped (could not be parsed or failed MAX_ATTEMPTS times). `passive` keeps
    the text a WeChat retry is answered with."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "key", name="uq_inbox_channel_key"),
        Index("ix_inbox_status_id", "status", "id"),
        Index("ix_inbox_user_status", "channel", "user_key", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    key: str = Field(max_length=160)
    user_key: str = Field(max_length=160)
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None
    attempts: int = 0
    not_before: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow)
    handled_at: datetime | None = None
    passive: str | None = Field(default=None, max_length=4000)
    error: str | None = Field(default=None, max_length=500)


class WeChatNonce(SQLModel, table=True):
    """A (timestamp, nonce) pair of a signed WeChat request, kept while its timestamp is
    inside the accepted window, so a replayed query string is refused in every process."""

    __tablename__ = "wechat_nonces"
    __table_args__ = (UniqueConstraint("timestamp", "nonce", name="uq_wechat_nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    timestamp: int
    nonce: str = Field(max_length=64)
    message_key: str = Field(max_length=160)  # a genuine retry carries the same message
    seen_at: datetime = Field(default_factory=utcnow, index=True)


# --- web console (issue 16): accounts, audit trail, settings go here ---------------------------
class WebAccount(SQLModel, table=True):
    """A staff, adviser or admin account of the web console. `user_id` is the chat identity
    it acts as: a linked chat user (whose `role` is then the account's role, one source of
    truth) or the account's own "web" user row (the account's `role` is used)."""

    __tablename__ = "web_accounts"
    __table_args__ = (UniqueConstraint("name", name="uq_web_accounts_name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    password_hash: str = Field(max_length=200)
    role: str = Field(default="staff", max_length=16)
    user_id: int = Field(foreign_key="users.id")
    linked: bool = Field(default=False)
    must_change: bool = Field(default=True)
    disabled: bool = Field(default=False)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = None
    session_epoch: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class WebAudit(SQLModel, table=True):
    """One staff action in the console (or a sign-in event): who, when, what."""

    __tablename__ = "web_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    account_id: int | None = Field(default=None, foreign_key="web_accounts.id")
    account_name: str = Field(max_length=64)
    action: str = Field(max_length=32)
    target: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=1000)


class WebSetting(SQLModel, table=True):
    """Console settings kept in the database (the generated signing secret)."""

    __tablename__ = "web_settings"

    key: str = Field(max_length=32, primary_key=True)
    value: str = Field(max_length=200)


# --- legal work: the adviser's work log and the litigation register (issue 15) -------------
class WorkEntry(SQLModel, table=True):
    """One piece of the legal adviser's or legal staff's work for the office (a contract
    reviewed, an opinion written, a legality review ...). `kind` is a key of
    bot.services.worklog.WORK_KINDS; `count` is what that kind counts (documents,
    opinions, attendance; 1 for a review). `day` is a local date (PUFA_TIMEZONE)."""

    __tablename__ = "work_entries"
    __table_args__ = (Index("ix_work_entries_kind_day", "kind", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=200)
    department: str | None = Field(default=None, max_length=64)
    count: int = Field(default=1)
    decision_number: str | None = Field(default=None, max_length=64)
    opinion: str | None = Field(default=None, max_length=16)  # agree|amend|disagree
    notes: str | None = Field(default=None, max_length=1000)
    author_id: int | None = Field(default=None, foreign_key="users.id")
    created_by: str | None = Field(default=None, max_length=160)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LitigationCase(SQLModel, table=True):
    """A civil or administrative suit or an administrative reconsideration (行政复议) the
    office handles or assists a community with. `amount_fen` is the amount in fen (exact;
    shown as yuan); `filed_on`/`closed_on` are local dates."""

    __tablename__ = "litigation_cases"
    __table_args__ = (
        UniqueConstraint("number", name="uq_litigation_cases_number"),
        Index("ix_litigation_cases_kind_stage", "kind", "stage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # civil|administrative|reconsideration
    number: str = Field(max_length=64)
    body: str = Field(max_length=128)
    parties: str = Field(max_length=500)
    our_role: str = Field(max_length=16)
    cause: str = Field(max_length=200)
    amount_fen: int | None = None
    stage: str = Field(default="filed", max_length=16)
    outcome: str | None = Field(default=None, max_length=500)
    filed_on: date = Field(index=True)
    closed_on: date | None = Field(default=None, index=True)
    community: str | None = Field(default=None, max_length=64)
    responsible_id: int | None = Field(default=None, foreign_key="users.id")
    notes: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LitigationDate(SQLModel, table=True):
    """A hearing or a deadline of a case (aware UTC); reminders are made from it."""

    __tablename__ = "litigation_dates"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="litigation_cases.id", index=True)
    kind: str = Field(max_length=16)  # hearing|deadline
    at: datetime
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class LitigationReminder(SQLModel, table=True):
    """A reminder due at `remind_at` (a week or a day before a date). Queuing it writes
    the outbox row (dedup key litigation-reminder:<id>) and marks it queued in one
    transaction, so a restart neither loses nor repeats it."""

    __tablename__ = "litigation_reminders"
    __table_args__ = (
        UniqueConstraint("date_id", "days_before", name="uq_litigation_reminders_date_days"),
        Index("ix_litigation_reminders_status_at", "status", "remind_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    date_id: int = Field(foreign_key="litigation_dates.id")
    days_before: int
    remind_at: datetime
    status: str = Field(default="pending", max_length=16)  # pending|queued|skipped
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    queued_at: datetime | None = None


class LegalHistory(SQLModel, table=True):
    """Every change to the work log and the litigation register: who, when, what
    (`changes` maps a field to [old, new]; an added record has old None)."""

    __tablename__ = "legal_history"
    __table_args__ = (Index("ix_legal_history_record", "record_type", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    record_type: str = Field(max_length=16)  # work|litigation
    record_id: int
    action: str = Field(max_length=16)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    actor: str = Field(max_length=160)
    changes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
