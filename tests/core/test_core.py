"""The dispatcher, conversation state, roles and the ledger, through the console harness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlmodel import Session, func, select

from bot import ledger
from bot.app import build
from bot.messages import Button, Incoming, Reply
from bot.models import ConversationState, LedgerEvent, User
from bot.payload import Payload
from bot.routing import Context, Router
from bot.testing import Harness, texts


def ledger_counts(engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(select(LedgerEvent.kind, func.count()).group_by(LedgerEvent.kind))
        return dict(rows.all())


def test_start_greets_with_the_main_menu(harness: Harness):
    replies = harness.say("alice", "/start")
    assert "普法助手" in replies[0].text
    labels = [b.label for b in replies[0].buttons]
    assert any("浏览" in label for label in labels)
    assert any("帮助" in label for label in labels)


def test_help_lists_only_the_commands_the_role_may_use(harness: Harness):
    resident = texts(harness.say("alice", "/help"))
    admin = texts(harness.say("admin", "/help"))
    assert "/start" in resident and "/grant" not in resident
    assert "/grant" in admin and "/roles" in admin


def test_bad_input_gets_a_helpful_chinese_reply(harness: Harness):
    assert "没有收到内容" in texts(harness.say("alice", "   "))
    assert "超过了 2000 字" in texts(harness.say("alice", "房" * 2001))
    assert "没有“/nonsense”这个命令" in texts(harness.say("alice", "/nonsense"))
    photo = Incoming(channel="console", user_id="alice", kind="image", media_ref="p1")
    assert "只能看懂文字" in texts(harness.services.dispatcher.handle(photo))
    stale = Incoming(channel="console", user_id="alice", kind="button", payload="gone:1")
    assert "失效" in texts(harness.services.dispatcher.handle(stale))


def test_a_digit_presses_the_offered_button(harness: Harness):
    harness.say("alice", "/start")
    menu = harness.say("alice", "4")  # ❓ 使用帮助
    assert "使用方法" in menu[0].text
    # A number that matches no offered button is ordinary text, not a crash.
    assert harness.say("alice", "99")


def test_resident_cannot_grant_and_nothing_changes(harness: Harness, engine):
    before = ledger_counts(engine)
    reply = texts(harness.say("mallory", "/grant console:mallory staff"))
    assert "只有管理员可以使用" in reply
    with Session(engine) as session:
        user = session.exec(select(User).where(User.external_id == "mallory")).one()
        assert user.role == "resident"
        assert session.exec(select(User).where(User.role == "staff")).first() is None
    after = ledger_counts(engine)
    assert after.get("role_granted", 0) == before.get("role_granted", 0)


def test_admin_grants_lists_and_revokes_roles(harness: Harness, engine):
    assert "设为法律顾问" in texts(harness.say("admin", "/grant console:lawyer adviser"))
    assert "设为工作人员" in texts(harness.say("admin", "/grant telegram:42 staff"))
    roles = texts(harness.say("admin", "/roles"))
    assert "console:lawyer" in roles and "telegram:42" in roles and "console:admin" in roles
    assert "用法" in texts(harness.say("admin", "/grant lawyer boss"))
    assert "撤销" in texts(harness.say("admin", "/revoke console:lawyer"))
    with Session(engine) as session:
        lawyer = session.exec(select(User).where(User.external_id == "lawyer")).one()
        assert lawyer.role == "resident"
    assert "没有可撤销" in texts(harness.say("admin", "/revoke console:nobody"))


def test_admin_role_comes_only_from_configuration(harness: Harness, engine):
    harness.say("admin", "/start")
    assert "PUFA_ADMINS" in texts(harness.say("admin", "/grant console:admin staff"))
    with Session(engine) as session:
        admin = session.exec(select(User).where(User.external_id == "admin")).one()
        assert admin.role == "admin"


def test_ledger_has_one_row_per_inbound_and_per_outbound_message(harness: Harness, engine):
    lines = ["/start", "/help", "房东不退押金怎么办", "/nonsense", ""]
    replies = [harness.say("bob", line) for line in lines]
    button = harness.services.dispatcher.handle(
        Incoming(channel="console", user_id="bob", kind="button", payload="help")
    )
    counts = ledger_counts(engine)
    inbound = sum(counts.get(kind, 0) for kind in ledger.INBOUND_KINDS)
    assert inbound == len(lines) + 1
    assert counts[ledger.Kind.IN_BUTTON] == 1
    assert counts[ledger.Kind.IN_COMMAND] == 3
    assert counts[ledger.Kind.OUT_REPLY] == sum(len(r) for r in replies) + len(button)


def test_a_failing_handler_is_answered_and_still_counted(services, engine):
    router = Router("broken")

    @router.command("boom")
    def boom(incoming, ctx):
        raise RuntimeError("kaboom")

    services.dispatcher.include(router)
    replies = services.dispatcher.handle(Incoming(channel="console", user_id="x", text="/boom"))
    assert "出了点问题" in replies[0].text
    counts = ledger_counts(engine)
    assert (
        counts[ledger.Kind.IN_COMMAND] == 1
        and counts[ledger.Kind.OUT_REPLY] == 1
        and counts["error"] == 1
    )


@dataclass(frozen=True)
class CounterButton(Payload):
    prefix: ClassVar[str] = "counter"
    action: str


def _counter_router() -> Router:
    """A two-step flow used to show that state lives in the database."""
    router = Router("counter")

    @router.command("count")
    def begin(incoming: Incoming, ctx: Context) -> Reply:
        ctx.set_state("counter", "first", {"seen": []})
        return Reply("第一个数？", (Button("取消", CounterButton("cancel").pack()),))

    @router.flow("counter")
    def step(incoming: Incoming, ctx: Context) -> str:
        seen = [*ctx.state.data["seen"], incoming.text]
        if ctx.state.step == "first":
            ctx.set_state("counter", "second", {"seen": seen})
            return "第二个数？"
        ctx.clear_state()
        return f"收到：{'、'.join(seen)}"

    @router.button(CounterButton)
    def cancel(incoming: Incoming, ctx: Context) -> str:
        ctx.clear_state()
        return "已取消"

    return router


def test_conversation_state_survives_a_process_restart(settings, database_url, faq_store):
    from bot import db

    first_engine = db.make_engine(database_url)
    first = build(settings, engine=first_engine, faq=faq_store)
    first.dispatcher.include(_counter_router())
    Harness(first).say("carol", "/count")
    Harness(first).say("carol", "7")
    first_engine.dispose()  # the process ends

    second_engine = db.make_engine(database_url)
    second = build(settings, engine=second_engine, faq=faq_store)
    second.dispatcher.include(_counter_router())
    assert texts(Harness(second).say("carol", "9")) == "收到：7、9"
    with Session(second_engine) as session:
        assert session.exec(select(ConversationState)).first() is None
    second_engine.dispose()


def test_state_is_kept_per_channel_and_user(services):
    services.dispatcher.include(_counter_router())
    harness = Harness(services)
    harness.say("dave", "/count")
    other = services.dispatcher.handle(Incoming(channel="telegram", user_id="dave", text="5"))
    assert "收到" not in texts(other)  # telegram:dave has no open flow
    assert texts(harness.say("dave", "5")) == "第二个数？"


def test_unicode_digits_and_long_numbers_are_text_not_option_presses(harness: Harness):
    for text in ("①", "²", "١", "99999999999999999999"):
        menu = harness.say("alice", "/start")
        assert menu[0].buttons  # options were offered, so a plain number would press one
        replies = harness.say("alice", text)  # must not raise
        assert replies and "出了点问题" not in texts(replies), text
        assert "使用方法" not in texts(replies), text  # no option was pressed
    harness.say("alice", "/start")
    assert "使用方法" in texts(harness.say("alice", "4"))  # an ASCII digit still presses


def test_an_oversized_user_id_is_refused_without_touching_the_database(harness: Harness):
    before = ledger_counts(harness.services.engine)
    replies = harness.services.dispatcher.handle(
        Incoming(channel="console", user_id="x" * 129, text="/start")
    )
    assert replies == []
    assert ledger_counts(harness.services.engine) == before


def test_when_nothing_can_be_saved_the_reply_does_not_claim_it_was(harness: Harness, monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session as SqlSession

    def locked(self):
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(SqlSession, "commit", locked)
    replies = harness.say("alice", "/start")
    monkeypatch.undo()
    assert "没能保存" in texts(replies) and "已记录" not in texts(replies)
    assert ledger_counts(harness.services.engine) == {}
