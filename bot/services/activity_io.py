"""Offline activities to and from an Excel sheet, in one layout (`COLUMNS`): what
`activity export` writes, `activity import` reads, so a year's sheet can be exported,
corrected or extended in Excel/WPS and read back.

Import is all or nothing: every row is checked first (the same checks as `activity add`)
and the report names each bad row and why; only when every row is good are they all
saved, in one transaction. A row equal to an activity already registered (same date,
type, title and community) is refused too, so importing the same file twice counts
nothing twice. The 线下活动 sheet of the statistics workbook has the same columns plus
编号, and can be imported as well (编号 is ignored).
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session, select

from bot.models import Activity, User
from bot.services import activities
from bot.services.activities import ActivityError
from bot.services.periods import Period

log = logging.getLogger(__name__)

SHEET = "线下活动"
# (Draft field, column heading); the first four are required.
COLUMNS = (
    ("day", "日期"),
    ("kind", "类型"),
    ("title", "名称"),
    ("attendance", "参与人数"),
    ("community", "社区"),
    ("topic", "主题"),
    ("audience", "对象"),
    ("materials", "发放资料（份）"),
    ("site", "阵地"),
    ("series", "系列栏目"),
    ("lecturer", "主讲人或团队"),
    ("attachments", "附件"),
    ("notes", "备注"),
)
REQUIRED = ("day", "kind", "title", "attendance")
IGNORED_HEADINGS = ("编号",)
MAX_ROWS = 5000
MAX_LISTED_ERRORS = 50


class ImportRefused(ValueError):
    """The file cannot be imported; `errors` are the Chinese reasons, row by row."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        listed = errors[:MAX_LISTED_ERRORS]
        more = len(errors) - len(listed)
        text = "\n".join(listed) + (f"\n……另有 {more} 处问题" if more > 0 else "")
        super().__init__(f"没有导入任何活动，请改正以下问题后重新导入：\n{text}")


@dataclass
class Parsed:
    drafts: list[tuple[int, activities.Draft]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _headings(row: tuple, errors: list[str]) -> dict[str, int]:
    """{Draft field: column index} from the heading row."""
    by_label = {label: name for name, label in COLUMNS}
    found: dict[str, int] = {}
    for index, value in enumerate(row):
        heading = _cell_text(value)
        if heading is None or heading in IGNORED_HEADINGS:
            continue
        name = by_label.get(heading)
        if name is None:
            errors.append(f"第1行：不认识的列“{heading[:20]}”，可用的列：{'、'.join(by_label)}。")
        elif name in found:
            errors.append(f"第1行：列“{heading}”出现了两次。")
        else:
            found[name] = index
    missing = [label for name, label in COLUMNS if name in REQUIRED and name not in found]
    if missing:
        errors.append(f"第1行：缺少必填的列：{'、'.join(missing)}。")
    return found


def parse(path: str | Path) -> Parsed:
    """Read and check every row; nothing is written."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ImportRefused([f"无法读取“{Path(path).name}”：{exc}（应为 .xlsx 文件）"]) from None
    try:
        sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        parsed = Parsed()
        header = next(rows, None)
        if header is None:
            raise ImportRefused(["文件是空的，第1行应为列名：" + "、".join(c[1] for c in COLUMNS)])
        columns = _headings(header, parsed.errors)
        if parsed.errors:
            raise ImportRefused(parsed.errors)
        for number, row in enumerate(rows, start=2):
            values = {
                name: _cell_text(row[i]) if i < len(row) else None for name, i in columns.items()
            }
            if not any(values.values()):
                continue  # blank line
            if number - 1 > MAX_ROWS:
                parsed.errors.append(f"一次最多导入 {MAX_ROWS} 行，请分批导入。")
                break
            _check_row(number, values, parsed)
        return parsed
    finally:
        book.close()


def _check_row(number: int, values: dict, parsed: Parsed) -> None:
    missing = [label for name, label in COLUMNS if name in REQUIRED and not values.get(name)]
    if missing:
        parsed.errors.append(f"第{number}行：{'、'.join(missing)}不能为空。")
        return
    try:
        parsed.drafts.append((number, activities.draft(**values)))
    except ActivityError as exc:
        parsed.errors.append(f"第{number}行：{exc}")


def _duplicates(session: Session, parsed: Parsed) -> None:
    seen: dict[tuple, int] = {}
    for number, data in parsed.drafts:
        key = (data.day, data.kind, data.title, data.community)
        if key in seen:
            parsed.errors.append(f"第{number}行：与第{seen[key]}行是同一次活动。")
            continue
        seen[key] = number
        community = (
            Activity.community.is_(None)
            if data.community is None
            else Activity.community == data.community
        )
        same = session.exec(
            select(Activity.id).where(
                Activity.day == data.day,
                Activity.kind == data.kind,
                Activity.title == data.title,
                community,
            )
        ).all()
        if same:
            parsed.errors.append(f"第{number}行：已登记过这次活动（#{same[0]}），不再重复导入。")


def import_file(
    session: Session, path: str | Path, *, channel: str, user: User | None = None, actor: str = ""
) -> list[Activity]:
    """Check every row, then add them all (the caller commits) — or raise ImportRefused."""
    parsed = parse(path)
    _duplicates(session, parsed)
    if parsed.errors:
        parsed.errors.sort(key=_row_number)
        log.info("activity import of %s refused: %d problems", path, len(parsed.errors))
        raise ImportRefused(parsed.errors)
    if not parsed.drafts:
        raise ImportRefused(["文件里没有活动（第2行起每行一次活动）。"])
    added = [
        activities.add(session, data, channel=channel, user=user, actor=actor)
        for _, data in parsed.drafts
    ]
    log.info("imported %d activities from %s", len(added), path)
    return added


def _row_number(message: str) -> int:
    digits = message[1 : message.find("行")] if message.startswith("第") else ""
    return int(digits) if digits.isdigit() else 0


def export_file(session: Session, period: Period | None, path: str | Path) -> int:
    """Write the activities of `period` in the import layout; returns how many."""
    from openpyxl import Workbook

    from bot.services.export import DATE_FORMAT, _bold_header, _print_setup

    found = activities.in_period(session, period)
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    _bold_header(sheet, 1, [label for _, label in COLUMNS])
    for row, activity in enumerate(found, start=2):
        for column, (name, _) in enumerate(COLUMNS, start=1):
            cell = sheet.cell(row=row, column=column, value=_export_value(activity, name))
            if name == "day":
                cell.number_format = DATE_FORMAT
    widths = {"kind": 16, "title": 24, "notes": 24, "attachments": 24, "series": 18, "site": 22}
    for column, (name, _) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=column).column_letter].width = widths.get(
            name, 12
        )
    sheet.freeze_panes = "A2"
    _print_setup(sheet, "1:1", landscape=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return len(found)


def _export_value(activity: Activity, name: str):
    if name == "kind":
        return activities.KINDS.get(activity.kind, activity.kind)
    if name == "audience":
        return activities.AUDIENCES.get(activity.audience, activity.audience)
    if name == "attachments":
        return "；".join(activity.attachments or []) or None
    return getattr(activity, name)
