"""The Telegram channel: translation and rendering with PTB's own objects, offline.

Updates go the way live ones do: stored in the inbox, handled by the inbox worker, the
replies sent from the outbox by the delivery worker; the bot talks to the fake Bot API on
127.0.0.1, which records every call. Polling and webhook start-ups run against it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, func, select
from telegram import Update

from bot.app import build
from bot.channels import telegram as telegram_channel
from bot.channels.telegram import TelegramChannel, TelegramRateLimiter
from bot.channels.telegram_format import (
    MAX_TEXT,
    addressed_elsewhere,
    incoming_from_update,
    inline_keyboard,
    plan,
    split_text,
    utf16_len,
)
from bot.config import ConfigError, Settings
from bot.ledger import Kind
from bot.messages import Attachment, Button, Reply
from bot.models import ConversationState, LedgerEvent, User
from bot.routing import Router
from bot.runtime import inbox
from bot.runtime.delivery import DeliveryWorker
from bot.services.answers import result_replies
from bot.testing.fake_telegram import FakeBotAPI, RemoteFakeBotAPI
from bot.timeutil import utcnow
from handlers.start import MAIN_MENU

CHAT = 4242


@pytest.fixture
def fake():
    with FakeBotAPI() as server:
        yield server


def telegram_settings(database_url: str, fake: FakeBotAPI, **extra) -> Settings:
    return Settings(
        database_url=database_url,
        admins=["telegram:1000"],
        telegram_token=fake.token,
        telegram_api_url=fake.url,
        _env_file=None,
        **extra,
    )


@pytest.fixture
def tg_services(database_url, fake, engine, faq_store):
    settings = telegram_settings(database_url, fake)
    return build(settings, engine=engine, faq=faq_store, migrate=False)


@pytest.fixture
async def channel(tg_services):
    """A channel whose application is initialized (getMe done) but not receiving."""
    channel = TelegramChannel(tg_services)
    await channel.application.initialize()
    yield channel
    await channel.application.shutdown()


class SkipClock:
    """Real time, except that the delivery worker's waits between retries are skipped."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self):
        return utcnow() + timedelta(seconds=self.skipped)

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    async def sleep(self, seconds: float) -> None:
        self.skipped += max(seconds, 0.0)
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def live(channel: TelegramChannel):
    """The channel receiving, as `bot.py run` runs it: with its delivery worker."""
    stop = asyncio.Event()
    worker = DeliveryWorker(channel.services.engine, channel.sender)
    channel.on_queued = worker.wake.set
    await channel.start()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield channel
    finally:
        stop.set()
        await task
        await channel.stop()


async def feed(channel: TelegramChannel, update: dict) -> None:
    """As from polling or the webhook: stored, handled, the replies delivered."""
    await channel.receive([update])
    await settle(channel)


async def settle(channel: TelegramChannel) -> None:
    """Handle what is due in the inbox and deliver what that queued."""
    await channel.worker.drain()
    worker = DeliveryWorker(channel.services.engine, channel.sender, clock=SkipClock())
    try:
        await worker.drain()
    finally:
        await asyncio.to_thread(worker.close)


def ledger_count(engine, kind: str) -> int:
    with Session(engine) as session:
        statement = select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == kind)
        return session.exec(statement).one()


def user_row(engine, external_id: str) -> User | None:
    with Session(engine) as session:
        statement = select(User).where(User.channel == "telegram", User.external_id == external_id)
        return session.exec(statement).first()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- translation -----------------------------------------------------------------------------------
def translate(update: dict):
    return incoming_from_update(Update.de_json(update, None))


def test_text_and_commands_become_neutral_text_messages():
    fake = FakeBotAPI()
    incoming = translate(fake.text_update(CHAT, "房东不退押金怎么办", first_name="李华"))
    assert (incoming.channel, incoming.user_id, incoming.kind) == ("telegram", str(CHAT), "text")
    assert incoming.text == "房东不退押金怎么办"
    assert incoming.display_name == "李华" and incoming.message_id
    assert not incoming.digit_buttons  # Telegram shows real buttons
    command = translate(fake.text_update(CHAT, "/article@pufa_test_bot 1077"))
    assert command.is_command and command.command() == ("article", "1077")


