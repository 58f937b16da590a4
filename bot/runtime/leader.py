"""Exclusive roles across processes: one delivery worker per channel, one scheduler.

Several `bot.py run` processes may serve one PostgreSQL database (behind a load balancer):
each of them stores and handles incoming updates (bot.runtime.inbox claims rows with
`FOR UPDATE SKIP LOCKED`), but a channel's deliveries are made by one process at a time,
because the platform's rate limit (Telegram's 30 messages/s) is per bot, not per process,
and one scheduler fires the schedules. A role is a PostgreSQL session-level advisory lock
held on a connection of its own: when the holder dies its connection closes and the lock
is free, and a standby process takes the role over at its next try (every STANDBY_SECONDS).
The new delivery leader marks the rows the dead one left `sending` as in doubt, exactly as
after a restart.

On SQLite (one process by design) the role is a lock on a file beside the database; a
second process that tries to deliver is told so in its log, once, and stays a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.db import advisory_key

log = logging.getLogger(__name__)

STANDBY_SECONDS = 2.0
HEALTH_SECONDS = 5.0


class Role:
    """One exclusive role; `acquire` never blocks."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._connection = None
        self._file = None
        self._key: int | None = None
        self._told = False

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._acquire_advisory()
        return self._acquire_file()

    def _acquire_advisory(self) -> bool:
        connection = self.engine.connect()
        try:
            schema = connection.execute(text("SELECT current_schema()")).scalar() or ""
            self._key = advisory_key(self.name, schema)
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar()
            connection.commit()
        except SQLAlchemyError:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _acquire_file(self) -> bool:
        path = self._lock_path()
        if path is None:  # an in-memory database belongs to this process alone
            self._file = True
            return True
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            if not self._told:
                log.warning(
                    "another process already runs %s on this SQLite database; this one will "
                    "not (SQLite serves one process; use PostgreSQL for several)",
                    self.name,
                )
                self._told = True
            return False
        self._file = handle
        return True

    def _lock_path(self) -> Path | None:
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            return None
        return Path(f"{database}.{self.name.replace(':', '-')}.lock")

    def healthy(self) -> bool:
        """Whether the role is still ours (the lock's connection is alive)."""
        if self._connection is None:
            return self.held
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except SQLAlchemyError:
            log.error("%s: lost the database connection that held the role", self.name)
            self._drop()
            return False

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
                self._connection.commit()
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
        if self._file not in (None, True):
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
                self._file.close()
        self._connection = self._file = None


async def run_as_leader(
    role: Role,
    stop: asyncio.Event,
    work: Callable[[asyncio.Event], Awaitable[object]],
    *,
    standby_seconds: float = STANDBY_SECONDS,
    health_seconds: float = HEALTH_SECONDS,
) -> None:
    """Run `work(stop_work)` whenever this process holds `role`, until `stop`.

    A standby tries again every `standby_seconds`; a leader checks every
    `health_seconds` that its lock is still held and stops the work if not."""
    while not stop.is_set():
        try:
            acquired = await asyncio.to_thread(role.acquire)
        except SQLAlchemyError:
            log.warning("%s: cannot reach the database to take the role", role.name)
            acquired = False
        if not acquired:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), standby_seconds)
            continue
        log.info("%s: this process has the role", role.name)
        stop_work = asyncio.Event()
        task = asyncio.create_task(work(stop_work), name=role.name)
        try:
            while not stop.is_set() and not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), health_seconds)
                if not await asyncio.to_thread(role.healthy):
                    break
        finally:
            stop_work.set()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.to_thread(role.release)
        if task.done() and task.exception() is not None:
            log.error("%s stopped with an error", role.name, exc_info=task.exception())
