"""The WeChat webhook in-process: requests signed as WeChat signs them (plaintext and safe
mode), refused requests, translation, retries, the 5-second rule and text limits."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, func, select

from bot.app import build
from bot.channels.wechat import WeChatChannel
from bot.dispatcher import TEXT_STALE_BUTTON, TEXT_UNKNOWN_COMMAND
from bot.ledger import Kind
from bot.messages import Button, Reply
from bot.models import FaqQuestion, InboxUpdate, LedgerEvent, OutboxMessage, User
from bot.routing import Router
from bot.runtime.delivery import DeliveryWorker
from bot.testing.fake_wechat import (
    AES_KEY,
    APPID,
    SECRET,
    TOKEN,
    FakeWeChatApi,
    WeChatSigner,
    message_xml,
    wechat_settings,
    wechat_signature,
)

PLAIN = WeChatSigner()
SAFE = WeChatSigner(aes_key=AES_KEY)
PATH = "/wechat"


@pytest.fixture
def fake_api():
    with FakeWeChatApi() as api:
        yield api


@pytest.fixture
def wechat_services(database_url, engine, faq_store, fake_api):
    settings = wechat_settings(database_url, fake_api.url, ["wechat:oAdmin"])
    return build(settings, engine=engine, faq=faq_store, migrate=False)


class Slow:
    """A handler that blocks until the test lets it go (no sleeping, no timing)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.router = Router("slow")
        self.router.command("slow")(self._handler)

    def _handler(self, incoming, ctx):
        self.calls += 1
        self.entered.set()
        assert self.release.wait(30), "the test never released the slow handler"
        return Reply("慢慢来的回答", (Button("好的", "help"),))


@pytest.fixture
def slow(wechat_services) -> Slow:
    slow = Slow()
    wechat_services.dispatcher.include(slow.router)
    yield slow
    slow.release.set()


def make_channel(services, **options) -> WeChatChannel:
    return WeChatChannel(services, **options)


@pytest.fixture
async def channel(wechat_services):
    channel = make_channel(wechat_services)
    yield channel
    await channel.webhook.drain()
    await channel.api.aclose()


@pytest.fixture
async def safe_channel(database_url, engine, faq_store, fake_api):
    """A channel in safe mode (PUFA_WECHAT_AES_KEY set)."""
    settings = wechat_settings(database_url, fake_api.url, ["wechat:oAdmin"], aes_key=AES_KEY)
    channel = make_channel(build(settings, engine=engine, faq=faq_store, migrate=False))
    yield channel
    await channel.webhook.drain()
    await channel.api.aclose()


@pytest.fixture
async def safe_client(safe_channel):
    async with client_for(safe_channel) as client:
        yield client


