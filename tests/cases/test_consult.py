"""Consultations end to end through the console harness: a resident's intake, the
adviser's claim, answer and close, follow-ups, ratings, restarts and privacy."""

from __future__ import annotations

from sqlmodel import Session, select

from bot import db
from bot.app import build
from bot.messages import Incoming, Reply
from bot.models import Case, CaseEvent, ConversationState, LedgerEvent, OutboxMessage, User
from bot.services import cases
from bot.testing import Harness, texts
from bot.testing.factories import DESCRIPTION, grant_adviser, press_payload, submit


def the_case(engine, number: str) -> Case:
    with Session(engine) as session:
        return cases.get_case(session, number)


def events(engine, number: str) -> list[CaseEvent]:
    with Session(engine) as session:
        return cases.events_of(session, cases.get_case(session, number))


def ledger_rows(engine, kind: str) -> list[LedgerEvent]:
    with Session(engine) as session:
        return list(session.exec(select(LedgerEvent).where(LedgerEvent.kind == kind)))


def test_a_case_goes_from_the_resident_to_the_adviser_and_the_answer_comes_back(harness, engine):
    grant_adviser(harness)
    number = submit(harness, phone="138 1234 5678")
    assert number.startswith("ZS-") and number.endswith("-0001")

    stored = the_case(engine, number)  # committed before the resident was told
    assert (stored.status, stored.topic, stored.community) == ("new", "房产物业", "东风里社区")
    assert stored.description == DESCRIPTION and stored.phone == "13812345678"
    assert stored.consent_at is not None and stored.channel == "console"
    submitted = ledger_rows(engine, "consult_submitted")
    assert [(r.topic, r.community, r.ref) for r in submitted] == [
        ("房产物业", "东风里社区", number)
    ]

    notice = harness.queued("lawyer")
    assert len(notice) == 1 and number in notice[0].text and DESCRIPTION[:20] in notice[0].text
    assert [b.label for b in notice[0].buttons] == ["✋ 认领", "✍ 回复"]

    claimed = harness.press("lawyer", "认领", notice)
    assert f"已认领 {number}" in texts(claimed)
    assert "已由法律顾问受理" in texts(harness.queued("alice"))

    prompt = harness.press("lawyer", "回复", claimed)
    assert "请输入给居民的答复" in texts(prompt)
    answer = "可以要求楼上邻居赔偿维修费用，依据民法典第1165条。建议先拍照留证，再协商。"
    done = harness.say("lawyer", answer)
    assert "答复已发送给居民" in texts(done)

    received = harness.queued("alice")
    assert len(received) == 1 and answer in received[0].text and number in received[0].text
    labels = [b.label for b in received[0].buttons]
    assert "😊 满意" in labels and "💬 继续追问" in labels

    thanks = harness.press("alice", "满意", received)
    assert "谢谢您的评价（5 分）" in texts(thanks)
    assert "已经评价过" in texts(harness.press("alice", "一般", received))

    confirm = harness.press("lawyer", "结案", done)
    assert "确定将" in texts(confirm)
    assert f"已结案 {number}" in texts(harness.press("lawyer", "确认结案", confirm))
    assert "已结案" in texts(harness.queued("alice"))

    final = the_case(engine, number)
    assert final.status == "closed" and final.rating == 5
    assert final.first_answer_at is not None and final.closed_at is not None
    trail = events(engine, number)
    assert [e.kind for e in trail] == ["submitted", "claimed", "answered", "rated", "closed"]
    assert all(e.at is not None and e.actor_id is not None for e in trail)
    assert [e.status_to for e in trail if e.status_to] == ["new", "claimed", "answered", "closed"]
    for kind in ("consult_claimed", "consult_answered", "consult_replied", "consult_closed"):
        rows = ledger_rows(engine, kind)
        assert [(r.topic, r.community, r.ref) for r in rows] == [("房产物业", "东风里社区", number)]
    assert ledger_rows(engine, "consult_answered")[0].value >= 0
    assert [r.value for r in ledger_rows(engine, "consult_rated")] == [5]


def test_without_an_adviser_staff_and_admins_are_notified(harness):
    harness.say("admin", "/start")
    harness.say("admin", "/grant console:clerk staff")
    harness.say("clerk", "/start")
    number = submit(harness)
    assert number in texts(harness.queued("clerk"))
    assert number in texts(harness.queued("admin"))


