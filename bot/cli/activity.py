"""Offline activities: `activity add|list|edit|delete|import|export` (what staff record by
hand, or bring in from the spreadsheet they keep).

Option values are read as text and checked by bot.services.activities, so a bad date,
type or attendance gets a Chinese message and exit code 2.
"""

from __future__ import annotations

import argparse

from bot.cli._common import UsageError, guarded, open_session
from bot.cli.stats import chosen_period, period_options
from bot.config import Settings

CLI_CHANNEL = "cli"


def register(commands: argparse._SubParsersAction) -> None:
    activity = commands.add_parser("activity", help="登记和管理线下普法活动")
    actions = activity.add_subparsers(dest="activity_command", metavar="操作", required=True)

    add = actions.add_parser("add", help="登记一次活动")
    add.add_argument("--date", required=True, help="日期，例如 2026-05-12")
    add.add_argument("--type", required=True, help="宣讲、学法、巡回、阵地或其他")
    add.add_argument("--title", required=True, help="活动名称")
    add.add_argument("--attendance", required=True, help="参与人数")
    add.add_argument("--community", help="社区")
    add.add_argument("--topic", help="主题，例如 民法典")
    add.add_argument("--notes", help="备注")
    _extra_options(add)
    add.set_defaults(func=cmd_activity_add)

    listing = actions.add_parser("list", help="列出活动")
    listing.add_argument("period", nargs="?", help="时间段（默认全部）")
    listing.set_defaults(func=cmd_activity_list)

    edit = actions.add_parser("edit", help="修改一次活动")
    edit.add_argument("id", help="活动编号")
    edit.add_argument("--date")
    edit.add_argument("--type")
    edit.add_argument("--title")
    edit.add_argument("--attendance")
    edit.add_argument("--community")
    edit.add_argument("--topic")
    edit.add_argument("--notes")
    _extra_options(edit)
    edit.set_defaults(func=cmd_activity_edit)

    delete = actions.add_parser("delete", help="删除一次活动")
    delete.add_argument("id", help="活动编号")
    delete.set_defaults(func=cmd_activity_delete)

    importing = actions.add_parser("import", help="从 Excel（.xlsx）导入活动，有错则一条也不导入")
    importing.add_argument("file", help="xlsx 文件，列与 activity export 导出的相同")
    importing.set_defaults(func=cmd_activity_import)

    exporting = actions.add_parser("export", help="把活动导出为可再导入的 Excel（.xlsx）")
    period_options(exporting)
    exporting.add_argument("--out", required=True, help="输出的 .xlsx 文件")
    exporting.set_defaults(func=cmd_activity_export)


EXTRA_OPTIONS = {
    "audience": ("--audience", "对象：居民、机关干部或执法人员（默认居民）"),
    "materials": ("--materials", "发放资料份数"),
    "site": ("--site", "法治文化阵地（PUFA_SITES 中的一个，或其他地点）"),
    "series": ("--series", "所属系列或栏目，例如 大赵讲纪、小赵说法"),
    "lecturer": ("--lecturer", "主讲人或团队，例如 老法官志愿团"),
    "attachments": ("--attachments", "照片、签到表等文件路径，多个用逗号分隔"),
}


def _extra_options(parser: argparse.ArgumentParser) -> None:
    for option, help_text in EXTRA_OPTIONS.values():
        parser.add_argument(option, help=help_text)


# --- commands --------------------------------------------------------------------------------
@guarded
def cmd_activity_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activities

    data = activities.draft(
        day=args.date,
        kind=args.type,
        title=args.title,
        attendance=args.attendance,
        community=args.community,
        topic=args.topic,
        notes=args.notes,
        **{name: getattr(args, name) for name in EXTRA_OPTIONS},
    )
    with open_session(settings) as session:
        activity = activities.add(session, data, channel=CLI_CHANNEL, actor="cli")
        session.commit()
        print(f"已登记：{activities.describe(activity)}")
    return 0


@guarded
def cmd_activity_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activities, periods

    period = periods.parse_period(args.period, settings.zone) if args.period else None
    with open_session(settings) as session:
        found = activities.in_period(session, period)
        if not found:
            print("没有登记的线下活动。")
            return 0
        for activity in found:
            print(activities.describe(activity))
        people = sum(a.attendance for a in found)
        print(f"共 {len(found)} 次，参与 {people} 人次。")
    return 0


@guarded
def cmd_activity_edit(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activities

    options = {
        "date": args.date,
        "type": args.type,
        "title": args.title,
        "attendance": args.attendance,
        "community": args.community,
        "topic": args.topic,
        "notes": args.notes,
        **{name: getattr(args, name) for name in EXTRA_OPTIONS},
    }
    changes = dict(activities.clean_field(k, v) for k, v in options.items() if v is not None)
    if not changes:
        raise UsageError("请至少给出一个要修改的字段，例如 --attendance 150。")
    with open_session(settings) as session:
        activity = activities.update(session, args.id, changes, channel=CLI_CHANNEL)
        session.commit()
        print(f"已修改：{activities.describe(activity)}")
    return 0


@guarded
def cmd_activity_delete(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activities

    with open_session(settings) as session:
        activity = activities.delete(session, args.id, channel=CLI_CHANNEL)
        session.commit()
        print(f"已删除：{activities.describe(activity)}")
    return 0


@guarded
def cmd_activity_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activity_io

    with open_session(settings) as session:
        added = activity_io.import_file(session, args.file, channel=CLI_CHANNEL, actor="cli")
        session.commit()
        people = sum(a.attendance for a in added)
        print(f"已导入 {len(added)} 次活动（参与 {people} 人次），来自 {args.file}。")
    return 0


@guarded
def cmd_activity_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activity_io

    if not args.out.lower().endswith(".xlsx"):
        raise UsageError(f"输出文件应以 .xlsx 结尾，收到的是“{args.out}”。")
    period = chosen_period(args, settings)
    with open_session(settings) as session:
        count = activity_io.export_file(session, period, args.out)
    print(f"已导出 {period.label}线下活动 {count} 次：{args.out}")
    return 0
