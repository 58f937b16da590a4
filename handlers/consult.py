"""The resident's side of consultations: the intake dialogue (/consult, the 咨询法律顾问
button under answers and in the menu), /mycases, follow-ups and rating.

The intake is a small state machine kept in the conversation state (flow "consult"), so it
survives restarts and works the same on every channel:
consent → topic → community → description → phone → summary (and "edit", to pick what to
change). Every step takes 取消 and 返回, typed or pressed; bad input repeats what the step
expects and keeps everything entered so far. Two more steps of the same flow wait for one
message about an existing case: "followup" (a follow-up, or what the adviser asked for)
and "rate".

Button payloads: "cs:<action>[:<arg>]" for the intake, "cm:<action>[:<number>[:<arg>]]"
for a resident's own cases.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session

from bot.messages import Button, Incoming, Reply
from bot.models import Case, ConversationState, User
from bot.routing import Context, Router
from bot.services import consultations as cases
from bot.services.consultations import CaseError

log = logging.getLogger(__name__)
router = Router("consult")

FLOW = "consult"
STEPS = ("consent", "topic", "community", "description", "phone", "summary")
CANCEL_WORDS = frozenset({"取消", "退出", "不咨询了"})
BACK_WORDS = frozenset({"返回", "上一步"})
DONE_WORDS = frozenset({"完成", "描述完毕", "好了", "说完了", "写完了"})
HERE_WORDS = frozenset({"在这里回复", "不留", "不留电话", "不需要", "无", "没有"})
RATING_WORDS = {"满意": 5, "一般": 3, "不满意": 1}
PRESS_WORDS = frozenset({"补充", "追问", "继续追问", "补充/追问"})

BACK = Button("⬅ 返回", "cs:back")
CANCEL = Button("✖ 取消", "cs:cancel")

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
STALE = "这个咨询已经提交或已取消。需要时发送 /consult 重新开始，发送 /mycases 查看您的咨询。"
NOT_YOURS = "没有找到您名下编号为 {number} 的咨询。您只能查看自己提交的咨询，发送 /mycases 查看。"


# --- small helpers shared with the adviser side ---------------------------------------------
def count(ctx: Context, kind: str, case: Case, value: float | None = None) -> None:
    """A ledger row for `case`, with the case's topic and community."""
    ctx.count(kind, topic=case.topic, community=case.community, ref=case.number, value=value)


def answer_buttons(number: str) -> tuple[Button, ...]:
    """Under an adviser's answer: rate it, or ask more."""
    return (
        Button("😊 满意", f"cm:r:{number}:5"),
        Button("😐 一般", f"cm:r:{number}:3"),
        Button("🙁 不满意", f"cm:r:{number}:1"),
        Button("💬 继续追问", f"cm:f:{number}"),
    )


def await_followup(session: Session, resident: User, number: str) -> bool:
    """Let the resident's next message go to case `number` (used when the adviser asks for
    more). A resident in the middle of another dialogue is left alone: the 补充 button and
    /mycases still reach the case."""
    if session.get(ConversationState, resident.id) is not None:
        return False
    state = ConversationState(
        user_id=resident.id, flow=FLOW, step="followup", data={"case": number}
    )
    session.add(state)
    return True


