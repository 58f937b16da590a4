"""The adviser's work log: `python bot.py work ...` (main()), the .xlsx import with its
row-by-row report, the /work chat flow with its per-step role check, and the history."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from bot.models import LegalHistory, WorkEntry
from bot.services.worklog import IMPORT_LAYOUT
from bot.testing import Harness, texts
from bot.testing.legal import counts, grant, sheet


def entries(engine) -> list[WorkEntry]:
    with Session(engine) as session:
        return list(session.exec(select(WorkEntry).order_by(WorkEntry.id)))


def history(engine, record_id: int) -> list[LegalHistory]:
    with Session(engine) as session:
        statement = select(LegalHistory).where(
            LegalHistory.record_type == "work", LegalHistory.record_id == record_id
        )
        return list(session.exec(statement.order_by(LegalHistory.id)))


# --- CLI -------------------------------------------------------------------------------------
def test_work_add_list_edit_delete_keep_a_history(cli, engine):
    code, out, _ = cli(
        "work", "add", "--date", "2026-07-15", "--type", "合同审查修改", "--title", "物业服务合同",
        "--department", "城管科", "--count", "3",
    )  # fmt: skip
    assert code == 0 and "#1 2026-07-15 合同审查修改“物业服务合同”，委托部门：城管科，3 份" in out
    code, out, _ = cli(
        "work", "add", "--date", "2026-07-16", "--type", "法制审核",
        "--decision", "华阳执罚〔2026〕12号", "--opinion", "修改后同意",
    )  # fmt: skip
    assert code == 0 and "意见：修改后同意" in out
    code, out, _ = cli("work", "list", "2026Q3")
    assert code == 0 and "共 2 项" in out
    assert cli("work", "edit", "1", "--count", "4")[0] == 0
    assert entries(engine)[0].count == 4
    code, out, _ = cli("work", "delete", "2")
    assert code == 0 and "已删除" in out
    assert [e.id for e in entries(engine)] == [1]
    first = history(engine, 1)
    assert [h.action for h in first] == ["add", "edit"]
    assert first[1].changes == {"count": [3, 4]} and first[1].actor == "cli"
    assert [h.action for h in history(engine, 2)] == ["add", "delete"]
    code, out, _ = cli("work", "show", "1")
    assert code == 0 and "cli 修改 数量：3 → 4" in out
    code, out, _ = cli("work", "show", "2")
    assert (
        "#2（已删除）" in out
        and "cli 删除 日期：2026-07-16 → —；类型：重大行政执法决定法制审核 → —" in out
    )
    assert cli("work", "show", "9")[0] == 2
    assert history(engine, 2)[1].changes["decision_number"] == ["华阳执罚〔2026〕12号", None]


def test_bad_work_input_is_refused_in_chinese_with_nothing_saved(cli, engine):
    before = counts(engine)
    bad = [
        (["--date", "2026-13-01", "--type", "合同", "--title", "x", "--department", "y"], "不存在"),
        (["--date", "2026-07-01", "--type", "报销", "--title", "x"], "未知的工作类型"),
        (["--date", "2026-07-01", "--type", "合同", "--title", "x"], "需要填写委托部门"),
        (["--date", "2026-07-01", "--type", "审核", "--decision", "1号", "--opinion", "好"], "审核意见应为"),
        (["--date", "2026-07-01", "--type", "培训", "--title", "x", "--count", "很多"], "参训人数应为整数"),
        (["--date", "2026-07-01", "--type", "培训", "--title", "x", "--opinion", "同意"], "只有重大行政执法决定"),
    ]  # fmt: skip
    for args, message in bad:
        code, _, err = cli("work", "add", *args)
        assert code == 2 and message in err, (args, err)
    assert cli("work", "edit", "99", "--count", "2")[2].strip() == "没有编号为 99 的工作记录。"
    assert "请至少给出一个" in cli("work", "edit", "1")[2]
    assert counts(engine) == before


def test_import_takes_the_office_layout_and_reports_every_bad_row(cli, engine, tmp_path):
    header = list(IMPORT_LAYOUT)
    bad = sheet(
        tmp_path / "bad.xlsx",
        header,
        [
            [date(2026, 7, 1), "合同审查修改", "租赁合同", "党政办", 2, None, None, None],
            ["2026-07-40", "合同审查修改", "采购合同", "党政办", 1, None, None, None],
            [date(2026, 7, 3), "法制审核", None, None, None, "执罚〔2026〕3号", "也许", None],
            [date(2026, 7, 4), "书面法律意见", "拆违程序", None, 3, None, None, None],
        ],
    )
    code, out, err = cli("work", "import", str(bad))
    assert code == 2
    assert (
        "第 4 行：" in err
        and "第 5 行：审核意见应为" in err
        and "第 6 行：书面法律意见需要填写提供对象" in err
    )
    assert "第 3 行" not in err and "共 3 行有误，没有导入任何工作记录" in err
    assert entries(engine) == []
    good = sheet(
        tmp_path / "good.xlsx",
        header,
        [
            [date(2026, 7, 1), "合同审查修改", "租赁合同", "党政办", 2, None, None, None],
            ["2026/7/3", "法制审核", None, None, None, "执罚〔2026〕3号", "同意", "立案决定"],
            [None, None, None, None, None, None, None, None],
            [date(2026, 7, 4), "书面法律意见", "拆违程序", "城管科", 3, None, None, None],
        ],
    )
    assert "检查通过：3 行" in cli("work", "import", str(good), "--dry-run")[1]
    assert entries(engine) == []
    code, out, _ = cli("work", "import", str(good))
    assert code == 0 and "已导入 3 项" in out
    saved = entries(engine)
    assert [(e.kind, e.count) for e in saved] == [("contract", 2), ("review", 1), ("opinion", 3)]
    assert saved[1].opinion == "agree" and saved[1].title == "执罚〔2026〕3号"
    assert {h.action for h in history(engine, saved[0].id)} == {"import"}


def test_import_explains_a_file_it_cannot_read(cli, tmp_path):
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook", encoding="utf-8")
    code, _, err = cli("work", "import", str(text))
    assert code == 2 and "无法读取“notes.xlsx”" in err
    headerless = sheet(tmp_path / "h.xlsx", ["名称", "时间"], [["x", "y"]])
    code, _, err = cli("work", "import", str(headerless))
    assert code == 2 and "没有找到表头（至少需要：日期、类型）" in err
    assert "找不到文件" in cli("work", "import", str(tmp_path / "none.xlsx"))[2]


# --- chat ------------------------------------------------------------------------------------
def test_work_flow_in_a_few_taps(harness: Harness, engine):
    grant(harness, "console:lawyer", "adviser")
    replies = harness.say("lawyer", "/work")
    replies = harness.press("lawyer", "合同审查修改", replies)
    assert "合同名称" in texts(replies)
    replies = harness.say("lawyer", "物业服务合同")
    replies = harness.say("lawyer", "城管科")
    replies = harness.press("lawyer", "3", replies)
    replies = harness.press("lawyer", "今天", replies)
    assert "请核对" in texts(replies) and "3 份" in texts(replies)
    replies = harness.press("lawyer", "保存", replies)
    assert "已登记：#1" in texts(replies)
    (entry,) = entries(engine)
    assert (entry.kind, entry.title, entry.department, entry.count) == (
        "contract", "物业服务合同", "城管科", 3,
    )  # fmt: skip
    assert entry.created_by == "console:lawyer"
    assert counts(engine)["states"] == 0


def test_review_flow_takes_the_opinion_from_buttons_and_explains_bad_answers(harness, engine):
    grant(harness, "console:lawyer", "adviser")
    replies = harness.press("lawyer", "法制审核", harness.say("lawyer", "/work"))
    replies = harness.say("lawyer", "华阳执罚〔2026〕7号")
    replies = harness.press("lawyer", "不同意", replies)
    replies = harness.say("lawyer", "2026-07-41")
    assert "不存在" in texts(replies) and "日期" in texts(replies)
    replies = harness.say("lawyer", "2026-07-20")
    replies = harness.say("lawyer", "确认")
    assert "已登记" in texts(replies)
    (entry,) = entries(engine)
    assert (entry.decision_number, entry.opinion, entry.day) == (
        "华阳执罚〔2026〕7号",
        "disagree",
        date(2026, 7, 20),
    )


def test_a_revoked_adviser_cannot_finish_the_flow_by_typing(harness: Harness, engine):
    grant(harness, "console:lawyer", "adviser")
    harness.press("lawyer", "法治培训授课", harness.say("lawyer", "/work"))
    harness.say("admin", "/revoke console:lawyer")
    replies = harness.say("lawyer", "民法典专题培训")
    assert "您已不是法律顾问或工作人员" in texts(replies)
    assert counts(engine)["states"] == 0
    for answer in ("40", "2026-07-01", "保存"):
        harness.say("lawyer", answer)
    assert entries(engine) == []


def test_a_revoked_adviser_cannot_save_with_the_button(harness: Harness, engine):
    grant(harness, "console:lawyer", "adviser")
    replies = harness.press("lawyer", "合同示范文本", harness.say("lawyer", "/work"))
    replies = harness.say("lawyer", "物业服务合同范本")
    replies = harness.press("lawyer", "今天", harness.press("lawyer", "2", replies))
    assert "请核对" in texts(replies)
    harness.say("admin", "/revoke console:lawyer")
    refused = harness.press("lawyer", "保存", replies)
    assert "您已不是法律顾问或工作人员" in texts(refused)
    assert entries(engine) == [] and counts(engine)["states"] == 0


def test_work_list_in_chat(harness: Harness, cli):
    grant(harness, "console:clerk", "staff")
    cli(
        "work",
        "add",
        "--date",
        "2026-08-02",
        "--type",
        "参会",
        "--title",
        "拆违工作会",
        "--count",
        "4",
    )
    assert "2026年第三季度工作台账 1 项" in texts(harness.say("clerk", "/work list 2026Q3"))
    assert "无法识别的时间段" in texts(harness.say("clerk", "/work list 明年"))
