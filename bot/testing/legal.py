"""Shared pieces of the legal-work tests (issue 15): the in-process CLI, role grants,
spreadsheets generated on the fly, and counts of what the tables hold."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from sqlmodel import Session, func, select

from bot.models import (
    ConversationState,
    LegalHistory,
    LitigationCase,
    LitigationDate,
    LitigationReminder,
    OutboxMessage,
    WorkEntry,
)
from bot.testing import Harness, texts

TABLES = (
    WorkEntry,
    LitigationCase,
    LitigationDate,
    LitigationReminder,
    LegalHistory,
    OutboxMessage,
)


def grant(harness: Harness, ref: str, role: str) -> None:
    reply = texts(harness.say("admin", f"/grant {ref} {role}"))
    assert "设为" in reply, reply


def counts(engine) -> dict[str, int]:
    with Session(engine) as session:
        found = {
            t.__tablename__: session.exec(select(func.count()).select_from(t)).one() for t in TABLES
        }
        found["states"] = session.exec(select(func.count()).select_from(ConversationState)).one()
    return found


def sheet(path: Path, header: list[str], rows: list[list], title: str | None = "台账") -> Path:
    """An .xlsx as offices keep it: an optional title row, the header, the rows."""
    book = Workbook()
    page = book.active
    if title:
        page.append([title])
    page.append(header)
    for row in rows:
        page.append(row)
    book.save(path)
    return path


def say_as(harness: Harness, channel: str, user: str, text: str):
    """A text message from a user of another channel, through the real dispatcher."""
    from bot.messages import Incoming

    incoming = Incoming(channel=channel, user_id=user, kind="text", text=text)
    return harness.services.dispatcher.handle(incoming)
