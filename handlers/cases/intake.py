"""The resident's side of consultations: the intake dialogue (/consult, the 咨询法律顾问
button under answers and in the menu). /mycases, follow-ups and rating: handlers.cases.mine.

The intake is a small state machine kept in the conversation state (flow "consult"), so it
survives restarts and works the same on every channel:
consent → topic → community → description → phone → summary (and "edit", to pick what to
change). Every step takes 取消 and 返回, typed or pressed; bad input repeats what the step
expects and keeps everything entered so far. Two more steps of the same flow wait for one
message about an existing case: "followup" (a follow-up, or what the adviser asked for)
and "rate".

Button payloads: IntakeButton ("cs:<action>[:<arg>]").
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete

from bot.flows import Flow, Step
from bot.ledger import Kind
from bot.messages import Button, Incoming, Reply
from bot.models import ConversationState
from bot.payload import Consult, IntakeButton, MyCaseButton
from bot.routing import Context, Router
from bot.services import cases
from handlers import community
from handlers.cases import mine, notify
from handlers.cases.mine import BACK_WORDS, CANCEL_WORDS, FLOW, STALE

log = logging.getLogger(__name__)
router = Router("intake")

STEPS = ("consent", "topic", "community", "description", "phone", "summary")
DONE_WORDS = frozenset({"完成", "描述完毕", "好了", "说完了", "写完了"})
HERE_WORDS = frozenset({"在这里回复", "不留", "不留电话", "不需要", "无", "没有"})

BACK = Button("⬅ 返回", IntakeButton("back").pack())
CANCEL = Button("✖ 取消", IntakeButton("cancel").pack())

CONSENT_TEXT = (
    "提交咨询前，请先了解我们如何使用您的个人信息：\n"
    "• 收集什么：问题类别、所在社区、您描述的情况和发送的图片、您自愿留下的联系电话，"
    "以及您在本平台的账号和昵称；\n"
    "• 谁能看到：只有街道的法律顾问、工作人员和管理员，仅用于答复您的咨询；"
    "工作统计只计数量，不含个人信息；\n"
    f"• 保存多久：咨询结案满 {cases.RETENTION_DAYS} 天后，描述、图片、电话和姓名会被删除"
    "（匿名化），只保留类别和数量。\n"
    "您同意后才能继续。不同意也不影响使用问答功能。"
)
DECLINED = (
    "好的，我们不会收集您的信息。您仍然可以直接提问《民法典》相关的问题，"
    "也可以拨打 12348 公共法律服务热线咨询。"
)
CANCELLED = "已取消本次咨询，您填写的内容没有提交。需要时可以随时发送 /consult 重新开始。"


# --- entry points ---------------------------------------------------------------------------
@router.command("consult", help="把具体情况提交给法律顾问", aliases=("咨询", "法律咨询"))
def consult_command(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    return begin(ctx)


@router.button(Consult)
def consult_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    return begin(ctx)


def begin(ctx: Context) -> Reply | list[Reply]:
    """Start the intake, or resume an unfinished one where it stopped."""
    state = ctx.state
    if state is not None and state.flow == FLOW and state.step in (*STEPS, "edit"):
        return [
            Reply("您有一份还没提交的咨询，我们接着填写："),
            prompt(ctx, state.step, state.data),
        ]
    return go(ctx, "consent", {})


# --- the intake state machine ---------------------------------------------------------------
def go(ctx: Context, step: str, data: dict, note: str | None = None) -> Reply | list[Reply]:
    """Move to `step` and show what it expects (after `note`, if any)."""
    ctx.set_state(FLOW, step, data)
    shown = prompt(ctx, step, data)
    return [Reply(note), shown] if note else shown


def again(ctx: Context, error: str) -> list[Reply]:
    """Bad input: say what was wrong, then repeat the step. Nothing entered is dropped."""
    log.info("consult: %s at step %s: %s", ctx.user.ref, ctx.state.step, error)
    return [Reply(error), prompt(ctx, ctx.state.step, ctx.state.data)]


def after(step: str, data: dict) -> str:
    """The step that follows `step` (back to the summary while editing)."""
    if data.get("editing"):
        return "summary"
    return STEPS[STEPS.index(step) + 1]


def prompt(ctx: Context, step: str, data: dict) -> Reply:
    return INTAKE.prompt(step, ctx, data)


def prompt_consent(ctx: Context, data: dict) -> Reply:
    return Reply(
        CONSENT_TEXT,
        (
            Button("✅ 同意", IntakeButton("yes").pack()),
            Button("不同意", IntakeButton("no").pack()),
        ),
    )


def prompt_topic(ctx: Context, data: dict) -> Reply:
    buttons = tuple(Button(t, IntakeButton("t", str(i)).pack()) for i, t in enumerate(cases.TOPICS))
    return Reply("第 1 步（共 5 步）：请选择问题的类别：", (*buttons, BACK, CANCEL))


def communities(ctx: Context) -> list[str]:
    return [*ctx.settings.communities, cases.OTHER_COMMUNITY]


def prompt_community(ctx: Context, data: dict) -> Reply:
    buttons = tuple(
        Button(c, IntakeButton("c", str(i)).pack()) for i, c in enumerate(communities(ctx))
    )
    return Reply("第 2 步（共 5 步）：请选择您所在的社区：", (*buttons, BACK, CANCEL))


def description_of(data: dict) -> str:
    return "\n".join(data.get("parts", []))


def prompt_description(ctx: Context, data: dict) -> Reply:
    text = (
        f"第 3 步（共 5 步）：请描述您遇到的情况（{cases.MIN_DESCRIPTION}–{cases.MAX_DESCRIPTION} 字），"
        "比如什么时候、和谁、发生了什么、您希望怎样解决。可以分几条发送，也可以发照片。"
        "说完后请点“描述完毕”。"
    )
    buttons = [Button("✅ 描述完毕", IntakeButton("done").pack())]
    if data.get("parts") or data.get("photos"):
        text += (
            f"\n目前已记下 {len(description_of(data))} 字、{len(data.get('photos', []))} 张图片。"
        )
        buttons.append(Button("🗑 清空重写", IntakeButton("clear").pack()))
    return Reply(text, (*buttons, BACK, CANCEL))


def prompt_phone(ctx: Context, data: dict) -> Reply:
    text = (
        "第 4 步（共 5 步）：需要法律顾问打电话联系您吗？需要的话请输入手机号（如 13812345678）"
        "或带区号的座机号（如 022-12345678）；不需要请点“在这里回复”，顾问会在这里答复您。"
    )
    if data.get("phone"):
        text += f"\n目前填写的电话：{data['phone']}"
    return Reply(text, (Button("💬 在这里回复", IntakeButton("here").pack()), BACK, CANCEL))


def summary_text(data: dict) -> str:
    photos = len(data.get("photos", []))
    return (
        f"类别：{data['topic']}\n社区：{data['community']}\n"
        f"联系方式：{data.get('phone') or '在这里回复'}\n"
        f"图片：{photos} 张\n情况描述：\n{description_of(data)}"
    )


def prompt_summary(ctx: Context, data: dict) -> Reply:
    text = (
        f"第 5 步（共 5 步）：请核对您的咨询：\n\n{summary_text(data)}\n\n确认无误请点“确认提交”。"
    )
    return Reply(
        text,
        (
            Button("✅ 确认提交", IntakeButton("submit").pack()),
            Button("✏ 修改", IntakeButton("edit").pack()),
            CANCEL,
        ),
    )


EDITABLE = {"topic": "类别", "community": "社区", "description": "情况描述", "phone": "联系电话"}


def prompt_edit(ctx: Context, data: dict) -> Reply:
    buttons = tuple(
        Button(label, IntakeButton("e", step).pack()) for step, label in EDITABLE.items()
    )
    return Reply(
        "要修改哪一项？", (*buttons, Button("⬅ 返回核对", IntakeButton("back").pack()), CANCEL)
    )


@router.button(IntakeButton)
def intake_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    if ctx.state is None or ctx.state.flow != FLOW or ctx.state.step not in INTAKE_STEPS:
        log.info("consult: stale intake button %r from %s", incoming.payload, ctx.user.ref)
        return Reply(STALE)
    button = IntakeButton.unpack(incoming.payload)
    # Steps accept actions as "<action>" or "<action>:<arg>" (Step.accepts).
    action = button.action if button.arg is None else f"{button.action}:{button.arg}"
    return INTAKE.run(incoming, ctx, action)


def cancel_or_back(incoming: Incoming, ctx: Context, action: str | None):
    """取消 and 返回, typed or pressed, at every intake step."""
    if ctx.state.step not in INTAKE_STEPS:
        return None
    text = _text(incoming)
    if action == "cancel" or text in CANCEL_WORDS:
        ctx.clear_state()
        return Reply(CANCELLED)
    if action == "back" or text in BACK_WORDS:
        return back(ctx, ctx.state.step, dict(ctx.state.data))
    return None


def _text(incoming: Incoming) -> str:
    return incoming.text.strip() if incoming.kind == "text" else ""


def _step(on_step):
    """A step handler of the form on_x(incoming, ctx, data, action, text)."""
    return lambda incoming, ctx, action: on_step(
        incoming, ctx, dict(ctx.state.data), action, _text(incoming)
    )


def back(ctx: Context, step: str, data: dict) -> Reply | list[Reply]:
    if step == "consent":
        ctx.clear_state()
        return Reply(CANCELLED)
    if step == "edit" or (data.get("editing") and step != "summary"):
        return go(ctx, "summary", data)
    if step == "topic":
        return go(ctx, "consent", data)
    return go(ctx, STEPS[STEPS.index(step) - 1], data)


def on_consent(incoming, ctx, data, action, text):
    if action == "no" or text in ("不同意", "拒绝"):
        ctx.clear_state()
        return Reply(DECLINED)
    if action == "yes" or text in ("同意", "我同意"):
        data["consent_at"] = ctx.now.isoformat()
        return go(ctx, "topic", data)
    return again(ctx, "请先点“同意”或“不同意”（也可以直接回复“同意”或“不同意”）。")


def on_topic(incoming, ctx, data, action, text):
    index = _index(action, "t", len(cases.TOPICS))
    topic = cases.TOPICS[index] if index is not None else (text if text in cases.TOPICS else None)
    if topic is None:
        return again(ctx, "没有这个类别。请点下面的按钮选择问题类别（也可以直接输入类别名称）。")
    data["topic"] = topic
    return go(ctx, after("topic", data), data)


def on_community(incoming, ctx, data, action, text):
    names = communities(ctx)
    index = _index(action, "c", len(names))
    community = names[index] if index is not None else (text if text in names else None)
    if community is None:
        return again(ctx, "没有这个社区。请点下面的按钮选择您所在的社区，不在列表里请选“其他”。")
    data["community"] = community
    return go(ctx, after("community", data), data)


def on_description(incoming, ctx, data, action, text):
    parts, photos = list(data.get("parts", [])), list(data.get("photos", []))
    if action == "clear":
        data["parts"], data["photos"] = [], []
        return go(ctx, "description", data, "已清空，请重新描述。")
    if action == "done" or text in DONE_WORDS:
        length = len(description_of(data))
        if length < cases.MIN_DESCRIPTION:
            return again(
                ctx,
                f"情况描述太短了：至少需要 {cases.MIN_DESCRIPTION} 个字，目前只有 {length} 个字。"
                "请再补充一些情况，然后点“描述完毕”。",
            )
        return go(ctx, after("description", data), data)
    if incoming.kind == "image":
        return add_photo(ctx, data, photos, parts, incoming)
    if incoming.kind != "text":
        return again(ctx, "暂时只能接收文字和图片。请用文字描述您的情况，或发送照片。")
    return add_text(ctx, data, parts, text)


def add_text(ctx: Context, data: dict, parts: list[str], text: str):
    current = len(description_of(data))
    total = current + len(text) + (1 if parts else 0)
    if total > cases.MAX_DESCRIPTION:
        return again(
            ctx,
            f"加上这条就超过 {cases.MAX_DESCRIPTION} 字了（已记下 {current} 字，这条 {len(text)} 字），"
            "这条没有记下。请精简后再发，或点“描述完毕”。",
        )
    data["parts"] = [*parts, text]
    return noted(ctx, data, f"已记下（共 {total} 字）。可以继续补充，说完了请点“描述完毕”。")


def add_photo(ctx: Context, data: dict, photos: list[str], parts: list[str], incoming: Incoming):
    if not incoming.media_ref:
        return again(ctx, "这张图片没有收到，请重新发送。")
    if len(photos) >= cases.MAX_PHOTOS:
        return again(ctx, f"最多可以发送 {cases.MAX_PHOTOS} 张图片，这张没有记下。")
    data["photos"] = [*photos, incoming.media_ref]
    caption = incoming.text.strip()
    if caption and len(description_of(data)) + len(caption) + 1 <= cases.MAX_DESCRIPTION:
        data["parts"] = [*parts, caption]
    return noted(
        ctx,
        data,
        f"已收到图片（共 {len(data['photos'])} 张）。可以继续补充，说完了请点“描述完毕”。",
    )


def noted(ctx: Context, data: dict, note: str) -> Reply:
    """Keep a piece of the description: a short acknowledgement with the step's buttons."""
    ctx.set_state(FLOW, "description", data)
    return Reply(note, prompt_description(ctx, data).buttons)