def client_for(channel: WeChatChannel) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=channel.app, client=("203.0.113.7", 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://wechat.test")


@pytest.fixture
async def client(channel):
    async with client_for(channel) as client:
        yield client


async def post(client, xml: str, *, signer=PLAIN, encrypted=False, **options) -> httpx.Response:
    params, body = signer.request(xml, encrypted=encrypted, **options)
    return await client.post(PATH, params=params, content=body)


async def say(client, openid: str, text: str, msg_id: int, *, signer=PLAIN, encrypted=False):
    """Send a text message; the passive reply's content, or 'success'."""
    response = await post(
        client,
        message_xml(openid, "text", Content=text, MsgId=msg_id),
        signer=signer,
        encrypted=encrypted,
    )
    assert response.status_code == 200, response.text
    if response.text == "success":
        return "success"
    fields = signer.open_reply(response.text)
    assert fields["ToUserName"] == openid and fields["MsgType"] == "text"
    return fields["Content"]


def counts(engine, openid: str | None = None) -> dict[str, int]:
    statement = select(LedgerEvent.kind, func.count()).group_by(LedgerEvent.kind)
    if openid is not None:
        statement = statement.join(User, User.id == LedgerEvent.user_id).where(
            User.external_id == openid
        )
    with Session(engine) as session:
        return dict(session.exec(statement).all())


def queued(engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


async def deliver(channel: WeChatChannel) -> int:
    """What the runner's delivery worker does, once: send every due outbox row."""
    await channel.webhook.drain()
    return await DeliveryWorker(channel.webhook.engine, channel.sender).run_once()


# --- URL verification and signatures ----------------------------------------------------------
async def test_get_verification_echoes_echostr(client):
    params = {**PLAIN.query(), "echostr": "8836192763541"}
    response = await client.get(PATH, params=params)
    assert response.status_code == 200 and response.text == "8836192763541"


async def test_forged_or_stale_requests_are_refused_and_logged(client, engine, caplog):
    xml = message_xml("oEve", "text", Content="/start", MsgId=1)
    caplog.set_level(logging.WARNING, logger="bot.channels.wechat")
    forged = WeChatSigner(token="guessedToken")
    assert (await post(client, xml, signer=forged)).status_code == 403
    stale = int(time.time()) - 600
    assert (await post(client, xml, timestamp=stale)).status_code == 403
    params, body = PLAIN.request(xml)
    assert (await client.post(PATH, content=body)).status_code == 403  # no signature at all
    bad_get = await client.get(PATH, params={**forged.query(), "echostr": "x"})
    assert bad_get.status_code == 403 and "x" not in bad_get.text
    refusals = [r for r in caplog.records if "refused (403)" in r.getMessage()]
    assert len(refusals) == 4
    assert "203.0.113.7" in refusals[0].getMessage()
    assert counts(engine) == {}  # nothing was handled or counted


async def test_safe_mode_message_is_decrypted_and_answered_encrypted(safe_client):
    client = safe_client
    params, body = SAFE.request(
        message_xml("oSafe", "text", Content="/help", MsgId=7), encrypted=True
    )
    response = await client.post(PATH, params=params, content=body)
    assert "Encrypt" in response.text and "使用方法" not in response.text  # not in clear
    assert "使用方法" in SAFE.open_reply(response.text)["Content"]


async def test_safe_mode_forgeries_are_refused(safe_client, engine):
    client = safe_client
    xml = message_xml("oSafe", "text", Content="/help", MsgId=8)
    params, body = SAFE.request(xml, encrypted=True)
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    assert (await client.post(PATH, params=params, content=tampered)).status_code == 403
    other_account = SAFE.request(xml, encrypted=True, appid="wxSomeoneElse")
    assert (
        await client.post(PATH, params=other_account[0], content=other_account[1])
    ).status_code == 403
    wrong_key = WeChatSigner(aes_key="Z" * 43)
    assert (await post(client, xml, signer=wrong_key, encrypted=True)).status_code == 403
    assert counts(engine) == {}


async def test_encrypted_message_without_a_configured_key_is_an_error(wechat_services, caplog):
    channel = make_channel(wechat_services)
    async with client_for(channel) as client:
        response = await post(
            client, message_xml("o1", "text", Content="hi", MsgId=3), signer=SAFE, encrypted=True
        )
    assert response.status_code == 500
    assert "PUFA_WECHAT_AES_KEY" in caplog.text
    await channel.api.aclose()


# --- unsafe input ----------------------------------------------------------------------------
async def test_xml_with_entities_is_rejected(client, engine):
    external = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>oX</FromUserName>"
        "<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"
    )
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<xml><FromUserName>oX</FromUserName><MsgType>text</MsgType><Content>&b;</Content></xml>"
    )
    for xml in (external, laughs, "<xml><FromUserName>oX</From", "<html></html>"):
        assert (await post(client, xml)).status_code == 400, xml
    assert counts(engine) == {}


async def test_xml_with_entities_inside_safe_mode_is_rejected(safe_client, engine):
    external = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<xml><FromUserName>oX</FromUserName><MsgType>text</MsgType><Content>&x;</Content></xml>"
    )
    encrypted_attack = await post(safe_client, external, signer=SAFE, encrypted=True)
    assert encrypted_attack.status_code == 400
    assert counts(engine) == {}


async def test_oversize_body_is_rejected(client, engine):
    huge = message_xml("oBig", "text", Content="房" * 30000, MsgId=2)
    assert len(huge.encode()) > 64 * 1024
    assert (await post(client, huge)).status_code == 413

    async def trickle():  # no Content-Length: the limit holds while streaming
        yield huge.encode()

    params, _ = PLAIN.request(huge)
    assert (await client.post(PATH, params=params, content=trickle())).status_code == 413
    assert counts(engine) == {}


# --- translation -----------------------------------------------------------------------------
async def test_subscribe_gets_the_welcome_with_numbered_options(client, engine):
    response = await post(client, message_xml("oNew", "event", Event="subscribe", EventKey=""))
    content = PLAIN.open_reply(response.text)["Content"]
    assert "普法助手" in content
    assert "回复数字选择：\n1. 📖 浏览民法典问答\n2. 🧑‍⚖️ 咨询法律顾问" in content
    assert counts(engine, "oNew") == {Kind.IN_COMMAND: 1, Kind.OUT_REPLY: 1}


