"""Scheduling: time phrases, recurrences, rebuilding the jobs from our rows after a restart,
the misfire policy (within and beyond the grace), the daily series and the digest job.
Time is injected (`now`, the scheduler's clock), so nothing here sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, func, select

from bot import runner
from bot.channels.base import DeliveryOutcome
from bot.models import LedgerEvent, Notice, OutboxMessage, Push, Schedule
from bot.scheduler import PublicityScheduler
from bot.services import publicity, schedules
from bot.services.publicity import Audience
from bot.services.schedules import When, next_after, parse_when
from bot.testing import Harness, texts
from bot.testing.factories import resident, staff
from bot.timeutil import as_utc

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # Tuesday 2026-03-10 09:00 in Shanghai
YESTERDAY = NOW - timedelta(days=1)


def local(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


# --- phrases and recurrences ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("2026-03-15 09:00", When("once", run_at=local(2026, 3, 15, 9))),
        ("2026/3/15 9:05", When("once", run_at=local(2026, 3, 15, 9, 5))),
        ("3月15日 20:00", When("once", run_at=local(2026, 3, 15, 20))),
        ("3-1 08:00", When("once", run_at=local(2027, 3, 1, 8))),  # past this year: next year
        ("明天 7:30", When("once", run_at=local(2026, 3, 11, 7, 30))),
        ("今天 18:00", When("once", run_at=local(2026, 3, 10, 18))),
        ("每天 08:00", When("daily", at_time="08:00")),
        ("daily 8:00", When("daily", at_time="08:00")),
        ("每周一 08:30", When("weekly", at_time="08:30", weekday=0)),
        ("每周日 20:00", When("weekly", at_time="20:00", weekday=6)),
        ("weekly fri 18:00", When("weekly", at_time="18:00", weekday=4)),
        ("每月1日 09:00", When("monthly", at_time="09:00", day_of_month=1)),
        ("每月 15号 9点", When("monthly", at_time="09:00", day_of_month=15)),
        ("每天　０８：００", When("daily", at_time="08:00")),  # full-width input
    ],
)
def test_parse_when_understands_staff_phrases(phrase, expected):
    assert parse_when(phrase, NOW, ZONE) == expected


@pytest.mark.parametrize(
    ("phrase", "reason"),
    [
        ("", "请写出时间"),
        ("下辈子", "看不懂"),
        ("2026-02-30 09:00", "不是有效的日期"),
        ("2026-03-10 08:00", "已经过去了"),
        ("今天 08:59", "已经过去了"),
        ("每天 25:00", "不是有效的时刻"),
        ("每月32日 09:00", "1 到 31"),
        ("每周八 09:00", "看不懂"),
    ],
)
def test_parse_when_explains_bad_phrases(phrase, reason):
    with pytest.raises(ValueError, match=reason):
        parse_when(phrase, NOW, ZONE)


def test_recurrences_in_local_time():
    daily = When("daily", at_time="08:00")
    assert next_after(daily, NOW, ZONE) == local(2026, 3, 11, 8)
    assert next_after(daily, local(2026, 3, 10, 7, 59), ZONE) == local(2026, 3, 10, 8)
    assert next_after(daily, local(2026, 3, 10, 8), ZONE) == local(2026, 3, 11, 8)  # strictly after
    monday = When("weekly", at_time="08:00", weekday=0)
    assert next_after(monday, NOW, ZONE) == local(2026, 3, 16, 8)
    tuesday = When("weekly", at_time="10:00", weekday=1)
    assert next_after(tuesday, NOW, ZONE) == local(2026, 3, 10, 10)
    last_day = When("monthly", at_time="08:00", day_of_month=31)
    assert next_after(last_day, local(2026, 1, 31, 9), ZONE) == local(2026, 2, 28, 8)
    assert next_after(last_day, local(2026, 2, 28, 9), ZONE) == local(2026, 3, 31, 8)
    assert next_after(last_day, local(2027, 12, 31, 9), ZONE) == local(2028, 1, 31, 8)
    once = When("once", run_at=local(2026, 3, 15, 9))
    assert next_after(once, NOW, ZONE) == once.run_at
    assert next_after(once, local(2026, 3, 16), ZONE) is None


# --- helpers ---------------------------------------------------------------------------------
def make_schedule(engine, text: str, when: When, *, created: datetime = NOW, author=None) -> int:
    """A schedule row written as if by staff at `created`."""
    with Session(engine) as session:
        notice = publicity.create_notice(
            session, text=text, audience=Audience("all"), author=author, now=created
        )
        row = schedules.create(
            session, notice=notice, when=when, author=author, now=created, zone=ZONE
        )
        session.commit()
        return row.id


def count(engine, model, *conditions) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*conditions)).one()


def notice_rows(engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        statement = select(OutboxMessage).where(OutboxMessage.source.startswith("push:"))
        return list(session.exec(statement))


def scheduler(services, now: datetime) -> PublicityScheduler:
    return PublicityScheduler(services.engine, services.settings, services.faq, clock=lambda: now)


# --- rebuilding after a restart --------------------------------------------------------------------
async def test_jobs_are_rebuilt_from_the_rows_after_a_restart(services, engine):
    weekly = make_schedule(engine, "每周提醒", When("weekly", at_time="08:00", weekday=0))
    once = make_schedule(engine, "一次", When("once", run_at=local(2026, 4, 1, 9)))
    cancelled = make_schedule(engine, "取消了", When("daily", at_time="07:00"))
    with Session(engine) as session:
        schedules.cancel(session, session.get(Schedule, cancelled))
        session.commit()

    first = scheduler(services, NOW)
    await first.start(paused=True)
    with Session(engine) as session:
        series = session.exec(
            select(Schedule).where(Schedule.series == schedules.SERIES_DAILY)
        ).one()
    expected = {
        weekly: local(2026, 3, 16, 8),
        once: local(2026, 4, 1, 9),
        series.id: local(2026, 3, 11, 8),
    }
    assert first.jobs() == expected
    first.shutdown()  # the process ends; APScheduler's memory is gone

    later = NOW + timedelta(minutes=5)
    second = scheduler(services, later)
    results = await second.start(paused=True)
    assert results == [] and second.jobs() == expected
    assert count(engine, Schedule, Schedule.series == schedules.SERIES_DAILY) == 1
    second.shutdown()


async def test_sync_follows_rows_changed_elsewhere(services, engine):
    running = scheduler(services, NOW)
    await running.start(paused=True)
    added = make_schedule(engine, "CLI 新建", When("daily", at_time="12:00"))
    await running.sync()
    assert running.jobs()[added] == local(2026, 3, 10, 12)
    with Session(engine) as session:
        row = session.get(Schedule, added)
        schedules.set_when(row, When("daily", at_time="13:00"), NOW, ZONE)
        session.commit()
    await running.sync()
    assert running.jobs()[added] == local(2026, 3, 10, 13)
    with Session(engine) as session:
        schedules.cancel(session, session.get(Schedule, added))
        session.commit()
    await running.sync()
    assert added not in running.jobs()
    running.shutdown()


async def test_a_job_firing_on_time_fans_out_once_and_moves_to_the_next_day(services, engine):
    resident(engine, "r1")
    resident(engine, "r2")
    daily = make_schedule(engine, "每日提醒", When("daily", at_time="12:00"))
    due = local(2026, 3, 10, 12)
    running = scheduler(services, NOW)
    await running.start(paused=True)
    assert running.jobs()[daily] == due
    running.clock = lambda: due + timedelta(seconds=2)  # the job fires on time
    result = await running.run_job(daily)
    assert result.recipients == 2 and result.skipped == []
    assert running.jobs()[daily] == local(2026, 3, 11, 12)
    assert await running.run_job(daily) is None  # a duplicate trigger finds nothing due
    assert len(notice_rows(engine)) == 2
    assert count(engine, Push) == 1
    running.shutdown()


# --- the misfire policy --------------------------------------------------------------------------
async def test_a_push_missed_within_the_grace_is_sent_once_at_start(services, engine):
    resident(engine, "r1")
    once = make_schedule(
        engine, "停机期间到点的通知", When("once", run_at=local(2026, 3, 10, 9, 30))
    )
    restart = local(2026, 3, 10, 10, 10)  # down from 9:20 to 10:10; 40 minutes late
    first = scheduler(services, restart)
    results = await first.start(paused=True)
    assert [(r.schedule_id, r.recipients, r.skipped) for r in results] == [(once, 1, [])]
    first.shutdown()
    second = scheduler(services, restart + timedelta(minutes=1))  # and a second restart
    assert await second.start(paused=True) == []
    second.shutdown()
    assert len(notice_rows(engine)) == 1
    with Session(engine) as session:
        row = session.get(Schedule, once)
        assert (row.status, row.next_run_at) == ("done", None)
        assert as_utc(row.last_run_at) == local(2026, 3, 10, 9, 30)
    assert count(engine, OutboxMessage, OutboxMessage.source == schedules.SKIPPED_SOURCE) == 0


async def test_a_push_missed_beyond_the_grace_is_skipped_and_reported(
    services, engine, harness: Harness
):
    resident(engine, "r1")
    clerk = staff(engine)
    harness.say("admin", "/start")  # the configured admin has used the bot
    once = make_schedule(
        engine,
        "过时的通知",
        When("once", run_at=local(2026, 3, 10, 8)),
        created=YESTERDAY,
        author=clerk,
    )
    running = scheduler(services, local(2026, 3, 10, 9, 30))  # 90 minutes late
    results = await running.start(paused=True)
    running.shutdown()
    assert results[0].recipients == 0 and results[0].skipped == [local(2026, 3, 10, 8)]
    assert notice_rows(engine) == []
    report = texts(harness.queued("clerk"))
    assert "错过了 1 次" in report and "过时的通知" in report and "1 小时" in report
    assert "错过了 1 次" in texts(harness.queued("admin"))
    assert harness.queued("r1") == []
    with Session(engine) as session:
        assert session.get(Schedule, once).status == "done"
        skipped = session.exec(select(LedgerEvent).where(LedgerEvent.kind == "push_skipped")).one()
        assert (skipped.value, skipped.ref) == (1.0, f"schedule:{once}")


async def test_a_recurring_push_after_long_downtime_sends_only_the_latest_once(
    services, engine, harness
):
    resident(engine, "r1")
    clerk = staff(engine)
    daily = make_schedule(
        engine,
        "每日提醒",
        When("daily", at_time="08:00"),
        created=local(2026, 3, 6, 12),
        author=clerk,
    )
    restart = local(2026, 3, 10, 8, 20)  # down since the 6th; today's 08:00 is 20 min late
    running = scheduler(services, restart)
    results = await running.start(paused=True)
    running.shutdown()
    (result,) = results
    assert result.sent_for == local(2026, 3, 10, 8) and result.recipients == 1
    assert result.skipped == [local(2026, 3, d, 8) for d in (7, 8, 9)]
    assert len(harness.queued("r1")) == 1
    assert "错过了 3 次" in texts(harness.queued("clerk"))
    with Session(engine) as session:
        assert as_utc(session.get(Schedule, daily).next_run_at) == local(2026, 3, 11, 8)


async def test_the_grace_comes_from_the_settings(services, engine):
    resident(engine, "r1")
    services.settings.misfire_grace = timedelta(minutes=10)
    make_schedule(
        engine, "十分钟宽限", When("once", run_at=local(2026, 3, 10, 9)), created=YESTERDAY
    )
    running = scheduler(services, local(2026, 3, 10, 9, 15))
    (result,) = await running.start(paused=True)
    running.shutdown()
    assert result.recipients == 0 and len(result.skipped) == 1


def test_a_crash_during_firing_rolls_back_and_the_retry_fans_out_once(
    services, engine, monkeypatch
):
    for n in range(5):
        resident(engine, f"r{n}")
    once = make_schedule(engine, "崩溃测试", When("once", run_at=local(2026, 3, 10, 9, 30)))
    now = local(2026, 3, 10, 9, 31)
    original = publicity.ledger.record

    def crash(session, kind, **fields):
        if kind == "notice_published":
            raise RuntimeError("power cut")
        return original(session, kind, **fields)

    monkeypatch.setattr(publicity.ledger, "record", crash)
    with pytest.raises(RuntimeError):
        schedules.fire_one(engine, services.settings, once, now=now)
    assert count(engine, Push) == 0 and notice_rows(engine) == []
    with Session(engine) as session:
        assert session.get(Schedule, once).status == "active"
    monkeypatch.setattr(publicity.ledger, "record", original)
    result = schedules.fire_one(engine, services.settings, once, now=now)
    assert result.recipients == 5 and len(notice_rows(engine)) == 5
    assert schedules.fire_one(engine, services.settings, once, now=now) is None
    assert len(notice_rows(engine)) == 5


# --- the daily series and the digest ------------------------------------------------------------
async def test_daily_series_pushes_one_answer_a_day_to_opted_in_subscribers(
    services, engine, harness
):
    resident(engine, "daily", daily=True)
    resident(engine, "plain")
    running = scheduler(services, NOW)
    await running.start(paused=True)
    with Session(engine) as session:
        series_id = session.exec(
            select(Schedule.id).where(Schedule.series == schedules.SERIES_DAILY)
        ).one()
    picked = []
    for day in (11, 12):
        running.clock = lambda day=day: (
            local(
                2026,
                3,
                day,
                8,
                0,
            )
            + timedelta(seconds=1)
        )
        result = await running.run_job(series_id)
        assert result.recipients == 1
        (reply,) = harness.queued("daily")
        assert (
            reply.text.startswith(f"📘 每日一条民法典 · 3月{day}日")
            and "《民法典》第" in reply.text
        )
        picked.append(reply.text)
    running.shutdown()
    assert picked[0] != picked[1]
    assert harness.queued("plain") == []
    with Session(engine) as session:
        entries = list(session.exec(select(Notice.kb_entry).where(Notice.kb_entry.is_not(None))))
        assert len(set(entries)) == 2 and all(e in services.faq.kb.by_id for e in entries)


async def test_daily_series_without_opted_in_subscribers_uses_no_entry(services, engine):
    resident(engine, "plain")
    running = scheduler(services, NOW)
    await running.start(paused=True)
    with Session(engine) as session:
        series_id = session.exec(
            select(Schedule.id).where(Schedule.series == schedules.SERIES_DAILY)
        ).one()
    running.clock = lambda: local(2026, 3, 11, 8)
    result = await running.run_job(series_id)
    running.shutdown()
    assert result.recipients == 0 and result.note == "no daily subscribers"
    assert count(engine, Notice) == 0


async def test_the_consultation_digest_runs_daily_at_the_configured_time(services, monkeypatch):
    from bot.services import cases as consultations

    calls = []
    monkeypatch.setattr(consultations, "send_daily_digest", lambda *args: calls.append(args))
    services.settings.digest_time = "17:45"
    running = scheduler(services, NOW)
    await running.start(paused=True)
    job = running.scheduler.get_job("digest")
    assert str(job.trigger.fields[5]) == "17" and str(job.trigger.fields[6]) == "45"  # hour, minute
    await running._digest()
    running.shutdown()
    assert calls == [(services.engine, services.settings, NOW)]


async def test_the_digest_is_skipped_with_a_log_line_when_issue_5_is_absent(
    services, monkeypatch, caplog
):
    from bot.services import cases as consultations

    monkeypatch.delattr(consultations, "send_daily_digest")
    running = scheduler(services, NOW)
    with caplog.at_level("INFO", logger="bot.scheduler"):
        await running.start(paused=True)
    running.shutdown()
    assert running.scheduler.get_job("digest") is None
    assert "consultation digest not scheduled" in caplog.text


# --- the runner --------------------------------------------------------------------------------
class RecordingChannel:
    """A live channel stand-in: its sender records what the delivery worker sends."""

    name = "telegram"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.arrived = asyncio.Event()
        self.sender = self

    channel = "telegram"
    rate_per_second = 1000.0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, external_id: str, reply) -> DeliveryOutcome:
        self.sent.append((external_id, reply.text))
        if len(self.sent) == 2:
            self.arrived.set()
        return DeliveryOutcome("sent")


async def test_the_runner_runs_the_scheduler_beside_the_delivery_workers(
    services, engine, monkeypatch
):
    """A push that fell due while the bot was down is sent once at start; its author's
    report follows through the same channel; the scheduler is reachable for nudges."""
    resident(engine, "555", channel="telegram")
    author = staff(engine, "777", channel="telegram")
    now = datetime.now(UTC)
    make_schedule(
        engine,
        "停机时到点的通知",
        When("once", run_at=now - timedelta(minutes=5)),
        created=now - timedelta(hours=1),
        author=author,
    )
    channel = RecordingChannel()
    monkeypatch.setattr(runner, "make_channel", lambda name, services: channel)
    stop = asyncio.Event()
    serving = asyncio.create_task(runner.serve(services, ["telegram"], stop))
    await asyncio.wait_for(channel.arrived.wait(), timeout=60)  # a safety net only
    assert isinstance(services.extra.get("scheduler"), PublicityScheduler)
    stop.set()
    assert await serving == 0
    assert services.extra.get("scheduler") is None
    assert (
        channel.sent[0] == ("555", channel.sent[0][1]) and "停机时到点的通知" in channel.sent[0][1]
    )
    assert channel.sent[1][0] == "777" and "送达报告" in channel.sent[1][1]


async def test_stopping_waits_for_the_job_under_way(engine, settings, monkeypatch):
    """A job cut off by the process's exit logged a cancellation traceback (and its thread
    went on writing): `stop` lets it finish first."""
    import bot.scheduler as scheduler_module

    finished = []

    def slow_completion(engine_, now):
        import time

        time.sleep(0.3)
        finished.append(now)

    scheduler = PublicityScheduler(engine, settings)
    await scheduler.start(paused=True)
    monkeypatch.setattr(scheduler_module, "complete_pushes", slow_completion)
    job = asyncio.create_task(scheduler.sync())
    await asyncio.sleep(0.05)  # the job is inside its thread now
    await scheduler.stop()
    assert finished and job.done() and job.exception() is None
    assert not scheduler.scheduler.running


async def test_a_job_fired_as_the_scheduler_stops_does_nothing(engine, settings, monkeypatch):
    """APScheduler may start a job task in the very moment of the stop: it must not begin
    work that the process's exit would then cut off."""
    import bot.scheduler as scheduler_module

    ran = []
    scheduler = PublicityScheduler(engine, settings)
    await scheduler.start(paused=True)
    monkeypatch.setattr(scheduler_module, "complete_pushes", lambda *args: ran.append(args))
    job = asyncio.create_task(scheduler.sync())  # created, not yet started
    await scheduler.stop()
    assert job.done() and job.exception() is None and ran == []


async def test_a_job_apscheduler_runs_is_not_cancelled_by_the_stop(
    engine, settings, monkeypatch, caplog
):
    """APScheduler's asyncio executor cancels the job tasks still running when it shuts
    down: `stop` must let the job it started finish before shutting it down."""
    import threading

    import bot.scheduler as scheduler_module

    inside, finished = threading.Event(), []

    def slow_completion(engine_, now):
        inside.set()
        threading.Event().wait(0.3)
        finished.append(now)

    scheduler = PublicityScheduler(engine, settings)
    await scheduler.start()
    monkeypatch.setattr(scheduler_module, "complete_pushes", slow_completion)
    scheduler.scheduler.modify_job("sync", next_run_time=datetime.now(UTC))
    scheduler.scheduler.wakeup()
    assert await asyncio.to_thread(inside.wait, 30)  # a safety net only
    with caplog.at_level("ERROR", logger="apscheduler"):
        await scheduler.stop()
        await asyncio.sleep(0.05)  # the executor's done-callback has run
    assert finished
    assert not [r for r in caplog.records if r.name.startswith("apscheduler")], caplog.text
    assert not scheduler.scheduler.running
