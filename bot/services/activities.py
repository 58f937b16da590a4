"""Offline publicity activities that staff record (the bot cannot see them): lectures,
study sessions, touring events, events at the rule-of-law culture spots.

They are counted with the online figures by bot.services.stats straight from the
`activities` table. Every change is also written to the ledger, in the same transaction,
for the audit trail. Ledger kinds added here:

- activity_added    ref = activity id
- activity_updated  ref = activity id
- activity_deleted  ref = activity id
(community and topic are those of the activity; channel is the chat channel or "cli".)

Each activity also says who it was for (`audience`: residents, or the office's own cadres
and enforcement staff — those count as 学法用法, not as public publicity), the materials
handed out (份), the site (one of PUFA_SITES, the office's 法治文化阵地, or another typed
in), the series or column it belongs to, the lecturer or team, and attachment paths
(photos, the sign-in sheet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from bot import ledger
from bot.ledger import Kind
from bot.models import Activity, User
from bot.parsing import ascii_int
from bot.services.periods import Period, PeriodError, parse_date
from bot.timeutil import utcnow

KINDS = {
    "lecture": "普法宣讲",
    "study": "学法活动",
    "tour": "巡回宣传",
    "culture_spot": "法治文化阵地活动",
    "other": "其他活动",
}
KIND_WORDS = {
    **{key: key for key in KINDS},
    **{label: key for key, label in KINDS.items()},
    "宣讲": "lecture",
    "讲座": "lecture",
    "学法": "study",
    "学习会": "study",
    "巡回": "tour",
    "巡回活动": "tour",
    "阵地": "culture_spot",
    "法治文化阵地": "culture_spot",
    "其他": "other",
}
AUDIENCES = {"residents": "居民", "cadres": "机关干部", "enforcement": "执法人员"}
AUDIENCE_WORDS = {
    **{key: key for key in AUDIENCES},
    **{label: key for key, label in AUDIENCES.items()},
    "群众": "residents",
    "居民群众": "residents",
    "干部": "cadres",
    "领导干部": "cadres",
    "机关": "cadres",
    "执法": "enforcement",
    "执法队员": "enforcement",
}
STUDY_AUDIENCES = ("cadres", "enforcement")  # 学法用法: the office's own people
MAX_ATTENDANCE = 1_000_000
MAX_MATERIALS = 10_000_000
MAX_ATTACHMENTS, MAX_ATTACHMENT_PATH = 20, 300
FIELD_NAMES = {
    "date": "day",
    "日期": "day",
    "type": "kind",
    "类型": "kind",
    "title": "title",
    "标题": "title",
    "名称": "title",
    "community": "community",
    "社区": "community",
    "topic": "topic",
    "主题": "topic",
    "attendance": "attendance",
    "人数": "attendance",
    "参与人数": "attendance",
    "notes": "notes",
    "备注": "notes",
    "audience": "audience",
    "对象": "audience",
    "materials": "materials",
    "资料": "materials",
    "资料份数": "materials",
    "site": "site",
    "阵地": "site",
    "地点": "site",
    "series": "series",
    "系列": "series",
    "栏目": "series",
    "lecturer": "lecturer",
    "主讲": "lecturer",
    "讲师": "lecturer",
    "attachments": "attachments",
    "附件": "attachments",
}
EMPTY_WORDS = ("", "-", "无", "跳过", "none")


class ActivityError(ValueError):
    """Input for an activity is invalid; the message is Chinese and says how to fix it."""


@dataclass
class Draft:
    """Validated activity fields (everything a user types goes through `clean_*`)."""

    day: date
    kind: str
    title: str
    attendance: int
    community: str | None = None
    topic: str | None = None
    notes: str | None = None
    audience: str = "residents"
    materials: int = 0
    site: str | None = None
    series: str | None = None
    lecturer: str | None = None
    attachments: list[str] = field(default_factory=list)


# --- validation ------------------------------------------------------------------------------
def clean_day(text: str | date) -> date:
    if isinstance(text, date):
        return text
    try:
        return parse_date(str(text))
    except PeriodError as exc:
        raise ActivityError(str(exc)) from None


def clean_kind(text: str) -> str:
    key = KIND_WORDS.get(str(text).strip())
    if key is None:
        choices = "、".join(KINDS.values())
        raise ActivityError(f"未知的活动类型“{str(text).strip()[:20]}”，可选：{choices}。")
    return key


def clean_title(text: str) -> str:
    title = " ".join(str(text).split())
    if not title:
        raise ActivityError("活动名称不能为空。")
    if len(title) > 200:
        raise ActivityError(f"活动名称有 {len(title)} 字，最多 200 字。")
    return title


def clean_attendance(text: str | int) -> int:
    raw = str(text).strip().removesuffix("人次").removesuffix("人")
    if raw.startswith("-") and ascii_int(raw[1:]) is not None:
        raise ActivityError("参与人数不能为负数。")
    number = ascii_int(raw)
    if number is None:
        raise ActivityError(f"参与人数应为整数，收到的是“{str(text).strip()[:20]}”。")
    if number < 0:
        raise ActivityError("参与人数不能为负数。")
    if number > MAX_ATTENDANCE:
        raise ActivityError(f"参与人数 {number} 太大了，请检查。")
    return number


def clean_audience(text: str | None) -> str:
    if text is None or not str(text).strip():
        return "residents"
    key = AUDIENCE_WORDS.get(str(text).strip())
    if key is None:
        choices = "、".join(AUDIENCES.values())
        raise ActivityError(f"未知的活动对象“{str(text).strip()[:20]}”，可选：{choices}。")
    return key


def clean_materials(text: str | int | None) -> int:
    if text is None or str(text).strip() in EMPTY_WORDS:
        return 0
    raw = str(text).strip().removesuffix("份")
    try:
        number = int(raw)
    except ValueError:
        raise ActivityError(f"发放资料份数应为整数，收到的是“{str(text).strip()[:20]}”。") from None
    if not 0 <= number <= MAX_MATERIALS:
        raise ActivityError(f"发放资料份数 {number} 不在 0–{MAX_MATERIALS} 之间，请检查。")
    return number


def clean_attachments(text: str | list | None) -> list[str]:
    """Paths of photos or a sign-in sheet, separated by commas, 、 or ；."""
    if text is None:
        return []
    items = text if isinstance(text, list) else re.split(r"[,，、;；\n]", str(text))
    paths = [str(item).strip() for item in items if str(item).strip()]
    if len(paths) > MAX_ATTACHMENTS:
        raise ActivityError(f"附件最多 {MAX_ATTACHMENTS} 个，收到 {len(paths)} 个。")
    for path in paths:
        if len(path) > MAX_ATTACHMENT_PATH:
            raise ActivityError(f"附件路径最多 {MAX_ATTACHMENT_PATH} 字：“{path[:40]}…”。")
    return paths


def clean_optional(text: str | None, limit: int, name: str) -> str | None:
    if text is None or str(text).strip().lower() in EMPTY_WORDS:
        return None
    value = str(text).strip()
    if len(value) > limit:
        raise ActivityError(f"{name}最多 {limit} 字，收到 {len(value)} 字。")
    return value


def draft(
    *,
    day: str | date,
    kind: str,
    title: str,
    attendance: str | int,
    community: str | None = None,
    topic: str | None = None,
    notes: str | None = None,
    audience: str | None = None,
    materials: str | int | None = None,
    site: str | None = None,
    series: str | None = None,
    lecturer: str | None = None,
    attachments: str | list | None = None,
) -> Draft:
    return Draft(
        day=clean_day(day),
        kind=clean_kind(kind),
        title=clean_title(title),
        attendance=clean_attendance(attendance),
        community=clean_optional(community, 64, "社区"),
        topic=clean_optional(topic, 32, "主题"),
        notes=clean_optional(notes, 1000, "备注"),
        audience=clean_audience(audience),
        materials=clean_materials(materials),
        site=clean_optional(site, 64, "阵地"),
        series=clean_optional(series, 64, "系列"),
        lecturer=clean_optional(lecturer, 64, "主讲人或团队"),
        attachments=clean_attachments(attachments),
    )


def clean_field(name: str, value: str) -> tuple[str, object]:
    """('人数', '150') → ('attendance', 150): one field of an edit."""
    name_of = FIELD_NAMES.get(name.strip().lower())
    if name_of is None:
        raise ActivityError(
            f"未知的字段“{name[:20]}”，可改：日期、类型、标题、社区、主题、人数、备注、"
            "对象、资料、阵地、系列、主讲、附件。"
        )
    cleaners = {
        "day": clean_day,
        "kind": clean_kind,
        "title": clean_title,
        "attendance": clean_attendance,
        "community": lambda v: clean_optional(v, 64, "社区"),
        "topic": lambda v: clean_optional(v, 32, "主题"),
        "notes": lambda v: clean_optional(v, 1000, "备注"),
        "audience": clean_audience,
        "materials": clean_materials,
        "site": lambda v: clean_optional(v, 64, "阵地"),
        "series": lambda v: clean_optional(v, 64, "系列"),
        "lecturer": lambda v: clean_optional(v, 64, "主讲人或团队"),
        "attachments": clean_attachments,
    }
    return name_of, cleaners[name_of](value)


# --- storage ---------------------------------------------------------------------------------
def add(
    session: Session, data: Draft, *, channel: str, user: User | None = None, actor: str = ""
) -> Activity:
    activity = Activity(
        day=data.day,
        kind=data.kind,
        title=data.title,
        community=data.community,
        topic=data.topic,
        attendance=data.attendance,
        notes=data.notes,
        audience=data.audience,
        materials=data.materials,
        site=data.site,
        series=data.series,
        lecturer=data.lecturer,
        attachments=list(data.attachments),
        created_by=(actor or (user.ref if user else None) or None),
    )
    session.add(activity)
    session.flush()
    _record(session, Kind.ACTIVITY_ADDED, activity, channel, user)
    return activity


def get(session: Session, activity_id: int | str) -> Activity:
    number = _id(activity_id)
    activity = session.get(Activity, number)
    if activity is None:
        raise ActivityError(f"没有编号为 {number} 的活动。")
    return activity


def update(
    session: Session,
    activity_id: int | str,
    changes: dict[str, object],
    *,
    channel: str,
    user: User | None = None,
) -> Activity:
    """Apply already-cleaned `changes` (field → value, see clean_field)."""
    if not changes:
        raise ActivityError("没有要修改的内容。")
    activity = get(session, activity_id)
    for name, value in changes.items():
        setattr(activity, name, value)
    activity.updated_at = utcnow()
    session.add(activity)
    _record(session, Kind.ACTIVITY_UPDATED, activity, channel, user)
    return activity


def delete(
    session: Session, activity_id: int | str, *, channel: str, user: User | None = None
) -> Activity:
    activity = get(session, activity_id)
    _record(session, Kind.ACTIVITY_DELETED, activity, channel, user)
    session.delete(activity)
    return activity


def in_period(session: Session, period: Period | None = None, limit: int | None = None):
    statement = select(Activity).order_by(Activity.day, Activity.id)
    if period is not None:
        statement = statement.where(Activity.day >= period.start, Activity.day < period.end)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.exec(statement))


def _id(value: int | str) -> int:
    text = str(value).strip().lstrip("#")
    number = ascii_int(text)
    if number is None:
        raise ActivityError(f"活动编号应为数字（不超过 9 位），收到的是“{text[:20]}”。")
    return number


def _record(session: Session, kind: Kind, activity: Activity, channel: str, user: User | None):
    event = ledger.record(
        session, kind, channel=channel, user=user, topic=activity.topic, ref=str(activity.id)
    )
    event.community = activity.community  # the activity's, not the staff member's


# --- presentation ----------------------------------------------------------------------------
def describe(activity: Activity) -> str:
    parts = [
        f"#{activity.id} {activity.day.isoformat()} {KINDS.get(activity.kind, activity.kind)}",
        f"“{activity.title}”",
        activity.community or "",
        f"主题：{activity.topic}" if activity.topic else "",
        f"{activity.attendance} 人次",
        *_extras(activity),
    ]
    text = " ".join(part for part in parts if part)
    return f"{text}（{activity.notes}）" if activity.notes else text


def _extras(item: Activity | Draft) -> list[str]:
    """The issue-13 fields, only those that are set (a plain lecture reads as before)."""
    return [
        f"对象：{AUDIENCES[item.audience]}" if item.audience != "residents" else "",
        f"发放资料 {item.materials} 份" if item.materials else "",
        f"阵地：{item.site}" if item.site else "",
        f"系列：{item.series}" if item.series else "",
        f"主讲：{item.lecturer}" if item.lecturer else "",
        f"附件 {len(item.attachments)} 个" if item.attachments else "",
    ]


def describe_draft(data: Draft) -> str:
    lines = [
        f"日期：{data.day.isoformat()}",
        f"类型：{KINDS[data.kind]}",
        f"名称：{data.title}",
        f"社区：{data.community or '—'}",
        f"主题：{data.topic or '—'}",
        f"参与人数：{data.attendance}",
        f"备注：{data.notes or '—'}",
    ]
    lines += [extra for extra in _extras(data) if extra]
    return "\n".join(lines)
