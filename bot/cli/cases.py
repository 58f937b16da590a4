"""Consultation subcommands for the office: cases add | list | show | export | purge."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from datetime import timedelta

from bot.cli._common import open_session
from bot.config import Settings
from bot.services import cases

AGE = re.compile(r"([0-9]{1,5})\s*([dh天]?)")  # at most 99999 days or hours


def parse_age(text: str) -> timedelta:
    """'365d' (or '365', '365天') → 365 days; '12h' → 12 hours."""
    match = AGE.fullmatch(text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"“{text[:20]}”应为天数（不超过 5 位），例如 365d")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=number) if unit == "h" else timedelta(days=number)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("cases", help="法律咨询：列表、详情、导出、匿名化清理")
    sub = parser.add_subparsers(dest="cases_command", metavar="操作", required=True)

    _register_add(sub)

    listing = sub.add_parser("list", help="列出咨询（默认只列未结案的）")
    listing.add_argument("--status", choices=[*cases.STATUSES, "open", "all"], default="open")
    listing.add_argument("--topic", choices=cases.TOPICS)
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="查看一件咨询及其全部记录")
    show.add_argument("number", help="咨询编号，例如 ZS-2026-0001")
    show.set_defaults(func=cmd_show)

    export = sub.add_parser("export", help="导出咨询（默认不含个人信息）")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--out", help="输出文件（默认打印到屏幕）")
    export.add_argument("--year", type=int, help="只导出这一年的咨询（按编号中的年份）")
    export.add_argument(
        "--personal", action="store_true", help="包含居民、电话和情况描述（注意保密）"
    )
    export.set_defaults(func=cmd_export)

    purge = sub.add_parser(
        "purge", help="匿名化结案已久的咨询：删除描述、图片、电话和姓名，保留类别和数量"
    )
    purge.add_argument(
        "--older-than",
        type=parse_age,
        default=timedelta(days=cases.RETENTION_DAYS),
        help=f"结案超过多久的咨询（默认 {cases.RETENTION_DAYS}d）",
    )
    purge.add_argument("--dry-run", action="store_true", help="只列出，不修改")
    purge.set_defaults(func=cmd_purge)


def _register_add(sub: argparse._SubParsersAction) -> None:
    add = sub.add_parser("add", help="登记窗口来访、电话或热线咨询")
    add.add_argument("--channel", required=True, help="窗口、电话或热线")
    add.add_argument("--community", required=True, help="居民所在社区（不清楚可填“其他”）")
    add.add_argument("--topic", required=True, help="类别：" + "、".join(cases.TOPICS))
    add.add_argument("--summary", required=True, help="咨询摘要（不写姓名电话等个人信息）")
    add.add_argument("--answer", help="法律顾问当场给出的答复（有则登记为已答复并办结）")
    add.add_argument("--date", help="咨询日期，默认今天，例如 2026-05-12")
    add.add_argument("--name", help="居民称呼（可不填）")
    add.set_defaults(func=cmd_add)


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from bot.services import walkin
    from bot.timeutil import utcnow

    now = utcnow()
    try:
        data = walkin.draft(
            channel=args.channel,
            topic=args.topic,
            community=args.community,
            summary=args.summary,
            answer=args.answer,
            day=args.date,
            resident_name=args.name,
            communities=settings.communities,
            today=now.astimezone(settings.zone).date(),
        )
    except walkin.WalkinError as exc:
        logging.getLogger(__name__).debug("cases add refused: %s", exc)
        print(str(exc), file=sys.stderr)
        return 2
    with open_session(settings) as session:
        case = walkin.record(session, data, recorder=None, now=now, zone=settings.zone)
        session.commit()
        print(f"已登记：{walkin.describe(case)}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    statuses = {"open": cases.OPEN_STATUSES, "all": cases.STATUSES}.get(args.status, (args.status,))
    with open_session(settings) as session:
        found = cases.list_cases(session, statuses, args.topic)
        for case in found:
            print(
                f"{case.number}  {cases.STATUS_NAMES[case.status]}  {case.topic}  {case.community}  "
                f"{cases.local_time(case.created_at, settings.zone)}  {_channel(case.channel)}"
            )
    print(f"共 {len(found)} 件。")
    return 0


def _channel(key: str) -> str:
    from bot.services.stats import CHANNEL_LABELS

    return CHANNEL_LABELS.get(key, key)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:

    number = cases.parse_number(args.number)
    if number is None:
        print("咨询编号的格式应为 ZS-2026-0001。", file=sys.stderr)
        return 2
    with open_session(settings) as session:
        case = cases.get_case(session, number)
        if case is None:
            print(f"没有找到咨询 {number}。", file=sys.stderr)
            return 1
        print(cases.case_text(session, case, settings.zone))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        rows = cases.export_rows(session, settings.zone, personal=args.personal, year=args.year)
    text = _json(rows) if args.format == "json" else _csv(rows, args.personal)
    if not args.out:
        sys.stdout.write(text)
        return 0
    # utf-8-sig so that Excel opens the CSV with the right encoding
    encoding = "utf-8-sig" if args.format == "csv" else "utf-8"
    try:
        with open(args.out, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
    except OSError as exc:
        print(f"无法写入 {args.out}：{exc.strerror}", file=sys.stderr)
        return 2
    print(f"已导出 {len(rows)} 件咨询到 {args.out}。")
    return 0


def _json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def _csv(rows: list[dict], personal: bool) -> str:
    fields = {**cases.EXPORT_FIELDS, **(cases.PERSONAL_FIELDS if personal else {})}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields.values())
    for row in rows:
        writer.writerow(["" if row[key] is None else row[key] for key in fields])
    return buffer.getvalue()


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.timeutil import utcnow

    with open_session(settings) as session:
        numbers = cases.purge(session, utcnow(), args.older_than)
        if args.dry_run:
            session.rollback()
        else:
            session.commit()
    days = args.older_than.total_seconds() / 86400
    verb = "将匿名化" if args.dry_run else "已匿名化"
    print(f"{verb} {len(numbers)} 件结案超过 {days:g} 天的咨询。")
    for number in numbers:
        print(f"  {number}")
    return 0
