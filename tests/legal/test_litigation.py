"""The litigation and review register: `python bot.py litigation ...` (main()), its .xlsx
import, the chat commands, hearing reminders through the scheduler job and the real
delivery worker (a restart neither loses nor doubles one), and residents refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from openpyxl import load_workbook
from sqlmodel import Session, select

from bot.messages import Incoming
from bot.models import LegalHistory, LitigationCase, LitigationReminder, OutboxMessage
from bot.runtime.delivery import DeliveryWorker
from bot.scheduler import PublicityScheduler
from bot.services import litigation
from bot.services.litigation import IMPORT_LAYOUT
from bot.testing import Harness, texts
from bot.testing.delivery import FakeClock, FakeSender
from bot.testing.legal import counts, grant, sheet

ZONE_HOURS = 8  # Asia/Shanghai, the default PUFA_TIMEZONE


def add_case(cli, number="（2026）京0105民初123号", *extra: str) -> tuple[int, str, str]:
    return cli(
        "litigation", "add", "--type", "民事诉讼", "--number", number, "--body", "朝阳区人民法院",
        "--parties", "张某诉某街道办事处", "--role", "被告", "--cause", "合同纠纷",
        "--filed", "2026-07-03", *extra,
    )  # fmt: skip


def cases(engine) -> list[LitigationCase]:
    with Session(engine) as session:
        return list(session.exec(select(LitigationCase).order_by(LitigationCase.id)))


def local_text(moment: datetime) -> str:
    return (moment + timedelta(hours=ZONE_HOURS)).strftime("%Y-%m-%d %H:%M")


# --- CLI -------------------------------------------------------------------------------------
def test_register_add_edit_hearing_close_show_with_history(cli, harness: Harness, engine):
    grant(harness, "telegram:555", "adviser")
    code, out, _ = add_case(cli, "（2026）京0105民初123号", "--amount", "12,345.6",
                            "--community", "华阳里社区", "--responsible", "telegram:555")  # fmt: skip
    assert (
        code == 0
        and "#1 民事诉讼 （2026）京0105民初123号 · 立案 · 合同纠纷（我方被告） · 协助华阳里社区"
        in out
    )
    assert cases(engine)[0].amount_fen == 1234560
    assert litigation.amount_yuan(cases(engine)[0].amount_fen) == Decimal("12345.60")
    assert cli("litigation", "edit", "1", "--stage", "审理")[0] == 0
    hearing = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=20)
    code, out, _ = cli("litigation", "hearing", "1", "--at", local_text(hearing))
    assert code == 0 and "提前 7 天、提前 1 天" in out
    code, out, _ = cli("litigation", "close", "（2026）京0105民初123号", "--date", "2026-09-20",
                       "--outcome", "驳回原告诉讼请求")  # fmt: skip
    assert code == 0 and "结案" in out
    code, out, _ = cli("litigation", "show", "1")
    assert "标的额：12,345.60 元" in out and "结案：2026-09-20" in out
    assert f"开庭：{local_text(hearing)}" in out and "变更记录" in out
    assert "cli 修改 阶段：立案 → 审理" in out and "cli 结案 阶段：审理 → 结案" in out
    with Session(engine) as session:
        rows = session.exec(select(LegalHistory).order_by(LegalHistory.id)).all()
    assert [r.action for r in rows] == ["add", "edit", "hearing", "close"]
    assert rows[1].changes == {"stage": ["filed", "trial"]}
    assert rows[3].changes["outcome"] == [None, "驳回原告诉讼请求"]
    assert "共 1 件" in cli("litigation", "list")[1]
    assert "没有登记的案件" in cli("litigation", "list", "--open")[1]


def test_bad_register_input_is_refused_with_nothing_saved(cli, harness: Harness, engine):
    harness.say("someone", "你好")  # a resident
    assert add_case(cli)[0] == 0
    before = counts(engine)
    checks = [
        (add_case(cli, "（2026）京0105民初123号"), "已登记（#1）"),
        (add_case(cli, "X1", "--amount", "十万"), "标的额应为金额"),
        (add_case(cli, "X2", "--amount", "1.234"), "最多两位小数"),
        (add_case(cli, "X3", "--responsible", "console:someone"), "不是法律顾问或工作人员"),
        (add_case(cli, "X4", "--responsible", "telegram:404"), "找不到用户"),
        (add_case(cli, "X5", "--stage", "结案"), "请给出结案日期"),
        (cli("litigation", "edit", "1", "--role", "申请人"), "民事诉讼中我方身份应为：原告、被告、第三人"),
        (cli("litigation", "close", "1", "--date", "2026-06-01", "--outcome", "撤诉"), "结案日期早于立案日期"),
        (cli("litigation", "hearing", "1", "--at", "2020-01-01 09:00"), "已经过去"),
        (cli("litigation", "hearing", "1", "--at", "2030-01-01 25:00"), "时间“2030-01-01 25:00”不对"),
        (cli("litigation", "show", "#9"), "没有找到案件“#9”"),
    ]  # fmt: skip
    for (code, _, err), message in checks:
        assert code == 2 and message in err, (message, err)
    assert counts(engine) == before


def test_import_checks_every_row_then_saves_cases_and_hearings(cli, harness, engine, tmp_path):
    grant(harness, "console:lawyer", "adviser")
    future = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d 09:30")
    row = ["民事诉讼", "（2026）京0105民初7号", "朝阳区人民法院", "李某诉街道", "被告", "侵权纠纷",
           "5000", "审理", "2026-07-10", f"2026-08-01 09:00；{future}", None, None, "华阳里社区",
           "console:lawyer", None]  # fmt: skip
    admin = ["行政诉讼", "（2026）京0105行初8号", "朝阳区人民法院", "王某诉街道", "被告",
             "行政强制", None, "立案", "2026-08-01", None, None, None, None, None, None]  # fmt: skip
    review = ["行政复议", "朝政复〔2026〕9号", "区人民政府", "赵某", "被告", "信息公开",
              None, "立案", "2026-08-05", None, None, None, None, None, None]  # fmt: skip
    bad = sheet(tmp_path / "bad.xlsx", list(IMPORT_LAYOUT), [row, admin, review, row])
    code, _, err = cli("litigation", "import", str(bad))
    assert code == 2
    assert "第 5 行：行政复议中我方身份应为：申请人、被申请人、第三人" in err
    assert "第 6 行：案号“（2026）京0105民初7号”与第 3 行重复" in err
    assert cases(engine) == []
    review[4] = "被申请人"
    good = sheet(tmp_path / "good.xlsx", list(IMPORT_LAYOUT), [row, admin, review])
    code, out, _ = cli("litigation", "import", str(good))
    assert code == 0 and "已导入 3 件" in out
    saved = cases(engine)
    assert [c.kind for c in saved] == ["civil", "administrative", "reconsideration"]
    assert saved[0].amount_fen == 500000 and saved[0].stage == "trial"
    with Session(engine) as session:
        reminders = session.exec(select(LitigationReminder)).all()
    assert sorted(r.days_before for r in reminders) == [1, 7]  # the past hearing has none


# --- reminders -------------------------------------------------------------------------------
async def test_hearing_reminder_is_delivered_once_across_a_restart(cli, harness, engine, settings):
    grant(harness, "telegram:555", "adviser")
    add_case(cli, "（2026）京0105民初1号", "--responsible", "telegram:555")
    hearing = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=10)
    assert (
        cli("litigation", "hearing", "1", "--at", local_text(hearing), "--note", "第一次开庭")[0]
        == 0
    )

    async def deliver(at: datetime) -> FakeSender:
        clock = FakeClock(at)
        sender = FakeSender(clock)
        worker = DeliveryWorker(engine, sender, clock=clock)
        await worker.drain()
        worker.close()
        return sender

    early = hearing - timedelta(days=8)
    scheduler = PublicityScheduler(engine, settings, clock=lambda: early)
    assert await scheduler.litigation_reminders() == 0
    week = hearing - timedelta(days=7) + timedelta(minutes=1)
    scheduler = PublicityScheduler(engine, settings, clock=lambda: week)  # a restart
    await scheduler.start(paused=True)  # the start picks the due reminder up
    scheduler.shutdown()
    sender = await deliver(week)
    assert [(c[1], "一周后" in c[2], "（2026）京0105民初1号" in c[2]) for c in sender.calls] == [
        ("555", True, True)
    ]
    again = PublicityScheduler(engine, settings, clock=lambda: week + timedelta(minutes=5))
    await again.start(paused=True)  # restart: nothing queued twice
    again.shutdown()
    assert await again.litigation_reminders() == 0
    assert (await deliver(week + timedelta(minutes=6))).calls == []
    day = hearing - timedelta(days=1) + timedelta(minutes=1)
    assert await PublicityScheduler(engine, settings, clock=lambda: day).litigation_reminders() == 1
    assert ["明天" in c[2] for c in (await deliver(day)).calls] == [True]
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(r.dedup_key, r.status) for r in rows] == [
        ("litigation-reminder:1", "sent"),
        ("litigation-reminder:2", "sent"),
    ]


def test_reminders_skip_closed_cases_and_revoked_people(cli, harness, engine, settings):
    grant(harness, "telegram:555", "adviser")
    add_case(cli, "A1", "--responsible", "telegram:555")
    add_case(cli, "A2", "--responsible", "telegram:555")
    hearing = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=10)
    cli("litigation", "hearing", "1", "--at", local_text(hearing))
    cli("litigation", "hearing", "2", "--at", local_text(hearing))
    cli("litigation", "close", "1", "--date", "2026-09-01", "--outcome", "撤诉")
    at = hearing - timedelta(days=7) + timedelta(minutes=1)
    assert litigation.run_reminders(engine, settings.zone, at) == 1
    harness.say("admin", "/revoke telegram:555")
    assert litigation.run_reminders(engine, settings.zone, hearing - timedelta(hours=23)) == 0
    with Session(engine) as session:
        statuses = sorted(r.status for r in session.exec(select(LitigationReminder)))
    assert statuses == ["queued", "skipped", "skipped", "skipped"]


# --- chat ------------------------------------------------------------------------------------
def test_chat_list_show_stage_and_hearing_for_the_responsible(cli, harness: Harness, engine):
    grant(harness, "console:lawyer", "adviser")
    grant(harness, "console:clerk", "staff")
    add_case(cli, "（2026）京0105民初5号", "--responsible", "console:lawyer")
    replies = harness.say("clerk", "/litigation")
    assert "全部案件 1 件" in texts(replies)
    shown = texts(harness.press("clerk", "#1", replies))
    assert "当事人：张某诉某街道办事处" in shown and "承办人：console:lawyer" in shown
    assert "只有这件案件的承办人" in texts(harness.say("clerk", "/litigation stage 1 审理"))
    assert "已修改" in texts(harness.say("lawyer", "/litigation stage 1 审理"))
    assert cases(engine)[0].stage == "trial"
    hearing = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)
    reply = texts(harness.say("lawyer", f"/litigation hearing 1 {local_text(hearing)} 证据交换"))
    assert "已登记开庭" in reply and "提前 1 天" in reply and "提前 7 天" not in reply
    assert "结案请用命令行" in texts(harness.say("lawyer", "/litigation stage 1 结案"))
    assert "未知的阶段" in texts(harness.say("lawyer", "/litigation stage 1 二审"))


def test_report_litigation_in_chat_sends_the_xlsx(cli, harness: Harness, tmp_path):
    grant(harness, "console:lawyer", "adviser")
    add_case(cli, "（2026）京0105民初6号", "--community", "华阳里社区")
    reply = harness.say("lawyer", "/report litigation 2026Q3")[0]
    assert reply.attachment is not None and reply.attachment.filename == "诉讼复议案件-2026Q3.xlsx"
    book = load_workbook(reply.attachment.path)
    listed = list(book["案件清单"].iter_rows(min_row=2, values_only=True))
    assert [row[2] for row in listed] == ["（2026）京0105民初6号"]
    word = harness.say("lawyer", "/report litigation 2026Q3 docx")[0]
    assert word.attachment.filename.endswith(".docx")
    assert "请给出一个季度" in texts(harness.say("lawyer", "/report litigation"))
    assert "无法识别的时间段" in texts(harness.say("lawyer", "/report litigation 2026Q9"))


def test_residents_are_refused_every_new_command_and_button(cli, harness: Harness, engine):
    add_case(cli, "（2026）京0105民初9号")
    harness.say("resident", "你好")
    before = counts(engine)
    commands = ["/work", "/work list", "/litigation", "/litigation list", "/litigation show 1",
                "/litigation stage 1 审理", "/litigation hearing 1 2030-01-01 09:00",
                "/report litigation 2026Q3"]  # fmt: skip
    for command in commands:
        replies = harness.say("resident", command)
        assert "只有" in texts(replies) and all(r.attachment is None for r in replies), command
    for payload in ("wk:k:contract", "wk:v:today", "wk:save", "wk:cancel", "lit:show:1"):
        incoming = Incoming(channel="console", user_id="resident", kind="button", payload=payload)
        replies = harness.services.dispatcher.handle(incoming)
        assert "只有法律顾问、工作人员和管理员" in texts(replies), payload
    assert counts(engine) == before
    assert cases(engine)[0].stage == "filed"


def test_a_deadline_reminder_names_the_deadline(cli, harness, engine, settings):
    grant(harness, "telegram:555", "staff")
    add_case(cli, "B1", "--responsible", "telegram:555")
    deadline = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=12)
    code, out, _ = cli("litigation", "hearing", "B1", "--at", local_text(deadline), "--deadline",
                       "--note", "上诉期届满")  # fmt: skip
    assert code == 0 and "已登记期限" in out
    assert litigation.run_reminders(engine, settings.zone, deadline - timedelta(days=6)) == 1
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert "一周后" in row.reply["text"] and "期限届满（上诉期届满）" in row.reply["text"]
