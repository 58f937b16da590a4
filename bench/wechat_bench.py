"""Residents' questions per second through the real WeChat webhook, beside a bare echo webhook.

N signed plaintext messages (residents' questions, one resident each) are posted C at a time
to the running `python bot.py run` (WeChat channel, fake WeChat API on 127.0.0.1) — with
durable intake: each message is stored in the inbox (with its nonce) before it is handled, the
answer committed with the ledger rows, the passive reply returned. The baseline is a bare
Starlette webhook in its own uvicorn process that parses the XML and echoes the text back in a
passive reply, posted to by the same client in the same run.

With --processes 2 (PostgreSQL only: --database-url postgresql+psycopg://…) two bot processes
serve the same database on two ports and the client alternates between them, as a load
balancer would.

    python bench/wechat_bench.py                                   # 400 messages, 32 at once
    python bench/wechat_bench.py --processes 2 --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bot.testing.fake_wechat import APPID, SECRET, TOKEN, FakeWeChatApi, WeChatSigner, message_xml  # noqa: E402

SIGNER = WeChatSigner()
DEV_SET = REPO.parent / "shared" / "eval" / "dev.jsonl"

ECHO_APP = """
import uvicorn
from defusedxml.ElementTree import fromstring
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    fields = {c.tag: c.text or "" for c in fromstring(await request.body())}
    xml = ("<xml><ToUserName><![CDATA[{0}]]></ToUserName><FromUserName><![CDATA[{1}]]>"
           "</FromUserName><CreateTime>0</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           "<Content><![CDATA[{2}]]></Content></xml>").format(
        fields["FromUserName"], fields.get("ToUserName", ""), fields.get("Content", ""))
    return Response(xml, media_type="application/xml")

app = Starlette(routes=[Route("/wechat", hook, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def questions(count: int) -> list[str]:
    lines = DEV_SET.read_text(encoding="utf-8").splitlines() if DEV_SET.exists() else []
    pool = [json.loads(line)["question"] for line in lines if line.strip()] or [
        "房东不退押金怎么办"
    ]
    return [pool[i % len(pool)] for i in range(count)]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on {port} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


async def post_all(ports: list[int], texts: list[str], concurrency: int, prefix: str) -> dict:
    """Post every message; (seconds, passive answers, 'success' answers)."""
    gate = asyncio.Semaphore(concurrency)
    outcome = {"passive": 0, "success": 0, "errors": 0}

    async def one(client: httpx.AsyncClient, n: int, text: str) -> None:
        xml = message_xml(f"{prefix}{n:05d}", "text", Content=text, MsgId=10_000_000 + n)
        params, body = SIGNER.request(xml)
        port = ports[n % len(ports)]
        async with gate:
            response = await client.post(
                f"http://127.0.0.1:{port}/wechat", params=params, content=body
            )
        if response.status_code != 200:
            outcome["errors"] += 1
        elif response.text == "success":
            outcome["success"] += 1
        else:
            outcome["passive"] += 1

    async with httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=concurrency)
    ) as client:
        began = time.perf_counter()
        await asyncio.gather(*(one(client, n, text) for n, text in enumerate(texts)))
        outcome["seconds"] = time.perf_counter() - began
    return outcome


def start_bot(folder: Path, database_url: str, port: int, api_url: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(
        PUFA_DATABASE_URL=database_url,
        PUFA_WECHAT_TOKEN=TOKEN,
        PUFA_WECHAT_APPID=APPID,
        PUFA_WECHAT_SECRET=SECRET,
        PUFA_WECHAT_PORT=str(port),
        PUFA_WECHAT_API_URL=api_url,
    )
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / f"bot-{port}.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(REPO / "bot.py"), "run"],
        cwd=folder,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_echo(texts: list[str], concurrency: int) -> dict:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", ECHO_APP.replace("PORT", str(port))])
    try:
        wait_listening(port, process)
        asyncio.run(post_all([port], texts[:32], concurrency, "oWarm"))
        return asyncio.run(post_all([port], texts, concurrency, "oEcho"))
    finally:
        stop([process])


def bench_bot(texts, concurrency, processes, database_url, folder: Path) -> dict:
    with FakeWeChatApi() as api:
        ports = [free_port() for _ in range(processes)]
        bots = [start_bot(folder, database_url, port, api.url) for port in ports]
        try:
            for port, bot in zip(ports, bots, strict=True):
                wait_listening(port, bot)
            asyncio.run(post_all(ports, texts[:32], concurrency, "oWarm"))  # jieba, caches
            return asyncio.run(post_all(ports, texts, concurrency, "oBot"))
        finally:
            stop(bots)


def report(name: str, outcome: dict, count: int, base: float | None = None) -> float:
    rate = count / outcome["seconds"]
    versus = f"  ({rate / base:.2f} of echo)" if base else ""
    print(
        f"  {name:<44} {rate:7.1f} messages/s{versus}; passive {outcome['passive']}, "
        f"'success' {outcome['success']}, errors {outcome['errors']}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()
    if args.processes > 1 and not (args.database_url or "").startswith("postgresql"):
        raise SystemExit("several processes need PostgreSQL: --database-url postgresql+psycopg://…")
    texts = questions(args.messages)
    with tempfile.TemporaryDirectory() as folder:
        print(f"{args.messages} residents' questions, {args.concurrency} at a time, plaintext mode")
        echo = report(
            "bare Starlette echo webhook", bench_echo(texts, args.concurrency), len(texts)
        )
        counts = sorted({1, args.processes})
        for processes in counts:
            database_url = args.database_url or f"sqlite:///{folder}/bench-{processes}.db"
            if database_url.startswith("postgresql"):
                database_url = _fresh_schema(database_url, processes)
            outcome = bench_bot(texts, args.concurrency, processes, database_url, Path(folder))
            label = f"pufa-bot, {processes} process{'es' if processes > 1 else ''} (durable intake)"
            report(label, outcome, len(texts), echo)


def _fresh_schema(url: str, tag: int) -> str:
    """A schema of its own for each measurement, so earlier rows do not count."""
    from sqlalchemy import create_engine, text

    schema = f"bench_wechat_{os.getpid()}_{tag}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


if __name__ == "__main__":
    main()
