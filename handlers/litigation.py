"""The litigation and review register in chat, for advisers, legal staff and admins:

/litigation [list|未结]        the cases (all, or only the open ones)
/litigation show 编号|案号      one case with its hearings
/litigation stage 编号 阶段      move a case on (the responsible person or an admin)
/litigation hearing 编号 2026-08-12 09:30 [说明]   enter a hearing (reminders a week and
                                a day before go to the responsible person)
/report litigation 2026Q3       the quarterly report to the district justice bureau as an
                                xlsx (add "docx" for the cover page and summary)
Every command and button checks the role itself; a resident is refused and nothing changes.
"""

from __future__ import annotations

import logging

from bot.messages import Attachment, Button, Incoming, Reply
from bot.payload import LitigationButton
from bot.routing import ADMIN_ROLES, ADVISER_ROLES, Context, Router
from bot.services import export, litigation, litigation_report, periods
from bot.services.legal_history import Actor
from bot.services.litigation import LitigationError
from bot.services.periods import PeriodError
from bot.services.worklog import LEGAL_REPORT

log = logging.getLogger(__name__)
router = Router("litigation")

REFUSED = "只有法律顾问、工作人员和管理员可以查看诉讼和行政复议案件。"
NOT_RESPONSIBLE = "只有这件案件的承办人或管理员可以在聊天中修改它，其他修改请用命令行。"
USAGE = (
    "诉讼和行政复议案件：\n"
    "• /litigation list — 全部案件；/litigation 未结 — 未结案件\n"
    "• /litigation show 编号或案号 — 查看详情\n"
    "• /litigation stage 编号 阶段 — 例如 /litigation stage 3 审理（承办人）\n"
    "• /litigation hearing 编号 2026-08-12 09:30 [说明] — 登记开庭（承办人）\n"
    "• /report litigation 2026Q3 [docx] — 季度报表"
)
REPORT_USAGE = "用法：/report litigation 2026Q3（Excel 报表），加 docx 得到 Word 封面和汇总。"
LIST_LIMIT = 30


def _allowed(ctx: Context) -> bool:
    if ctx.user.role in ADVISER_ROLES:
        return True
    log.warning("%s (%s) refused the litigation register", ctx.user.ref, ctx.user.role)
    return False


@router.command("litigation", help="诉讼和行政复议案件（查看、开庭登记）", roles=ADVISER_ROLES)
def litigation_command(incoming: Incoming, ctx: Context) -> Reply | str:
    if not _allowed(ctx):
        return REFUSED
    action, _, rest = incoming.command()[1].strip().partition(" ")
    action = action.lower()
    try:
        if action in ("", "list", "列表", "全部"):
            return _list(ctx, open_only=False)
        if action in ("open", "未结"):
            return _list(ctx, open_only=True)
        if action in ("show", "查看"):
            return _show(rest, ctx)
        if action in ("stage", "阶段"):
            return _stage(rest, ctx)
        if action in ("hearing", "开庭"):
            return _hearing(rest, ctx)
    except LitigationError as exc:
        log.info("bad /litigation from %s: %s", ctx.user.ref, incoming.text[:80])
        return f"{exc}\n\n{USAGE}"
    return USAGE


def _list(ctx: Context, *, open_only: bool) -> Reply | str:
    found = litigation.listing(ctx.session, open_only=open_only)
    if not found:
        return "没有登记的案件。" if not open_only else "没有未结的案件。"
    lines = [f"{'未结' if open_only else '全部'}案件 {len(found)} 件："]
    lines += [litigation.describe(c) for c in found[:LIST_LIMIT]]
    if len(found) > LIST_LIMIT:
        lines.append(f"……另有 {len(found) - LIST_LIMIT} 件，完整清单请用 /report litigation 导出。")
    buttons = tuple(
        Button(f"#{c.id} {c.number}"[:30], LitigationButton("show", c.id).pack()) for c in found[:8]
    )
    return Reply("\n".join(lines), buttons)


def _show(argument: str, ctx: Context) -> str:
    if not argument.strip():
        raise LitigationError("请给出登记编号或案号，例如 /litigation show 3。")
    case = litigation.get(ctx.session, argument.strip())
    return litigation.details(ctx.session, case, ctx.settings.zone)


