"""Updates per second through the Telegram channel, beside a bare python-telegram-bot echo bot.

Both bots long-poll a fake Bot API server on 127.0.0.1 (tests/fake_telegram.py, in a process
of its own so it takes no CPU time from the bot) and answer N text updates, one per chat,
queued at once; the clock runs from the queueing until every chat has its answer.

The channel's answers go through the whole core: the update stored in the inbox before it is
confirmed, the inbox worker, translation, the dispatcher in a worker thread, the FAQ matcher on real residents' questions (shared/eval/dev.jsonl), the user, FAQ
question and ledger rows in the database (SQLite in a temporary folder unless --database-url
is given), then the answer queued in the outbox and sent by the delivery worker at 30 messages/s (Telegram's
own ceiling, so the channel cannot go faster than that by design), rendered with inline
keyboards. The echo bot is PTB's minimal
`reply_text(text)` handler with the same update concurrency, unpaced. Both lines print the
messages sent per second too: the channel's figure beside its 30/s pace is how close it
runs to the ceiling.

Each pair is measured at every --latency (seconds the fake server takes per call): 0 shows
the CPU cost per update; 0.05 is closer to a real Bot API, where handling updates
concurrently is what keeps the rate up. Telegram's rate limiter is off in both bots: the fake
server has no flood limits, and the 30 messages/s cap would measure nothing but the cap.

    python bench/telegram_bench.py                       # 600 updates, latency 0 and 50 ms
    python bench/telegram_bench.py --updates 2000 --latency 0 --concurrency 1
    python bench/telegram_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlmodel import Session, func, select  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.app import build  # noqa: E402
from bot.channels.telegram import DEFAULT_CONCURRENCY, TelegramChannel  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.models import LedgerEvent  # noqa: E402
from bot.runtime.delivery import DeliveryWorker  # noqa: E402
from bot.testing.fake_telegram import RemoteFakeBotAPI  # noqa: E402
from faq.store import FaqStore  # noqa: E402

DEV_SET = REPO.parent / "shared" / "eval" / "dev.jsonl"
PACE = 30  # messages/s: Telegram's ceiling for a bot, the pace the delivery worker keeps


def questions(count: int) -> list[str]:
    """Residents' questions from the evaluation set (else the KB's own), cycled to `count`."""
    if DEV_SET.exists():
        lines = DEV_SET.read_text(encoding="utf-8").splitlines()
        pool = [json.loads(line)["question"] for line in lines if line.strip()]
    else:
        pool = [entry.question for entry in FaqStore().kb.by_id.values()]
    pool = [q for q in pool if len(q) <= 2000]
    return [pool[i % len(pool)] for i in range(count)]


async def measure(fake: RemoteFakeBotAPI, texts: list[str], first_chat: int, start, stop):
    """Queue one update per chat; (updates/s, messages sent/s) until every chat has been
    answered (an answer with its keyboard may be more than one message)."""
    await start()
    try:
        updates = [fake.text_update(first_chat + i, text) for i, text in enumerate(texts)]
        sent_before = fake.sent_count()
        began = time.perf_counter()
        fake.push_many(updates)
        await asyncio.to_thread(fake.wait_until, lambda: fake.chat_count() >= len(texts), 600.0)
        elapsed = time.perf_counter() - began
        sent = fake.sent_count() - sent_before
    finally:
        await stop()
    return len(texts) / elapsed, sent / elapsed


async def bench_echo(texts: list[str], concurrency: int, latency: float) -> float:
    with RemoteFakeBotAPI(latency=latency) as fake:
        application = (
            Application.builder()
            .token(fake.token)
            .base_url(f"{fake.url}/bot")
            .job_queue(None)
            .concurrent_updates(concurrency)
            .build()
        )

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await update.message.reply_text(update.message.text)

        application.add_handler(MessageHandler(filters.TEXT, echo))

        async def start() -> None:
            await application.initialize()
            await application.updater.start_polling(timeout=25)
            await application.start()

        async def stop() -> None:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()

        return await measure(fake, texts, 100_000, start, stop)


class ChannelRun:
    """The channel on one database; consecutive measurements use fresh chats (new users)."""

    def __init__(self, database_url: str, concurrency: int) -> None:
        self.database_url = database_url
        self.concurrency = concurrency
        self.first_chat = 1_000_000
        self.services = None

    async def measure(self, texts: list[str], latency: float) -> tuple[float, float, dict]:
        # a new fake server per measurement, its update ids continuing the last one's (a
        # reused id would be taken for a redelivery and dropped, as Telegram's would be)
        with RemoteFakeBotAPI(latency=latency, first_update_id=self.first_chat) as fake:
            settings = Settings(
                database_url=self.database_url,
                telegram_token=fake.token,
                telegram_api_url=fake.url,
                telegram_rate=PACE,  # the outbox paces answers at Telegram's own ceiling
                _env_file=None,
            )
            if self.services is None:
                self.services = build(settings)
                # Warm the matcher up (jieba loads its dictionary on first use) off the clock.
                warm = Incoming(channel="telegram", user_id="1", text=texts[0])
                self.services.dispatcher.handle(warm)
            self.services.settings = settings
            before = ledger_rows(self.services.engine)
            channel = TelegramChannel(
                self.services, rate_limited=False, concurrency=self.concurrency
            )
            first, self.first_chat = self.first_chat, self.first_chat + len(texts)
            stop = asyncio.Event()
            worker = DeliveryWorker(self.services.engine, channel.sender)
            channel.on_queued = worker.wake.set
            running: list[asyncio.Task] = []

            async def start() -> None:
                await channel.start()
                running.append(asyncio.create_task(worker.run(stop)))

            async def finish() -> None:
                stop.set()
                await asyncio.gather(*running)
                await channel.stop()

            rates = await measure(fake, texts, first, start, finish)
            per_update = (ledger_rows(self.services.engine) - before) / len(texts)
            return rates, per_update, answer_kinds(fake, first, len(texts))

    def close(self) -> None:
        if self.services is not None:
            self.services.engine.dispose()


def ledger_rows(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(LedgerEvent)).one()


def answer_kinds(fake: RemoteFakeBotAPI, first_chat: int, count: int) -> dict[str, int]:
    """What the residents got (a sanity check that the core really answered)."""
    kinds = {"answers": 0, "suggestion lists": 0, "other": 0}
    for chat in range(first_chat, first_chat + count):
        text = fake.messages_to(chat)[0].text
        if "依据：《民法典》" in text:
            kinds["answers"] += 1
        elif text.startswith("您是想问"):
            kinds["suggestion lists"] += 1
        else:
            kinds["other"] += 1
    return kinds


async def run(args: argparse.Namespace) -> None:
    latencies = [float(x) for x in args.latency.split(",") if x.strip()]
    texts = questions(args.updates)
    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite:///{folder}/bench.db"
        print(
            f"{args.updates} text updates (one per chat) by long polling from a fake Bot API on "
            f"127.0.0.1; {args.concurrency} updates handled at once; rate limiter off; "
            f"database {database_url.split(':', 1)[0]}"
        )
        channel = ChannelRun(database_url, args.concurrency)
        try:
            for latency in latencies:
                echo, echo_sent = await bench_echo(texts, args.concurrency, latency)
                (rate, sent), ledger_per_update, kinds = await channel.measure(texts, latency)
                replies = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
                print(f"Bot API latency {latency * 1000:.0f} ms:")
                print(
                    f"  bare python-telegram-bot echo handler    {echo:7.1f} updates/s"
                    f"  {echo_sent:6.1f} messages/s (no pacing)"
                )
                print(
                    f"  pufa-bot channel (FAQ answers + ledger)  {rate:7.1f} updates/s"
                    f"  {sent:6.1f} messages/s (paced at {PACE}/s, Telegram's ceiling)"
                    f"  ({ledger_per_update:.1f} ledger rows per update; replies: {replies})"
                )
        finally:
            channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=600, help="updates per measurement")
    parser.add_argument(
        "--latency", default="0,0.05", help="seconds per Bot API call, comma-separated"
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
