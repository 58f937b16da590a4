"""/walkin: staff or the adviser record a consultation that came in at the window, on the
phone or on the hotline, in a short flow: way → community → category → summary → the
answer given (or skip) → confirm. The role is checked again at every step (it may have
been revoked mid-flow); nothing is saved before 保存."""

from __future__ import annotations

import logging

from bot.messages import Button, Incoming, Reply
from bot.parsing import ascii_int
from bot.payload import WalkinButton
from bot.routing import ADVISER_ROLES, Context, Router
from bot.services import cases, walkin
from bot.services.walkin import WalkinError

log = logging.getLogger(__name__)
router = Router("walkin")

FLOW = "walkin"
STEPS = ("channel", "community", "topic", "summary", "answer", "confirm")
PROMPTS = {
    "channel": "登记一次线下咨询。请选择咨询方式：",
    "community": "居民所在社区：",
    "topic": "咨询类别：",
    "summary": "请输入咨询摘要（4 字以上；不要写姓名、电话等个人信息）：",
    "answer": "请输入当场给出的答复（没有当场答复、转法律顾问的请点“跳过”）：",
}
CANCEL = Button("✖ 取消", WalkinButton("cancel").pack())
BACK = Button("⬅ 返回", WalkinButton("back").pack())
SKIP = Button("跳过", WalkinButton("skip").pack())
NOT_ALLOWED = "只有工作人员和法律顾问可以登记线下咨询。"


def _options(step: str, ctx: Context) -> tuple[Button, ...]:
    if step == "channel":
        return tuple(
            Button(label, WalkinButton("o", key).pack()) for key, label in walkin.CHANNELS.items()
        )
    if step == "community":
        names = [*ctx.settings.communities, cases.OTHER_COMMUNITY]
        return tuple(
            Button(name[:30], WalkinButton("o", str(i)).pack()) for i, name in enumerate(names)
        )
    if step == "topic":
        return tuple(
            Button(name, WalkinButton("o", str(i)).pack()) for i, name in enumerate(cases.TOPICS)
        )
    return (SKIP,) if step == "answer" else ()


def _choices(step: str, ctx: Context) -> list[str]:
    if step == "channel":
        return list(walkin.CHANNELS)
    if step == "community":
        return [*ctx.settings.communities, cases.OTHER_COMMUNITY]
    return list(cases.TOPICS) if step == "topic" else []


def _draft(data: dict, ctx: Context) -> walkin.Draft:
    return walkin.draft(
        channel=data["channel"],
        topic=data["topic"],
        community=data["community"],
        summary=data["summary"],
        answer=data.get("answer"),
        communities=ctx.settings.communities,
        today=ctx.now.astimezone(ctx.settings.zone).date(),
    )


def _prompt(step: str, ctx: Context) -> Reply:
    if step == "confirm":
        text = f"请核对：\n{walkin.describe_draft(_draft(ctx.state.data, ctx))}"
        return Reply(text, (Button("✅ 保存", WalkinButton("save").pack()), BACK, CANCEL))
    back = (BACK,) if step != "channel" else ()
    return Reply(PROMPTS[step], (*_options(step, ctx), *back, CANCEL))


def _clean(step: str, text: str, ctx: Context) -> str | None:
    if step == "channel":
        return walkin.clean_channel(text)
    if step == "community":
        return walkin.clean_community(text, ctx.settings.communities)
    if step == "topic":
        return walkin.clean_topic(text)
    if step == "summary":
        return walkin.clean_summary(text)
    return walkin.clean_answer(text)


@router.command(
    "walkin", help="登记窗口、电话或热线咨询", roles=ADVISER_ROLES, aliases=("登记咨询",)
)
def walkin_command(incoming: Incoming, ctx: Context) -> Reply:
    ctx.set_state(FLOW, "channel", {})
    return _prompt("channel", ctx)


def _answer(text: str, ctx: Context) -> Reply | str:
    step, data = ctx.state.step, dict(ctx.state.data)
    if text in ("取消", "cancel"):
        ctx.clear_state()
        return "已取消，没有保存任何内容。"
    if text in ("返回", "back"):
        previous = STEPS[max(STEPS.index(step) - 1, 0)]
        ctx.set_state(FLOW, previous, data)
        return _prompt(previous, ctx)
    if step == "confirm":
        return _save(ctx) if text in ("保存", "确认") else _prompt("confirm", ctx)
    try:
        data[step] = _clean(step, text, ctx)
    except WalkinError as exc:
        log.info("bad walk-in %s from %s: %s", step, ctx.user.ref, text[:80])
        return Reply(f"{exc}\n{PROMPTS[step]}", _prompt(step, ctx).buttons)
    following = STEPS[STEPS.index(step) + 1]
    ctx.set_state(FLOW, following, data)
    return _prompt(following, ctx)


def _save(ctx: Context) -> str:
    data = _draft(ctx.state.data, ctx)
    case = walkin.record(ctx.session, data, recorder=ctx.user, now=ctx.now, zone=ctx.settings.zone)
    ctx.clear_state()
    log.info("%s recorded walk-in case %s", ctx.user.ref, case.number)
    return f"已登记：{walkin.describe(case)}"


@router.flow(FLOW)
def flow(incoming: Incoming, ctx: Context) -> Reply | str:
    if not ctx.is_adviser:  # the role was revoked mid-flow
        ctx.clear_state()
        return f"{NOT_ALLOWED}登记已取消。"
    if incoming.kind != "text":
        return Reply(f"请用文字回答。\n{PROMPTS.get(ctx.state.step, '')}", (CANCEL,))
    return _answer(incoming.text.strip(), ctx)


@router.button(WalkinButton)
def walkin_button(incoming: Incoming, ctx: Context) -> Reply | str:
    if not ctx.is_adviser:
        if ctx.state is not None and ctx.state.flow == FLOW:
            ctx.clear_state()
        return NOT_ALLOWED
    if ctx.state is None or ctx.state.flow != FLOW:
        return "这个按钮已经失效了。发送 /walkin 重新登记。"
    button = WalkinButton.unpack(incoming.payload)
    action = button.action
    words = {"cancel": "取消", "back": "返回", "save": "保存", "skip": "跳过"}
    if action in words:
        return _answer(words[action], ctx)
    choices = _choices(ctx.state.step, ctx)
    value = button.arg or ""
    if action == "o" and ctx.state.step == "channel" and value in choices:
        return _answer(value, ctx)
    index = ascii_int(value, max_digits=3)
    if action == "o" and index is not None and index < len(choices):
        return _answer(choices[index], ctx)
    return Reply("这个选项已经失效了，请重新选择。", _prompt(ctx.state.step, ctx).buttons)
