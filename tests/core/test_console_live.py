"""`python bot.py chat` runs the machine around the conversation: a notice that fell due is
sent by the scheduler running beside the console, printed on the resident's console while it
waits for input, and the author's delivery report is queued for the author."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import timedelta

from sqlmodel import Session

from bot.channels.console import ConsoleChannel
from bot.runner import serve_console
from bot.runtime import outbox
from bot.services import publicity, schedules, users
from bot.services.publicity import Audience
from bot.services.schedules import When
from bot.testing import texts
from bot.testing.factories import submit
from bot.timeutil import utcnow

NOTICE = "【普法通知】12月4日是国家宪法日，社区广场上午有宪法宣传。"


def schedule_due_notice(services) -> None:
    """Staff scheduled a notice for a moment that has just passed (the console was closed)."""
    now = utcnow()
    with Session(services.engine) as session:
        author = users.get_or_create(session, "console", "admin")
        notice = publicity.create_notice(
            session, text=NOTICE, audience=Audience("all"), author=author, now=now
        )
        schedule = schedules.create(
            session,
            notice=notice,
            when=When("once", run_at=now + timedelta(minutes=1)),
            author=author,
            now=now,
            zone=services.settings.zone,
        )
        schedule.next_run_at = now - timedelta(seconds=5)  # due by now, within the grace
        session.commit()


async def test_the_console_runs_the_scheduler_and_prints_what_arrives(services, harness):
    harness.say("wang", "/subscribe")
    schedule_due_notice(services)
    read, write = os.pipe()
    stdin, stdout = os.fdopen(read), io.StringIO()
    console = ConsoleChannel(services.dispatcher, "wang")
    session = asyncio.create_task(serve_console(services, console, stdin, stdout))
    for _ in range(300):
        if NOTICE in stdout.getvalue():
            break
        await asyncio.sleep(0.1)
    os.close(write)  # end of input: the console stops
    assert await asyncio.wait_for(session, 30) == 0
    assert NOTICE in stdout.getvalue()
    with Session(services.engine) as db:
        admin = users.find(db, "console", "admin")
        reports = [outbox.reply_of(m).text for m in outbox.pending(db, "console", user_id=admin.id)]
    assert any("送达报告" in text for text in reports), reports


async def test_waiting_cases_nobody_can_answer_are_warned_and_told_to_a_new_adviser(
    services, harness
):
    number = submit(harness, "alice")  # nobody with a role has used the bot yet
    stdout = io.StringIO()
    console = ConsoleChannel(services.dispatcher, "alice")
    assert await serve_console(services, console, io.StringIO(""), stdout) == 0
    assert "1 件咨询在等待答复，但还没有人能收到" in stdout.getvalue()
    granted = texts(harness.say("admin", "/grant console:lawyer adviser"))
    assert "已告诉对方有 1 件咨询在等待处理" in granted
    told = texts(harness.queued("lawyer"))
    assert number in told and "/cases new" in told
    stdout = io.StringIO()
    await serve_console(services, console, io.StringIO(""), stdout)
    assert "还没有人能收到" not in stdout.getvalue()  # someone can answer now
