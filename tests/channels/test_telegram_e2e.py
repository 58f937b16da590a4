"""End to end: the real `python bot.py run` process against the fake Bot API on 127.0.0.1.

A resident's /start, a question, button presses and a photo get their replies over HTTP;
outbox rows for Telegram users are delivered by the running process (a blocked user is marked
unreachable, a flood wait is waited out); SIGTERM ends the process cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session, select

from bot import db
from bot.config import Settings
from bot.messages import Button, Reply
from bot.models import OutboxMessage
from bot.routing import Context
from bot.services import users
from bot.services.answers import answer_text, result_replies
from bot.testing import REPO
from bot.testing.fake_telegram import FakeBotAPI
from handlers.start import MAIN_MENU

RESIDENT, BLOCKED, FLOODED = 5001, 5002, 5003


def eventually(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def start_bot(fake: FakeBotAPI, database_url: str, cwd: Path) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(
        PUFA_TELEGRAM_TOKEN=fake.token,
        PUFA_TELEGRAM_API_URL=fake.url,
        PUFA_DATABASE_URL=database_url,
    )
    cwd.mkdir(parents=True, exist_ok=True)
    log = (cwd / "bot.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(REPO / "bot.py"), "run"],
        cwd=cwd,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def queue_notice(engine, external_id: str, text: str) -> int:
    """Queue a message for a Telegram user the way handlers do (Context.send_to)."""
    settings = Settings(database_url=str(engine.url), _env_file=None)
    with Session(engine, expire_on_commit=False) as session:
        user = users.find(session, "telegram", external_id)
        ctx = Context(session, user, settings, None, "telegram")
        row = ctx.send_to(user, Reply(text, (Button("知道了", "menu"),)), source="e2e", key=text)
        session.commit()
        return row.id


def outbox_status(engine, row_id: int) -> str:
    with Session(engine) as session:
        return session.get(OutboxMessage, row_id).status


def expect_reply(fake: FakeBotAPI, chat: int, before: int, count: int = 1) -> list:
    return fake.wait_for_messages(chat, before + count, timeout=30)[before:]


def test_a_resident_uses_the_running_bot_over_telegram(tmp_path, database_url, faq_store):
    with FakeBotAPI() as fake:
        process = start_bot(fake, database_url, tmp_path)
        log = tmp_path / "bot.log"
        try:
            eventually(
                lambda: fake.call_count("getUpdates") > 0 or process.poll() is not None,
                timeout=90,
                what="the bot polls",
            )
            assert process.poll() is None, log.read_text()
            menu = {c["command"]: c["description"] for c in fake.commands["default"]}
            assert menu["start"] == "开始使用 / 主菜单"

            # /start: the welcome and the main menu as an inline keyboard.
            fake.push(fake.text_update(RESIDENT, "/start", first_name="张三"))
            (welcome,) = expect_reply(fake, RESIDENT, 0)
            assert "普法助手" in welcome.text and "张三" in welcome.text
            assert [data for _, data in welcome.buttons] == [b.payload for b in MAIN_MENU]

            # A question: the same replies the FAQ gives on every channel.
            question = "房东不退押金怎么办"
            expected = result_replies(faq_store.matcher.match(question))
            fake.push(fake.text_update(RESIDENT, question))
            answers = expect_reply(fake, RESIDENT, 1, len(expected))
            assert [m.text for m in answers] == [r.text for r in expected]

            # Pressing a menu button.
            fake.push(fake.callback_update(RESIDENT, "help"))
            (help_reply,) = expect_reply(fake, RESIDENT, 1 + len(expected))
            assert "使用方法" in help_reply.text
            fake.wait_until(lambda: len(fake.callback_answers) == 1)

            # Pressing the first button under the FAQ reply.
            done = len(fake.messages_to(RESIDENT))
            payload = answers[-1].buttons[0][1]
            fake.push(fake.callback_update(RESIDENT, payload))
            (pressed,) = expect_reply(fake, RESIDENT, done)
            if payload.startswith("faq:") and not payload.endswith(":-"):
                entry = faq_store.kb.by_id[payload.split(":", 2)[2]]
                assert pressed.text == answer_text(entry)
            elif payload.startswith("fb:y"):
                assert "谢谢" in pressed.text
            assert "出了点问题" not in pressed.text and "失效" not in pressed.text

            # A photo gets the non-text reply.
            fake.push(fake.photo_update(RESIDENT))
            (photo_reply,) = expect_reply(fake, RESIDENT, done + 1)
            assert "只能看懂文字" in photo_reply.text

            check_outbox_deliveries(fake, database_url)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            print(log.read_text())  # shown by pytest when the test fails
        output = log.read_text()
        assert code == 0, output
        assert "Traceback" not in output, output


def check_outbox_deliveries(fake: FakeBotAPI, database_url: str) -> None:
    """Rows queued in the database are sent by the running process's delivery worker."""
    for chat in (BLOCKED, FLOODED):
        fake.push(fake.text_update(chat, "/start"))
        fake.wait_for_messages(chat, 1, timeout=30)
    engine = db.make_engine(database_url)
    try:
        notice = queue_notice(engine, str(RESIDENT), "【通知】本周六上午九点社区普法讲座")
        eventually(lambda: outbox_status(engine, notice) == "sent", what="notice sent")
        delivered = fake.messages_to(RESIDENT)[-1]
        assert delivered.text == "【通知】本周六上午九点社区普法讲座"
        assert delivered.buttons == [("知道了", "menu")]

        fake.block(BLOCKED)
        blocked = queue_notice(engine, str(BLOCKED), "【通知】给已屏蔽机器人的用户")
        eventually(lambda: outbox_status(engine, blocked) == "unreachable", what="unreachable")
        with Session(engine) as session:
            assert users.find(session, "telegram", str(BLOCKED)).unreachable
            assert not users.find(session, "telegram", str(RESIDENT)).unreachable

        fake.flood(FLOODED, retry_after=1)
        flooded = queue_notice(engine, str(FLOODED), "【通知】限流之后仍然送达")
        eventually(lambda: outbox_status(engine, flooded) == "sent", what="sent after flood")
        assert [a.status for a in fake.attempts_to(FLOODED)][-2:] == [429, 200]
    finally:
        engine.dispose()


