"""/stats, /export and /activity through the console harness (the real dispatcher)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from sqlmodel import Session, select

from bot.models import Activity, LedgerEvent
from bot.testing import Harness, texts
from bot.testing.stats_data import expected_summary, generate, insert


def make_staff(harness: Harness, name: str = "clerk") -> str:
    harness.say("admin", f"/grant console:{name} staff")
    return name


# --- /stats and /export ----------------------------------------------------------------------
def test_stats_shows_the_summary_and_a_chart(harness: Harness, engine):
    data = insert(engine, generate())
    clerk = make_staff(harness)
    replies = harness.say(clerk, "/stats 2026")
    expected = expected_summary(data, date(2026, 1, 1), date(2027, 1, 1))
    assert "2026年统计" in replies[0].text
    assert f"服务群众 {expected['residents']} 人" in replies[0].text
    assert f"线下活动：{expected['activities']} 次" in replies[0].text
    image = replies[1].attachment
    assert image is not None and image.kind == "image"
    assert image.read().startswith(b"\x89PNG")
    quarter = texts(harness.say(clerk, "/stats 2026Q3"))
    assert "2026年第三季度统计（2026-07-01 至 2026-09-30）" in quarter
    assert "2026年5月统计" in texts(harness.say(clerk, "/stats 2026-05"))


def test_stats_is_for_staff_only(harness: Harness, engine):
    before = _count(engine, "stats_exported")
    replies = harness.say("resident", "/stats 2026")
    assert "只有" in texts(replies) and all(r.attachment is None for r in replies)
    assert "只有" in texts(harness.say("resident", "/export 2026"))
    assert "只有" in texts(harness.say("resident", "/activity add"))
    assert _count(engine, "stats_exported") == before


def test_bad_stats_and_export_input_is_explained(harness: Harness):
    clerk = make_staff(harness)
    assert "无法识别的时间段“2026Q5”" in texts(harness.say(clerk, "/stats 2026Q5"))
    assert "例如：/stats 2026" in texts(harness.say(clerk, "/stats next year"))
    assert "只能选一种导出格式" in texts(harness.say(clerk, "/export 2026 csv json"))
    bad = texts(harness.say(clerk, "/export 2026 pdf"))
    assert "无法识别“2026 pdf”" in bad and "xlsx" in bad


def test_export_sends_a_file_with_the_figures(harness: Harness, engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # PostgreSQL runs write under ./data/exports
    data = insert(engine, generate())
    clerk = make_staff(harness)
    reply = harness.say(clerk, "/export 2026Q3 csv")[0]
    document = reply.attachment
    assert document is not None and document.kind == "document"
    assert document.filename == "普法统计-2026Q3.csv"
    path = Path(document.path)
    assert path.exists() and path.parent.name == "exports"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        summary = {
            line["指标键"]: line["数值"]
            for line in csv.DictReader(handle)
            if line["分表"] == "汇总"
        }
    expected = expected_summary(data, date(2026, 7, 1), date(2026, 10, 1))
    assert summary["answered"] == str(expected["answered"])
    assert summary["attendance"] == str(expected["attendance"])
    assert _count(engine, "stats_exported") == 1
    default = harness.say(clerk, "/export")[0].attachment
    assert default.filename.endswith(".xlsx") and Path(default.path).exists()


# --- /activity -------------------------------------------------------------------------------
def _count(engine, kind: str) -> int:
    with Session(engine) as session:
        return len(session.exec(select(LedgerEvent).where(LedgerEvent.kind == kind)).all())


def _activities(engine) -> list[Activity]:
    with Session(engine) as session:
        return list(session.exec(select(Activity).order_by(Activity.id)))


def test_staff_register_an_activity_step_by_step(harness: Harness, engine):
    clerk = make_staff(harness)
    assert "活动日期" in texts(harness.say(clerk, "/activity add"))
    assert "不存在" in texts(harness.say(clerk, "2026-02-30"))  # asked again, nothing lost
    kinds = harness.say(clerk, "2026-05-12")
    assert "活动类型" in texts(kinds)
    title = harness.press(clerk, "普法宣讲", kinds)
    assert "活动名称" in texts(title)
    community = harness.say(clerk, "民法典进社区")
    topic = harness.press(clerk, "平阳里社区", community)
    assert "主题" in texts(topic)
    assert "参与人数" in texts(harness.say(clerk, "民法典"))
    assert "不能为负数" in texts(harness.say(clerk, "-3"))
    assert "应为整数" in texts(harness.say(clerk, "很多"))
    notes = harness.say(clerk, "120")
    confirm = harness.press(clerk, "跳过", notes)
    summary = texts(confirm)
    assert "2026-05-12" in summary and "普法宣讲" in summary and "平阳里社区" in summary
    assert "参与人数：120" in summary and "备注：—" in summary
    assert _activities(engine) == []  # nothing saved before confirmation
    back = harness.press(clerk, "返回", confirm)
    assert "备注" in texts(back)
    confirm = harness.say(clerk, "在社区广场")
    done = harness.press(clerk, "保存", confirm)
    assert "已登记" in texts(done)
    (saved,) = _activities(engine)
    assert (saved.day, saved.kind, saved.title) == (date(2026, 5, 12), "lecture", "民法典进社区")
    assert (saved.community, saved.topic, saved.attendance) == ("平阳里社区", "民法典", 120)
    assert saved.notes == "在社区广场" and saved.created_by == "console:clerk"
    assert _count(engine, "activity_added") == 1
    # The flow is over: free text goes to the FAQ again.
    assert "已登记" not in texts(harness.say(clerk, "房东不退押金怎么办"))


def test_cancelling_the_flow_saves_nothing(harness: Harness, engine):
    clerk = make_staff(harness)
    harness.say(clerk, "/activity add")
    harness.say(clerk, "2026-05-12")
    assert "已取消" in texts(harness.say(clerk, "取消"))
    assert _activities(engine) == []
    assert "失效" in texts(harness.services.dispatcher.handle(_button(clerk, "act:k:lecture")))


def _button(user: str, payload: str):
    from bot.messages import Incoming

    return Incoming(channel="console", user_id=user, kind="button", payload=payload)


def record_lecture(harness: Harness, clerk: str) -> None:
    """Record a 宪法学习会 on 2026-06-01 with 45 attendees through the /activity dialogue."""
    for line in (
        "/activity add",
        "2026-06-01",
        "学法",
        "宪法学习会",
        "跳过",
        "宪法",
        "45",
        "跳过",
        "保存",
    ):
        harness.say(clerk, line)


def test_list_edit_and_delete_activities(harness: Harness, engine):
    clerk = make_staff(harness)
    record_lecture(harness, clerk)
    (saved,) = _activities(engine)
    listed = texts(harness.say(clerk, "/activity list 2026"))
    assert "线下活动 1 次，参与 45 人次" in listed and "宪法学习会" in listed
    assert "还没有登记" in texts(harness.say(clerk, "/activity list 2025"))
    edited = texts(harness.say(clerk, f"/activity edit {saved.id} 人数 60"))
    assert "60 人次" in edited
    assert "不能为负数" in texts(harness.say(clerk, f"/activity edit {saved.id} 人数 -1"))
    assert "未知的字段" in texts(harness.say(clerk, f"/activity edit {saved.id} 颜色 红"))
    assert "没有编号为 999" in texts(harness.say(clerk, "/activity edit 999 人数 5"))
    assert _activities(engine)[0].attendance == 60
    ask = harness.say(clerk, f"/activity delete {saved.id}")
    assert "确定删除" in texts(ask)
    assert "已删除" in texts(harness.press(clerk, "确认删除", ask))
    assert _activities(engine) == []
    assert (_count(engine, "activity_updated"), _count(engine, "activity_deleted")) == (1, 1)
    assert "没有编号" in texts(
        harness.services.dispatcher.handle(_button(clerk, f"act:del:{saved.id}"))
    )
    assert "/activity add" in texts(harness.say(clerk, "/activity"))


def test_a_resident_cannot_press_activity_buttons(harness: Harness, engine):
    clerk = make_staff(harness)
    record_lecture(harness, clerk)
    (saved,) = _activities(engine)
    reply = harness.services.dispatcher.handle(_button("resident", f"act:del:{saved.id}"))
    assert "只有工作人员" in texts(reply)
    assert len(_activities(engine)) == 1
