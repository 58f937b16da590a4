"""Durable intake: every update a platform sends is a row before the platform is told it
arrived, and is handled from that row.

- `store` writes the update (idempotent by the platform's id: a redelivered update is
  stored once) and may claim it at once for the caller to handle inline (WeChat's passive
  reply). Channels acknowledge the platform only after `store` committed: Telegram's
  polling offset moves past stored updates only, webhooks answer 200 only after storing.
- `InboxWorker` handles stored updates: it claims due rows with a lease (on PostgreSQL
  `FOR UPDATE SKIP LOCKED`, so any number of processes can run one) and hands each to the
  channel. Only the oldest unfinished update of a user is ever claimable, so one user's
  updates are handled one at a time and in order, in any number of processes.
- The channel handles a row inside the dispatcher's transaction and calls `finish` there,
  together with queuing the replies in the outbox: the conversation's effects, the ledger
  rows, the queued replies and "done" commit together or not at all. A worker that dies
  mid-way leaves the row `handling`; when its lease runs out another worker takes it over
  and the work is done exactly once.
- Finished rows (done or skipped) are deleted RETENTION after they arrived (`prune`, run
  hourly by the scheduler). Their only use is to recognise a redelivery, and platforms
  redeliver within hours (Telegram keeps an unconfirmed update for 24 hours, WeChat retries
  within 15 seconds). Kept for ever they would swallow new messages: Telegram picks update
  ids at random after a week without updates (and a new bot token starts another
  sequence), and a new update whose id matches an old row would be taken for a
  redelivery. Pruning also keeps residents' texts no longer than the intake needs them.
- A row that cannot be parsed is `skipped` at once, logged once with its id; one whose
  handling fails is retried with backoff and skipped after MAX_ATTEMPTS. Neither stops the
  intake of anything behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, exists, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from bot.db import insert_or_ignore
from bot.models import InboxUpdate
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

PENDING, HANDLING, DONE, SKIPPED = "pending", "handling", "done", "skipped"
UNFINISHED = (PENDING, HANDLING)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5
RETENTION = timedelta(days=3)  # > any platform's redelivery window, < Telegram's idle week
PRUNE_BATCH = 5000
POLL_SECONDS = 0.5
BATCH = 32


class LeaseLost(Exception):
    """The row was taken over by another worker (our lease ran out); nothing is committed."""


def worker_id() -> str:
    """Who holds a lease: host, process and a random part (unique per process start)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Stored:
    id: int
    new: bool  # False: the platform delivered this update before
    claimed: bool  # True: the caller holds it now and must handle it
    status: str
    passive: str | None = None


def _lock_user(session: Session, channel: str, user_key: str) -> None:
    """On PostgreSQL, serialize intake of one user's updates across processes (for the
    duration of the transaction), so "is an older one unfinished?" cannot race."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{channel}|{user_key}"}
        )


def _older_unfinished(session: Session, channel: str, user_key: str, before_id: int | None):
    condition = [
        InboxUpdate.channel == channel,
        InboxUpdate.user_key == user_key,
        InboxUpdate.status.in_(UNFINISHED),
    ]
    if before_id is not None:
        condition.append(InboxUpdate.id < before_id)
    return session.execute(select(InboxUpdate.id).where(*condition).limit(1)).first()


def store(
    session: Session,
    channel: str,
    key: str,
    user_key: str,
    payload: dict,
    *,
    claim_for: str | None = None,
    now: datetime | None = None,
    looked_up: bool = False,
) -> Stored:
    """Store one update in the caller's transaction (the caller commits, then acknowledges
    the platform). With `claim_for`, a new update is claimed for that worker at once if its
    user has nothing older unfinished; otherwise it waits for the worker in order.
    `looked_up`: the caller has just found no row for `key` in this transaction (a
    duplicate that arrives meanwhile is still caught by the unique key)."""
    now = now or utcnow()
    key, user_key = key[:160], user_key[:160]
    existing = None if looked_up else find(session, channel, key)
    if existing is not None:
        return Stored(existing.id, False, False, existing.status, existing.passive)
    _lock_user(session, channel, user_key)
    claim = claim_for is not None and not _older_unfinished(session, channel, user_key, None)
    status = HANDLING if claim else PENDING
    row_id = insert_or_ignore(
        session,
        InboxUpdate,
        channel=channel,
        key=key,
        user_key=user_key,
        payload=payload,
        status=status,
        owner=claim_for if claim else None,
        lease_until=now + LEASE if claim else None,
        attempts=0,
        received_at=now,
    )
    if row_id is None:  # another process stored the same update just now
        existing = find(session, channel, key)
        return Stored(existing.id, False, False, existing.status, existing.passive)
    return Stored(row_id, True, claim, status)


def find(session: Session, channel: str, key: str) -> InboxUpdate | None:
    """The stored update with this platform id, if any (a read: no write lock taken)."""
    return session.execute(
        select(InboxUpdate).where(InboxUpdate.channel == channel, InboxUpdate.key == key)
    ).scalar_one_or_none()


def claim_due(
    session: Session, channel: str, owner: str, *, limit: int = BATCH, now: datetime | None = None
) -> list[int]:
    """Claim the due rows of `channel` whose user has nothing older unfinished; commit."""
    now = now or utcnow()
    older = aliased(InboxUpdate)
    blocked = exists().where(
        older.channel == InboxUpdate.channel,
        older.user_key == InboxUpdate.user_key,
        older.id < InboxUpdate.id,
        older.status.in_(UNFINISHED),
    )
    due = or_(
        and_(
            InboxUpdate.status == PENDING,
            or_(InboxUpdate.not_before.is_(None), InboxUpdate.not_before <= now),
        ),
        and_(InboxUpdate.status == HANDLING, InboxUpdate.lease_until < now),
    )
    statement = (
        select(InboxUpdate.id)
        .where(InboxUpdate.channel == channel, due, ~blocked)
        .order_by(InboxUpdate.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=InboxUpdate)
    )
    ids = list(session.execute(statement).scalars())
    if ids:
        session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.id.in_(ids))
            .values(status=HANDLING, owner=owner, lease_until=now + LEASE)
        )
    session.commit()
    return ids


def load(session: Session, row_id: int) -> InboxUpdate | None:
    return session.get(InboxUpdate, row_id)


def finish(
    session: Session, row_id: int, owner: str, *, passive: str | None = None, status: str = DONE
) -> None:
    """Mark the row handled, in the transaction that did the handling; raise LeaseLost if
    another worker has taken it over (the caller's transaction must then roll back)."""
    result = session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.id == row_id, InboxUpdate.owner == owner, InboxUpdate.status == HANDLING)
        .values(status=status, handled_at=utcnow(), passive=passive, lease_until=None)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"inbox row {row_id} is no longer ours")


