"""The outbox: messages for users other than the one being answered (adviser replies,
notifications, publicity), written in the transaction that decides to send them and
marked once the channel has tried to deliver them.

Status: pending → sending → sent | unreachable | failed | in_doubt.
  pending     waiting (`not_before` delays a retry).
  sending     claimed by a delivery worker; the platform call is under way.
  sent        the platform accepted it.
  unreachable the user blocked the bot (the user is flagged and left out of later pushes).
  failed      a permanent error, or transient errors MAX_ATTEMPTS times.
  in_doubt    the worker died during the platform call, so nobody knows whether it arrived;
              never resent automatically (see bot.runtime.delivery for the choice and its bound).

`dedup_key` is unique, so a retried or resumed job can never queue the same delivery twice.

Ledger kinds written here, in the transaction of the status change (ref = the row's
source, topic = the notice topic for publicity pushes, community and channel of the
recipient): out_push, push_failed, push_unreachable.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, or_, update
from sqlmodel import Session, select

from bot import ledger
from bot.ledger import Kind, Source
from bot.messages import Reply
from bot.models import Notice, OutboxMessage, OutboxStatus, Push, User
from bot.timeutil import utcnow

MAX_ATTEMPTS = 5
FINAL_STATUSES = (
    OutboxStatus.SENT,
    OutboxStatus.UNREACHABLE,
    OutboxStatus.FAILED,
    OutboxStatus.IN_DOUBT,
)
# Sources of rows that carry (parts of) an answer the dispatcher already counted as
# out_reply when it was decided; delivering them must not count it again.
ANSWER_SOURCES = frozenset({"wechat_reply"})


def pending(
    session: Session,
    channel: str,
    *,
    user_id: int | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Rows of `channel` that are due now, oldest first."""
    now = now or utcnow()
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.status == OutboxStatus.PENDING)
        .where(or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if user_id is not None:
        statement = statement.where(OutboxMessage.user_id == user_id)
    return list(session.exec(statement))


def enqueue(
    session: Session, recipient: User, reply: Reply, *, source: str, dedup_key: str
) -> OutboxMessage | None:
    """Queue one message unless a row with `dedup_key` exists already (then None)."""
    key = dedup_key[:160]
    existing = session.exec(select(OutboxMessage.id).where(OutboxMessage.dedup_key == key))
    if existing.first() is not None:
        return None
    message = OutboxMessage(
        user_id=recipient.id,
        channel=recipient.channel,
        source=source[:64],
        dedup_key=key,
        reply=reply.to_dict(),
    )
    session.add(message)
    return message


def fan_out(session: Session, rows: list[dict]) -> list[int]:
    """Queue many messages in one INSERT … RETURNING (a notice to its whole audience);
    returns their ids. The caller guarantees the dedup keys are new: a push's run key is
    unique, and its rows' keys are '<push source>:<user id>'."""
    return list(session.scalars(insert(OutboxMessage).returning(OutboxMessage.id), rows))


def reply_of(message: OutboxMessage) -> Reply:
    return Reply.from_dict(message.reply)


def claim(session: Session, message_id: int) -> bool:
    """Move one row from pending to sending; False if someone else took it first."""
    result = session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING)
    )
    return result.rowcount == 1


def mark_in_doubt(session: Session, channel: str) -> int:
    """Rows left `sending` by a crash become `in_doubt` (not resent: no duplicates)."""
    result = session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.status == OutboxStatus.SENDING)
        .values(
            status=OutboxStatus.IN_DOUBT,
            last_error="interrupted during the platform call (crash); not resent",
        )
    )
    return result.rowcount or 0


def mark_sent(session: Session, message: OutboxMessage, now: datetime | None = None) -> None:
    message.status = OutboxStatus.SENT
    message.sent_at = now or utcnow()
    message.attempts += 1
    if message.source not in ANSWER_SOURCES:
        _count(session, message, Kind.OUT_PUSH)


def mark_unreachable(session: Session, message: OutboxMessage, reason: str) -> None:
    """The user blocked the bot: never retried; the user is left out of later pushes
    until they write to the bot again (users.touch clears the flag)."""
    message.status = OutboxStatus.UNREACHABLE
    message.attempts += 1
    message.last_error = reason[:500]
    user = session.get(User, message.user_id)
    if user is not None:
        user.unreachable = True
    _count(session, message, Kind.PUSH_UNREACHABLE)


def mark_failed(session: Session, message: OutboxMessage, reason: str) -> None:
    message.status = OutboxStatus.FAILED
    message.attempts += 1
    message.last_error = reason[:500]
    _count(session, message, Kind.PUSH_FAILED)


def mark_retry(
    session: Session,
    message: OutboxMessage,
    reason: str,
    delay: float,
    now: datetime | None = None,
) -> None:
    """A transient failure: try again after `delay` seconds, or give up after MAX_ATTEMPTS."""
    message.attempts += 1
    message.last_error = reason[:500]
    if message.attempts >= MAX_ATTEMPTS:
        message.status = OutboxStatus.FAILED
        _count(session, message, Kind.PUSH_FAILED)
    else:
        message.status = OutboxStatus.PENDING
        message.not_before = (now or utcnow()) + timedelta(seconds=max(delay, 0.0))


def _count(session: Session, message: OutboxMessage, kind: Kind) -> None:
    user = session.get(User, message.user_id)
    ledger.record(
        session,
        kind,
        channel=message.channel,
        user=user,
        topic=source_topic(session, message.source),
        ref=message.source,
    )


def source_topic(session: Session, source: str) -> str | None:
    """The notice topic behind a publicity push source 'push:<id>' (None otherwise)."""
    push_id = Source.push_id(source)
    if push_id is None:
        return None
    push = session.get(Push, push_id)
    notice = session.get(Notice, push.notice_id) if push is not None else None
    return notice.topic if notice is not None else None
