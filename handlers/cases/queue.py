"""The adviser's side of consultations: the queue (/cases, filtered by status and topic),
one case (/case), claiming, replying, asking the resident for more and closing; and the
notices that tell advisers about new cases and follow-ups (handlers.cases.notify).

Replying and asking are one-message dialogues (flow "adviser"): the adviser's next text is
what the resident receives, photos sent before it go with it. The state lives in the
database like every flow, so a restart in the middle loses nothing.

Only advisers, staff and admins get here: the commands carry the roles and every "cq"
button checks the role again (a button payload is not a permission).
Button payloads: "cq:<action>:<case number>", "cq:cancel".
"""

from __future__ import annotations

import logging

from bot.flows import Flow, Step
from bot.ledger import Kind
from bot.messages import Button, Incoming, Reply
from bot.models import Case, CaseStatus, User
from bot.payload import MyCaseButton, QueueButton
from bot.routing import ADVISER_ROLES, Context, Router
from bot.services import cases
from bot.services.cases import CaseError
from handlers.cases.mine import await_followup
from handlers.cases.notify import count, photo_attachment, to_resident
from handlers.cases.payloads import answer_buttons

log = logging.getLogger(__name__)
router = Router("queue")

FLOW = "adviser"
STOP_WORDS = frozenset({"取消", "返回", "退出"})
STATUS_WORDS = {
    "new": (CaseStatus.NEW,),
    "新": (CaseStatus.NEW,),
    "待认领": (CaseStatus.NEW,),
    "claimed": (CaseStatus.CLAIMED,),
    "已认领": (CaseStatus.CLAIMED,),
    "处理中": (CaseStatus.CLAIMED,),
    "answered": (CaseStatus.ANSWERED,),
    "已答复": (CaseStatus.ANSWERED,),
    "closed": (CaseStatus.CLOSED,),
    "已结案": (CaseStatus.CLOSED,),
    "open": cases.OPEN_STATUSES,
    "未结案": cases.OPEN_STATUSES,
    "all": cases.STATUSES,
    "全部": cases.STATUSES,
}
MINE_WORDS = frozenset({"mine", "我的"})
CASES_USAGE = (
    "用法：/cases [状态] [类别] [我的]\n"
    "状态：new 待认领、claimed 处理中、answered 已答复、closed 已结案、all 全部（默认：未结案）\n"
    f"类别：{'、'.join(cases.TOPICS)}\n例如：/cases new、/cases 婚姻家庭、/cases 我的"
)
LIST_LIMIT = 30
NOT_ALLOWED = "只有法律顾问、工作人员和管理员可以处理咨询。"


# --- the queue and one case ---------------------------------------------------------------
@router.command(
    "cases", help="咨询队列（可筛选，例如 /cases new、/cases 婚姻家庭）", roles=ADVISER_ROLES
)
def queue(incoming: Incoming, ctx: Context) -> Reply:
    statuses, topic, mine = cases.OPEN_STATUSES, None, False
    for token in incoming.command()[1].split():
        if token.lower() in STATUS_WORDS:
            statuses = STATUS_WORDS[token.lower()]
        elif token in cases.TOPICS:
            topic = token
        elif token.lower() in MINE_WORDS:
            mine = True
        else:
            log.info("/cases: unknown filter %r from %s", token[:20], ctx.user.ref)
            return Reply(f"看不懂筛选条件“{token[:20]}”。\n{CASES_USAGE}")
    found = cases.list_cases(ctx.session, statuses, topic, ctx.user.id if mine else None)
    described = "、".join(cases.STATUS_NAMES[s] for s in statuses) + (
        f" · {topic}" if topic else ""
    )
    if not found:
        return Reply(f"没有符合条件（{described}）的咨询。")
    lines = [f"咨询（{described}{' · 我认领的' if mine else ''}），共 {len(found)} 件："]
    lines += [queue_line(ctx, case) for case in found[:LIST_LIMIT]]
    if len(found) > LIST_LIMIT:
        lines.append(f"……还有 {len(found) - LIST_LIMIT} 件，请加筛选条件。")
    lines.append("发送 /case 编号 查看详情。")
    buttons = tuple(
        Button(f"查看 {c.number}", QueueButton("v", c.number).pack()) for c in found[:10]
    )
    return Reply("\n".join(lines), buttons)