def skip(engine: Engine, row_id: int, owner: str, reason: str) -> None:
    """An update that can never be handled (unparsable): set aside, logged once."""
    with Session(engine) as session:
        with contextlib.suppress(LeaseLost):
            finish(session, row_id, owner, status=SKIPPED)
        session.execute(
            update(InboxUpdate).where(InboxUpdate.id == row_id).values(error=reason[:500])
        )
        session.commit()
    log.error("inbox: update %d skipped: %s", row_id, reason)


def release_after_failure(engine: Engine, row_id: int, owner: str, reason: str) -> str:
    """Handling raised: try again later with backoff, or skip after MAX_ATTEMPTS."""
    with Session(engine) as session:
        row = session.get(InboxUpdate, row_id)
        if row is None or row.owner != owner or row.status != HANDLING:
            return row.status if row else "gone"
        row.attempts += 1
        row.error = reason[:500]
        row.owner, row.lease_until = None, None
        if row.attempts >= MAX_ATTEMPTS:
            row.status = SKIPPED
            log.error(
                "inbox: update %d skipped after %d attempts: %s", row_id, row.attempts, reason
            )
        else:
            row.status = PENDING
            row.not_before = utcnow() + timedelta(seconds=min(2**row.attempts, 60))
        session.commit()
        return row.status


def prune(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete finished rows older than RETENTION (in batches); returns how many."""
    cutoff = (now or utcnow()) - RETENTION
    removed = 0
    while True:
        with Session(engine) as session:
            ids = select(InboxUpdate.id).where(
                InboxUpdate.status.in_((DONE, SKIPPED)), InboxUpdate.received_at < cutoff
            )
            batch = session.execute(ids.limit(PRUNE_BATCH)).scalars().all()
            if not batch:
                break
            session.execute(delete(InboxUpdate).where(InboxUpdate.id.in_(batch)))
            session.commit()
            removed += len(batch)
    if removed:
        log.info("inbox: pruned %d finished updates older than %s", removed, RETENTION)
    return removed


def backlog(engine: Engine, channel: str | None = None) -> int:
    """Unfinished rows (for logs and tests)."""
    with Session(engine) as session:
        statement = select(func.count()).select_from(InboxUpdate)
        statement = statement.where(InboxUpdate.status.in_(UNFINISHED))
        if channel is not None:
            statement = statement.where(InboxUpdate.channel == channel)
        return session.execute(statement).scalar_one()


Handler = Callable[[InboxUpdate, str], Awaitable[None]]


class InboxWorker:
    """Handles a channel's stored updates, `concurrency` at a time (each user in order)."""

    def __init__(
        self,
        engine: Engine,
        channel: str,
        handle: Handler,
        *,
        owner: str | None = None,
        concurrency: int = 8,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.handle = handle
        self.owner = owner or worker_id()
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task] = set()

    def notify(self) -> None:
        """Something was stored: look now instead of at the next poll."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self.wake.clear()  # before looking: anything stored from now on wakes us
                claimed = await self.run_once()
                if not claimed:
                    await self._wait(stop)
        finally:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def run_once(self) -> int:
        """Claim what is due and start handling it; returns how many rows were claimed."""
        try:
            ids = await asyncio.to_thread(self._claim)
        except SQLAlchemyError:
            log.exception("inbox: cannot claim %s updates; retrying", self.channel)
            return 0
        for row_id in ids:
            await self._slots.acquire()
            task = asyncio.create_task(self._handle_one(row_id))
            self._running.add(task)
            task.add_done_callback(self._done)
        return len(ids)

    async def drain(self) -> None:
        """Handle until nothing is due (tests, benches)."""
        while await self.run_once():
            await asyncio.gather(*self._running, return_exceptions=True)
        await asyncio.gather(*self._running, return_exceptions=True)

    def _claim(self) -> list[int]:
        with Session(self.engine) as session:
            return claim_due(session, self.channel, self.owner, limit=BATCH)

    def _done(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _handle_one(self, row_id: int) -> None:
        try:
            row = await asyncio.to_thread(self._load, row_id)
            if row is not None:
                await self.handle(row, self.owner)
        except LeaseLost as exc:
            log.warning("inbox: %s", exc)
        except Exception as exc:
            log.exception("inbox: handling %s update %d failed", self.channel, row_id)
            await asyncio.to_thread(
                release_after_failure, self.engine, row_id, self.owner, repr(exc)
            )
        finally:
            self.wake.set()  # the user's next update may be claimable now

    def _load(self, row_id: int) -> InboxUpdate | None:
        with Session(self.engine, expire_on_commit=False) as session:
            row = load(session, row_id)
            if row is not None:
                session.expunge(row)
            return row
