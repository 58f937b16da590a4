"""Active sends through the customer-service API against the fake WeChat server: the access
token, WeChat's error codes as delivery outcomes staff can see, rendering and splitting."""

from __future__ import annotations

import socket

import pytest
from sqlmodel import Session, select

from bot.channels.wechat_api import (
    CONTINUED,
    MAX_TEXT_BYTES,
    WeChatApi,
    WeChatSender,
    render,
    split_text,
)
from bot.messages import Attachment, Button, Incoming, Reply
from bot.models import LedgerEvent, OutboxMessage, User
from bot.runtime.delivery import DeliveryWorker
from bot.services import users
from bot.testing.fake_wechat import APPID, SECRET, FakeWeChatApi


@pytest.fixture
def fake_api():
    with FakeWeChatApi() as api:
        yield api


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def api(fake_api):
    clock = Clock()
    api = WeChatApi(fake_api.url, APPID, SECRET, clock=clock)
    api.clock = clock
    yield api
    await api.aclose()


@pytest.fixture
def sender(api, engine) -> WeChatSender:
    return WeChatSender(api, engine)


def queue(engine, openid: str, reply: Reply, source: str = "notice") -> int:
    with Session(engine) as session:
        user = users.get_or_create(session, "wechat", openid)
        row = OutboxMessage(
            user_id=user.id,
            channel="wechat",
            source=source,
            dedup_key=f"{source}:{openid}:{reply.text[:20]}",
            reply=reply.to_dict(),
        )
        session.add(row)
        session.commit()
        return row.id


def outbox_row(engine, row_id: int) -> OutboxMessage:
    with Session(engine) as session:
        return session.get(OutboxMessage, row_id)


def ledger_kinds(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(LedgerEvent.kind).order_by(LedgerEvent.id)))


# --- the access token ------------------------------------------------------------------------
async def test_token_is_fetched_once_and_reused(sender, fake_api):
    for n in range(3):
        assert (await sender.send("oA", Reply(f"第{n}条"))).status == "sent"
    assert fake_api.token_requests == 1
    assert fake_api.texts_to("oA") == ["第0条", "第1条", "第2条"]


async def test_token_is_fetched_again_shortly_before_it_expires(sender, api, fake_api):
    await sender.send("oA", Reply("一"))
    api.clock.now += 7200 - 301
    await sender.send("oA", Reply("二"))
    assert fake_api.token_requests == 1
    api.clock.now += 2  # within the last five minutes of its life
    await sender.send("oA", Reply("三"))
    assert fake_api.token_requests == 2


async def test_an_invalid_token_is_refreshed_and_the_send_retried(sender, fake_api):
    await sender.send("oA", Reply("一"))
    fake_api.invalidate_tokens()  # e.g. the secret was reset, or another server took a token
    outcome = await sender.send("oA", Reply("二"))
    assert outcome.status == "sent" and fake_api.token_requests == 2
    assert fake_api.texts_to("oA") == ["一", "二"]


async def test_a_wrong_secret_is_a_retry_naming_the_settings(fake_api):
    api = WeChatApi(fake_api.url, APPID, "wrong-secret")
    outcome = await WeChatSender(api).send("oA", Reply("一"))
    await api.aclose()
    assert outcome.status == "retry" and "PUFA_WECHAT_SECRET" in outcome.error
    assert fake_api.sent == []


# --- error codes as outcomes --------------------------------------------------------------------
async def test_outside_the_48_hour_window_staff_see_why(sender, fake_api, engine):
    fake_api.fail_for("oQuiet", 45015, "response out of time limit or subscription is canceled")
    row_id = queue(engine, "oQuiet", Reply("您的咨询已有答复"), source="adviser_reply")
    assert await DeliveryWorker(engine, sender).run_once() == 1
    row = outbox_row(engine, row_id)
    assert row.status == "failed" and "48 小时" in row.last_error and "45015" in row.last_error
    assert ledger_kinds(engine) == ["push_failed"]


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        (45047, "failed", "条数上限"),
        (43004, "unreachable", "取消关注"),
        (40003, "unreachable", "OpenID"),
        (-1, "retry", "暂时不可用"),
        (45009, "retry", "暂时不可用"),
        (44004, "failed", "44004"),
    ],
)
async def test_error_codes_become_outcomes(api, fake_api, code, status, words):
    fake_api.fail_next(code)
    outcome = await WeChatSender(api).send("oA", Reply("通知"))
    assert outcome.status == status and words in outcome.error