def test_bad_input_at_every_step_gets_a_prompt_and_loses_nothing(harness, engine):
    user = "carol"
    first = harness.say(user, "/consult")
    assert "请先点“同意”" in texts(harness.say(user, "嗯"))
    topics = harness.press(user, "同意", first)
    assert "没有这个类别" in texts(harness.say(user, "随便"))
    place = harness.press(user, "婚姻家庭", topics)
    wrong = harness.say(user, "火星社区")
    assert "没有这个社区" in texts(wrong) and "东风里社区" in [
        b.label for r in wrong for b in r.buttons
    ]
    harness.press(user, "平阳里社区", place)

    assert "太短了" in texts(harness.say(user, "完成"))
    harness.say(user, "离婚后孩子归我，")
    photo = Incoming(channel="console", user_id=user, kind="image", media_ref="photo-1")
    assert "已收到图片（共 1 张）" in texts(harness.services.dispatcher.handle(photo))
    voice = Incoming(channel="console", user_id=user, kind="voice", media_ref="voice-1")
    assert "只能接收文字和图片" in texts(harness.services.dispatcher.handle(voice))
    too_long = harness.say(user, "很" * 1995)
    assert "超过 2000 字" in texts(too_long) and "这条没有记下" in texts(too_long)
    harness.say(user, "对方一直不给抚养费。")
    phone_step = harness.say(user, "描述完毕")
    assert "第 4 步" in texts(phone_step)

    assert "格式不对" in texts(harness.say(user, "12345"))
    assert "格式不对" in texts(harness.say(user, "12812345678"))
    assert "按钮已经失效" in texts(press_payload(harness, user, "cs:t:0"))  # a late topic button
    summary = harness.say(user, "022-23456789")
    assert "请点“确认提交”" in texts(harness.say(user, "啥意思"))
    with Session(engine) as session:
        state = session.get(ConversationState, _user_id(session, user))
        kept = state.data
    assert kept["topic"] == "婚姻家庭" and kept["community"] == "平阳里社区"
    assert kept["parts"] == ["离婚后孩子归我，", "对方一直不给抚养费。"]
    assert kept["photos"] == ["photo-1"] and kept["phone"] == "022-23456789"
    assert "离婚后孩子归我，\n对方一直不给抚养费。" in texts(summary)

    number = cases.parse_number(texts(harness.press(user, "确认提交", summary)))
    stored = the_case(engine, number)
    assert stored.photos == ["photo-1"] and stored.phone == "022-23456789"


def _user_id(session: Session, external_id: str, channel: str = "console") -> int:
    return session.exec(
        select(User.id).where(User.channel == channel, User.external_id == external_id)
    ).one()


def test_back_and_cancel_work_at_every_step(harness, engine):
    user = "dan"
    replies = harness.press(user, "同意", harness.say(user, "/consult"))
    replies = harness.press(user, "继承遗产", replies)
    assert "第 1 步" in texts(harness.say(user, "返回"))  # back from community to topic
    replies = harness.press(user, "继承遗产", harness.say(user, "/consult"))  # resumes
    replies = harness.press(user, "华阳里社区", replies)
    harness.say(user, "父亲去世没留遗嘱，房子怎么分？")
    back = harness.press(user, "返回", harness.say(user, "还有一套老房子。"))
    assert "第 2 步" in texts(back)
    description = harness.press(user, "华阳里社区", back)
    assert "目前已记下" in texts(description)  # the description is still there
    summary = harness.press(user, "在这里回复", harness.say(user, "描述完毕"))
    assert "父亲去世没留遗嘱，房子怎么分？\n还有一套老房子。" in texts(summary)

    # 修改 → 联系电话 → a new phone → straight back to the summary, the rest unchanged
    edit = harness.press(user, "修改", summary)
    phone = harness.press(user, "联系电话", edit)
    again = harness.say(user, "13912345678")
    assert "第 5 步" in texts(again) and "13912345678" in texts(again)
    assert "华阳里社区" in texts(again) and "还有一套老房子" in texts(again)
    assert phone

    assert "已取消本次咨询" in texts(harness.say(user, "取消"))
    with Session(engine) as session:
        assert session.get(ConversationState, _user_id(session, user)) is None
        assert session.exec(select(Case)).first() is None


