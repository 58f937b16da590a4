"""Statistics subcommands: activity add|list|edit|delete|import|export,
publication add|list|delete, stats, export, report.

Option values are read as text and checked here (not by argparse's `type=`/`choices=`),
so a bad year, date, format or attendance gets a Chinese message and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager

from sqlmodel import Session

from bot.config import Settings

CLI_CHANNEL = "cli"
log = logging.getLogger(__name__)


class UsageError(ValueError):
    """Bad command-line input (Chinese message; exit code 2)."""


def register(commands: argparse._SubParsersAction) -> None:
    _register_activity(commands)
    _register_publication(commands)

    stats = commands.add_parser("stats", help="打印某一时间段的统计摘要")
    stats.add_argument("period", nargs="?", help="时间段：2026、2026Q3、2026-05 或日期范围")
    _period_options(stats)
    stats.set_defaults(func=cmd_stats)

    export = commands.add_parser("export", help="导出统计表（xlsx、csv 或 json）")
    _period_options(export)
    export.add_argument("--period", help="时间段，代替 --year/--quarter/--month")
    export.add_argument("--format", help="xlsx、csv 或 json（默认按 --out 的扩展名）")
    export.add_argument("--out", required=True, help="输出文件")
    export.set_defaults(func=cmd_export)

    report = commands.add_parser("report", help="生成年度法治政府建设报告的普法部分（草稿）")
    _period_options(report)
    report.add_argument("--out", help="输出文件：.docx 或 .md")
    report.add_argument(
        "--write-template",
        metavar="FILE.docx",
        help="写出默认的 Word 报告模板，供在 Word/WPS 中修改后用 PUFA_REPORT_TEMPLATE 指定",
    )
    report.set_defaults(func=cmd_report)


def _period_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--year", help="年份，例如 2026")
    parser.add_argument("--quarter", help="季度 1–4")
    parser.add_argument("--month", help="月份 1–12")


def _register_activity(commands: argparse._SubParsersAction) -> None:
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
    _period_options(exporting)
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


def _register_publication(commands: argparse._SubParsersAction) -> None:
    publication = commands.add_parser("publication", help="登记其他渠道（两微一端、微信群、宣传栏）发布的普法信息")
    actions = publication.add_subparsers(dest="publication_command", metavar="操作", required=True)
    add = actions.add_parser("add", help="登记一条发布")
    add.add_argument("--date", required=True, help="发布日期，例如 2026-05-12")
    add.add_argument("--channel", required=True, help="微信公众号、微博、新闻客户端、微信群、宣传栏或其他")
    add.add_argument("--title", required=True, help="标题")
    add.add_argument("--topic", help="主题，例如 民法典")
    add.add_argument("--link", help="链接（http:// 或 https://）")
    add.set_defaults(func=cmd_publication_add)
    listing = actions.add_parser("list", help="列出登记的发布")
    listing.add_argument("period", nargs="?", help="时间段（默认全部）")
    listing.set_defaults(func=cmd_publication_list)
    delete = actions.add_parser("delete", help="删除一条登记")
    delete.add_argument("id", help="编号")
    delete.set_defaults(func=cmd_publication_delete)


# --- plumbing --------------------------------------------------------------------------------
@contextmanager
def _session(settings: Settings):
    from bot import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _guarded(command):
    """Turn the Chinese input errors of the services into a message and exit code 2."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from bot.services.activities import ActivityError
        from bot.services.activity_io import ImportRefused
        from bot.services.export import ExportError
        from bot.services.periods import PeriodError
        from bot.services.publications import PublicationError
        from bot.services.report import ReportError

        try:
            return command(args, settings)
        except ImportRefused as exc:
            log.debug("%s refused: %d problems", command.__name__, len(exc.errors))
            print(str(exc), file=sys.stderr)
            return 2
        except (
            ActivityError, ExportError, PeriodError, PublicationError, ReportError, UsageError
        ) as exc:  # fmt: skip
            log.debug("%s refused: %s", command.__name__, exc)
            print(str(exc), file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"无法写入文件：{exc.strerror or exc}（{exc.filename or ''}）", file=sys.stderr)
            return 2

    run.__doc__ = command.__doc__
    return run


