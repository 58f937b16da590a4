"""Every database table, in one module (SQLModel).

Timestamps are aware UTC (SQLModel stores them as UTC on every backend). JSON columns
hold small structured data (conversation state, offered buttons, queued replies).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.timeutil import utcnow


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
    status: str = Field(max_length=16, index=True)  # answered|suggest|none|out_of_scope|chitchat
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
    reply: dict = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending|sent|failed|unreachable
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
    status: str = Field(default="new", max_length=16)  # new|claimed|answered|closed
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
    status: str = Field(default="active", max_length=16)  # active|done|cancelled


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
    status: str = Field(default="queued", max_length=16)  # queued|done
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
