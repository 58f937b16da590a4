"""Civil Code questions: free-text matching, suggestions, browsing, article look-up,
feedback, and the staff views of what the FAQ could not answer."""

from __future__ import annotations

import logging
import re

from sqlmodel import select

from bot.ledger import SUGGEST_REJECTED, Kind
from bot.messages import Button, Incoming, Reply
from bot.models import FaqQuestion, LedgerEvent, MatchStatus
from bot.payload import Browse, FaqPick, Feedback
from bot.routing import STAFF_ROLES, Context, Router
from bot.services.answers import (
    BROWSE_BUTTON,
    CONSULT_BUTTON,
    NONE_TEXT,
    answer_reply,
    describe_gap,
    gaps,
    result_replies,
)
from faq import Entry
from faq.kb import ARTICLE_RANGE

log = logging.getLogger(__name__)
router = Router("faq")

ARTICLE_PATTERN = re.compile(r"^\s*(?:民法典)?\s*第?\s*(\d{1,4})\s*条\s*$")
NOT_LOADED = "问答库暂时不可用，请稍后再试，或直接咨询法律顾问。"

# The kind of the row for each status of a civil-code match (faq.MatchResult.status).
FAQ_KINDS = {
    MatchStatus.ANSWERED: Kind.FAQ_ANSWERED,
    MatchStatus.SUGGEST: Kind.FAQ_SUGGESTED,
    MatchStatus.NONE: Kind.FAQ_UNANSWERED,
    MatchStatus.OUT_OF_SCOPE: Kind.FAQ_OUT_OF_SCOPE,
    MatchStatus.CHITCHAT: Kind.FAQ_CHITCHAT,
    MatchStatus.SAFETY: Kind.FAQ_SAFETY,
}


