"""Civil Code questions: free-text matching, suggestions, browsing, article look-up,
feedback, and the staff views of what the FAQ could not answer."""

from __future__ import annotations

import logging
import re

from sqlmodel import select

from bot.messages import Button, Incoming, Reply
from bot.models import FaqQuestion
from bot.routing import STAFF_ROLES, Context, Router
from faq import Entry, MatchResult
from faq.kb import ARTICLE_RANGE

log = logging.getLogger(__name__)
router = Router("faq")

DISCLAIMER = (
    "ℹ️ 以上是一般性法律知识，不是针对您具体情况的法律意见。情况复杂时，请咨询街道法律顾问。"
)
SUGGEST_TEXT = "您是想问以下哪个问题？"
FOLLOW_UP_TEXT = "您可能还想了解《民法典》的这些规定："
NONE_TEXT = (
    "抱歉，这个问题我暂时没有把握回答，已记录下来供工作人员完善问答库。\n"
    "您可以把具体情况提交给街道法律顾问，也可以拨打 12348 公共法律服务热线。"
)
OUT_OF_SCOPE_TEXT = {
    "刑事": "您的问题涉及刑事方面，不属于《民法典》的范围，我不便解答。建议咨询律师，或拨打 12348 公共法律服务热线；遇到紧急情况请拨打 110。",
    "劳动": "您的问题涉及劳动或社会保险，不属于《民法典》的范围，我不便解答。可以咨询当地劳动保障部门（12333 热线）或劳动人事争议仲裁委员会，也可以拨打 12348 公共法律服务热线。",
    "行政": "您的问题涉及行政管理事务（如户籍、证件、行政处罚），不属于《民法典》的范围，我不便解答。建议向主管部门咨询，或拨打 12345 政务服务热线、12348 公共法律服务热线。",
    "税务": "您的问题涉及税务，不属于《民法典》的范围，我不便解答。可以拨打 12366 纳税服务热线咨询，或拨打 12348 公共法律服务热线。",
}
CHITCHAT_TEXT = "您好！我是普法助手，专门解答《民法典》相关的生活法律问题。您可以直接问我，比如“邻居家漏水到我家怎么办”。"
ARTICLE_PATTERN = re.compile(r"^\s*(?:民法典)?\s*第?\s*(\d{1,4})\s*条\s*$")
NOT_LOADED = "问答库暂时不可用，请稍后再试，或直接咨询法律顾问。"

CONSULT_BUTTON = Button("🧑‍⚖️ 咨询法律顾问", "consult")
BROWSE_BUTTON = Button("📖 浏览问答", "browse")


# --- rendering (pure: also used by the `ask` command and by publicity pushes) -------------
def articles_line(entry: Entry) -> str:
    return "📘 依据：《民法典》" + "、".join(f"第{n}条" for n in entry.articles)


def answer_text(entry: Entry) -> str:
    """Conclusion first, then the short lines, the next step, the articles, the disclaimer."""
    parts = [f"❓ {entry.question}", f"✅ {entry.conclusion}"]
    if entry.detail_lines:
        parts.append("\n".join(entry.detail_lines))
    if entry.next_step:
        parts.append(f"👉 下一步：{entry.next_step}")
    return "\n\n".join([*parts, articles_line(entry), DISCLAIMER])


def answer_reply(entry: Entry, question_id: int | None = None) -> Reply:
    ref = f"{question_id or 0}:{entry.id}"
    buttons = (
        Button("👍 有帮助", f"fb:y:{ref}"),
        Button("👎 没帮助", f"fb:n:{ref}"),
        CONSULT_BUTTON,
    )
    return Reply(answer_text(entry), buttons)


def result_replies(result: MatchResult, question_id: int | None = None) -> list[Reply]:
    """The replies a resident sees for a match result."""
    if result.status == "answered":
        return [answer_reply(result.matches[0].entry, question_id)]
    if result.status == "suggest":
        buttons = tuple(
            Button(m.entry.question[:60], f"faq:{question_id or 0}:{m.entry.id}")
            for m in result.matches[:3]
        )
        return [Reply(SUGGEST_TEXT, (*buttons, Button("都不是", f"faq:{question_id or 0}:-")))]
    if result.status == "safety":
        return safety_replies(result, question_id)
    if result.status == "out_of_scope":
        return [Reply(OUT_OF_SCOPE_TEXT[result.area], (CONSULT_BUTTON,))]
    if result.status == "chitchat":
        return [Reply(CHITCHAT_TEXT, (BROWSE_BUTTON, CONSULT_BUTTON))]
    return [Reply(NONE_TEXT, (CONSULT_BUTTON, BROWSE_BUTTON))]


def safety_replies(result: MatchResult, question_id: int | None = None) -> list[Reply]:
    """The safety message first; then the Civil Code answer, or choices, when there are any."""
    replies = [Reply(result.notice, (CONSULT_BUTTON,))]
    if result.matches and result.sure:
        replies.append(answer_reply(result.matches[0].entry, question_id))
    elif result.matches:
        buttons = tuple(
            Button(m.entry.question[:60], f"faq:{question_id or 0}:{m.entry.id}")
            for m in result.matches[:3]
        )
        replies.append(Reply(FOLLOW_UP_TEXT, buttons))
    return replies