def test_declining_consent_ends_politely_and_stores_nothing(harness, engine):
    declined = harness.press("erin", "不同意", harness.say("erin", "/consult"))
    assert "不会收集您的信息" in texts(declined)
    with Session(engine) as session:
        assert session.exec(select(ConversationState)).first() is None
        assert session.exec(select(Case)).first() is None


def test_the_button_under_answers_starts_the_intake(harness):
    replies = press_payload(harness, "frank", "consult")
    assert "个人信息" in texts(replies) and f"{cases.RETENTION_DAYS} 天" in texts(replies)


def test_pressing_submit_twice_makes_one_case(harness, engine):
    summary_user = "gina"
    replies = harness.press(summary_user, "同意", harness.say(summary_user, "/consult"))
    replies = harness.press(summary_user, "其他", replies)
    replies = harness.press(summary_user, "其他", replies)
    replies = harness.press(summary_user, "描述完毕", harness.say(summary_user, DESCRIPTION))
    summary = harness.press(summary_user, "在这里回复", replies)
    assert "已收到您的咨询" in texts(harness.press(summary_user, "确认提交", summary))
    assert "已经提交或已取消" in texts(harness.press(summary_user, "确认提交", summary))
    with Session(engine) as session:
        assert len(session.exec(select(Case)).all()) == 1


def rebuilt(settings, database_url, faq_store) -> Harness:
    """The application as a new process would build it, on the same database."""
    return Harness(build(settings, engine=db.make_engine(database_url), faq=faq_store))


def test_a_restart_mid_dialogue_loses_nothing(settings, database_url, faq_store):
    first = rebuilt(settings, database_url, faq_store)
    replies = first.press("hank", "同意", first.say("hank", "/consult"))
    replies = first.press("hank", "借款债务", replies)
    first.press("hank", "东风里社区", replies)
    first.say("hank", "朋友借了我五万元，")
    first.services.engine.dispose()  # the process ends

    second = rebuilt(settings, database_url, faq_store)
    second.say("hank", "写了借条，到期不还。")
    summary = second.press("hank", "在这里回复", second.say("hank", "描述完毕"))
    assert "借款债务" in texts(summary) and "朋友借了我五万元，\n写了借条，到期不还。" in texts(
        summary
    )
    number = cases.parse_number(texts(second.press("hank", "确认提交", summary)))
    assert the_case(second.services.engine, number).description.startswith("朋友借了我五万元")
    second.services.engine.dispose()


def test_a_restart_mid_reply_loses_nothing(settings, database_url, faq_store):
    first = rebuilt(settings, database_url, faq_store)
    grant_adviser(first)
    number = submit(first, "iris")
    first.queued("lawyer")
    first.press("lawyer", "回复", first.say("lawyer", f"/case {number}"))
    photo = Incoming(channel="console", user_id="lawyer", kind="image", media_ref="scan-1")
    assert "已收到图片" in texts(first.services.dispatcher.handle(photo))
    first.services.engine.dispose()

    second = rebuilt(settings, database_url, faq_store)
    assert "答复已发送给居民" in texts(second.say("lawyer", "建议先找物业调取监控，再协商赔偿。"))
    received = [r for r in second.queued("iris") if "法律顾问对您的咨询" in r.text]
    assert "建议先找物业调取监控" in received[0].text and "附了 1 张图片" in received[0].text
    answered = [e for e in events(second.services.engine, number) if e.kind == "answered"]
    assert answered[0].photos == ["scan-1"]
    second.services.engine.dispose()


def test_an_adviser_reply_with_a_stored_photo_sends_the_picture(harness, tmp_path):
    grant_adviser(harness)
    number = submit(harness, "jack")
    picture = tmp_path / "receipt.jpg"
    picture.write_bytes(b"\xff\xd8\xff")
    harness.press("lawyer", "回复", harness.say("lawyer", f"/case {number}"))
    harness.services.dispatcher.handle(
        Incoming(channel="console", user_id="lawyer", kind="image", media_ref=str(picture))
    )
    harness.say("lawyer", "请看附图中的收据格式。")
    received = harness.queued("jack")
    attachments = [r.attachment for r in received if r.attachment is not None]
    assert len(attachments) == 1 and attachments[0].path == str(picture)