def test_media_become_neutral_kinds_with_their_reference():
    fake = FakeBotAPI()
    photo = translate(fake.photo_update(CHAT, caption="看看这个合同"))
    assert (photo.kind, photo.text, photo.media_ref) == (
        "image",
        "看看这个合同",
        f"photo-{CHAT}-1280",
    )
    document = translate(fake.document_update(CHAT, file_name="租房合同.pdf"))
    assert document.kind == "file" and document.meta["file_name"] == "租房合同.pdf"
    voice = translate(fake.voice_update(CHAT, duration=7))
    assert voice.kind == "voice" and voice.meta["duration"] == 7
    sticker = translate(fake.sticker_update(CHAT, emoji="😀"))
    assert sticker.kind == "sticker" and sticker.meta["emoji"] == "😀"
    location = translate(fake.location_update(CHAT, 39.1, 117.2))
    assert location.kind == "location"
    assert (location.meta["latitude"], location.meta["longitude"]) == (39.1, 117.2)


def test_a_button_press_carries_its_payload_and_label():
    fake = FakeBotAPI()
    pressed = {
        "message_id": 9,
        "date": 0,
        "chat": fake.chat(CHAT),
        "text": "请选择：",
        "reply_markup": {"inline_keyboard": [[{"text": "❓ 使用帮助", "callback_data": "help"}]]},
    }
    incoming = translate(fake.callback_update(CHAT, "help", message=pressed))
    assert (incoming.kind, incoming.payload, incoming.text) == ("button", "help", "❓ 使用帮助")
    assert incoming.user_id == str(CHAT) and incoming.message_id == "9"


def test_group_messages_belong_to_the_person_who_wrote_them():
    fake = FakeBotAPI()
    incoming = translate(fake.text_update(-100123, "/help", from_id=77))
    assert incoming.user_id == "77" and incoming.meta["chat_id"] == -100123
    assert addressed_elsewhere("/help@other_bot", "pufa_test_bot")
    assert not addressed_elsewhere("/help@PUFA_test_bot", "pufa_test_bot")
    assert not addressed_elsewhere("/help", "pufa_test_bot")


def test_edits_service_messages_and_bots_are_not_a_users_doing():
    fake = FakeBotAPI()
    edited = {"update_id": 1, "edited_message": fake.message(CHAT, text="改过", edit_date=1)}
    joined = fake._update(message=fake.message(-100123, new_chat_members=[fake.user(5)], from_id=5))
    robot = fake._update(message={**fake.message(CHAT, text="hi"), "from": fake._bot_user()})
    assert translate(edited) is None
    assert translate(joined) is None
    assert translate(robot) is None


# --- rendering -------------------------------------------------------------------------------------
def test_long_text_is_split_at_paragraph_boundaries():
    paragraphs = [f"第{i}段：" + "民" * 900 for i in range(12)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text)
    assert len(chunks) > 1
    assert all(utf16_len(chunk) <= MAX_TEXT for chunk in chunks)
    assert "\n\n".join(chunks) == text  # nothing lost, cuts only between paragraphs
    for chunk in chunks:
        assert chunk.startswith("第") and chunk.endswith("民")


def test_oversized_lines_and_wide_characters_still_fit():
    line = "法" * 10_000
    assert "".join(split_text(line)) == line
    emoji = "⚖️🙂" * 2500  # characters outside the BMP count twice in Telegram's limit
    chunks = split_text(emoji)
    assert "".join(chunks) == emoji
    assert all(utf16_len(chunk) <= MAX_TEXT for chunk in chunks)
    lines = "\n".join("第一行内容" * 100 for _ in range(20))
    assert all(utf16_len(c) <= MAX_TEXT for c in split_text(lines))
    assert split_text("短消息") == ["短消息"]


def test_buttons_become_an_inline_keyboard_with_payloads_as_callback_data():
    markup = inline_keyboard(
        (Button("👍 有帮助", "fb:y:1:e"), Button("👎 没帮助", "fb:n:1:e"), *MAIN_MENU)
    )
    rows = [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]
    assert rows[0] == [("👍 有帮助", "fb:y:1:e"), ("👎 没帮助", "fb:n:1:e")]
    flat = [data for row in rows for _, data in row]
    assert flat == ["fb:y:1:e", "fb:n:1:e", *[b.payload for b in MAIN_MENU]]
    assert inline_keyboard(()) is None


