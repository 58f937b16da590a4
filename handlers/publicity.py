"""Publicity: residents subscribe (/subscribe, /unsubscribe, topics, community, 每日一条民法典);
staff compose notices (/notice → audience → preview → send now or schedule), manage
schedules (/schedules) and turn observance days into campaigns (/campaign).

Flows: "notice" (steps text → audience → preview → when) and "schedule_edit" (text | when).
Button payloads: sub:…, nt:…, sch:…, camp:… . Extra ledger kinds written here:
notice_scheduled, schedule_changed, schedule_cancelled (ref schedule:<id>).
"""

from __future__ import annotations

import logging
import os

from sqlalchemy import event

from bot import observances
from bot.flows import Flow, Step
from bot.ledger import Kind, schedule_ref
from bot.messages import Attachment, Button, Incoming, Reply
from bot.models import Notice, Schedule, ScheduleStatus
from bot.payload import CampaignButton, NoticeButton, ScheduleButton, SubscriptionButton
from bot.routing import STAFF_ROLES, Context, Router
from bot.services import publicity, schedules
from bot.services.publicity import Audience

log = logging.getLogger(__name__)
router = Router("publicity")

NOTICE_FLOW = "notice"
EDIT_FLOW = "schedule_edit"
CANCEL_WORDS = ("取消", "/cancel", "cancel")
CANCEL_BUTTON = Button("取消", NoticeButton("cancel").pack())
SUBSCRIBE_BUTTON = Button("📬 订阅普法信息", SubscriptionButton("on").pack())
STAFF_ONLY = "这个操作只有工作人员可以使用。"
REVOKED = "您已不是工作人员，操作已取消，没有发送或修改任何内容。"
STALE = "这个操作已经失效了，请重新发送 /{command}。"
MAX_LISTED = 8


