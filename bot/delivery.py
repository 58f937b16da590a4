"""The delivery worker: sends outbox rows through a channel's Sender at its rate limit.

Crash safety: a row is marked `sending` (committed) before the platform call and `sent`
right after it, so after a crash only rows that were in flight at that moment are in
doubt; they are never sent again automatically (no duplicates) and are reported as
`failed` with the reason, so staff can see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiolimiter import AsyncLimiter
from sqlalchemy import Engine, update
from sqlmodel import Session

from bot.channels.base import DeliveryOutcome, Sender
from bot.models import OutboxMessage, User
from bot.services import outbox

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
BATCH = 100


def recover_in_flight(engine: Engine, channel: str) -> int:
    """Rows left `sending` by a crash: mark them failed (in doubt) instead of resending."""
    with Session(engine) as session:
        result = session.exec(
            update(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.status == "sending")
            .values(status="failed", last_error="interrupted while sending (crash); not resent")
        )
        session.commit()
        return result.rowcount or 0


class DeliveryWorker:
    def __init__(self, engine: Engine, sender: Sender) -> None:
        self.engine = engine
        self.sender = sender
        self.limiter = AsyncLimiter(max(1.0, sender.rate_per_second), 1.0)

    async def run(self, stop: asyncio.Event) -> None:
        doubtful = recover_in_flight(self.engine, self.sender.channel)
        if doubtful:
            log.warning(
                "%s: %d messages were in flight at a crash; marked failed",
                self.sender.channel,
                doubtful,
            )
        while not stop.is_set():
            sent = await self.run_once()
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)

    async def run_once(self) -> int:
        """Send one batch of due rows; return how many were attempted."""
        ids = await asyncio.to_thread(self._due_ids)
        for message_id in ids:
            await self.limiter.acquire()
            await self._deliver(message_id)
        return len(ids)

    def _due_ids(self) -> list[int]:
        with Session(self.engine) as session:
            return [m.id for m in outbox.pending(session, self.sender.channel, limit=BATCH)]

    async def _deliver(self, message_id: int) -> None:
        target = await asyncio.to_thread(self._claim, message_id)
        if target is None:
            return
        external_id, reply = target
        try:
            outcome = await self.sender.send(external_id, reply)
        except Exception as exc:  # a sender bug must not stop the worker
            log.exception("%s: send failed", self.sender.channel)
            outcome = DeliveryOutcome("retry", retry_after=5.0, error=repr(exc))
        await asyncio.to_thread(self._record, message_id, outcome)

    def _claim(self, message_id: int):
        with Session(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status != "pending":
                return None
            user = session.get(User, message.user_id)
            message.status = "sending"
            session.commit()
            return user.external_id, outbox.reply_of(message)

    def _record(self, message_id: int, outcome: DeliveryOutcome) -> None:
        with Session(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            if outcome.status == "sent":
                outbox.mark_sent(session, message)
            elif outcome.status == "unreachable":
                outbox.mark_unreachable(session, message, outcome.error)
            elif outcome.status == "failed":
                outbox.mark_failed(session, message, outcome.error)
            else:
                message.status = "pending"
                outbox.mark_retry(session, message, outcome.error, outcome.retry_after or 1.0)
            session.commit()
