"""Publicity subcommands: `notice send|schedule|list|cancel` (campaigns: bot.cli.campaign).

They write the same rows as the chat commands. Notices sent from here are fanned out into
the outbox at once and delivered by the running bot (`python bot.py run`); schedules are
picked up by its scheduler within a sync interval (cancellations take effect at once:
firing re-reads the row).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlmodel import Session

from bot.cli._common import UsageError, find_author, open_session, run_guarded
from bot.config import Settings
from bot.messages import Attachment
from bot.models import OutboxStatus, PushStatus, ScheduleStatus
from bot.parsing import ascii_int
from bot.timeutil import utcnow


def register(commands: argparse._SubParsersAction) -> None:
    notice = commands.add_parser("notice", help="普法通知：立即发送、定时发送、列表、取消")
    actions = notice.add_subparsers(dest="notice_command", metavar="操作", required=True)

    send = actions.add_parser("send", help="立即发送一条通知（先打印预览）")
    _content_arguments(send)
    send.add_argument("--dry-run", action="store_true", help="只预览和统计人数，不发送")
    send.set_defaults(func=cmd_send)

    schedule = actions.add_parser("schedule", help="定时发送：一次，或每天/每周/每月")
    _content_arguments(schedule)
    schedule.add_argument(
        "--when",
        required=True,
        help="例如 “2026-03-15 09:00”“明天 09:00”“每天 08:00”“每周一 08:00”“每月1日 08:00”",
    )
    schedule.set_defaults(func=cmd_schedule)

    listing = actions.add_parser("list", help="列出定时推送和最近的发送（含送达统计）")
    listing.add_argument("--limit", type=int, default=20, help="最近发送的条数（默认 20）")
    listing.set_defaults(func=cmd_list)

    cancel = actions.add_parser("cancel", help="取消一个定时推送")
    cancel.add_argument("id", help="定时推送编号（notice list 中的 #编号）")
    cancel.set_defaults(func=cmd_cancel)


def _content_arguments(parser: argparse.ArgumentParser) -> None:
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="通知内容")
    text.add_argument("--text-file", help="从 UTF-8 文本文件读取通知内容")
    media = parser.add_mutually_exclusive_group()
    media.add_argument("--image", help="附加一张图片（服务器上的路径）")
    media.add_argument("--document", help="附加一个文件（服务器上的路径）")
    audience = parser.add_mutually_exclusive_group()
    audience.add_argument("--all", action="store_true", help="全部订阅者（默认）")
    audience.add_argument("--topic", help="订阅某个主题的居民")
    audience.add_argument("--community", help="某个社区的订阅者")
    parser.add_argument(
        "--author", help="作者（渠道:用户ID，例如 telegram:123），完成后收到送达报告"
    )


def _text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return args.text
    try:
        return Path(args.text_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"无法读取 {args.text_file}：{exc}") from None


def _attachment(args: argparse.Namespace) -> Attachment | None:
    path = args.image or args.document
    if path is None:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise UsageError(f"找不到或无法读取附件：{path}")
    kind = "image" if args.image else "document"
    return Attachment(kind, os.path.basename(path), path=os.path.abspath(path))


def _audience(args: argparse.Namespace, settings: Settings):
    from bot.services.publicity import Audience

    if args.topic:
        audience = Audience("topic", args.topic)
    elif args.community:
        audience = Audience("community", args.community)
    else:
        audience = Audience("all")
    problem = audience.problem(settings)
    if problem:
        raise UsageError(problem)
    return audience


def _draft(session: Session, args: argparse.Namespace, settings: Settings):
    from bot.services import publicity

    try:
        return publicity.create_notice(
            session,
            text=_text(args),
            audience=_audience(args, settings),
            author=find_author(session, args.author),
            attachment=_attachment(args),
            now=utcnow(),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _print_preview(session: Session, notice) -> None:
    from bot.channels.console import render
    from bot.services import publicity

    audience = publicity.audience_of(notice)
    reachable, unreachable = publicity.count_audience(session, audience)
    print("—— 居民将收到 ——")
    print(render(publicity.notice_reply(notice)))
    extra = f"（另有 {unreachable} 人已无法送达）" if unreachable else ""
    print(f"—— 发送对象：{audience.label()}，现有 {reachable} 人{extra}")


# --- notice ----------------------------------------------------------------------------------
def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    return run_guarded(_send, args, settings)


def _send(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publicity

    with open_session(settings) as session:
        notice = _draft(session, args, settings)
        _print_preview(session, notice)
        if args.dry_run:
            print("（--dry-run：没有发送）")
            return 0
        if publicity.count_audience(session, publicity.audience_of(notice))[0] == 0:
            raise UsageError("发送对象目前没有人，没有发送。")
        push = publicity.send_now(session, notice, now=utcnow(), channel="cli")
        session.commit()
        print(
            f"通知 #{notice.id} 已排入发送队列，共 {push.recipients} 人；由运行中的机器人按限速发送。"
        )
        if notice.author_id is None:
            print(
                "未指定 --author，不会有聊天中的送达报告；可用 python bot.py notice list 查看统计。"
            )
    return 0


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    return run_guarded(_schedule, args, settings)


def _schedule(args: argparse.Namespace, settings: Settings) -> int:
    from bot.models import User
    from bot.services import schedules

    now = utcnow()
    try:
        when = schedules.parse_when(args.when, now, settings.zone)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with open_session(settings) as session:
        notice = _draft(session, args, settings)
        _print_preview(session, notice)
        author = session.get(User, notice.author_id) if notice.author_id else None
        schedule = schedules.create(
            session, notice=notice, when=when, author=author, now=now, zone=settings.zone
        )
        session.commit()
        print(f"已定时：{schedules.summary(session, schedule, settings.zone)}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publicity, schedules

    zone = settings.zone
    with open_session(settings) as session:
        rows = schedules.active(session)
        print(f"定时推送（{len(rows)} 个）：" if rows else "没有进行中的定时推送。")
        for row in rows:
            print(f"  {schedules.summary(session, row, zone)}")
        pushes = publicity.recent_pushes(session, args.limit)
        print(f"最近的发送（{len(pushes)} 次）：" if pushes else "还没有发送过通知。")
        for push, notice in pushes:
            count = publicity.push_counts(session, push).get
            waiting = count(OutboxStatus.PENDING, 0) + count(OutboxStatus.SENDING, 0)
            state = "已完成" if push.status == PushStatus.DONE else f"发送中（待发 {waiting}）"
            print(
                f"  push {push.id} · 通知 #{notice.id}「{publicity.notice_title(notice)}」"
                f" · {push.due_at.astimezone(zone):%Y-%m-%d %H:%M} · {state} · 共 {push.recipients} 人："
                f"送达 {count(OutboxStatus.SENT, 0)}，失败 {count(OutboxStatus.FAILED, 0)}，"
                f"无法送达 {count(OutboxStatus.UNREACHABLE, 0)}，"
                f"状态不明 {count(OutboxStatus.IN_DOUBT, 0)}"
            )
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from bot.models import Schedule
    from bot.services import schedules

    raw = str(args.id).lstrip("#")
    number = ascii_int(raw)
    with open_session(settings) as session:
        schedule = session.get(Schedule, number) if number is not None else None
        if schedule is None or schedule.status != ScheduleStatus.ACTIVE:
            print(f"没有进行中的定时推送 #{raw}。", file=sys.stderr)
            return 1
        schedules.cancel(session, schedule)
        session.commit()
    print(f"已取消定时推送 #{raw}。")
    return 0
