"""`chat` (the console conversation), `run` (the configured channels) and the default."""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings

NO_CHANNEL = (
    "没有配置任何渠道：请设置 PUFA_TELEGRAM_TOKEN（Telegram 机器人令牌），或 PUFA_WECHAT_TOKEN、"
    "PUFA_WECHAT_APPID、PUFA_WECHAT_SECRET（微信公众号），可在 .env 中配置，然后再运行"
    " `python bot.py run`；只想在本机试用请运行 `python bot.py chat`。"
)


def register(commands: argparse._SubParsersAction) -> None:
    chat = commands.add_parser("chat", help="控制台对话（从标准输入逐行读取）")
    chat.add_argument("--user", default="me", help="控制台用户名（默认 me）")
    chat.set_defaults(func=cmd_chat)

    run = commands.add_parser("run", help="运行所有已配置的渠道（Telegram 等）")
    run.set_defaults(func=cmd_run)


def configured_channels(settings: Settings) -> list[str]:
    names = ["telegram"] if settings.telegram_enabled else []
    if settings.wechat_enabled:
        names.append("wechat")
    return names


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.app import build
    from bot.channels.console import ConsoleChannel
    from bot.runner import serve_console

    services = build(settings)
    return asyncio.run(serve_console(services, ConsoleChannel(services.dispatcher, args.user)))


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web.settings import WebSettings

    channels = configured_channels(settings)
    if not channels and not WebSettings().enabled:
        print(NO_CHANNEL, file=sys.stderr)
        return 2
    from bot.runner import run_channels

    return run_channels(settings, channels)


def cmd_default(args: argparse.Namespace, settings: Settings) -> int:
    if configured_channels(settings):
        return cmd_run(args, settings)
    args.user = "me"
    return cmd_chat(args, settings)
