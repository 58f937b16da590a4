"""通知与推送: compose (text and an optional file), the audience with its live count, the
preview, send now or schedule; schedules listed, edited and cancelled; each push's report.
Everything goes through bot.services.publicity / schedules, as the chat and CLI do."""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlmodel import Session
from starlette.responses import JSONResponse

from bot.ledger import Kind, schedule_ref
from bot.models import Notice, Push, Schedule
from bot.routing import Context
from bot.services import publicity, schedules
from bot.services.publicity import Audience
from bot.timeutil import utcnow
from bot.web import uploads
from bot.web.security import STAFF, Page, Upload

log = logging.getLogger(__name__)

AUDIENCE_NAMES = {
    "all": "全部订阅者",
    "topic": "按主题",
    "community": "按社区",
    "daily": "每日一条民法典订阅者",
}


def _audience(page: Page, source) -> Audience:
    kind = source("audience", "all") or "all"
    value = (
        source("topic") if kind == "topic" else source("community") if kind == "community" else None
    )
    return Audience(kind, value or None)


def _counts_text(db: Session, audience: Audience) -> str:
    reachable, unreachable = publicity.count_audience(db, audience)
    text = f"{audience.label()}：{reachable} 人"
    return text + (f"（另有 {unreachable} 人已无法送达）" if unreachable else "")


def index(page: Page, **form_values):
    zone = page.settings.zone
    pushes = [
        (push, notice, publicity.push_counts(page.db, push))
        for push, notice in publicity.recent_pushes(page.db, 20)
    ]
    rows = [
        (
            row,
            schedules.describe(schedules.when_of(row), zone),
            schedules.title(page.db, row),
            schedules.audience_label(page.db, row),
        )
        for row in schedules.active(page.db)
    ]
    values = {
        "text": "",
        "audience": "all",
        "topic": "",
        "community": "",
        "when": "",
        **form_values,
    }
    return page.render(
        "notices.html",
        title="通知与推送",
        pushes=pushes,
        schedule_rows=rows,
        form=values,
        audiences=AUDIENCE_NAMES,
        topics=page.settings.subscription_topics,
        communities=page.settings.communities,
        when_help=schedules.WHEN_HELP,
        max_chars=publicity.MAX_NOTICE_CHARS,
        title_of=publicity.notice_title,
    )


def audience_count(page: Page):
    audience = _audience(page, page.query)
    problem = audience.problem(page.settings)
    return JSONResponse({"text": problem or _counts_text(page.db, audience)})


def _draft(page: Page):
    """(text, audience, attachment, stored, original) from the form, or raises ValueError."""
    text = page.value("text")
    audience = _audience(page, page.value)
    problem = audience.problem(page.settings)
    if problem:
        raise ValueError(problem)
    if not text:
        raise ValueError("通知内容不能为空。")
    if len(text) > publicity.MAX_NOTICE_CHARS:
        raise ValueError(
            f"通知内容有 {len(text)} 字，超过了 {publicity.MAX_NOTICE_CHARS} 字的上限。"
        )
    url = page.settings.database_url
    upload = page.form.get("file")
    if isinstance(upload, Upload):
        stored, original = uploads.store(url, upload.filename, upload.data)
    else:
        stored, original = page.value("stored"), page.value("original")
    attachment = uploads.attachment(url, stored, original) if stored else None
    return text, audience, attachment, stored, original


def preview(page: Page):
    try:
        text, audience, attachment, stored, original = _draft(page)
    except ValueError as exc:
        page.flash(str(exc), "error")
        return index(page, **_echo(page))
    stored_file = (
        {"kind": attachment.kind, "filename": attachment.filename, "path": attachment.path}
        if attachment
        else None
    )
    notice = Notice(
        text=text, audience=audience.kind, audience_value=audience.value, attachment=stored_file
    )
    return page.render(
        "notice_preview.html",
        title="预览通知",
        message=publicity.notice_reply(notice),
        counts=_counts_text(page.db, audience),
        form=_echo(page),
        stored=stored,
        original=original,
        when_help=schedules.WHEN_HELP,
    )


def _echo(page: Page) -> dict:
    return {name: page.value(name) for name in ("text", "audience", "topic", "community", "when")}


def send(page: Page):
    try:
        text, audience, attachment, _, _ = _draft(page)
    except ValueError as exc:
        page.flash(str(exc), "error")
        return index(page, **_echo(page))
    if page.value("action") == "schedule":
        return _schedule(page, text, audience, attachment)
    if publicity.count_audience(page.db, audience)[0] == 0:
        page.flash(
            f"{audience.label()}目前没有人，通知没有发送。可以换一个发送对象，或定时发送。", "error"
        )
        return index(page, **_echo(page))
    now = utcnow()
    notice = publicity.create_notice(
        page.db, text=text, audience=audience, author=page.actor, attachment=attachment, now=now
    )
    push = publicity.send_now(page.db, notice, now=now, channel="web")
    page.audit(
        "notice_sent",
        f"notice:{notice.id}",
        f"{audience.label()}，{push.recipients} 人：{text[:100]}",
    )
    log.info("web: %s sent notice %s to %d", page.account.name, notice.id, push.recipients)
    return page.redirect(
        "/notices",
        f"通知 #{notice.id} 已排入发送队列，共 {push.recipients} 人。系统按平台限速逐条发送。",
    )