async def test_a_full_faq_flow_with_digits(client, engine, faq_store):
    entry = next(
        e for e in faq_store.kb.entries if faq_store.matcher.match(e.question).status == "answered"
    )
    answer = await say(client, "oFaq", entry.question, 100)
    assert entry.question in answer and "📘 依据" in answer
    assert "1. 👍 有帮助\n2. 👎 没帮助\n3. 🧑‍⚖️ 咨询法律顾问" in answer
    thanks = await say(client, "oFaq", "1", 101)
    assert "谢谢您的反馈" in thanks
    with Session(engine) as session:
        row = session.exec(select(FaqQuestion)).one()
        assert (row.channel, row.entry_id, row.feedback) == ("wechat", entry.id, "helpful")
    got = counts(engine, "oFaq")
    assert got[Kind.IN_TEXT] == 1 and got[Kind.IN_BUTTON] == 1
    assert got["faq_answered"] == 1 and got["feedback_helpful"] == 1


async def test_consultation_is_offered_and_its_option_is_pressed(client, engine, channel):
    menu = await say(client, "oCase", "/start", 200)
    assert "2. 🧑‍⚖️ 咨询法律顾问" in menu
    pressed = await say(client, "oCase", "2", 201)
    assert counts(engine, "oCase")[Kind.IN_BUTTON] == 1  # the digit became the button
    dispatcher = channel.webhook.services.dispatcher
    if "consult" in dispatcher.buttons:  # the consultation feature is installed
        assert TEXT_STALE_BUTTON not in pressed
    else:
        assert TEXT_STALE_BUTTON in pressed
    command = await say(client, "oCase", "/consult", 202)
    unknown = TEXT_UNKNOWN_COMMAND.format(name="consult")
    assert (unknown in command) == ("consult" not in dispatcher.commands)


async def test_menu_click_is_a_button_press(client, engine):
    response = await post(client, message_xml("oMenu", "event", Event="CLICK", EventKey="help"))
    assert "使用方法" in PLAIN.open_reply(response.text)["Content"]
    assert counts(engine, "oMenu")[Kind.IN_BUTTON] == 1


async def test_voice_uses_its_recognition_text(client, engine):
    recognized = message_xml(
        "oVoice", "voice", MediaId="m1", Format="amr", Recognition="帮助", MsgId=300
    )
    response = await post(client, recognized)
    assert "使用方法" in PLAIN.open_reply(response.text)["Content"]
    silent = message_xml("oVoice", "voice", MediaId="m2", Format="amr", Recognition="", MsgId=301)
    response = await post(client, silent)
    assert "只能看懂文字" in PLAIN.open_reply(response.text)["Content"]
    got = counts(engine, "oVoice")
    assert got[Kind.IN_TEXT] == 1 and got[Kind.IN_MEDIA] == 1


async def test_image_is_media_and_gets_a_clear_answer(client, engine):
    xml = message_xml("oPic", "image", PicUrl="http://mmbiz/x.jpg", MediaId="MEDIA9", MsgId=400)
    response = await post(client, xml)
    assert "只能看懂文字" in PLAIN.open_reply(response.text)["Content"]
    assert counts(engine, "oPic")[Kind.IN_MEDIA] == 1


async def test_unsubscribe_marks_the_user_unreachable(client, engine):
    await say(client, "oGone", "/start", 500)
    response = await post(client, message_xml("oGone", "event", Event="unsubscribe"))
    assert response.text == "success"
    with Session(engine) as session:
        user = session.exec(select(User).where(User.external_id == "oGone")).one()
        assert user.unreachable
        event = session.exec(select(LedgerEvent).where(LedgerEvent.kind == Kind.IN_EVENT)).one()
        assert (event.user_id, event.ref) == (user.id, "unsubscribe")
    await say(client, "oGone", "/start", 501)  # back again: reachable
    with Session(engine) as session:
        assert not session.exec(select(User).where(User.external_id == "oGone")).one().unreachable


async def test_automatic_reports_are_not_counted(client, engine):
    location = message_xml("oLoc", "event", Event="LOCATION", Latitude="39.1", Longitude="117.2")
    assert (await post(client, location)).text == "success"
    assert counts(engine) == {}