def on_phone(incoming, ctx, data, action, text):
    if action == "here" or text in HERE_WORDS:
        data["phone"] = None
        return go(ctx, after("phone", data), data)
    phone = cases.normalize_phone(text) if text else None
    if phone is None:
        return again(
            ctx,
            "电话号码的格式不对。请输入 11 位手机号（如 13812345678）或带区号的座机号"
            "（如 022-12345678）；不想留电话请点“在这里回复”。",
        )
    data["phone"] = phone
    return go(ctx, after("phone", data), data)


def on_summary(incoming, ctx, data, action, text):
    if action == "submit" or text in ("确认提交", "提交", "确认"):
        return submit(ctx, data)
    if action == "edit" or text in ("修改",):
        return go(ctx, "edit", data)
    return again(ctx, "请点“确认提交”提交咨询，点“修改”修改内容，或点“取消”放弃。")


def on_edit(incoming, ctx, data, action, text):
    chosen = action.removeprefix("e:") if action and action.startswith("e:") else None
    chosen = chosen or next((s for s, label in EDITABLE.items() if label == text), None)
    if chosen not in EDITABLE:
        return again(ctx, "请点下面的按钮选择要修改的内容。")
    data["editing"] = True
    return go(ctx, chosen, data)


def _mine(handler):
    return lambda incoming, ctx, action: handler(incoming, ctx)


