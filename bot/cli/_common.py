"""What every command group shares: the database session, the usage error, the guard."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlmodel import Session

from bot.config import Settings

Command = Callable[[argparse.Namespace, Settings], int]


class UsageError(ValueError):
    """A bad argument; the message is shown as is and the command exits with 2."""


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A session on the configured database, migrated first (as the bot does at start)."""
    from bot import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def guarded(command: Command) -> Command:
    """Turn the Chinese input errors of the services (and UsageError) into a message and
    exit code 2, and a file that cannot be written into one line too."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from bot.services.activities import ActivityError
        from bot.services.activity_io import ImportRefused
        from bot.services.export import ExportError
        from bot.services.litigation import LitigationError
        from bot.services.litigation_report import LitigationReportError
        from bot.services.periods import PeriodError
        from bot.services.publications import PublicationError
        from bot.services.report import ReportError
        from bot.services.sheet_import import SheetError
        from bot.services.worklog import WorkError

        errors = (
            ActivityError,
            ImportRefused,
            PublicationError,
            ExportError,
            LitigationError,
            LitigationReportError,
            PeriodError,
            ReportError,
            SheetError,
            WorkError,
            UsageError,
        )
        try:
            return command(args, settings)
        except errors as exc:
            print(str(exc), file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"无法写入文件：{exc.strerror or exc}（{exc.filename or ''}）", file=sys.stderr)
            return 2

    run.__doc__ = command.__doc__
    return run


def run_guarded(command: Command, args: argparse.Namespace, settings: Settings) -> int:
    """Run `command` as `guarded` does (for commands that wrap a helper)."""
    return guarded(command)(args, settings)


def find_author(session: Session, ref: str | None):
    """The user named `channel:id` (None when no author is given)."""
    from bot.services import users

    if not ref:
        return None
    user = users.find_by_ref(session, ref)
    if user is None:
        raise UsageError(f"找不到用户 {ref}（应写成 渠道:用户ID，且此人用过机器人）")
    return user
