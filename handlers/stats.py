"""Staff statistics in chat: /stats, /export, and /activity for offline activities.

/stats 2026 | 2026Q3 | 2026-05 | 2026-05-01..2026-05-31 → the summary and a chart image.
/export [时间段] [xlsx|csv|json] → the figures as a file (written under data/exports/).
/activity → register (a step-by-step flow), list, edit and delete offline activities.
"""

from __future__ import annotations

import logging

from bot.flows import Flow, Step
from bot.ledger import Kind
from bot.messages import Attachment, Button, Incoming, Reply
from bot.payload import ActivityButton
from bot.routing import STAFF_ROLES, Context, Router
from bot.services import activities, export, periods, stats
from bot.services.activities import ActivityError
from bot.services.export import ExportError
from bot.services.periods import Period, PeriodError

log = logging.getLogger(__name__)
router = Router("stats")

FLOW = "activity"
STEPS = ("day", "kind", "title", "community", "topic", "attendance", "notes", "confirm")
OPTIONAL_STEPS = ("community", "topic", "notes")
PROMPTS = {
    "day": "请输入活动日期，例如 2026-05-12（输入“今天”表示今天）：",
    "kind": "请选择活动类型（也可以直接输入）：",
    "title": "请输入活动名称（200 字以内）：",
    "community": "请选择或输入活动所在社区（没有可点“跳过”）：",
    "topic": "请选择或输入活动主题（没有可点“跳过”）：",
    "attendance": "请输入参与人数（整数，例如 120）：",
    "notes": "请输入备注（没有可点“跳过”）：",
}
BACK = Button("⬅ 返回", ActivityButton("back").pack())
CANCEL = Button("✖ 取消", ActivityButton("cancel").pack())
SKIP = Button("跳过", ActivityButton("skip").pack())
CANCEL_WORDS = ("取消", "退出", "cancel")
BACK_WORDS = ("返回", "上一步", "back")
SAVE_WORDS = ("保存", "确认", "确定", "是")
ACTIVITY_USAGE = (
    "线下活动登记：\n"
    "• /activity add — 逐步登记一次活动\n"
    "• /activity list [时间段] — 查看活动，例如 /activity list 2026Q2\n"
    "• /activity edit 编号 字段 新值 — 例如 /activity edit 3 人数 150（字段：日期、类型、标题、社区、主题、人数、备注、对象、资料、阵地、系列、主讲、附件）\n"
    "• /activity delete 编号 — 删除一次活动"
)
LIST_LIMIT = 30


def _zone(ctx: Context):
    return ctx.settings.zone


def _period(argument: str, ctx: Context) -> Period:
    if not argument.strip():
        return periods.current_year(_zone(ctx), ctx.now)
    return periods.parse_period(argument, _zone(ctx))


# --- /stats and /export ----------------------------------------------------------------------
@router.command(
    "stats", help="查看统计，例如 /stats 2026、/stats 2026Q3、/stats 2026-05", roles=STAFF_ROLES
)
def stats_command(incoming: Incoming, ctx: Context) -> list[Reply] | str:
    try:
        period = _period(incoming.command()[1], ctx)
    except PeriodError as exc:
        log.info("bad /stats period from %s: %s", ctx.user.ref, incoming.text[:80])
        return f"{exc}\n例如：/stats 2026、/stats 2026Q3、/stats 2026-05"
    figures = stats.compute(ctx.session, period, lists=False)
    image = Attachment(
        kind="image", filename=f"stats-{period.slug}.png", data=export.month_chart_png(figures)
    )
    caption = f"图：{period.label}每月收到消息、解答民法典咨询和普法信息送达情况"
    return [Reply(stats.summary_text(figures)), Reply(caption, attachment=image)]


def _export_arguments(argument: str, ctx: Context) -> tuple[Period, str]:
    words = argument.split()
    formats = [w for w in words if w.lower() in export.FORMATS]
    rest = [w for w in words if w.lower() not in export.FORMATS]
    if len(formats) > 1:
        raise ExportError(f"只能选一种导出格式。{export.FORMAT_HELP}。")
    if len(rest) > 1:
        raise ExportError(
            f"无法识别“{' '.join(rest)[:40]}”。{export.FORMAT_HELP}；{periods.HELP}。"
        )
    period = _period(rest[0] if rest else "", ctx)
    return period, formats[0].lower() if formats else "xlsx"


