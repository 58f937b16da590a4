"""The publicity scheduler: APScheduler 3 (AsyncIOScheduler) beside the channels.

Our `schedules` rows are the source of truth; APScheduler's in-memory job store only
mirrors them. At start:
  1. the 每日一条民法典 series row is created if it never existed;
  2. the catch-up: every row already due is fired through the misfire policy
     (bot.services.schedules.fire: within PUFA_MISFIRE_GRACE sent once, older skipped and
     reported to staff);
  3. one job per active row is added at its `next_run_at` (ids "schedule:<id>");
  4. a sync job re-reads the rows every SYNC_SECONDS (rows changed by the CLI or another
     process; handlers nudge it right after their commit) and closes finished pushes;
  5. the consultation daily digest runs at PUFA_DIGEST_TIME if
     bot.services.cases.send_daily_digest exists;
  6. litigation hearing/deadline reminders that are due are put in the outbox at start
     and every REMINDER_SECONDS (bot.services.litigation.run_reminders, idempotent).
Jobs let the row decide: APScheduler's own misfire handling is off (misfire_grace_time
None, coalesce), and firing applies our policy with `clock()` — injectable for tests.
All database work runs in worker threads, one at a time (an asyncio lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.config import Settings
from bot.models import Schedule, ScheduleStatus
from bot.runtime import inbox
from bot.runtime.delivery import complete_pushes
from bot.services import litigation, schedules
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

SYNC_SECONDS = 30.0
PRUNE_SECONDS = 3600.0  # received updates past their retention (bot.runtime.inbox)
JOB_PREFIX = "schedule:"


def _job(method):
    """A scheduler job: one at a time (the lock), counted while it runs so that `stop` can
    wait for it, and nothing at all once the scheduler is stopping."""

    @functools.wraps(method)
    async def run(self, *args, **kwargs):
        if self._stopping:
            return None
        task = asyncio.current_task()
        self._running.add(task)
        try:
            async with self._lock:
                if self._stopping:
                    return None
                return await method(self, *args, **kwargs)
        finally:
            self._running.discard(task)

    return run


class PublicityScheduler:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        faq=None,
        *,
        clock: Callable[[], datetime] = utcnow,
        sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.faq = faq
        self.clock = clock
        self.sync_seconds = sync_seconds
        self.scheduler = AsyncIOScheduler(timezone=settings.zone)
        self._lock = asyncio.Lock()
        self._stopping = False
        self._running: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, *, paused: bool = False) -> list[schedules.FireResult]:
        """Catch up on missed schedules, then start the jobs; returns the catch-up results."""
        self._loop = asyncio.get_running_loop()
        async with self._lock:
            await asyncio.to_thread(self._ensure_series)
            results = await asyncio.to_thread(self._catch_up)
        self.scheduler.start(paused=paused)
        await self.sync()
        self.scheduler.add_job(
            self.sync,
            IntervalTrigger(seconds=self.sync_seconds),
            id="sync",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self._add_digest()
        await self.litigation_reminders()
        self.scheduler.add_job(
            self.litigation_reminders,
            IntervalTrigger(seconds=litigation.REMINDER_SECONDS),
            id="litigation-reminders",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            self.prune_inbox,
            IntervalTrigger(seconds=PRUNE_SECONDS),
            id="inbox-prune",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        return results

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def stop(self) -> None:
        """Stop firing, let the jobs under way finish, then shut APScheduler down.

        The order matters: APScheduler's asyncio executor cancels the job tasks still
        running when it shuts down, and a job cut off so logs its cancellation as a failure
        while its worker thread goes on writing. So: the flag (a job not yet past it does
        nothing), pause (no new job tasks), wait for the running ones, then shut down."""
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.pause()
        await asyncio.sleep(0)  # a job task APScheduler created just now starts, sees the flag
        current = asyncio.current_task()
        while running := self._running - {current}:
            await asyncio.gather(*running, return_exceptions=True)
        self.shutdown()
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down in the loop's next round

    def nudge(self) -> None:
        """Re-read the rows soon (thread-safe: handlers call it after their commit)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.sync()))

    # --- jobs ---------------------------------------------------------------------------
    def jobs(self) -> dict[int, datetime]:
        """schedule id → the time its job will run (what the scheduler mirrors)."""
        return {
            int(job.id[len(JOB_PREFIX) :]): job.trigger.run_date
            for job in self.scheduler.get_jobs()
            if job.id.startswith(JOB_PREFIX)
        }

    @_job
    async def sync(self) -> None:
        """Mirror the active rows as jobs (add, move, remove); close finished pushes."""
        rows = await asyncio.to_thread(self._active_rows)
        mirrored = self.jobs()
        for schedule_id, run_at in rows.items():
            if mirrored.get(schedule_id) != run_at:
                self._add_job(schedule_id, run_at)
        for schedule_id in mirrored.keys() - rows.keys():
            self._remove_job(schedule_id)
        await asyncio.to_thread(complete_pushes, self.engine, self.clock())

    def _add_job(self, schedule_id: int, run_at: datetime) -> None:
        self.scheduler.add_job(
            self.run_job,
            DateTrigger(run_date=run_at),
            args=[schedule_id],
            id=f"{JOB_PREFIX}{schedule_id}",
            replace_existing=True,
            misfire_grace_time=None,  # our policy decides, from the row and clock()
            coalesce=True,
            max_instances=1,
        )

    def _remove_job(self, schedule_id: int) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(f"{JOB_PREFIX}{schedule_id}")

    @_job
    async def run_job(self, schedule_id: int) -> schedules.FireResult | None:
        try:
            result = await asyncio.to_thread(
                schedules.fire_one,
                self.engine,
                self.settings,
                schedule_id,
                now=self.clock(),
                entries=self._entries(),
            )
        except Exception:
            log.exception("schedule %s failed; the row stays due for the next sync", schedule_id)
            result = None
        rows = await asyncio.to_thread(self._active_rows)
        if schedule_id in rows:
            self._add_job(schedule_id, rows[schedule_id])
        if result is not None:
            log.info(
                "schedule %s fired: %d recipient(s), %d skipped",
                schedule_id,
                result.recipients,
                len(result.skipped),
            )
        return result

    # --- database work (worker threads) -----------------------------------------------
    def _entries(self):
        return self.faq.kb.entries if self.faq is not None else ()

    def _ensure_series(self) -> None:
        with Session(self.engine) as session:
            schedules.ensure_daily_series(session, now=self.clock(), zone=self.settings.zone)
            session.commit()

    def _catch_up(self) -> list[schedules.FireResult]:
        now = self.clock()
        results = schedules.fire_due(self.engine, self.settings, now=now, entries=self._entries())
        for result in results:
            if result.skipped:
                log.warning(
                    "schedule %s: %d missed push(es) beyond the grace were skipped",
                    result.schedule_id,
                    len(result.skipped),
                )
        return results

    def _active_rows(self) -> dict[int, datetime]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(Schedule.id, Schedule.next_run_at).where(
                    Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at.is_not(None)
                )
            )
            return {schedule_id: as_utc(run_at) for schedule_id, run_at in rows}

    @_job
    async def prune_inbox(self) -> int:
        """Delete the received updates past their retention (bot.runtime.inbox.prune)."""
        try:
            return await asyncio.to_thread(inbox.prune, self.engine, now=self.clock())
        except Exception:
            log.exception("inbox pruning failed; it is tried again in an hour")
            return 0

    @_job
    async def litigation_reminders(self) -> int:
        """Queue the due hearing/deadline reminders (issue 15); errors are logged."""
        try:
            return await asyncio.to_thread(
                litigation.run_reminders, self.engine, self.settings.zone, self.clock()
            )
        except Exception:
            log.exception("litigation reminders failed; they stay pending for the next run")
            return 0

    # --- the consultation digest (issue 5) ------------------------------------------------
    def _add_digest(self) -> None:
        digest = _digest_function()
        if digest is None:
            log.info(
                "consultation digest not scheduled: bot.services.cases."
                "send_daily_digest is not available"
            )
            return
        hour, minute = (int(part) for part in self.settings.digest_time.split(":"))
        self.scheduler.add_job(
            self._digest,
            CronTrigger(hour=hour, minute=minute, timezone=self.settings.zone),
            id="digest",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self.settings.misfire_grace.total_seconds())),
        )

    @_job
    async def _digest(self) -> None:
        digest = _digest_function()
        if digest is None:
            return
        try:
            await asyncio.to_thread(digest, self.engine, self.settings, self.clock())
        except Exception:
            log.exception("the consultation daily digest failed")


def _digest_function():
    try:
        from bot.services import cases
    except ImportError:
        return None
    return getattr(cases, "send_daily_digest", None)
