"""Conversations as declarative tables: a Flow is a name and its Steps.

A step names what it asks (`prompt`), what it does with a message (`handle`), which
button actions it accepts (`accepts`, prefixes such as "t:" — a button of another step
pressed late is refused), and who may be at it (`roles`). The flow runner looks the
user's current step up and checks the role on EVERY message and button, not only on the
command that opened the flow: a staff member whose role is revoked mid-flow cannot go on
to send or schedule a notice (issue 14). The state itself stays in the database
(ConversationState: flow, step, data), so a restart in the middle loses nothing.

Register a flow with `router.add_flow(flow)`; its buttons call `flow.run(…, action)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.ledger import Kind
from bot.messages import Incoming, Reply
from bot.routing import Context

log = logging.getLogger(__name__)

# handle(incoming, ctx, action): action is the pressed button's action, None for a message
StepHandler = Callable[[Incoming, Context, str | None], object]
Prompt = Callable[[Context, dict], Reply]  # prompt(ctx, the flow data)


@dataclass(frozen=True)
class Step:
    name: str
    prompt: Prompt | None
    handle: StepHandler
    accepts: tuple[str, ...] = ()
    roles: frozenset[str] | None = None

    def takes(self, action: str) -> bool:
        return action.startswith(self.accepts) if self.accepts else False


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]
    refused: str = "您已没有继续这项操作的权限，操作已取消。"
    stale: str = "这个按钮已经失效了。"
    # Runs before the step (cancel and back words); returns replies, or None to go on.
    intercept: StepHandler | None = None
    by_name: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {s.name: s for s in self.steps})
        if len(self.by_name) != len(self.steps):
            raise ValueError(f"flow {self.name}: a step name is used twice")

    def step(self, name: str) -> Step:
        return self.by_name[name]

    def prompt(self, name: str, ctx: Context, data: dict | None = None) -> Reply:
        data = data if data is not None else dict(ctx.state.data if ctx.state else {})
        return self.by_name[name].prompt(ctx, data)

    def allowed(self, ctx: Context) -> bool:
        """Whether the user may be at the current step (False clears the state)."""
        step = self.by_name.get(ctx.state.step) if ctx.state is not None else None
        if step is None or step.roles is None or ctx.user.role in step.roles:
            return True
        log.warning("%s (%s) refused in flow %s", ctx.user.ref, ctx.user.role, self.name)
        ctx.count(Kind.REFUSED, ref=f"flow:{self.name}:{step.name}")
        ctx.clear_state()
        return False

    def run(self, incoming: Incoming, ctx: Context, action: str | None = None):
        """One message (action None) or pressed button at the user's current step."""
        if ctx.state is None or ctx.state.flow != self.name:
            return Reply(self.stale)
        if not self.allowed(ctx):
            return Reply(self.refused)
        step = self.by_name.get(ctx.state.step)
        if step is None:  # a step of an older version
            ctx.clear_state()
            return Reply(self.stale)
        if self.intercept is not None:
            replies = self.intercept(incoming, ctx, action)
            if replies is not None:
                return replies
        if action is not None and not step.takes(action):
            return self.late_button(ctx, step)
        return step.handle(incoming, ctx, action)

    def late_button(self, ctx: Context, step: Step):
        """A button of another step: say so and ask the current step again."""
        log.info("flow %s: late button from %s at %s", self.name, ctx.user.ref, step.name)
        if step.prompt is None:
            return Reply(self.stale)
        return [Reply(self.stale), step.prompt(ctx, dict(ctx.state.data))]

    def message_handler(self) -> Callable[[Incoming, Context], object]:
        return lambda incoming, ctx: self.run(incoming, ctx)