# --- retries and the 5-second rule -------------------------------------------------------------
async def test_a_retried_message_is_answered_the_same_and_counted_once(client, engine):
    xml = message_xml("oRetry", "text", Content="/help", MsgId=600, CreateTime=1700000000)
    bodies = {PLAIN.open_reply((await post(client, xml)).text)["Content"] for _ in range(3)}
    assert len(bodies) == 1 and "使用方法" in bodies.pop()
    assert counts(engine, "oRetry") == {Kind.IN_COMMAND: 1, Kind.OUT_REPLY: 1}
    event = message_xml("oRetry", "event", Event="subscribe", CreateTime=1700000001)
    for _ in range(3):
        assert "普法助手" in PLAIN.open_reply((await post(client, event)).text)["Content"]
    assert counts(engine, "oRetry") == {Kind.IN_COMMAND: 2, Kind.OUT_REPLY: 2}


async def test_a_retry_during_handling_waits_for_the_same_reply(wechat_services, slow, engine):
    channel = make_channel(wechat_services, reply_deadline=120)  # never the slow path here
    xml = message_xml("oWait", "text", Content="/slow", MsgId=700)
    async with client_for(channel) as client:
        first = asyncio.create_task(post(client, xml))
        assert await asyncio.to_thread(slow.entered.wait, 30)
        retry = asyncio.create_task(post(client, xml))  # WeChat's retry: a new signed query
        await asyncio.sleep(0.3)  # the retry is waiting for the first attempt
        assert not retry.done()
        slow.release.set()
        first_reply = PLAIN.open_reply((await first).text)["Content"]
        retry_reply = PLAIN.open_reply((await retry).text)["Content"]
    assert first_reply == retry_reply and "慢慢来的回答" in first_reply
    assert slow.calls == 1 and counts(engine, "oWait")[Kind.IN_COMMAND] == 1
    await channel.api.aclose()


async def test_a_slow_answer_goes_through_the_customer_service_api(
    wechat_services, slow, fake_api, engine
):
    channel = make_channel(wechat_services, reply_deadline=0.05)
    async with client_for(channel) as client:
        assert await say(client, "oSlow", "/slow", 800) == "success"
        assert await say(client, "oSlow", "/slow", 800) == "success"  # WeChat's retry
        slow.release.set()
        assert await deliver(channel) == 1
    assert fake_api.texts_to("oSlow") == ["慢慢来的回答\n回复数字选择：\n1. 好的"]
    assert slow.calls == 1
    got = counts(engine, "oSlow")
    # The late answer was counted once, as a reply, when it was decided; its delivery
    # through the outbox is not counted again as a push.
    assert got[Kind.IN_COMMAND] == 1 and got[Kind.OUT_REPLY] == 1
    assert Kind.OUT_PUSH not in got
    # The late answer's option can still be pressed with its digit.
    channel.webhook.reply_deadline = 4.0
    async with client_for(channel) as client:
        assert "使用方法" in await say(client, "oSlow", "1", 801)
    await channel.api.aclose()


# --- text limits and attachments ---------------------------------------------------------------
def _long_router() -> Router:
    router = Router("long")

    @router.command("long")
    def long_text(incoming, ctx):
        paragraphs = [f"第{n}段：" + "民法典保护民事主体的合法权益。" * 12 for n in range(1, 16)]
        return [
            Reply("\n".join(paragraphs), (Button("浏览", "browse"),)),
            Reply("还有问题吗？", (Button("帮助", "help"), Button("菜单", "menu"))),
        ]

    return router


async def test_long_answers_are_split_within_2048_bytes(wechat_services, fake_api, engine):
    wechat_services.dispatcher.include(_long_router())
    channel = make_channel(wechat_services)
    async with client_for(channel) as client:
        passive = await say(client, "oLong", "/long", 900)
        assert len(passive.encode()) <= 2048 and passive.endswith("（未完，见下条）")
        assert await deliver(channel) == len(queued(engine))
        rest = fake_api.texts_to("oLong")
        assert rest and all(len(text.encode()) <= 2048 for text in rest)
        whole = "\n".join(part.removesuffix("\n……（未完，见下条）") for part in [passive, *rest])
        for n in range(1, 16):
            assert f"第{n}段：" in whole
        # Options are numbered on across both replies, so every digit means what it shows.
        assert whole.endswith("还有问题吗？\n回复数字选择：\n2. 帮助\n3. 菜单")
        assert "使用方法" in await say(client, "oLong", "2", 901)
    await channel.api.aclose()