def test_a_long_reply_keeps_its_buttons_on_the_last_message():
    reply = Reply("\n\n".join("段落" * 1000 for _ in range(5)), (Button("好的", "menu"),))
    parts = plan(reply)
    assert len(parts) == 3
    assert [p.markup is not None for p in parts] == [False, False, True]
    assert plan(Reply("", (Button("菜单", "menu"),)))[0].text == "请选择："
    assert plan(Reply("  ")) == []


def test_files_are_sent_with_their_caption_or_after_the_text():
    attachment = Attachment("document", "报告.csv", data=b"a,b\n1,2\n")
    short = plan(Reply("本月统计", attachment=attachment))
    assert [(p.kind, p.text) for p in short] == [("document", "本月统计")]
    long = plan(Reply("说明" * 600, (Button("好", "menu"),), attachment=attachment))
    assert [p.kind for p in long] == ["text", "document"] and long[-1].markup is not None


def test_private_chats_get_a_small_burst_then_one_message_per_second():
    limiter = TelegramRateLimiter()
    bucket = limiter.chat_limiter(CHAT)
    assert limiter.chat_limiter(str(CHAT)) is bucket
    assert limiter.chat_limiter(-100123) is None  # groups: AIORateLimiter's 20/min
    assert limiter.chat_limiter("@channel") is None

    async def take_three() -> bool:
        for _ in range(3):
            await bucket.acquire()
        return bucket.has_capacity()

    assert asyncio.run(take_three()) is False


# --- updates through the application -------------------------------------------------------------
async def test_start_renders_the_welcome_and_the_main_menu_keyboard(channel, fake):
    await feed(channel, fake.text_update(CHAT, "/start", first_name="王芳"))
    (message,) = fake.messages_to(CHAT)
    assert message.method == "sendMessage"
    assert "普法助手" in message.text and "王芳" in message.text
    assert "parse_mode" not in message.params  # plain text: nothing to escape
    assert [data for _, data in message.buttons] == [b.payload for b in MAIN_MENU]
    assert [label for label, _ in message.buttons] == [b.label for b in MAIN_MENU]


async def test_a_question_gets_the_faq_reply(channel, fake, tg_services):
    question = "房东不退押金怎么办"
    await feed(channel, fake.text_update(CHAT, question))
    expected = result_replies(tg_services.faq.matcher.match(question))
    sent = fake.messages_to(CHAT)
    assert [m.text for m in sent] == [r.text for r in expected]
    assert [[label for label, _ in m.buttons] for m in sent] == [
        [b.label for b in r.buttons] for r in expected
    ]


async def test_a_button_press_reaches_the_dispatcher_and_is_answered(channel, fake, tg_services):
    await feed(channel, fake.text_update(CHAT, "/start"))
    await feed(channel, fake.callback_update(CHAT, "help"))
    assert len(fake.callback_answers) == 1
    assert "使用方法" in fake.messages_to(CHAT)[-1].text
    assert ledger_count(tg_services.engine, Kind.IN_BUTTON) == 1


async def test_a_photo_gets_the_non_text_reply(channel, fake, tg_services):
    await feed(channel, fake.photo_update(CHAT))
    (message,) = fake.messages_to(CHAT)
    assert "只能看懂文字" in message.text
    assert ledger_count(tg_services.engine, Kind.IN_MEDIA) == 1


async def test_commands_for_another_bot_in_a_group_are_ignored(channel, fake):
    await feed(channel, fake.text_update(-100123, "/start@other_bot", from_id=77))
    await feed(channel, fake.text_update(-100123, "/start@pufa_test_bot", from_id=77))
    (message,) = fake.messages_to(-100123)  # replies go to the group
    assert "普法助手" in message.text


def _long_and_file_router() -> Router:
    router = Router("telegram-test")

    @router.command("long")
    def long(incoming, ctx):
        text = "\n\n".join(f"第{i}条说明：" + "内容" * 700 for i in range(6))
        return Reply(text, (Button("返回菜单", "menu"),))

    @router.command("file")
    def file(incoming, ctx):
        return [
            Reply("统计表", attachment=Attachment("document", "统计.csv", data=b"x,y\n1,2\n")),
            Reply("", attachment=Attachment("image", "海报.png", data=b"\x89PNG fake")),
        ]

    return router


