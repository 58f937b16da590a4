"""The outbox (status pending → sending → sent | unreachable | failed): messages for users other than the one being answered (adviser replies,
notifications, publicity). Rows are written in the transaction that decides to send and
are marked when the channel has delivered them, so a crash neither loses nor doubles one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_
from sqlmodel import Session, select

from bot import ledger
from bot.messages import Reply
from bot.models import OutboxMessage, User
from bot.timeutil import utcnow

MAX_ATTEMPTS = 5


def pending(
    session: Session, channel: str, *, user_id: int | None = None, limit: int = 100
) -> list[OutboxMessage]:
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.status == "pending")
        .where(or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= utcnow()))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if user_id is not None:
        statement = statement.where(OutboxMessage.user_id == user_id)
    return list(session.exec(statement))


def reply_of(message: OutboxMessage) -> Reply:
    return Reply.from_dict(message.reply)


def mark_sent(session: Session, message: OutboxMessage) -> None:
    message.status = "sent"
    message.sent_at = utcnow()
    message.attempts += 1
    user = session.get(User, message.user_id)
    ledger.record(session, ledger.OUT_PUSH, channel=message.channel, user=user, ref=message.source)


def mark_unreachable(session: Session, message: OutboxMessage, reason: str) -> None:
    message.status = "unreachable"
    message.attempts += 1
    message.last_error = reason[:500]
    user = session.get(User, message.user_id)
    if user is not None:
        user.unreachable = True
    ledger.record(
        session, "push_unreachable", channel=message.channel, user=user, ref=message.source
    )


def mark_failed(session: Session, message: OutboxMessage, reason: str) -> None:
    message.status = "failed"
    message.attempts += 1
    message.last_error = reason[:500]
    user = session.get(User, message.user_id)
    ledger.record(session, "push_failed", channel=message.channel, user=user, ref=message.source)


def mark_retry(session: Session, message: OutboxMessage, reason: str, delay: float) -> None:
    """A transient failure: try again after `delay` seconds, or give up after MAX_ATTEMPTS."""
    message.attempts += 1
    message.last_error = reason[:500]
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        user = session.get(User, message.user_id)
        ledger.record(
            session, "push_failed", channel=message.channel, user=user, ref=message.source
        )
    else:
        message.not_before = utcnow() + timedelta(seconds=delay)
