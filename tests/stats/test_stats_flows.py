"""The statistics of a scripted day that went through the real paths: residents' messages
through the dispatcher (console and Telegram), staff publishing a notice in chat, the real
delivery worker sending it, a consultation through to the rating, an activity — then the
json, csv and xlsx exports and the docx/md report, made by the CLI, must state exactly what
happened. No ledger row is written by hand here: the expected figures are tallied from the
replies the users got (`Day`) and the fixed script."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import Session

from bot.messages import Incoming, Reply
from bot.runtime.delivery import DeliveryWorker
from bot.services import cases
from bot.services.periods import current_year
from bot.services.stats import METRICS
from bot.testing import texts
from bot.testing.delivery import FakeClock, FakeSender

STAFF = {"admin", "clerk", "lawyer"}
NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Day:
    """Users acting through the real dispatcher; every message in and every reply or
    push out is tallied as it happens, per channel."""

    def __init__(self, services) -> None:
        self.dispatcher = services.dispatcher
        self.inbound: Counter = Counter()
        self.replies: Counter = Counter()
        self.pushes: Counter = Counter()
        self.residents: set[tuple[str, str]] = set()

    def send(self, incoming: Incoming) -> list[Reply]:
        replies = self.dispatcher.handle(incoming)
        self.inbound[incoming.channel] += 1
        self.replies[incoming.channel] += len(replies)
        if incoming.user_id not in STAFF:
            self.residents.add((incoming.channel, incoming.user_id))
        return replies

    def say(self, user: str, text: str, channel: str = "console") -> list[Reply]:
        return self.send(
            Incoming(channel=channel, user_id=user, text=text, digit_buttons=channel == "console")
        )

    def press(
        self, user: str, label: str, replies: list[Reply], channel: str = "console"
    ) -> list[Reply]:
        for reply in replies:
            for button in reply.buttons:
                if label in button.label:
                    incoming = Incoming(
                        channel=channel,
                        user_id=user,
                        kind="button",
                        payload=button.payload,
                        text=button.label,
                    )
                    return self.send(incoming)
        offered = [b.label for r in replies for b in r.buttons]
        raise AssertionError(f"no button with {label!r}; offered: {offered}")

    def read(self, harness, user: str) -> list[Reply]:
        """A console user reads what was queued for them (each one a push delivered)."""
        queued = harness.queued(user)
        self.pushes["console"] += len(queued)
        return queued

    @property
    def messages_in(self) -> int:
        return sum(self.inbound.values())

    @property
    def messages_out(self) -> int:
        return sum(self.replies.values()) + sum(self.pushes.values())


def consult(day: Day, harness, user: str, *, topic: str, community: str, text: str) -> str:
    """A resident's consultation intake, step by step; returns the case number."""
    replies = day.press(user, "同意", day.say(user, "/consult"))
    replies = day.press(user, topic, replies)
    replies = day.press(user, community, replies)
    replies = day.press(user, "描述完毕", day.say(user, text))
    replies = day.press(user, "在这里回复", replies)
    replies = day.press(user, "确认提交", replies)
    number = cases.parse_number(texts(replies))
    assert number is not None, texts(replies)
    return number


