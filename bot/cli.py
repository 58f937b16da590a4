"""Command-line interface: `python bot.py [command]` (also installed as `pufa-bot`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings, load_settings
from faq.kb import KBError

log = logging.getLogger("bot")

NO_CHANNEL = (
    "没有配置任何渠道：请设置 PUFA_TELEGRAM_TOKEN（Telegram 机器人令牌），或 PUFA_WECHAT_TOKEN、"
    "PUFA_WECHAT_APPID、PUFA_WECHAT_SECRET（微信公众号），可在 .env 中配置，然后再运行"
    " `python bot.py run`；只想在本机试用请运行 `python bot.py chat`。"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pufa-bot",
        description="普法助手：民法典问答、法律咨询、普法宣传与统计。不带命令时运行已配置的渠道，"
        "未配置任何渠道时进入控制台对话。",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    commands = parser.add_subparsers(dest="command", metavar="命令")

    chat = commands.add_parser("chat", help="控制台对话（从标准输入逐行读取）")
    chat.add_argument("--user", default="me", help="控制台用户名（默认 me）")
    chat.set_defaults(func=cmd_chat)

    run = commands.add_parser("run", help="运行所有已配置的渠道（Telegram 等）")
    run.set_defaults(func=cmd_run)

    database = commands.add_parser("db", help="数据库维护")
    db_commands = database.add_subparsers(dest="db_command", metavar="操作", required=True)
    upgrade = db_commands.add_parser("upgrade", help="应用数据库迁移（启动时也会自动应用）")
    upgrade.set_defaults(func=cmd_db_upgrade)
    revision = db_commands.add_parser("revision", help="（开发者）根据模型生成新的迁移")
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(func=cmd_db_revision)

    for register in _feature_commands():
        register(commands)
    return parser


def _feature_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommands contributed by feature modules (ask, kb, faq, ...)."""
    from bot import cli_cases, cli_faq, cli_notice, cli_stats, cli_work

    return [cli_faq.register, cli_stats.register, cli_cases.register, cli_notice.register, cli_work.register]


def configured_channels(settings: Settings) -> list[str]:
    names = ["telegram"] if settings.telegram_enabled else []
    if settings.wechat_enabled:
        names.append("wechat")
    return names


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import build
    from bot.channels.console import ConsoleChannel

    services = build(settings)
    return ConsoleChannel(services.dispatcher, args.user).run()


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    channels = configured_channels(settings)
    if not channels:
        print(NO_CHANNEL, file=sys.stderr)
        return 2
    from bot.runner import run_channels

    return run_channels(settings, channels)


def cmd_default(args: argparse.Namespace, settings: Settings) -> int:
    if configured_channels(settings):
        return cmd_run(args, settings)
    args.user = "me"
    return cmd_chat(args, settings)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    print(f"数据库已是最新版本（{db.current_revision(engine)}）。")
    return 0


def cmd_db_revision(args: argparse.Namespace, settings: Settings) -> int:
    from alembic import command

    from bot import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    command.revision(db.alembic_config(engine), message=args.message, autogenerate=True)
    return 0


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
        func = getattr(args, "func", cmd_default)
        return func(args, settings)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KBError as exc:
        print(f"问答库有误，无法启动：{exc.errors[0]}（共 {len(exc.errors)} 处，运行 python bot.py kb check 查看）", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        print(f"数据库错误：请检查 PUFA_DATABASE_URL（{reason}）", file=sys.stderr)
        log.debug("database error", exc_info=True)
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> None:
    sys.exit(main())
