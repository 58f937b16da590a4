"""Outbox delivery: the rate limit (counted per window on a fake clock), blocked users,
retries, resuming after a crash (rows left `sending` or partly sent), the fan-out's
uniqueness, and the author's delivery report. No test here sleeps or measures real time."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.channels.base import DeliveryOutcome
from bot.models import OutboxMessage, Push, User
from bot.runtime import outbox
from bot.runtime.delivery import (
    WINDOW_MARGIN,
    DeliveryWorker,
    RateLimiter,
    complete_pushes,
    recover_in_flight,
)
from bot.services import publicity, users
from bot.services.publicity import Audience
from bot.testing import Harness, texts
from bot.testing.delivery import FakeClock, FakeSender, killed
from bot.testing.factories import ledger_rows, resident, staff


def broadcast(engine, count: int, *, author: User | None = None, prefix: str = "u") -> int:
    """`count` Telegram subscribers and one notice to all of them; returns the push id."""
    with Session(engine) as session:
        for n in range(count):
            user = users.get_or_create(session, "telegram", f"{prefix}{n}")
            publicity.subscribe(session, user, topics=[], channel="telegram", now=datetime.now(UTC))
        notice = publicity.create_notice(
            session, text="停水通知", audience=Audience("all"), author=author, now=datetime.now(UTC)
        )
        push = publicity.send_now(session, notice, now=datetime.now(UTC))
        session.commit()
        return push.id


def statuses(engine) -> Counter:
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage.status).where(OutboxMessage.channel == "telegram"))
        return Counter(rows)


def max_in_any_second(times: list[float]) -> int:
    """The most calls that started within any half-open 1-second window."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1 - 1e-9) for start in times)


# --- rate ------------------------------------------------------------------------------------
async def test_sends_never_exceed_the_rate_in_any_one_second_window(engine):
    broadcast(engine, 80)
    clock = FakeClock()
    sender = FakeSender(clock, rate=25.0)
    worker = DeliveryWorker(engine, sender, clock=clock, batch=30, max_in_flight=1)
    attempted = await worker.drain()
    times = [t for t, _, _ in sender.calls]
    assert attempted == 80 and len(times) == 80
    assert max_in_any_second(times) == 25
    # and no slower than the limit, less the window's margin for network jitter
    assert 79 / 25 <= times[-1] - times[0] < 79 / 25 * (1 + WINDOW_MARGIN) + 0.01
    assert statuses(engine) == Counter(sent=80)


async def test_concurrent_acquirers_still_get_at_most_rate_slots_per_second():
    clock = FakeClock()
    limiter = RateLimiter(30.0, clock)
    granted: list[float] = []

    async def caller() -> None:
        await limiter.acquire()
        granted.append(clock.monotonic())

    await asyncio.gather(*(caller() for _ in range(100)))
    assert len(granted) == 100 and max_in_any_second(granted) == 30


async def test_delays_between_pacing_and_the_call_cannot_bunch_calls():
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock)
    before, admitted = [], []

    async def delivery(delay: float) -> None:
        await limiter.acquire()
        await clock.sleep(delay)  # a slow claim for some rows, a fast one for others
        before.append(clock.monotonic())
        await limiter.admit()
        admitted.append(clock.monotonic())

    await asyncio.gather(*(delivery(0.45 if n % 4 == 0 else 0.0) for n in range(40)))
    assert max_in_any_second(before) > 10  # what the window check is there for
    assert max_in_any_second(admitted) == 10


async def test_no_more_than_max_in_flight_calls_overlap(engine):
    broadcast(engine, 12)
    clock = FakeClock()
    sender = FakeSender(clock, rate=30.0)
    sender.gate = asyncio.Event()  # every call waits here: the platform is slow
    worker = DeliveryWorker(engine, sender, clock=clock, max_in_flight=4)
    task = asyncio.create_task(worker.drain())
    await asyncio.wait_for(sender.full.wait(), timeout=30)  # a safety net, not a measurement
    assert statuses(engine) == Counter(sending=4, pending=8)  # no fifth row is even claimed
    sender.gate.set()
    assert await task == 12
    assert sender.peak_in_flight == 4 and statuses(engine) == Counter(sent=12)


async def test_flood_control_holds_the_whole_channel():
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock)
    for _ in range(3):
        await limiter.acquire()
    limiter.hold(5.0)
    await limiter.acquire()
    assert clock.seconds == pytest.approx(0.2 + 5.0)