@router.command(
    "export", help="导出统计表，例如 /export 2026 xlsx（可选 csv、json）", roles=STAFF_ROLES
)
def export_command(incoming: Incoming, ctx: Context) -> Reply | str:
    try:
        period, fmt = _export_arguments(incoming.command()[1], ctx)
    except (PeriodError, ExportError) as exc:
        log.info("bad /export from %s: %s", ctx.user.ref, incoming.text[:80])
        return f"{exc}\n例如：/export 2026、/export 2026Q3 csv、/export 2026-05 json"
    figures = stats.compute(ctx.session, period)
    stamp = ctx.now.astimezone(_zone(ctx)).strftime("%Y%m%d-%H%M%S-%f")
    folder = export.export_dir(ctx.settings.database_url)
    path = export.write(figures, fmt, folder / f"pufa-stats-{period.slug}-{stamp}.{fmt}")
    ctx.count(Kind.STATS_EXPORTED, ref=f"{period.slug}:{fmt}")
    log.info("%s exported %s as %s to %s", ctx.user.ref, period.slug, fmt, path)
    document = Attachment(kind="document", filename=f"普法统计-{period.slug}.{fmt}", path=str(path))
    return Reply(f"{period.label}统计表（{fmt.upper()}）已生成。", attachment=document)


# --- /activity ---------------------------------------------------------------------------------
@router.command("activity", help="登记和管理线下普法活动", roles=STAFF_ROLES)
def activity_command(incoming: Incoming, ctx: Context) -> Reply | str:
    action, _, rest = incoming.command()[1].partition(" ")
    action = action.strip().lower()
    try:
        if action in ("add", "登记", "新增"):
            return _start_flow(ctx)
        if action in ("list", "列表", "查看"):
            return _list(rest, ctx)
        if action in ("edit", "修改"):
            return _edit(rest, ctx)
        if action in ("delete", "删除"):
            return _ask_delete(rest, ctx)
    except (ActivityError, PeriodError) as exc:
        log.info("bad /activity from %s: %s", ctx.user.ref, incoming.text[:80])
        return f"{exc}\n\n{ACTIVITY_USAGE}"
    return Reply(ACTIVITY_USAGE, (Button("➕ 登记新活动", ActivityButton("new").pack()),))


def _list(argument: str, ctx: Context) -> str:
    period = _period(argument, ctx)
    found = activities.in_period(ctx.session, period)
    if not found:
        return f"{period.label}还没有登记线下活动。发送 /activity add 登记。"
    people = sum(a.attendance for a in found)  # the few rows being listed, not the ledger
    lines = [f"{period.label}线下活动 {len(found)} 次，参与 {people} 人次："]
    lines += [activities.describe(a) for a in found[:LIST_LIMIT]]
    if len(found) > LIST_LIMIT:
        lines.append(f"……另有 {len(found) - LIST_LIMIT} 次，完整列表请用 /export 导出。")
    return "\n".join(lines)


def _edit(argument: str, ctx: Context) -> str:
    parts = argument.split(maxsplit=2)
    if len(parts) < 3:
        raise ActivityError("用法：/activity edit 编号 字段 新值，例如 /activity edit 3 人数 150。")
    field, value = activities.clean_field(parts[1], parts[2])
    activity = activities.update(
        ctx.session, parts[0], {field: value}, channel=ctx.channel, user=ctx.user
    )
    log.info("%s edited activity %s (%s)", ctx.user.ref, activity.id, field)
    return f"已修改：{activities.describe(activity)}"


def _ask_delete(argument: str, ctx: Context) -> Reply:
    activity = activities.get(ctx.session, argument)
    buttons = (
        Button("确认删除", ActivityButton("del", str(activity.id)).pack()),
        Button("不删除", ActivityButton("keep").pack()),
    )
    return Reply(f"确定删除这次活动吗？\n{activities.describe(activity)}", buttons)


# --- the add flow -------------------------------------------------------------------------------
def _start_flow(ctx: Context) -> Reply:
    ctx.set_state(FLOW, "day", {})
    return _prompt("day", ctx)


def _prompt(step: str, ctx: Context) -> Reply:
    if step == "confirm":
        data = _draft(ctx.state.data)
        text = f"请核对活动信息：\n{activities.describe_draft(data)}"
        return Reply(text, (Button("✅ 保存", ActivityButton("save").pack()), BACK, CANCEL))
    options: tuple[Button, ...] = ()
    if step == "kind":
        options = tuple(
            Button(label, ActivityButton("k", key).pack())
            for key, label in activities.KINDS.items()
        )
    elif step == "community":
        options = tuple(
            Button(name[:30], ActivityButton("c", str(i)).pack())
            for i, name in enumerate(ctx.settings.communities)
        )
    elif step == "topic":
        topics = ctx.settings.subscription_topics
        options = tuple(
            Button(name[:30], ActivityButton("t", str(i)).pack()) for i, name in enumerate(topics)
        )
    if step in OPTIONAL_STEPS:
        options = (*options, SKIP)
    back = (BACK,) if step != "day" else ()
    return Reply(PROMPTS[step], (*options, *back, CANCEL))


def _draft(data: dict) -> activities.Draft:
    return activities.draft(
        day=data["day"],
        kind=data["kind"],
        title=data["title"],
        attendance=data["attendance"],
        community=data.get("community"),
        topic=data.get("topic"),
        notes=data.get("notes"),
    )