def test_a_resident_cannot_read_or_touch_another_residents_case(harness, engine):
    grant_adviser(harness)
    number = submit(harness, "kate", phone="13700001111")
    secret = DESCRIPTION[:12]
    attempts = [
        harness.say("mallory", f"/mycases {number}"),
        harness.say("mallory", f"/case {number}"),
        harness.say("mallory", "/cases"),
        press_payload(harness, "mallory", f"cm:v:{number}"),
        press_payload(harness, "mallory", f"cm:f:{number}"),
        press_payload(harness, "mallory", f"cm:r:{number}:1"),
        press_payload(harness, "mallory", f"cm:rate:{number}"),
        press_payload(harness, "mallory", f"cq:v:{number}"),
        press_payload(harness, "mallory", f"cq:c:{number}"),
        press_payload(harness, "mallory", f"cq:xx:{number}"),
    ]
    for replies in attempts:
        shown = texts(replies)
        assert secret not in shown and "13700001111" not in shown and "房产物业" not in shown
        assert any(word in shown for word in ("没有找到您名下", "只有")), shown
    assert "您还没有提交过咨询" in texts(harness.say("mallory", "/mycases"))
    stored = the_case(engine, number)
    assert stored.status == "new" and stored.rating is None and stored.adviser_id is None
    with Session(engine) as session:
        assert session.get(ConversationState, _user_id(session, "mallory")) is None

    own = texts(harness.say("kate", f"/mycases {number}"))
    assert secret in own and number in own
    assert number in texts(harness.say("kate", "/mycases"))


def test_the_adviser_asks_for_more_and_the_residents_next_message_returns(harness, engine):
    grant_adviser(harness)
    number = submit(harness, "leo")
    harness.queued("lawyer")
    ask = harness.press("lawyer", "请居民补充", harness.say("lawyer", f"/case {number}"))
    assert "请输入需要居民补充的内容" in texts(ask)
    assert "已请居民补充" in texts(harness.say("lawyer", "请问漏水是哪天开始的？有没有照片？"))
    request = harness.queued("leo")
    assert any("哪天开始的" in r.text for r in request)
    assert the_case(engine, number).awaiting_info

    assert "请发送要补充" in texts(harness.say("leo", "补充"))  # the button's label typed out
    reply = harness.say("leo", "上周一开始的，墙皮都掉了。")
    assert "已把您的补充发给法律顾问" in texts(reply)
    notice = harness.queued("lawyer")
    assert any("补充了您要的情况" in r.text and "上周一开始的" in r.text for r in notice)
    stored = the_case(engine, number)
    assert not stored.awaiting_info and stored.status == "claimed"
    assert [e.kind for e in events(engine, number)][-1] == "info_added"
    assert [r.ref for r in ledger_rows(engine, "consult_followup")] == [number]
    # the next question is an ordinary FAQ question again
    assert "已把您的补充" not in texts(harness.say("leo", "房东不退押金怎么办"))


def test_a_follow_up_on_an_answered_case_puts_it_back_in_the_queue(harness, engine):
    grant_adviser(harness)
    number = submit(harness, "mia")
    harness.press("lawyer", "回复", harness.say("lawyer", f"/case {number}"))
    harness.say("lawyer", "可以要求对方赔偿。")
    answer = harness.queued("mia")
    prompt = harness.press("mia", "继续追问", answer)
    assert "请发送要补充给法律顾问的内容" in texts(prompt)
    photo = Incoming(channel="console", user_id="mia", kind="image", media_ref="wall-1")
    assert "图片已添加" in texts(harness.services.dispatcher.handle(photo))
    harness.say("mia", "对方说没钱，怎么办？")
    assert the_case(engine, number).status == "claimed"
    notices = texts(harness.queued("lawyer"))
    assert "对方说没钱" in notices and "图片 1 张" in notices
    assert number in texts(harness.say("lawyer", "/cases claimed"))
    assert [e.kind for e in events(engine, number)][-2:] == ["followup", "followup"]


def test_rating_by_typing_a_number(harness, engine):
    grant_adviser(harness)
    number = submit(harness, "nina")
    harness.press("lawyer", "回复", harness.say("lawyer", f"/case {number}"))
    harness.say("lawyer", "建议协商解决。")
    harness.queued("nina")
    rate = harness.press("nina", "评价", harness.say("nina", f"/mycases {number}"))
    assert "1–5 分" in texts(rate)
    assert "请输入 1 到 5" in texts(harness.say("nina", "七分"))
    assert "谢谢您的评价（4 分）" in texts(harness.say("nina", "4"))
    assert the_case(engine, number).rating == 4


