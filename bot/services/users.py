"""Users and roles."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.models import User
from bot.timeutil import utcnow

GRANTABLE_ROLES = ("staff", "adviser")
ROLE_NAMES = {"resident": "居民", "staff": "工作人员", "adviser": "法律顾问", "admin": "管理员"}


def find(session: Session, channel: str, external_id: str) -> User | None:
    statement = select(User).where(User.channel == channel, User.external_id == external_id)
    return session.exec(statement).first()


def find_by_ref(session: Session, ref: str) -> User | None:
    channel, _, external_id = ref.partition(":")
    return find(session, channel, external_id) if external_id else None


def get_or_create(session: Session, channel: str, external_id: str) -> User:
    user = find(session, channel, external_id)
    if user is None:
        user = User(channel=channel, external_id=external_id)
        session.add(user)
        session.flush()
    return user


def touch(
    session: Session,
    channel: str,
    external_id: str,
    display_name: str | None,
    admins: list[str],
) -> User:
    """Load (or create) the user behind a message and bring their admin role in line
    with PUFA_ADMINS, which is the only source of the admin role."""
    user = get_or_create(session, channel, external_id)
    user.last_seen_at = utcnow()
    user.unreachable = False
    if display_name:
        user.display_name = display_name[:128]
    is_configured_admin = user.ref in admins
    if is_configured_admin and user.role != "admin":
        user.role = "admin"
    elif not is_configured_admin and user.role == "admin":
        user.role = "resident"
    return user


def set_role(session: Session, ref: str, role: str) -> User:
    channel, _, external_id = ref.partition(":")
    user = get_or_create(session, channel, external_id)
    user.role = role
    return user


def with_roles(session: Session, roles: tuple[str, ...]) -> list[User]:
    statement = select(User).where(User.role.in_(roles)).order_by(User.role, User.id)
    return list(session.exec(statement))