def _period(args: argparse.Namespace, settings: Settings, *, text: str | None = None):
    from bot.services import periods

    given = args.year or args.quarter or args.month
    if text and given:
        raise UsageError("时间段和 --year/--quarter/--month 只能用一种。")
    if text:
        return periods.parse_period(text, settings.zone)
    if given:
        return periods.from_parts(
            settings.zone, year=args.year, quarter=args.quarter, month=args.month
        )
    return periods.current_year(settings.zone)


# --- activity --------------------------------------------------------------------------------
@_guarded
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
    with _session(settings) as session:
        activity = activities.add(session, data, channel=CLI_CHANNEL, actor="cli")
        session.commit()
        print(f"已登记：{activities.describe(activity)}")
    return 0


@_guarded
def cmd_activity_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activities, periods

    period = periods.parse_period(args.period, settings.zone) if args.period else None
    with _session(settings) as session:
        found = activities.in_period(session, period)
        if not found:
            print("没有登记的线下活动。")
            return 0
        for activity in found:
            print(activities.describe(activity))
        people = sum(a.attendance for a in found)
        print(f"共 {len(found)} 次，参与 {people} 人次。")
    return 0


@_guarded
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
    with _session(settings) as session:
        activity = activities.update(session, args.id, changes, channel=CLI_CHANNEL)
        session.commit()
        print(f"已修改：{activities.describe(activity)}")
    return 0


@_guarded
def cmd_activity_delete(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activities

    with _session(settings) as session:
        activity = activities.delete(session, args.id, channel=CLI_CHANNEL)
        session.commit()
        print(f"已删除：{activities.describe(activity)}")
    return 0


@_guarded
def cmd_activity_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activity_io

    with _session(settings) as session:
        added = activity_io.import_file(session, args.file, channel=CLI_CHANNEL, actor="cli")
        session.commit()
        people = sum(a.attendance for a in added)
        print(f"已导入 {len(added)} 次活动（参与 {people} 人次），来自 {args.file}。")
    return 0


@_guarded
def cmd_activity_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import activity_io

    if not args.out.lower().endswith(".xlsx"):
        raise UsageError(f"输出文件应以 .xlsx 结尾，收到的是“{args.out}”。")
    period = _period(args, settings)
    with _session(settings) as session:
        count = activity_io.export_file(session, period, args.out)
    print(f"已导出 {period.label}线下活动 {count} 次：{args.out}")
    return 0


# --- publication -------------------------------------------------------------------------------
@_guarded
def cmd_publication_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publications

    data = publications.draft(
        day=args.date, channel=args.channel, title=args.title, topic=args.topic, link=args.link
    )
    with _session(settings) as session:
        item = publications.add(session, data, channel=CLI_CHANNEL, actor="cli")
        session.commit()
        print(f"已登记：{publications.describe(item)}")
    return 0


@_guarded
def cmd_publication_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import periods, publications

    period = periods.parse_period(args.period, settings.zone) if args.period else None
    with _session(settings) as session:
        found = publications.in_period(session, period)
        for item in found:
            print(publications.describe(item))
        print(f"共 {len(found)} 条。" if found else "没有登记的发布。")
    return 0


@_guarded
def cmd_publication_delete(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publications

    with _session(settings) as session:
        item = publications.delete(session, args.id, channel=CLI_CHANNEL)
        session.commit()
        print(f"已删除：{publications.describe(item)}")
    return 0


# --- stats, export, report -------------------------------------------------------------------
@_guarded
def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import stats

    period = _period(args, settings, text=args.period)
    with _session(settings) as session:
        print(stats.summary_text(stats.compute(session, period, lists=False)))
    return 0


@_guarded
def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import export, stats

    fmt = export.check_format(args.format, args.out)
    period = _period(args, settings, text=args.period)
    with _session(settings) as session:
        figures = stats.compute(session, period)
    path = export.write(figures, fmt, args.out)
    print(f"已导出 {period.label}统计（{fmt}）：{path}")
    return 0


@_guarded
def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import report, stats

    if args.write_template:
        path = report.write_default_template(args.write_template)
        print(f"已写出默认报告模板：{path}（修改后设置 PUFA_REPORT_TEMPLATE={path}）")
        return 0
    if not args.out:
        raise UsageError("请用 --out 指定输出文件（.docx 或 .md），例如 --out 2026.docx。")
    report.report_format(args.out)
    period = _period(args, settings)
    with _session(settings) as session:
        figures = stats.compute(session, period, lists=False)
    path = report.write(
        figures, args.out, office=settings.office_name, template=settings.report_template
    )
    print(f"已生成 {period.label}报告草稿：{path}")
    return 0
