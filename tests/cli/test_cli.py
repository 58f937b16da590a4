"""The command line as the office's IT person uses it: real processes, real exit codes."""

from __future__ import annotations

from pathlib import Path

from bot.testing.factories import run_bot


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


def test_bad_configuration_values_are_one_clear_line(tmp_path):
    (tmp_path / ".env").write_bytes("PUFA_COMMUNITIES=东风里社区\n".encode("gbk"))
    gbk = run_bot(["chat"], tmp_path, "/start\n")
    assert gbk.returncode == 2 and "不是 UTF-8 编码" in gbk.stderr
    (tmp_path / ".env").unlink()
    cases = {
        "PUFA_MISFIRE_GRACE": ("1e400", "nan", "-5m"),
        "PUFA_SUBSCRIPTION_TOPICS": ("民法典," + "很长的主题" * 8,),
        "PUFA_COMMUNITIES": ("社" * 65,),
    }
    for name, values in cases.items():
        for value in values:
            result = run_bot(["chat"], tmp_path, "/start\n", **{name: value})
            assert result.returncode == 2, (name, value)
            assert result.stderr.strip().startswith(f"配置错误：{name} 无效"), result.stderr
            assert len(result.stderr.strip().splitlines()) == 1


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
    missing = run_bot(
        ["report", "--year", "2026", "--out", "r.docx"],
        tmp_path,
        PUFA_REPORT_TEMPLATE=str(tmp_path / "none.docx"),
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("配置错误：PUFA_REPORT_TEMPLATE")
    assert "Traceback" not in missing.stderr


def test_ids_and_ages_too_big_for_the_database_are_one_clear_line(tmp_path):
    checks = [
        (["activity", "edit", "9" * 30, "--attendance", "5"], "不超过 9 位"),
        (["activity", "delete", "①"], "活动编号应为"),
        (["notice", "cancel", "9" * 30], "没有进行中的定时推送"),
        (["cases", "purge", "--older-than", "9" * 20 + "d"], "不超过 5 位"),
    ]
    for args, message in checks:
        result = run_bot(args, tmp_path)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_the_word_cutter_keeps_its_cache_in_the_users_own_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = run_bot(["ask", "房东不退押金怎么办"], tmp_path, HOME=str(home), XDG_CACHE_HOME="")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert list((home / ".cache" / "pufa-bot").glob("jieba*.cache"))