# --- outcomes --------------------------------------------------------------------------------
async def test_blocked_users_are_marked_unreachable_not_retried_and_left_out_later(engine):
    broadcast(engine, 3)
    clock = FakeClock()
    sender = FakeSender(clock)
    sender.script["u1"] = [DeliveryOutcome("unreachable", error="Forbidden: bot was blocked")]
    worker = DeliveryWorker(engine, sender, clock=clock)
    await worker.drain()
    await worker.drain()
    assert [external for _, external, _ in sender.calls].count("u1") == 1
    assert statuses(engine) == Counter(sent=2, unreachable=1)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.external_id == "u1")).one()
        assert user.unreachable is True
        second = publicity.create_notice(
            session, text="第二条", audience=Audience("all"), author=None, now=clock.now()
        )
        push = publicity.send_now(session, second, now=clock.now())
        assert (push.recipients, push.excluded) == (2, 1)
        session.commit()
    assert len(ledger_rows(engine, "push_unreachable")) == 1


async def test_transient_errors_are_retried_then_given_up_after_max_attempts(engine):
    broadcast(engine, 2)
    clock = FakeClock()
    sender = FakeSender(clock)
    sender.script["u0"] = [DeliveryOutcome("retry", retry_after=3.0, error="429 flood")]
    sender.script["u1"] = [DeliveryOutcome("retry", error="network")] * outbox.MAX_ATTEMPTS
    await DeliveryWorker(engine, sender, clock=clock).drain()
    calls = Counter(external for _, external, _ in sender.calls)
    assert calls == Counter(u0=2, u1=outbox.MAX_ATTEMPTS)
    assert statuses(engine) == Counter(sent=1, failed=1)
    assert sender.delivered == ["u0"]
    assert len(ledger_rows(engine, "push_failed")) == 1
    first_u0, second_u0 = [t for t, e, _ in sender.calls if e == "u0"]
    assert second_u0 - first_u0 >= 3.0


async def test_a_sender_bug_is_a_retry_not_a_dead_worker(engine):
    broadcast(engine, 1)
    clock = FakeClock()
    sender = FakeSender(clock)

    async def broken(external_id, reply):
        sender.calls.append((clock.monotonic(), external_id, reply.text))
        if len(sender.calls) == 1:
            raise ValueError("bug")
        return DeliveryOutcome("sent")

    sender.send = broken
    await DeliveryWorker(engine, sender, clock=clock).drain()
    assert len(sender.calls) == 2 and statuses(engine) == Counter(sent=1)


# --- crash and resume ----------------------------------------------------------------------------
@pytest.mark.parametrize("crash", ["crash-before-delivery", "crash-after-delivery"])
async def test_resume_after_a_crash_mid_broadcast_loses_and_doubles_nothing_beyond_the_bound(
    engine, database_url, crash
):
    from bot import db

    push_id = broadcast(engine, 10)
    clock = FakeClock()
    first = FakeSender(clock)
    first.script["u4"] = [crash]  # the process dies during the 5th platform call
    await killed(DeliveryWorker(engine, first, clock=clock, max_in_flight=1), first)
    assert statuses(engine) == Counter(sent=4, sending=1, pending=5)

    restarted = db.make_engine(database_url)  # a new process
    second = FakeSender(clock)
    worker = DeliveryWorker(restarted, second, clock=clock)
    assert worker.recover() == 1
    await worker.drain()
    restarted.dispose()

    got = Counter(first.delivered + second.delivered)
    assert max(got.values()) == 1  # nobody twice
    assert set(got) | {"u4"} == {f"u{n}" for n in range(10)}  # nobody lost but the one in doubt
    assert ("u4" in got) == (crash == "crash-after-delivery")
    assert "u4" not in [external for _, external, _ in second.calls]  # in doubt: never resent
    assert statuses(engine) == Counter(sent=9, in_doubt=1)
    with Session(engine) as session:
        assert publicity.push_counts(session, session.get(Push, push_id)) == {
            "sent": 9,
            "in_doubt": 1,
        }


