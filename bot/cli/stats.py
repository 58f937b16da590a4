"""Statistics subcommands: stats, export, report (one period, three outputs).

Option values are read as text and checked here (not by argparse's `type=`/`choices=`),
so a bad year, date, format or attendance gets a Chinese message and exit code 2.
"""

from __future__ import annotations

import argparse

from bot.cli._common import UsageError, guarded, open_session
from bot.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    stats = commands.add_parser("stats", help="打印某一时间段的统计摘要")
    stats.add_argument("period", nargs="?", help="时间段：2026、2026Q3、2026-05 或日期范围")
    period_options(stats)
    stats.set_defaults(func=cmd_stats)

    export = commands.add_parser("export", help="导出统计表（xlsx、csv 或 json）")
    period_options(export)
    export.add_argument("--period", help="时间段，代替 --year/--quarter/--month")
    export.add_argument("--format", help="xlsx、csv 或 json（默认按 --out 的扩展名）")
    export.add_argument("--out", required=True, help="输出文件")
    export.set_defaults(func=cmd_export)

    report = commands.add_parser("report", help="生成年度法治政府建设报告的普法部分（草稿）")
    period_options(report)
    report.add_argument("--out", help="输出文件：.docx 或 .md（--kind litigation：.xlsx 或 .docx）")
    report.add_argument(
        "--kind", help="litigation：诉讼和行政复议季报，例如 --quarter 2026Q3 --kind litigation"
    )
    report.add_argument(
        "--write-template",
        metavar="FILE.docx",
        help="写出默认的 Word 报告模板，供在 Word/WPS 中修改后用 PUFA_REPORT_TEMPLATE 指定",
    )
    report.set_defaults(func=cmd_report)


def period_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--year", help="年份，例如 2026")
    parser.add_argument("--quarter", help="季度 1–4（report 也可写 2026Q3）")
    parser.add_argument("--month", help="月份 1–12")


def chosen_period(args: argparse.Namespace, settings: Settings, *, text: str | None = None):
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


# --- stats, export, report -------------------------------------------------------------------
@guarded
def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import stats

    period = chosen_period(args, settings, text=args.period)
    with open_session(settings) as session:
        print(stats.summary_text(stats.compute(session, period, lists=False)))
    return 0


@guarded
def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import export, stats

    fmt = export.check_format(args.format, args.out)
    period = chosen_period(args, settings, text=args.period)
    with open_session(settings) as session:
        figures = stats.compute(session, period)
    path = export.write(figures, fmt, args.out)
    print(f"已导出 {period.label}统计（{fmt}）：{path}")
    return 0


@guarded
def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import report, stats

    if args.kind is not None:
        return _litigation_report(args, settings)
    if args.write_template:
        path = report.write_default_template(args.write_template)
        print(f"已写出默认报告模板：{path}（修改后设置 PUFA_REPORT_TEMPLATE={path}）")
        return 0
    if not args.out:
        raise UsageError("请用 --out 指定输出文件（.docx 或 .md），例如 --out 2026.docx。")
    report.report_format(args.out)
    period = chosen_period(args, settings)
    with open_session(settings) as session:
        figures = stats.compute(session, period, lists=False)
    path = report.write(
        figures, args.out, office=settings.office_name, template=settings.report_template
    )
    print(f"已生成 {period.label}报告草稿：{path}")
    return 0


def _litigation_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import work

    if args.kind.strip().lower() not in ("litigation", "诉讼"):
        raise UsageError(
            f"未知的报告类型“{args.kind[:20]}”，可选：litigation（诉讼和行政复议季报）。"
        )
    return work.cmd_litigation_report(args, settings)