async def scripted_day(harness, engine, run_cli) -> tuple[Day, dict]:
    """The day: questions of every status, browsing, feedback, two Telegram subscribers, a
    notice sent by the delivery worker, a consultation to its rating and close, a phone
    consultation recorded in chat and a walk-in one from the CLI, an activity.
    Returns the tally and the figures it must give."""
    day = Day(harness.services)
    day.say("admin", "/grant console:clerk staff")
    day.say("admin", "/grant console:lawyer adviser")

    # Two residents subscribe on Telegram.
    # Two residents subscribe on Telegram and are asked their community once: t1 answers,
    # t2 skips.
    for user, answer in (("t1", "华阳里社区"), ("t2", "跳过")):
        subscribed = day.say(user, "/subscribe", channel="telegram")
        assert "已订阅" in subscribed[0].text and "哪个社区" in subscribed[1].text
        day.press(user, answer, subscribed, channel="telegram")

    # Questions of every status, with feedback, a picked and a rejected suggestion.
    answered = day.say("alice", "离婚冷静期是多少天")
    assert "依据" in texts(answered)
    assert "谢谢" in texts(day.press("alice", "有帮助", answered))
    suggestions = day.say("bob", suggested_question(day.dispatcher.services.faq))
    assert suggestions[0].text.startswith("您是想问")
    picked = day.press("bob", suggestions[0].buttons[0].label, suggestions)
    assert "依据" in texts(picked)
    assert "没有把握" in texts(day.say("carol", "量子力学里的波函数坍缩是什么意思"))
    assert "12333" in texts(day.say("dan", "公司拖欠工资三个月了怎么办"))
    assert "普法助手" in texts(day.say("erin", "你好"))
    rejected = day.say("gus", suggested_question(day.dispatcher.services.faq, second=True))
    assert rejected[0].text.startswith("您是想问")
    assert "没有把握" in texts(day.press("gus", "都不是", rejected))
    # Browsing: book → topic → question → answer.
    books = day.press("fay", "浏览", day.say("fay", "/start"))
    topics = day.press("fay", "继承", books)
    questions = day.press("fay", topics[0].buttons[0].label, topics)
    assert "依据" in texts(day.press("fay", questions[0].buttons[0].label, questions))

    # A consultation: submitted, claimed, answered, rated, closed.
    number = consult(
        day, harness, "alice", topic="房产物业", community="东风里社区",
        text="楼上邻居装修把我家天花板弄漏水了，我该找谁赔偿？",
    )  # fmt: skip
    notified = day.read(harness, "lawyer")
    claimed = day.press("lawyer", "认领", notified)
    day.read(harness, "alice")  # "已由法律顾问受理"
    day.press("lawyer", "回复", claimed)
    done = day.say("lawyer", "可以要求楼上邻居赔偿维修费用，依据民法典第1165条。")
    answer = day.read(harness, "alice")
    assert "谢谢您的评价" in texts(day.press("alice", "满意", answer))
    confirm = day.press("lawyer", "结案", done)
    assert "已结案" in texts(day.press("lawyer", "确认结案", confirm))
    day.read(harness, "alice")  # "已结案"

    # The adviser records a phone consultation answered on the spot (in chat) …
    ways = day.say("lawyer", "/walkin")
    communities = day.press("lawyer", "电话", ways)
    topics = day.press("lawyer", "华阳里社区", communities)
    day.press("lawyer", "婚姻家庭", topics)
    day.say("lawyer", "询问协议离婚需要准备哪些材料")
    confirm = day.say("lawyer", "告知需双方带身份证、户口簿、结婚证和离婚协议到婚姻登记机关办理。")
    assert "已登记" in texts(day.press("lawyer", "保存", confirm))
    # … and the window a walk-in one left for the adviser (from the CLI).
    code, out, err = run_cli(
        "cases", "add", "--channel", "窗口", "--community", "平阳里社区", "--topic", "继承遗产",
        "--summary", "老人咨询遗嘱怎样写才有效",
    )  # fmt: skip
    assert code == 0 and "已登记" in out and "窗口" in out, err

    # Staff publish a notice to every subscriber; the delivery worker sends it.
    audience = day.say("clerk", "/notice 本周六上午在东风里社区开展民法典宣讲。")
    preview = day.press("clerk", "全部订阅者", audience)
    assert "共 2 人" in texts(day.press("clerk", "立即发送", preview))
    clock = FakeClock(datetime.now(UTC))
    sender = FakeSender(clock)
    await DeliveryWorker(engine, sender, clock=clock).drain()
    assert sorted(sender.delivered) == ["t1", "t2"]
    day.pushes["telegram"] += len(sender.delivered)
    assert "送达报告" in texts(day.read(harness, "clerk"))

    # Staff register an offline activity in chat.
    today = datetime.now(current_year(harness.services.settings.zone).zone).date()
    assert "活动日期" in texts(day.say("clerk", "/activity add"))
    kinds = day.say("clerk", today.isoformat())
    day.press("clerk", "普法宣讲", kinds)
    community = day.say("clerk", "民法典进社区")
    assert "主题" in texts(day.press("clerk", "平阳里社区", community))
    day.say("clerk", "民法典")
    notes = day.say("clerk", "120")
    confirm = day.press("clerk", "跳过", notes)
    assert "已登记" in texts(day.press("clerk", "保存", confirm))
    # … a cadres' study session from the CLI (学法用法, not public publicity) …
    code, out, err = run_cli(
        "activity", "add", "--date", today.isoformat(), "--type", "学法",
        "--title", "领导干部学习民法典", "--attendance", "35", "--audience", "机关干部",
        "--materials", "40", "--lecturer", "老法官志愿团",
    )  # fmt: skip
    assert code == 0, err
    # … and a touring event at a 法治文化阵地, in a series, imported from Excel.
    sheet = write_sheet(
        "import.xlsx",
        ["日期", "类型", "名称", "参与人数", "社区", "阵地", "系列栏目", "发放资料（份）"],
        [[today, "巡回宣传", "民法典广场宣传", 60, "东风里社区", "东风里社区法治文化广场",
          "大赵讲纪、小赵说法", 200]],
    )  # fmt: skip
    code, out, err = run_cli("activity", "import", str(sheet))
    assert code == 0 and "已导入 1 次活动" in out, err
    # Two items published through the office's other channels.
    for channel, title in (("微信公众号", "民法典小课堂：居住权"), ("宣传栏", "民法典宣传月海报")):
        code, out, err = run_cli(
            "publication", "add", "--date", today.isoformat(), "--channel", channel,
            "--title", title, "--topic", "民法典",
        )  # fmt: skip
        assert code == 0, err

    with Session(engine) as session:
        case = cases.get_case(session, number)
        hours = (case.first_answer_at - case.created_at).total_seconds() / 3600
    expected = {
        "residents": len(day.residents),
        "messages_in": day.messages_in,
        "messages_out": day.messages_out,
        "replies": sum(day.replies.values()),
        "questions": 5,  # answered, two suggestions, none, out of scope (not small talk)
        "answered": 1,
        "suggested": 2,
        "unanswered": 2,  # carol's, and gus rejecting the suggestions
        "out_of_scope": 1,
        "safety": 0,
        "chitchat": 1,
        "views": 2,  # bob's picked suggestion, fay's browsing
        "answers_shown": 3,
        "articles": 0,
        "helpful": 1,
        "unhelpful": 0,
        "consult_submitted": 3,
        "consult_in_person": 2,  # the phone call and the walk-in
        "consult_claimed": 1,
        "consult_answered": 2,  # online, and the phone call on the spot
        "consult_closed": 2,
        "consult_followup": 0,
        "consult_rated": 1,
        "median_answer_hours": round(hours, 2),  # nobody waited for the on-the-spot answer
        "notices": 1,
        "publications": 2,
        "items_published": 3,  # the bot's notice and the two registered items
        "deliveries": 2,
        "pushes": sum(day.pushes.values()),
        "push_failed": 0,
        "push_unreachable": 0,
        "subscribes": 2,
        "unsubscribes": 0,
        "subscribers": 2,
        "activities": 2,  # the lecture and the touring event (not the cadres' session)
        "attendance": 180,
        "materials": 240,
        "study_activities": 1,
        "study_attendance": 35,
    }
    assert len(day.residents) == 9  # alice bob carol dan erin fay gus t1 t2
    return day, expected


