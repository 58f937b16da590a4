"""A resident's own cases: /mycases, one case, follow-ups (and what an adviser asked for)
and rating the answer.

The follow-up and rating steps belong to the consultation flow ("consult", shared with
the intake, whose flow handler hands these two steps here), so open conversations keep
working across versions. Button payloads: MyCaseButton ("cm:<action>[:<number>[:<score>]]").
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from bot.ledger import Kind
from bot.messages import Button, Incoming, Reply
from bot.models import Case, CaseStatus, ConversationState, User
from bot.payload import Consult, MyCaseButton
from bot.routing import Context, Router
from bot.services import cases
from bot.services.cases import CaseError
from handlers.cases import notify

log = logging.getLogger(__name__)
router = Router("mine")

FLOW = "consult"
CANCEL_WORDS = frozenset({"取消", "退出", "不咨询了"})
BACK_WORDS = frozenset({"返回", "上一步"})
STALE = "这个咨询已经提交或已取消。需要时发送 /consult 重新开始，发送 /mycases 查看您的咨询。"
RATING_WORDS = {"满意": 5, "一般": 3, "不满意": 1}
PRESS_WORDS = frozenset({"补充", "追问", "继续追问", "补充/追问"})
NOT_YOURS = "没有找到您名下编号为 {number} 的咨询。您只能查看自己提交的咨询，发送 /mycases 查看。"


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
        return Reply("您还没有提交过咨询。", (Button("🧑‍⚖️ 咨询法律顾问", Consult().pack()),))
    lines = ["您的咨询："]
    lines += [
        f"• {c.number} {c.topic} · {cases.STATUS_NAMES[c.status]} · "
        f"{cases.local_time(c.created_at, ctx.settings.zone)[:10]}"
        for c in mine[:20]
    ]
    buttons = tuple(
        Button(f"查看 {c.number}", MyCaseButton("v", c.number).pack()) for c in mine[:10]
    )
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
    if case.status != CaseStatus.CLOSED:
        buttons.append(Button("💬 补充/追问", MyCaseButton("f", case.number).pack()))
    if case.first_answer_at is not None and case.rating is None:
        buttons.append(Button("⭐ 评价答复", MyCaseButton("rate", case.number).pack()))
    return Reply("\n".join(lines), tuple(buttons))


WHO_SAID = {
    "answered": "法律顾问答复",
    "info_requested": "法律顾问请您补充",
    "followup": "您追问",
    "info_added": "您补充",
}


@router.button(MyCaseButton)
def mine_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    button = MyCaseButton.unpack(incoming.payload)
    action = button.action
    if action == "list":
        return list_own(ctx)
    if action == "end":
        if ctx.state is not None and ctx.state.flow == FLOW and ctx.state.step == "followup":
            ctx.clear_state()
        return Reply("好的，补充已结束。")
    number = cases.parse_number(button.number) if button.number else None
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
    return give_rating(ctx, case, button.score or 0)


# --- follow-ups -------------------------------------------------------------------------------
def start_followup(ctx: Context, case: Case) -> Reply:
    if case.status == CaseStatus.CLOSED:
        return Reply(f"{case.number} 已结案。如有新的问题，请发送 /consult 重新咨询。")
    ctx.set_state(FLOW, "followup", {"case": case.number})
    return Reply(
        f"请发送要补充给法律顾问的内容（咨询 {case.number}），文字或图片都可以；"
        "发送文字后即送达顾问。不补充了请点“完成”。",
        (Button("完成", MyCaseButton("end").pack()),),
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
            "暂时只能接收文字和图片，请用文字说明或发送照片。",
            (Button("完成", MyCaseButton("end").pack()),),
        )
    return record_followup(ctx, case, text=text, photos=[])


def record_followup(ctx: Context, case: Case, *, text: str, photos: list[str]) -> Reply:
    try:
        event = cases.add_followup(ctx.session, case, ctx.user, text, photos, ctx.now)
    except CaseError as exc:
        ctx.clear_state()
        return Reply(str(exc))
    notify.count(ctx, Kind.CONSULT_FOLLOWUP, case)
    notify.notify_followup(ctx, case, event)
    if text:
        ctx.clear_state()
        return Reply(f"已把您的补充发给法律顾问（{case.number}），答复后会通知您。")
    return Reply(
        f"图片已添加到咨询 {case.number}，并已通知法律顾问。可以继续发送文字说明，或点“完成”。",
        (Button("完成", MyCaseButton("end").pack()),),
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
        Button(label, MyCaseButton("r", case.number, score).pack())
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
    notify.count(ctx, Kind.CONSULT_RATED, case, value=score)
    return Reply(f"谢谢您的评价（{score} 分）！如有新的问题，随时发送 /consult。")
