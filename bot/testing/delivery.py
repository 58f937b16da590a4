"""A clock and a sender for delivery-worker tests: time that only moves when someone sleeps,
and a platform whose answers a test scripts (sent, retry, unreachable, a crash mid-call)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from bot.channels.base import DeliveryOutcome
from bot.messages import Reply
from bot.runtime.delivery import DeliveryWorker


class FakeClock:
    """Wall and monotonic time that only move when someone sleeps.

    Sleepers wake in order of their wake times: a sleeper first lets every runnable task
    take a turn (they may go to sleep earlier), then, if it is the earliest, moves the
    clock to its wake time and carries on without yielding, so what it does next is
    stamped with that time even when other tasks sleep concurrently. Tasks waiting for a
    database thread do not hold the clock back: for them time can only run ahead, which
    makes any rate they see lower, never higher."""

    def __init__(self, start: datetime = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)) -> None:
        self.start = start
        self.seconds = 0.0
        self._wakes: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        wake = self.seconds + max(seconds, 0.0)
        self._wakes.append(wake)
        try:
            while self.seconds < wake:
                await asyncio.sleep(0)
                if wake <= min(self._wakes):
                    self.seconds = max(self.seconds, wake)
        finally:
            self._wakes.remove(wake)


async def killed(worker: DeliveryWorker, sender: FakeSender) -> None:
    """Run `worker` until `sender` hangs in a platform call, then kill it there (kill -9:
    the worker's coroutines are cancelled mid-call and record nothing more)."""
    task = asyncio.create_task(worker.drain())
    hung = asyncio.create_task(sender.hung.wait())
    await asyncio.wait({task, hung}, return_when=asyncio.FIRST_COMPLETED)
    assert not task.done(), "the worker finished before the crash point"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.to_thread(worker.close)  # database threads end with the process too


class FakeSender:
    """Records every call; `script` maps an external id to the outcomes it gets in turn."""

    channel = "telegram"

    def __init__(self, clock: FakeClock, rate: float = 25.0, latency: float = 0.0) -> None:
        self.clock = clock
        self.rate_per_second = rate
        self.latency = latency
        self.script: dict[str, list] = {}
        self.calls: list[tuple[float, str, str]] = []
        self.delivered: list[str] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.hung = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.full = asyncio.Event()  # set when 4 calls are in flight at once

    async def send(self, external_id: str, reply: Reply) -> DeliveryOutcome:
        self.calls.append((self.clock.monotonic(), external_id, reply.text))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if self.in_flight == 4:
            self.full.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.latency:
                await self.clock.sleep(self.latency)
            outcomes = self.script.get(external_id)
            outcome = outcomes.pop(0) if outcomes else DeliveryOutcome("sent")
            if outcome in ("crash-after-delivery", "crash-before-delivery"):
                if outcome == "crash-after-delivery":
                    self.delivered.append(external_id)
                self.hung.set()
                await asyncio.Event().wait()  # the process dies during this call
            if outcome.status == "sent":
                self.delivered.append(external_id)
            return outcome
        finally:
            self.in_flight -= 1
