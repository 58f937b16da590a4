"""The legal adviser's work log in chat: /work — a few taps on a phone (a button for the
kind, then the few fields of that kind, then confirm) — and /work list [时间段].

The flow's state is a ConversationState row (flow "work": step = the field asked for,
data = the answers so far), so it survives restarts. The role is checked again at every
step, for typed answers and for buttons alike: an adviser whose role is revoked
mid-flow cannot finish it, and nothing is saved.
"""

from __future__ import annotations

import logging

from bot.messages import Button, Incoming, Reply
from bot.payload import WorkButton
from bot.routing import ADVISER_ROLES, Context, Router
from bot.services import periods, worklog
from bot.services.legal_history import Actor
from bot.services.periods import PeriodError
from bot.services.worklog import OPINIONS, WORK_TYPES, WorkError

log = logging.getLogger(__name__)
router = Router("worklog")

FLOW = "work"
STEPS_OF = {
    "contract": ("title", "department", "count", "day"),
    "model_text": ("title", "count", "day"),
    "opinion": ("title", "department", "count", "day"),
    "meeting": ("title", "count", "day"),
    "review": ("decision_number", "opinion", "day"),
    "training": ("title", "count", "day"),
}
CANCEL = Button("✖ 取消", WorkButton("cancel").pack())
CANCEL_WORDS = ("取消", "退出", "cancel")
SAVE_WORDS = ("保存", "确认", "确定", "是")
REFUSED = "只有法律顾问、工作人员和管理员可以登记和查看工作台账。"
REVOKED = "您已不是法律顾问或工作人员，登记已取消，没有保存任何内容。"
USAGE = (
    "法律顾问工作台账：\n"
    "• /work — 逐步登记一项工作（合同审查、示范文本、法律意见、参会、法制审核、培训）\n"
    "• /work list [时间段] — 查看，例如 /work list 2026Q3\n"
    "修改和删除请用命令行：python bot.py work edit|delete 编号"
)
LIST_LIMIT = 30


def _actor(ctx: Context) -> Actor:
    return Actor(ctx.channel, ctx.user)


@router.command(
    "work", help="登记法律顾问工作（合同审查、法律意见、法制审核等）", roles=ADVISER_ROLES
)
def work_command(incoming: Incoming, ctx: Context) -> Reply | str:
    action, _, rest = incoming.command()[1].strip().partition(" ")
    if action.lower() in ("list", "列表", "查看"):
        return _list(rest, ctx)
    if action.lower() in ("help", "帮助"):
        return USAGE
    if action:
        return f"无法识别“{action[:20]}”。\n\n{USAGE}"
    return _start(ctx)


def _list(argument: str, ctx: Context) -> str:
    try:
        zone = ctx.settings.zone
        period = periods.parse_period(argument, zone) if argument.strip() else None
        period = period or periods.current_year(zone, ctx.now)
    except PeriodError as exc:
        log.info("bad /work list period from %s: %s", ctx.user.ref, argument[:80])
        return f"{exc}\n例如：/work list 2026Q3"
    found = worklog.in_period(ctx.session, period)
    if not found:
        return f"{period.label}还没有登记工作。发送 /work 登记。"
    lines = [f"{period.label}工作台账 {len(found)} 项："]
    lines += [worklog.describe(e) for e in found[:LIST_LIMIT]]
    if len(found) > LIST_LIMIT:
        lines.append(f"……另有 {len(found) - LIST_LIMIT} 项，完整列表请用 /export 导出。")
    return "\n".join(lines)


# --- the flow: one small function per step ---------------------------------------------------
def _start(ctx: Context) -> Reply:
    ctx.set_state(FLOW, "kind", {})
    buttons = tuple(Button(t.label, WorkButton("k", t.key).pack()) for t in WORK_TYPES.values())
    return Reply("请选择工作类型：", (*buttons, CANCEL))


def _steps(data: dict) -> tuple[str, ...]:
    return (*STEPS_OF[data["kind"]], "confirm")


def _prompt(step: str, ctx: Context) -> Reply:
    data = ctx.state.data
    kind = WORK_TYPES[data["kind"]]
    if step == "confirm":
        text = f"请核对：\n{worklog.describe(_draft(data))}"
        return Reply(text, (Button("✅ 保存", WorkButton("save").pack()), CANCEL))
    if step == "day":
        quick = (
            Button("今天", WorkButton("v", "today").pack()),
            Button("昨天", WorkButton("v", "yesterday").pack()),
        )
        return Reply("日期？点按钮，或输入例如 2026-07-15：", (*quick, CANCEL))
    if step == "opinion":
        return Reply(
            "审核意见？",
            (*(Button(v, WorkButton("v", k).pack()) for k, v in OPINIONS.items()), CANCEL),
        )
    if step == "count":
        quick = tuple(Button(str(n), WorkButton("v", str(n)).pack()) for n in (1, 2, 3, 5))
        return Reply(f"{kind.count_label}？点按钮或输入数字：", (*quick, CANCEL))
    labels = {"title": kind.title_label, "department": kind.department_label or "部门",
              "decision_number": "决定文号（例如 华阳执罚〔2026〕12号）"}  # fmt: skip
    return Reply(f"请输入{labels[step]}：", (CANCEL,))


