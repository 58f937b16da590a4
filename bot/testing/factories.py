"""Factories the tests share: residents and staff, a submitted case, the CLI in a
subprocess, ledger rows of a kind. (Moved verbatim from the test modules that had them,
so tests no longer import each other.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from bot.models import LedgerEvent, User
from bot.services import cases, publicity, users
from bot.testing import REPO, Harness, texts
from bot.timeutil import utcnow

TOPICS = ["民法典", "宪法", "反诈", "平安建设", "妇女儿童权益"]


def resident(
    engine,
    external_id: str,
    *,
    channel: str = "console",
    topics: list[str] | None = None,
    community: str | None = None,
    daily: bool = False,
    active: bool = True,
    unreachable: bool = False,
) -> int:
    """A subscribed resident (or an unsubscribed one with active=False); returns the user id."""
    now = utcnow()
    with Session(engine) as session:
        user = users.get_or_create(session, channel, external_id)
        user.community, user.unreachable = community, unreachable
        publicity.subscribe(
            session, user, topics=TOPICS if topics is None else topics, channel=channel, now=now
        )
        publicity.subscriber(session, user).daily = daily
        if not active:
            publicity.unsubscribe(session, user, channel=channel, now=now)
        session.commit()
        return user.id


def staff(engine, external_id: str = "clerk", channel: str = "console") -> User:
    with Session(engine, expire_on_commit=False) as session:
        user = users.set_role(session, f"{channel}:{external_id}", "staff")
        session.commit()
        return user


def ledger_rows(engine, kind: str) -> list[LedgerEvent]:
    with Session(engine) as session:
        return list(session.exec(select(LedgerEvent).where(LedgerEvent.kind == kind)))


DESCRIPTION = "楼上邻居装修把我家天花板弄漏水了，物业说不归他们管，我该找谁赔偿？"


def submit(
    harness: Harness,
    user: str = "alice",
    *,
    topic: str = "房产物业",
    phone: str | None = None,
    description: str = DESCRIPTION,
) -> str:
    """Walk a resident through the whole intake; return the case number."""
    replies = harness.press(user, "同意", harness.say(user, "/consult"))
    replies = harness.press(user, topic, replies)
    replies = harness.press(user, "东风里社区", replies)
    replies = harness.press(user, "描述完毕", harness.say(user, description))
    replies = harness.say(user, phone) if phone else harness.press(user, "在这里回复", replies)
    replies = harness.press(user, "确认提交", replies)
    number = cases.parse_number(texts(replies))
    assert number is not None, texts(replies)
    return number


def grant_adviser(harness: Harness, user: str = "lawyer") -> None:
    assert "设为法律顾问" in texts(harness.say("admin", f"/grant console:{user} adviser"))


def run_bot(args: list[str], tmp_path: Path, stdin: str = "", **env: str):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(REPO / "bot.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )


def press_payload(harness, user: str, payload: str, channel: str = "console"):
    """Press a button by its payload (as a platform would send it back, or a forger would)."""
    from bot.messages import Incoming

    incoming = Incoming(channel=channel, user_id=user, kind="button", payload=payload)
    return harness.services.dispatcher.handle(incoming)
