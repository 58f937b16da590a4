"""Command-line interface: `python bot.py [command]` (also installed as `pufa-bot`).

One module per command group (chat, db, faq, activity, stats, cases, notice, campaign, web, work),
each with a `register(commands)`; bot.cli._common holds the session and the usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.chat import configured_channels
from bot.config import ConfigError, load_settings
from faq.kb import KBError

log = logging.getLogger("bot")

__all__ = ["configured_channels", "main", "run"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pufa-bot",
        description="普法助手：民法典问答、法律咨询、普法宣传与统计。不带命令时运行已配置的渠道，"
        "未配置任何渠道时进入控制台对话。",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    commands = parser.add_subparsers(dest="command", metavar="命令")
    for register in _feature_commands():
        register(commands)
    return parser


def _feature_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """The command groups, one module each, in the order `--help` lists them."""
    from bot.cli import (
        activity,
        campaign,
        cases,
        chat,
        db,
        faq,
        notice,
        publication,
        stats,
        web,
        work,
    )

    return [
        chat.register,
        db.register,
        faq.register,
        activity.register,
        publication.register,
        stats.register,
        cases.register,
        notice.register,
        campaign.register,
        web.register,
        work.register,
    ]


def _configure_logging(verbose: bool, command: str | None) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if command in (None, "chat", "ask", "kb", "faq") and not verbose:
        level = logging.WARNING  # keep the console conversation readable
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("jieba").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose, args.command)
    try:
        settings = load_settings()
        func = getattr(args, "func", None) or _default_command()
        return func(args, settings)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KBError as exc:
        print(
            f"问答库有误，无法启动：{exc.errors[0]}（共 {len(exc.errors)} 处，运行 python bot.py kb check 查看）",
            file=sys.stderr,
        )
        return 2
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        print(f"数据库错误：请检查 PUFA_DATABASE_URL（{reason}）", file=sys.stderr)
        log.debug("database error", exc_info=True)
        return 2
    except KeyboardInterrupt:
        return 130


def _default_command():
    from bot.cli.chat import cmd_default

    return cmd_default


def run() -> None:
    sys.exit(main())