def queue_line(ctx: Context, case: Case) -> str:
    holder = ctx.session.get(User, case.adviser_id) if case.adviser_id else None
    waiting = " · 待居民补充" if case.awaiting_info else ""
    return (
        f"• {case.number} [{cases.STATUS_NAMES[case.status]}] {case.topic} · {case.community} · "
        f"{cases.local_time(case.created_at, ctx.settings.zone)[5:]} · "
        f"{'顾问 ' + cases.display(holder) if holder else '未认领'}{waiting}"
    )


@router.command("case", help="查看一件咨询，例如 /case ZS-2026-0001", roles=ADVISER_ROLES)
def case_command(incoming: Incoming, ctx: Context) -> Reply:
    number = cases.parse_number(incoming.command()[1])
    if number is None:
        return Reply("用法：/case 编号，例如 /case ZS-2026-0001。发送 /cases 查看咨询队列。")
    case = cases.get_case(ctx.session, number)
    return detail(ctx, case) if case else Reply(f"没有找到咨询 {number}。")


def detail(ctx: Context, case: Case) -> Reply:
    """Everything about a case, with the actions its status allows."""
    return Reply(cases.case_text(ctx.session, case, ctx.settings.zone), actions(case))


def actions(case: Case) -> tuple[Button, ...]:
    number = case.number
    if case.status == CaseStatus.CLOSED:
        return ()
    buttons = (
        [Button("✋ 认领", QueueButton("c", number).pack())]
        if case.status == CaseStatus.NEW
        else []
    )
    buttons += [
        Button("✍ 回复", QueueButton("r", number).pack()),
        Button("❓ 请居民补充", QueueButton("i", number).pack()),
        Button("✅ 结案", QueueButton("x", number).pack()),
    ]
    return tuple(buttons)


