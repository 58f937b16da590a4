"""Broadcast benchmark: one notice to many Telegram subscribers through the real outbox,
DeliveryWorker and TelegramSender, against the fake Bot API (tests/fake_telegram.py) on
127.0.0.1. Prints the achieved rate against the limit, duplicates and losses.

Scenarios (each on a fresh SQLite database):
  baseline  the same path with no limit (PTB's limiter off, our limit 10,000/s) on a few
            hundred recipients: the ceiling of the machinery on this machine.
  plain     the notice to --recipients at --rate.
  kill      the same, but the sending process gets SIGKILL once --kill-at of the
            recipients have been served, and a new process resumes.

The sending runs in a child process (`--worker`), so a kill -9 is real: the fake server
lives in this process and counts every call it received. Run from the repository root:

    python bench/broadcast_bench.py                      # 10,000 at 30/s: ~11 minutes
    python bench/broadcast_bench.py --recipients 600 --rate 30 --scenarios plain,kill
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, func, select  # noqa: E402

from bot import db  # noqa: E402
from bot.models import OutboxMessage, Subscriber, User  # noqa: E402
from bot.runtime.delivery import DEFAULT_MAX_IN_FLIGHT  # noqa: E402
from bot.services import publicity  # noqa: E402
from bot.testing.fake_telegram import DEFAULT_TOKEN, FakeBotAPI  # noqa: E402

FIRST_CHAT = 500_000
AUTHOR_CHAT = 42


# --- the sending process -------------------------------------------------------------------
class StampingSender:
    """The real sender, with the start time of each call appended to a file (so the
    pacing the worker produced can be told apart from jitter on the way to the server)."""

    def __init__(self, sender, path: str) -> None:
        self.sender = sender
        self.channel = sender.channel
        self.rate_per_second = sender.rate_per_second
        self.stamps = open(path, "a", buffering=1)  # noqa: SIM115  (lives as long as the worker)

    async def send(self, external_id, reply):
        self.stamps.write(f"{time.monotonic()}\n")  # the limiter's clock (system-wide)
        return await self.sender.send(external_id, reply)


async def work(args: argparse.Namespace) -> None:
    from bot.channels.telegram import TelegramSender, build_application
    from bot.config import Settings
    from bot.runtime.delivery import DeliveryWorker

    settings = Settings(
        database_url=args.database,
        telegram_token=DEFAULT_TOKEN,
        telegram_api_url=args.api,
        _env_file=None,
    )
    engine = db.make_engine(args.database)
    application = build_application(settings, rate_limited=not args.unthrottled)
    await application.initialize()
    sender = StampingSender(TelegramSender(application.bot, args.rate), args.stamps)
    worker = DeliveryWorker(engine, sender, max_in_flight=args.max_in_flight)
    doubtful = worker.recover()
    print(f"worker {os.getpid()}: started, {doubtful} row(s) in doubt", file=sys.stderr, flush=True)
    await worker.drain()
    worker.close()
    await application.shutdown()


def spawn_worker(
    database: str, api: str, rate: float, max_in_flight: int, unthrottled: bool, stamps: str
):
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--stamps",
        stamps,
        "--database",
        database,
        "--api",
        api,
        "--rate",
        str(rate),
        "--max-in-flight",
        str(max_in_flight),
    ]
    if unthrottled:
        command.append("--unthrottled")
    return subprocess.Popen(command, cwd=REPO)


# --- set-up --------------------------------------------------------------------------------
def prepare(database: str, first_chat: int, recipients: int) -> None:
    """Subscribers (chats first_chat …), a staff author and one notice fanned out."""
    engine = db.make_engine(database)
    db.upgrade(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        author = User(channel="telegram", external_id=str(AUTHOR_CHAT), role="staff")
        session.add(author)
        session.flush()
        people = [
            {
                "channel": "telegram",
                "external_id": str(first_chat + n),
                "role": "resident",
                "unreachable": False,
                "created_at": now,
                "last_seen_at": now,
            }
            for n in range(recipients)
        ]
        ids = list(session.scalars(insert(User).returning(User.id), people))
        subscribers = [
            {"user_id": i, "active": True, "daily": False, "created_at": now, "updated_at": now}
            for i in ids
        ]
        session.execute(insert(Subscriber), subscribers)
        session.commit()
        started = time.perf_counter()
        notice = publicity.create_notice(
            session,
            text="【停水通知】本周六 8:00—18:00 因管网检修停水，请提前储水。",
            audience=publicity.Audience("all"),
            author=author,
            now=now,
        )
        push = publicity.send_now(session, notice, now=now, channel="telegram")
        session.commit()
        seconds = time.perf_counter() - started
        print(f"  fan-out: {push.recipients} outbox rows in one transaction in {seconds:.2f} s")
    engine.dispose()


def outbox_status(database: str) -> Counter:
    engine = db.make_engine(database)
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.source.startswith("push:"))
            .group_by(OutboxMessage.status)
        )
        counts = Counter(dict(rows.all()))
    engine.dispose()
    return counts


# --- measuring -----------------------------------------------------------------------------
def per_window_rates(times: list[float], width: float = 10.0) -> list[float]:
    """Calls per second in consecutive `width`-second windows (the last, partial one and
    windows with no call at all, such as the pause after a kill, left out)."""
    if not times:
        return []
    counts = Counter(int((moment - times[0]) // width) for moment in times)
    full = range(int((times[-1] - times[0]) // width))
    return sorted(counts[index] / width for index in full if counts[index])


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most calls in any half-open window of `width` seconds (two pointers)."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Scenario:
    name: str
    first_chat: int
    recipients: int
    rate: float
    blocked: set[int]
    unthrottled: bool = False
    kill_at: float | None = None

    @property
    def chats(self) -> range:
        return range(self.first_chat, self.first_chat + self.recipients)


def measure(fake: FakeBotAPI, scenario: Scenario) -> dict:
    expected = set(scenario.chats) - scenario.blocked
    received = {chat: len(fake.messages_to(chat)) for chat in scenario.chats}
    times = sorted(m.at for chat in scenario.chats for m in fake.attempts_to(chat))
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
    return {
        "calls": len(times),
        "delivered": sum(1 for chat in expected if received[chat] >= 1),
        "duplicates": sum(1 for chat in scenario.chats if received[chat] > 1),
        "lost": sorted(chat for chat in expected if received[chat] == 0),
        "blocked calls": sum(len(fake.attempts_to(chat)) for chat in scenario.blocked),
        "rate": (len(times) - 1) / span if span else float("nan"),
        "span": span,
        "gap": gap,
        "rate without gap": (len(times) - 2) / (span - gap) if span > gap else float("nan"),
        "max 1 s": max_in_window(times),
        "max 10 s": max_in_window(times, 10.0) / 10,
        "windows": per_window_rates(times),
    }


def run_scenario(fake: FakeBotAPI, scenario: Scenario, database: str, max_in_flight: int) -> dict:
    limit = "none" if scenario.unthrottled else f"{scenario.rate:g}/s"
    print(f"\n== {scenario.name}: {scenario.recipients} recipients, limit {limit}")
    prepare(database, scenario.first_chat, scenario.recipients)
    for chat in scenario.blocked:
        fake.block(chat)
    reports_before = len(fake.messages_to(AUTHOR_CHAT))
    started = time.monotonic()
    stamps = database.removeprefix("sqlite:///") + ".stamps"
    spawn = (database, fake.url, scenario.rate, max_in_flight, scenario.unthrottled, stamps)
    worker = spawn_worker(*spawn)
    killed_after = None
    if scenario.kill_at is not None:
        target, base = int(scenario.recipients * scenario.kill_at), fake.sent_count()
        while fake.sent_count() - base < target and worker.poll() is None:
            time.sleep(0.005)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed_after = fake.sent_count() - base
        left = dict(sorted(outbox_status(database).items()))
        print(f"  kill -9 after {killed_after} accepted sends; outbox rows then: {left}")
        time.sleep(1.0)  # down for a moment, then a new process resumes
        worker = spawn_worker(*spawn)
    code = worker.wait()
    elapsed = time.monotonic() - started
    figures = measure(fake, scenario)
    status = outbox_status(database)
    reports = fake.messages_to(AUTHOR_CHAT)[reports_before:]
    print(f"  worker exit code {code}; wall time {elapsed:.1f} s")
    print(f"  outbox rows of the notice: {dict(sorted(status.items()))}")
    lost = figures["lost"]
    print(
        f"  calls to recipients {figures['calls']}; delivered {figures['delivered']} of "
        f"{scenario.recipients - len(scenario.blocked)} reachable; duplicates "
        f"{figures['duplicates']}; lost {len(lost)}{(' ' + str(lost[:5])) if lost else ''}; "
        f"{len(scenario.blocked)} blocked users called {figures['blocked calls']} time(s)"
    )
    print(
        f"  achieved {figures['rate']:.2f} msg/s over {figures['span']:.1f} s (limit {limit}); "
        f"most calls in any 1 s window: {figures['max 1 s']}, in any 10 s window: "
        f"{figures['max 10 s']:.1f}/s (arrival times at the server)"
    )
    windows = figures["windows"]
    if windows:
        print(
            f"  consecutive 10 s windows: slowest {windows[0]:.1f}/s, median "
            f"{windows[len(windows) // 2]:.1f}/s, fastest {windows[-1]:.1f}/s"
        )
    starts = [float(line) for line in Path(stamps).read_text().split()]
    print(
        f"  worker-side call starts: {len(starts)}; most in any 1 s window: "
        f"{max_in_window(starts)} (the worker's pacing, before the way to the server)"
    )
    if scenario.kill_at is not None:
        print(
            f"  longest pause (kill → resume) {figures['gap']:.1f} s; "
            f"rate outside it {figures['rate without gap']:.2f} msg/s"
        )
    text = reports[-1].text.replace("\n", " | ") if reports else "(none received)"
    print(f"  author's delivery report ({len(reports)}): {text}")
    return {
        **figures,
        "name": scenario.name,
        "status": status,
        "reports": len(reports),
        "worker max 1 s": max_in_window(starts),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument(
        "--rate", type=float, default=30.0, help="the limit, messages/s (default 30)"
    )
    parser.add_argument("--blocked", type=int, default=20, help="recipients who blocked the bot")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction served before kill -9")
    parser.add_argument("--baseline", type=int, default=400, help="recipients of the unlimited run")
    parser.add_argument("--scenarios", default="baseline,plain,kill")
    parser.add_argument(
        "--max-in-flight", type=int, default=DEFAULT_MAX_IN_FLIGHT, help="concurrent calls"
    )
    parser.add_argument("--database", help="(worker) database URL; default a fresh SQLite file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--stamps", help=argparse.SUPPRESS)
    parser.add_argument("--unthrottled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(work(args))
        return 0
    if args.database:
        parser.error("--database is for the worker; scenarios use fresh SQLite files")
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    fake = FakeBotAPI().start()
    fake.record_calls(False)
    print(f"fake Bot API on {fake.url}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    results = []
    with tempfile.TemporaryDirectory(prefix="pufa-bench-") as workdir:
        for index, name in enumerate(wanted):
            first = FIRST_CHAT + index * 1_000_000
            if name == "baseline":
                scenario = Scenario(name, first, args.baseline, 10_000.0, set(), unthrottled=True)
            elif name in ("plain", "kill"):
                step = max(1, args.recipients // max(1, args.blocked))
                blocked = {first + n * step for n in range(args.blocked)} if args.blocked else set()
                kill_at = args.kill_at if name == "kill" else None
                scenario = Scenario(
                    name, first, args.recipients, args.rate, blocked, kill_at=kill_at
                )
            else:
                parser.error(f"unknown scenario {name!r}")
            database = f"sqlite:///{Path(workdir) / f'{name}.db'}"
            results.append(run_scenario(fake, scenario, database, args.max_in_flight))
    fake.stop()
    print("\n== summary")
    for item in results:
        print(
            f"  {item['name']:8} rate {item['rate']:8.2f} msg/s  max/1s at server "
            f"{item['max 1 s']:4}, at worker {item['worker max 1 s']:4}  "
            f"duplicates {item['duplicates']}  lost {len(item['lost'])}  "
            f"in doubt {item['status'].get('in_doubt', 0)}  reports {item['reports']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
