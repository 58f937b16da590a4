"""/start, /help and the main menu."""

from __future__ import annotations

from bot.messages import Button, Incoming, Reply
from bot.payload import Browse, Consult, Help, MainMenu, SubscriptionButton
from bot.routing import Context, Router

router = Router("start")

MAIN_MENU = (
    Button("📖 浏览民法典问答", Browse().pack()),
    Button("🧑‍⚖️ 咨询法律顾问", Consult().pack()),
    Button("📬 订阅普法信息", SubscriptionButton().pack()),
    Button("❓ 使用帮助", Help().pack()),
)

WELCOME = (
    "您好{name}！我是街道的“普法助手”。\n"
    "您可以直接用日常的话问我《民法典》相关的问题，比如“房东不退押金怎么办”“老人去世没留遗嘱，"
    "房子怎么分”。我会给出通俗的解答并注明法条。\n"
    "遇到具体纠纷，也可以把情况提交给街道的法律顾问。\n"
    "想定期收到普法知识和街道通知？点“📬 订阅普法信息”或发送 /subscribe，随时可以退订。"
)

HELP = (
    "使用方法：\n"
    "• 直接输入问题，例如“邻居装修漏水到我家谁负责”；\n"
    "• 输入“第1077条”查看引用这一条的问答；\n"
    "• 点按钮浏览问答、咨询法律顾问或订阅普法信息。\n"
    "本助手提供的是一般性法律信息，不代替律师对您具体案件的意见。"
)


def main_menu(text: str = "请选择：") -> Reply:
    return Reply(text, MAIN_MENU)


@router.command("start", help="开始使用 / 主菜单", aliases=("开始", "菜单", "主菜单"))
def start(incoming: Incoming, ctx: Context) -> Reply:
    name = f"，{ctx.user.display_name}" if ctx.user.display_name else ""
    return Reply(WELCOME.format(name=name), MAIN_MENU)


@router.command("help", help="使用帮助", aliases=("帮助", "help", "?", "？"))
def help_command(incoming: Incoming, ctx: Context) -> Reply:
    lines = [HELP, "", "可用命令："]
    lines += [f"/{c.name} — {c.help}" for c in ctx.services.dispatcher.command_help(ctx.user.role)]
    return Reply("\n".join(lines), MAIN_MENU)


@router.button(Help)
def help_button(incoming: Incoming, ctx: Context) -> Reply:
    return help_command(incoming, ctx)


@router.button(MainMenu)
def menu_button(incoming: Incoming, ctx: Context) -> Reply:
    return main_menu()
