"""Items published through other channels (两微一端, WeChat groups, notice boards):
`publication add|list|delete`, so the year's count of publicity items counts every item."""

from __future__ import annotations

import argparse

from bot.cli._common import guarded, open_session
from bot.config import Settings

CLI_CHANNEL = "cli"


def register(commands: argparse._SubParsersAction) -> None:
    publication = commands.add_parser(
        "publication", help="登记其他渠道（两微一端、微信群、宣传栏）发布的普法信息"
    )
    actions = publication.add_subparsers(dest="publication_command", metavar="操作", required=True)
    add = actions.add_parser("add", help="登记一条发布")
    add.add_argument("--date", required=True, help="发布日期，例如 2026-05-12")
    add.add_argument(
        "--channel", required=True, help="微信公众号、微博、新闻客户端、微信群、宣传栏或其他"
    )
    add.add_argument("--title", required=True, help="标题")
    add.add_argument("--topic", help="主题，例如 民法典")
    add.add_argument("--link", help="链接（http:// 或 https://）")
    add.set_defaults(func=cmd_publication_add)
    listing = actions.add_parser("list", help="列出登记的发布")
    listing.add_argument("period", nargs="?", help="时间段（默认全部）")
    listing.set_defaults(func=cmd_publication_list)
    delete = actions.add_parser("delete", help="删除一条登记")
    delete.add_argument("id", help="编号")
    delete.set_defaults(func=cmd_publication_delete)


@guarded
def cmd_publication_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publications

    data = publications.draft(
        day=args.date, channel=args.channel, title=args.title, topic=args.topic, link=args.link
    )
    with open_session(settings) as session:
        item = publications.add(session, data, channel=CLI_CHANNEL, actor="cli")
        session.commit()
        print(f"已登记：{publications.describe(item)}")
    return 0


@guarded
def cmd_publication_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import periods, publications

    period = periods.parse_period(args.period, settings.zone) if args.period else None
    with open_session(settings) as session:
        found = publications.in_period(session, period)
        for item in found:
            print(publications.describe(item))
        print(f"共 {len(found)} 条。" if found else "没有登记的发布。")
    return 0


@guarded
def cmd_publication_delete(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import publications

    with open_session(settings) as session:
        item = publications.delete(session, args.id, channel=CLI_CHANNEL)
        session.commit()
        print(f"已删除：{publications.describe(item)}")
    return 0
