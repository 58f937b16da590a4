"""The console in a real headless Chromium: sign in (with the first-time password change),
send a notice and see it queued, answer a case and see the resident's console receive it,
download the year's xlsx, be refused an admin page; a screenshot of each page."""

from __future__ import annotations

import shutil
import time

import pytest
from openpyxl import load_workbook
from selenium.common.exceptions import NoAlertPresentException
from sqlmodel import Session, select

from bot.models import OutboxMessage, Push
from bot.testing.browser import CHROMEDRIVER, CHROMIUM, Browser, LiveServer, chromium
from bot.testing.web import (
    PASSWORD,
    XSS,
    app_for,
    case_row,
    make_account,
    resident_case,
    subscribers,
)

NEW_PASSWORD = "my own long password"


@pytest.fixture
def downloads(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(services, tmp_path, downloads):
    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), (
        "install chromium and chromium-driver"
    )
    with LiveServer(app_for(services)) as server:
        driver = chromium(tmp_path, downloads)
        try:
            yield Browser(driver, server.url, tmp_path / "screenshots")
        finally:
            driver.quit()


def test_staff_signs_in_changes_the_password_and_sends_a_notice(browser, engine):
    one_time = make_account(engine, "clerk", "staff", fresh=True)
    subscribers(engine, 4)
    browser.open("/login")
    browser.shot("login")
    browser.sign_in("clerk", one_time)
    browser.wait_for_text("请先设置自己的密码")
    browser.shot("password")
    browser.fill("old", one_time)
    browser.fill("new", NEW_PASSWORD)
    browser.fill("again", NEW_PASSWORD)
    browser.click("change")
    browser.wait_for_text("密码已修改")
    browser.shot("overview")
    browser.open("/notices")
    browser.wait_for_text("全部订阅者：4 人")  # the live recipient count
    browser.fill("text", "本周六上午九点，社区活动室举办民法典讲座。")
    browser.shot("notices")
    browser.click("preview")
    browser.wait_for_text("居民将收到")
    assert "📢 本周六上午九点" in browser.text()
    browser.shot("notice-preview")
    browser.click("send-now")
    browser.wait_for_text("已排入发送队列，共 4 人")
    browser.shot("notice-queued")
    assert "发送中" in browser.text()
    with Session(engine) as session:
        push = session.exec(select(Push)).one()
        assert push.recipients == 4
        assert (
            len(session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).all())
            == 4
        )
    browser.open(f"/notices/pushes/{push.id}")
    browser.wait_for_text("送达报告")
    browser.shot("push-report")


def test_an_adviser_answers_a_case_and_the_resident_receives_it(browser, engine, harness):
    number = resident_case(engine, description=XSS)
    make_account(engine, "lawyer", "adviser")
    browser.sign_in("lawyer", PASSWORD)
    browser.wait_for_text("概览")
    browser.open("/cases")
    browser.wait_for_text(number)
    browser.shot("cases")
    browser.open(f"/cases/{number}")
    browser.wait_for_text("<script>alert(1)</script>")  # shown as text, not run
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert.text  # noqa: B018
    browser.shot("case")
    browser.click("claim")
    browser.wait_for_text("已认领")
    browser.fill("reply-text", "您好，建议先与对方协商。\n协商不成可以向法院起诉。")
    browser.click("send-reply")
    browser.wait_for_text("答复已发送给居民")
    browser.shot("case-answered")
    browser.driver.set_window_size(390, 844)  # a phone
    browser.open("/cases")
    browser.shot("cases-phone")
    browser.driver.set_window_size(1280, 1000)
    assert case_row(engine, number).status == "answered"
    received = "\n".join(reply.text for reply in harness.queued("resident1"))
    assert "您好，建议先与对方协商。\n协商不成可以向法院起诉。" in received


