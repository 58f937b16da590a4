"""Messages about a case to its resident and to the advisers (queued in the outbox in the
handler's transaction), and the ledger row for a case."""

from __future__ import annotations

import logging
import os

from bot.ledger import Kind, Source
from bot.messages import Attachment, Button, Reply
from bot.models import Case, CaseEvent, User
from bot.payload import QueueButton
from bot.routing import Context
from bot.services import cases

log = logging.getLogger(__name__)


def count(ctx: Context, kind: Kind, case: Case, value: float | None = None) -> None:
    """A ledger row for `case`, with the case's topic and community."""
    ctx.count(kind, topic=case.topic, community=case.community, ref=case.number, value=value)


# --- messages to residents and advisers ----------------------------------------------------------
def to_resident(ctx: Context, case: Case, reply: Reply, key: str) -> bool:
    """Queue `reply` for the case's resident, on the channel they used."""
    resident = ctx.session.get(User, case.user_id) if case.user_id else None
    if resident is None:
        return False
    ctx.send_to(resident, reply, source=Source.case(case.number), key=key)
    return True


def photo_attachment(ref: str) -> Attachment | None:
    """A photo the resident can be sent: only media kept as a file on this server. Platform
    media ids (a Telegram file_id) stay in the case and are only mentioned."""
    if os.path.isfile(ref):
        return Attachment(kind="image", filename=os.path.basename(ref), path=ref)
    return None


def to_advisers(ctx: Context, case: Case, reply: Reply, key: str, *, everyone: bool) -> int:
    """Queue `reply` for the case's adviser (or all advisers; staff and admins if none)."""
    people = cases.notify_targets(ctx.session, None if everyone else case)
    for person in people:
        if person.id != ctx.user.id:
            ctx.send_to(person, reply, source=Source.case(case.number), key=key)
    return len(people)


def notify_new_case(ctx: Context, case: Case) -> None:
    description = case.description[:300] + ("……" if len(case.description) > 300 else "")
    text = (
        f"🆕 新咨询 {case.number}\n类别：{case.topic}　社区：{case.community}\n"
        f"居民：{case.resident_name or ctx.user.ref}　联系方式：{case.phone or '在这里回复'}\n"
        f"图片：{len(case.photos)} 张\n情况：{description}\n\n发送 /case {case.number} 查看全文。"
    )
    buttons = (
        Button("✋ 认领", QueueButton("c", case.number).pack()),
        Button("✍ 回复", QueueButton("r", case.number).pack()),
    )
    if not to_advisers(ctx, case, Reply(text, buttons), "new", everyone=True):
        log.warning("case %s: %s", case.number, cases.UNATTENDED.format(n=1))


def notify_followup(ctx: Context, case: Case, event: CaseEvent) -> None:
    what = "补充了您要的情况" if event.kind == "info_added" else "追问"
    text = f"📩 居民{what}（{case.number}）：\n{event.body or ''}"
    if event.photos:
        text += f"（图片 {len(event.photos)} 张）"
    text += f"\n\n发送 /case {case.number} 查看。"
    buttons = (
        Button("✍ 回复", QueueButton("r", case.number).pack()),
        Button("查看", QueueButton("v", case.number).pack()),
    )
    to_advisers(ctx, case, Reply(text, buttons), f"ev{event.id}", everyone=False)
