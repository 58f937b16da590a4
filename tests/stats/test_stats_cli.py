"""`python bot.py activity|stats|export|report`: output, files and exit codes.

Most run in-process through bot.cli.main (so they use the test database, SQLite or
PostgreSQL); one runs the real process to show the exit code reaches the shell."""

from __future__ import annotations

import json
from datetime import date

import pytest
from docx import Document
from openpyxl import load_workbook

from bot.testing.factories import run_bot
from bot.testing.stats_data import expected_summary, generate, insert


def test_activity_add_list_edit_delete(cli):
    code, out, _ = cli(
        "activity", "add", "--date", "2026-05-12", "--type", "宣讲", "--title", "民法典进社区",
        "--attendance", "120", "--community", "东风里社区", "--topic", "民法典",
    )  # fmt: skip
    assert code == 0 and "已登记：#1 2026-05-12 普法宣讲 “民法典进社区”" in out
    code, out, _ = cli(
        "activity",
        "add",
        "--date",
        "2026/6/1",
        "--type",
        "阵地",
        "--title",
        "法治公园",
        "--attendance",
        "30",
    )
    assert code == 0
    code, out, _ = cli("activity", "list", "2026-05")
    assert code == 0 and "民法典进社区" in out and "法治公园" not in out
    assert "共 1 次，参与 120 人次" in out
    code, out, _ = cli("activity", "edit", "1", "--attendance", "150", "--notes", "含线上直播")
    assert code == 0 and "150 人次" in out and "含线上直播" in out
    code, out, _ = cli("activity", "delete", "2")
    assert code == 0 and "已删除" in out
    code, out, _ = cli("activity", "list")
    assert "共 1 次，参与 150 人次" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("activity", "add", "--date", "2026-13-01", "--type", "宣讲", "--title", "x", "--attendance", "1"), "不存在"),
        (("activity", "add", "--date", "2026-05-01", "--type", "宣讲", "--title", "x", "--attendance", "-5"), "参与人数不能为负数"),
        (("activity", "add", "--date", "2026-05-01", "--type", "跳舞", "--title", "x", "--attendance", "5"), "未知的活动类型"),
        (("activity", "add", "--date", "2026-05-01", "--type", "宣讲", "--title", " ", "--attendance", "5"), "活动名称不能为空"),
        (("activity", "edit", "7", "--attendance", "5"), "没有编号为 7 的活动"),
        (("activity", "edit", "1"), "至少给出一个要修改的字段"),
        (("activity", "delete", "abc"), "活动编号应为数字"),
        (("activity", "list", "2026Q9"), "无法识别的时间段"),
        (("stats", "2026Q5"), "无法识别的时间段“2026Q5”"),
        (("stats", "2026", "--year", "2026"), "只能用一种"),
        (("export", "--year", "2026", "--format", "pdf", "--out", "x.pdf"), "不支持的导出格式“pdf”"),
        (("export", "--year", "2026", "--out", "stats.txt"), "不支持的导出格式"),
        (("export", "--year", "2026", "--quarter", "5", "--out", "x.csv"), "季度应为 1 到 4"),
        (("export", "--year", "二〇二六", "--out", "x.csv"), "年份应为数字"),
        (("export", "--year", "2026", "--month", "13", "--out", "x.csv"), "月份应为 1 到 12"),
        (("export", "--period", "2026-02-30", "--out", "x.csv"), "不存在"),
        (("report", "--year", "2026", "--out", "report.pdf"), ".docx（Word）或 .md"),
    ],
)  # fmt: skip
def test_bad_input_is_a_chinese_message_and_exit_code_2(cli, args, message):
    code, out, err = cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_stats_export_and_report_carry_the_figures(cli, engine, tmp_path):
    data = insert(engine, generate())
    year = expected_summary(data, date(2026, 1, 1), date(2027, 1, 1))
    quarter = expected_summary(data, date(2026, 7, 1), date(2026, 10, 1))
    code, out, _ = cli("stats", "--year", "2026")
    assert code == 0 and f"服务群众 {year['residents']} 人" in out
    code, out, _ = cli("stats", "2026Q3")
    assert code == 0 and f"直接解答 {quarter['answered']} 次" in out

    code, out, _ = cli(
        "export", "--year", "2026", "--quarter", "3", "--format", "json", "--out", "q3.json"
    )
    assert code == 0 and "已导出 2026年第三季度统计" in out
    assert json.loads((tmp_path / "q3.json").read_text(encoding="utf-8"))["summary"] == quarter

    code, _, _ = cli("export", "--year", "2026", "--out", "sub/year.xlsx")  # format from the name
    assert code == 0
    sheet = load_workbook(tmp_path / "sub" / "year.xlsx")["汇总"]
    values = {row[0]: row[1] for row in sheet.iter_rows(min_row=6, values_only=True)}
    assert values["线下参与（人次）"] == year["attendance"]

    code, _, _ = cli("report", "--year", "2026", "--out", "report.docx")
    assert code == 0
    text = "\n".join(p.text for p in Document(str(tmp_path / "report.docx")).paragraphs)
    assert f"法律顾问答复群众咨询{year['consult_answered']}件" in text
    code, _, _ = cli("report", "--year", "2026", "--out", "report.md")
    assert f"推送普法信息{year['notices']}条" in (tmp_path / "report.md").read_text(
        encoding="utf-8"
    )


def test_the_real_process_exits_2_on_a_bad_format(tmp_path):
    result = run_bot(["export", "--year", "2026", "--format", "pdf", "--out", "x.pdf"], tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "不支持的导出格式“pdf”。导出格式可选 xlsx（Excel）、csv 或 json。"
    )
    assert not (tmp_path / "x.pdf").exists()
