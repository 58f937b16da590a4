"""The command line as the office's IT person uses it: real processes, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run_bot(args: list[str], tmp_path: Path, stdin: str = "", **env: str):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(REPO / "bot.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )


def test_piped_chat_prints_both_replies_and_exits_zero(tmp_path):
    result = run_bot(["chat"], tmp_path, "/start\n/help\n")
    assert result.returncode == 0, result.stderr
    assert "普法助手" in result.stdout and "使用方法" in result.stdout
    assert "1. 📖 浏览民法典问答" in result.stdout
    assert (tmp_path / "data" / "pufa.db").exists()  # default SQLite, folder created


def test_no_arguments_and_no_channel_means_console(tmp_path):
    result = run_bot([], tmp_path, "/start\n")
    assert result.returncode == 0, result.stderr
    assert "普法助手" in result.stdout


def test_run_without_any_channel_says_how_to_configure_telegram(tmp_path):
    result = run_bot(["run"], tmp_path)
    assert result.returncode == 2
    assert "PUFA_TELEGRAM_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_database_url_is_one_clear_line(tmp_path):
    for url in ("not a url", "mysql://x@localhost/db"):
        result = run_bot(["chat"], tmp_path, "/start\n", PUFA_DATABASE_URL=url)
        assert result.returncode == 2
        assert result.stderr.strip().startswith("配置错误：PUFA_DATABASE_URL")
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_clear_line(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = run_bot(["db", "upgrade"], tmp_path, PUFA_DATABASE_URL=url)
    assert result.returncode == 2
    assert "PUFA_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_other_bad_settings_name_the_variable(tmp_path):
    cases = {
        "PUFA_TIMEZONE": "Mars/Olympus",
        "PUFA_ADMINS": "justaname",
        "PUFA_MISFIRE_GRACE": "soon",
        "PUFA_CASE_SLA_HOURS": "-3",
    }
    for name, value in cases.items():
        result = run_bot(["chat"], tmp_path, "", **{name: value})
        assert result.returncode == 2, name
        assert result.stderr.startswith(f"配置错误：{name} 无效"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_help_lists_the_commands(tmp_path):
    result = run_bot(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("chat", "run", "db", "ask", "kb", "faq"):
        assert command in result.stdout


def test_db_upgrade_reports_the_revision(tmp_path):
    result = run_bot(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "数据库已是最新版本" in result.stdout


def test_console_stats_saves_the_chart_and_prints_its_path(tmp_path):
    result = run_bot(
        ["chat", "--user", "admin"], tmp_path, "/stats 2026\n", PUFA_ADMINS="console:admin"
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("[文件] "))
    chart = Path(line.removeprefix("[文件] "))
    assert chart.is_absolute() and chart.parent == tmp_path / "data" / "exports" / "console"
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_report_template_round_trip_through_the_cli(tmp_path):
    made = run_bot(["report", "--write-template", "office.docx"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "office.docx").is_file()
    result = run_bot(
        ["report", "--year", "2026", "--out", "r.docx"],
        tmp_path,
        PUFA_REPORT_TEMPLATE=str(tmp_path / "office.docx"),
        PUFA_OFFICE_NAME="华阳街道",
    )
    assert result.returncode == 0, result.stderr
    from docx import Document

    title = Document(str(tmp_path / "r.docx")).paragraphs[0].text
    assert title == "华阳街道2026年普法宣传和法律咨询工作情况（初稿）"
    missing = run_bot(["report", "--year", "2026", "--out", "r.docx"], tmp_path,
                      PUFA_REPORT_TEMPLATE=str(tmp_path / "none.docx"))
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("配置错误：PUFA_REPORT_TEMPLATE")
    assert "Traceback" not in missing.stderr
