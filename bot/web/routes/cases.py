"""咨询: the queue with filters, one case with its history, and the adviser's actions.

Claim, reply, ask for more and close call the chat's own handler functions
(handlers/cases/queue.py, handed over by bot.app as services.case_actions) with a Context for the signed-in person, so the resident hears
about it on the channel they used, through the outbox, exactly as from the chat."""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio.from_thread
from sqlmodel import select
from starlette.responses import Response

from bot.messages import PhotoUnavailable
from bot.models import Case, User
from bot.routing import Context
from bot.services import cases
from bot.timeutil import utcnow
from bot.web.security import ADVISERS, Page

log = logging.getLogger(__name__)

QUEUE_LIMIT = 200
STATUS_FILTERS = {
    "open": ("未结案", cases.OPEN_STATUSES),
    "new": ("待认领", ("new",)),
    "claimed": ("处理中", ("claimed",)),
    "answered": ("已答复", ("answered",)),
    "closed": ("已结案", ("closed",)),
    "all": ("全部", cases.STATUSES),
}
MAX_REPLY = cases.MAX_DESCRIPTION


def queue_statement(page: Page, status: str, topic: str, community: str, overdue: bool):
    statement = select(Case).where(Case.status.in_(STATUS_FILTERS[status][1]))
    if topic:
        statement = statement.where(Case.topic == topic)
    if community:
        statement = statement.where(Case.community == community)
    if overdue:
        cutoff = utcnow() - timedelta(hours=page.settings.case_sla_hours)
        statement = statement.where(
            Case.status.in_(("new", "claimed")),
            Case.first_answer_at.is_(None),
            Case.created_at <= cutoff,
        )
    return statement.order_by(Case.id).limit(QUEUE_LIMIT)


def is_overdue(case: Case, sla_hours: int, now) -> bool:
    from bot.timeutil import as_utc

    return (
        case.status in ("new", "claimed")
        and case.first_answer_at is None
        and as_utc(case.created_at) <= now - timedelta(hours=sla_hours)
    )


def queue(page: Page):
    status = page.query("status", "open")
    status = status if status in STATUS_FILTERS else "open"
    topic, community = page.query("topic"), page.query("community")
    overdue = page.query("overdue") == "1"
    rows = list(page.db.exec(queue_statement(page, status, topic, community, overdue)))
    now = utcnow()
    advisers = _people(page, {c.adviser_id for c in rows})
    return page.render(
        "cases.html",
        title="咨询",
        rows=rows,
        advisers=advisers,
        overdue_ids={c.id for c in rows if is_overdue(c, page.settings.case_sla_hours, now)},
        status=status,
        topic=topic,
        community=community,
        overdue=overdue,
        statuses=STATUS_FILTERS,
        topics=cases.TOPICS,
        communities=[*page.settings.communities, cases.OTHER_COMMUNITY],
        status_names=cases.STATUS_NAMES,
        limit=QUEUE_LIMIT,
        waited=lambda c: cases.waited(c.created_at, now),
    )


def _people(page: Page, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    found = page.db.exec(select(User).where(User.id.in_(ids)))
    return {user.id: cases.display(user) for user in found}


def _case_or_404(page: Page):
    number = cases.parse_number(page.request.path_params["number"])
    case = cases.get_case(page.db, number) if number else None
    if case is None:
        return None, page.render(
            "error.html",
            status_code=404,
            heading="没有这件咨询",
            message="编号不存在。",
            back="/cases",
        )
    return case, None


def case_page(page: Page):
    case, missing = _case_or_404(page)
    if missing:
        return missing
    events = cases.events_of(page.db, case)
    people = _people(page, {e.actor_id for e in events} | {case.adviser_id, case.user_id})
    resident = page.db.get(User, case.user_id) if case.user_id else None
    return page.render(
        "case.html",
        title=case.number,
        case=case,
        events=events,
        people=people,
        resident=resident,
        event_names=cases.EVENT_NAMES,
        status_names=cases.STATUS_NAMES,
        max_reply=MAX_REPLY,
        photos_shown=case.channel in page.services.photos,
    )


PHOTO_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def photo(page: Page):
    """One picture of the case, fetched back from the resident's platform on request (the
    bot keeps only the platform's reference, never a copy)."""
    case, missing = _case_or_404(page)
    if missing:
        return missing
    raw = page.request.path_params["index"]
    index = int(raw) if raw.isdigit() and len(raw) < 4 else -1
    if not 0 <= index < len(case.photos or []):
        return Response("没有这张图片。", status_code=404)
    source = page.services.photos.get(case.channel)
    if source is None:
        return Response("这个渠道的图片无法在后台查看，请在聊天中查看。", status_code=404)
    try:
        picture = anyio.from_thread.run(source.fetch, case.photos[index])
    except PhotoUnavailable as exc:
        return Response(str(exc), status_code=502)
    kind = picture.content_type if picture.content_type in PHOTO_TYPES else "image/jpeg"
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(picture.data, media_type=kind, headers=headers)


def _context(page: Page) -> Context:
    return Context(page.db, page.actor, page.settings, page.services, "web")


def _actions(page: Page):
    """The chat's adviser actions (bot.app wires them in; bot.web imports no handlers)."""
    return page.services.case_actions


def _act(page: Page, action: str, run):
    case, missing = _case_or_404(page)
    if missing:
        return missing
    replies = run(_context(page), case)
    first = replies[0] if isinstance(replies, list) else replies
    page.audit(f"case_{action}", case.number, first.text[:200])
    log.info("web: %s did %s on %s", page.account.name, action, case.number)
    failed = not first.text.startswith(("已认领", "已答复", "已请居民补充", "已结案"))
    return page.redirect(f"/cases/{case.number}", first.text, "error" if failed else "ok")


def _text_or_error(page: Page, field: str, what: str):
    text = page.value(field)
    if not text:
        return None, f"请填写{what}。"
    if len(text) > MAX_REPLY:
        return None, f"{what}有 {len(text)} 字，超过了 {MAX_REPLY} 字的上限，请精简。"
    return text, None


def claim(page: Page):
    return _act(page, "claim", lambda ctx, case: _actions(page).claim(ctx, case))


def reply(page: Page):
    text, problem = _text_or_error(page, "text", "答复内容")
    if problem:
        return page.redirect(f"/cases/{page.request.path_params['number']}", problem, "error")
    return _act(page, "reply", lambda ctx, case: _actions(page).answer(ctx, case, text, []))


def ask(page: Page):
    text, problem = _text_or_error(page, "text", "需要居民补充的内容")
    if problem:
        return page.redirect(f"/cases/{page.request.path_params['number']}", problem, "error")
    return _act(page, "ask", lambda ctx, case: _actions(page).ask_for_more(ctx, case, text))


def close(page: Page):
    return _act(page, "close", lambda ctx, case: _actions(page).close(ctx, case))


ROUTES = [
    ("/cases", ADVISERS, queue, ["GET"]),
    ("/cases/{number}", ADVISERS, case_page, ["GET"]),
    ("/cases/{number}/claim", ADVISERS, claim, ["POST"]),
    ("/cases/{number}/reply", ADVISERS, reply, ["POST"]),
    ("/cases/{number}/ask", ADVISERS, ask, ["POST"]),
    ("/cases/{number}/close", ADVISERS, close, ["POST"]),
    ("/cases/{number}/photos/{index}", ADVISERS, photo, ["GET"]),
]
