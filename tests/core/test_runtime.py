"""The runtime: one outbox writer (which de-duplicates) and one per-key lock class."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlmodel import Session, select

from bot.messages import Reply
from bot.models import OutboxMessage
from bot.routing import Context
from bot.runtime.locks import KeyedLocks
from bot.services import users

REPO = Path(__file__).resolve().parents[2]
WRITER = REPO / "bot" / "runtime" / "outbox.py"
LOCKS = REPO / "bot" / "runtime" / "locks.py"


def project_sources():
    for folder in ("bot", "handlers"):
        yield from REPO.joinpath(folder).rglob("*.py")


def test_only_the_outbox_module_writes_outbox_rows():
    writes = re.compile(r"(?<!class )OutboxMessage\(|insert\(OutboxMessage\)")
    writers = [p for p in project_sources() if writes.search(p.read_text("utf-8"))]
    assert writers == [WRITER]


def test_only_the_locks_module_makes_per_key_locks():
    per_key = re.compile(r"setdefault\([^\n]*asyncio\.Lock\(\)")  # a lock per dict key
    makers = [p for p in project_sources() if per_key.search(p.read_text("utf-8"))]
    assert makers == [LOCKS]


def test_a_handler_queueing_the_same_message_twice_queues_it_once(engine, settings):
    with Session(engine) as session:
        sender = users.get_or_create(session, "console", "lawyer")
        resident = users.get_or_create(session, "console", "bob")
        ctx = Context(session, sender, settings, None, "console", None)
        first = ctx.send_to(resident, Reply("答复"), source="case:ZS-2026-0001", key="answer")
        again = ctx.send_to(resident, Reply("答复"), source="case:ZS-2026-0001", key="answer")
        session.commit()
        rows = session.exec(select(OutboxMessage)).all()
    assert first is not None and again is None and len(rows) == 1


def test_keyed_locks_serialise_one_key_and_are_dropped_when_unused():
    locks = KeyedLocks()
    order: list[str] = []

    async def work(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(0)
            order.append(f"{name}-")

    async def main() -> None:
        await asyncio.gather(work("a", "1"), work("a", "2"), work("b", "3"))

    asyncio.run(main())
    assert order.index("1-") < order.index("2+")  # one key: one at a time, in order
    assert order.index("3+") < order.index("1-")  # another key does not wait
    assert len(locks) == 0


async def test_webhook_connections_send_without_waiting_for_delayed_acks():
    """asyncio turns Nagle's algorithm off only for sockets that say they are TCP; with proto
    0 every webhook answer and console page waited 40 ms for the client's delayed ACK."""
    import socket

    from bot.runtime.http import HttpServer, listen

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = listen("127.0.0.1", 0, "PUFA_TEST_PORT")
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    server = HttpServer(app, sock)
    await server.start("test")
    try:
        host, port = server.address
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        connections = server._server.server_state.connections  # uvicorn's open connections
        accepted = [c.transport.get_extra_info("socket") for c in connections]
        assert accepted and all(
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted
        )
        writer.close()
    finally:
        await server.stop()
