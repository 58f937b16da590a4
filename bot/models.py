"""Every database table, in one module (SQLModel).

Timestamps are aware UTC (SQLModel stores them as UTC on every backend). JSON columns
hold small structured data (conversation state, offered buttons, queued replies).
"""

from __future__ import annotations

from datetime import datetime

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


# --- publicity: subscriptions, notices, schedules (issue 6): tables go here -----------------


# --- statistics: offline activities (issue 7): tables go here -------------------------------
