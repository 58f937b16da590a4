"""The adviser's pages on the web console: the work log, the litigation register with its
reminders and quarterly report, and walk-in consultations — each driven through the HTTP
forms and read back from the tables, the statistics and the files people file."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select

from bot.models import (
    Case,
    LedgerEvent,
    LegalHistory,
    LitigationCase,
    LitigationReminder,
    OutboxMessage,
    User,
    WebAudit,
    WorkEntry,
)
from bot.services import legal_stats, litigation, periods
from bot.testing.legal import counts
from bot.testing.web import app_for, client_as, token


@pytest.fixture
def app(services):
    return app_for(services)


@pytest.fixture
def lawyer(app, engine):
    """An adviser account linked to a chat identity (reminders reach it in the chat)."""
    return client_as(app, engine, "lawyer", "adviser", link="console:lawyer")


def rows(engine, model) -> list:
    with Session(engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


def xlsx(header: list[str], lines: list[list]) -> bytes:
    book = Workbook()
    book.active.append(header)
    for line in lines:
        book.active.append(line)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


# --- 顾问工作 ---------------------------------------------------------------------------------
def test_work_log_add_edit_delete_counts_in_the_years_figures(lawyer, engine, settings):
    csrf = token(lawyer)
    before = counts(engine)
    refused = lawyer.post(
        "/work", data={"csrf": csrf, "day": "2026-03-02", "kind": "contract", "title": "物业合同"}
    )
    assert refused.status_code == 400 and "合同审查修改需要填写委托部门" in refused.text
    assert counts(engine) == before and 'value="物业合同"' in refused.text  # kept for a retry
    lawyer.post(
        "/work",
        data={"csrf": csrf, "day": "2026-03-02", "kind": "contract", "title": "物业服务合同",
              "department": "城管科", "count": "3"},
    )  # fmt: skip
    lawyer.post(
        "/work",
        data={"csrf": csrf, "day": "2026-04-10", "kind": "review", "title": "占道经营处罚",
              "decision_number": "津和平执罚〔2026〕12号", "opinion": "amend", "count": "9"},
    )  # fmt: skip
    contract, review = rows(engine, WorkEntry)
    assert (contract.count, contract.department) == (3, "城管科")
    assert (review.count, review.opinion, review.decision_number) == (
        1,
        "amend",
        "津和平执罚〔2026〕12号",
    )
    page = lawyer.get("/work?year=2026").text
    assert "物业服务合同" in page and "修改后同意" in page and "文稿 3 份" in page

    edit = {"csrf": csrf, "day": "2026-03-02", "kind": "contract", "title": "物业服务合同",
            "department": "城管科", "count": "5"}  # fmt: skip
    assert "已修改" in lawyer.post(f"/work/{contract.id}", data=edit).text
    assert "新值与原值相同" in lawyer.post(f"/work/{contract.id}", data=edit).text
    history = lawyer.get(f"/work/{contract.id}").text
    assert "数量：3 → 5" in history and "console:lawyer" in history
    year = periods.of_year(2026, settings.zone)
    with Session(engine) as session:
        figures = legal_stats.compute(session, year).summary
    assert (figures["contract_docs"], figures["reviews"], figures["reviews_amend"]) == (5, 1, 1)

    lawyer.post(f"/work/{review.id}/delete", data={"csrf": csrf})
    assert [e.id for e in rows(engine, WorkEntry)] == [contract.id]
    with Session(engine) as session:
        figures = legal_stats.compute(session, year).summary
        actions = session.exec(select(LegalHistory.action).order_by(LegalHistory.id)).all()
        kinds = session.exec(select(LedgerEvent.kind).order_by(LedgerEvent.id)).all()
        audited = session.exec(
            select(WebAudit.action).where(WebAudit.action != "login").order_by(WebAudit.id)
        ).all()
    assert figures["reviews"] == 0
    assert actions == ["add", "add", "edit", "delete"]
    assert kinds == ["work_added", "work_added", "work_updated", "work_deleted"]
    assert audited == ["work_added", "work_added", "work_updated", "work_deleted"]
    assert "没有这条工作记录" in lawyer.get("/work/999").text


def test_work_import_saves_nothing_until_every_row_is_good(lawyer, engine):
    header = ["日期", "类型", "事项", "部门/对象", "数量"]
    bad = xlsx(header, [["2026-05-01", "合同", "租赁合同", "综合办", 2],
                        ["2026-05-02", "飞行", "？", "", 1]])  # fmt: skip
    response = lawyer.post(
        "/work/import", data={"csrf": token(lawyer)},
        files={"file": ("台账.xlsx", bad, "application/octet-stream")},
    )  # fmt: skip
    assert "没有导入" in response.text and "第 3 行" in response.text
    assert rows(engine, WorkEntry) == []
    good = xlsx(header, [["2026-05-01", "合同", "租赁合同", "综合办", 2],
                         ["2026-05-02", "培训", "民法典培训", "", 40]])  # fmt: skip
    response = lawyer.post(
        "/work/import", data={"csrf": token(lawyer)},
        files={"file": ("台账.xlsx", good, "application/octet-stream")},
    )  # fmt: skip
    assert "导入完成：2 条工作记录" in response.text
    assert [(e.kind, e.count) for e in rows(engine, WorkEntry)] == [
        ("contract", 2),
        ("training", 40),
    ]
    garbage = lawyer.post(
        "/work/import", data={"csrf": token(lawyer)},
        files={"file": ("坏.xlsx", b"not a workbook", "application/octet-stream")},
    )  # fmt: skip
    assert "无法读取“坏.xlsx”" in garbage.text and "upload" not in garbage.text


# --- 诉讼登记 ---------------------------------------------------------------------------------
CASE = {
    "kind": "administrative",
    "number": "（2026）津0101行初7号",
    "body": "和平区人民法院",
    "parties": "李某诉某街道办事处",
    "our_role": "defendant",
    "cause": "行政强制拆除",
    "amount": "12,000.50",
    "filed_on": "2026-07-03",
    "stage": "filed",
    "community": "东风里社区",
}


def test_litigation_register_hearing_reminder_close_and_quarterly_report(
    lawyer, engine, settings, harness
):
    csrf = token(lawyer)
    wrong = lawyer.post("/litigation", data={"csrf": csrf, **CASE, "our_role": "applicant"})
    assert wrong.status_code == 400 and "行政诉讼中我方身份应为" in wrong.text
    assert rows(engine, LitigationCase) == []
    with Session(engine) as session:
        person = session.exec(select(User).where(User.external_id == "lawyer")).one()
    page = lawyer.post("/litigation", data={"csrf": csrf, **CASE, "responsible": f"#{person.id}"})
    assert "已登记" in page.text and "李某诉某街道办事处" in page.text
    (case,) = rows(engine, LitigationCase)
    assert (case.amount_fen, case.responsible_id) == (1200050, person.id)
    duplicate = lawyer.post("/litigation", data={"csrf": csrf, **CASE})
    assert "已登记（#1）" in duplicate.text and len(rows(engine, LitigationCase)) == 1

    zone = settings.zone
    hearing = (
        (datetime.now(UTC) + timedelta(days=10))
        .astimezone(zone)
        .replace(hour=9, minute=30, second=0, microsecond=0)
    )
    told = lawyer.post(
        f"/litigation/{case.id}/dates",
        data={"csrf": csrf, "kind": "hearing", "day": hearing.date().isoformat(),
              "time": "09:30", "note": "第一次开庭"},
    )  # fmt: skip
    assert "已登记开庭" in told.text and "提前 2 次提醒" in told.text
    past = lawyer.post(
        f"/litigation/{case.id}/dates",
        data={"csrf": csrf, "kind": "hearing", "day": "2020-01-01", "time": "09:00"},
    )
    assert "已经过去" in past.text and len(rows(engine, LitigationReminder)) == 2
    week_before = hearing.astimezone(UTC) - timedelta(days=7) + timedelta(minutes=1)
    assert litigation.run_reminders(engine, zone, week_before) == 1
    (reminder,) = rows(engine, OutboxMessage)
    assert reminder.dedup_key.startswith("litigation-reminder:")
    delivered = "\n".join(r.text for r in harness.queued("lawyer"))
    assert "一周后" in delivered and "（2026）津0101行初7号" in delivered

    edited = lawyer.post(
        f"/litigation/{case.id}",
        data={"csrf": csrf, **CASE, "stage": "trial", "responsible": f"#{person.id}"},
    )
    assert "已修改" in edited.text and "阶段：立案 → 审理" in edited.text
    closed = lawyer.post(
        f"/litigation/{case.id}/close",
        data={"csrf": csrf, "closed_on": "2026-09-20", "outcome": "原告撤诉"},
    )
    assert "已结案" in closed.text
    case = rows(engine, LitigationCase)[0]
    assert (case.stage, case.outcome, str(case.closed_on)) == ("closed", "原告撤诉", "2026-09-20")

    report = lawyer.get("/litigation/report?year=2026&quarter=3&format=xlsx")
    assert report.status_code == 200 and "2026Q3" in report.headers["content-disposition"]
    book = load_workbook(io.BytesIO(report.content))
    cells = {str(c.value) for sheet in book for line in sheet.iter_rows() for c in line}
    assert "（2026）津0101行初7号" in cells and "原告撤诉" in cells
    docx = lawyer.get("/litigation/report?year=2026&quarter=3&format=docx")
    assert docx.content[:2] == b"PK"
    assert "季度应为 1 到 4" in lawyer.get("/litigation/report?year=2026&quarter=5").text
    assert lawyer.get("/litigation/report?year=2026&format=pdf").status_code == 400


def test_litigation_import_is_all_or_nothing(lawyer, engine):
    header = ["类型", "案号", "法院/复议机关", "当事人", "我方身份", "案由", "立案日期", "阶段"]
    line = ["民事诉讼", "（2026）津0101民初1号", "和平区人民法院", "王某诉街道", "被告", "合同纠纷",
            "2026-02-01", "审理"]  # fmt: skip
    bad = xlsx(header, [line, ["行政复议", "复字2号", "区政府", "赵某", "原告", "信息公开",
                               "2026-02-03", "立案"]])  # fmt: skip
    response = lawyer.post(
        "/litigation/import", data={"csrf": token(lawyer)},
        files={"file": ("诉讼.xlsx", bad, "application/octet-stream")},
    )  # fmt: skip
    assert "没有导入" in response.text and "第 3 行" in response.text
    assert rows(engine, LitigationCase) == []
    response = lawyer.post(
        "/litigation/import", data={"csrf": token(lawyer)},
        files={"file": ("诉讼.xlsx", xlsx(header, [line]), "application/octet-stream")},
    )  # fmt: skip
    assert "导入完成：1 条案件" in response.text
    assert [c.stage for c in rows(engine, LitigationCase)] == ["trial"]


# --- 窗口、电话咨询 ---------------------------------------------------------------------------
def test_a_walk_in_consultation_recorded_on_the_web_is_counted_and_queued(app, engine):
    clerk = client_as(app, engine, "clerk", "staff")
    csrf = token(clerk)
    bad = clerk.post(
        "/cases/walkin",
        data={"csrf": csrf, "channel": "walk_in", "community": "火星社区", "topic": "继承遗产",
              "summary": "父母房产如何继承"},
    )  # fmt: skip
    assert bad.status_code == 400 and "未知的社区" in bad.text and rows(engine, Case) == []
    answered = clerk.post(
        "/cases/walkin",
        data={"csrf": csrf, "channel": "walk_in", "community": "东风里社区", "topic": "继承遗产",
              "resident_name": "王阿姨", "summary": "父母房产如何继承",
              "answer": "先看有没有遗嘱；没有遗嘱的，配偶、子女、父母是第一顺序继承人。"},
    )  # fmt: skip
    assert "当场答复并办结" in answered.text
    waiting = clerk.post(
        "/cases/walkin",
        data={"csrf": csrf, "channel": "phone", "community": "其他", "topic": "借款债务",
              "summary": "朋友借钱三年不还怎么办"},
    )  # fmt: skip
    assert "待法律顾问答复" in waiting.text
    window, phone = rows(engine, Case)
    assert (window.channel, window.status, window.resident_name) == ("walk_in", "closed", "王阿姨")
    assert (phone.channel, phone.status) == ("phone", "new")
    queue = clerk.get("/cases").text
    assert phone.number in queue and window.number not in queue  # the open queue
    with Session(engine) as session:
        submitted = session.exec(
            select(LedgerEvent.channel).where(LedgerEvent.kind == "consult_submitted")
        ).all()
    assert sorted(submitted) == ["phone", "walk_in"]
    stats = clerk.get("/stats").text
    assert "窗口" in stats and "电话" in stats


@pytest.mark.parametrize(
    ("today", "expected"),
    [("2026-12-04", (2026, 3)), ("2026-01-05", (2025, 4)), ("2026-07-01", (2026, 2))],
)
def test_the_report_form_offers_the_quarter_that_has_just_ended(today, expected):
    from datetime import date

    from bot.web.routes.litigation import last_finished_quarter

    assert last_finished_quarter(date.fromisoformat(today)) == expected


# --- a case's pictures ------------------------------------------------------------------------
PICTURE = b"\xff\xd8\xff\xe0" + b"a resident's photo of the leaking ceiling" * 20


def _case_with_photos(engine, channel: str, refs: list[str]) -> str:
    from zoneinfo import ZoneInfo

    from bot.services import cases as consultations
    from bot.timeutil import utcnow

    with Session(engine) as session:
        user = User(channel=channel, external_id="resident-photo")
        session.add(user)
        session.flush()
        case = consultations.create_case(
            session, user, channel=channel, topic="物业管理", community="东风里社区",
            description="楼上漏水把我家天花板泡坏了，照片发给您看看", photos=refs, phone=None,
            consent_at=utcnow(), now=utcnow(), zone=ZoneInfo("Asia/Shanghai"),
        )  # fmt: skip
        session.commit()
        return case.number


def test_a_cases_telegram_photos_are_fetched_back_for_the_adviser(database_url, engine, faq_store):
    from bot.app import build
    from bot.config import Settings
    from bot.testing.fake_telegram import FakeBotAPI

    with FakeBotAPI() as fake:
        settings = Settings(
            database_url=database_url, telegram_token=fake.token, telegram_api_url=fake.url,
            _env_file=None,
        )  # fmt: skip
        services = build(settings, engine=engine, faq=faq_store, migrate=False)
        fake.files["photo-ceiling"] = PICTURE
        number = _case_with_photos(engine, "telegram", ["photo-ceiling", "photo-deleted"])
        client = client_as(app_for(services), engine, "lawyer", "adviser")
        page = client.get(f"/cases/{number}").text
        assert f'src="/cases/{number}/photos/0"' in page and f"/cases/{number}/photos/1" in page
        shown = client.get(f"/cases/{number}/photos/0")
        assert shown.status_code == 200 and shown.content == PICTURE
        assert shown.headers["content-type"] == "image/jpeg"
        assert shown.headers["x-content-type-options"] == "nosniff"
        gone = client.get(f"/cases/{number}/photos/1")
        assert gone.status_code == 502 and "可能已过期或被删除" in gone.text
        for index in ("2", "-1", "x", "99999"):
            assert client.get(f"/cases/{number}/photos/{index}").status_code == 404


def test_a_cases_wechat_photos_are_fetched_back_by_media_id(database_url, engine, faq_store):
    from bot.app import build
    from bot.testing.fake_wechat import FakeWeChatApi, wechat_settings

    with FakeWeChatApi() as fake:
        services = build(
            wechat_settings(database_url, fake.url, ["wechat:admin"]),
            engine=engine, faq=faq_store, migrate=False,
        )  # fmt: skip
        fake.media["MEDIA_CEILING"] = PICTURE
        number = _case_with_photos(engine, "wechat", ["MEDIA_CEILING", "MEDIA_EXPIRED"])
        client = client_as(app_for(services), engine, "lawyer", "adviser")
        shown = client.get(f"/cases/{number}/photos/0")
        assert shown.status_code == 200 and shown.content == PICTURE
        expired = client.get(f"/cases/{number}/photos/1")
        assert expired.status_code == 502 and "临时素材只保存 3 天" in expired.text


def test_photos_of_a_channel_without_a_source_are_listed_not_fetched(app, engine):
    number = _case_with_photos(engine, "console", ["console-photo-1"])
    client = client_as(app, engine, "lawyer", "adviser")
    page = client.get(f"/cases/{number}").text
    assert "console-photo-1" in page and "/photos/0" not in page
    assert client.get(f"/cases/{number}/photos/0").status_code == 404