# The consultation flow: the intake's steps, then the two one-message steps about an
# existing case that handlers.cases.mine answers (the flow name is stored in open states).
INTAKE = Flow(
    FLOW,
    (
        Step("consent", prompt_consent, _step(on_consent), accepts=("yes", "no")),
        Step("topic", prompt_topic, _step(on_topic), accepts=("t:",)),
        Step("community", prompt_community, _step(on_community), accepts=("c:",)),
        Step("description", prompt_description, _step(on_description), accepts=("done", "clear")),
        Step("phone", prompt_phone, _step(on_phone), accepts=("here",)),
        Step("summary", prompt_summary, _step(on_summary), accepts=("submit", "edit")),
        Step("edit", prompt_edit, _step(on_edit), accepts=("e:",)),
        Step("followup", None, _mine(mine.followup_message)),
        Step("rate", None, _mine(mine.rate_message)),
    ),
    stale="这个按钮已经失效了。",
    intercept=cancel_or_back,
)
INTAKE_STEPS = frozenset(STEPS) | {"edit"}
router.add_flow(INTAKE)


def _index(action: str | None, kind: str, size: int) -> int | None:
    """The option number in an action such as 't:3', if it is in range."""
    if not action or not action.startswith(f"{kind}:"):
        return None
    value = action[len(kind) + 1 :]
    return int(value) if value.isdigit() and int(value) < size else None


