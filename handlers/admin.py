"""Role management for admins: /grant, /revoke, /roles."""

from __future__ import annotations

import logging

from bot.ledger import Kind
from bot.messages import Incoming
from bot.routing import ADMIN_ROLES, Context, Router
from bot.services import users
from bot.services.users import GRANTABLE_ROLES, ROLE_NAMES

log = logging.getLogger(__name__)
router = Router("admin")

ROLE_WORDS = {
    "staff": "staff",
    "工作人员": "staff",
    "adviser": "adviser",
    "法律顾问": "adviser",
    "顾问": "adviser",
}
GRANT_USAGE = "用法：/grant 渠道:用户ID 角色，例如 /grant telegram:123456 staff（角色：staff 工作人员、adviser 法律顾问）"
REVOKE_USAGE = "用法：/revoke 渠道:用户ID，例如 /revoke telegram:123456"


def _parse_ref(text: str) -> str | None:
    channel, _, external = text.partition(":")
    if channel in ("telegram", "wechat", "console") and external:
        return text
    return None


@router.command("grant", help="授予工作人员或法律顾问角色", roles=ADMIN_ROLES)
def grant(incoming: Incoming, ctx: Context) -> str:
    parts = incoming.command()[1].split()
    if len(parts) != 2 or _parse_ref(parts[0]) is None or parts[1] not in ROLE_WORDS:
        return GRANT_USAGE
    ref, role = parts[0], ROLE_WORDS[parts[1]]
    if ref in ctx.settings.admins:
        return f"{ref} 是配置中的管理员，角色由 PUFA_ADMINS 决定。"
    user = users.set_role(ctx.session, ref, role)
    ctx.count(Kind.ROLE_GRANTED, ref=f"{ref}:{role}")
    log.info("%s granted %s to %s", ctx.user.ref, role, ref)
    return f"已将 {user.ref} 设为{ROLE_NAMES[role]}。"


@router.command("revoke", help="撤销角色（恢复为居民）", roles=ADMIN_ROLES)
def revoke(incoming: Incoming, ctx: Context) -> str:
    parts = incoming.command()[1].split()
    if len(parts) != 1 or _parse_ref(parts[0]) is None:
        return REVOKE_USAGE
    user = users.find_by_ref(ctx.session, parts[0])
    if user is None or user.role not in GRANTABLE_ROLES:
        return f"{parts[0]} 没有可撤销的角色。"
    previous = user.role
    user.role = "resident"
    ctx.count(Kind.ROLE_REVOKED, ref=f"{user.ref}:{previous}")
    log.info("%s revoked %s from %s", ctx.user.ref, previous, user.ref)
    return f"已撤销 {user.ref} 的{ROLE_NAMES[previous]}角色。"


@router.command("roles", help="查看有角色的用户", roles=ADMIN_ROLES)
def roles(incoming: Incoming, ctx: Context) -> str:
    people = users.with_roles(ctx.session, ("admin", "staff", "adviser"))
    configured = [ref for ref in ctx.settings.admins if ref not in {u.ref for u in people}]
    lines = ["当前角色："]
    lines += [f"• {u.ref}（{u.display_name or '—'}）：{ROLE_NAMES[u.role]}" for u in people]
    lines += [f"• {ref}：管理员（尚未使用过机器人）" for ref in configured]
    if len(lines) == 1:
        lines.append("暂无工作人员、法律顾问或管理员。")
    return "\n".join(lines)
