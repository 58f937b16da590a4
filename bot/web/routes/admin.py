"""用户与角色 (admin): console accounts (add, reset password, disable), chat roles (grant
and revoke, as /grant and /revoke do), and the audit trail of staff actions."""

from __future__ import annotations

import logging

from bot.ledger import Kind
from bot.models import User, WebAccount
from bot.routing import Context
from bot.services import users
from bot.web import auth
from bot.web.security import ADMIN, Page

log = logging.getLogger(__name__)

CHAT_CHANNELS = ("telegram", "wechat", "console")


def accounts(page: Page, **extra):
    rows = []
    for account in auth.all_accounts(page.db):
        user = page.db.get(User, account.user_id)
        rows.append(
            (
                account,
                auth.role_label(auth.role_of(page.db, account)),
                user.ref if account.linked else "",
            )
        )
    people = users.with_roles(page.db, ("admin", "staff", "adviser"))
    people = [u for u in people if u.channel in CHAT_CHANNELS]
    return page.render(
        "admin_accounts.html",
        title="用户与角色",
        rows=rows,
        people=people,
        roles=auth.WEB_ROLES,
        role_names=users.ROLE_NAMES,
        grantable=users.GRANTABLE_ROLES,
        admins=page.settings.admins,
        **extra,
    )


def add_account(page: Page):
    name, role, link = page.value("name"), page.value("role"), page.value("link") or None
    try:
        account, password = auth.create(page.db, name, role, link, tuple(page.settings.admins))
    except auth.AccountError as exc:
        page.flash(str(exc), "error")
        return accounts(page)
    page.audit("account_added", f"account:{account.name}", f"{role}{' ' + link if link else ''}")
    log.info("web: %s added account %s (%s)", page.account.name, account.name, role)
    return accounts(page, issued=(account.name, password))


def _account(page: Page) -> WebAccount | None:
    raw = page.request.path_params["account_id"]
    return page.db.get(WebAccount, int(raw)) if raw.isdigit() else None


def reset(page: Page):
    account = _account(page)
    if account is None:
        return page.redirect("/admin/accounts", "没有这个账号。", "error")
    password = auth.reset_password(page.db, account)
    page.audit("password_reset", f"account:{account.name}")
    return accounts(page, issued=(account.name, password))


def toggle(page: Page):
    account = _account(page)
    if account is None:
        return page.redirect("/admin/accounts", "没有这个账号。", "error")
    if account.id == page.account.id:
        return page.redirect("/admin/accounts", "不能停用自己的账号。", "error")
    account.disabled = not account.disabled
    account.session_epoch += 1
    page.audit(
        "account_disabled" if account.disabled else "account_enabled", f"account:{account.name}"
    )
    return page.redirect(
        "/admin/accounts", f"已{'停用' if account.disabled else '启用'}账号 {account.name}。"
    )


def grant(page: Page):
    ref, role = page.value("ref"), page.value("role")
    channel, _, external = ref.partition(":")
    if channel not in CHAT_CHANNELS or not external or role not in users.GRANTABLE_ROLES:
        return page.redirect(
            "/admin/accounts",
            "请写成 渠道:编号（例如 telegram:123），角色选工作人员或法律顾问。",
            "error",
        )
    if ref in page.settings.admins:
        return page.redirect(
            "/admin/accounts", f"{ref} 是配置中的管理员，角色由 PUFA_ADMINS 决定。", "error"
        )
    user = users.set_role(page.db, ref, role)
    Context(page.db, page.actor, page.settings, page.services, "web").count(
        Kind.ROLE_GRANTED, ref=f"{ref}:{role}"
    )
    page.audit("role_granted", ref, role)
    return page.redirect("/admin/accounts", f"已将 {user.ref} 设为{users.ROLE_NAMES[role]}。")


def revoke(page: Page):
    ref = page.value("ref")
    user = users.find_by_ref(page.db, ref)
    if user is None or user.role not in users.GRANTABLE_ROLES:
        return page.redirect("/admin/accounts", f"{ref} 没有可撤销的角色。", "error")
    previous, user.role = user.role, "resident"
    Context(page.db, page.actor, page.settings, page.services, "web").count(
        Kind.ROLE_REVOKED, ref=f"{ref}:{previous}"
    )
    page.audit("role_revoked", ref, previous)
    return page.redirect(
        "/admin/accounts", f"已撤销 {user.ref} 的{users.ROLE_NAMES[previous]}角色。"
    )


def audit_trail(page: Page):
    return page.render(
        "admin_audit.html",
        title="操作记录",
        rows=auth.recent_audit(page.db),
        names=auth.ACTION_NAMES,
    )


ROUTES = [
    ("/admin/accounts", ADMIN, accounts, ["GET"]),
    ("/admin/accounts", ADMIN, add_account, ["POST"]),
    ("/admin/accounts/{account_id}/reset", ADMIN, reset, ["POST"]),
    ("/admin/accounts/{account_id}/toggle", ADMIN, toggle, ["POST"]),
    ("/admin/roles/grant", ADMIN, grant, ["POST"]),
    ("/admin/roles/revoke", ADMIN, revoke, ["POST"]),
    ("/admin/audit", ADMIN, audit_trail, ["GET"]),
]