async def test_rows_left_sending_by_several_in_flight_sends_stay_within_the_bound(engine):
    broadcast(engine, 12)
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.5)
    sender.script["u6"] = ["crash-before-delivery"]
    await killed(DeliveryWorker(engine, sender, clock=clock, max_in_flight=3), sender)
    assert 1 <= statuses(engine)["sending"] <= 3
    in_doubt = recover_in_flight(engine, "telegram")
    assert 1 <= in_doubt <= 3 and statuses(engine)["sending"] == 0
    await DeliveryWorker(engine, FakeSender(clock), clock=clock).drain()
    assert statuses(engine)["in_doubt"] == in_doubt
    assert statuses(engine)["sent"] == 12 - in_doubt


def test_a_crash_during_fan_out_leaves_nothing_and_the_same_run_key_never_fans_out_twice(
    engine, monkeypatch
):
    for n in range(4):
        resident(engine, f"u{n}", channel="telegram")
    original = publicity.ledger.record

    def crash(session, kind, **fields):
        if kind == "notice_published":
            raise RuntimeError("power cut after the outbox rows were inserted")
        return original(session, kind, **fields)

    now = datetime.now(UTC)
    with Session(engine) as session:
        notice = publicity.create_notice(
            session, text="测试", audience=Audience("all"), author=None, now=now
        )
        session.commit()
        monkeypatch.setattr(publicity.ledger, "record", crash)
        with pytest.raises(RuntimeError):
            publicity.fan_out(session, notice, run_key="k1", due_at=now, now=now)
        session.rollback()
        monkeypatch.setattr(publicity.ledger, "record", original)
        assert statuses(engine) == Counter()
        push = publicity.fan_out(session, notice, run_key="k1", due_at=now, now=now)
        session.commit()
        assert push.recipients == 4
        assert publicity.fan_out(session, notice, run_key="k1", due_at=now, now=now) is None
        session.commit()
    assert statuses(engine) == Counter(pending=4)
    with Session(engine) as session:  # and the database itself refuses a second copy
        row = session.exec(select(OutboxMessage)).first()
        twin = OutboxMessage(
            user_id=row.user_id,
            channel=row.channel,
            source=row.source,
            dedup_key=row.dedup_key,
            reply=row.reply,
        )
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.commit()


# --- delivery report -----------------------------------------------------------------------------
async def test_the_author_gets_a_delivery_report_when_the_push_completes(engine, harness: Harness):
    clerk = staff(engine)
    broadcast(engine, 4, author=clerk)
    clock = FakeClock()
    sender = FakeSender(clock)
    sender.script["u1"] = [DeliveryOutcome("unreachable", error="blocked")]
    sender.script["u2"] = [DeliveryOutcome("failed", error="Bad Request: chat not found")]
    await DeliveryWorker(engine, sender, clock=clock).drain()
    (report,) = harness.queued("clerk")
    assert "送达报告" in report.text and "共 4 人" in report.text
    assert (
        "已送达：2" in report.text
        and "发送失败：1" in report.text
        and "无法送达（对方已屏蔽机器人等）：1" in report.text
    )
    assert complete_pushes(engine) == 0  # reported once only
    assert harness.queued("clerk") == []


def test_console_recipients_complete_the_push_when_they_read_it(engine, harness: Harness):
    clerk = staff(engine)
    resident(engine, "r1")
    resident(engine, "r2")
    with Session(engine) as session:
        notice = publicity.create_notice(
            session,
            text="控制台通知",
            audience=Audience("all"),
            author=session.get(User, clerk.id),
            now=datetime.now(UTC),
        )
        publicity.send_now(session, notice, now=datetime.now(UTC))
        session.commit()
    assert len(harness.queued("r1")) == 1
    assert complete_pushes(engine) == 0  # r2 has not read it yet
    assert len(harness.queued("r2")) == 1  # reading it completes the push (the console does)
    assert complete_pushes(engine) == 0  # nothing left to complete
    report = texts(harness.queued("clerk"))
    assert "已送达：2" in report and "状态不明" not in report


async def test_the_report_counts_messages_in_doubt_after_a_crash(engine, harness: Harness):
    clerk = staff(engine)
    broadcast(engine, 3, author=clerk)
    clock = FakeClock()
    first = FakeSender(clock)
    first.script["u0"] = ["crash-after-delivery"]
    await killed(DeliveryWorker(engine, first, clock=clock, max_in_flight=1), first)
    worker = DeliveryWorker(engine, FakeSender(clock), clock=clock)
    worker.recover()
    await worker.drain()
    report = texts(harness.queued("clerk"))
    assert "已送达：2" in report and "状态不明：1" in report
