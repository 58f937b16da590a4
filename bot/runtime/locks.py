"""Per-key locks for the channels: one user's updates are handled one at a time, in order
(their conversation state and replies depend on it), while other users' run at once.
Telegram keys by user or chat, WeChat by resident. (One process; a lock across processes
would be a PostgreSQL advisory lock.)"""

from __future__ import annotations

import asyncio
import contextlib


class KeyedLocks:
    """One asyncio.Lock per key (waiters served in arrival order), dropped when unused."""

    def __init__(self) -> None:
        self._locks: dict[object, list] = {}  # key → [lock, number of holders and waiters]

    @contextlib.asynccontextmanager
    async def hold(self, key: object):
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
