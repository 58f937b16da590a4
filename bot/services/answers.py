"""Civil-code answers as residents see them, and the questions the FAQ could not answer.

Shared by the chat (handlers.faq), the `ask` and `faq gaps` commands and publicity pushes,
so no front end imports another's handlers. (Moved verbatim from handlers/faq.py.)
"""

from __future__ import annotations

from sqlmodel import select

from bot.messages import Button, Reply
from bot.models import FaqQuestion, MatchStatus
from bot.payload import Browse, Consult, FaqPick, Feedback
from faq import Entry, MatchResult

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
CONSULT_BUTTON = Button("🧑‍⚖️ 咨询法律顾问", Consult().pack())
BROWSE_BUTTON = Button("📖 浏览问答", Browse().pack())


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
    question = question_id or 0
    buttons = (
        Button("👍 有帮助", Feedback("y", question, entry.id).pack()),
        Button("👎 没帮助", Feedback("n", question, entry.id).pack()),
        CONSULT_BUTTON,
    )
    return Reply(answer_text(entry), buttons)


def result_replies(result: MatchResult, question_id: int | None = None) -> list[Reply]:
    """The replies a resident sees for a match result."""
    if result.status == MatchStatus.ANSWERED:
        return [answer_reply(result.matches[0].entry, question_id)]
    if result.status == MatchStatus.SUGGEST:
        buttons = tuple(
            Button(m.entry.question[:60], FaqPick(question_id or 0, m.entry.id).pack())
            for m in result.matches[:3]
        )
        return [
            Reply(
                SUGGEST_TEXT,
                (
                    *buttons,
                    Button("都不是", FaqPick(question_id or 0, FaqPick.NONE_OF_THESE).pack()),
                ),
            )
        ]
    if result.status == MatchStatus.SAFETY:
        return safety_replies(result, question_id)
    if result.status == MatchStatus.OUT_OF_SCOPE:
        return [Reply(OUT_OF_SCOPE_TEXT[result.area], (CONSULT_BUTTON,))]
    if result.status == MatchStatus.CHITCHAT:
        return [Reply(CHITCHAT_TEXT, (BROWSE_BUTTON, CONSULT_BUTTON))]
    return [Reply(NONE_TEXT, (CONSULT_BUTTON, BROWSE_BUTTON))]


def safety_replies(result: MatchResult, question_id: int | None = None) -> list[Reply]:
    """The safety message first; then the Civil Code answer, or choices, when there are any."""
    replies = [Reply(result.notice, (CONSULT_BUTTON,))]
    if result.matches and result.sure:
        replies.append(answer_reply(result.matches[0].entry, question_id))
    elif result.matches:
        buttons = tuple(
            Button(m.entry.question[:60], FaqPick(question_id or 0, m.entry.id).pack())
            for m in result.matches[:3]
        )
        replies.append(Reply(FOLLOW_UP_TEXT, buttons))
    return replies


# --- staff -----------------------------------------------------------------------------------
def gaps(session, limit: int = 20) -> list[FaqQuestion]:
    """Questions that found no answer and answers marked unhelpful, newest first."""
    statement = (
        select(FaqQuestion)
        .where((FaqQuestion.status == MatchStatus.NONE) | (FaqQuestion.feedback == "unhelpful"))
        .order_by(FaqQuestion.id.desc())
        .limit(limit)
    )
    return list(session.exec(statement))


def describe_gap(row: FaqQuestion) -> str:
    if row.feedback == "unhelpful":
        return f"[没帮助 {row.entry_id}] {row.question}"
    return f"[未解答] {row.question}"
