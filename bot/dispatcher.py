"""Routes one neutral incoming message to the handler that decides, inside one transaction.

Order: input checks → a digit that presses an offered button → button payloads →
commands → the user's open flow → platform events → non-text content → whole-message
keywords → free text. The inbound message, the replies and whatever the handler did are
committed together, with one ledger row for the message and one per reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import Engine
from sqlmodel import Session

from bot import ledger
from bot.config import Settings
from bot.ledger import Kind
from bot.messages import MAX_INPUT_CHARS, Button, Incoming, Reply, as_replies
from bot.models import ConversationState, User
from bot.parsing import ascii_int
from bot.payload import Browse, FaqPick, Feedback, Help, MainMenu, PayloadError, prefix_of
from bot.routing import Command, Context, Handler, Router
from bot.runtime.inbox import LeaseLost
from bot.services import users

log = logging.getLogger(__name__)

BeforeCommit = Callable[[Session, User, list[Reply]], None]


class NotRecorded(Exception):
    """Neither the message nor its failure could be written (the database is unavailable)."""


TEXT_EMPTY = "没有收到内容哦。请直接输入您想问的法律问题，或发送 /help 查看使用方法。"
TEXT_TOO_LONG = "您的消息有 {n} 字，超过了 {limit} 字的上限。请精简后再发，或分几条发送。"
TEXT_UNKNOWN_COMMAND = "没有“/{name}”这个命令。发送 /help 查看可用的命令。"
TEXT_NOT_ALLOWED = "抱歉，“/{name}”只有{roles}可以使用。"
TEXT_STALE_BUTTON = "这个按钮已经失效了，请重新选择。"
TEXT_NON_TEXT = "暂时只能看懂文字消息。请用文字描述您的问题，或发送 /help 查看使用方法。"
TEXT_ERROR = "抱歉，系统刚才出了点问题，您的消息已记录。请稍后再试，或发送 /help。"
TEXT_PRIVATE_ONLY = (
    "为了保护个人信息，咨询、案件和工作人员功能不在群里使用。请点我的头像，私聊“普法助手”继续。"
)
TEXT_NOT_SAVED = "抱歉，系统正忙，您的消息没能保存下来。请过一会儿再发一次。"

ROLE_LABELS = {"staff": "工作人员", "adviser": "法律顾问", "admin": "管理员"}


class Dispatcher:
    def __init__(self, engine: Engine, settings: Settings, services: object = None) -> None:
        self.engine = engine
        self.settings = settings
        self.services = services
        self.commands: dict[str, Command] = {}
        self.aliases: dict[str, Command] = {}
        self.buttons: dict[str, Handler] = {}
        self.flows: dict[str, Handler] = {}
        self.keywords: dict[str, Handler] = {}
        self.text_handler: Handler | None = None
        self.event_handler: Handler | None = None
        self.menu: tuple[Button, ...] = ()

    # --- wiring ----------------------------------------------------------------------
    def include(self, router: Router) -> None:
        for name, command in router.commands.items():
            self._claim(self.commands, name, command, router)
            for alias in command.aliases:
                self._claim(self.aliases, alias, command, router)
        for prefix, handler in router.buttons.items():
            self._claim(self.buttons, prefix, handler, router)
        for flow, handler in router.flows.items():
            self._claim(self.flows, flow, handler, router)
        for word, handler in router.keywords.items():
            self._claim(self.keywords, word, handler, router)
        if router.text_handler is not None:
            if self.text_handler is not None:
                raise ValueError(f"router {router.name}: a free-text handler is already set")
            self.text_handler = router.text_handler
        if router.event_handler is not None:
            self.event_handler = router.event_handler

    @staticmethod
    def _claim(table: dict, key: str, value: object, router: Router) -> None:
        if key in table:
            raise ValueError(f"router {router.name}: {key!r} is registered twice")
        table[key] = value

    def command_help(self, role: str) -> list[Command]:
        """Commands a user with `role` may use, in registration order."""
        return [
            c for c in self.commands.values() if c.help and (c.roles is None or role in c.roles)
        ]

    # --- handling --------------------------------------------------------------------
    def handle(
        self, incoming: Incoming, *, before_commit: BeforeCommit | None = None
    ) -> list[Reply]:
        """Handle one message and return the replies for its sender.

        `before_commit(session, user, replies)` runs inside the transaction, just before it
        commits (durable intake queues the replies and marks the stored update done there,
        so all of it commits together). Without it this never raises; with it, a failure that
        could not even be recorded raises NotRecorded, so the stored update is tried again.
        """
        if not valid_sender(incoming):
            log.warning("message from an invalid user id on %r refused", incoming.channel[:16])
            return []
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                user, replies = self._handle_in(session, incoming)
                if before_commit is not None:
                    before_commit(session, user, replies)
                session.commit()
                return replies
        except LeaseLost:
            raise
        except Exception:
            log.exception("handler failed for %s:%s", incoming.channel, incoming.user_id)
        return self._handle_failure(incoming, before_commit)

    def _handle_in(self, session: Session, incoming: Incoming) -> tuple[User, list[Reply]]:
        """The sender (loaded once, for the handler and for `before_commit`) and the replies."""
        user = users.touch(
            session,
            incoming.channel,
            incoming.user_id,
            incoming.display_name,
            self.settings.admins,
        )
        incoming = self._press_offered_digit(user, incoming)
        ledger.record(session, inbound_kind(incoming), channel=incoming.channel, user=user)
        state = session.get(ConversationState, user.id)
        ctx = Context(session, user, self.settings, self.services, incoming.channel, state)
        replies = as_replies(self._route(incoming, ctx))
        self._remember_buttons(user, replies)
        for _ in replies:
            ledger.record(session, Kind.OUT_REPLY, channel=incoming.channel, user=user)
        return user, replies

    def _handle_failure(
        self, incoming: Incoming, before_commit: BeforeCommit | None = None
    ) -> list[Reply]:
        """Record the message that failed (so it is counted and not lost) and apologise."""
        reply = Reply(TEXT_ERROR)
        try:
            with Session(self.engine) as session:
                user = users.get_or_create(session, incoming.channel, incoming.user_id)
                ledger.record(session, inbound_kind(incoming), channel=incoming.channel, user=user)
                ledger.record(session, Kind.OUT_REPLY, channel=incoming.channel, user=user)
                ledger.record(
                    session,
                    Kind.ERROR,
                    channel=incoming.channel,
                    user=user,
                    ref=(incoming.text or incoming.payload or incoming.kind)[:64],
                )
                if before_commit is not None:
                    before_commit(session, user, [reply])
                session.commit()
        except LeaseLost:
            raise
        except Exception as exc:
            log.exception("could not record the failed message either")
            if before_commit is not None:
                raise NotRecorded(str(exc)) from exc
            return [Reply(TEXT_NOT_SAVED)]  # never claim it was recorded when it was not
        return [reply]

    def _press_offered_digit(self, user: User, incoming: Incoming) -> Incoming:
        """On numbered-option channels a bare number presses the button offered last."""
        text = incoming.text.strip()
        if not (incoming.digit_buttons and incoming.kind == "text"):
            return incoming
        number = ascii_int(text, max_digits=4)
        if number is None:
            return incoming
        offered = user.offered_buttons or []
        index = number - 1
        if not 0 <= index < len(offered):
            return incoming
        button = offered[index]
        return Incoming(
            channel=incoming.channel,
            user_id=incoming.user_id,
            kind="button",
            text=button["label"],
            payload=button["payload"],
            display_name=incoming.display_name,
            message_id=incoming.message_id,
            digit_buttons=True,
            meta=incoming.meta,
        )

    @staticmethod
    def _remember_buttons(user: User, replies: list[Reply]) -> None:
        """Keep the buttons of the latest replies so a later digit can press them."""
        if replies:
            offered = [b for r in replies for b in r.buttons]
            user.offered_buttons = [{"label": b.label, "payload": b.payload} for b in offered]

    def _route(self, incoming: Incoming, ctx: Context):
        if incoming.in_group and not public_in_groups(incoming):
            return TEXT_PRIVATE_ONLY
        text = incoming.text.strip()
        if incoming.kind == "text":
            if not text:
                return Reply(TEXT_EMPTY, self.menu)
            if len(text) > MAX_INPUT_CHARS:
                return TEXT_TOO_LONG.format(n=len(text), limit=MAX_INPUT_CHARS)
        if incoming.kind == "button":
            return self._route_button(incoming, ctx)
        if incoming.is_command:
            return self._route_command(incoming, ctx)
        if ctx.state is not None and ctx.state.flow in self.flows and not incoming.in_group:
            return self.flows[ctx.state.flow](incoming, ctx)
        if incoming.kind == "event":
            return self.event_handler(incoming, ctx) if self.event_handler else None
        if incoming.kind != "text":
            return Reply(TEXT_NON_TEXT, self.menu)
        if text in self.aliases:
            return self._run_command(self.aliases[text], incoming, ctx)
        if text in self.keywords:
            return self.keywords[text](incoming, ctx)
        if self.text_handler is None:
            return Reply(TEXT_NON_TEXT, self.menu)
        return self.text_handler(incoming, ctx)

    def _route_button(self, incoming: Incoming, ctx: Context):
        handler = self.buttons.get(prefix_of(incoming.payload))
        if handler is not None:
            try:
                return handler(incoming, ctx)
            except PayloadError:
                pass
        log.info("stale button %r from %s", incoming.payload, ctx.user.ref)
        return Reply(TEXT_STALE_BUTTON, self.menu)

    def _route_command(self, incoming: Incoming, ctx: Context):
        name, _ = incoming.command()
        command = self.commands.get(name)
        if command is None:
            return Reply(TEXT_UNKNOWN_COMMAND.format(name=name[:32]), self.menu)
        return self._run_command(command, incoming, ctx)

    @staticmethod
    def _run_command(command: Command, incoming: Incoming, ctx: Context):
        if command.roles is not None and ctx.user.role not in command.roles:
            log.warning("%s (%s) refused /%s", ctx.user.ref, ctx.user.role, command.name)
            ctx.count(Kind.REFUSED, ref=command.name)
            labels = "、".join(ROLE_LABELS[r] for r in sorted(command.roles) if r in ROLE_LABELS)
            return TEXT_NOT_ALLOWED.format(name=command.name, roles=labels)
        return command.handler(incoming, ctx)


# In a group chat everyone reads the replies: only these features answer there (general
# legal information); consultations, cases, subscriptions and staff tools ask for a private
# chat, so no phone number, case or description is ever shown to a group.
PUBLIC_COMMANDS = frozenset({"start", "help", "article"})
PUBLIC_BUTTONS = frozenset(
    {MainMenu.prefix, Help.prefix, Browse.prefix, FaqPick.prefix, Feedback.prefix}
)


def public_in_groups(incoming: Incoming) -> bool:
    if incoming.kind == "button":
        return prefix_of(incoming.payload) in PUBLIC_BUTTONS
    if incoming.is_command:
        return incoming.command()[0] in PUBLIC_COMMANDS
    return incoming.kind == "text"  # a question (an open dialogue is not continued there)


MAX_USER_ID_CHARS = 128  # the users table's column
MAX_CHANNEL_CHARS = 16


def valid_sender(incoming: Incoming) -> bool:
    """A channel and user id the database can hold (a forged id must not break a request)."""
    return (
        0 < len(incoming.channel) <= MAX_CHANNEL_CHARS
        and 0 < len(incoming.user_id) <= MAX_USER_ID_CHARS
    )


def inbound_kind(incoming: Incoming) -> str:
    if incoming.kind == "button":
        return Kind.IN_BUTTON
    if incoming.kind == "event":
        return Kind.IN_EVENT
    if incoming.kind != "text":
        return Kind.IN_MEDIA
    return Kind.IN_COMMAND if incoming.is_command else Kind.IN_TEXT


def include_all(dispatcher: Dispatcher, routers: Iterable[Router]) -> Dispatcher:
    for router in routers:
        dispatcher.include(router)
    return dispatcher
