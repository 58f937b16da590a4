"""Sign-in, sign-out and the password change (forced at first sign-in)."""

from __future__ import annotations

import logging

from bot.timeutil import utcnow
from bot.web import auth, security
from bot.web.security import Page

log = logging.getLogger(__name__)


def _safe_next(target: str) -> str:
    """Only a local path (never //host or a scheme) may follow the sign-in."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def login_form(page: Page):
    if page.account is not None:
        return page.redirect("/")
    return page.render("login.html", next=_safe_next(page.query("next", "/")), name="", error="")


def login(page: Page):
    name, password = page.value("name"), page.form.get("password", "")
    target = _safe_next(page.value("next", "/"))
    account, reason = auth.authenticate(page.db, name, password, utcnow())
    if account is None:
        log.info("web: failed sign-in for %r", name[:64])
        auth.audit(page.db, auth.find(page.db, name), "login_failed", detail=reason, name=name)
        return page.render("login.html", status_code=401, next=target, name=name, error=reason)
    session = page.request.session
    session.clear()  # a fresh session (and CSRF token) at every sign-in
    session.update({"aid": account.id, "ep": account.session_epoch})
    auth.audit(page.db, account, "login")
    log.info("web: %s signed in", account.name)
    return page.redirect(security.PASSWORD_PATH if account.must_change else target)


def logout(page: Page):
    page.audit("logout")
    page.request.session.clear()
    return page.redirect("/login", "已退出。")


def password_form(page: Page):
    return page.render("password.html", error="", min_length=auth.MIN_PASSWORD)


def change_password(page: Page):
    account = page.account
    try:
        auth.change_password(
            page.db,
            account,
            page.form.get("old", ""),
            page.form.get("new", ""),
            page.form.get("again", ""),
        )
    except auth.AccountError as exc:
        return page.render(
            "password.html", status_code=400, error=str(exc), min_length=auth.MIN_PASSWORD
        )
    page.request.session["ep"] = account.session_epoch  # other sessions of the account end
    page.audit("password_changed")
    return page.redirect("/", "密码已修改。")


ROUTES = [
    ("/login", None, login_form, ["GET"]),
    ("/login", None, login, ["POST"]),
    ("/logout", security.EVERYONE, logout, ["POST"]),
    (security.PASSWORD_PATH, security.EVERYONE, password_form, ["GET"]),
    (security.PASSWORD_PATH, security.EVERYONE, change_password, ["POST"]),
]
