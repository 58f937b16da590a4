"""The interaction ledger: one row per counted event, written in the caller's transaction."""

from __future__ import annotations

from sqlmodel import Session

from bot.models import LedgerEvent, User

# Inbound and outbound messages (the foundation).
IN_TEXT = "in_text"
IN_COMMAND = "in_command"
IN_BUTTON = "in_button"
IN_MEDIA = "in_media"
IN_EVENT = "in_event"
OUT_REPLY = "out_reply"
OUT_PUSH = "out_push"
INBOUND_KINDS = (IN_TEXT, IN_COMMAND, IN_BUTTON, IN_MEDIA, IN_EVENT)
OUTBOUND_KINDS = (OUT_REPLY, OUT_PUSH)


def record(
    session: Session,
    kind: str,
    *,
    channel: str,
    user: User | None = None,
    topic: str | None = None,
    book: str | None = None,
    community: str | None = None,
    ref: str | None = None,
    value: float | None = None,
) -> LedgerEvent:
    """Add one ledger row to `session` (committed with the work it reports)."""
    event = LedgerEvent(
        kind=kind,
        channel=channel,
        user_id=user.id if user else None,
        topic=topic,
        book=book,
        community=community if community is not None else (user.community if user else None),
        ref=ref[:64] if ref else None,
        value=value,
    )
    session.add(event)
    return event
