"""The web console: `web` serves it; `web user add|list|reset` manages its accounts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from sqlmodel import Session

from bot.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "web", help="工作人员网页后台（默认 http://127.0.0.1:8000/，PUFA_WEB_HOST/PUFA_WEB_PORT）"
    )
    parser.set_defaults(func=cmd_serve)
    sub = parser.add_subparsers(dest="web_command", metavar="操作")
    user = sub.add_parser("user", help="后台账号：add 新建、list 列出、reset 重置密码")
    user_sub = user.add_subparsers(dest="user_command", metavar="操作", required=True)

    add = user_sub.add_parser("add", help="新建账号并打印一次性密码（首次登录须修改）")
    add.add_argument("name", help="账号名（登录用，不含空格）")
    add.add_argument("--role", choices=("staff", "adviser", "admin"), required=True)
    add.add_argument("--link", help="关联的聊天身份，例如 telegram:123（角色以聊天中的为准）")
    add.set_defaults(func=cmd_user_add)

    listing = user_sub.add_parser("list", help="列出账号")
    listing.set_defaults(func=cmd_user_list)

    reset = user_sub.add_parser("reset", help="重置密码并解除锁定，打印新的一次性密码")
    reset.add_argument("name")
    reset.set_defaults(func=cmd_user_reset)


def _engine(settings: Settings):
    from bot import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    return engine


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web import auth

    with Session(_engine(settings)) as session:
        try:
            account, password = auth.create(
                session, args.name, args.role, args.link, tuple(settings.admins)
            )
        except auth.AccountError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        auth.audit(session, None, "account_added", f"account:{account.name}", args.role, name="cli")
        session.commit()
    print(f"已创建账号 {args.name}（{auth.role_label(args.role)}）。")
    print(f"一次性密码：{password}")
    print("请交给本人；首次登录时须修改密码。")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web import auth

    with Session(_engine(settings)) as session:
        accounts = auth.all_accounts(session)
        if not accounts:
            print("还没有后台账号。用 python bot.py web user add 名字 --role staff 创建。")
        for account in accounts:
            state = (
                "已停用"
                if account.disabled
                else ("待修改初始密码" if account.must_change else "正常")
            )
            role = auth.role_label(auth.role_of(session, account))
            print(f"{account.name}\t{role}\t{state}")
    return 0


def cmd_user_reset(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web import auth

    with Session(_engine(settings)) as session:
        account = auth.find(session, args.name)
        if account is None:
            print(f"没有账号“{args.name}”。", file=sys.stderr)
            return 2
        password = auth.reset_password(session, account)
        auth.audit(session, None, "password_reset", f"account:{account.name}", name="cli")
        session.commit()
    print(f"账号 {args.name} 的新一次性密码：{password}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import build
    from bot.web.app import serve_web
    from bot.web.settings import WebSettings

    services = build(settings)
    web_settings = WebSettings()
    print(f"网页后台：http://{web_settings.host}:{web_settings.port}/ （Ctrl-C 退出）")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await serve_web(services, stop, web_settings)

    asyncio.run(main())
    return 0
