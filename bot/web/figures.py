"""The console's statistics and charts, served from a cache that is refreshed behind the
page rather than in front of it.

A year's figures take a few hundred milliseconds to aggregate from 100k ledger rows (more on
a loaded machine). A page never waits for that once the figures exist: a value younger
than `ttl` seconds is served as it is; an older one is served too — the page says when it
was computed and that it is being updated — while one background thread computes the new
value with its own database session. Only a period nobody asked for before is computed in
the request. `warm()` computes the overview's periods (today, this month, this year) when
the console starts, so the first visitor does not wait either. `ttl` 0 turns the cache off
(every request computes; tests and the bench's baseline use it). Downloads never use the
cache: a file is always computed fresh."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from bot.services import export, periods, stats
from bot.services.periods import Period
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL = 60.0


def overview_periods(zone: ZoneInfo, now: datetime | None = None) -> list[tuple[str, Period]]:
    """The periods of the 概览 page: today, this month, this year (local)."""
    today = (now or utcnow()).astimezone(zone).date()
    return [
        ("今天", periods.date_range(today, today, zone)),
        ("本月", periods.of_month(today.year, today.month, zone)),
        ("今年", periods.of_year(today.year, zone)),
    ]


@dataclass
class Cached:
    made_at: float  # the cache clock when the computation started
    value: object


class FiguresCache:
    def __init__(
        self,
        engine: Engine,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._items: dict[tuple, Cached] = {}
        self._refreshing: dict[tuple, Future] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pufa-figures")

    # --- what the pages ask for -------------------------------------------------------------
    def stats(self, period: Period) -> stats.Stats:
        return self._get(("stats", period.slug), lambda s: stats.compute(s, period, lists=False))

    def chart(self, period: Period) -> bytes:
        def make(session: Session) -> bytes:
            # the cached figures when there are any, else computed here: never waits on
            # the worker (a chart refresh runs on it)
            figures = self._peek(("stats", period.slug))
            if figures is None:
                figures = stats.compute(session, period, lists=False)
            return export.month_chart_png(figures)

        return self._get(("chart", period.slug), make)

    def is_stale(self, period: Period) -> bool:
        """Whether the page shows older figures while newer ones are being computed."""
        with self._lock:
            return ("stats", period.slug) in self._refreshing

    def warm(self, zone: ZoneInfo) -> None:
        """Compute the overview's periods in the background (when the console starts)."""
        if self.ttl <= 0:
            return
        for _, period in overview_periods(zone):
            key = ("stats", period.slug)
            self._refresh(key, lambda s, p=period: stats.compute(s, p, lists=False))

    # --- the cache --------------------------------------------------------------------------
    def _get(self, key: tuple, make: Callable[[Session], object]):
        if self.ttl <= 0:
            return self._compute(make)
        with self._lock:
            hit = self._items.get(key)
            pending = self._refreshing.get(key)
        if hit is None:
            if pending is not None:  # being computed already (warm-up): wait for it
                return pending.result()
            started = self.clock()
            value = self._compute(make)
            self._store(key, Cached(started, value))
            return value
        if self.clock() - hit.made_at >= self.ttl:
            self._refresh(key, make)
        return hit.value

    def _peek(self, key: tuple):
        with self._lock:
            hit = self._items.get(key)
        return hit.value if hit is not None else None

    def _refresh(self, key: tuple, make: Callable[[Session], object]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing[key] = self._worker.submit(self._refresh_now, key, make)

    def _refresh_now(self, key: tuple, make: Callable[[Session], object]):
        started = self.clock()
        try:
            value = self._compute(make)
        except Exception:  # the old figures stay (with their time shown); try again later
            log.exception("web: figures %s could not be refreshed", key)
            raise
        else:
            self._store(key, Cached(started, value))
            return value
        finally:
            with self._lock:
                self._refreshing.pop(key, None)

    def _compute(self, make: Callable[[Session], object]):
        with Session(self.engine) as session:
            return make(session)

    def _store(self, key: tuple, item: Cached) -> None:
        with self._lock:
            current = self._items.get(key)
            if current is None or current.made_at <= item.made_at:
                self._items[key] = item

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the background refreshes under way (tests; shutting down)."""
        with self._lock:
            pending = list(self._refreshing.values())
        for future in pending:
            with contextlib.suppress(Exception):  # a failure is logged by _refresh_now
                future.result(timeout=timeout)

    def clear(self) -> None:
        self.wait()
        with self._lock:
            self._items.clear()

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