def _schedule(page: Page, text: str, audience: Audience, attachment):
    zone, now = page.settings.zone, utcnow()
    try:
        when = schedules.parse_when(page.value("when"), now, zone)
        notice = publicity.create_notice(
            page.db, text=text, audience=audience, author=page.actor, attachment=attachment, now=now
        )
        schedule = schedules.create(
            page.db, notice=notice, when=when, author=page.actor, now=now, zone=zone
        )
    except ValueError as exc:
        page.db.rollback()
        page.flash(f"{exc}\n{schedules.WHEN_HELP}", "error")
        return index(page, **_echo(page))
    Context(page.db, page.actor, page.settings, page.services, "web").count(
        Kind.NOTICE_SCHEDULED, topic=notice.topic, ref=schedule_ref(schedule.id)
    )
    _nudge_scheduler(page)
    summary = schedules.summary(page.db, schedule, zone)
    page.audit("notice_scheduled", f"schedule:{schedule.id}", summary)
    return page.redirect("/notices", f"已定时：{summary}")


def _nudge_scheduler(page: Page) -> None:
    scheduler = page.services.extra.get("scheduler")
    if scheduler is not None:
        event.listen(page.db, "after_commit", lambda _session: scheduler.nudge(), once=True)


def _active_schedule(page: Page) -> Schedule | None:
    raw = page.request.path_params["schedule_id"]
    schedule = page.db.get(Schedule, int(raw)) if raw.isdigit() else None
    return schedule if schedule is not None and schedule.status == "active" else None


def schedule_form(page: Page):
    schedule = _active_schedule(page)
    if schedule is None:
        return page.redirect("/notices", "没有这个进行中的定时推送。", "error")
    notice = page.db.get(Notice, schedule.notice_id) if schedule.notice_id else None
    zone = page.settings.zone
    return page.render(
        "schedule_edit.html",
        title=f"修改定时推送 #{schedule.id}",
        schedule=schedule,
        notice=notice,
        when=schedules.describe(schedules.when_of(schedule), zone),
        when_help=schedules.WHEN_HELP,
        max_chars=publicity.MAX_NOTICE_CHARS,
    )


def schedule_edit(page: Page):
    schedule = _active_schedule(page)
    if schedule is None:
        return page.redirect("/notices", "没有这个进行中的定时推送。", "error")
    zone, now = page.settings.zone, utcnow()
    back = f"/notices/schedules/{schedule.id}"
    text, when_text = page.value("text"), page.value("when")
    try:
        if when_text:
            when = (
                schedules.When(
                    "daily", at_time=schedules.parse_clock(when_text.removeprefix("每天").strip())
                )
                if schedule.series
                else schedules.parse_when(when_text, now, zone)
            )
            schedules.set_when(schedule, when, now, zone)
    except ValueError as exc:
        return page.redirect(back, f"{exc}\n{schedules.WHEN_HELP}", "error")
    if schedule.notice_id and text:
        if len(text) > publicity.MAX_NOTICE_CHARS:
            return page.redirect(
                back, f"内容超过了 {publicity.MAX_NOTICE_CHARS} 字的上限。", "error"
            )
        page.db.get(Notice, schedule.notice_id).text = text
    Context(page.db, page.actor, page.settings, page.services, "web").count(
        Kind.SCHEDULE_CHANGED, ref=schedule_ref(schedule.id)
    )
    _nudge_scheduler(page)
    summary = schedules.summary(page.db, schedule, zone)
    page.audit("schedule_changed", f"schedule:{schedule.id}", summary)
    return page.redirect("/notices", f"已修改：{summary}")


def schedule_cancel(page: Page):
    schedule = _active_schedule(page)
    if schedule is None:
        return page.redirect("/notices", "没有这个进行中的定时推送。", "error")
    schedules.cancel(page.db, schedule)
    Context(page.db, page.actor, page.settings, page.services, "web").count(
        Kind.SCHEDULE_CANCELLED, ref=schedule_ref(schedule.id)
    )
    _nudge_scheduler(page)
    page.audit("schedule_cancelled", f"schedule:{schedule.id}")
    return page.redirect("/notices", f"已取消定时推送 #{schedule.id}。")


def push_report(page: Page):
    raw = page.request.path_params["push_id"]
    push = page.db.get(Push, int(raw)) if raw.isdigit() else None
    if push is None:
        return page.render(
            "error.html",
            status_code=404,
            heading="没有这次推送",
            message="编号不存在。",
            back="/notices",
        )
    notice = page.db.get(Notice, push.notice_id)
    counts = publicity.push_counts(page.db, push)
    return page.render(
        "push.html",
        title=f"送达报告 #{push.id}",
        push=push,
        notice=notice,
        counts=counts,
        audience=publicity.audience_of(notice).label(),
        pending=counts.get("pending", 0) + counts.get("sending", 0),
    )


ROUTES = [
    ("/notices", STAFF, index, ["GET"]),
    ("/notices/audience", STAFF, audience_count, ["GET"]),
    ("/notices/preview", STAFF, preview, ["POST"]),
    ("/notices/send", STAFF, send, ["POST"]),
    ("/notices/schedules/{schedule_id}", STAFF, schedule_form, ["GET"]),
    ("/notices/schedules/{schedule_id}", STAFF, schedule_edit, ["POST"]),
    ("/notices/schedules/{schedule_id}/cancel", STAFF, schedule_cancel, ["POST"]),
    ("/notices/pushes/{push_id}", STAFF, push_report, ["GET"]),
]