async def test_long_replies_arrive_in_parts_with_the_keyboard_last(channel, fake, tg_services):
    tg_services.dispatcher.include(_long_and_file_router())
    await feed(channel, fake.text_update(CHAT, "/long"))
    sent = fake.messages_to(CHAT)
    assert len(sent) == 3
    assert all(utf16_len(m.text) <= MAX_TEXT for m in sent)
    assert [bool(m.buttons) for m in sent] == [False, False, True]
    assert sent[-1].buttons == [("返回菜单", "menu")]
    assert sent[0].text.startswith("第0条说明")


async def test_files_are_sent_as_documents_and_photos(channel, fake, tg_services):
    tg_services.dispatcher.include(_long_and_file_router())
    await feed(channel, fake.text_update(CHAT, "/file"))
    document, photo = fake.messages_to(CHAT)
    assert document.method == "sendDocument" and document.text == "统计表"
    assert document.file() == ("统计.csv", b"x,y\n1,2\n")
    assert photo.method == "sendPhoto" and photo.file() == ("海报.png", b"\x89PNG fake")


async def test_a_user_who_blocked_the_bot_is_marked_unreachable(channel, fake, caplog):
    await feed(channel, fake.text_update(CHAT, "/start"))
    fake.block(CHAT)
    with caplog.at_level(logging.INFO):
        await feed(channel, fake.text_update(CHAT, "/help"))
    assert user_row(channel.services.engine, str(CHAT)).unreachable
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert fake.attempts_to(CHAT)[-1].status == 403


async def test_blocking_and_unblocking_the_bot_is_recorded(channel, fake):
    await feed(channel, fake.text_update(CHAT, "/start"))
    await feed(channel, fake.blocked_update(CHAT, "kicked"))
    assert user_row(channel.services.engine, str(CHAT)).unreachable
    await feed(channel, fake.blocked_update(CHAT, "member"))
    assert not user_row(channel.services.engine, str(CHAT)).unreachable


async def test_network_errors_on_a_reply_are_retried(channel, fake):
    fake.fail(CHAT, 502, "Bad Gateway", times=2)
    await feed(channel, fake.text_update(CHAT, "/start"))
    assert [a.status for a in fake.attempts_to(CHAT)] == [502, 502, 200]
    assert "普法助手" in fake.messages_to(CHAT)[0].text


async def test_flood_control_is_waited_out_and_retried(channel, fake):
    fake.flood(CHAT, retry_after=1)
    await feed(channel, fake.text_update(CHAT, "/start"))
    refused, accepted = fake.attempts_to(CHAT)
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 1.0  # not before Telegram said


async def test_an_error_in_one_update_is_logged_retried_and_order_kept(channel, fake, caplog):
    real_handle = channel.dispatcher.handle
    calls = []

    def flaky(incoming, **options):
        calls.append(incoming)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real_handle(incoming, **options)

    channel.dispatcher.handle = flaky
    with caplog.at_level(logging.ERROR):
        await feed(channel, fake.text_update(CHAT, "/start"))
        await feed(channel, fake.text_update(CHAT, "/help"))
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)
    assert fake.messages_to(CHAT) == []  # /help waits for /start: one user's order is kept
    assert inbox.backlog(channel.services.engine, "telegram") == 2
    await asyncio.sleep(2.1)  # the failed update's first retry is due after 2 s
    await settle(channel)
    texts = [m.text for m in fake.messages_to(CHAT)]
    assert len(texts) == 2 and "普法助手" in texts[0] and "使用方法" in texts[1]
    assert inbox.backlog(channel.services.engine, "telegram") == 0


async def test_an_update_the_library_cannot_parse_is_skipped_once(channel, fake, caplog):
    poison = fake.text_update(CHAT, "/start")
    poison["message"]["date"] = "not a date"
    with caplog.at_level(logging.ERROR):
        await feed(channel, poison)
        await feed(channel, fake.text_update(CHAT + 1, "/help"))
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and str(poison["update_id"]) in skipped[0].getMessage()
    assert "使用方法" in fake.messages_to(CHAT + 1)[0].text
    assert inbox.backlog(channel.services.engine) == 0


