"""问答库: unanswered questions and 没帮助 answers as a work queue (mark done with a note
saying which entry was added or changed), browsing the knowledge base, and the reload
the chat's /reload uses (admin)."""

from __future__ import annotations

import logging

from sqlmodel import select

from bot.models import FaqQuestion
from bot.web.security import ADMIN, STAFF, Page

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100
BROWSE_LIMIT = 50
MAX_NOTE = 500


def _queue(page: Page) -> list[FaqQuestion]:
    statement = (
        select(FaqQuestion)
        .where((FaqQuestion.status == "none") | (FaqQuestion.feedback == "unhelpful"))
        .where(FaqQuestion.reviewed == False)  # noqa: E712  (SQL expression)
        .order_by(FaqQuestion.id.desc())
        .limit(QUEUE_LIMIT)
    )
    return list(page.db.exec(statement))


def _browse(page: Page, query: str):
    kb = page.services.faq.kb
    if not query:
        return [], len(kb)
    found = [
        e
        for e in kb.entries
        if query in e.question
        or query in e.answer
        or query == e.id
        or any(query in p for p in e.phrasings)
    ]
    return found[:BROWSE_LIMIT], len(kb)


def index(page: Page):
    query = page.query("q")[:50]
    entries, total = _browse(page, query)
    return page.render(
        "kb.html",
        title="问答库",
        rows=_queue(page),
        entries=entries,
        total=total,
        q=query,
        browse_limit=BROWSE_LIMIT,
        max_note=MAX_NOTE,
    )


def mark_done(page: Page):
    raw = page.request.path_params["question_id"]
    row = page.db.get(FaqQuestion, int(raw)) if raw.isdigit() else None
    if row is None:
        return page.redirect("/kb", "没有这个问题。", "error")
    note = page.value("note")
    if len(note) > MAX_NOTE:
        return page.redirect("/kb", f"备注最多 {MAX_NOTE} 字。", "error")
    row.reviewed = True
    page.audit("faq_reviewed", f"faq_question:{row.id}", note or "（无备注）")
    return page.redirect("/kb", f"已处理：{row.question[:40]}")


def reload(page: Page):
    problems = page.services.faq.reload()
    if problems:
        listed = "\n".join(f"• {p}" for p in problems[:10])
        page.audit("kb_reload_refused", detail=f"{len(problems)} problems")
        return page.redirect(
            "/kb",
            f"问答库有 {len(problems)} 个问题，未替换，仍使用原来的问答库：\n{listed}",
            "error",
        )
    page.audit("kb_reloaded", detail=f"{len(page.services.faq.kb)} entries")
    return page.redirect("/kb", f"问答库已重新加载，共 {len(page.services.faq.kb)} 条。")


ROUTES = [
    ("/kb", STAFF, index, ["GET"]),
    ("/kb/questions/{question_id}/done", STAFF, mark_done, ["POST"]),
    ("/kb/reload", ADMIN, reload, ["POST"]),
]
