"""Which community a resident lives in (`User.community`), so that questions, browsing and
subscriptions can be counted by community.

It is asked once, and can be skipped: at the first subscription (a question with the
communities as buttons and 跳过), and the first consultation's own community question
fills it in (`adopt`). /settings (我的设置) shows it and lets the resident change or clear
it at any time. Statistics by community show residents without one as 未填写, with their
share, rather than guessing.
"""

from __future__ import annotations

import logging

from bot.messages import Button, Incoming, Reply
from bot.models import User
from bot.payload import CommunityButton
from bot.routing import Context, Router

log = logging.getLogger(__name__)
router = Router("community")

ASK_TEXT = "请问您住在哪个社区？选择后，本社区的通知和工作统计会更准确；不想填写可以点“跳过”。"
SKIP = Button("跳过", CommunityButton("skip").pack())


def ask(ctx: Context) -> Reply:
    """The one-time question (its buttons set the community or skip)."""
    buttons = tuple(
        Button(name, CommunityButton("set", i).pack())
        for i, name in enumerate(ctx.settings.communities)
    )
    return Reply(ASK_TEXT, (*buttons, SKIP))


def adopt(ctx: Context, user: User, community: str) -> bool:
    """Take the community a resident chose for their first consultation as theirs, when
    they have none yet and it is one of the office's (not 其他)."""
    if user.community or community not in ctx.settings.communities:
        return False
    user.community = community
    ctx.session.add(user)
    log.info("%s: community %s from the consultation", user.ref, community)
    return True


def settings_reply(ctx: Context, head: str = "⚙️ 我的设置") -> Reply:
    current = ctx.user.community or "未填写"
    buttons = tuple(
        Button(
            f"{'✅ ' if name == ctx.user.community else ''}{name}", CommunityButton("set", i).pack()
        )
        for i, name in enumerate(ctx.settings.communities)
    )
    clear = (Button("不填写社区", CommunityButton("clear").pack()),) if ctx.user.community else ()
    lines = [head, f"所在社区：{current}", "点按下面的社区可以修改。"]
    return Reply("\n".join(lines), (*buttons, *clear))


@router.command("settings", help="我的设置：所在社区", aliases=("设置", "我的设置"))
def settings_command(incoming: Incoming, ctx: Context) -> Reply:
    return settings_reply(ctx)


@router.button(CommunityButton)
def community_button(incoming: Incoming, ctx: Context) -> Reply | str:
    button = CommunityButton.unpack(incoming.payload)
    action = button.action
    if action == "skip":
        return "好的，不填写社区。需要时可以发送 /settings 设置。"
    if action == "clear":
        ctx.user.community = None
        ctx.session.add(ctx.user)
        return settings_reply(ctx, "已清除所在社区。")
    names = ctx.settings.communities
    index = button.index if button.index is not None else -1
    if action == "set" and 0 <= index < len(names):
        ctx.user.community = names[index]
        ctx.session.add(ctx.user)
        return settings_reply(ctx, f"所在社区已设为{names[index]}。")
    log.info("stale community button %r from %s", incoming.payload, ctx.user.ref)
    return settings_reply(ctx, "这个按钮已经失效了。")
