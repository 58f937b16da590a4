"""A short-lived cache of computed statistics and charts for the console's pages.

A year's figures take about a second to aggregate from 100k ledger rows; the pages show
them from this cache, recomputed when older than `ttl` seconds (the page says when they
were computed). Downloads never use it: a file is always computed fresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlmodel import Session

from bot.services import export, stats
from bot.services.periods import Period

DEFAULT_TTL = 60.0


class FiguresCache:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._items: dict[tuple, tuple[float, object]] = {}

    def _get(self, key: tuple, make: Callable[[], object]):
        now = self.clock()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = make()
        with self._lock:
            self._items[key] = (now, value)
        return value

    def stats(self, session: Session, period: Period) -> stats.Stats:
        return self._get(
            ("stats", period.slug), lambda: stats.compute(session, period, lists=False)
        )

    def chart(self, session: Session, period: Period) -> bytes:
        return self._get(
            ("chart", period.slug), lambda: export.month_chart_png(self.stats(session, period))
        )

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
