"""Two real `bot.py run` processes on one database, serving WeChat webhooks together behind a
stand-in load balancer; one is killed (SIGKILL) in the middle of a burst of residents'
messages and of a broadcast.

On PostgreSQL both handle messages, one holds the delivery and scheduler roles and the other
takes them over when it dies. On SQLite (one process by design) the second process says in
its log that another process delivers, still answers its webhook, and takes the roles over
once the first is gone. Either way: every message answered once, every subscriber's notice
sent once (at most the rows whose platform call was under way at the kill are in doubt),
and the scheduler role taken over exactly once.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bot.models import OutboxMessage
from bot.services import publicity, users
from bot.testing import REPO
from bot.testing.fake_wechat import APPID, SECRET, TOKEN, FakeWeChatApi, WeChatSigner, message_xml
from bot.testing.processes import free_port, wait_until_listening
from bot.timeutil import utcnow

SIGNER = WeChatSigner()
RESIDENTS = [f"oMP{n:03d}" for n in range(120)]
SUBSCRIBERS = [f"oSub{n:03d}" for n in range(150)]
NOTICE = "【普法通知】12月4日国家宪法日，社区广场有宪法宣传活动。"


def start(tmp: Path, name: str, database_url: str, port: int, api_url: str) -> subprocess.Popen:
    folder = tmp / name
    folder.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(
        PUFA_DATABASE_URL=database_url,
        PUFA_WECHAT_TOKEN=TOKEN,
        PUFA_WECHAT_APPID=APPID,
        PUFA_WECHAT_SECRET=SECRET,
        PUFA_WECHAT_PORT=str(port),
        PUFA_WECHAT_API_URL=api_url,
    )
    log = (folder / "bot.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(REPO / "bot.py"), "run"],
        cwd=folder,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def seed_subscribers(engine) -> None:
    """Residents who subscribed earlier (the input of the broadcast, not a figure read)."""
    with Session(engine) as session:
        for openid in SUBSCRIBERS:
            user = users.get_or_create(session, "wechat", openid)
            publicity.subscribe(session, user, topics=["民法典"], channel="wechat", now=utcnow())
        session.commit()


def broadcast(tmp: Path, database_url: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment["PUFA_DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, str(REPO / "bot.py"), "notice", "send", "--text", NOTICE],
        cwd=tmp,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def post_with_failover(ports: list[int], openid: str, msg_id: int) -> str:
    """What WeChat and a load balancer do together: try a server, on a dead one try the
    next (WeChat resends the same message); the passive reply's content or 'success'."""
    xml = message_xml(openid, "text", Content="/help", MsgId=msg_id)
    last: Exception | None = None
    for attempt in range(6):
        port = ports[(msg_id + attempt) % len(ports)]
        params, body = SIGNER.request(xml)
        try:
            response = httpx.post(
                f"http://127.0.0.1:{port}/wechat", params=params, content=body, timeout=10
            )
        except httpx.HTTPError as exc:
            last = exc
            continue
        if response.status_code == 200:
            return (
                "success"
                if response.text == "success"
                else SIGNER.open_reply(response.text)["Content"]
            )
        last = AssertionError(f"{response.status_code} {response.text}")
    raise AssertionError(f"{openid}: no server answered: {last!r}")


def test_two_processes_share_the_work_and_survive_a_kill(tmp_path, database_url, engine):
    seed_subscribers(engine)
    with FakeWeChatApi() as api:
        ports = [free_port(), free_port()]
        first = start(tmp_path, "a", database_url, ports[0], api.url)
        wait_until_listening(first, ports[0])
        time.sleep(3)  # the first process takes the delivery and scheduler roles
        second = start(tmp_path, "b", database_url, ports[1], api.url)
        wait_until_listening(second, ports[1])
        try:
            broadcast(tmp_path, database_url)
            api.wait_for_sends(20, timeout=60)
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                futures = {
                    pool.submit(post_with_failover, ports, openid, n): openid
                    for n, openid in enumerate(RESIDENTS)
                }
                time.sleep(0.5)
                first.send_signal(signal.SIGKILL)  # mid-burst and mid-broadcast
                first.wait(timeout=30)
                passive = {futures[f]: f.result() for f in concurrent.futures.as_completed(futures)}
            settled = _wait_until_settled(api, engine, passive)
        finally:
            for process in (first, second):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            code = second.wait(timeout=60)
            first.wait(timeout=30)
    log_a = (tmp_path / "a" / "bot.log").read_text()
    log_b = (tmp_path / "b" / "bot.log").read_text()
    in_doubt, answers, notices = settled
    print(
        f"in doubt {in_doubt}; answers per resident {Counter(answers.values())}; "
        f"notices per subscriber {Counter(notices.values())}"
    )
    assert all(count == 1 for count in answers.values()), answers
    lost = [openid for openid, count in notices.items() if count == 0]
    assert all(count <= 1 for count in notices.values()), notices
    assert len(lost) <= in_doubt
    assert log_b.count("scheduler: this process has the role") == 1  # taken over once
    assert "scheduler: this process has the role" in log_a
    assert code == 0 and "Traceback" not in log_b, log_b


def _wait_until_settled(api, engine, passive: dict[str, str], timeout: float = 120.0):
    """(rows in doubt, answers per resident, notices per subscriber) once all is sent."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            rows = list(session.exec(select(OutboxMessage.status)))
        in_doubt = rows.count("in_doubt")
        unfinished = rows.count("pending") + rows.count("sending")
        answers = {
            openid: (passive[openid] != "success")
            + sum("使用方法" in text for text in api.texts_to(openid))
            for openid in RESIDENTS
        }
        notices = {
            openid: sum(NOTICE in text for text in api.texts_to(openid)) for openid in SUBSCRIBERS
        }
        done = unfinished == 0 and all(answers.values())
        if done or time.monotonic() > deadline:
            return in_doubt, answers, notices
        time.sleep(0.5)
