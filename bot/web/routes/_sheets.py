"""The all-or-nothing spreadsheet import the legal pages share (work log, litigation): every
row is checked first and nothing is saved unless all are good, as the CLI's imports do."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.services.sheet_import import ImportReport, SheetError
from bot.web import uploads
from bot.web.security import Page, Upload

log = logging.getLogger(__name__)


def checked_import(
    page: Page,
    *,
    back: tuple[str, str],  # (the page's path, its name)
    noun: str,
    check: Callable[[str], ImportReport],
    save: Callable[[ImportReport], list[str]],  # saves, returns a line per saved record
    audit_action: str,
):
    upload = page.form.get("file")
    if not isinstance(upload, Upload):
        return page.redirect(back[0], "请选择一个 Excel 文件（.xlsx）。", "error")
    with uploads.as_temporary_file(upload) as path:
        try:
            report = check(str(path))
        except SheetError as exc:
            log.info("web: import of %s into %s refused: %s", upload.filename, back[0], exc)
            return page.redirect(back[0], uploads.shown_error(str(exc), path, upload), "error")
    saved = [] if report.errors else save(report)
    if saved:
        page.audit(audit_action, upload.filename[:64], f"{len(saved)} 条导入")
    return page.render(
        "legal_import.html",
        title="导入结果",
        report=report,
        saved=saved,
        filename=upload.filename,
        noun=noun,
        back=back,
    )