def test_the_queue_filters_by_status_and_topic(harness):
    grant_adviser(harness)
    family = submit(harness, "olga", topic="婚姻家庭")
    house = submit(harness, "paul", topic="房产物业")
    harness.press("lawyer", "认领", harness.say("lawyer", f"/case {house}"))

    everything = texts(harness.say("lawyer", "/cases"))
    assert family in everything and house in everything
    by_topic = texts(harness.say("lawyer", "/cases 婚姻家庭"))
    assert family in by_topic and house not in by_topic
    fresh = texts(harness.say("lawyer", "/cases new"))
    assert family in fresh and house not in fresh
    mine = texts(harness.say("lawyer", "/cases 我的"))
    assert house in mine and family not in mine
    assert "没有符合条件" in texts(harness.say("lawyer", "/cases closed"))
    assert "看不懂筛选条件" in texts(harness.say("lawyer", "/cases 火星"))
    assert "只有" in texts(harness.say("olga", "/cases"))


def test_two_advisers_cannot_both_claim(harness, engine):
    grant_adviser(harness, "lawyer")
    grant_adviser(harness, "lawyer2")
    number = submit(harness, "quinn")
    first = harness.queued("lawyer")
    second = harness.queued("lawyer2")
    harness.press("lawyer", "认领", first)
    assert "已由" in texts(harness.press("lawyer2", "认领", second))
    claimed = [e for e in events(engine, number) if e.kind == "claimed"]
    assert len(claimed) == 1


def test_the_same_flow_through_the_telegram_translation(harness, engine):
    """Telegram user ids, button presses as callback payloads, no numbered options."""
    dispatcher = harness.services.dispatcher
    assert "设为法律顾问" in texts(harness.say("admin", "/grant telegram:777 adviser"))

    def send(user: str, text: str = "", payload: str | None = None, **extra) -> list[Reply]:
        kind = "button" if payload else extra.pop("kind", "text")
        incoming = Incoming(
            channel="telegram",
            user_id=user,
            kind=kind,
            text=text,
            payload=payload,
            display_name="王女士" if user == "5550001" else "李律师",
            **extra,
        )
        return dispatcher.handle(incoming)

    def payload_of(replies: list[Reply], label: str) -> str:
        return next(b.payload for r in replies for b in r.buttons if label in b.label)

    resident = "5550001"
    replies = send(resident, "/consult")
    replies = send(resident, payload=payload_of(replies, "同意"))
    replies = send(resident, payload=payload_of(replies, "合同消费"))
    replies = send(resident, payload=payload_of(replies, "华阳里社区"))
    send(resident, "网购的冰箱坏了，商家不给退货。")
    send(resident, kind="image", media_ref="AgACAgIAAxkBAAIBc2Z")
    replies = send(resident, "1")  # a typed digit is text on Telegram, not a button
    assert "已记下" in texts(replies)
    replies = send(resident, payload="cs:done")
    summary = send(resident, "13812345678")
    assert "图片：1 张" in texts(summary)
    done = send(resident, payload=payload_of(summary, "确认提交"))
    number = cases.parse_number(texts(done))

    with Session(engine) as session:
        adviser = session.exec(select(User).where(User.external_id == "777")).one()
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.user_id == adviser.id)
        ).one()
        assert notice.channel == "telegram" and number in notice.reply["text"]
        claim = next(b["payload"] for b in notice.reply["buttons"] if "认领" in b["label"])

    send("777", payload=claim)
    send("777", payload=f"cq:r:{number}")
    assert "答复已发送给居民" in texts(send("777", "七天无理由退货期内商家应当退货。"))

    with Session(engine) as session:
        stored = cases.get_case(session, number)
        assert stored.channel == "telegram" and stored.resident_name == "王女士"
        assert stored.photos == ["AgACAgIAAxkBAAIBc2Z"]
        resident_id = _user_id(session, resident, "telegram")
        queued = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.user_id == resident_id)
            .order_by(OutboxMessage.id)
        ).all()
    assert {m.channel for m in queued} == {"telegram"}
    assert any("七天无理由退货" in m.reply["text"] for m in queued)
    assert "😊 满意" in [b["label"] for m in queued for b in m.reply["buttons"]]
