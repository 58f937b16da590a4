"""A scripted quarter of legal work, entered the way the office enters it (the CLI and
the chat), read back from the files the office hands in: the quarterly litigation
xlsx/docx, the statistics export with its appendix, and the annual report's （三）/（四）
paragraphs — every figure equal to what was entered, and a hearing reminder delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from docx import Document
from openpyxl import load_workbook

from bot.runtime.delivery import DeliveryWorker
from bot.scheduler import PublicityScheduler
from bot.testing import Harness, texts
from bot.testing.delivery import FakeClock, FakeSender
from bot.testing.legal import grant, say_as

WORK = [  # (date, type, title, department, count, decision, opinion)
    ("2026-06-30", "合同审查修改", "食堂承包合同", "党政办", "7", None, None),  # Q2
    ("2026-07-02", "合同审查修改", "房屋租赁合同", "党政办", "3", None, None),
    ("2026-08-10", "合同审查修改", "政府采购合同", "城管科", "5", None, None),
    ("2026-07-20", "合同示范文本", "物业服务合同示范文本", None, "2", None, None),
    ("2026-08-01", "书面法律意见", "拆除违法建设的程序", "城管科", "4", None, None),
    ("2026-09-05", "书面法律意见", "政府信息公开答复", "党政办", "6", None, None),
    ("2026-09-10", "参会现场法律意见", "主任办公会", None, "3", None, None),
    ("2026-07-08", "法制审核", None, None, None, "华阳执罚〔2026〕1号", "同意"),
    ("2026-08-08", "法制审核", None, None, None, "华阳执罚〔2026〕2号", "修改后同意"),
    ("2026-09-08", "法制审核", None, None, None, "华阳执罚〔2026〕3号", "不同意"),
    ("2026-09-15", "法治培训授课", "民法典专题培训", None, "40", None, None),
    ("2026-10-01", "合同审查修改", "保洁服务合同", "党政办", "1", None, None),  # Q4
]
CASES = [  # (type, number, role, filed, community, closed)
    ("民事诉讼", "（2026）京0105民初100号", "被告", "2026-07-03", "华阳里社区", None),
    ("民事诉讼", "（2026）京0105民初50号", "原告", "2026-05-10", None, "2026-08-20"),
    ("行政诉讼", "（2026）京0105行初30号", "被告", "2026-08-01", None, None),
    ("行政复议", "朝政复〔2026〕12号", "被申请人", "2026-09-01", None, None),
    ("民事诉讼", "（2026）京0105民初9号", "第三人", "2026-03-01", None, "2026-06-15"),  # before Q3
]


def _enter_work(cli) -> None:
    for day, kind, title, department, count, decision, opinion in WORK:
        args = ["work", "add", "--date", day, "--type", kind]
        for flag, value in (("--title", title), ("--department", department), ("--count", count),
                            ("--decision", decision), ("--opinion", opinion)):  # fmt: skip
            if value is not None:
                args += [flag, value]
        code, _, err = cli(*args)
        assert code == 0, err


def _enter_cases(cli) -> None:
    for kind, number, role, filed, community, closed in CASES:
        args = ["litigation", "add", "--type", kind, "--number", number, "--body", "朝阳区人民法院",
                "--parties", "某某与某街道办事处", "--role", role, "--cause", "某某纠纷",
                "--filed", filed, "--responsible", "telegram:555"]  # fmt: skip
        if community:
            args += ["--community", community]
        code, _, err = cli(*args)
        assert code == 0, err
        if closed:
            assert cli("litigation", "close", number, "--date", closed, "--outcome", "结案")[0] == 0


@pytest.fixture
async def quarter(cli, harness: Harness, engine, settings):
    """Enter the quarter; the first case's hearing reminder is delivered by the worker."""
    grant(harness, "telegram:555", "adviser")
    _enter_work(cli)
    _enter_cases(cli)
    hearing = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=9)
    local = (hearing + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert "已登记开庭" in texts(
        say_as(harness, "telegram", "555", f"/litigation hearing 1 {local}")
    )
    due = hearing - timedelta(days=7) + timedelta(seconds=30)
    assert await PublicityScheduler(engine, settings, clock=lambda: due).litigation_reminders() == 1
    clock = FakeClock(due)
    sender = FakeSender(clock)
    worker = DeliveryWorker(engine, sender, clock=clock)
    await worker.drain()
    worker.close()
    return sender


async def test_the_quarterly_litigation_xlsx_and_docx(quarter, cli, tmp_path):
    assert [c[1] for c in quarter.calls] == ["555"] and "（2026）京0105民初100号" in quarter.calls[
        0
    ][2]
    assert cli("report", "--quarter", "2026Q3", "--kind", "litigation", "--out", "q3.xlsx")[0] == 0
    book = load_workbook(tmp_path / "q3.xlsx")
    summary = {
        row[0]: row[1:5] for row in book["汇总"].iter_rows(min_row=6, max_row=9, values_only=True)
    }
    assert summary == {
        "民事诉讼": (1, 1, 1, 2),  # new, closed, pending, handled
        "行政诉讼": (1, 0, 1, 1),
        "行政复议": (1, 0, 1, 1),
        "合计": (3, 1, 3, 4),
    }
    stages = {
        row[0]: row[1:] for row in book["汇总"].iter_rows(min_row=12, max_row=14, values_only=True)
    }
    assert stages["民事诉讼"] == (1, 0, 0, 0, 0, 1)  # 立案 1, 结案 1
    listed = [row[2] for row in book["案件清单"].iter_rows(min_row=2, values_only=True)]
    assert sorted(listed) == sorted(n for _, n, *_ in CASES[:4])
    assert cli("report", "--quarter", "2026Q3", "--kind", "litigation", "--out", "q3.docx")[0] == 0
    document = Document(str(tmp_path / "q3.docx"))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "2026年第三季度诉讼和行政复议案件情况报告" in text
    assert "共办理诉讼和行政复议案件4件" in text and "协助华阳里社区处理案件1件" in text
    totals = [cell.text for cell in document.tables[0].rows[-1].cells]
    assert totals == ["合计", "3", "1", "3", "4"]
    assert len(document.tables[1].rows) == 1 + 4


async def test_the_statistics_and_their_appendix(quarter, cli, tmp_path):
    code, out, _ = cli("stats", "2026Q3")
    assert "审查修改合同 2 项（文稿 8 份），完善示范文本 2 份，书面法律意见 2 件（10 条）" in out
    assert "民事诉讼 2 件，行政诉讼 1 件，行政复议 1 件，协助社区 1 件；新收 3 件，办结 1 件" in out
    assert cli("export", "--period", "2026Q3", "--out", "s.json")[0] == 0
    legal = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["legal"]
    assert legal["summary"]["reviews"] == 3 and legal["summary"]["training_attendance"] == 40
    months = {r["label"]: r["values"] for r in legal["breakdowns"]["month"]["rows"]}
    assert [months[m]["contract_docs"] for m in ("2026年7月", "2026年8月", "2026年9月")] == [
        3,
        5,
        0,
    ]
    assert cli("export", "--year", "2026", "--out", "y.xlsx")[0] == 0
    book = load_workbook(tmp_path / "y.xlsx")
    quarters = {r[0]: r[1] for r in book["法律事务按季度"].iter_rows(min_row=2, values_only=True)}
    assert quarters == {
        "2026年第一季度": 0,
        "2026年第二季度": 7,
        "2026年第三季度": 8,
        "2026年第四季度": 1,
    }
    types = {r[0]: r[1:] for r in book["法律事务按类型"].iter_rows(min_row=2, values_only=True)}
    assert types["合同审查修改"] == (4, 16) and types["民事诉讼"] == (3, 3)
    figures = {r[0]: r[1] for r in book["法律事务"].iter_rows(min_row=2, values_only=True)}
    appendix = list(book["附录-数字来源"].iter_rows(min_row=2, values_only=True))
    for label, value in figures.items():  # every figure is the sum of the rows behind it
        assert sum(r[6] for r in appendix if r[0] == label) == value, label
    assert figures["修改合同文稿（份）"] == 16


async def test_the_annual_report_paragraphs(quarter, cli, tmp_path):
    assert cli("report", "--year", "2026", "--out", "r.docx")[0] == 0
    paragraphs = [p.text for p in Document(str(tmp_path / "r.docx")).paragraphs]
    headings = [p for p in paragraphs if p[:3] in ("（三）", "（四）", "（五）")]
    assert [h[:3] for h in headings] == ["（三）", "（四）", "（五）"]
    text = "\n".join(paragraphs)
    assert "全年审查修改各类合同文稿16份（4项），完善合同示范文本2份。" in text
    assert "提出书面法律意见2件、10条；应邀参加工作会议1次，现场提供法律咨询意见3条" in text
    assert "审核重大行政执法决定3件，其中同意1件、修改后同意1件、不同意1件。" in text
    assert (
        "牵头办理民事诉讼案件3件，行政诉讼案件1件，行政复议案件1件，协助华阳里社区处理民事诉讼1件"
        in text
    )
    assert "其中新收5件、办结2件" in text and "尚未办结3件" in text
