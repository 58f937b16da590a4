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