# --- actions ---------------------------------------------------------------------------------
@router.button(QueueButton)
def action(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    if not ctx.is_adviser:
        log.warning("%s (%s) pressed %r", ctx.user.ref, ctx.user.role, incoming.payload)
        ctx.count(Kind.REFUSED, ref=incoming.payload[:64])
        return Reply(NOT_ALLOWED)
    button = QueueButton.unpack(incoming.payload)
    if button.action == "cancel":
        return cancel(ctx)
    number = cases.parse_number(button.number) if button.number else None
    handler = ACTIONS.get(button.action)
    if number is None or handler is None:
        return Reply("这个按钮已经失效了。发送 /cases 查看咨询队列。")
    case = cases.get_case(ctx.session, number)
    if case is None:
        return Reply(f"没有找到咨询 {number}。")
    return handler(ctx, case)


def do_claim(ctx: Context, case: Case) -> list[Reply] | Reply:
    try:
        cases.claim(ctx.session, case, ctx.user, ctx.now)
    except CaseError as exc:
        return Reply(str(exc), (Button("查看", QueueButton("v", case.number).pack()),))
    after_claim(ctx, case)
    return [Reply(f"已认领 {case.number}。"), detail(ctx, case)]


def after_claim(ctx: Context, case: Case) -> None:
    count(ctx, Kind.CONSULT_CLAIMED, case)
    to_resident(
        ctx,
        case,
        Reply(f"您的咨询 {case.number} 已由法律顾问受理，答复后会在这里通知您。"),
        key="claimed",
    )


def claim_if_new(ctx: Context, case: Case) -> None:
    """Replying to or asking about an unclaimed case takes it (new → claimed first)."""
    if case.status != CaseStatus.NEW:
        return
    try:
        cases.claim(ctx.session, case, ctx.user, ctx.now)
    except CaseError:
        return  # someone else took it a moment ago; this adviser may still reply
    after_claim(ctx, case)


def start_reply(ctx: Context, case: Case) -> Reply:
    return start(
        ctx,
        case,
        "reply",
        "请输入给居民的答复",
        "可以先发图片；发送文字后，答复（连同图片）立即送达居民。",
    )


def start_info(ctx: Context, case: Case) -> Reply:
    return start(
        ctx,
        case,
        "info",
        "请输入需要居民补充的内容",
        "发送后立即送达居民，居民的下一条消息会回到这件咨询。",
    )


def start(ctx: Context, case: Case, step: str, ask: str, how: str) -> Reply:
    if case.status == CaseStatus.CLOSED:
        return Reply(f"{case.number} 已结案。")
    state = ctx.state
    if state is not None and state.flow == FLOW and state.data.get("case") != case.number:
        return Reply(
            f"您正在处理 {state.data.get('case')}，请先发送，或点“取消”放弃后再处理 {case.number}。",
            (Button("✖ 取消", QueueButton("cancel").pack()),),
        )
    carried = state.data.get("photos", []) if state is not None and state.flow == FLOW else []
    data = {"case": case.number, "photos": list(carried)}
    ctx.set_state(FLOW, step, data)
    excerpt = case.description[:300] + ("……" if len(case.description) > 300 else "")
    return Reply(
        f"{ask}（咨询 {case.number}）。{how}\n居民的描述：{excerpt}",
        (Button("✖ 取消", QueueButton("cancel").pack()),),
    )


def confirm_close(ctx: Context, case: Case) -> Reply:
    if case.status == CaseStatus.CLOSED:
        return Reply(f"{case.number} 已经结案了。")
    unanswered = "（这件咨询还没有答复过。）" if case.first_answer_at is None else ""
    return Reply(
        f"确定将 {case.number} 结案吗？结案后居民不能再追问。{unanswered}",
        (
            Button("✅ 确认结案", QueueButton("xx", case.number).pack()),
            Button("⬅ 返回", QueueButton("v", case.number).pack()),
        ),
    )


def do_close(ctx: Context, case: Case) -> Reply:
    try:
        cases.close(ctx.session, case, ctx.user, ctx.now)
    except CaseError as exc:
        return Reply(str(exc))
    count(ctx, Kind.CONSULT_CLOSED, case)
    text = f"您的咨询 {case.number} 已结案。如有新的问题，随时发送 /consult。"
    buttons: tuple[Button, ...] = ()
    if case.first_answer_at is not None and case.rating is None:
        text += "\n欢迎为法律顾问的答复打分："
        buttons = answer_buttons(case.number)[:3]
    to_resident(ctx, case, Reply(text, buttons), key="closed")
    return Reply(f"已结案 {case.number}。")


ACTIONS = {
    "v": detail,
    "c": do_claim,
    "r": start_reply,
    "i": start_info,
    "x": confirm_close,
    "xx": do_close,
}


def cancel(ctx: Context) -> Reply:
    if ctx.state is not None and ctx.state.flow == FLOW:
        ctx.clear_state()
        return Reply("已取消，没有发送任何内容。")
    return Reply("没有进行中的答复。")


# --- the reply / ask dialogue -------------------------------------------------------------------
def adviser_message(incoming: Incoming, ctx: Context, action: str | None) -> Reply | list[Reply]:
    text = incoming.text.strip() if incoming.kind == "text" else ""
    if text in STOP_WORDS:
        return cancel(ctx)
    data = dict(ctx.state.data)
    case = cases.get_case(ctx.session, data.get("case", ""))
    if case is None or not ctx.is_adviser:
        ctx.clear_state()
        return Reply(NOT_ALLOWED if case else "这件咨询已不存在。")
    if ctx.state.step == "reply" and incoming.kind == "image" and incoming.media_ref:
        if len(data["photos"]) >= cases.MAX_PHOTOS:
            return Reply(f"最多附 {cases.MAX_PHOTOS} 张图片，这张没有收下。请发送文字答复。")
        data["photos"] = [*data["photos"], incoming.media_ref]
        ctx.set_state(FLOW, "reply", data)
        return Reply(
            f"已收到图片（共 {len(data['photos'])} 张）。请发送文字答复，发送后连同图片送达居民。",
            (Button("✖ 取消", QueueButton("cancel").pack()),),
        )
    if incoming.kind != "text" or not text:
        log.info("adviser flow: %s sent %s", ctx.user.ref, incoming.kind)
        what = (
            "文字答复（也可以先发图片）"
            if ctx.state.step == "reply"
            else "需要居民补充的内容（文字）"
        )
        return Reply(
            f"请发送{what}；点“取消”放弃。", (Button("✖ 取消", QueueButton("cancel").pack()),)
        )
    if ctx.state.step == "reply":
        return send_answer(ctx, case, text, data.get("photos", []))
    return send_info_request(ctx, case, text)


# One message to a resident: the answer ("reply") or what they should add ("info");
# advisers, staff and admins only, at every step.
ADVISER = Flow(
    FLOW,
    (
        Step("reply", None, adviser_message, roles=ADVISER_ROLES),
        Step("info", None, adviser_message, roles=ADVISER_ROLES),
    ),
    refused=NOT_ALLOWED,
)
router.add_flow(ADVISER)


def send_answer(ctx: Context, case: Case, text: str, photos: list[str]) -> Reply:
    ctx.clear_state()
    claim_if_new(ctx, case)
    try:
        event, first = cases.answer(ctx.session, case, ctx.user, text, photos, ctx.now)
    except CaseError as exc:
        return Reply(str(exc))
    count(ctx, Kind.CONSULT_REPLIED, case)
    if first:
        hours = cases.hours_between(case.created_at, case.first_answer_at)
        count(ctx, Kind.CONSULT_ANSWERED, case, value=hours)
    message = f"📨 法律顾问对您的咨询 {case.number} 的答复：\n\n{text}"
    if photos:
        message += f"\n\n（顾问附了 {len(photos)} 张图片。）"
    message += f"\n\n发送 /mycases {case.number} 查看记录。对答复满意吗？"
    delivered = to_resident(ctx, case, Reply(message, answer_buttons(case.number)), f"ev{event.id}")
    for index, ref in enumerate(photos, 1):
        attachment = photo_attachment(ref)
        if attachment is not None and delivered:
            picture = Reply(f"{case.number} 的附图 {index}", attachment=attachment)
            to_resident(ctx, case, picture, f"ev{event.id}p{index}")
    note = "答复已发送给居民。" if delivered else "居民的信息已匿名化，答复只记入案卷。"
    return Reply(
        f"已答复 {case.number}。{note}",
        (
            Button("✅ 结案", QueueButton("x", case.number).pack()),
            Button("查看", QueueButton("v", case.number).pack()),
        ),
    )


def send_info_request(ctx: Context, case: Case, text: str) -> Reply:
    ctx.clear_state()
    claim_if_new(ctx, case)
    try:
        event = cases.request_info(ctx.session, case, ctx.user, text, ctx.now)
    except CaseError as exc:
        return Reply(str(exc))
    message = (
        f"❓ 法律顾问需要您补充一些情况（咨询 {case.number}）：\n\n{text}\n\n"
        "请直接回复（文字或图片），或点“补充”。"
    )
    reply = Reply(message, (Button("💬 补充", MyCaseButton("f", case.number).pack()),))
    if not to_resident(ctx, case, reply, f"ev{event.id}"):
        return Reply(f"{case.number} 的居民信息已匿名化，无法联系。")
    resident = ctx.session.get(User, case.user_id)
    if resident.id != ctx.user.id:
        await_followup(ctx.session, resident, case.number)
    return Reply(f"已请居民补充（{case.number}），居民回复后会通知您。")