async def test_a_network_failure_is_retried(engine):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    api = WeChatApi(closed, APPID, SECRET)
    outcome = await WeChatSender(api, engine).send("oA", Reply("通知"))
    await api.aclose()
    assert outcome.status == "retry" and "网络错误" in outcome.error


# --- rendering -----------------------------------------------------------------------------------
async def test_pushed_options_are_numbered_and_a_digit_presses_them(
    sender, fake_api, services, engine
):
    with Session(engine) as session:
        users.get_or_create(session, "wechat", "oPush")
        session.commit()
    notice = Reply(
        "本周普法讲座周六上午九点开始。", (Button("使用帮助", "help"), Button("菜单", "menu"))
    )
    assert (await sender.send("oPush", notice)).status == "sent"
    assert fake_api.texts_to("oPush") == [
        "本周普法讲座周六上午九点开始。\n回复数字选择：\n1. 使用帮助\n2. 菜单"
    ]
    with Session(engine) as session:
        user = session.exec(select(User).where(User.external_id == "oPush")).one()
        assert [b["payload"] for b in user.offered_buttons] == ["help", "menu"]
    press = Incoming(channel="wechat", user_id="oPush", text="1", digit_buttons=True)
    assert "使用方法" in services.dispatcher.handle(press)[0].text


async def test_long_pushes_are_split_and_files_handled(sender, fake_api, tmp_path):
    text = "\n".join(f"第{n}条：" + "依法治理，人人有责。" * 20 for n in range(10))
    picture = tmp_path / "poster.jpg"
    picture.write_bytes(b"JPEG" * 100)
    reply = Reply(text, attachment=Attachment("image", "poster.jpg", path=str(picture)))
    assert (await sender.send("oA", reply)).status == "sent"
    texts = fake_api.texts_to("oA")
    assert len(texts) > 1 and all(len(t.encode()) <= MAX_TEXT_BYTES for t in texts)
    assert "\n".join(t.removesuffix(CONTINUED) for t in texts) == text
    assert fake_api.sent[-1]["msgtype"] == "image" and fake_api.uploads[0]["size"] > 400
    document = Reply("年度报告", attachment=Attachment("document", "report.pdf", path="/x.pdf"))
    await sender.send("oB", document)
    assert "文件“report.pdf”无法通过微信公众号发送" in fake_api.texts_to("oB")[0]
    missing = Reply("海报", attachment=Attachment("image", "gone.jpg", path=str(tmp_path / "no")))
    outcome = await sender.send("oC", missing)
    assert outcome.status == "failed" and "附件无法读取" in outcome.error


def test_split_text_keeps_every_character_within_the_limit():
    assert split_text("") == []
    assert split_text("短消息") == ["短消息"]
    one_line = "法" * 2000  # 6000 bytes and no line break
    pieces = split_text(one_line)
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    assert "".join(p.removesuffix(CONTINUED) for p in pieces) == one_line
    exact = "a" * MAX_TEXT_BYTES
    assert split_text(exact) == [exact]
    mixed = "\n".join(["abc😀" * 200, "法" * 700, "x"])
    pieces = split_text(mixed)
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    rejoined = "".join(p.removesuffix(CONTINUED) for p in pieces)
    assert rejoined.replace("\n", "") == mixed.replace("\n", "")  # a cut line has no break


def test_render_numbers_options_like_the_console():
    reply = Reply("请选择：", (Button("甲", "a"), Button("乙", "b")))
    assert render(reply) == "请选择：\n回复数字选择：\n1. 甲\n2. 乙"
    assert render(reply, 3) == "请选择：\n回复数字选择：\n3. 甲\n4. 乙"
    assert render(Reply("只有文字")) == "只有文字"