def take_state(ctx: Context, step: str) -> bool:
    """Delete this user's state if it is still at `step`; True when this transaction did it.
    Two presses of 确认提交 racing each other thus submit one case."""
    result = ctx.session.execute(
        delete(ConversationState)
        .where(
            ConversationState.user_id == ctx.user.id,
            ConversationState.flow == FLOW,
            ConversationState.step == step,
        )
        .execution_options(synchronize_session=False)
    )
    if ctx.state is not None:
        ctx.session.expunge(ctx.state)
        ctx.state = None
    return result.rowcount == 1


def submit(ctx: Context, data: dict) -> Reply:
    if not take_state(ctx, "summary"):
        return Reply(STALE)
    case = cases.create_case(
        ctx.session,
        ctx.user,
        channel=ctx.channel,
        topic=data["topic"],
        community=data["community"],
        description=description_of(data),
        photos=data.get("photos", []),
        phone=data.get("phone"),
        consent_at=datetime.fromisoformat(data["consent_at"]) if "consent_at" in data else ctx.now,
        now=ctx.now,
        zone=ctx.settings.zone,
    )
    notify.count(ctx, Kind.CONSULT_SUBMITTED, case)
    community.adopt(ctx, ctx.user, case.community)  # the first consultation sets it once
    notify.notify_new_case(ctx, case)
    log.info("case %s submitted by %s", case.number, ctx.user.ref)
    return Reply(
        f"✅ 已收到您的咨询，编号 {case.number}。\n"
        "法律顾问会尽快处理，答复会发到这里。发送 /mycases 可以随时查看进度。",
        (Button("📂 我的咨询", MyCaseButton("list").pack()),),
    )