def test_staff_downloads_the_years_xlsx(browser, engine, downloads):
    make_account(engine, "clerk", "staff")
    browser.sign_in("clerk", PASSWORD)
    browser.wait_for_text("概览")
    browser.open("/stats")
    browser.wait_for_text("统计与报表")
    browser.shot("stats")
    browser.click("download-xlsx")
    deadline = time.monotonic() + 20
    while not list(downloads.glob("*.xlsx")) and time.monotonic() < deadline:
        time.sleep(0.2)
    files = list(downloads.glob("*.xlsx"))
    assert files, "the xlsx was not downloaded"
    assert "汇总" in load_workbook(files[0]).sheetnames


def test_staff_is_refused_an_admin_page_and_an_admin_is_not(browser, engine):
    make_account(engine, "clerk", "staff")
    browser.sign_in("clerk", PASSWORD)
    browser.wait_for_text("概览")
    assert "用户与角色" not in browser.text()  # not offered in the menu either
    browser.open("/admin/accounts")
    browser.wait_for_text("没有权限")
    browser.shot("refused")
    for path, name in (("/activities", "activities"), ("/kb", "kb")):
        browser.open(path)
        browser.shot(name)
    browser.driver.delete_all_cookies()
    make_account(engine, "boss", "admin")
    browser.sign_in("boss", PASSWORD)
    browser.wait_for_text("概览")
    browser.open("/admin/accounts")
    browser.wait_for_text("后台账号")
    browser.shot("admin-accounts")
    browser.open("/admin/audit")
    browser.wait_for_text("操作记录")
    assert "登录" in browser.text()
    browser.shot("admin-audit")


def test_an_adviser_on_a_phone_logs_work_registers_a_case_and_a_walk_in(browser, engine):
    from bot.models import Case, LitigationCase, WorkEntry

    make_account(engine, "lawyer", "adviser")
    browser.driver.set_window_size(390, 844)  # the adviser is often on a phone
    browser.sign_in("lawyer", PASSWORD)
    browser.wait_for_text("概览")
    browser.open("/work")
    browser.wait_for_text("登记工作")
    assert not browser.visible("decision_number")  # only a legality review has one
    browser.choose("kind", "review")
    assert browser.visible("decision_number")
    browser.fill("day", "03/02/2026")  # Chromium's date field takes the locale's order
    browser.fill("title", "占道经营处罚决定")
    browser.fill("decision_number", "执罚〔2026〕3号")
    browser.choose("opinion", "agree")
    browser.shot("work-form-phone")
    browser.click("add-work")
    browser.wait_for_text("已登记")
    browser.shot("work-phone")
    browser.driver.set_window_size(1280, 1000)

    browser.open("/litigation")
    browser.wait_for_text("登记案件")
    browser.choose("lit-kind", "reconsideration")
    browser.fill("number", "津和复〔2026〕8号")
    browser.fill("body", "区人民政府")
    browser.fill("parties", "赵某申请复议")
    browser.choose("our_role", "respondent")
    browser.fill("cause", "政府信息公开")
    browser.fill("filed_on", "04/01/2026")
    browser.click("add-litigation")
    browser.wait_for_text("已登记")
    browser.shot("litigation-case")
    browser.open("/litigation")
    browser.shot("litigation")

    browser.open("/cases")
    browser.click("walkin-link")
    browser.wait_for_text("登记窗口、电话咨询")
    browser.choose("channel", "phone")
    browser.choose("community", "东风里社区")
    browser.choose("topic", "借款债务")
    browser.fill("summary", "借给邻居的钱一直不还，想问能不能起诉")
    browser.shot("walkin")
    browser.click("record-walkin")
    browser.wait_for_text("待法律顾问答复")
    with Session(engine) as session:
        entry = session.exec(select(WorkEntry)).one()
        case = session.exec(select(LitigationCase)).one()
        walk_in = session.exec(select(Case)).one()
    assert (entry.kind, str(entry.day), entry.opinion) == ("review", "2026-03-02", "agree")
    assert (case.kind, case.our_role, str(case.filed_on)) == (
        "reconsideration",
        "respondent",
        "2026-04-01",
    )
    assert (walk_in.channel, walk_in.community) == ("phone", "东风里社区")