# Ledger kinds by match status (the statistics count these names).
LEDGER_KINDS = {
    "answered": "faq_answered",
    "suggest": "faq_suggested",
    "none": "faq_unanswered",
    "out_of_scope": "faq_out_of_scope",
    "chitchat": "faq_chitchat",
    "safety": "faq_safety",
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
    best = result.best.entry if result.best and result.status == "answered" else None
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
        LEDGER_KINDS[result.status],
        topic=best.topic if best else result.area,
        book=best.book if best else None,
        ref=best.id if best else None,
    )
    return result_replies(result, row.id)


@router.button("faq")
def picked(incoming: Incoming, ctx: Context) -> Reply | list[Reply]:
    """A suggestion was chosen (payload faq:<question id>:<entry id or ->)."""
    _, question_id, entry_id = (incoming.payload.split(":", 2) + ["", ""])[:3]
    row = ctx.session.get(FaqQuestion, int(question_id)) if question_id.isdigit() else None
    if entry_id == "-":
        if row is not None and row.user_id == ctx.user.id:
            row.status = "none"
        ctx.count("faq_unanswered", ref="suggest_rejected")
        return Reply(NONE_TEXT, (CONSULT_BUTTON, BROWSE_BUTTON))
    entry = ctx.services.faq.kb.by_id.get(entry_id)
    if entry is None:
        return Reply("这个问答已更新，请重新提问或浏览。", (BROWSE_BUTTON,))
    if row is not None and row.user_id == ctx.user.id:
        row.entry_id = entry.id
    return show_entry(entry, ctx, row.id if row else None)


def show_entry(entry: Entry, ctx: Context, question_id: int | None = None) -> Reply:
    ctx.count("faq_view", topic=entry.topic, book=entry.book, ref=entry.id)
    return answer_reply(entry, question_id)


@router.button("fb")
def feedback(incoming: Incoming, ctx: Context) -> str:
    """👍/👎 under an answer (payload fb:y|n:<question id>:<entry id>)."""
    parts = incoming.payload.split(":", 3)
    if len(parts) != 4 or parts[1] not in ("y", "n"):
        return "这个按钮已经失效了。"
    helpful = parts[1] == "y"
    entry = ctx.services.faq.kb.by_id.get(parts[3])
    row = ctx.session.get(FaqQuestion, int(parts[2])) if parts[2].isdigit() else None
    if row is None or row.user_id != ctx.user.id:
        row = FaqQuestion(
            user_id=ctx.user.id,
            channel=ctx.channel,
            status="answered",
            question=entry.question if entry else parts[3],
            entry_id=parts[3],
        )
        ctx.session.add(row)
    if row.feedback is not None:
        return "您已经评价过这个回答了，谢谢！"
    row.feedback = "helpful" if helpful else "unhelpful"
    ctx.count(
        "feedback_helpful" if helpful else "feedback_unhelpful",
        topic=entry.topic if entry else None,
        book=entry.book if entry else None,
        ref=parts[3],
    )
    if helpful:
        return "谢谢您的反馈！"
    return Reply(
        "谢谢反馈，我们会改进这个回答。您也可以把具体情况提交给法律顾问。", (CONSULT_BUTTON,)
    )


# --- browsing ------------------------------------------------------------------------------
@router.button("browse")
def browse(incoming: Incoming, ctx: Context) -> Reply:
    """browse → books; browse:<book> → topics; browse:<book>:<topic> → questions."""
    kb = ctx.services.faq.kb
    parts = incoming.payload.split(":")
    books = kb.books()
    if len(parts) == 1:
        buttons = tuple(Button(f"{b}编", f"browse:{i}") for i, b in enumerate(books))
        return Reply("请选择《民法典》的一编：", buttons)
    if not parts[1].isdigit() or int(parts[1]) >= len(books):
        return Reply("问答库已更新，请重新浏览。", (BROWSE_BUTTON,))
    book_index = int(parts[1])
    book = books[book_index]
    topics = kb.topics(book)
    if len(parts) == 2:
        buttons = tuple(Button(t, f"browse:{book_index}:{i}") for i, t in enumerate(topics))
        return Reply(f"{book}编 — 请选择主题：", (*buttons, Button("⬅ 返回", "browse")))
    if not parts[2].isdigit() or int(parts[2]) >= len(topics):
        return Reply("问答库已更新，请重新浏览。", (BROWSE_BUTTON,))
    entries = kb.in_topic(book, topics[int(parts[2])])
    buttons = tuple(Button(e.question[:60], f"faq:0:{e.id}") for e in entries)
    back = Button("⬅ 返回", f"browse:{book_index}")
    return Reply(f"{book}编 · {topics[int(parts[2])]}：", (*buttons, back))


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
    ctx.count("faq_article", ref=str(number))
    if not entries:
        return Reply(
            f"问答库中暂时没有引用《民法典》第{number}条的问答。可以直接提问，或咨询法律顾问。",
            (CONSULT_BUTTON,),
        )
    buttons = tuple(Button(e.question[:60], f"faq:0:{e.id}") for e in entries[:10])
    return Reply(f"引用《民法典》第{number}条的问答：", buttons)


# --- staff -----------------------------------------------------------------------------------
def gaps(session, limit: int = 20) -> list[FaqQuestion]:
    """Questions that found no answer and answers marked unhelpful, newest first."""
    statement = (
        select(FaqQuestion)
        .where((FaqQuestion.status == "none") | (FaqQuestion.feedback == "unhelpful"))
        .order_by(FaqQuestion.id.desc())
        .limit(limit)
    )
    return list(session.exec(statement))


def describe_gap(row: FaqQuestion) -> str:
    if row.feedback == "unhelpful":
        return f"[没帮助 {row.entry_id}] {row.question}"
    return f"[未解答] {row.question}"


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
