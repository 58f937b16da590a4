"""Per-key locks inside one process (one user's messages one at a time, in arrival order)."""

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
