"""Statistics at scale: generate a ledger of N rows (default 1,000,000), then time a year's
statistics (stats.compute) and the XLSX export, beside one plain `SELECT count(*)` over
the same table in the same run — the baseline any aggregation has to beat or approach.

    python bench/stats_bench.py                     # SQLite (a temporary file)
    python bench/stats_bench.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    TEST_DATABASE_URL=... python bench/stats_bench.py   # SQLite, then PostgreSQL

PostgreSQL runs in a schema of its own, dropped afterwards. Rows are loaded in bulk
(executemany on SQLite, COPY on PostgreSQL), then ANALYZE runs as it would on a database in
service. Timings are wall-clock seconds; each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot import db  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import export, periods, stats  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2025, 10, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2027, 4, 1, tzinfo=UTC) - FIRST).total_seconds())  # 18 months
KIND_WEIGHTS = {
    "in_text": 250, "in_command": 50, "in_button": 100, "in_media": 5, "in_event": 5,
    "out_reply": 300, "out_push": 100, "faq_answered": 60, "faq_suggested": 20,
    "faq_unanswered": 10, "faq_out_of_scope": 5, "faq_chitchat": 5, "faq_view": 40,
    "faq_article": 5, "feedback_helpful": 8, "feedback_unhelpful": 2,
    "consult_submitted": 4, "consult_claimed": 3, "consult_answered": 3, "consult_closed": 3,
    "consult_followup": 1, "consult_rated": 1, "notice_published": 1, "push_failed": 2,
    "push_unreachable": 1, "subscribe": 5, "unsubscribe": 1, "error": 1, "refused": 1,
}  # fmt: skip
CHANNELS = ("telegram", "wechat", "console")
COMMUNITIES = ("东风里社区", "平阳里社区", "华阳里社区", None)
TOPICS = ("婚姻家庭", "租赁", "继承", "相邻关系", "借款", "侵权", None)
BOOKS = ("总则", "物权", "合同", "人格权", "婚姻家庭", "继承", "侵权责任")
USERS = 20_000


def generate_rows(count: int, seed: int = 1) -> Iterator[tuple]:
    """(at, kind, channel, user_id, topic, book, community, ref, value) tuples."""
    rng = random.Random(seed)
    kinds = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()), k=count)
    for kind in kinds:
        at = FIRST + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        user = rng.randrange(1, USERS + 1)
        topical = kind.startswith(("faq_", "feedback_", "consult_", "notice_", "subscribe"))
        book = rng.choice(BOOKS) if kind in ("faq_answered", "faq_view") else None
        ref = rng.choice(("push:1", "push:2", "case:ZS-2026-0009")) if kind == "out_push" else None
        value = round(rng.uniform(0.1, 96), 2) if kind == "consult_answered" else None
        yield (
            at,
            kind,
            CHANNELS[user % 3],
            user,
            rng.choice(TOPICS) if topical else None,
            book,
            COMMUNITIES[user % 4],
            ref,
            value,
        )


def _users() -> Iterator[tuple]:
    now = datetime.now(UTC)
    for number in range(1, USERS + 1):
        role = "staff" if number % 50 == 0 else "resident"
        yield (
            number,
            CHANNELS[number % 3],
            f"u{number}",
            role,
            COMMUNITIES[number % 4],
            False,
            now,
            now,
        )


def _questions(count: int) -> Iterator[tuple]:
    rng = random.Random(2)
    for number in range(count):
        at = FIRST + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        status = rng.choice(("answered", "answered", "suggest", "none"))
        feedback = rng.choice((None, "helpful", "unhelpful")) if status == "answered" else None
        yield (at, "telegram", f"问题 {number}", status, feedback, False)


def _activities(count: int) -> Iterator[tuple]:
    rng = random.Random(3)
    now = datetime.now(UTC)
    for number in range(count):
        day = date(2025, 10, 1) + timedelta(days=rng.randrange(540))
        kind = rng.choice(("lecture", "study", "tour", "culture_spot"))
        yield (
            day,
            kind,
            f"活动 {number}",
            COMMUNITIES[number % 4],
            "民法典",
            rng.randrange(300),
            now,
            now,
            "cadres" if kind == "study" else "residents",
            rng.randrange(500),
            "[]",
        )


# --- loading -----------------------------------------------------------------------------------
USER_COLUMNS = "id, channel, external_id, role, community, unreachable, created_at, last_seen_at"
LEDGER_COLUMNS = "at, kind, channel, user_id, topic, book, community, ref, value"
QUESTION_COLUMNS = "at, channel, question, status, feedback, reviewed"
ACTIVITY_COLUMNS = (
    "day, kind, title, community, topic, attendance, created_at, updated_at, audience, materials, "
    "attachments"
)  # raw inserts bypass the model's defaults: every NOT NULL column is given


def _sqlite_time(moment: datetime) -> str:
    """The format SQLAlchemy's SQLite DateTime stores (naive UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


LEDGER_INDEXES = {
    "ix_ledger_kind_at": "ledger_events (kind, at)",
    "ix_ledger_at_user": "ledger_events (at, user_id)",
}


