"""Walk-in, phone and hotline consultations recorded by staff: `cases add` and /walkin,
and how they are counted (channel rows 窗口/电话/热线, no waiting time for an answer given
on the spot)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.models import Case, CaseEvent, LedgerEvent
from bot.testing import texts
from bot.testing.factories import press_payload


def _cases(engine) -> list[Case]:
    with Session(engine) as session:
        return list(session.exec(select(Case).order_by(Case.id)))


def _ledger(engine, kind: str) -> list[LedgerEvent]:
    with Session(engine) as session:
        return list(session.exec(select(LedgerEvent).where(LedgerEvent.kind == kind)))


def test_cases_add_records_each_way_and_the_statistics_show_it(cli, engine):
    code, out, _ = cli(
        "cases", "add", "--channel", "窗口", "--community", "东风里社区", "--topic", "继承遗产",
        "--summary", "咨询父母房产如何继承", "--answer", "按法定继承顺序，配偶、子女、父母为第一顺序。",
        "--date", "2026-03-05",
    )  # fmt: skip
    assert code == 0 and "当场答复并办结" in out
    code, out, _ = cli(
        "cases", "add", "--channel", "热线", "--community", "其他", "--topic", "借款债务",
        "--summary", "朋友借钱不还能否起诉",
    )  # fmt: skip
    assert code == 0 and "待法律顾问答复" in out
    window, hotline = _cases(engine)
    assert (window.channel, window.status, window.user_id) == ("walk_in", "closed", None)
    assert window.created_at.astimezone().date().isoformat() == "2026-03-05"
    assert (hotline.channel, hotline.status) == ("hotline", "new")
    with Session(engine) as session:
        trail = session.exec(select(CaseEvent.kind).where(CaseEvent.case_id == window.id)).all()
    assert trail == ["submitted", "answered", "closed"]
    (answered,) = _ledger(engine, "consult_answered")
    assert answered.value is None and answered.channel == "walk_in"  # nobody waited

    code, out, _ = cli("cases", "list", "--status", "all")
    assert "窗口" in out and "热线" in out and "共 2 件" in out

    assert cli("export", "--period", "2026-03", "--out", "march.json")[0] == 0
    march = json.loads(Path("march.json").read_text(encoding="utf-8"))
    assert march["summary"]["consult_submitted"] == march["summary"]["consult_in_person"] == 1
    assert march["summary"]["median_answer_hours"] is None
    channels = {r["label"]: r["values"] for r in march["breakdowns"]["channel"]["rows"]}
    assert channels == {"窗口": channels["窗口"]} and channels["窗口"]["consult_submitted"] == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--channel", "微博", "未知的咨询方式"),
        ("--topic", "税务", "未知的咨询类别"),
        ("--community", "火星社区", "未知的社区"),
        ("--summary", "问", "咨询摘要应为"),
        ("--date", "2026-02-30", "不存在"),
        ("--date", (date.today() + timedelta(days=2)).isoformat(), "晚于今天"),
    ],
)
def test_cases_add_bad_input_is_one_chinese_line_and_nothing_saved(
    cli, engine, option, value, message
):
    args = {
        "--channel": "电话", "--community": "东风里社区", "--topic": "其他",
        "--summary": "咨询物业费怎么收",
    }  # fmt: skip
    args[option] = value
    code, _, err = cli("cases", "add", *(x for pair in args.items() for x in pair))
    assert code == 2 and message in err and "Traceback" not in err
    assert _cases(engine) == []


def test_walkin_flow_in_chat_checks_the_role_at_every_step(harness, engine):
    assert "只有" in texts(harness.say("mallory", "/walkin"))
    assert "只有" in texts(press_payload(harness, "mallory", "wi:o:walk_in"))
    harness.say("admin", "/grant console:clerk staff")
    ways = harness.say("clerk", "/walkin")
    assert [b.label for b in ways[0].buttons][:3] == ["窗口", "电话", "热线"]
    communities = harness.press("clerk", "热线", ways)
    topics = harness.press("clerk", "平阳里社区", communities)
    summary = harness.press("clerk", "邻里纠纷", topics)
    assert "4 字以上" in texts(harness.say("clerk", "吵")) and "摘要" in texts(summary)
    answer = harness.say("clerk", "楼上噪音扰民怎么办")
    confirm = harness.press("clerk", "跳过", answer)
    assert "方式：热线" in texts(confirm) and "转法律顾问" in texts(confirm)
    assert _cases(engine) == []  # nothing before 保存
    harness.say("admin", "/revoke console:clerk")  # revoked at the last step
    assert "登记已取消" in texts(harness.say("clerk", "保存"))
    assert "只有" in texts(harness.press("clerk", "保存", confirm))
    assert _cases(engine) == []
    harness.say("admin", "/grant console:clerk staff")
    ways = harness.say("clerk", "/walkin")
    communities = harness.press("clerk", "窗口", ways)
    topics = harness.press("clerk", "其他", communities)
    harness.press("clerk", "合同消费", topics)
    harness.say("clerk", "网购退货商家不同意")
    confirm = harness.say("clerk", "七天无理由退货，可向12315投诉。")
    assert "已登记" in texts(harness.press("clerk", "保存", confirm))
    (case,) = _cases(engine)
    assert (case.channel, case.community, case.topic, case.status) == (
        "walk_in", "其他", "合同消费", "closed",
    )  # fmt: skip
    (submitted,) = _ledger(engine, "consult_submitted")
    assert submitted.channel == "walk_in" and submitted.community == "其他"