def _may_edit(case, ctx: Context) -> bool:
    return ctx.user.role in ADMIN_ROLES or case.responsible_id == ctx.user.id


def _stage(argument: str, ctx: Context) -> str:
    parts = argument.split()
    if len(parts) != 2:
        raise LitigationError("用法：/litigation stage 编号 阶段，例如 /litigation stage 3 审理。")
    case = litigation.get(ctx.session, parts[0])
    if not _may_edit(case, ctx):
        return NOT_RESPONSIBLE
    if litigation.clean_stage(parts[1]) == "closed":
        raise LitigationError("结案请用命令行 litigation close（需要结案日期和结果）。")
    case = litigation.update(
        ctx.session, case.id, {"stage": parts[1]}, Actor(ctx.channel, ctx.user)
    )
    log.info("%s moved case %s to %s", ctx.user.ref, case.id, case.stage)
    return f"已修改：{litigation.describe(case)}"


def _hearing(argument: str, ctx: Context) -> str:
    parts = argument.split(maxsplit=3)
    if len(parts) < 3:
        raise LitigationError("用法：/litigation hearing 编号 2026-08-12 09:30 [说明]。")
    case = litigation.get(ctx.session, parts[0])
    if not _may_edit(case, ctx):
        return NOT_RESPONSIBLE
    note = parts[3] if len(parts) == 4 else None
    when, reminders = litigation.add_date(
        ctx.session, case.id, "hearing", f"{parts[1]} {parts[2]}", note,
        Actor(ctx.channel, ctx.user), zone=ctx.settings.zone, now=ctx.now,
    )  # fmt: skip
    local = when.at.astimezone(ctx.settings.zone).strftime("%Y-%m-%d %H:%M")
    ahead = "、".join(f"提前 {r.days_before} 天" for r in reminders) or "时间太近，不再提醒"
    return f"已登记开庭：{local}（提醒承办人：{ahead}）"


@router.button(LitigationButton)
def litigation_button(incoming: Incoming, ctx: Context) -> str:
    if not _allowed(ctx):
        return REFUSED
    button = LitigationButton.unpack(incoming.payload)
    if button.action == "show" and button.arg is not None:
        try:
            return _show(str(button.arg), ctx)
        except LitigationError as exc:
            return str(exc)
    return "这个按钮已经失效了。发送 /litigation 重新查看。"


# --- /report litigation 2026Q3 -----------------------------------------------------------------
@router.command(
    "report", help="诉讼和行政复议季报，例如 /report litigation 2026Q3", roles=ADVISER_ROLES
)
def report_command(incoming: Incoming, ctx: Context) -> Reply | str:
    if not _allowed(ctx):
        return REFUSED
    words = incoming.command()[1].split()
    if not words or words[0].lower() not in ("litigation", "诉讼"):
        return REPORT_USAGE
    fmt = "docx" if any(w.lower() == "docx" for w in words[1:]) else "xlsx"
    rest = [w for w in words[1:] if w.lower() not in ("docx", "xlsx")]
    try:
        zone = ctx.settings.zone
        period = periods.parse_period(rest[0], zone) if len(rest) == 1 else None
        if period is None:
            raise PeriodError("请给出一个季度，例如 2026Q3。")
    except PeriodError as exc:
        log.info("bad /report from %s: %s", ctx.user.ref, incoming.text[:80])
        return f"{exc}\n{REPORT_USAGE}"
    report = litigation_report.compute(ctx.session, period)
    stamp = ctx.now.astimezone(zone).strftime("%Y%m%d-%H%M%S-%f")
    folder = export.export_dir(ctx.settings.database_url)
    out = folder / f"litigation-{period.slug}-{stamp}.{fmt}"
    path = litigation_report.write(report, out, office=ctx.settings.office_name)
    ctx.count(LEGAL_REPORT, ref=f"{period.slug}:{fmt}")
    log.info("%s made the litigation report %s (%s)", ctx.user.ref, period.slug, fmt)
    name = f"诉讼复议案件-{period.slug}.{fmt}"
    return Reply(
        f"{period.label}诉讼和行政复议案件情况（{fmt.upper()}）已生成。",
        attachment=Attachment(kind="document", filename=name, path=str(path)),
    )
