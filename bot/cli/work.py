"""Legal-work subcommands: `work add|list|show|edit|delete|import` (the adviser's work log) and
`litigation add|list|show|edit|hearing|close|import` (the litigation and review register).
The quarterly litigation report is `report --kind litigation` (bot.cli.stats calls
`cmd_litigation_report` here).

Option values are read as text and checked by the services, so bad input gets a Chinese
message and exit code 2; an import checks every row first and saves nothing unless all
rows are good, printing the errors row by row.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bot.cli._common import UsageError, guarded, open_session
from bot.config import Settings
from bot.services.legal_history import CLI_ACTOR

log = logging.getLogger(__name__)

WORK_OPTIONS = (
    ("--date", "日期，例如 2026-07-15"),
    (
        "--type",
        "类型：合同审查修改、合同示范文本、书面法律意见、参会现场法律意见、重大行政执法决定法制审核、法治培训授课",
    ),
    ("--title", "事项：合同名称、意见主题、会议名称、培训主题等"),
    ("--department", "委托部门或提供对象"),
    ("--count", "数量：合同文稿份数、意见条数、参训人数（默认 1）"),
    ("--decision", "决定文号（法制审核）"),
    ("--opinion", "审核意见：同意、修改后同意、不同意"),
    ("--notes", "备注"),
)
WORK_FIELDS = {"date": "day", "type": "kind", "title": "title", "department": "department",
               "count": "count", "decision": "decision_number", "opinion": "opinion",
               "notes": "notes"}  # fmt: skip
CASE_OPTIONS = (
    ("--type", "民事诉讼、行政诉讼或行政复议"),
    ("--number", "案号"),
    ("--body", "法院或复议机关"),
    ("--parties", "当事人"),
    ("--role", "我方身份：原告、被告、第三人、申请人、被申请人"),
    ("--cause", "案由"),
    ("--amount", "标的额（元，可不填）"),
    ("--stage", "阶段：立案、审理、判决、上诉、执行、结案"),
    ("--filed", "立案日期"),
    ("--outcome", "结果"),
    ("--community", "协助的社区"),
    ("--responsible", "承办人：telegram:123456 或 #用户编号（法律顾问或工作人员）"),
    ("--notes", "备注"),
)
CASE_FIELDS = {"type": "kind", "number": "number", "body": "body", "parties": "parties",
               "role": "our_role", "cause": "cause", "amount": "amount", "stage": "stage",
               "filed": "filed_on", "outcome": "outcome", "community": "community",
               "responsible": "responsible", "notes": "notes"}  # fmt: skip


def register(commands: argparse._SubParsersAction) -> None:
    _register_work(commands)
    _register_litigation(commands)


def _options(parser: argparse.ArgumentParser, options, required: tuple[str, ...] = ()) -> None:
    for flag, text in options:
        parser.add_argument(flag, help=text, required=flag in required)


def _register_work(commands: argparse._SubParsersAction) -> None:
    work = commands.add_parser("work", help="法律顾问工作台账（合同审查、法律意见、法制审核等）")
    actions = work.add_subparsers(dest="work_command", metavar="操作", required=True)
    add = actions.add_parser("add", help="登记一项工作")
    _options(add, WORK_OPTIONS, ("--date", "--type"))
    add.set_defaults(func=cmd_work_add)
    listing = actions.add_parser("list", help="列出工作记录")
    listing.add_argument("period", nargs="?", help="时间段，例如 2026Q3（默认全部）")
    listing.add_argument("--type", help="只列出一种类型")
    listing.set_defaults(func=cmd_work_list)
    edit = actions.add_parser("edit", help="修改一项工作")
    edit.add_argument("id", help="记录编号")
    _options(edit, WORK_OPTIONS)
    edit.set_defaults(func=cmd_work_edit)
    show = actions.add_parser("show", help="查看一项工作和它的变更记录（含已删除的）")
    show.add_argument("id", help="记录编号")
    show.set_defaults(func=cmd_work_show)
    delete = actions.add_parser("delete", help="删除一项工作")
    delete.add_argument("id", help="记录编号")
    delete.set_defaults(func=cmd_work_delete)
    load = actions.add_parser("import", help="从 Excel 台账导入（全部无误才导入）")
    load.add_argument("file", help=".xlsx 文件，表头：" + "、".join(_work_layout()))
    load.add_argument("--dry-run", action="store_true", help="只检查，不导入")
    load.set_defaults(func=cmd_work_import)


def _work_layout():
    from bot.services.worklog import IMPORT_LAYOUT

    return IMPORT_LAYOUT


def _register_litigation(commands: argparse._SubParsersAction) -> None:
    case = commands.add_parser("litigation", help="诉讼和行政复议案件登记")
    actions = case.add_subparsers(dest="litigation_command", metavar="操作", required=True)
    add = actions.add_parser("add", help="登记一件案件")
    _options(add, CASE_OPTIONS, ("--type", "--number", "--body", "--parties", "--role",
                                 "--cause", "--filed"))  # fmt: skip
    add.set_defaults(func=cmd_case_add)
    listing = actions.add_parser("list", help="列出案件")
    listing.add_argument("--open", action="store_true", help="只列出未结案件")
    listing.set_defaults(func=cmd_case_list)
    show = actions.add_parser("show", help="查看一件案件和它的变更记录")
    show.add_argument("case", help="登记编号或案号")
    show.set_defaults(func=cmd_case_show)
    edit = actions.add_parser("edit", help="修改案件信息")
    edit.add_argument("case", help="登记编号或案号")
    _options(edit, CASE_OPTIONS)
    edit.set_defaults(func=cmd_case_edit)
    hearing = actions.add_parser("hearing", help="登记开庭时间或期限（提前一周和一天提醒承办人）")
    hearing.add_argument("case", help="登记编号或案号")
    hearing.add_argument("--at", required=True, help="时间，例如 2026-08-12 09:30")
    hearing.add_argument(
        "--deadline", action="store_true", help="这是一个期限（如上诉期）而不是开庭"
    )
    hearing.add_argument("--note", help="说明，例如 上诉期届满")
    hearing.set_defaults(func=cmd_case_hearing)
    close = actions.add_parser("close", help="结案")
    close.add_argument("case", help="登记编号或案号")
    close.add_argument("--date", required=True, help="结案日期")
    close.add_argument("--outcome", required=True, help="结果，例如 驳回原告诉讼请求")
    close.set_defaults(func=cmd_case_close)
    load = actions.add_parser("import", help="从 Excel 台账导入案件（全部无误才导入）")
    load.add_argument("file", help=".xlsx 文件，表头：" + "、".join(_case_layout()))
    load.add_argument("--dry-run", action="store_true", help="只检查，不导入")
    load.set_defaults(func=cmd_case_import)


def _case_layout():
    from bot.services.litigation import IMPORT_LAYOUT

    return IMPORT_LAYOUT


# --- plumbing --------------------------------------------------------------------------------
def _given(args: argparse.Namespace, names: dict[str, str]) -> dict[str, object]:
    return {field: getattr(args, o) for o, field in names.items() if getattr(args, o) is not None}


def _print_errors(report, what: str) -> int:
    for line in report.errors:
        print(line, file=sys.stderr)
    print(
        f"共 {len(report.errors)} 行有误，没有导入任何{what}。请改正后重新导入。", file=sys.stderr
    )
    return 2


# --- work ------------------------------------------------------------------------------------
@guarded
def cmd_work_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import worklog

    data = worklog.draft(**_given(args, WORK_FIELDS))
    with open_session(settings) as session:
        entry = worklog.add(session, data, CLI_ACTOR)
        session.commit()
        print(f"已登记：{worklog.describe(entry)}")
    return 0


@guarded
def cmd_work_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import periods, worklog

    period = periods.parse_period(args.period, settings.zone) if args.period else None
    kind = worklog.clean_kind(args.type) if args.type else None
    with open_session(settings) as session:
        found = worklog.in_period(session, period, kind)
        if not found:
            print("没有登记的工作记录。")
            return 0
        for entry in found:
            print(worklog.describe(entry))
        print(f"共 {len(found)} 项。")
    return 0


@guarded
def cmd_work_edit(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import worklog

    changes = _given(args, WORK_FIELDS)
    if not changes:
        raise UsageError("请至少给出一个要修改的字段，例如 --count 3。")
    with open_session(settings) as session:
        entry = worklog.update(session, args.id, changes, CLI_ACTOR)
        session.commit()
        print(f"已修改：{worklog.describe(entry)}")
    return 0


@guarded
def cmd_work_show(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import legal_history, worklog

    with open_session(settings) as session:
        number = worklog.get_id(args.id)
        rows = legal_history.of(session, "work", number)
        if not rows:
            raise UsageError(f"没有编号为 {number} 的工作记录，也没有它的变更记录。")
        entry = session.get(worklog.WorkEntry, number)
        print(worklog.describe(entry) if entry is not None else f"#{number}（已删除）")
        print("变更记录：")
        for row in rows:
            print(f"  {legal_history.describe(row, settings.zone)}")
    return 0


@guarded
def cmd_work_delete(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import worklog

    with open_session(settings) as session:
        entry = worklog.delete(session, args.id, CLI_ACTOR)
        text = worklog.describe(entry)
        session.commit()
        print(f"已删除：{text}")
    return 0


@guarded
def cmd_work_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import worklog

    report = worklog.check_import(args.file)
    if report.errors:
        return _print_errors(report, "工作记录")
    if args.dry_run:
        print(f"检查通过：{len(report.rows)} 行可以导入（未导入）。")
        return 0
    with open_session(settings) as session:
        entries = worklog.import_rows(session, report, CLI_ACTOR)
        session.commit()
        print(
            f"已导入 {len(entries)} 项工作记录（编号 #{entries[0].id}–#{entries[-1].id}）。"
            if entries
            else "表格中没有数据行。"
        )
    return 0


# --- litigation ------------------------------------------------------------------------------
@guarded
def cmd_case_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation

    with open_session(settings) as session:
        data = litigation.draft(session, _given(args, CASE_FIELDS))
        case = litigation.add(session, data, CLI_ACTOR)
        session.commit()
        print(f"已登记：{litigation.describe(case)}")
    return 0


@guarded
def cmd_case_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation

    with open_session(settings) as session:
        found = litigation.listing(session, open_only=args.open)
        if not found:
            print("没有登记的案件。")
            return 0
        for case in found:
            print(litigation.describe(case))
        print(f"共 {len(found)} 件。")
    return 0


@guarded
def cmd_case_show(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import legal_history, litigation

    with open_session(settings) as session:
        case = litigation.get(session, args.case)
        print(litigation.details(session, case, settings.zone))
        print("变更记录：")
        for row in legal_history.of(session, "litigation", case.id):
            print(f"  {legal_history.describe(row, settings.zone)}")
    return 0


@guarded
def cmd_case_edit(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation

    changes = _given(args, CASE_FIELDS)
    if not changes:
        raise UsageError("请至少给出一个要修改的字段，例如 --stage 审理。")
    with open_session(settings) as session:
        case = litigation.update(session, args.case, changes, CLI_ACTOR)
        session.commit()
        print(f"已修改：{litigation.describe(case)}")
    return 0


@guarded
def cmd_case_hearing(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation

    kind = "deadline" if args.deadline else "hearing"
    with open_session(settings) as session:
        when, reminders = litigation.add_date(
            session, args.case, kind, args.at, args.note, CLI_ACTOR, zone=settings.zone
        )
        session.commit()
        local = when.at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
        ahead = "、".join(f"提前 {r.days_before} 天" for r in reminders) or "时间太近，不再提醒"
        print(f"已登记{litigation.DATE_KINDS[kind]}：{local}（提醒：{ahead}）")
    return 0


@guarded
def cmd_case_close(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation

    with open_session(settings) as session:
        case = litigation.close(session, args.case, args.date, args.outcome, CLI_ACTOR)
        session.commit()
        print(f"已结案：{litigation.describe(case)}")
    return 0


@guarded
def cmd_case_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation
    from bot.timeutil import utcnow

    with open_session(settings) as session:
        report = litigation.check_import(session, args.file, settings.zone)
        if report.errors:
            return _print_errors(report, "案件")
        if args.dry_run:
            print(f"检查通过：{len(report.rows)} 件可以导入（未导入）。")
            return 0
        cases = litigation.import_rows(session, report, CLI_ACTOR, zone=settings.zone, now=utcnow())
        session.commit()
        print(f"已导入 {len(cases)} 件案件。")
    return 0


# --- the quarterly report --------------------------------------------------------------------
@guarded
def cmd_litigation_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import litigation_report, periods

    if not args.out:
        raise UsageError("请用 --out 指定输出文件（.xlsx 或 .docx），例如 --out q3.xlsx。")
    litigation_report.report_format(args.out)
    period = report_period(args, settings, periods)
    with open_session(settings) as session:
        report = litigation_report.compute(session, period)
    path = litigation_report.write(report, args.out, office=settings.office_name)
    print(f"已生成 {period.label}诉讼和行政复议案件情况：{path}")
    return 0


def report_period(args: argparse.Namespace, settings: Settings, periods):
    """--quarter 2026Q3 (or --year 2026 --quarter 3, or a month/year)."""
    quarter = (args.quarter or "").strip()
    if quarter and not quarter.isdigit():
        if args.year or args.month:
            raise UsageError("--quarter 2026Q3 已含年份，不要再给 --year/--month。")
        return periods.parse_period(quarter, settings.zone)
    if not (args.year or args.quarter or args.month):
        raise UsageError("请给出季度，例如 --quarter 2026Q3。")
    return periods.from_parts(settings.zone, year=args.year, quarter=args.quarter, month=args.month)