# --- entry points ---------------------------------------------------------------------------
@router.command("consult", help="把具体情况提交给法律顾问", aliases=("咨询", "法律咨询"))
def consult_command(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    return begin(ctx)


@router.button("consult")
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
    return PROMPTS[step](ctx, data)


def prompt_consent(ctx: Context, data: dict) -> Reply:
    return Reply(CONSENT_TEXT, (Button("✅ 同意", "cs:yes"), Button("不同意", "cs:no")))


def prompt_topic(ctx: Context, data: dict) -> Reply:
    buttons = tuple(Button(t, f"cs:t:{i}") for i, t in enumerate(cases.TOPICS))
    return Reply("第 1 步（共 5 步）：请选择问题的类别：", (*buttons, BACK, CANCEL))


def communities(ctx: Context) -> list[str]:
    return [*ctx.settings.communities, cases.OTHER_COMMUNITY]


def prompt_community(ctx: Context, data: dict) -> Reply:
    buttons = tuple(Button(c, f"cs:c:{i}") for i, c in enumerate(communities(ctx)))
    return Reply("第 2 步（共 5 步）：请选择您所在的社区：", (*buttons, BACK, CANCEL))


def description_of(data: dict) -> str:
    return "\n".join(data.get("parts", []))


def prompt_description(ctx: Context, data: dict) -> Reply:
    text = (
        f"第 3 步（共 5 步）：请描述您遇到的情况（{cases.MIN_DESCRIPTION}–{cases.MAX_DESCRIPTION} 字），"
        "比如什么时候、和谁、发生了什么、您希望怎样解决。可以分几条发送，也可以发照片。"
        "说完后请点“描述完毕”。"
    )
    buttons = [Button("✅ 描述完毕", "cs:done")]
    if data.get("parts") or data.get("photos"):
        text += (
            f"\n目前已记下 {len(description_of(data))} 字、{len(data.get('photos', []))} 张图片。"
        )
        buttons.append(Button("🗑 清空重写", "cs:clear"))
    return Reply(text, (*buttons, BACK, CANCEL))


def prompt_phone(ctx: Context, data: dict) -> Reply:
    text = (
        "第 4 步（共 5 步）：需要法律顾问打电话联系您吗？需要的话请输入手机号（如 13812345678）"
        "或带区号的座机号（如 022-12345678）；不需要请点“在这里回复”，顾问会在这里答复您。"
    )
    if data.get("phone"):
        text += f"\n目前填写的电话：{data['phone']}"
    return Reply(text, (Button("💬 在这里回复", "cs:here"), BACK, CANCEL))


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
    return Reply(text, (Button("✅ 确认提交", "cs:submit"), Button("✏ 修改", "cs:edit"), CANCEL))


EDITABLE = {"topic": "类别", "community": "社区", "description": "情况描述", "phone": "联系电话"}


def prompt_edit(ctx: Context, data: dict) -> Reply:
    buttons = tuple(Button(label, f"cs:e:{step}") for step, label in EDITABLE.items())
    return Reply("要修改哪一项？", (*buttons, Button("⬅ 返回核对", "cs:back"), CANCEL))


PROMPTS = {
    "consent": prompt_consent,
    "topic": prompt_topic,
    "community": prompt_community,
    "description": prompt_description,
    "phone": prompt_phone,
    "summary": prompt_summary,
    "edit": prompt_edit,
}


@router.button("cs")
def intake_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    if ctx.state is None or ctx.state.flow != FLOW or ctx.state.step not in PROMPTS:
        log.info("consult: stale intake button %r from %s", incoming.payload, ctx.user.ref)
        return Reply(STALE)
    return intake(
        incoming, ctx, incoming.payload.split(":", 1)[1] if ":" in incoming.payload else ""
    )


@router.flow(FLOW)
def flow_message(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    step = ctx.state.step
    if step == "followup":
        return followup_message(incoming, ctx)
    if step == "rate":
        return rate_message(incoming, ctx)
    return intake(incoming, ctx, None)


def intake(incoming: Incoming, ctx: Context, action: str | None) -> Reply | list[Reply]:
    """One typed message, photo or pressed button (`action`) at the current intake step."""
    text = incoming.text.strip() if incoming.kind == "text" else ""
    if action == "cancel" or text in CANCEL_WORDS:
        ctx.clear_state()
        return Reply(CANCELLED)
    step, data = ctx.state.step, dict(ctx.state.data)
    if action == "back" or text in BACK_WORDS:
        return back(ctx, step, data)
    if action is not None and not action.startswith(STEP_ACTIONS[step]):
        return again(ctx, "这个按钮已经失效了。")  # a button of another step, pressed late
    return HANDLERS[step](incoming, ctx, data, action, text)


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


STEP_ACTIONS = {
    "consent": ("yes", "no"),
    "topic": ("t:",),
    "community": ("c:",),
    "description": ("done", "clear"),
    "phone": ("here",),
    "summary": ("submit", "edit"),
    "edit": ("e:",),
}
HANDLERS = {
    "consent": on_consent,
    "topic": on_topic,
    "community": on_community,
    "description": on_description,
    "phone": on_phone,
    "summary": on_summary,
    "edit": on_edit,
}


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
    count(ctx, "consult_submitted", case)
    from handlers import adviser, community  # the adviser side builds on this module

    community.adopt(ctx, ctx.user, case.community)  # the first consultation sets it once

    adviser.notify_new_case(ctx, case)
    log.info("case %s submitted by %s", case.number, ctx.user.ref)
    return Reply(
        f"✅ 已收到您的咨询，编号 {case.number}。\n"
        "法律顾问会尽快处理，答复会发到这里。发送 /mycases 可以随时查看进度。",
        (Button("📂 我的咨询", "cm:list"),),
    )


# --- a resident's own cases -------------------------------------------------------------------
@router.command("mycases", help="查看我提交的咨询", aliases=("我的咨询",))
def mycases(incoming: Incoming, ctx: Context) -> Reply:
    argument = incoming.command()[1] if incoming.is_command else ""
    if argument:
        number = cases.parse_number(argument)
        if number is None:
            return Reply("咨询编号的格式应为 ZS-2026-0001。发送 /mycases 查看您的全部咨询。")
        return show_own(ctx, number)
    return list_own(ctx)


def list_own(ctx: Context) -> Reply:
    mine = cases.cases_of(ctx.session, ctx.user)
    if not mine:
        return Reply("您还没有提交过咨询。", (Button("🧑‍⚖️ 咨询法律顾问", "consult"),))
    lines = ["您的咨询："]
    lines += [
        f"• {c.number} {c.topic} · {cases.STATUS_NAMES[c.status]} · "
        f"{cases.local_time(c.created_at, ctx.settings.zone)[:10]}"
        for c in mine[:20]
    ]
    buttons = tuple(Button(f"查看 {c.number}", f"cm:v:{c.number}") for c in mine[:10])
    return Reply("\n".join(lines), buttons)


def own_case(ctx: Context, number: str) -> Case | None:
    """The case if it is this user's; a look at someone else's is logged, never shown."""
    case = cases.get_case(ctx.session, number)
    if case is not None and case.user_id != ctx.user.id:
        log.warning("%s asked for case %s of another user", ctx.user.ref, number)
        return None
    return case


def show_own(ctx: Context, number: str) -> Reply:
    case = own_case(ctx, number)
    if case is None:
        return Reply(NOT_YOURS.format(number=number))
    zone = ctx.settings.zone
    lines = [
        f"📁 {case.number}（{cases.STATUS_NAMES[case.status]}）",
        f"类别：{case.topic}　社区：{case.community}",
        f"提交时间：{cases.local_time(case.created_at, zone)}",
        f"您的描述：\n{case.description}",
    ]
    thread = [
        f"{cases.local_time(e.at, zone)[5:]} {WHO_SAID[e.kind]}：{e.body}"
        for e in cases.events_of(ctx.session, case)
        if e.kind in WHO_SAID and e.body
    ]
    if thread:
        lines += ["", "—— 往来记录 ——", *thread]
    buttons = []
    if case.status != "closed":
        buttons.append(Button("💬 补充/追问", f"cm:f:{case.number}"))
    if case.first_answer_at is not None and case.rating is None:
        buttons.append(Button("⭐ 评价答复", f"cm:rate:{case.number}"))
    return Reply("\n".join(lines), tuple(buttons))


WHO_SAID = {
    "answered": "法律顾问答复",
    "info_requested": "法律顾问请您补充",
    "followup": "您追问",
    "info_added": "您补充",
}


@router.button("cm")
def mine_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    parts = incoming.payload.split(":")
    action = parts[1] if len(parts) > 1 else ""
    if action == "list":
        return list_own(ctx)
    if action == "end":
        if ctx.state is not None and ctx.state.flow == FLOW and ctx.state.step == "followup":
            ctx.clear_state()
        return Reply("好的，补充已结束。")
    number = cases.parse_number(parts[2]) if len(parts) > 2 else None
    if number is None or action not in ("v", "f", "rate", "r"):
        return Reply("这个按钮已经失效了。发送 /mycases 查看您的咨询。")
    if action == "v":
        return show_own(ctx, number)
    case = own_case(ctx, number)
    if case is None:
        return Reply(NOT_YOURS.format(number=number))
    if action == "f":
        return start_followup(ctx, case)
    if action == "rate":
        return start_rating(ctx, case)
    score = parts[3] if len(parts) > 3 else ""
    return give_rating(ctx, case, int(score) if score.isdigit() else 0)


# --- follow-ups -------------------------------------------------------------------------------
def start_followup(ctx: Context, case: Case) -> Reply:
    if case.status == "closed":
        return Reply(f"{case.number} 已结案。如有新的问题，请发送 /consult 重新咨询。")
    ctx.set_state(FLOW, "followup", {"case": case.number})
    return Reply(
        f"请发送要补充给法律顾问的内容（咨询 {case.number}），文字或图片都可以；"
        "发送文字后即送达顾问。不补充了请点“完成”。",
        (Button("完成", "cm:end"),),
    )


def followup_message(incoming: Incoming, ctx: Context) -> Reply:
    number = ctx.state.data.get("case", "")
    text = incoming.text.strip() if incoming.kind == "text" else ""
    if text in CANCEL_WORDS | BACK_WORDS | {"完成"}:
        ctx.clear_state()
        return Reply("好的，补充已结束。")
    case = own_case(ctx, number)
    if case is None:
        ctx.clear_state()
        return Reply(NOT_YOURS.format(number=number))
    if text in PRESS_WORDS:  # the label of the button typed out: not yet the content
        return start_followup(ctx, case)
    if incoming.kind == "image" and incoming.media_ref:
        return record_followup(ctx, case, text="", photos=[incoming.media_ref])
    if incoming.kind != "text":
        log.info("consult: %s sent %s as a follow-up", ctx.user.ref, incoming.kind)
        return Reply(
            "暂时只能接收文字和图片，请用文字说明或发送照片。", (Button("完成", "cm:end"),)
        )
    return record_followup(ctx, case, text=text, photos=[])


def record_followup(ctx: Context, case: Case, *, text: str, photos: list[str]) -> Reply:
    try:
        event = cases.add_followup(ctx.session, case, ctx.user, text, photos, ctx.now)
    except CaseError as exc:
        ctx.clear_state()
        return Reply(str(exc))
    count(ctx, "consult_followup", case)
    from handlers import adviser

    adviser.notify_followup(ctx, case, event)
    if text:
        ctx.clear_state()
        return Reply(f"已把您的补充发给法律顾问（{case.number}），答复后会通知您。")
    return Reply(
        f"图片已添加到咨询 {case.number}，并已通知法律顾问。可以继续发送文字说明，或点“完成”。",
        (Button("完成", "cm:end"),),
    )


# --- rating -------------------------------------------------------------------------------------
RATING_BUTTONS = ("1 分（不满意）", "2 分", "3 分（一般）", "4 分", "5 分（满意）")


def start_rating(ctx: Context, case: Case) -> Reply:
    if case.first_answer_at is None:
        return Reply(f"{case.number} 还没有答复，答复后才能评价。")
    if case.rating is not None:
        return Reply(f"您已经评价过 {case.number} 了（{case.rating} 分），谢谢！")
    ctx.set_state(FLOW, "rate", {"case": case.number})
    buttons = tuple(
        Button(label, f"cm:r:{case.number}:{score}")
        for score, label in enumerate(RATING_BUTTONS, 1)
    )
    return Reply(
        f"请为法律顾问对 {case.number} 的答复打分（1–5 分，5 分最满意），也可以回复“满意”“一般”或“不满意”：",
        buttons,
    )


def rate_message(incoming: Incoming, ctx: Context) -> Reply:
    text = incoming.text.strip() if incoming.kind == "text" else ""
    if text in CANCEL_WORDS | BACK_WORDS:
        ctx.clear_state()
        return Reply("好的，暂不评价。需要时可以在 /mycases 里评价。")
    score = RATING_WORDS.get(text) or (int(text) if text in ("1", "2", "3", "4", "5") else 0)
    case = own_case(ctx, ctx.state.data.get("case", ""))
    if case is None:
        ctx.clear_state()
        return Reply(STALE)
    if not score:
        log.info("consult: bad rating %r from %s", text[:20], ctx.user.ref)
        return start_rating_again(ctx, case)
    return give_rating(ctx, case, score)


def start_rating_again(ctx: Context, case: Case) -> list[Reply]:
    return [
        Reply("请输入 1 到 5 之间的数字，或回复“满意”“一般”“不满意”。"),
        start_rating(ctx, case),
    ]


def give_rating(ctx: Context, case: Case, score: int) -> Reply:
    if not 1 <= score <= 5:
        return Reply("这个按钮已经失效了。发送 /mycases 查看您的咨询。")
    if ctx.state is not None and ctx.state.flow == FLOW and ctx.state.step == "rate":
        ctx.clear_state()
    try:
        cases.rate(ctx.session, case, ctx.user, score, ctx.now)
    except CaseError as exc:
        return Reply(str(exc))
    count(ctx, "consult_rated", case, value=score)
    return Reply(f"谢谢您的评价（{score} 分）！如有新的问题，随时发送 /consult。")
