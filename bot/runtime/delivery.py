"""The delivery worker: sends outbox rows through a channel's Sender at its rate limit.

One worker per live channel (started by bot.runner). Each row goes
pending → (claim, committed) sending → (platform call) → (record, committed) sent /
unreachable / failed, or back to pending with a delay for a transient error.

Crash safety — the rows in flight. A platform such as Telegram has no idempotency key, so
after a crash nobody can tell whether a message that was `sending` reached the user.
Resending it could deliver it twice; not resending it could lose it. We choose
**at most once**: at start, rows left `sending` become `in_doubt` and are never resent;
they are counted separately in the author's delivery report. The bound: a row is claimed
just before its own platform call, so at most `max_in_flight` rows per channel are in
doubt after a crash (DEFAULT_MAX_IN_FLIGHT = 4, or the sender's `max_in_flight`; 1 makes
it a single row), and each of them may or may not have arrived. Every other row is either
final (recorded in the same transaction as its ledger row) or still `pending`, and is
sent exactly once after the restart. Why more than one call at a time: a call to the
real Bot API takes ~50–300 ms, so one at a time could not reach 25 messages/s.
Only one worker per channel may run at a time: a second would mark the first one's in-flight
rows in doubt, and the platform's rate limit is per bot. Across processes, bot.runtime.leader
makes sure of that (a PostgreSQL advisory lock per channel; a lock file on SQLite).

Rate: deliveries start evenly spaced at 1/rate s (no bursts); the pacing comes before the
claim, so a row waiting for its turn is still `pending` (not in doubt) if the process dies.
Right before the platform call a sliding window also holds the calls of any 1-second
window to ceil(rate), whatever the claim took (see RateLimiter). A `retry` outcome with `retry_after` (flood control) holds the whole
channel for that long. Time is read through a `Clock` so tests run on a fake one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from bot.channels.base import DeliveryOutcome, Sender
from bot.messages import Reply
from bot.models import OutboxMessage, OutboxStatus, User
from bot.runtime import outbox
from bot.services import publicity
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
BATCH = 100
DEFAULT_MAX_IN_FLIGHT = 4
# s: covers the moments between admission and the call's arrival at the platform (thread
# hand-offs, the HTTP client, the network), which can bunch calls admitted 1 s apart.
WINDOW_MARGIN = 0.02
MAX_BACKOFF_SECONDS = 300.0


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall time (outbox due times)."""

    def monotonic(self) -> float:
        """Seconds for pacing."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class RateLimiter:
    """At most `rate` calls per second: evenly paced starts (`acquire`, a bucket of one
    token) and, right before each call, a sliding-window check (`admit`) so that delays
    between pacing and the call (the claim, thread scheduling) can never bunch more than
    ceil(rate) calls into any 1-second window."""

    def __init__(self, rate: float, clock: Clock) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.capacity = max(1, math.floor(rate))
        self.clock = clock
        self._next: float | None = None
        self._recent: deque[float] = deque()

    async def acquire(self) -> None:
        now = self.clock.monotonic()
        start = now if self._next is None else max(now, self._next)
        self._next = start + self.interval
        if start > now:
            await self.clock.sleep(start - now)

    async def admit(self) -> None:
        window = 1.0 + WINDOW_MARGIN
        while True:
            now = self.clock.monotonic()
            while self._recent and now - self._recent[0] >= window:
                self._recent.popleft()
            if len(self._recent) < self.capacity:
                self._recent.append(now)
                return
            wait = window - (now - self._recent[0])
            if wait <= 1e-9:  # due now, give or take float rounding
                self._recent.popleft()
                continue
            await self.clock.sleep(wait)

    def hold(self, seconds: float) -> None:
        """Flood control: start nothing for `seconds` from now."""
        until = self.clock.monotonic() + seconds
        self._next = until if self._next is None else max(self._next, until)


def recover_in_flight(engine: Engine, channel: str) -> int:
    """Rows left `sending` by a crash become `in_doubt` (never resent); returns how many."""
    with Session(engine) as session:
        count = outbox.mark_in_doubt(session, channel)
        session.commit()
        return count


def complete_pushes(engine: Engine, now: datetime | None = None) -> int:
    """Close finished publicity pushes and queue their delivery reports."""
    try:
        with Session(engine) as session:
            finished = publicity.complete_pushes(session, now or utcnow())
            session.commit()
            return len(finished)
    except SQLAlchemyError:  # a concurrent completer won the race; it sends the report
        log.warning("completing pushes failed; will retry", exc_info=True)
        return 0


class DeliveryWorker:
    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        *,
        clock: Clock | None = None,
        max_in_flight: int | None = None,
        batch: int = BATCH,
        after_batch: Callable[[Engine, datetime], object] | None = complete_pushes,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.clock = clock or SystemClock()
        self.limiter = RateLimiter(sender.rate_per_second, self.clock)
        wanted = max_in_flight or getattr(sender, "max_in_flight", DEFAULT_MAX_IN_FLIGHT)
        self.max_in_flight = max(1, wanted)
        self.batch = batch
        self.after_batch = after_batch
        self._slots = asyncio.Semaphore(self.max_in_flight)
        # Set when rows were queued: look now, not at the next poll.
        self.wake = wake or asyncio.Event()
        # Its own threads, so close() can wait for database work under way.
        self._threads = ThreadPoolExecutor(self.max_in_flight + 1, f"deliver-{self.channel}")

    async def _db(self, func, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(func, *args))

    def close(self) -> None:
        """Wait for database work under way (blocking); the worker is done afterwards."""
        self._threads.shutdown(wait=True)

    @property
    def channel(self) -> str:
        return self.sender.channel

    def recover(self) -> int:
        """At start: rows a crash left `sending` become `in_doubt` (see the module doc)."""
        doubtful = recover_in_flight(self.engine, self.channel)
        if doubtful:
            log.warning(
                "%s: %d message(s) were in flight at a crash; marked in_doubt, not resent",
                self.channel,
                doubtful,
            )
            if self.after_batch is not None:  # their pushes may be complete now
                self.after_batch(self.engine, self.clock.now())
        return doubtful

    async def run(self, stop: asyncio.Event) -> None:
        await self._db(self.recover)
        try:
            while not stop.is_set():
                self.wake.clear()  # before looking: rows queued from now on wake the idle wait
                try:
                    attempted = await self.run_once(stop)
                except SQLAlchemyError:
                    log.exception("%s: database error in the delivery loop", self.channel)
                    attempted = 0
                if not attempted:
                    await self._idle(stop)
        finally:
            await asyncio.to_thread(self.close)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for the next poll, for rows being queued (`wake`) or for `stop`."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def drain(self) -> int:
        """Send until nothing is pending, waiting (on the clock) for delayed retries.
        For tests, the bench and one-shot sending; returns the number of attempts."""
        total = 0
        while True:
            attempted = await self.run_once()
            total += attempted
            if attempted:
                continue
            wait = await self._db(self._seconds_to_next_retry)
            if wait is None:
                return total
            await self.clock.sleep(max(wait, 0.0))

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Send one batch of due rows; return how many were attempted. A set `stop` ends
        the batch early (unclaimed rows stay pending). If this coroutine is cancelled, the
        calls under way are cancelled too and their rows stay `sending` (in doubt)."""
        due = await self._db(self._due_ids)
        tasks: list[asyncio.Task] = []
        last_for: dict[tuple, asyncio.Task] = {}  # one recipient's rows go out in order
        try:
            for message_id, recipient in due:
                if stop is not None and stop.is_set():
                    break
                await self._slots.acquire()
                await self.limiter.acquire()  # before the claim: a waiting row stays pending
                task = asyncio.create_task(self._deliver(message_id, last_for.get(recipient)))
                last_for[recipient] = task
                task.add_done_callback(lambda _task: self._slots.release())
                tasks.append(task)
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # after every sibling finished: none is left `sending` needlessly
            raise errors[0]
        if tasks and self.after_batch is not None:
            await self._db(self.after_batch, self.engine, self.clock.now())
        return len(tasks)

    def _due_ids(self) -> list[tuple[int, tuple]]:
        """(row id, recipient) of the due rows, oldest first."""
        with Session(self.engine) as session:
            rows = outbox.pending(session, self.channel, limit=self.batch, now=self.clock.now())
            return [(m.id, (m.user_id, m.chat_id)) for m in rows]

    def _seconds_to_next_retry(self) -> float | None:
        with Session(self.engine) as session:
            earliest = session.exec(
                select(func.min(OutboxMessage.not_before)).where(
                    OutboxMessage.channel == self.channel,
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
            ).one()
        if earliest is None:
            return None
        return (as_utc(earliest) - self.clock.now()).total_seconds()

    async def _deliver(self, message_id: int, after: asyncio.Task | None = None) -> None:
        if after is not None:  # the same recipient's previous row first
            await asyncio.wait({after})
        target = await self._db(self._claim, message_id)
        if target is None:
            return
        external_id, reply = target
        await self.limiter.admit()
        try:
            outcome = await self.sender.send(external_id, reply)
        except Exception as exc:  # a sender bug must not stop the worker
            log.exception("%s: send raised", self.channel)
            outcome = DeliveryOutcome("retry", error=repr(exc))
        if outcome.status == "retry" and outcome.retry_after > 0:
            self.limiter.hold(outcome.retry_after)
        await self._db(self._record, message_id, outcome)

    def _claim(self, message_id: int) -> tuple[str, Reply] | None:
        with Session(self.engine) as session:
            if not outbox.claim(session, message_id):
                return None
            message = session.get(OutboxMessage, message_id)
            user = session.get(User, message.user_id)
            session.commit()
            return message.chat_id or user.external_id, outbox.reply_of(message)

    def _record(self, message_id: int, outcome: DeliveryOutcome) -> None:
        with Session(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            now = self.clock.now()
            if outcome.status == "sent":
                outbox.mark_sent(session, message, now)
            elif outcome.status == "unreachable":
                outbox.mark_unreachable(session, message, outcome.error or "unreachable")
            elif outcome.status == "failed":
                outbox.mark_failed(session, message, outcome.error or "failed")
            else:
                delay = outcome.retry_after or min(
                    2.0 ** (message.attempts + 1), MAX_BACKOFF_SECONDS
                )
                outbox.mark_retry(session, message, outcome.error or "retry", delay, now)
            session.commit()
        if outcome.status != "sent":
            log.info(
                "%s: message %d %s: %s", self.channel, message_id, outcome.status, outcome.error
            )