# --- the sender (outbox) ----------------------------------------------------------------------------
async def test_sender_maps_telegram_answers_to_delivery_outcomes(channel, fake):
    sender = channel.sender
    assert sender.channel == "telegram" and sender.rate_per_second == 25.0
    assert (await sender.send(str(CHAT), Reply("通知", (Button("好", "menu"),)))).status == "sent"
    assert fake.messages_to(CHAT)[0].buttons == [("好", "menu")]

    fake.block(7)
    blocked = await sender.send("7", Reply("通知"))
    assert blocked.status == "unreachable" and "blocked" in blocked.error

    fake.fail(8, 400, "Bad Request: chat not found")
    assert (await sender.send("8", Reply("通知"))).status == "failed"

    fake.fail(9, 502, "Bad Gateway", times=2)
    first, second = [await sender.send("9", Reply("通知")) for _ in range(2)]
    assert first.status == second.status == "retry"
    assert 0 < first.retry_after < second.retry_after  # backoff
    assert (await sender.send("9", Reply("通知"))).status == "sent"

    assert (await sender.send("not-a-chat", Reply("通知"))).status == "failed"
    gone = Reply("文件", attachment=Attachment("document", "x.csv", path="/nonexistent/x.csv"))
    assert (await sender.send(str(CHAT), gone)).status == "failed"


async def test_sender_returns_flood_control_it_could_not_wait_out(tg_services, fake):
    channel = TelegramChannel(tg_services, rate_limited=False)
    await channel.application.initialize()
    try:
        fake.flood(CHAT, retry_after=7)
        outcome = await channel.sender.send(str(CHAT), Reply("通知"))
        assert (outcome.status, outcome.retry_after) == ("retry", 7.0)
    finally:
        await channel.application.shutdown()


async def test_sender_with_the_rate_limiter_waits_out_a_short_flood(channel, fake):
    fake.flood(CHAT, retry_after=1)
    assert (await channel.sender.send(str(CHAT), Reply("通知"))).status == "sent"
    assert [a.status for a in fake.attempts_to(CHAT)] == [429, 200]


async def test_sender_sends_to_many_chats_at_once_but_to_one_chat_in_order(channel, monkeypatch):
    active: dict[int, int] = {}
    most: dict[int, int] = {}
    order: list[str] = []

    async def slow_send(bot, chat_id, part):
        active[chat_id] = active.get(chat_id, 0) + 1
        most[chat_id] = max(most.get(chat_id, 0), active[chat_id])
        await asyncio.sleep(0.02)
        order.append(part.text)
        active[chat_id] -= 1

    monkeypatch.setattr(telegram_channel, "send_part", slow_send)
    sends = [channel.sender.send("1", Reply(f"第{n}条")) for n in range(5)]
    sends += [channel.sender.send(str(chat), Reply("其他")) for chat in (2, 3)]
    outcomes = await asyncio.gather(*sends)
    assert {o.status for o in outcomes} == {"sent"}
    assert most[1] == 1  # one chat: one message at a time …
    assert [t for t in order if t.startswith("第")] == [f"第{n}条" for n in range(5)]  # … in order
    assert order.index("其他") < order.index("第4条")  # other chats did not wait for it
    assert channel.sender.max_in_flight > 1


async def test_the_fake_server_also_runs_in_a_process_of_its_own(database_url, engine, faq_store):
    with RemoteFakeBotAPI() as remote:
        settings = telegram_settings(database_url, remote)
        services = build(settings, engine=engine, faq=faq_store, migrate=False)
        channel = TelegramChannel(services, rate_limited=False)
        async with live(channel):
            remote.push(remote.text_update(CHAT, "/start"))
            (welcome,) = await asyncio.to_thread(remote.wait_for_messages, CHAT, 1)
            assert [data for _, data in welcome.buttons] == [b.payload for b in MAIN_MENU]
            remote.flood(CHAT, retry_after=3)
            outcome = await channel.sender.send(str(CHAT), Reply("通知"))
            assert (outcome.status, outcome.retry_after) == ("retry", 3.0)
            assert [a.status for a in remote.attempts_to(CHAT)] == [200, 429]
            assert remote.chat_count() == 1 and remote.call_count("sendMessage") == 2


# --- starting and stopping ------------------------------------------------------------------------
async def test_polling_sets_the_chinese_menu_and_answers(tg_services, fake):
    channel = TelegramChannel(tg_services)
    async with live(channel):
        menu = {c["command"]: c["description"] for c in fake.commands["default"]}
        assert menu["start"] == "开始使用 / 主菜单" and menu["help"] == "使用帮助"
        assert "grant" not in menu  # residents' menu only
        fake.push(fake.text_update(CHAT, "/start"))
        (message,) = await asyncio.to_thread(fake.wait_for_messages, CHAT, 1)
        assert "普法助手" in message.text
    assert not channel.application.running
    assert fake.calls("getUpdates")[-1]["timeout"] == 0  # the last fetch was confirmed