def _file_router(tmp_path) -> Router:
    router = Router("files")
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG fake image")

    @router.command("files")
    def files(incoming, ctx):
        from bot.messages import Attachment

        return [
            Reply("本月统计图：", attachment=Attachment("image", "chart.png", path=str(chart))),
            Reply("明细表：", attachment=Attachment("document", "report.xlsx", data=b"xlsx")),
        ]

    return router


async def test_files_follow_through_the_api_or_are_described(wechat_services, fake_api, tmp_path):
    wechat_services.dispatcher.include(_file_router(tmp_path))
    channel = make_channel(wechat_services)
    async with client_for(channel) as client:
        passive = await say(client, "oFiles", "/files", 950)
        assert "本月统计图" in passive and "文件“report.xlsx”无法通过微信公众号发送" in passive
        assert await deliver(channel) == 1
    assert fake_api.uploads[0]["type"] == "image" and fake_api.uploads[0]["multipart"]
    image = fake_api.sent[-1]
    assert (
        image["msgtype"] == "image"
        and image["image"]["media_id"] == fake_api.uploads[0]["media_id"]
    )
    await channel.api.aclose()


def test_settings_name_the_missing_or_bad_wechat_variable():
    from bot.cli import configured_channels
    from bot.config import ConfigError, load_settings

    with pytest.raises(
        ConfigError, match="PUFA_WECHAT_SECRET 无效.*缺少 PUFA_WECHAT_APPID、PUFA_WECHAT_SECRET"
    ):
        load_settings(wechat_token=TOKEN, _env_file=None)
    with pytest.raises(ConfigError, match="PUFA_WECHAT_AES_KEY 无效：应为公众号后台的 43 位"):
        load_settings(wechat_aes_key="short", _env_file=None)
    with pytest.raises(ConfigError, match="PUFA_WECHAT_TOKEN 无效"):
        load_settings(wechat_token="a b", wechat_appid=APPID, wechat_secret=SECRET, _env_file=None)
    with pytest.raises(ConfigError, match="PUFA_WECHAT_PATH 无效"):
        load_settings(wechat_path="wechat", _env_file=None)
    settings = load_settings(
        wechat_token=TOKEN, wechat_appid=APPID, wechat_secret=SECRET, _env_file=None
    )
    assert configured_channels(settings) == ["wechat"]
    assert (settings.wechat_host, settings.wechat_port, settings.wechat_path) == (
        "127.0.0.1",
        8080,
        "/wechat",
    )
    assert settings.wechat_api_url == "https://api.weixin.qq.com"
    assert configured_channels(load_settings(_env_file=None)) == []


async def test_a_busy_port_is_a_clear_configuration_error(wechat_services):
    from bot.config import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        wechat_services.settings.wechat_port = taken.getsockname()[1]
        channel = make_channel(wechat_services)
        with pytest.raises(
            ConfigError, match=r"^配置错误：PUFA_WECHAT_PORT 无效：无法监听 127\.0\.0\.1:"
        ):
            await channel.start()
    await channel.api.aclose()


async def test_start_serves_http_and_stop_ends_it(wechat_services):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        wechat_services.settings.wechat_port = probe.getsockname()[1]
    channel = make_channel(wechat_services)
    await channel.start()
    url = f"http://127.0.0.1:{wechat_services.settings.wechat_port}{PATH}"
    async with httpx.AsyncClient() as client:
        echo = await client.get(url, params={**PLAIN.query(), "echostr": "up"})
        assert echo.text == "up"
        await channel.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get(url, params={**PLAIN.query(), "echostr": "down"})


# --- safe mode, replays and restarts (durable intake) ------------------------------------------
def user_role(engine, openid: str) -> str | None:
    with Session(engine) as session:
        user = session.exec(select(User).where(User.external_id == openid)).first()
        return user.role if user else None


async def test_with_a_key_configured_plaintext_posts_are_refused(safe_client, engine):
    response = await post(safe_client, message_xml("oAdmin", "text", Content="/roles", MsgId=31))
    assert response.status_code == 403
    assert counts(engine) == {}