def _draft(data: dict) -> worklog.Draft:
    fields = ("day", "kind", "title", "count", "department", "decision_number", "opinion")
    return worklog.draft(**{k: data.get(k) for k in fields})


def _clean(step: str, text: str, ctx: Context) -> object:
    if step == "day":
        today = ctx.now.astimezone(ctx.settings.zone).date()
        words = {"today": 0, "今天": 0, "yesterday": 1, "昨天": 1}
        if text in words:
            return today.fromordinal(today.toordinal() - words[text]).isoformat()
        return worklog.clean_day(text).isoformat()
    if step == "opinion":
        return worklog.clean_opinion(text)
    if step == "count":
        return worklog.clean_count(text, WORK_TYPES[ctx.state.data["kind"]].count_label)
    if step == "department":
        return worklog.clean_text(text, 64, WORK_TYPES[ctx.state.data["kind"]].department_label)
    if step == "decision_number":
        return worklog.clean_text(text, 64, "决定文号")
    return worklog.clean_text(text, 200, WORK_TYPES[ctx.state.data["kind"]].title_label)


def _choose_kind(kind: str, ctx: Context) -> Reply | str:
    if kind not in WORK_TYPES:
        return Reply("这个选项已经失效了，请重新选择。", _start(ctx).buttons)
    data = {"kind": kind}
    ctx.set_state(FLOW, STEPS_OF[kind][0], data)
    return _prompt(STEPS_OF[kind][0], ctx)


def _answer(text: str, ctx: Context) -> Reply | str:
    step, data = ctx.state.step, dict(ctx.state.data)
    if text in CANCEL_WORDS:
        ctx.clear_state()
        return "已取消登记，没有保存任何内容。"
    if step == "kind":
        return _choose_kind(worklog.TYPE_WORDS.get(text, ""), ctx)
    if step == "confirm":
        return _save(ctx) if text in SAVE_WORDS else _prompt("confirm", ctx)
    try:
        data[step] = _clean(step, text, ctx)
    except WorkError as exc:
        log.info("bad work %s from %s: %s", step, ctx.user.ref, text[:80])
        again = _prompt(step, ctx)
        return Reply(f"{exc}\n{again.text}", again.buttons)
    steps = _steps(data)
    following = steps[steps.index(step) + 1]
    ctx.set_state(FLOW, following, data)
    return _prompt(following, ctx)


def _save(ctx: Context) -> str:
    try:
        data = _draft(ctx.state.data)
    except (WorkError, KeyError) as exc:
        log.warning("work draft of %s unusable: %s", ctx.user.ref, exc)
        ctx.clear_state()
        return "登记信息不完整，没有保存。请发送 /work 重新登记。"
    entry = worklog.add(ctx.session, data, _actor(ctx))
    ctx.clear_state()
    log.info("%s added work entry %s", ctx.user.ref, entry.id)
    return f"已登记：{worklog.describe(entry)}"


def _revoked(ctx: Context) -> str | None:
    """The role re-check every step runs first."""
    if ctx.user.role in ADVISER_ROLES:
        return None
    log.warning("%s (%s) refused in the work flow", ctx.user.ref, ctx.user.role)
    if ctx.state is not None and ctx.state.flow == FLOW:
        ctx.clear_state()
        return REVOKED
    return REFUSED


@router.flow(FLOW)
def flow(incoming: Incoming, ctx: Context) -> Reply | str:
    if refusal := _revoked(ctx):
        return refusal
    if incoming.kind != "text":
        return Reply("请用文字回答，或点按钮。", (CANCEL,))
    return _answer(incoming.text.strip(), ctx)


@router.button(WorkButton)
def work_button(incoming: Incoming, ctx: Context) -> Reply | str:
    if refusal := _revoked(ctx):
        return refusal
    button = WorkButton.unpack(incoming.payload)
    action = button.action
    parts = [WorkButton.prefix, action, *([button.arg] if button.arg is not None else [])]
    if ctx.state is None or ctx.state.flow != FLOW:
        return "这个按钮已经失效了。发送 /work 重新开始。"
    if action == "cancel":
        return _answer("取消", ctx)
    if action == "save" and ctx.state.step == "confirm":
        return _answer("保存", ctx)
    if action == "k" and ctx.state.step == "kind" and len(parts) == 3:
        return _choose_kind(parts[2], ctx)
    if action == "v" and len(parts) == 3 and ctx.state.step in ("day", "opinion", "count"):
        return _answer(parts[2], ctx)
    return Reply("这个选项已经失效了，请按当前的提示回答。", _current_buttons(ctx))


def _current_buttons(ctx: Context) -> tuple[Button, ...]:
    if ctx.state.step == "kind":
        return _start(ctx).buttons
    return _prompt(ctx.state.step, ctx).buttons