def _drop_ledger_indexes(cursor) -> None:
    """Loading into unindexed tables and indexing once afterwards is much faster."""
    for name in LEDGER_INDEXES:
        cursor.execute(f"DROP INDEX {name}")


def _create_ledger_indexes(cursor) -> None:
    for name, target in LEDGER_INDEXES.items():
        cursor.execute(f"CREATE INDEX {name} ON {target}")


def load_sqlite(engine: Engine, rows: int) -> None:
    def fix(row: tuple, positions: tuple[int, ...]) -> tuple:
        return tuple(
            _sqlite_time(v) if i in positions else (v.isoformat() if isinstance(v, date) else v)
            for i, v in enumerate(row)
        )

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        _drop_ledger_indexes(cursor)
        cursor.executemany(
            f"INSERT INTO users ({USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            (fix(u, (6, 7)) for u in _users()),
        )
        cursor.executemany(
            f"INSERT INTO ledger_events ({LEDGER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (fix(r, (0,)) for r in generate_rows(rows)),
        )
        cursor.executemany(
            f"INSERT INTO faq_questions ({QUESTION_COLUMNS}) VALUES (?,?,?,?,?,?)",
            (fix(q, (0,)) for q in _questions(rows // 50)),
        )
        cursor.executemany(
            f"INSERT INTO activities ({ACTIVITY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (fix(a, (6, 7)) for a in _activities(300)),
        )
        _create_ledger_indexes(cursor)
        raw.commit()
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA synchronous=NORMAL")
        raw.commit()
    finally:
        raw.close()


def load_postgres(engine: Engine, rows: int) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        _drop_ledger_indexes(cursor)
        for table, columns, source in (
            ("users", USER_COLUMNS, _users()),
            ("ledger_events", LEDGER_COLUMNS, generate_rows(rows)),
            ("faq_questions", QUESTION_COLUMNS, _questions(rows // 50)),
            ("activities", ACTIVITY_COLUMNS, _activities(300)),
        ):
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in source:
                    copy.write_row(row)
        cursor.execute("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
        _create_ledger_indexes(cursor)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


# --- measuring ---------------------------------------------------------------------------------
def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(name: str, engine: Engine, rows: int, year: int, repeat: int, out: Path) -> None:
    loader = load_sqlite if engine.dialect.name == "sqlite" else load_postgres
    started = time.perf_counter()
    loader(engine, rows)
    load_seconds = time.perf_counter() - started
    period = periods.of_year(year, ZONE)

    def count_all() -> int:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM ledger_events")).scalar_one()

    def compute() -> stats.Stats:
        with Session(engine) as session:
            return stats.compute(session, period)

    def read_all() -> int:  # one pass over every row (count(*) may only read an index)
        with engine.connect() as connection:
            statement = "SELECT count(*) FROM ledger_events WHERE channel <> '' OR ref <> ''"
            return connection.execute(text(statement)).scalar_one()

    count_seconds, total = best_of(repeat, count_all)
    scan_seconds, _ = best_of(repeat, read_all)
    stats_seconds, figures = best_of(repeat, compute)
    xlsx = out / f"{name}-{year}.xlsx"
    xlsx_seconds, _ = best_of(repeat, lambda: export.write(figures, "xlsx", xlsx))
    summary = figures.summary
    print(f"\n== {name}: {total:,} ledger rows (loaded in {load_seconds:.1f} s) ==")
    print(f"  baseline  SELECT count(*) FROM ledger_events   {count_seconds:8.3f} s")
    print(f"  (context) one pass reading every row           {scan_seconds:8.3f} s")
    print(
        f"  stats     {year} (summary + 6 breakdowns + lists) {stats_seconds:8.3f} s"
        f"   = {stats_seconds / count_seconds:5.1f} x count(*), "
        f"{stats_seconds / scan_seconds:4.1f} x one pass"
    )
    print(
        f"  xlsx      write {xlsx.name} ({xlsx.stat().st_size // 1024} KiB)  {xlsx_seconds:8.3f} s"
    )
    print(
        f"  check     {year}: messages in {summary['messages_in']:,}, residents "
        f"{summary['residents']:,}, answers {summary['answers_shown']:,}, median first answer "
        f"{summary['median_answer_hours']} h, unanswered listed {len(figures.unanswered_questions)}"
    )


def postgres_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A URL whose search_path is a fresh schema, and the function that drops it."""
    url = Settings(database_url=base, _env_file=None).database_url
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stats-bench-") as folder:
        out = Path(folder)
        if not args.no_sqlite:
            engine = db.make_engine(f"sqlite:///{out / 'bench.db'}")
            db.upgrade(engine)
            measure("SQLite", engine, args.rows, args.year, args.repeat, out)
            engine.dispose()
        if args.pg:
            url, drop = postgres_schema_url(args.pg)
            try:
                engine = db.make_engine(url)
                db.upgrade(engine)
                measure("PostgreSQL", engine, args.rows, args.year, args.repeat, out)
                engine.dispose()
            finally:
                drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
