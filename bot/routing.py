"""What handlers see: the per-message `Context` and the `Router` they register on.

A feature module creates one Router and decorates its functions; the application wiring
includes every router in the dispatcher (aiogram's router-per-feature idea). Handlers
return replies; they never send anything themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import ledger
from bot.config import Settings
from bot.ledger import Kind
from bot.messages import Incoming, Reply
from bot.models import ConversationState, User
from bot.payload import Payload
from bot.runtime import outbox
from bot.timeutil import utcnow

Handler = Callable[[Incoming, "Context"], Any]

STAFF_ROLES = frozenset({"staff", "admin"})
ADVISER_ROLES = frozenset({"adviser", "staff", "admin"})
ADMIN_ROLES = frozenset({"admin"})


@dataclass
class Context:
    """Everything a handler may use for one incoming message, inside one transaction."""

    session: Session
    user: User
    settings: Settings
    services: Any
    channel: str
    state: ConversationState | None = None
    now: datetime = field(default_factory=utcnow)

    # --- roles -----------------------------------------------------------------------
    @property
    def is_staff(self) -> bool:
        return self.user.role in STAFF_ROLES

    @property
    def is_adviser(self) -> bool:
        return self.user.role in ADVISER_ROLES

    @property
    def is_admin(self) -> bool:
        return self.user.role in ADMIN_ROLES

    # --- conversation state ----------------------------------------------------------
    def set_state(self, flow: str, step: str, data: dict | None = None) -> ConversationState:
        if self.state is None:
            self.state = ConversationState(user_id=self.user.id, flow=flow, step=step)
        self.state.flow, self.state.step = flow, step
        # A new dict so SQLAlchemy sees the JSON column change.
        self.state.data = dict(data if data is not None else self.state.data or {})
        self.state.updated_at = self.now
        self.session.add(self.state)
        return self.state

    def clear_state(self) -> None:
        if self.state is not None:
            self.session.delete(self.state)
            self.state = None

    # --- ledger and messages to other users ------------------------------------------
    def count(self, kind: Kind, **fields: Any) -> None:
        ledger.record(self.session, kind, channel=self.channel, user=self.user, **fields)

    def send_to(self, recipient: User, reply: Reply, *, source: str, key: str | None = None):
        """Queue `reply` for another user in the outbox, in this transaction (through the
        one outbox writer: a second message with the same source and key is dropped)."""
        self.session.flush()
        dedup = f"{source}:{key or utcnow().isoformat()}:{recipient.id}"
        return outbox.enqueue(self.session, recipient, reply, source=source, dedup_key=dedup)


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    help: str = ""
    roles: frozenset[str] | None = None
    aliases: tuple[str, ...] = ()


@dataclass
class Router:
    """Registrations of one feature module."""

    name: str
    commands: dict[str, Command] = field(default_factory=dict)
    buttons: dict[str, Handler] = field(default_factory=dict)
    flows: dict[str, Handler] = field(default_factory=dict)
    keywords: dict[str, Handler] = field(default_factory=dict)
    text_handler: Handler | None = None
    event_handler: Handler | None = None

    def command(
        self,
        name: str,
        help: str = "",
        roles: Iterable[str] | None = None,
        aliases: Iterable[str] = (),
    ) -> Callable[[Handler], Handler]:
        """Register `/name`; `aliases` are whole messages that do the same (e.g. 帮助)."""

        def register(handler: Handler) -> Handler:
            command = Command(
                name, handler, help, frozenset(roles) if roles else None, tuple(aliases)
            )
            self.commands[name] = command
            return handler

        return register

    def button(self, payload: type[Payload]) -> Callable[[Handler], Handler]:
        """Register the handler for the buttons of `payload` ('prefix' and 'prefix:...').

        The handler unpacks `incoming.payload` itself; a PayloadError it lets through is
        answered by the dispatcher as a stale button."""

        def register(handler: Handler) -> Handler:
            self.buttons[payload.prefix] = handler
            return handler

        return register

    def flow(self, name: str) -> Callable[[Handler], Handler]:
        """Register the handler for messages while a user's state is in flow `name`."""

        def register(handler: Handler) -> Handler:
            self.flows[name] = handler
            return handler

        return register

    def add_flow(self, flow) -> None:
        """Register a bot.flows.Flow: its runner takes messages while a user is in it."""
        self.flows[flow.name] = flow.message_handler()

    def text(self) -> Callable[[Handler], Handler]:
        """Register the handler for free text nobody else claimed (one in the app)."""

        def register(handler: Handler) -> Handler:
            self.text_handler = handler
            return handler

        return register

    def event(self) -> Callable[[Handler], Handler]:
        """Register the handler for platform events (subscribe, menu clicks)."""

        def register(handler: Handler) -> Handler:
            self.event_handler = handler
            return handler

        return register
