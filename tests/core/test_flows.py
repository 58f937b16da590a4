"""Declarative flows: the role is checked at every step, so a staff member or adviser whose
role is revoked in the middle of a flow cannot finish it (issue 14 item 3), and nothing is
created or changed. Each test drives the real dispatcher."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from bot.flows import Flow, Step
from bot.messages import Reply
from bot.models import Activity, Case, ConversationState, Notice, Push, Schedule
from bot.testing import Harness, texts
from handlers.publicity import NOTICE, REVOKED, SCHEDULE_EDIT
from handlers.stats import ACTIVITY


def count(engine, model) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def grant(harness: Harness, who: str, role: str) -> None:
    harness.say("admin", f"/grant console:{who} {role}")


def revoke(harness: Harness, who: str) -> None:
    assert "撤销" in texts(harness.say("admin", f"/revoke console:{who}"))


def state_of(engine):
    with Session(engine) as session:
        return session.exec(select(ConversationState)).all()


def test_staff_flows_declare_the_staff_roles_at_every_step():
    for flow in (NOTICE, SCHEDULE_EDIT, ACTIVITY):
        assert all(step.roles == {"staff", "admin"} for step in flow.steps), flow.name


def test_a_step_name_is_used_once():
    handle = lambda incoming, ctx, action: None  # noqa: E731
    with pytest.raises(ValueError, match="twice"):
        Flow("x", (Step("a", None, handle), Step("a", None, handle)))


def test_revoked_mid_notice_the_time_typed_schedules_nothing(harness: Harness, engine):
    grant(harness, "clerk", "staff")
    harness.say("clerk", "/notice")
    audience = harness.say("clerk", "周六上午有义务法律咨询。")
    preview = harness.press("clerk", "全部", audience)
    asked = harness.press("clerk", "定时发送", preview)
    assert asked
    revoke(harness, "clerk")
    assert texts(harness.say("clerk", "每周一 08:30")) == REVOKED
    assert count(engine, Schedule) == 0 and count(engine, Notice) == 0
    assert state_of(engine) == []  # the flow is over


def test_revoked_mid_notice_the_send_button_sends_nothing(harness: Harness, engine):
    grant(harness, "clerk", "staff")
    harness.say("clerk", "/notice")
    preview = harness.press("clerk", "全部", harness.say("clerk", "停水通知：周六全天停水。"))
    revoke(harness, "clerk")
    assert "只有工作人员" in texts(harness.press("clerk", "立即发送", preview))
    assert count(engine, Push) == 0 and count(engine, Notice) == 0


def test_revoked_mid_schedule_edit_the_text_is_not_changed(harness: Harness, engine):
    grant(harness, "clerk", "staff")
    harness.say("clerk", "/notice")
    preview = harness.press("clerk", "全部", harness.say("clerk", "讲座在周五晚上。"))
    harness.press("clerk", "定时发送", preview)
    assert "已定时" in texts(harness.say("clerk", "每周一 08:30"))
    listing = harness.say("clerk", "/schedules")
    harness.press("clerk", "修改内容", harness.press("clerk", "修改 #", listing))
    revoke(harness, "clerk")
    assert texts(harness.say("clerk", "讲座取消了。")) == REVOKED
    with Session(engine) as session:
        assert [n.text for n in session.exec(select(Notice))] == ["讲座在周五晚上。"]


def test_revoked_mid_activity_saving_saves_nothing(harness: Harness, engine):
    grant(harness, "clerk", "staff")
    harness.say("clerk", "/activity add")
    kinds = harness.say("clerk", "2026-05-12")
    title = harness.press("clerk", "普法宣讲", kinds)
    assert "活动名称" in texts(title)
    harness.say("clerk", "民法典进社区")
    harness.say("clerk", "跳过")
    harness.say("clerk", "跳过")
    harness.say("clerk", "120")
    confirm = harness.say("clerk", "跳过")
    assert "请核对活动信息" in texts(confirm)
    revoke(harness, "clerk")
    assert "已不是工作人员" in texts(harness.say("clerk", "保存"))
    assert count(engine, Activity) == 0 and state_of(engine) == []


def test_revoked_mid_reply_the_adviser_answer_is_not_sent(harness: Harness, engine):
    grant(harness, "lawyer", "adviser")
    replies = harness.press("bob", "同意", harness.say("bob", "/consult"))
    replies = harness.press("bob", "房产物业", replies)
    replies = harness.press("bob", "东风里社区", replies)
    replies = harness.press(
        "bob", "描述完毕", harness.say("bob", "楼上漏水到我家，物业不管，怎么办才好？")
    )
    replies = harness.press("bob", "确认提交", harness.press("bob", "在这里回复", replies))
    notice = harness.queued("lawyer")
    claimed = harness.press("lawyer", "认领", notice)
    harness.queued("bob")
    assert "请输入给居民的答复" in texts(harness.press("lawyer", "回复", claimed))
    revoke(harness, "lawyer")
    refused = harness.say("lawyer", "可以找物业和邻居协商赔偿。")
    assert "只有法律顾问" in texts(refused)
    with Session(engine) as session:
        (case,) = session.exec(select(Case)).all()
        assert case.status == "claimed" and case.first_answer_at is None
    assert harness.queued("bob") == []


def test_a_flow_left_at_an_unknown_step_is_closed_as_stale(harness: Harness, engine):
    grant(harness, "clerk", "staff")
    harness.say("clerk", "/notice")
    with Session(engine) as session:
        state = session.exec(select(ConversationState)).one()
        state.step = "no-such-step"
        session.add(state)
        session.commit()
    assert isinstance(harness.say("clerk", "你好")[0], Reply)
    assert state_of(engine) == []
