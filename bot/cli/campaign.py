"""Campaign subcommands: `campaign list|add|daily` (observance days and the daily series)."""

from __future__ import annotations

import argparse

from bot.cli._common import UsageError, find_author, open_session, run_guarded
from bot.config import Settings
from bot.models import ScheduleStatus
from bot.timeutil import utcnow


def register(commands: argparse._SubParsersAction) -> None:
    campaign = commands.add_parser("campaign", help="宣传日历：把宣传日安排为推送；每日一条民法典")
    steps = campaign.add_subparsers(dest="campaign_command", metavar="操作", required=True)
    steps.add_parser("list", help="列出宣传日和下次日期").set_defaults(func=cmd_campaign_list)
    add = steps.add_parser("add", help="把一个宣传日安排为定时推送")
    add.add_argument("day", help="宣传日，例如 0315、3·15、12-4、宪法")
    add.add_argument("--time", default=None, help="推送时刻 HH:MM（默认 09:00）")
    add.add_argument("--author", help="作者（渠道:用户ID），推送后收到送达报告")
    add.set_defaults(func=cmd_campaign_add)
    daily = steps.add_parser("daily", help="查看、开启、停止每日一条民法典或修改时刻")
    daily.add_argument("--time", help="每天推送的时刻 HH:MM")
    switch = daily.add_mutually_exclusive_group()
    switch.add_argument("--on", action="store_true", help="开启")
    switch.add_argument("--off", action="store_true", help="停止")
    daily.set_defaults(func=cmd_campaign_daily)


# --- campaign --------------------------------------------------------------------------------
def cmd_campaign_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot import observances

    for observance, moment in observances.upcoming(utcnow(), settings.zone):
        topic = observance.topic if observance.topic in settings.subscription_topics else "全部"
        print(
            f"{observance.key}  {moment.astimezone(settings.zone):%Y-%m-%d}  {observance.name}（对象：{topic}）"
        )
    return 0


def cmd_campaign_add(args: argparse.Namespace, settings: Settings) -> int:
    return run_guarded(_campaign_add, args, settings)


def _campaign_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot import observances
    from bot.services import schedules

    observance = observances.find(args.day)
    if observance is None:
        keys = "、".join(f"{o.key} {o.name}" for o in observances.OBSERVANCES)
        raise UsageError(f"没有找到宣传日“{args.day}”。可选：{keys}")
    try:
        at_time = schedules.parse_clock(args.time) if args.time else observances.CAMPAIGN_TIME
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with open_session(settings) as session:
        schedule, created = schedules.schedule_campaign(
            session,
            observance,
            settings=settings,
            author=find_author(session, args.author),
            now=utcnow(),
            at_time=at_time,
        )
        session.commit()
        summary = schedules.summary(session, schedule, settings.zone)
    print(f"{'已安排' if created else '已经安排过了'}：{summary}")
    return 0


def cmd_campaign_daily(args: argparse.Namespace, settings: Settings) -> int:
    return run_guarded(_campaign_daily, args, settings)


def _campaign_daily(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publicity, schedules

    try:
        at_time = schedules.parse_clock(args.time) if args.time else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    now = utcnow()
    with open_session(settings) as session:
        series = schedules.ensure_daily_series(
            session, now=now, zone=settings.zone, at_time=at_time, reactivate=args.on
        )
        if args.off and series.status == ScheduleStatus.ACTIVE:
            schedules.cancel(session, series)
        session.commit()
        people = publicity.count_audience(session, publicity.Audience("daily"))[0]
        state = (
            f"运行中，每天 {series.at_time}" if series.status == ScheduleStatus.ACTIVE else "已停止"
        )
    print(f"每日一条民法典（#{series.id}）：{state}；开启它的订阅者 {people} 人。")
    return 0
