"""A consultation from a WeChat resident: the intake answered with digits over signed
webhook requests, the adviser's answer delivered through the customer-service API, and
the rating given by replying with the digit shown under it."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import Session, select

from bot.app import build
from bot.channels.wechat import WeChatChannel
from bot.models import Case, LedgerEvent
from bot.runtime.delivery import DeliveryWorker
from bot.services import cases
from bot.testing import Harness, texts
from bot.testing.fake_wechat import (
    AES_KEY,
    FakeWeChatApi,
    WeChatSigner,
    message_xml,
    wechat_settings,
)

RESIDENT = "oResidentWang"
SIGNER = WeChatSigner(aes_key=AES_KEY)


@pytest.fixture
def fake_api():
    with FakeWeChatApi() as api:
        yield api


@pytest.fixture
def wechat_services(database_url, engine, faq_store, fake_api):
    settings = wechat_settings(database_url, fake_api.url, ["console:admin"], aes_key=AES_KEY)
    return build(settings, engine=engine, faq=faq_store, migrate=False)


def digit_for(content: str, label_part: str) -> str:
    """The number shown before the option whose label contains `label_part`."""
    options = re.findall(r"^(\d+)\. (.+)$", content, flags=re.MULTILINE)
    for number, label in options:
        if label_part in label:
            return number
    raise AssertionError(f"no option {label_part!r} in:\n{content}")


class Resident:
    """A WeChat user whose messages arrive as WeChat posts them (safe mode)."""

    def __init__(self, client: httpx.AsyncClient, openid: str) -> None:
        self.client, self.openid, self.msg_id = client, openid, 5000

    async def say(self, text: str) -> str:
        self.msg_id += 1
        xml = message_xml(self.openid, "text", Content=text, MsgId=self.msg_id)
        params, body = SIGNER.request(xml, encrypted=True)
        response = await self.client.post("/wechat", params=params, content=body)
        assert response.status_code == 200 and response.text != "success"
        return SIGNER.open_reply(response.text)["Content"]

    async def choose(self, content: str, label_part: str) -> str:
        return await self.say(digit_for(content, label_part))


async def test_a_wechat_resident_consults_and_rates_the_answer(wechat_services, fake_api, engine):
    harness = Harness(wechat_services)
    assert "设为法律顾问" in texts(harness.say("admin", "/grant console:lawyer adviser"))
    channel = WeChatChannel(wechat_services)
    transport = httpx.ASGITransport(app=channel.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wechat.test") as client:
        wang = Resident(client, RESIDENT)
        menu = await wang.say("/start")
        consent = await wang.choose(menu, "咨询法律顾问")
        topics = await wang.choose(consent, "同意")
        communities = await wang.choose(topics, "房产物业")
        describe = await wang.choose(communities, "东风里社区")
        written = await wang.say("楼上装修把我家天花板弄漏水了，物业不管，我该找谁赔偿？")
        phone = await wang.choose(written, "描述完毕")
        summary = await wang.choose(phone, "在这里回复")
        done = await wang.choose(summary, "确认提交")
        assert describe and "确认提交" in summary
        number = cases.parse_number(done)
        assert number is not None, done

        notice = harness.queued("lawyer")
        claimed = harness.press("lawyer", "认领", notice)
        harness.press("lawyer", "回复", claimed)
        harness.say("lawyer", "可以要求楼上邻居赔偿维修费用，依据民法典第1165条。")

        worker = DeliveryWorker(engine, channel.sender)
        await worker.run_once()
        pushed = fake_api.texts_to(RESIDENT)
        answer = next(text for text in pushed if "第1165条" in text)
        assert number in answer and "回复数字选择：" in answer
        thanks = await wang.choose(answer, "满意")
        assert "谢谢您的评价（5 分）" in thanks
    await channel.api.aclose()

    with Session(engine) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        assert (case.channel, case.rating) == ("wechat", 5)
        kinds = session.exec(select(LedgerEvent.kind).where(LedgerEvent.channel == "wechat")).all()
    assert "consult_submitted" in kinds and "consult_rated" in kinds