def _clean_step(step: str, text: str, ctx: Context) -> object:
    if step == "day":
        if text in ("今天", "今日"):
            return ctx.now.astimezone(_zone(ctx)).date().isoformat()
        return activities.clean_day(text).isoformat()
    if step == "kind":
        return activities.clean_kind(text)
    if step == "title":
        return activities.clean_title(text)
    if step == "attendance":
        return activities.clean_attendance(text)
    limits = {"community": (64, "社区"), "topic": (32, "主题"), "notes": (1000, "备注")}
    return activities.clean_optional(text, *limits[step])


def _answer(text: str, ctx: Context) -> Reply | str:
    """Take the answer to the current step (typed or from a button)."""
    step = ctx.state.step
    data = dict(ctx.state.data)
    if text in CANCEL_WORDS:
        ctx.clear_state()
        return "已取消登记，没有保存任何内容。"
    if text in BACK_WORDS:
        previous = STEPS[max(STEPS.index(step) - 1, 0)]
        ctx.set_state(FLOW, previous, data)
        return _prompt(previous, ctx)
    if step == "confirm":
        if text not in SAVE_WORDS:
            return _prompt("confirm", ctx)
        return _save(ctx)
    try:
        data[step] = _clean_step(step, text, ctx)
    except ActivityError as exc:
        log.info("bad activity %s from %s: %s", step, ctx.user.ref, text[:80])
        return Reply(f"{exc}\n{PROMPTS[step]}", _prompt(step, ctx).buttons)
    following = STEPS[STEPS.index(step) + 1]
    ctx.set_state(FLOW, following, data)
    return _prompt(following, ctx)


def _save(ctx: Context) -> Reply | str:
    try:
        data = _draft(ctx.state.data)
    except (ActivityError, KeyError) as exc:  # a state written by an older version
        log.warning("activity draft of %s unusable: %s", ctx.user.ref, exc)
        ctx.set_state(FLOW, "day", {})
        return Reply(f"登记信息不完整，请重新填写。\n{PROMPTS['day']}", (CANCEL,))
    activity = activities.add(ctx.session, data, channel=ctx.channel, user=ctx.user)
    ctx.clear_state()
    log.info("%s added activity %s", ctx.user.ref, activity.id)
    return f"已登记：{activities.describe(activity)}"


def flow_message(incoming: Incoming, ctx: Context, action: str | None) -> Reply | str:
    if incoming.kind != "text":
        return Reply(f"请用文字回答。\n{PROMPTS.get(ctx.state.step, '')}", (CANCEL,))
    return _answer(incoming.text.strip(), ctx)


# One step per field, then confirm; staff only at every step (a revoked role stops it).
ACTIVITY = Flow(
    FLOW,
    tuple(
        Step(name, lambda ctx, data, name=name: _prompt(name, ctx), flow_message, roles=STAFF_ROLES)
        for name in STEPS
    ),
    refused="您已不是工作人员，登记已取消。",
)
router.add_flow(ACTIVITY)


@router.button(ActivityButton)
def activity_button(incoming: Incoming, ctx: Context) -> Reply | str:
    if not ctx.is_staff:
        return "只有工作人员可以登记线下活动。"
    button = ActivityButton.unpack(incoming.payload)
    action = button.action
    if action == "new":
        return _start_flow(ctx)
    if action == "del" and button.arg is not None:
        return _delete(button.arg, ctx)
    if action == "keep":
        return "好的，没有删除。"
    in_flow = ctx.state is not None and ctx.state.flow == FLOW
    if not in_flow:
        return "这个按钮已经失效了。发送 /activity 重新开始。"
    words = {"cancel": "取消", "back": "返回", "save": "保存", "skip": "跳过"}
    if action in words:
        return _answer(words[action], ctx)
    choice = _choice(action, button.arg or "", ctx)
    if choice is None:
        return Reply("这个选项已经失效了，请重新选择。", _prompt(ctx.state.step, ctx).buttons)
    return _answer(choice, ctx)


def _choice(action: str, value: str, ctx: Context) -> str | None:
    expected = {"k": "kind", "c": "community", "t": "topic"}.get(action)
    if expected is None or ctx.state.step != expected:
        return None
    if action == "k":
        return value if value in activities.KINDS else None
    options = ctx.settings.communities if action == "c" else ctx.settings.subscription_topics
    if not value.isdigit() or int(value) >= len(options):
        return None
    return options[int(value)]


def _delete(activity_id: str, ctx: Context) -> str:
    try:
        activity = activities.delete(ctx.session, activity_id, channel=ctx.channel, user=ctx.user)
    except ActivityError as exc:
        return str(exc)
    log.info("%s deleted activity %s", ctx.user.ref, activity.id)
    return f"已删除：{activities.describe(activity)}"
