"""The register of items published through other channels: the office's 两微一端 (WeChat
official account, Weibo, news app), WeChat groups and notice boards. Staff register each
item (date, channel, title, topic, link) so that "累计发布普法信息N条" counts every item —
the bot's own notices plus these.

Ledger kinds (audit trail, written in the same transaction):
- publication_added    ref = publication id
- publication_deleted  ref = publication id
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from bot import ledger
from bot.ledger import Kind
from bot.models import Publication, User
from bot.services.periods import Period, PeriodError, parse_date

CHANNELS = {
    "official": "微信公众号",
    "weibo": "微博",
    "app": "新闻客户端",
    "group": "微信群",
    "board": "宣传栏",
    "other": "其他渠道",
}
CHANNEL_WORDS = {
    **{key: key for key in CHANNELS},
    **{label: key for key, label in CHANNELS.items()},
    "公众号": "official",
    "微信": "official",
    "客户端": "app",
    "APP": "app",
    "app客户端": "app",
    "群": "group",
    "微信群聊": "group",
    "公告栏": "board",
    "公示栏": "board",
    "宣传栏": "board",
    "其他": "other",
}
MAX_TITLE, MAX_LINK = 200, 500


class PublicationError(ValueError):
    """Input for a registered item is invalid; the message is Chinese."""


@dataclass
class Draft:
    day: date
    channel: str
    title: str
    topic: str | None = None
    link: str | None = None


def clean_channel(text: str) -> str:
    raw = str(text).strip()
    key = CHANNEL_WORDS.get(raw) or CHANNEL_WORDS.get(raw.lower())
    if key is None:
        choices = "、".join(CHANNELS.values())
        raise PublicationError(f"未知的发布渠道“{raw[:20]}”，可选：{choices}。")
    return key


def draft(
    *, day: str | date, channel: str, title: str, topic: str | None = None, link: str | None = None
) -> Draft:
    try:
        when = day if isinstance(day, date) else parse_date(str(day))
    except PeriodError as exc:
        raise PublicationError(str(exc)) from None
    name = " ".join(str(title).split())
    if not name:
        raise PublicationError("标题不能为空。")
    if len(name) > MAX_TITLE:
        raise PublicationError(f"标题有 {len(name)} 字，最多 {MAX_TITLE} 字。")
    topic = (topic or "").strip() or None
    if topic and len(topic) > 32:
        raise PublicationError("主题最多 32 字。")
    link = (link or "").strip() or None
    if link and (len(link) > MAX_LINK or not link.startswith(("http://", "https://"))):
        raise PublicationError(f"链接应以 http:// 或 https:// 开头，最多 {MAX_LINK} 字。")
    return Draft(when, clean_channel(channel), name, topic, link)


def add(
    session: Session, data: Draft, *, channel: str, user: User | None = None, actor: str = ""
) -> Publication:
    item = Publication(
        day=data.day,
        channel=data.channel,
        title=data.title,
        topic=data.topic,
        link=data.link,
        created_by=actor or (user.ref if user else None),
    )
    session.add(item)
    session.flush()
    ledger.record(
        session,
        Kind.PUBLICATION_ADDED,
        channel=channel,
        user=user,
        topic=item.topic,
        ref=str(item.id),
    )
    return item


def delete(
    session: Session, item_id: int | str, *, channel: str, user: User | None = None
) -> Publication:
    text = str(item_id).strip().lstrip("#")
    item = session.get(Publication, int(text)) if text.isdigit() else None
    if item is None:
        raise PublicationError(f"没有编号为 {text[:20]} 的发布记录。")
    ledger.record(
        session, Kind.PUBLICATION_DELETED, channel=channel, user=user, topic=item.topic,
        ref=str(item.id),
    )  # fmt: skip
    session.delete(item)
    return item


def in_period(session: Session, period: Period | None = None) -> list[Publication]:
    statement = select(Publication).order_by(Publication.day, Publication.id)
    if period is not None:
        statement = statement.where(Publication.day >= period.start, Publication.day < period.end)
    return list(session.exec(statement))


def describe(item: Publication) -> str:
    parts = [
        f"#{item.id} {item.day.isoformat()} {CHANNELS.get(item.channel, item.channel)}",
        f"《{item.title}》",
        f"主题：{item.topic}" if item.topic else "",
        item.link or "",
    ]
    return " ".join(part for part in parts if part)