# --- residents: subscription -------------------------------------------------------------
@router.command(
    "subscribe", help="订阅普法信息（可选主题、社区、每日一条民法典）", aliases=("订阅",)
)
def subscribe_command(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    return _subscribe(ctx)


@router.command("unsubscribe", help="退订普法信息", aliases=("退订", "取消订阅"))
def unsubscribe_command(incoming: Incoming, ctx: Context) -> Reply:
    if publicity.unsubscribe(ctx.session, ctx.user, channel=ctx.channel, now=ctx.now):
        return Reply("已退订，不会再收到普法推送。想再订阅时发送 /subscribe。", (SUBSCRIBE_BUTTON,))
    return Reply("您目前没有订阅普法信息。发送 /subscribe 即可订阅。", (SUBSCRIBE_BUTTON,))


def _subscribe(ctx: Context) -> Reply | list[Reply]:
    from handlers import community

    topics = ctx.settings.subscription_topics
    new = publicity.subscribe(
        ctx.session, ctx.user, topics=topics, channel=ctx.channel, now=ctx.now
    )
    reply = _subscription_reply(ctx, "✅ 已订阅普法信息。" if new else "您已经订阅了普法信息。")
    first = new and publicity.subscriber(ctx.session, ctx.user).created_at == ctx.now
    if first and not ctx.user.community:  # asked once, at the first subscription
        return [reply, community.ask(ctx)]
    return reply


def _subscription_reply(ctx: Context, head: str) -> Reply:
    chosen = set(publicity.user_topics(ctx.session, ctx.user))
    topics = [t for t in ctx.settings.subscription_topics if t in chosen]
    daily = publicity.subscriber(ctx.session, ctx.user).daily
    lines = [
        head,
        f"主题：{'、'.join(topics) if topics else '未选择（只接收面向全体的通知）'}",
        f"社区：{ctx.user.community or '未选择（选择后可收到本社区的通知）'}",
        f"每日一条民法典：{'已开启' if daily else '未开启'}",
    ]
    buttons = (
        Button("🏷 选择主题", SubscriptionButton("topics").pack()),
        Button("🏘 选择社区", SubscriptionButton("comm").pack()),
        Button(
            "📘 关闭每日一条民法典" if daily else "📘 开启每日一条民法典",
            SubscriptionButton("daily").pack(),
        ),
        Button("退订", SubscriptionButton("off").pack()),
    )
    return Reply("\n".join(lines), buttons)


def _topics_reply(ctx: Context, head: str = "点按主题开关（✅ 为已订阅）：") -> Reply:
    chosen = set(publicity.user_topics(ctx.session, ctx.user))
    buttons = tuple(
        Button(
            f"{'✅' if topic in chosen else '⬜'} {topic}", SubscriptionButton("t", index).pack()
        )
        for index, topic in enumerate(ctx.settings.subscription_topics)
    )
    return Reply(head, (*buttons, Button("完成", SubscriptionButton("show").pack())))


def _communities_reply(ctx: Context) -> Reply:
    buttons = tuple(
        Button(
            f"{'✅ ' if name == ctx.user.community else ''}{name}",
            SubscriptionButton("c", index).pack(),
        )
        for index, name in enumerate(ctx.settings.communities)
    )
    return Reply(
        "请选择您所在的社区：", (*buttons, Button("返回", SubscriptionButton("show").pack()))
    )


@router.button(SubscriptionButton)
def subscription_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    button = SubscriptionButton.unpack(incoming.payload)
    action = button.action or ""
    if action == "off":
        return unsubscribe_command(incoming, ctx)
    if action in ("", "on"):
        return _subscribe(ctx)
    if not publicity.is_subscribed(ctx.session, ctx.user):
        return Reply("您还没有订阅普法信息。", (SUBSCRIBE_BUTTON,))
    if action == "show":
        return _subscription_reply(ctx, "您的订阅设置：")
    if action == "topics":
        return _topics_reply(ctx)
    if action == "comm":
        return _communities_reply(ctx)
    if action == "daily":
        on = publicity.toggle_daily(ctx.session, ctx.user, channel=ctx.channel, now=ctx.now)
        return _subscription_reply(
            ctx, "已开启每日一条民法典。" if on else "已关闭每日一条民法典。"
        )
    index = button.index if button.index is not None else -1
    if action == "t" and 0 <= index < len(ctx.settings.subscription_topics):
        topic = ctx.settings.subscription_topics[index]
        on = publicity.toggle_topic(ctx.session, ctx.user, topic, channel=ctx.channel, now=ctx.now)
        return _topics_reply(ctx, f"已{'订阅' if on else '取消'}“{topic}”。点按主题开关：")
    if action == "c" and 0 <= index < len(ctx.settings.communities):
        publicity.set_community(ctx.session, ctx.user, ctx.settings.communities[index], now=ctx.now)
        return _subscription_reply(ctx, f"社区已设为{ctx.user.community}。")
    log.info("stale subscription button %r from %s", incoming.payload, ctx.user.ref)
    return Reply(
        "这个按钮已经失效了。", (Button("查看订阅设置", SubscriptionButton("show").pack()),)
    )


# --- staff: composing a notice ----------------------------------------------------------------
def _audience_buttons() -> tuple[Button, ...]:
    return (
        Button("👥 全部订阅者", NoticeButton("aud", "all").pack()),
        Button("🏷 按主题", NoticeButton("aud", "topic").pack()),
        Button("🏘 按社区", NoticeButton("aud", "community").pack()),
        CANCEL_BUTTON,
    )


def _preview_buttons() -> tuple[Button, ...]:
    return (
        Button("🚀 立即发送", NoticeButton("send").pack()),
        Button("⏰ 定时发送", NoticeButton("when").pack()),
        Button("✏️ 修改内容", NoticeButton("edit").pack()),
        CANCEL_BUTTON,
    )


@router.command(
    "notice", help="发布通知：编写 → 选择对象 → 预览 → 立即或定时发送", roles=STAFF_ROLES
)
def notice_command(incoming: Incoming, ctx: Context) -> Reply:
    ctx.set_state(NOTICE_FLOW, "text", {})
    text = incoming.command()[1]
    if text:
        return _take_text(text, ctx)
    return Reply(
        f"请发送通知的文字内容（不超过 {publicity.MAX_NOTICE_CHARS} 字）。之后可以附加一张图片或一个文件。",
        (CANCEL_BUTTON,),
    )


def _notice_cancel(incoming: Incoming, ctx: Context, action: str | None) -> Reply | None:
    if incoming.kind == "text" and incoming.text.strip().lower() in CANCEL_WORDS:
        ctx.clear_state()
        return Reply("已取消，通知没有发送。")
    return None


def _on_text(incoming: Incoming, ctx: Context, action: str | None) -> Reply | list[Reply]:
    if incoming.kind != "text":
        return Reply("请先发送通知的文字内容，图片或文件可以在下一步附加。", (CANCEL_BUTTON,))
    return _take_text(incoming.text, ctx)


def _on_audience(incoming: Incoming, ctx: Context, action: str | None) -> Reply:
    if incoming.kind in ("image", "file"):
        return _take_attachment(incoming, ctx)
    return Reply("请点选发送对象（或发送“取消”）：", _audience_buttons())


def _on_preview(incoming: Incoming, ctx: Context, action: str | None) -> Reply:
    return Reply("请点选：立即发送、定时发送、修改内容或取消。", _preview_buttons())


def _on_when(incoming: Incoming, ctx: Context, action: str | None) -> Reply:
    return _schedule_draft(incoming.text, ctx)


# text → audience → preview → when; staff only at every step (a revoked role stops it).
NOTICE = Flow(
    NOTICE_FLOW,
    (
        Step("text", None, _on_text, roles=STAFF_ROLES),
        Step("audience", None, _on_audience, roles=STAFF_ROLES),
        Step("preview", None, _on_preview, roles=STAFF_ROLES),
        Step("when", None, _on_when, roles=STAFF_ROLES),
    ),
    refused=REVOKED,
    intercept=_notice_cancel,
)
router.add_flow(NOTICE)


def _take_text(text: str, ctx: Context) -> Reply | list[Reply]:
    text = text.strip()
    if not text:
        return Reply("通知内容不能为空，请重新发送。", (CANCEL_BUTTON,))
    if len(text) > publicity.MAX_NOTICE_CHARS:
        return Reply(
            f"通知有 {len(text)} 字，超过了 {publicity.MAX_NOTICE_CHARS} 字的上限，请精简后重新发送。",
            (CANCEL_BUTTON,),
        )
    data = {**ctx.state.data, "text": text}
    if "audience" in data:  # editing the text of a draft that has its audience already
        ctx.set_state(NOTICE_FLOW, "preview", data)
        return _preview(ctx)
    ctx.set_state(NOTICE_FLOW, "audience", data)
    return Reply(
        "内容已记下。如需附加图片或文件，现在发送；不需要的话请选择发送对象：", _audience_buttons()
    )


def _take_attachment(incoming: Incoming, ctx: Context) -> Reply:
    path = incoming.media_ref
    if not path or not os.path.isfile(path):
        log.info("%s: attachment %r is not a local file; not attached", ctx.user.ref, path)
        return Reply(
            "这个渠道收到的文件暂时不能直接用作通知附件。可以在服务器上用命令附加："
            "python bot.py notice send --image 图片路径 --text …。\n不带附件继续的话，请选择发送对象：",
            _audience_buttons(),
        )
    attachment = {
        "kind": "image" if incoming.kind == "image" else "document",
        "filename": incoming.meta.get("filename") or os.path.basename(path),
        "path": os.path.abspath(path),
    }
    ctx.set_state(NOTICE_FLOW, "audience", {**ctx.state.data, "attachment": attachment})
    return Reply(f"已附加：{attachment['filename']}。请选择发送对象：", _audience_buttons())


def _draft(ctx: Context) -> tuple[Notice, Audience]:
    data = ctx.state.data
    audience = Audience(data["audience"], data.get("value"))
    draft = Notice(
        text=data["text"],
        attachment=data.get("attachment"),
        audience=audience.kind,
        audience_value=audience.value,
    )
    return draft, audience


def _preview(ctx: Context) -> list[Reply]:
    draft, audience = _draft(ctx)
    reachable, unreachable = publicity.count_audience(ctx.session, audience)
    extra = f"（另有 {unreachable} 人已无法送达，不会发送）" if unreachable else ""
    info = (
        f"👆 以上就是居民将收到的样子。\n发送对象：{audience.label()}，现有 {reachable} 人{extra}。\n"
        "请选择立即发送或定时发送："
    )
    return [publicity.notice_reply(draft), Reply(info, _preview_buttons())]


@router.button(NoticeButton)
def notice_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    if not ctx.is_staff:
        return Reply(STAFF_ONLY)
    if ctx.state is None or ctx.state.flow != NOTICE_FLOW:
        return Reply(STALE.format(command="notice"))
    button = NoticeButton.unpack(incoming.payload)
    action, argument = button.action, button.arg or ""
    data = ctx.state.data
    if action == "cancel":
        ctx.clear_state()
        return Reply("已取消，通知没有发送。")
    if "text" not in data:
        return Reply("请先发送通知的文字内容。", (CANCEL_BUTTON,))
    if action == "aud":
        return _choose_audience(argument, ctx)
    if action in ("topic", "comm"):
        options = (
            ctx.settings.subscription_topics if action == "topic" else ctx.settings.communities
        )
        if not argument.isdigit() or int(argument) >= len(options):
            return Reply("这个选项已经失效了，请重新选择发送对象：", _audience_buttons())
        kind = "topic" if action == "topic" else "community"
        return _set_audience(ctx, kind, options[int(argument)])
    if "audience" not in data:
        return Reply("请先选择发送对象：", _audience_buttons())
    if action == "send":
        return _send_draft(ctx)
    if action == "when":
        ctx.set_state(NOTICE_FLOW, "when", data)
        return Reply(f"请发送时间。{schedules.WHEN_HELP}", (CANCEL_BUTTON,))
    if action == "edit":
        ctx.set_state(NOTICE_FLOW, "text", data)
        return Reply("请发送新的通知内容：", (CANCEL_BUTTON,))
    return Reply(STALE.format(command="notice"))


def _choose_audience(kind: str, ctx: Context) -> Reply | list[Reply]:
    if kind == "all":
        return _set_audience(ctx, "all", None)
    if kind == "topic":
        buttons = tuple(
            Button(t, NoticeButton("topic", str(i)).pack())
            for i, t in enumerate(ctx.settings.subscription_topics)
        )
        return Reply("发给订阅哪个主题的居民？", (*buttons, CANCEL_BUTTON))
    if kind == "community":
        buttons = tuple(
            Button(c, NoticeButton("comm", str(i)).pack())
            for i, c in enumerate(ctx.settings.communities)
        )
        return Reply("发给哪个社区的订阅者？", (*buttons, CANCEL_BUTTON))
    return Reply("请选择发送对象：", _audience_buttons())


def _set_audience(ctx: Context, kind: str, value: str | None) -> list[Reply]:
    ctx.set_state(NOTICE_FLOW, "preview", {**ctx.state.data, "audience": kind, "value": value})
    return _preview(ctx)


def _create_notice(ctx: Context) -> Notice:
    draft, audience = _draft(ctx)
    attachment = Attachment(**draft.attachment) if draft.attachment else None
    return publicity.create_notice(
        ctx.session,
        text=draft.text,
        audience=audience,
        author=ctx.user,
        attachment=attachment,
        now=ctx.now,
    )


def _send_draft(ctx: Context) -> Reply:
    _, audience = _draft(ctx)
    if publicity.count_audience(ctx.session, audience)[0] == 0:
        return Reply(
            f"{audience.label()}目前没有人，通知没有发送。可以换一个发送对象，或定时发送。",
            _preview_buttons(),
        )
    notice = _create_notice(ctx)
    push = publicity.send_now(ctx.session, notice, now=ctx.now, channel=ctx.channel)
    ctx.clear_state()
    log.info("%s sent notice %s to %d recipient(s)", ctx.user.ref, notice.id, push.recipients)
    return Reply(
        f"✅ 通知 #{notice.id} 已排入发送队列，共 {push.recipients} 人。"
        "系统按平台限速逐条发送，全部完成后会给您发送送达报告。"
    )


def _schedule_draft(text: str, ctx: Context) -> Reply:
    zone = ctx.settings.zone
    try:
        when = schedules.parse_when(text, ctx.now, zone)
    except ValueError as exc:
        return Reply(str(exc), (CANCEL_BUTTON,))
    notice = _create_notice(ctx)
    schedule = schedules.create(
        ctx.session, notice=notice, when=when, author=ctx.user, now=ctx.now, zone=zone
    )
    ctx.clear_state()
    ctx.count(Kind.NOTICE_SCHEDULED, topic=notice.topic, ref=schedule_ref(schedule.id))
    _nudge_scheduler(ctx)
    return Reply(
        f"⏰ 已定时：#{schedule.id} {schedules.describe(when, zone)}，发送对象："
        f"{publicity.audience_of(notice).label()}。\n下次发送：{_next_run(schedule, ctx)}。"
        "可用 /schedules 查看、修改或取消。"
    )


def _next_run(schedule: Schedule, ctx: Context) -> str:
    if schedule.next_run_at is None:
        return "—"
    return schedule.next_run_at.astimezone(ctx.settings.zone).strftime("%Y-%m-%d %H:%M")


def _nudge_scheduler(ctx: Context) -> None:
    """Ask a running scheduler to re-read the rows once this transaction has committed."""
    services = ctx.services
    scheduler = services.extra.get("scheduler") if services is not None else None
    if scheduler is not None:
        event.listen(ctx.session, "after_commit", lambda _session: scheduler.nudge(), once=True)


# --- staff: schedules ----------------------------------------------------------------------
@router.command("schedules", help="查看、修改或取消定时推送", roles=STAFF_ROLES)
def schedules_command(incoming: Incoming, ctx: Context) -> Reply:
    words = incoming.command()[1].split()
    if len(words) == 2 and words[0] in ("cancel", "取消", "edit", "修改"):
        action = "cancel" if words[0] in ("cancel", "取消") else "edit"
        return _schedule_action(ctx, action, words[1].lstrip("#"))
    if words:
        return Reply("用法：/schedules、/schedules cancel 编号、/schedules edit 编号")
    rows = schedules.active(ctx.session)
    if not rows:
        return Reply("目前没有定时推送。用 /notice 新建，或用 /campaign 安排宣传日推送。")
    zone = ctx.settings.zone
    lines = [f"定时推送（{len(rows)} 个）："]
    lines += [schedules.summary(ctx.session, row, zone) for row in rows]
    buttons = []
    for row in rows[:MAX_LISTED]:
        buttons += [
            Button(f"✏️ 修改 #{row.id}", ScheduleButton("edit", row.id).pack()),
            Button(f"🗑 取消 #{row.id}", ScheduleButton("cancel", row.id).pack()),
        ]
    if len(rows) > MAX_LISTED:
        lines.append("（更多的可以用 /schedules cancel 编号 或 /schedules edit 编号）")
    return Reply("\n".join(lines), tuple(buttons))


@router.button(ScheduleButton)
def schedule_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    if not ctx.is_staff:
        return Reply(STAFF_ONLY)
    button = ScheduleButton.unpack(incoming.payload)
    return _schedule_action(ctx, button.action, str(button.schedule))


def _schedule_action(ctx: Context, action: str, raw_id: str) -> Reply:
    schedule = ctx.session.get(Schedule, int(raw_id)) if raw_id.isdigit() else None
    if schedule is None or schedule.status != ScheduleStatus.ACTIVE:
        return Reply(f"没有进行中的定时推送 #{raw_id}。发送 /schedules 查看。")
    if action == "cancel":
        schedules.cancel(ctx.session, schedule)
        ctx.count(Kind.SCHEDULE_CANCELLED, ref=schedule_ref(schedule.id))
        _nudge_scheduler(ctx)
        log.info("%s cancelled schedule %s", ctx.user.ref, schedule.id)
        return Reply(f"已取消定时推送 #{schedule.id}。")
    if action == "edit":
        buttons = [Button("⏰ 修改时间", ScheduleButton("time", schedule.id).pack())]
        if schedule.notice_id:
            buttons.insert(0, Button("✏️ 修改内容", ScheduleButton("text", schedule.id).pack()))
        summary = schedules.summary(ctx.session, schedule, ctx.settings.zone)
        return Reply(f"修改 {summary}", tuple(buttons))
    if action == "text" and schedule.notice_id:
        ctx.set_state(EDIT_FLOW, "text", {"id": schedule.id})
        return Reply(f"请发送 #{schedule.id} 的新内容（发送“取消”放弃）：")
    if action == "time":
        ctx.set_state(EDIT_FLOW, "when", {"id": schedule.id})
        hint = (
            "每日一条民法典只能每天推送，请写时刻，例如 08:00。"
            if schedule.series
            else schedules.WHEN_HELP
        )
        return Reply(f"请发送 #{schedule.id} 的新时间。{hint}")
    return Reply(STALE.format(command="schedules"))


def schedule_edit_message(
    incoming: Incoming, ctx: Context, action: str | None
) -> Reply | list[Reply]:
    text = incoming.text.strip()
    if incoming.kind != "text" or not text:
        return Reply("请发送文字（或发送“取消”）。")
    if text.lower() in CANCEL_WORDS:
        ctx.clear_state()
        return Reply("已放弃修改。")
    schedule = ctx.session.get(Schedule, ctx.state.data.get("id", 0))
    if schedule is None or schedule.status != ScheduleStatus.ACTIVE:
        ctx.clear_state()
        return Reply("这个定时推送已经结束或被取消了。发送 /schedules 查看。")
    if ctx.state.step == "text":
        return _edit_text(ctx, schedule, text)
    return _edit_when(ctx, schedule, text)


# One message: the new text or the new time of a schedule (staff only at every step).
SCHEDULE_EDIT = Flow(
    EDIT_FLOW,
    (
        Step("text", None, schedule_edit_message, roles=STAFF_ROLES),
        Step("when", None, schedule_edit_message, roles=STAFF_ROLES),
    ),
    refused=REVOKED,
)
router.add_flow(SCHEDULE_EDIT)


def _edit_text(ctx: Context, schedule: Schedule, text: str) -> Reply | list[Reply]:
    if len(text) > publicity.MAX_NOTICE_CHARS:
        return Reply(f"内容超过了 {publicity.MAX_NOTICE_CHARS} 字的上限，请精简后重新发送。")
    notice = ctx.session.get(Notice, schedule.notice_id)
    notice.text = text
    ctx.clear_state()
    ctx.count(Kind.SCHEDULE_CHANGED, ref=schedule_ref(schedule.id))
    return [
        publicity.notice_reply(notice),
        Reply(f"👆 已修改 #{schedule.id} 的内容，以上是居民将收到的样子。"),
    ]


def _edit_when(ctx: Context, schedule: Schedule, text: str) -> Reply:
    zone = ctx.settings.zone
    try:
        if schedule.series:  # a series runs daily: only its time of day can change
            clock = text.removeprefix("每天").strip()
            when = schedules.When("daily", at_time=schedules.parse_clock(clock))
        else:
            when = schedules.parse_when(text, ctx.now, zone)
        schedules.set_when(schedule, when, ctx.now, zone)
    except ValueError as exc:
        return Reply(f"{exc}（发送“取消”放弃修改）")
    ctx.clear_state()
    ctx.count(Kind.SCHEDULE_CHANGED, ref=schedule_ref(schedule.id))
    _nudge_scheduler(ctx)
    return Reply(
        f"已修改 #{schedule.id}：{schedules.describe(when, zone)}，下次发送 {_next_run(schedule, ctx)}。"
    )


# --- staff: campaigns ------------------------------------------------------------------------
@router.command(
    "campaign", help="宣传日历：把宣传日安排为定时推送；每日一条民法典", roles=STAFF_ROLES
)
def campaign_command(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    argument = incoming.command()[1].strip()
    if not argument:
        return _calendar(ctx)
    if argument.lower() in ("daily", "每日", "每日一条民法典"):
        return _daily_status(ctx)
    observance = observances.find(argument)
    if observance is None:
        return [Reply(f"没有找到“{argument[:20]}”这个宣传日。"), _calendar(ctx)]
    return _schedule_campaign(ctx, observance)


def _calendar(ctx: Context) -> Reply:
    zone = ctx.settings.zone
    lines = [
        f"宣传日历（点选即安排在当天 {observances.CAMPAIGN_TIME} 推送，之后可在 /schedules 修改）："
    ]
    lines += [
        f"• {o.name}：{moment.astimezone(zone):%Y-%m-%d}（/campaign {o.key}）"
        for o, moment in observances.upcoming(ctx.now, zone)
    ]
    buttons = tuple(Button(o.name, CampaignButton(o.key).pack()) for o in observances.OBSERVANCES)
    return Reply(
        "\n".join(lines), (*buttons, Button("📘 每日一条民法典", CampaignButton("daily").pack()))
    )


def _schedule_campaign(ctx: Context, observance: observances.Observance) -> Reply | list[Reply]:
    schedule, created = schedules.schedule_campaign(
        ctx.session, observance, settings=ctx.settings, author=ctx.user, now=ctx.now
    )
    summary = schedules.summary(ctx.session, schedule, ctx.settings.zone)
    if not created:
        return Reply(f"“{observance.name}”已经安排过了：{summary}。可用 /schedules 修改或取消。")
    ctx.count(Kind.NOTICE_SCHEDULED, ref=schedule_ref(schedule.id))
    _nudge_scheduler(ctx)
    notice = ctx.session.get(Notice, schedule.notice_id)
    return [
        publicity.notice_reply(notice),
        Reply(f"👆 已安排“{observance.name}”宣传：{summary}。内容和时间可用 /schedules 修改。"),
    ]


@router.button(CampaignButton)
def campaign_button(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    if not ctx.is_staff:
        return Reply(STAFF_ONLY)
    button = CampaignButton.unpack(incoming.payload)
    key = button.key
    if key == CampaignButton.DAILY:
        return _daily_toggle(ctx, button.switch) if button.switch else _daily_status(ctx)
    observance = observances.BY_KEY.get(key)
    if observance is None:
        return Reply(STALE.format(command="campaign"))
    return _schedule_campaign(ctx, observance)


def _daily_status(ctx: Context) -> Reply:
    zone = ctx.settings.zone
    series = schedules.ensure_daily_series(ctx.session, now=ctx.now, zone=zone)
    people = publicity.count_audience(ctx.session, Audience("daily"))[0]
    if series.status == ScheduleStatus.ACTIVE:
        state = f"运行中：每天 {series.at_time} 推送，下次 {_next_run(series, ctx)}"
        button = Button("⏸ 停止每日一条民法典", CampaignButton("daily", "off").pack())
    else:
        state = "已停止"
        button = Button("▶️ 开启每日一条民法典", CampaignButton("daily", "on").pack())
    return Reply(
        f"📘 每日一条民法典（#{series.id}）：{state}。\n"
        f"每天从问答库选一条（一年内不重复）推送给开启了它的订阅者，现有 {people} 人。"
        "推送时间可在 /schedules 修改。",
        (button,),
    )


def _daily_toggle(ctx: Context, action: str) -> Reply:
    zone = ctx.settings.zone
    series = schedules.ensure_daily_series(
        ctx.session, now=ctx.now, zone=zone, reactivate=action == "on"
    )
    if action == "off" and series.status == ScheduleStatus.ACTIVE:
        schedules.cancel(ctx.session, series)
        ctx.count(Kind.SCHEDULE_CANCELLED, ref=schedule_ref(series.id))
    _nudge_scheduler(ctx)
    return _daily_status(ctx)