async def test_a_replayed_query_string_with_a_new_body_is_refused(client, engine):
    """The attack: reuse a genuine admin request's signed query with another body."""
    genuine = message_xml("oAdmin", "text", Content="/roles", MsgId=41)
    params, body = PLAIN.request(genuine)
    assert (await client.post(PATH, params=params, content=body)).status_code == 200
    forged = message_xml("oAdmin", "text", Content="/grant wechat:oAttacker staff", MsgId=42)
    replay = await client.post(PATH, params=params, content=forged.encode())
    assert replay.status_code == 403
    assert user_role(engine, "oAttacker") is None
    assert counts(engine, "oAdmin")[Kind.IN_COMMAND] == 1


async def test_replay_protection_and_dedup_hold_across_a_restart(
    wechat_services, database_url, engine, faq_store, fake_api
):
    first = make_channel(wechat_services)
    genuine = message_xml("oAdmin", "text", Content="/help", MsgId=51)
    params, body = PLAIN.request(genuine)
    async with client_for(first) as client:
        answer = PLAIN.open_reply((await client.post(PATH, params=params, content=body)).text)
    await first.api.aclose()
    settings = wechat_settings(database_url, fake_api.url, ["wechat:oAdmin"])
    second = make_channel(build(settings, engine=engine, faq=faq_store, migrate=False))
    forged = message_xml("oAdmin", "text", Content="/grant wechat:oX staff", MsgId=52)
    async with client_for(second) as client:
        replay = await client.post(PATH, params=params, content=forged.encode())
        retry = await client.post(PATH, params=params, content=body)  # WeChat's own retry
    assert replay.status_code == 403 and user_role(engine, "oX") is None
    assert PLAIN.open_reply(retry.text)["Content"] == answer["Content"]  # stored, not redone
    assert counts(engine, "oAdmin") == {Kind.IN_COMMAND: 1, Kind.OUT_REPLY: 1}
    await second.api.aclose()


async def test_timestamps_and_nonces_parse_strictly(client, engine):
    xml = message_xml("oT", "text", Content="/help", MsgId=61)
    for timestamp in ("9" * 400, "１７００００００００", "①②③", "-1", "1e9", ""):
        params, body = PLAIN.request(xml)
        params["timestamp"] = timestamp
        params["signature"] = wechat_signature(TOKEN, timestamp, params["nonce"])
        response = await client.post(PATH, params=params, content=body)
        assert response.status_code == 403, timestamp
    params, body = PLAIN.request(xml)
    params["nonce"] = "n" * 65
    params["signature"] = wechat_signature(TOKEN, params["timestamp"], params["nonce"])
    assert (await client.post(PATH, params=params, content=body)).status_code == 403
    assert counts(engine) == {}


async def test_a_message_stored_before_a_crash_is_answered_after_the_restart(
    wechat_services, fake_api, engine
):
    """Stored but never handled (the process died): the inbox worker answers it at start,
    through the customer-service API."""
    channel = make_channel(wechat_services)
    stored = channel.webhook._store(
        {"FromUserName": "oLost", "MsgType": "text", "Content": "/help", "MsgId": "71"},
        "m71",
        (int(time.time()), "nonce71"),
    )
    assert stored.new and stored.claimed
    with Session(engine) as session:  # the crash: our claim's lease ran out
        row = session.get(InboxUpdate, stored.id)
        row.lease_until = row.received_at - timedelta(seconds=1)
        session.commit()
    await channel.worker.drain()
    assert await deliver(channel) == 1
    assert "使用方法" in fake_api.texts_to("oLost")[0]
    assert counts(engine, "oLost") == {Kind.IN_COMMAND: 1, Kind.OUT_REPLY: 1}
    await channel.api.aclose()


async def test_a_database_outage_is_not_acknowledged_so_wechat_resends(client, engine, monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session as SqlSession

    def locked(self):
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    xml = message_xml("oBusy", "text", Content="/help", MsgId=81)
    monkeypatch.setattr(SqlSession, "commit", locked)
    refused = await post(client, xml)
    monkeypatch.undo()
    assert refused.status_code == 503  # not "success": WeChat tries again
    with Session(engine) as session:
        assert session.exec(select(InboxUpdate)).all() == []  # nothing half-stored
    again = await post(client, xml)
    assert again.status_code == 200 and again.text != "success", again.text
    assert "使用方法" in PLAIN.open_reply(again.text)["Content"]
    assert counts(engine, "oBusy") == {Kind.IN_COMMAND: 1, Kind.OUT_REPLY: 1}
