"""Web console pages at the HTTP level: each task does what the chat or CLI would."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.models import Activity, FaqQuestion, Notice, OutboxMessage, Push, Schedule, WebAudit
from bot.services import cases as consultations
from bot.services import periods, stats
from bot.testing import REPO
from bot.testing.web import (
    app_for,
    case_row,
    client_as,
    resident_case,
    sign_in,
    subscribers,
    token,
)
from bot.web import uploads


@pytest.fixture
def app(services):
    return app_for(services)


@pytest.fixture
def staff(app, engine):
    return client_as(app, engine, "clerk", "staff")


def test_answering_a_case_reaches_the_residents_console(app, engine, harness):
    number = resident_case(engine, description="我和邻居因为漏水的事情吵了很久，想问问怎么办")
    client = client_as(app, engine, "lawyer", "adviser")
    csrf = token(client)
    client.post(f"/cases/{number}/claim", data={"csrf": csrf})
    assert case_row(engine, number).status == "claimed"
    response = client.post(
        f"/cases/{number}/reply", data={"csrf": csrf, "text": "第一段建议。\r\n第二段：先协商。"}
    )
    assert "已答复" in response.text
    received = harness.queued("resident1")
    texts = "\n".join(r.text for r in received)
    assert "已由法律顾问受理" in texts
    assert "第一段建议。\n第二段：先协商。" in texts
    client.post(f"/cases/{number}/ask", data={"csrf": csrf, "text": "请补充房屋产权情况"})
    assert "请补充房屋产权情况" in "\n".join(r.text for r in harness.queued("resident1"))
    client.post(f"/cases/{number}/close", data={"csrf": csrf})
    case = case_row(engine, number)
    assert case.status == "closed" and case.first_answer_at is not None
    page = client.get(f"/cases/{number}").text
    assert "第二段：先协商。" in page and "结案" in page
    with Session(engine) as session:
        actions = session.exec(select(WebAudit.action).where(WebAudit.target == number)).all()
    assert actions == ["case_claim", "case_reply", "case_ask", "case_close"]


def test_an_empty_or_overlong_reply_is_refused_with_a_message(app, engine):
    number = resident_case(engine)
    client = client_as(app, engine, "lawyer", "adviser")
    csrf = token(client)
    assert (
        "请填写答复内容"
        in client.post(f"/cases/{number}/reply", data={"csrf": csrf, "text": "  "}).text
    )
    long_text = "长" * (consultations.MAX_DESCRIPTION + 1)
    assert (
        "超过了"
        in client.post(f"/cases/{number}/reply", data={"csrf": csrf, "text": long_text}).text
    )
    assert case_row(engine, number).status == "new"


def test_the_queue_filters_by_status_topic_community_and_overdue(app, engine):
    old = resident_case(engine, "r1", "很久以前提交的一件咨询，至今没有人答复", age_hours=100)
    new = resident_case(engine, "r2", "刚刚提交的一件咨询，还在等待顾问认领")
    client = client_as(app, engine, "lawyer", "adviser")
    page = client.get("/cases").text
    assert old in page and new in page
    overdue = client.get("/cases?overdue=1").text
    assert old in overdue and new not in overdue
    assert old not in client.get("/cases?status=closed").text
    assert old not in client.get("/cases?topic=劳动社保").text
    assert old in client.get("/cases?community=东风里社区").text


def test_sending_a_notice_queues_it_for_the_audience(staff, engine):
    subscribers(engine, 3)
    count = staff.get("/notices/audience?kind=all").json()["text"]
    assert "3 人" in count
    csrf = token(staff)
    preview = staff.post(
        "/notices/preview", data={"csrf": csrf, "text": "周六上午普法讲座", "audience": "all"}
    )
    assert "📢 周六上午普法讲座" in preview.text and "3 人" in preview.text
    response = staff.post(
        "/notices/send",
        data={"csrf": csrf, "text": "周六上午普法讲座", "audience": "all", "action": "now"},
    )
    assert "已排入发送队列，共 3 人" in response.text
    with Session(engine) as session:
        push = session.exec(select(Push)).one()
        assert push.recipients == 3 and push.status == "queued"
        assert (
            len(
                session.exec(
                    select(OutboxMessage).where(OutboxMessage.source == f"push:{push.id}")
                ).all()
            )
            == 3
        )
    report = staff.get(f"/notices/pushes/{push.id}").text
    assert "送达报告" in report and "等待发送" in report


def test_a_notice_to_nobody_is_not_sent(staff, engine):
    response = staff.post(
        "/notices/send",
        data={"csrf": token(staff), "text": "无人", "audience": "all", "action": "now"},
    )
    assert "目前没有人" in response.text
    with Session(engine) as session:
        assert session.exec(select(Notice)).all() == []


def test_scheduling_editing_and_cancelling_a_push(staff, engine):
    csrf = token(staff)
    response = staff.post(
        "/notices/send",
        data={
            "csrf": csrf,
            "text": "每周普法",
            "audience": "topic",
            "topic": "反诈",
            "action": "schedule",
            "when": "每周一 08:00",
        },
    )
    assert "已定时" in response.text
    with Session(engine) as session:
        schedule = session.exec(select(Schedule)).one()
        assert (schedule.kind, schedule.weekday, schedule.at_time) == ("weekly", 0, "08:00")
    staff.post(
        f"/notices/schedules/{schedule.id}",
        data={"csrf": csrf, "when": "每月1日 09:30", "text": "每月普法"},
    )
    with Session(engine) as session:
        schedule = session.get(Schedule, schedule.id)
        assert (schedule.kind, schedule.day_of_month) == ("monthly", 1)
        assert session.get(Notice, schedule.notice_id).text == "每月普法"
    staff.post(f"/notices/schedules/{schedule.id}/cancel", data={"csrf": csrf})
    with Session(engine) as session:
        assert session.get(Schedule, schedule.id).status == "cancelled"


def test_a_bad_time_phrase_gets_a_chinese_message_and_nothing_is_saved(staff, engine):
    response = staff.post(
        "/notices/send",
        data={
            "csrf": token(staff),
            "text": "x",
            "audience": "all",
            "action": "schedule",
            "when": "下辈子",
        },
    )
    assert "每周一 08:00" in response.text
    with Session(engine) as session:
        assert (
            session.exec(select(Notice)).all() == [] and session.exec(select(Schedule)).all() == []
        )


def test_an_uploaded_file_is_stored_under_the_data_dir_and_attached(staff, engine, settings):
    subscribers(engine, 1)
    csrf = token(staff)
    preview = staff.post(
        "/notices/preview",
        data={"csrf": csrf, "text": "见附件", "audience": "all"},
        files={"file": ("../../etc/讲座海报.png", b"\x89PNG fake", "image/png")},
    )
    stored = re.search(r'name="stored" value="([^"]+)"', preview.text).group(1)
    assert uploads.STORED_NAME.fullmatch(stored)
    staff.post(
        "/notices/send",
        data={
            "csrf": csrf,
            "text": "见附件",
            "audience": "all",
            "action": "now",
            "stored": stored,
            "original": "讲座海报.png",
        },
    )
    with Session(engine) as session:
        notice = session.exec(select(Notice)).one()
    path = notice.attachment["path"]
    assert path.startswith(str(uploads.folder(settings.database_url).resolve()))
    assert notice.attachment["filename"] == "讲座海报.png" and notice.attachment["kind"] == "image"


def test_a_forged_stored_file_name_cannot_reach_outside_the_uploads(staff, engine):
    subscribers(engine, 1)
    response = staff.post(
        "/notices/send",
        data={
            "csrf": token(staff),
            "text": "x",
            "audience": "all",
            "action": "now",
            "stored": "../../pufa.db",
            "original": "a",
        },
    )
    assert "附件信息无效" in response.text
    with Session(engine) as session:
        assert session.exec(select(Notice)).all() == []


def test_an_unsupported_upload_is_refused(staff, engine):
    response = staff.post(
        "/notices/preview",
        data={"csrf": token(staff), "text": "x", "audience": "all"},
        files={"file": ("run.exe", b"MZ", "application/octet-stream")},
    )
    assert "不支持这种文件" in response.text


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "json", "docx"])
def test_downloads_of_the_year(staff, fmt):
    response = staff.get(f"/stats/download?format={fmt}&year=2026")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    if fmt == "xlsx":
        workbook = load_workbook(io.BytesIO(response.content))
        assert "汇总" in workbook.sheetnames
    elif fmt == "json":
        assert json.loads(response.content)["period"]["label"] == "2026年"
    elif fmt == "csv":
        assert response.content.decode("utf-8-sig").splitlines()[0]
    else:
        assert response.content[:2] == b"PK"


def test_a_bad_period_or_format_is_refused_in_chinese(staff):
    assert staff.get("/stats/download?format=exe").status_code == 400
    bad = staff.get("/stats/download?format=xlsx&year=abc")
    assert bad.status_code == 400 and "年份" in bad.text
    assert "2026年第二季度" in staff.get("/stats?year=2026&scope=q2").text
    assert staff.get("/stats/chart.png?year=2026").content[:4] == b"\x89PNG"


def test_activities_add_edit_delete(staff, engine):
    csrf = token(staff)
    staff.post(
        "/activities",
        data={
            "csrf": csrf,
            "day": "2026-03-08",
            "kind": "lecture",
            "title": "妇女节普法讲座",
            "attendance": "60",
            "community": "东风里社区",
        },
    )
    with Session(engine) as session:
        activity = session.exec(select(Activity)).one()
    assert activity.attendance == 60
    staff.post(
        "/activities",
        data={
            "csrf": csrf, "day": "2026-03-10", "kind": "study", "title": "领导班子学法",
            "attendance": "18", "audience": "cadres", "materials": "40",
            "site": "东风里社区法治文化广场", "series": "大赵讲纪、小赵说法", "lecturer": "法律顾问",
        },
    )  # fmt: skip
    with Session(engine) as session:
        study = session.exec(select(Activity).where(Activity.title == "领导班子学法")).one()
        figures = stats.compute(session, periods.of_year(2026, ZoneInfo("Asia/Shanghai")))
    assert (study.audience, study.materials, study.site) == ("cadres", 40, "东风里社区法治文化广场")
    assert (study.series, study.lecturer) == ("大赵讲纪、小赵说法", "法律顾问")
    assert figures.summary["study_activities"] == 1 and figures.summary["materials"] == 40
    listed = staff.get("/activities?year=2026").text
    assert "机关干部" in listed and "大赵讲纪、小赵说法" in listed
    staff.post(f"/activities/{study.id}/delete", data={"csrf": csrf})
    staff.post(
        f"/activities/{activity.id}",
        data={
            "csrf": csrf,
            "day": "2026-03-09",
            "kind": "study",
            "title": "学法",
            "attendance": "61",
        },
    )
    with Session(engine) as session:
        assert session.get(Activity, activity.id).kind == "study"
    bad = staff.post(
        "/activities",
        data={"csrf": csrf, "day": "明年", "kind": "lecture", "title": "x", "attendance": "1"},
    )
    assert "日期" in bad.text
    staff.post(f"/activities/{activity.id}/delete", data={"csrf": csrf})
    with Session(engine) as session:
        assert session.exec(select(Activity)).all() == []


def test_excel_import_reports_row_by_row(staff, engine):
    book = Workbook()
    sheet = book.active
    sheet.append(["日期", "类型", "标题", "社区", "人数", "备注"])
    sheet.append(["2026-04-01", "普法宣讲", "反诈宣讲", "东风里社区", 40, ""])
    sheet.append(["不是日期", "普法宣讲", "坏行", "", 1, ""])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["2026-04-15", "学法活动", "学法日", "", "-3", ""])
    sheet.append(["2026-05-01", "巡回宣传", "巡回", "", 12, "广场"])
    data = io.BytesIO()
    book.save(data)
    response = staff.post(
        "/activities/import",
        data={"csrf": token(staff)},
        files={"file": ("活动.xlsx", data.getvalue(), "application/octet-stream")},
    )
    assert "2 / 4 行已登记" in response.text
    assert response.text.count("未导入") == 2
    with Session(engine) as session:
        assert sorted(a.title for a in session.exec(select(Activity))) == ["反诈宣讲", "巡回"]
    garbage = staff.post(
        "/activities/import",
        data={"csrf": token(staff)},
        files={"file": ("x.xlsx", b"nope", "application/octet-stream")},
    )
    assert "无法读取" in garbage.text


def test_the_kb_work_queue_and_reload(app, engine, staff):
    with Session(engine) as session:
        session.add(FaqQuestion(channel="console", question="宠物咬人谁负责<b>", status="none"))
        session.commit()
    page = staff.get("/kb").text
    assert "宠物咬人谁负责&lt;b&gt;" in page
    question_id = re.search(r"/kb/questions/(\d+)/done", page).group(1)
    staff.post(
        f"/kb/questions/{question_id}/done", data={"csrf": token(staff), "note": "新增 tort-099"}
    )
    assert "宠物咬人谁负责" not in staff.get("/kb").text
    with Session(engine) as session:
        assert (
            session.exec(select(WebAudit.detail).where(WebAudit.action == "faq_reviewed")).one()
            == "新增 tort-099"
        )
    assert "结婚" in staff.get("/kb?q=结婚").text
    admin = client_as(app, engine, "boss", "admin")
    assert "问答库已重新加载" in admin.post("/kb/reload", data={"csrf": token(admin)}).text


def test_admin_adds_an_account_whose_one_time_password_signs_in(app, engine):
    admin = client_as(app, engine, "boss", "admin")
    page = admin.post(
        "/admin/accounts", data={"csrf": token(admin), "name": "newclerk", "role": "staff"}
    ).text
    password = re.search(r'<code id="one-time">([^<]+)</code>', page).group(1)
    client = TestClient(app)
    assert sign_in(client, "newclerk", password).headers["location"] == "/account/password"
    audit = admin.get("/admin/audit").text
    assert "新建账号" in audit and "boss" in audit


def test_admin_grants_and_revokes_chat_roles(app, engine):
    admin = client_as(app, engine, "boss", "admin")
    csrf = token(admin)
    assert (
        "已将 telegram:42 设为法律顾问"
        in admin.post(
            "/admin/roles/grant", data={"csrf": csrf, "ref": "telegram:42", "role": "adviser"}
        ).text
    )
    assert (
        "已撤销"
        in admin.post("/admin/roles/revoke", data={"csrf": csrf, "ref": "telegram:42"}).text
    )
    assert (
        "PUFA_ADMINS"
        in admin.post(
            "/admin/roles/grant", data={"csrf": csrf, "ref": "telegram:1000", "role": "staff"}
        ).text
    )


def test_a_web_only_account_reads_its_delivery_reports_on_the_overview(staff, engine):
    from bot.services import publicity
    from bot.timeutil import utcnow

    subscribers(engine, 1)
    staff.post(
        "/notices/send",
        data={"csrf": token(staff), "text": "报告测试", "audience": "all", "action": "now"},
    )
    with Session(engine) as session:
        push = session.exec(select(Push)).one()
        for message in session.exec(
            select(OutboxMessage).where(OutboxMessage.source == f"push:{push.id}")
        ):
            message.status = "sent"
        publicity.complete_pushes(session, utcnow())
        session.commit()
    page = staff.get("/").text
    assert "送达报告" in page and "已送达：1" in page
    assert "送达报告" not in staff.get("/").text  # shown once, then delivered


def test_the_cli_creates_an_account_and_prints_its_one_time_password(
    monkeypatch, database_url, capsys, services
):
    from bot import cli

    monkeypatch.setenv("PUFA_DATABASE_URL", database_url)
    assert cli.main(["web", "user", "add", "desk", "--role", "staff"]) == 0
    password = re.search(r"一次性密码：(\S+)", capsys.readouterr().out).group(1)
    client = TestClient(app_for(services))
    assert sign_in(client, "desk", password).status_code == 303
    assert cli.main(["web", "user", "add", "desk", "--role", "staff"]) == 2
    assert "已经存在" in capsys.readouterr().err
    assert cli.main(["web", "user", "list"]) == 0
    assert "desk" in capsys.readouterr().out


def test_the_figures_cache_serves_fresh_figures_and_refreshes_old_ones_behind_the_page(
    engine, settings, monkeypatch, caplog
):
    from bot.services import periods, stats
    from bot.web.figures import FiguresCache

    clock = [0.0]
    cache = FiguresCache(engine, ttl=60, clock=lambda: clock[0])
    period = periods.of_year(2026, settings.zone)
    first = cache.stats(period)  # never asked for: computed in the request
    clock[0] = 59
    assert cache.stats(period) is first and not cache.is_stale(period)
    clock[0] = 61
    assert cache.stats(period) is first  # old, served at once while the worker computes
    cache.wait()
    second = cache.stats(period)
    assert second is not first and second.generated_at >= first.generated_at
    assert cache.chart(period)[:4] == b"\x89PNG"

    def broken(*_args, **_kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(stats, "compute", broken)
    clock[0] = 200
    assert cache.stats(period) is second  # a failed refresh keeps the last figures
    cache.wait()
    assert cache.stats(period) is second and "could not be refreshed" in caplog.text
    cache.close()


def test_warming_computes_the_overviews_periods_and_ttl_zero_turns_the_cache_off(engine, settings):
    from bot.services import periods
    from bot.web.figures import FiguresCache, overview_periods

    cache = FiguresCache(engine, ttl=60)
    cache.warm(settings.zone)
    cache.wait()
    for _, period in overview_periods(settings.zone):
        assert cache._peek(("stats", period.slug)) is not None
    cache.close()
    off = FiguresCache(engine, ttl=0)
    year = periods.of_year(2026, settings.zone)
    assert off.stats(year) is not off.stats(year)
    off.close()


def test_a_failure_inside_a_page_gets_a_chinese_message_and_is_logged(
    services, engine, monkeypatch, caplog
):
    from bot.web.routes import kb

    def broken(page):
        raise RuntimeError("boom")

    monkeypatch.setattr(kb, "ROUTES", [("/kb", kb.STAFF, broken, ["GET"])])
    app = app_for(services)
    client = client_as(app, engine, "clerk", "staff")
    failing = TestClient(app, raise_server_exceptions=False, cookies=client.cookies)
    response = failing.get("/kb")
    assert response.status_code == 500 and "系统出错了" in response.text
    assert "GET /kb failed" in caplog.text


def test_bot_run_serves_the_console_beside_the_channels_when_enabled(tmp_path, database_url):
    """`python bot.py run` with PUFA_WEB_ENABLED and no chat channel: the sign-in page answers."""
    import httpx

    from bot.testing.processes import free_port, wait_until_listening

    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    environment.update(
        PUFA_DATABASE_URL=database_url, PUFA_WEB_ENABLED="true", PUFA_WEB_PORT=str(port)
    )
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bot.py"), "run"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_listening(process, port)
        page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=30)
        assert page.status_code == 200 and "登录" in page.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
