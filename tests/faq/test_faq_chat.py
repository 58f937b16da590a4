"""The FAQ as residents meet it: matching everyday wording, refusing what is not Civil
Code, and the chat around an answer (buttons, feedback, browsing, articles, staff views)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlmodel import Session, select

from bot.messages import Incoming
from bot.models import FaqQuestion, LedgerEvent
from bot.testing import REPO, Harness, texts
from faq.store import FaqStore

# Everyday questions written for these tests (not taken from any evaluation set), with the
# articles a right answer must cite.
PARAPHRASES = [
    ("我老公在外面借的钱，我也要一起还吗", {1064}),
    ("房东到期了押金一直拖着不退怎么办", {577, 509, 733}),
    ("楼上的人往下扔垃圾砸坏了我的车，找不到是谁扔的", {1254}),
    ("被邻居家的狗咬了，狗主人要赔吗", {1245}),
    ("爸爸去世了没留遗嘱，房子怎么分", {1127, 1130}),
    ("离婚冷静期是多少天", {1077}),
    ("分居两年能自动离婚吗", {1079}),
    ("朋友借钱不还，过了三年还能告他吗", {188}),
    ("定金和订金有什么区别", {586, 587}),
    ("网上有人造谣诋毁我，怎么办", {1024}),
    ("邻居装修把水漏到我家天花板了", {288, 296, 1165, 272}),
    ("物业服务很差，可以不交物业费吗", {944}),
    ("手写的遗嘱有效吗", {1134}),
    ("微信转账转错人了，对方不退", {985, 987}),
    ("孩子在学校被同学打伤了，学校有责任吗", {1199, 1200, 1201}),
]

OUT_OF_SCOPE = [
    ("偷了别人的手机会判几年", "out_of_scope"),
    ("公司拖欠工资三个月了怎么办", "out_of_scope"),
    ("孩子的户口怎么迁到新家", "out_of_scope"),
    ("卖二手房要交多少个人所得税", "out_of_scope"),
    ("明天天气怎么样", "chitchat"),
    ("你叫什么名字呀", "chitchat"),
]


@pytest.mark.parametrize(("question", "articles"), PARAPHRASES)
def test_everyday_wording_finds_the_right_answer(faq_store: FaqStore, question, articles):
    result = faq_store.matcher.match(question)
    assert result.status in ("answered", "suggest"), result.status
    top = [set(m.entry.articles) for m in result.matches]
    assert top and top[0] & articles, [m.entry.id for m in result.matches]


@pytest.mark.parametrize(("question", "status"), OUT_OF_SCOPE)
def test_questions_outside_the_civil_code_get_no_civil_answer(faq_store, question, status):
    result = faq_store.matcher.match(question)
    assert result.status == status
    assert result.matches == ()


def test_words_without_legal_content_get_no_answer(faq_store: FaqStore):
    result = faq_store.matcher.match("啊啊啊啊")
    assert result.status in ("none", "chitchat") and result.matches == ()


def test_an_answer_in_chat_cites_articles_and_carries_feedback_buttons(harness: Harness):
    replies = harness.say("rita", "我老公在外面借的钱，我也要一起还吗")
    if replies[0].text.startswith("您是想问"):
        replies = harness.press("rita", "配偶一方在婚姻期间借的钱", replies)
    answer = replies[0]
    assert "《民法典》第1064条" in answer.text
    assert "不是针对您具体情况的法律意见" in answer.text
    assert [b.label for b in answer.buttons][:2] == ["👍 有帮助", "👎 没帮助"]


def test_feedback_is_counted_once_and_unhelpful_answers_reach_staff(harness: Harness, engine):
    replies = harness.say("sam", "离婚冷静期是多少天")
    if replies[0].text.startswith("您是想问"):
        replies = harness.press("sam", "冷静期", replies)
    assert "谢谢反馈" in texts(harness.press("sam", "没帮助", replies))
    assert "已经评价过" in texts(harness.press("sam", "有帮助", replies))
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(LedgerEvent))]
        row = session.exec(select(FaqQuestion)).one()
    assert kinds.count("feedback_unhelpful") == 1 and "feedback_helpful" not in kinds
    assert row.feedback == "unhelpful" and row.question == "离婚冷静期是多少天"
    harness.say("admin", "/grant console:staffer staff")
    gaps = texts(harness.say("staffer", "/unanswered"))
    assert "离婚冷静期是多少天" in gaps and "没帮助" in gaps
    assert "只有" in texts(harness.say("sam", "/unanswered"))


def test_an_unanswerable_question_is_kept_and_offers_the_adviser(harness: Harness, engine):
    replies = harness.say("tom", "量子力学里的波函数坍缩是什么意思")
    assert "没有把握" in texts(replies)
    assert any("法律顾问" in b.label for r in replies for b in r.buttons)
    with Session(engine) as session:
        row = session.exec(select(FaqQuestion).where(FaqQuestion.status == "none")).one()
        kinds = [e.kind for e in session.exec(select(LedgerEvent))]
    assert row.question == "量子力学里的波函数坍缩是什么意思"
    assert "faq_unanswered" in kinds


def test_out_of_scope_redirects_to_the_hotline(harness: Harness, engine):
    reply = texts(harness.say("uma", "公司拖欠工资三个月了怎么办"))
    assert "12333" in reply and "12348" in reply
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(LedgerEvent))]
    assert "faq_out_of_scope" in kinds


def test_chitchat_gets_a_friendly_reply_with_the_menu(harness: Harness):
    replies = harness.say("vic", "你叫什么名字呀")
    assert "普法助手" in replies[0].text and replies[0].buttons


def test_suggestions_can_be_picked_or_rejected(harness: Harness, engine, monkeypatch):
    matcher = harness.services.faq.matcher
    # Nothing is confident enough to answer outright: every match becomes a suggestion.
    monkeypatch.setattr(matcher.calibration, "threshold", 2.0)
    question = "离婚冷静期是多少天"
    replies = harness.say("wes", question)
    assert replies[0].text == "您是想问以下哪个问题？"
    assert len(replies[0].buttons) == 4 and replies[0].buttons[-1].label == "都不是"
    assert "依据" in texts(harness.say("wes", "1"))  # a digit presses the first suggestion
    harness.say("wes", question)
    assert "没有把握" in texts(harness.say("wes", "4"))
    with Session(engine) as session:
        rows = session.exec(select(FaqQuestion).order_by(FaqQuestion.id)).all()
    assert [r.status for r in rows] == ["suggest", "none"]
    assert rows[0].entry_id is not None


def test_browsing_goes_from_book_to_topic_to_answer(harness: Harness):
    books = harness.press("xia", "浏览", harness.say("xia", "/start"))
    assert "请选择《民法典》的一编" in books[0].text and len(books[0].buttons) == 7
    topics = harness.press("xia", "继承", books)
    assert "请选择主题" in topics[0].text
    questions = harness.press("xia", topics[0].buttons[0].label, topics)
    answer = harness.press("xia", questions[0].buttons[0].label, questions)
    assert "依据：《民法典》" in answer[0].text
    assert "⬅ 返回" in [b.label for b in questions[0].buttons]


def test_article_lookup_lists_the_answers_citing_it(harness: Harness):
    replies = harness.say("yan", "第1077条")
    assert "引用《民法典》第1077条的问答" in replies[0].text and replies[0].buttons
    assert "1 到 1260" in texts(harness.say("yan", "/article 2000"))
    assert "用法" in texts(harness.say("yan", "/article abc"))


def test_staff_reload_reports_success(harness: Harness):
    harness.say("admin", "/grant console:staffer staff")
    assert "问答库已重新加载" in texts(harness.say("staffer", "/reload"))
    assert "只有" in texts(harness.say("resident", "/reload"))


def test_ask_json_follows_the_evaluation_contract(tmp_path):
    lines = "房东不退押金怎么办\n今天天气怎么样\n\n判几年\n"
    result = subprocess.run(
        [sys.executable, str(REPO / "bot.py"), "ask", "--json"],
        input=lines,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == ["房东不退押金怎么办", "今天天气怎么样", "判几年"]
    assert rows[1]["status"] == "chitchat" and rows[1]["answers"] == []
    assert rows[2]["status"] == "out_of_scope"
    first = rows[0]
    assert first["status"] in ("answered", "suggest") and 1 <= len(first["answers"]) <= 3
    answer = first["answers"][0]
    assert set(answer) == {"id", "question", "articles", "score"}
    assert all(isinstance(a, int) for a in answer["articles"])


def test_ask_prints_the_answer_as_a_resident_sees_it(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bot.py"), "ask", "离婚冷静期是多少天"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0
    assert "第1077条" in result.stdout or "您是想问" in result.stdout


def test_forged_and_replayed_feedback_changes_nothing(harness: Harness, engine, faq_store):
    replies = harness.say("sam", "离婚冷静期是多少天")
    if replies[0].text.startswith("您是想问"):
        replies = harness.press("sam", "冷静期", replies)
    shown = next(b.payload for r in replies for b in r.buttons if b.label == "👍 有帮助")
    verdict, question, entry_id = shown.split(":")[1:]
    other = next(e.id for e in faq_store.kb.entries if e.id != entry_id)
    forged = [
        f"fb:y:{question}:{other}",  # an answer this question was not given
        f"fb:y:0:{other}",  # "browsed" an answer never shown
        "fb:y:999999:" + entry_id,  # somebody else's (or no) question
    ]
    for payload in forged:
        press = Incoming(channel="console", user_id="sam", kind="button", payload=payload)
        assert "失效" in texts(harness.services.dispatcher.handle(press)), payload
    for _ in range(3):  # the real button, pressed again and again
        press = Incoming(channel="console", user_id="sam", kind="button", payload=shown)
        harness.services.dispatcher.handle(press)
    mallory = Incoming(channel="console", user_id="mallory", kind="button", payload=shown)
    assert "失效" in texts(harness.services.dispatcher.handle(mallory))
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(LedgerEvent))]
        rows = session.exec(select(FaqQuestion)).all()
    assert kinds.count("feedback_helpful") == 1 and "feedback_unhelpful" not in kinds
    assert len(rows) == 1


def test_feedback_on_a_browsed_answer_counts_once(harness: Harness, engine, faq_store):
    entry = faq_store.kb.entries[0]
    viewed = harness.services.dispatcher.handle(
        Incoming(channel="console", user_id="bea", kind="button", payload=f"faq:0:{entry.id}")
    )
    for _ in range(2):
        harness.press("bea", "没帮助", viewed)
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(LedgerEvent))]
    assert kinds.count("feedback_unhelpful") == 1


def test_an_answer_reads_conclusion_first_then_lines_next_step_articles_disclaimer(
    faq_store: FaqStore,
):
    from bot.services.answers import DISCLAIMER, answer_text

    entry = replace(
        faq_store.kb.entries[0],
        answer="要赔。\n楼上的住户弄坏了您的东西，要照价赔。\n先拍照留好证据。",
        next_step="先找社区人民调解委员会调解；调解不成可点「咨询法律顾问」或拨打12348。",
    )
    text = answer_text(entry)
    order = [
        text.index("✅ 要赔。"),
        text.index("楼上的住户"),
        text.index("先拍照"),
        text.index("👉 下一步：先找社区"),
        text.index("📘 依据"),
        text.index(DISCLAIMER),
    ]
    assert order == sorted(order)