def write_sheet(path: str, headings: list[str], rows: list[list]) -> Path:
    """An .xlsx as staff would fill it in (generated here: no binaries in git)."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(headings)
    for row in rows:
        book.active.append(row)
    book.save(path)
    return Path(path)


def _paragraphs(path) -> str:
    return "\n".join(p.text for p in Document(str(path)).paragraphs)


async def test_a_scripted_day_gives_exactly_its_figures_in_every_output(
    harness, engine, cli, tmp_path
):
    day, expected = await scripted_day(harness, engine, cli)
    year = str(current_year(harness.services.settings.zone).start.year)

    # JSON: every figure of the summary, and the channel breakdown.
    assert cli("export", "--year", year, "--out", "day.json")[0] == 0
    data = json.loads((tmp_path / "day.json").read_text(encoding="utf-8"))
    assert data["summary"] == expected
    channels = {r["label"]: r["values"] for r in data["breakdowns"]["channel"]["rows"]}
    assert channels["Telegram"]["messages_in"] == day.inbound["telegram"]
    assert channels["控制台"]["messages_in"] == day.inbound["console"]
    assert channels["Telegram"]["deliveries"] == 2
    assert channels["线下活动"]["activities"] == 2
    assert channels["电话"]["consult_submitted"] == channels["窗口"]["consult_submitted"] == 1
    assert channels["控制台"]["consult_submitted"] == 1
    communities = {r["label"]: r["values"] for r in data["breakdowns"]["community"]["rows"]}
    assert communities["东风里社区"]["consult_submitted"] == 1
    assert communities["平阳里社区"]["attendance"] == 120
    assert communities["东风里社区"]["attendance"] == 60
    audiences = {r["label"]: r["values"] for r in data["breakdowns"]["audience"]["rows"]}
    assert audiences["机关干部"]["study_attendance"] == 35 and audiences["居民"]["activities"] == 2
    # Every resident's first message came before any community was known (t1 chose one
    # after subscribing, alice's came with her consultation): 未填写 is all of them.
    assert (
        communities["未填写"]["residents"] == 9
        and communities["未填写"]["residents_share"] == 100.0
    )
    assert communities["东风里社区"]["residents"] == 1  # alice, after her consultation
    assert communities["东风里社区"]["residents_share"] == 11.1
    sites = {r["label"]: r["values"] for r in data["breakdowns"]["site"]["rows"]}
    assert sites["东风里社区法治文化广场"]["materials"] == 200
    topics = {r["label"]: r["values"] for r in data["breakdowns"]["topic"]["rows"]}
    assert topics["房产物业"]["consult_submitted"] == 1

    # CSV: the summary lines carry the same figures.
    assert cli("export", "--year", year, "--out", "day.csv")[0] == 0
    with (tmp_path / "day.csv").open(encoding="utf-8-sig") as handle:
        rows = [r for r in csv.DictReader(handle) if r["分表"] == "汇总"]
    shown = {r["指标键"]: r["数值"] for r in rows}
    assert shown == {k: "" if v is None else str(v) for k, v in expected.items()}

    # XLSX: the summary sheet.
    assert cli("export", "--year", year, "--out", "day.xlsx")[0] == 0
    sheet = load_workbook(tmp_path / "day.xlsx")["汇总"]
    cells = {row[0]: row[1] for row in sheet.iter_rows(min_row=6, values_only=True) if row[0]}
    assert cells == {METRICS[k].label: v for k, v in expected.items()}

    # DOCX and Markdown: the sentences, and no figure that did not happen.
    assert cli("report", "--year", year, "--out", "day.docx")[0] == 0
    assert cli("report", "--year", year, "--out", "day.md")[0] == 0
    docx = _paragraphs(tmp_path / "day.docx")
    markdown = (tmp_path / "day.md").read_text(encoding="utf-8")
    e = expected
    for text in (docx, markdown):
        assert (
            f"解答群众《民法典》咨询3次，其中直接解答1次、群众浏览查看解答2次，服务群众9人，"
            f"共收到各类消息{e['messages_in']}条" in text
        )
        assert "“有帮助”评价1次、“没帮助”评价0次" in text
        assert "推送普法信息1条，覆盖2人次" in text and "订阅普法信息的群众2人" in text
        assert "开展线下普法活动2次，参与群众180人次" in text and "覆盖2个社区" in text
        assert "发放宣传资料240份" in text
        assert "依托东风里社区法治文化广场等1处法治文化阵地开展活动1次" in text
        assert "开展“大赵讲纪、小赵说法”1次" in text
        assert "组织机关干部和执法人员学法1次，参与35人次，其中机关干部学法1次（35人次）" in text
        assert (
            "全年累计发布普法学习宣传信息3条，其中普法助手推送1条，其他渠道发布2条"
            "（宣传栏1条、微信公众号1条）" in text
        )
        assert (
            "受理群众法律咨询3件，其中通过普法助手提交1件、窗口来访1件、电话咨询1件，"
            "法律顾问答复群众咨询2件，办结2件" in text
        )
        assert f"首次答复时间中位数为{e['median_answer_hours']:.1f}小时" in text
        assert "咨询主要集中在婚姻家庭（1件）、房产物业（1件）、继承遗产（1件）" in text
        assert "仍有2次提问未能解答、0次解答被群众评为“没帮助”，另有1次提问超出" in text
        assert "服务群众中有9人未填写所在社区（占100.0%）" in text
    body = docx.split("一、主要举措和成效", 1)[1].split("附", 1)[0]
    today = date.today()
    allowed = {str(v) for v in expected.values() if isinstance(v, int)}
    allowed |= {f"{e['median_answer_hours']:.1f}", str(today.year), str(today.month)}
    allowed |= {str(today.day), "5"}  # 5: （五）
    allowed |= {"120", "60", "100.0"}  # the lecture's and the touring event's attendance, by kind
    assert set(NUMBER.findall(body)) <= allowed, set(NUMBER.findall(body)) - allowed


VAGUE = (
    "我老公在外面借的钱，我也要一起还吗",
    "房子的事",
    "赔偿",
    "钱的问题",
    "租房合同问题",
    "邻居",
)


def suggested_question(faq, *, second: bool = False) -> str:
    """A vague question the FAQ answers with choices (whichever the knowledge base makes so)."""
    found = [q for q in VAGUE if faq.matcher.match(q).status == "suggest"]
    assert len(found) >= 2, "the vague questions no longer get suggestions"
    return found[1] if second else found[0]


@pytest.mark.parametrize("status", ["answered", "suggest", "none", "out_of_scope", "chitchat"])
def test_each_question_status_is_counted_once_where_it_belongs(harness, engine, status):
    """One question of each status, through the console: exactly one figure moves."""
    question = {
        "answered": "离婚冷静期是多少天",
        "suggest": suggested_question(harness.services.faq),
        "none": "量子力学里的波函数坍缩是什么意思",
        "out_of_scope": "公司拖欠工资三个月了怎么办",
        "chitchat": "你好",
    }[status]
    metric = {
        "answered": "answered",
        "suggest": "suggested",
        "none": "unanswered",
        "out_of_scope": "out_of_scope",
        "chitchat": "chitchat",
    }[status]
    harness.say("resident", question)
    from bot.services import stats

    with Session(engine) as session:
        summary = stats.compute(session, current_year(harness.services.settings.zone)).summary
    moved = {k for k in ("answered", "suggested", "unanswered", "out_of_scope", "chitchat")
             if summary[k]}  # fmt: skip
    assert moved == {metric}
    assert summary[metric] == 1
    assert summary["questions"] == (0 if status == "chitchat" else 1)
    assert (summary["residents"], summary["messages_in"], summary["replies"]) == (1, 1, 1)