async def test_each_users_updates_are_handled_in_order(tg_services, fake):
    router = Router("echo")

    @router.command("echo")
    def echo(incoming, ctx):
        return incoming.command()[1]

    tg_services.dispatcher.include(router)
    channel = TelegramChannel(tg_services, rate_limited=False)
    async with live(channel):
        for n in range(8):
            fake.push(fake.text_update(1001, f"/echo a{n}"))
            fake.push(fake.text_update(1002, f"/echo b{n}"))
        first = await asyncio.to_thread(fake.wait_for_messages, 1001, 8)
        second = await asyncio.to_thread(fake.wait_for_messages, 1002, 8)
    assert [m.text for m in first] == [f"a{n}" for n in range(8)]
    assert [m.text for m in second] == [f"b{n}" for n in range(8)]


async def test_webhook_mode_receives_with_the_secret_token(database_url, fake, engine, faq_store):
    port = free_port()
    settings = telegram_settings(
        database_url,
        fake,
        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
        telegram_webhook_port=port,
        telegram_webhook_secret="s3cret-token",
    )
    channel = TelegramChannel(build(settings, engine=engine, faq=faq_store, migrate=False))
    async with live(channel):
        assert fake.webhook == {
            "url": f"http://127.0.0.1:{port}/telegram/hook",
            "secret": "s3cret-token",
        }
        fake.push(fake.text_update(CHAT, "/start"))
        (message,) = await asyncio.to_thread(fake.wait_for_messages, CHAT, 1)
        assert "普法助手" in message.text
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                f"http://127.0.0.1:{port}/telegram/hook",
                json=fake.text_update(CHAT, "/help"),
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            )
        assert forged.status_code == 403
        assert fake.webhook_responses == [200]
        assert len(fake.messages_to(CHAT)) == 1  # the forged update was not handled


async def test_a_generated_secret_is_used_when_none_is_configured(database_url, fake):
    settings = telegram_settings(
        database_url, fake, telegram_webhook_url="https://bot.example.org/tg"
    )
    services = type("S", (), {"settings": settings, "dispatcher": None})()
    channel = TelegramChannel(services)
    assert channel.webhook_secret and len(channel.webhook_secret) >= 32


def test_a_malformed_webhook_secret_is_a_config_error(database_url, fake):
    settings = telegram_settings(
        database_url,
        fake,
        telegram_webhook_url="https://bot.example.org/tg",
        telegram_webhook_secret="has spaces!",
    )
    services = type("S", (), {"settings": settings, "dispatcher": None})()
    with pytest.raises(ConfigError, match="PUFA_TELEGRAM_WEBHOOK_SECRET"):
        TelegramChannel(services)


async def test_a_rejected_token_is_one_clear_error(tg_services):
    with FakeBotAPI(token="999:OTHER-token") as other:
        tg_services.settings.telegram_api_url = other.url
        channel = TelegramChannel(tg_services)
        with pytest.raises(ConfigError, match="PUFA_TELEGRAM_TOKEN 无效"):
            await channel.start()


async def test_an_unreachable_bot_api_is_one_clear_error(tg_services):
    tg_services.settings.telegram_api_url = f"http://127.0.0.1:{free_port()}"
    channel = TelegramChannel(tg_services)
    channel.start_attempts = 2
    with pytest.raises(ConfigError, match="无法连接 Telegram Bot API"):
        await channel.start()


# --- groups ---------------------------------------------------------------------------------------
GROUP = -100777


async def test_in_a_group_only_what_is_meant_for_the_bot_is_answered(channel, fake, tg_services):
    await feed(channel, fake.text_update(GROUP, "大家周末去哪里玩", from_id=501))
    await feed(channel, fake.text_update(GROUP, "房东不退押金怎么办", from_id=501))
    assert fake.messages_to(GROUP) == []  # members talking among themselves
    await feed(channel, fake.text_update(GROUP, "@pufa_test_bot 房东不退押金怎么办", from_id=501))
    (answer, *_) = fake.messages_to(GROUP)
    assert "押金" in answer.text and "@pufa_test_bot" not in answer.text
    assert ledger_count(tg_services.engine, Kind.IN_TEXT) == 1  # the chatter was not counted


