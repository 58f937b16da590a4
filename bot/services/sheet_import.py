"""Reading the spreadsheets offices already keep (.xlsx, openpyxl): find the header row
among the first rows (a title row above it is common), map the columns by their Chinese
names, and hand back each non-empty row as {field: cell value} with its row number.

Callers validate every row first and save nothing unless all rows are good, so a file is
never half imported; the errors come back row by row ("第 5 行：…")."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

HEADER_SEARCH_ROWS = 5
MAX_ROWS = 5000


class SheetError(ValueError):
    """The file cannot be read as the expected layout; the message is Chinese."""


@dataclass
class ImportReport:
    """What an import found: good rows (row number, cleaned data) and the errors."""

    rows: list[tuple[int, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, row: int, message: str) -> None:
        self.errors.append(f"第 {row} 行：{message}")


def _norm(text: object) -> str:
    return "".join(str(text or "").split()).replace("（", "(").replace("）", ")")


def read_rows(
    path: str | Path, columns: dict[str, str], required: tuple[str, ...]
) -> list[tuple[int, dict[str, object]]]:
    """[(row number, {field: value})] of the first sheet; `columns` maps header words
    (as written in the sheet) to fields, `required` are fields whose column must exist."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    file = Path(path)
    if not file.is_file():
        raise SheetError(f"找不到文件“{file}”。")
    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise SheetError(
            f"无法读取“{file.name}”：请使用 .xlsx 格式的 Excel 文件（{exc}）。"
        ) from None
    try:
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True, max_row=MAX_ROWS + HEADER_SEARCH_ROWS))
    finally:
        book.close()
    wanted = {_norm(word): name for word, name in columns.items()}
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        mapping = {i: wanted[_norm(c)] for i, c in enumerate(row) if _norm(c) in wanted}
        if set(required) <= set(mapping.values()):
            return _data_rows(rows, index, mapping)
    names = "、".join(next(w for w, n in columns.items() if n == r) for r in required)
    raise SheetError(
        f"“{file.name}”的前 {HEADER_SEARCH_ROWS} 行中没有找到表头（至少需要：{names}）。"
    )


def _data_rows(rows, header_index: int, mapping: dict[int, str]):
    found = []
    for offset, row in enumerate(rows[header_index + 1 :]):
        values = {name: _cell(row[i]) for i, name in mapping.items() if i < len(row)}
        if any(v not in (None, "") for v in values.values()):
            found.append((header_index + offset + 2, values))
    if len(found) > MAX_ROWS:
        raise SheetError(f"一次最多导入 {MAX_ROWS} 行。")
    return found


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, date):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip()
    return value