# --- free-text questions -------------------------------------------------------------------
@router.text()
def question(incoming: Incoming, ctx: Context) -> list[Reply] | Reply:
    text = incoming.text.strip()
    article = ARTICLE_PATTERN.match(text)
    if article:
        return article_entries(int(article.group(1)), ctx)
    store = ctx.services.faq
    result = store.matcher.match(text)
    best = result.best.entry if result.best and result.status == MatchStatus.ANSWERED else None
    row = FaqQuestion(
        user_id=ctx.user.id,
        channel=ctx.channel,
        question=text,
        status=result.status,
        entry_id=best.id if best else None,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.count(
        FAQ_KINDS[result.status],
        topic=best.topic if best else result.area,
        book=best.book if best else None,
        ref=best.id if best else None,
    )
    return result_replies(result, row.id)


@router.button(FaqPick)
def picked(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    """A suggestion was chosen (payload faq:<question id>:<entry id or ->)."""
    button = FaqPick.unpack(incoming.payload)
    row = ctx.session.get(FaqQuestion, button.question)
    entry_id = button.entry
    if entry_id == FaqPick.NONE_OF_THESE:
        if row is not None and row.user_id == ctx.user.id:
            row.status = MatchStatus.NONE
        ctx.count(Kind.FAQ_UNANSWERED, ref=SUGGEST_REJECTED)
        return Reply(NONE_TEXT, (CONSULT_BUTTON, BROWSE_BUTTON))
    entry = ctx.services.faq.kb.by_id.get(entry_id)
    if entry is None:
        return Reply("这个问答已更新，请重新提问或浏览。", (BROWSE_BUTTON,))
    if row is not None and row.user_id == ctx.user.id:
        row.entry_id = entry.id
    return show_entry(entry, ctx, row.id if row else None)


def show_entry(entry: Entry, ctx: Context, question_id: int | None = None) -> Reply:
    ctx.count(Kind.FAQ_VIEW, topic=entry.topic, book=entry.book, ref=entry.id)
    return answer_reply(entry, question_id)


@router.button(Feedback)
def feedback(incoming: Incoming, ctx: Context) -> str | Reply:
    """👍/👎 under an answer (payload fb:y|n:<question id>:<entry id>).

    Counted once per resident and answer, and only for an answer this resident was shown:
    the question row must be theirs and name that entry, or (an answer reached by browsing,
    question id 0) the ledger must show it was shown to them. A forged or replayed payload
    changes nothing."""
    button = Feedback.unpack(incoming.payload)
    entry = ctx.services.faq.kb.by_id.get(button.entry)
    if button.verdict not in ("y", "n") or entry is None:
        return "这个按钮已经失效了。"
    row = _feedback_row(ctx, button.question, entry)
    if row is None:
        log.warning("%s: feedback for an answer they were not shown refused", ctx.user.ref)
        return "这个按钮已经失效了。"
    if row.feedback is not None:
        return "您已经评价过这个回答了，谢谢！"
    helpful = button.verdict == "y"
    row.feedback = "helpful" if helpful else "unhelpful"
    ctx.count(
        Kind.FEEDBACK_HELPFUL if helpful else Kind.FEEDBACK_UNHELPFUL,
        topic=entry.topic,
        book=entry.book,
        ref=entry.id,
    )
    if helpful:
        return "谢谢您的反馈！"
    return Reply(
        "谢谢反馈，我们会改进这个回答。您也可以把具体情况提交给法律顾问。", (CONSULT_BUTTON,)
    )


def _feedback_row(ctx: Context, question_id: int, entry: Entry) -> FaqQuestion | None:
    """The question row the feedback belongs to, or None if this user was never shown it."""
    if question_id:
        row = ctx.session.get(FaqQuestion, question_id)
        ok = row is not None and row.user_id == ctx.user.id and row.entry_id == entry.id
        return row if ok else None
    if not _was_shown(ctx, entry):
        return None
    earlier = ctx.session.exec(
        select(FaqQuestion).where(
            FaqQuestion.user_id == ctx.user.id,
            FaqQuestion.entry_id == entry.id,
            FaqQuestion.feedback.is_not(None),
        )
    ).first()
    if earlier is not None:
        return earlier
    row = FaqQuestion(
        user_id=ctx.user.id,
        channel=ctx.channel,
        status=MatchStatus.ANSWERED,
        question=entry.question,
        entry_id=entry.id,
    )
    ctx.session.add(row)
    return row


def _was_shown(ctx: Context, entry: Entry) -> bool:
    """Whether the ledger records that this user was shown `entry` (answered or viewed)."""
    shown = ctx.session.exec(
        select(LedgerEvent.id).where(
            LedgerEvent.user_id == ctx.user.id,
            LedgerEvent.kind.in_((Kind.FAQ_ANSWERED, Kind.FAQ_VIEW)),
            LedgerEvent.ref == entry.id,
        )
    ).first()
    return shown is not None


# --- browsing ------------------------------------------------------------------------------
@router.button(Browse)
def browse(incoming: Incoming, ctx: Context) -> Reply:
    """browse → books; browse:<book> → topics; browse:<book>:<topic> → questions."""
    kb = ctx.services.faq.kb
    button = Browse.unpack(incoming.payload)
    books = kb.books()
    if button.book is None:
        buttons = tuple(Button(f"{b}编", Browse(i).pack()) for i, b in enumerate(books))
        return Reply("请选择《民法典》的一编：", buttons)
    if button.book >= len(books):
        return Reply("问答库已更新，请重新浏览。", (BROWSE_BUTTON,))
    book_index = button.book
    book = books[book_index]
    topics = kb.topics(book)
    if button.topic is None:
        buttons = tuple(Button(t, Browse(book_index, i).pack()) for i, t in enumerate(topics))
        return Reply(f"{book}编 — 请选择主题：", (*buttons, Button("⬅ 返回", Browse().pack())))
    if button.topic >= len(topics):
        return Reply("问答库已更新，请重新浏览。", (BROWSE_BUTTON,))
    topic = topics[button.topic]
    entries = kb.in_topic(book, topic)
    buttons = tuple(Button(e.question[:60], FaqPick(0, e.id).pack()) for e in entries)
    back = Button("⬅ 返回", Browse(book_index).pack())
    return Reply(f"{book}编 · {topic}：", (*buttons, back))


@router.command("article", help="查看引用某一条的问答，例如 /article 1077")
def article_command(incoming: Incoming, ctx: Context) -> Reply | str:
    argument = incoming.command()[1].strip().removeprefix("第").removesuffix("条")
    if not argument.isdigit():
        return "用法：/article 条号，例如 /article 1077（也可以直接发送“第1077条”）。"
    return article_entries(int(argument), ctx)


def article_entries(number: int, ctx: Context) -> Reply:
    if number not in ARTICLE_RANGE:
        return Reply("《民法典》共 1260 条，请输入 1 到 1260 之间的条号。")
    entries = ctx.services.faq.kb.by_article.get(number, ())
    ctx.count(Kind.FAQ_ARTICLE, ref=str(number))
    if not entries:
        return Reply(
            f"问答库中暂时没有引用《民法典》第{number}条的问答。可以直接提问，或咨询法律顾问。",
            (CONSULT_BUTTON,),
        )
    buttons = tuple(Button(e.question[:60], FaqPick(0, e.id).pack()) for e in entries[:10])
    return Reply(f"引用《民法典》第{number}条的问答：", buttons)


# --- staff -----------------------------------------------------------------------------------
@router.command("unanswered", help="查看未解答和“没帮助”的问题", roles=STAFF_ROLES)
def unanswered(incoming: Incoming, ctx: Context) -> str:
    rows = gaps(ctx.session)
    if not rows:
        return "目前没有未解答或被评为“没帮助”的问题。"
    lines = [f"最近 {len(rows)} 条需要完善的问题："]
    lines += [f"{i}. {describe_gap(r)[:120]}" for i, r in enumerate(rows, 1)]
    return "\n".join(lines)


@router.command("reload", help="重新加载问答库（/reload force 允许大量删减）", roles=STAFF_ROLES)
def reload(incoming: Incoming, ctx: Context) -> str:
    force = incoming.command()[1].strip() == "force"
    problems = ctx.services.faq.reload(force=force)
    if problems:
        listed = "\n".join(f"• {p}" for p in problems[:10])
        return f"问答库有 {len(problems)} 个问题，未替换，仍使用原来的问答库：\n{listed}"
    return f"问答库已重新加载，共 {len(ctx.services.faq.kb)} 条。"
