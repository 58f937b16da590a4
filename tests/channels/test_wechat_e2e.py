"""The real `python bot.py run` process serving WeChat over HTTP on 127.0.0.1, with the fake
WeChat API server standing in for api.weixin.qq.com."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bot.messages import Reply
from bot.models import LedgerEvent, OutboxMessage
from bot.services import users
from bot.testing import REPO
from bot.testing.fake_telegram import FakeBotAPI
from bot.testing.fake_wechat import (
    AES_KEY,
    APPID,
    SECRET,
    TOKEN,
    FakeWeChatApi,
    WeChatSigner,
    message_xml,
)

START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bot_env(database_url: str, port: int, api_url: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(
        PUFA_DATABASE_URL=database_url,
        PUFA_WECHAT_TOKEN=TOKEN,
        PUFA_WECHAT_APPID=APPID,
        PUFA_WECHAT_SECRET=SECRET,
        PUFA_WECHAT_AES_KEY=AES_KEY,
        PUFA_WECHAT_PORT=str(port),
        PUFA_WECHAT_API_URL=api_url,
    )
    return environment


def start_bot(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "bot.py"), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_listening(process: subprocess.Popen, port: int) -> None:
    """Wait for the webhook port to accept connections (or the process to die)."""
    give_up = time.monotonic() + START_TIMEOUT
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise AssertionError(f"bot exited early: {process.communicate()[1]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the WeChat webhook never started listening")


def seed_notice(engine, openid: str) -> int:
    """An outbox row for a WeChat resident, as an adviser's reply or a notice would be."""
    with Session(engine) as session:
        user = users.get_or_create(session, "wechat", openid)
        row = OutboxMessage(
            user_id=user.id,
            channel="wechat",
            source="notice:1",
            dedup_key=f"notice:1:{user.id}",
            reply=Reply("【普法通知】本周六上午九点，社区法律讲座。").to_dict(),
        )
        session.add(row)
        session.commit()
        return row.id


def test_bot_run_answers_wechat_and_delivers_the_outbox(tmp_path, engine, database_url):
    """WeChat and Telegram together in one process, one event loop."""
    row_id = seed_notice(engine, "oNotice")
    with FakeWeChatApi() as fake, FakeBotAPI() as telegram:
        port = free_port()
        env = bot_env(database_url, port, fake.url)
        env.update(PUFA_TELEGRAM_TOKEN=telegram.token, PUFA_TELEGRAM_API_URL=telegram.url)
        process = start_bot(tmp_path, env)
        try:
            wait_until_listening(process, port)
            url = f"http://127.0.0.1:{port}/wechat"
            plain, safe = WeChatSigner(), WeChatSigner(aes_key=AES_KEY)
            with httpx.Client(timeout=30) as client:
                echo = client.get(url, params={**plain.query(), "echostr": "hello-wechat"})
                assert echo.text == "hello-wechat"
                params, body = plain.request(message_xml("oE2E", "text", Content="/start", MsgId=1))
                refused = client.post(url, params=params, content=body)  # safe mode is on
                assert refused.status_code == 403
                params, body = safe.request(
                    message_xml("oE2E", "text", Content="/start", MsgId=1), encrypted=True
                )
                reply = safe.open_reply(client.post(url, params=params, content=body).text)
                assert reply["ToUserName"] == "oE2E" and "普法助手" in reply["Content"]
                assert "1. 📖 浏览民法典问答" in reply["Content"]
                xml = message_xml("oE2E", "text", Content="4", MsgId=2)  # ❓ 使用帮助
                params, body = safe.request(xml, encrypted=True)
                answer = safe.open_reply(client.post(url, params=params, content=body).text)
                assert "使用方法" in answer["Content"]
                forged = client.post(url, params={**params, "signature": "0" * 40}, content=body)
                assert forged.status_code == 403
            telegram.push(telegram.text_update(6001, "/start"))
            assert "普法助手" in telegram.wait_for_messages(6001, 1, timeout=60)[0].text
            sent = fake.wait_for_sends(1)
            assert sent[0]["touser"] == "oNotice"
            assert sent[0]["text"]["content"] == "【普法通知】本周六上午九点，社区法律讲座。"
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "refused (403)" in stderr  # the forged request left a log line
    with Session(engine) as session:
        assert session.get(OutboxMessage, row_id).status == "sent"
        channels = session.exec(select(LedgerEvent.channel).distinct()).all()
    assert set(channels) == {"wechat", "telegram"}  # one ledger for both
