"""Web console page times at a year's data: 100k ledger rows (the stats bench's generator,
loaded in bulk) and 1k cases, then 概览 (/), 咨询 (/cases), 统计 (/stats) and the chart,
each requested through the whole app (session cookie, role guard, templates), beside a
bare Starlette "hello" route in the same run — the framework's own floor.

    python bench/web_bench.py                 # SQLite (a temporary file)
    python bench/web_bench.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test

Figures are milliseconds, median and best of --repeat requests after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stats_bench  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from bot import db  # noqa: E402
from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.models import Case  # noqa: E402
from bot.services import cases as consultations  # noqa: E402
from bot.web import auth  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from bot.web.settings import WebSettings  # noqa: E402

PASSWORD = "bench password 123"
PAGES = ("/", "/cases", "/stats", "/stats/chart.png", "/work", "/litigation")
MODES = (  # figures_ttl → what a request meets
    (60.0, "figures fresh"),
    (0.001, "figures old, refreshed behind"),  # every request finds them old
    (0.0, "cache off: computed every time"),  # the floor a cache-less console would have
)
CASES = 1000


def load_cases(engine, count: int = CASES) -> None:
    now = datetime.now(UTC)
    rows = []
    for seq in range(1, count + 1):
        at = now - timedelta(hours=seq * 7)
        status = consultations.STATUSES[seq % 4]
        rows.append(
            {
                "number": consultations.format_number(2026, seq),
                "year": 2026,
                "seq": seq,
                "user_id": (seq % stats_bench.USERS) + 1,
                "channel": "telegram",
                "topic": consultations.TOPICS[seq % len(consultations.TOPICS)],
                "community": stats_bench.COMMUNITIES[seq % 3],
                "description": f"第 {seq} 件咨询的情况描述，" * 4,
                "photos": [],
                "status": status,
                "awaiting_info": False,
                "consent_at": at,
                "created_at": at,
                "updated_at": at,
                "first_answer_at": at + timedelta(hours=5)
                if status in ("answered", "closed")
                else None,
            }
        )
    with Session(engine) as session:
        session.execute(insert(Case), rows)
        session.commit()


def signed_in_client(app, engine, name: str) -> TestClient:
    with Session(engine) as session:
        account, _ = auth.create(session, name, "admin")
        account.password_hash = auth.HASHER.hash(PASSWORD)
        account.must_change = False
        session.commit()
    client = TestClient(app)
    html = client.get("/login").text
    csrf = html.split('name="csrf" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return client


def timings(client: TestClient, path: str, repeat: int) -> tuple[float, float]:
    assert client.get(path).status_code == 200, path  # warm-up (and a check)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(samples), min(samples)


def bare_client() -> TestClient:
    return TestClient(Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello"))]))


def run(name: str, url: str, rows: int, repeat: int, load) -> None:
    engine = db.make_engine(url)
    db.upgrade(engine)
    started = time.perf_counter()
    load(engine, rows)
    load_cases(engine)
    print(
        f"[{name}] loaded {rows:,} ledger rows and {CASES:,} cases in {time.perf_counter() - started:.1f} s"
    )
    services = build(Settings(database_url=url, _env_file=None), engine=engine, migrate=False)
    median, best = timings(bare_client(), "/", repeat)
    print(f"[{name}] {'bare Starlette hello':30} median {median:7.1f} ms  best {best:7.1f} ms")
    for number, (ttl, label) in enumerate(MODES):
        web = WebSettings(_env_file=None, secret="bench-secret-" + "x" * 20, figures_ttl=ttl)
        app = create_app(services, web)
        client = signed_in_client(app, engine, f"bench{number}")
        print(f"[{name}] -- {label}")
        for path in PAGES:
            median, best = timings(client, path, repeat)
            print(f"[{name}]    {path:28} median {median:7.1f} ms  best {best:7.1f} ms")
        app.state.web.figures.close()
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--pg", help="also run on this PostgreSQL URL (in a fresh schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(
            "sqlite",
            f"sqlite:///{folder}/bench.db",
            args.rows,
            args.repeat,
            stats_bench.load_sqlite,
        )
    if args.pg:
        url, drop = stats_bench.postgres_schema_url(args.pg)
        try:
            run("postgresql", url, args.rows, args.repeat, stats_bench.load_postgres)
        finally:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