async def test_cases_are_never_shown_in_a_group(channel, fake, tg_services):
    """An admin's /case and a resident's /mycases in a group: no phone, no description."""
    private = 502
    await feed(channel, fake.text_update(private, "/consult"))
    for command in ("/mycases", "/consult", "/cases", "/case ZS-2026-0001", "/roles", "/notice"):
        await feed(channel, fake.text_update(GROUP, command, from_id=1000))  # the admin
        await feed(channel, fake.text_update(GROUP, command, from_id=private))
    replies = [m.text for m in fake.messages_to(GROUP)]
    assert len(replies) == 12
    assert all("私聊" in text for text in replies), replies
    # the resident's open consultation dialogue is not continued from the group
    await feed(
        channel, fake.text_update(GROUP, "@pufa_test_bot 我家的电话是13800138000", from_id=private)
    )
    assert "13800138000" not in fake.messages_to(GROUP)[-1].text
    with Session(tg_services.engine) as session:
        state = session.exec(select(ConversationState)).all()
    assert state and all("13800138000" not in str(s.data) for s in state)


async def test_an_update_id_telegram_reuses_after_the_retention_is_answered(
    channel, fake, tg_services
):
    """Telegram picks update ids at random after a week without updates (and a new token
    starts another sequence): an old id must not swallow a new message for ever."""
    from bot.scheduler import PublicityScheduler

    first = fake.text_update(CHAT, "/start")
    await feed(channel, first)
    answered = len(fake.messages_to(CHAT))
    await feed(channel, first)  # a redelivery within the retention: recognised, not redone
    assert len(fake.messages_to(CHAT)) == answered

    def scheduler_at(days: float) -> PublicityScheduler:
        at = utcnow() + timedelta(days=days)
        return PublicityScheduler(tg_services.engine, tg_services.settings, clock=lambda: at)

    assert await scheduler_at(1).prune_inbox() == 0  # still inside the retention
    await feed(channel, first)
    assert len(fake.messages_to(CHAT)) == answered
    assert await scheduler_at(4).prune_inbox() == 1  # past it: the row is gone
    reused = {**fake.text_update(CHAT, "房东不退押金怎么办"), "update_id": first["update_id"]}
    await feed(channel, reused)
    assert len(fake.messages_to(CHAT)) > answered  # a new message, answered
    with Session(tg_services.engine) as session:
        (row,) = session.exec(select(inbox.InboxUpdate)).all()
    assert row.status == inbox.DONE and "押金" in str(row.payload)
    running = scheduler_at(0)
    await running.start(paused=True)
    try:
        assert running.scheduler.get_job("inbox-prune") is not None  # `bot.py run` prunes hourly
    finally:
        running.shutdown()


async def test_pruning_keeps_unfinished_updates_whatever_their_age(channel, fake, tg_services):
    await channel.receive([fake.text_update(CHAT, "房东不退押金怎么办")])  # stored, not handled
    assert inbox.backlog(tg_services.engine) == 1
    assert inbox.prune(tg_services.engine, now=utcnow() + timedelta(days=30)) == 0
    await settle(channel)  # still there to be answered
    assert inbox.backlog(tg_services.engine) == 0 and fake.messages_to(CHAT)


async def test_failing_getupdates_backs_off_and_intake_resumes(
    tg_services, fake, monkeypatch, caplog
):
    """A Bot API that keeps failing is retried after 1, 2, 4 … s (here scaled down), not in
    a tight loop; when it recovers, what was waiting is received and answered."""
    monkeypatch.setattr(telegram_channel, "POLL_BACKOFF_FIRST", 0.1)
    fake.fail_polling(502, "Bad Gateway", times=5)
    fake.push(fake.text_update(CHAT, "/start"))
    channel = TelegramChannel(tg_services, rate_limited=False)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram"):
        async with live(channel):
            (message,) = await asyncio.to_thread(fake.wait_for_messages, CHAT, 1, 20)
            elapsed = time.monotonic() - started
    assert "普法助手" in message.text
    delays = [
        float(r.getMessage().rsplit("retrying in ", 1)[1].split()[0])
        for r in caplog.records
        if "polling failed" in r.getMessage()
    ]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6]  # doubling, one line per failure
    assert elapsed >= sum(delays) - 0.05
    assert fake.call_count("getUpdates") <= 5 + 3  # the five failures, then a few polls
    assert [r.levelno for r in caplog.records if "polling failed" in r.getMessage()][-1] == (
        logging.ERROR
    )  # the fifth failure in a row is an error, not a warning
