"""Console accounts: argon2 passwords, one-time passwords, lock-out, roles, audit trail.

An account acts as a chat user row (`WebAccount.user_id`), so the case history, notices
and ledger name the same person the chat would. A linked account takes its role from that
user row (granted with /grant or `bot.py web user add --link`); an unlinked one carries its
own role on a "web" user row created for it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from bot.models import User, WebAccount, WebAudit, WebSetting
from bot.services import users
from bot.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

WEB_ROLES = ("staff", "adviser", "admin")
WEB_CHANNEL = "web"
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 10
SECRET_KEY = "session_secret"
HASHER = PasswordHasher()
_DUMMY_HASH = HASHER.hash("no-such-account-padding")


class AccountError(ValueError):
    """A problem with an account operation; the message is for the user (Chinese)."""


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def find(session: Session, name: str) -> WebAccount | None:
    return session.exec(select(WebAccount).where(WebAccount.name == name.strip())).first()


def role_of(session: Session, account: WebAccount) -> str:
    """The account's effective role: its linked chat user's, else its own."""
    if account.linked:
        user = session.get(User, account.user_id)
        return user.role if user is not None else "resident"
    return account.role


def create(
    session: Session, name: str, role: str, link: str | None = None, admins: tuple[str, ...] = ()
) -> tuple[WebAccount, str]:
    """A new account and its one-time password (to change at first sign-in)."""
    name = name.strip()
    if not name or len(name) > 64 or any(ch.isspace() for ch in name):
        raise AccountError("账号名不能为空、不能含空格，最多 64 个字符。")
    if role not in WEB_ROLES:
        raise AccountError(f"角色应为 {'、'.join(WEB_ROLES)} 之一。")
    if find(session, name) is not None:
        raise AccountError(f"账号“{name}”已经存在。")
    if link:
        user = _linked_user(session, link.strip(), role, admins)
    else:
        user = users.get_or_create(session, WEB_CHANNEL, name)
        user.role = role
        user.display_name = name
    password = one_time_password()
    account = WebAccount(
        name=name,
        password_hash=HASHER.hash(password),
        role=role,
        user_id=user.id,
        linked=bool(link),
    )
    session.add(account)
    session.flush()
    return account, password


def _linked_user(session: Session, ref: str, role: str, admins) -> User:
    """The chat user the account acts as; its row carries the role (one source of truth).
    The admin role, as in the chat, comes only from PUFA_ADMINS."""
    channel, _, external_id = ref.partition(":")
    if channel not in ("telegram", "wechat", "console") or not external_id:
        raise AccountError(
            "关联的聊天身份应写成 渠道:编号，例如 telegram:123（渠道为 telegram、wechat 或 console）。"
        )
    if (role == "admin") != (ref in admins):
        raise AccountError(
            "管理员角色只来自 PUFA_ADMINS：关联 PUFA_ADMINS 中的身份时请用 --role admin，其他身份不能设为管理员。"
        )
    user = users.get_or_create(session, channel, external_id)
    user.role = role
    return user


def reset_password(session: Session, account: WebAccount) -> str:
    password = one_time_password()
    account.password_hash = HASHER.hash(password)
    account.must_change = True
    account.failed_logins = 0
    account.locked_until = None
    account.session_epoch += 1
    return password


def is_locked(account: WebAccount, now: datetime) -> bool:
    return account.locked_until is not None and as_utc(account.locked_until) > as_utc(now)


def authenticate(
    session: Session, name: str, password: str, now: datetime
) -> tuple[WebAccount | None, str]:
    """(account, "") on success, else (None, a Chinese reason). Counts failures and
    locks the account for LOCK_FOR after MAX_FAILURES in a row."""
    account = find(session, name) if name.strip() else None
    if account is None or account.disabled:
        _verify(_DUMMY_HASH, password)  # the same work, so timing does not reveal names
        return None, "账号或密码不正确。"
    if is_locked(account, now):
        return None, "登录失败次数过多，账号已锁定 15 分钟，请稍后再试。"
    if not _verify(account.password_hash, password):
        account.failed_logins += 1
        if account.failed_logins >= MAX_FAILURES:
            account.locked_until = now + LOCK_FOR
            account.failed_logins = 0
            log.warning("web account %s locked after %d failures", account.name, MAX_FAILURES)
            return None, "登录失败次数过多，账号已锁定 15 分钟，请稍后再试。"
        return None, "账号或密码不正确。"
    if role_of(session, account) not in WEB_ROLES:
        return None, "这个账号没有使用后台的权限。"
    account.failed_logins = 0
    account.last_login_at = now
    if HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = HASHER.hash(password)
    return account, ""


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(session: Session, account: WebAccount, old: str, new: str, again: str) -> None:
    if not _verify(account.password_hash, old):
        raise AccountError("原密码不正确。")
    if new != again:
        raise AccountError("两次输入的新密码不一致。")
    if len(new) < MIN_PASSWORD:
        raise AccountError(f"新密码至少 {MIN_PASSWORD} 位。")
    if new == old:
        raise AccountError("新密码不能与原密码相同。")
    account.password_hash = HASHER.hash(new)
    account.must_change = False
    account.session_epoch += 1


def audit(
    session: Session,
    account: WebAccount | None,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    *,
    name: str | None = None,
    now: datetime | None = None,
) -> WebAudit:
    row = WebAudit(
        at=now or utcnow(),
        account_id=account.id if account else None,
        account_name=(account.name if account else name or "—")[:64],
        action=action[:32],
        target=target[:64] if target else None,
        detail=detail[:1000] if detail else None,
    )
    session.add(row)
    return row


def recent_audit(session: Session, limit: int = 200) -> list[WebAudit]:
    return list(session.exec(select(WebAudit).order_by(WebAudit.id.desc()).limit(limit)))


def all_accounts(session: Session) -> list[WebAccount]:
    return list(session.exec(select(WebAccount).order_by(WebAccount.name)))


def stored_secret(session: Session) -> str:
    """The signing secret kept in the database, generated on first use."""
    row = session.get(WebSetting, SECRET_KEY)
    if row is None:
        row = WebSetting(key=SECRET_KEY, value=secrets.token_urlsafe(48))
        session.add(row)
        session.commit()
        log.info("web console: generated and stored a new session secret")
    return row.value


def role_label(role: str | None) -> str:
    return users.ROLE_NAMES.get(role or "", role or "")


ACTION_NAMES = {
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出",
    "password_changed": "修改密码",
    "password_reset": "重置密码",
    "account_added": "新建账号",
    "account_disabled": "停用账号",
    "account_enabled": "启用账号",
    "role_granted": "授予角色",
    "role_revoked": "撤销角色",
    "case_claim": "认领咨询",
    "case_reply": "答复咨询",
    "case_ask": "请居民补充",
    "case_close": "咨询结案",
    "notice_sent": "发送通知",
    "notice_scheduled": "定时推送",
    "schedule_changed": "修改定时推送",
    "schedule_cancelled": "取消定时推送",
    "activity_added": "登记活动",
    "activity_updated": "修改活动",
    "activity_deleted": "删除活动",
    "activities_imported": "导入活动",
    "download": "下载统计",
    "faq_reviewed": "处理问答缺口",
    "kb_reloaded": "重新加载问答库",
    "kb_reload_refused": "问答库未替换",
}