def in_doubt_rows(database_url: str) -> int:
    engine = db.make_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(OutboxMessage).where(OutboxMessage.status == "in_doubt"))
            return len(list(rows))
    finally:
        engine.dispose()


def test_a_burst_survives_kill_9_with_nothing_lost_or_doubled(tmp_path, database_url):
    """300 residents write at once; the bot is killed (SIGKILL) after 60 replies and started
    again. Every resident gets exactly one answer, except that a reply whose platform call was
    under way at the kill is never resent (at most once: in doubt, bounded by the sender's
    max_in_flight) and may or may not have arrived."""
    residents = list(range(7000, 7300))
    with FakeBotAPI() as fake:
        first = start_bot(fake, database_url, tmp_path)
        try:
            eventually(lambda: fake.call_count("getUpdates") > 0, timeout=90, what="polling")
            fake.push_many([fake.text_update(chat, "/help") for chat in residents])
            fake.wait_for_sent_count(60, timeout=120)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        answered_before = {chat for chat in residents if fake.messages_to(chat)}
        second = start_bot(fake, database_url, tmp_path / "second")
        try:
            doubtful = eventually(
                lambda: _all_settled(fake, residents, database_url), timeout=180, what="settled"
            )
        finally:
            second.send_signal(signal.SIGTERM)
            code = second.wait(timeout=60)
        output = (tmp_path / "second" / "bot.log").read_text()
        per_chat = {chat: len(fake.messages_to(chat)) for chat in residents}
        twice = [chat for chat, n in per_chat.items() if n > 1]
        lost = [chat for chat, n in per_chat.items() if n == 0]
        print(
            f"answered before the kill {len(answered_before)}, lost {len(lost)}, "
            f"twice {len(twice)}, in doubt {doubtful}"
        )
        assert len(answered_before) < len(residents)  # the kill really interrupted the burst
        assert twice == []
        assert len(lost) <= doubtful <= 8  # TelegramSender.max_in_flight
        assert all(
            "使用方法" in fake.messages_to(chat)[0].text for chat in residents if chat not in lost
        )
        assert code == 0 and "Traceback" not in output, output


def _all_settled(fake: FakeBotAPI, residents: list[int], database_url: str) -> int | None:
    """The number of in-doubt rows once every other resident has been answered."""
    doubtful = in_doubt_rows(database_url)
    missing = sum(1 for chat in residents if not fake.messages_to(chat))
    return doubtful if missing <= doubtful else None
