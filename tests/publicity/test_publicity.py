"""Publicity through the console harness: subscriptions, audiences, composing and sending a
notice, schedules and campaigns from chat, the 每日一条民法典 picks, and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from bot import observances
from bot.cli import main as cli_main
from bot.messages import Incoming
from bot.models import Notice, OutboxMessage, Push, Schedule, Subscriber
from bot.services import publicity, users
from bot.services.publicity import Audience
from bot.testing import Harness, texts
from bot.testing.factories import ledger_rows, resident, staff
from bot.timeutil import as_utc, utcnow

TOPICS = ["民法典", "宪法", "反诈", "平安建设", "妇女儿童权益"]


# --- helpers shared by the publicity, scheduler and delivery tests --------------------------
def button(harness: Harness, user: str, payload: str) -> list:
    """Press a button by payload (also a stale or forged one)."""
    incoming = Incoming(channel="console", user_id=user, kind="button", payload=payload)
    return harness.services.dispatcher.handle(incoming)


def media(harness: Harness, user: str, kind: str, media_ref: str) -> list:
    incoming = Incoming(channel="console", user_id=user, kind=kind, media_ref=media_ref)
    return harness.services.dispatcher.handle(incoming)


def outbox_rows(engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


# --- subscriptions -------------------------------------------------------------------------------
def test_subscribe_and_unsubscribe_each_take_one_step(harness: Harness, engine):
    reply = harness.say("alice", "/subscribe")[0]
    assert "已订阅" in reply.text and "民法典" in reply.text
    assert any("退订" in b.label for b in reply.buttons)
    assert "已经订阅" in texts(harness.say("alice", "订阅"))
    assert "已退订" in texts(harness.say("alice", "退订"))
    assert "没有订阅" in texts(harness.say("alice", "/unsubscribe"))
    with Session(engine) as session:
        alice = users.find(session, "console", "alice")
        assert session.get(Subscriber, alice.id).active is False
    assert len(ledger_rows(engine, "subscribe")) == 1
    assert len(ledger_rows(engine, "unsubscribe")) == 1
    assert ledger_rows(engine, "subscribe")[0].channel == "console"


def test_first_contact_offers_subscription_and_the_menu_button_subscribes(harness: Harness, engine):
    welcome = harness.say("bob", "/start")
    assert "/subscribe" in welcome[0].text
    reply = harness.press("bob", "订阅", welcome)
    assert "已订阅" in texts(reply)
    with Session(engine) as session:
        assert publicity.is_subscribed(session, users.find(session, "console", "bob"))


def test_residents_choose_topics_community_and_the_daily_series(harness: Harness, engine):
    settings_reply = harness.say("carol", "/subscribe")
    topics = harness.press("carol", "选择主题", settings_reply)
    assert "✅ 宪法" in [b.label for b in topics[0].buttons]
    toggled = harness.press("carol", "宪法", topics)
    assert "已取消“宪法”" in toggled[0].text and "⬜ 宪法" in [b.label for b in toggled[0].buttons]
    shown = harness.press("carol", "完成", toggled)
    communities = harness.press("carol", "选择社区", shown)
    chosen = harness.press("carol", "平阳里社区", communities)
    assert "社区已设为平阳里社区" in chosen[0].text
    daily = harness.press("carol", "开启每日一条民法典", chosen)
    assert "每日一条民法典：已开启" in daily[0].text
    with Session(engine) as session:
        carol = users.find(session, "console", "carol")
        assert carol.community == "平阳里社区"
        assert publicity.user_topics(session, carol) == sorted(set(TOPICS) - {"宪法"})
        assert publicity.subscriber(session, carol).daily is True
    topic_rows = [r for r in ledger_rows(engine, "unsubscribe") if r.topic == "宪法"]
    assert len(topic_rows) == 1 and topic_rows[0].community is None  # recorded before the choice
    daily_rows = [
        r for r in ledger_rows(engine, "subscribe") if r.topic == publicity.DAILY_LEDGER_TOPIC
    ]
    assert daily_rows[0].community == "平阳里社区"


def test_subscription_buttons_of_a_non_subscriber_and_stale_ones(harness: Harness):
    assert "还没有订阅" in texts(button(harness, "dan", "sub:topics"))
    harness.say("dan", "/subscribe")
    assert "失效" in texts(button(harness, "dan", "sub:t:99"))
    assert "失效" in texts(button(harness, "dan", "sub:bogus"))


# --- audience selection ----------------------------------------------------------------------
def test_audience_selection_all_topic_community_daily(engine, settings):
    a = resident(engine, "a", community="东风里社区", daily=True)
    b = resident(engine, "b", topics=["反诈"], community="平阳里社区")
    c = resident(engine, "c", topics=[], community="东风里社区")
    resident(engine, "gone", active=False, community="东风里社区")
    blocked = resident(engine, "blocked", community="东风里社区", unreachable=True)
    t = resident(engine, "t1", channel="telegram", topics=["宪法"], community="东风里社区")
    with Session(engine) as session:
        everyone = publicity.recipients(session, Audience("all"))
        assert [uid for uid, _ in everyone] == [a, b, c, t]
        assert (t, "telegram") in everyone
        assert [u for u, _ in publicity.recipients(session, Audience("topic", "反诈"))] == [a, b]
        assert [u for u, _ in publicity.recipients(session, Audience("topic", "宪法"))] == [a, t]
        in_dongfeng = publicity.recipients(session, Audience("community", "东风里社区"))
        assert [u for u, _ in in_dongfeng] == [a, c, t]
        assert [u for u, _ in publicity.recipients(session, Audience("daily"))] == [a]
        assert publicity.count_audience(session, Audience("community", "东风里社区")) == (3, 1)
        assert blocked not in [u for u, _ in everyone]
    assert Audience("topic", "星座").problem(settings) is not None
    assert Audience("community", "火星社区").problem(settings) is not None
    assert Audience("topic", "反诈").problem(settings) is None


# --- composing and sending from chat ---------------------------------------------------------------
def test_staff_compose_preview_and_send_residents_get_exactly_the_preview(harness: Harness, engine):
    resident(engine, "r1", topics=["反诈"])
    resident(engine, "r2", topics=["宪法"])
    staff(engine)
    first = harness.say("clerk", "/notice")
    assert "通知的文字内容" in texts(first)
    audience = harness.say("clerk", "近期冒充客服退款的诈骗多发，请勿向陌生人转账。")
    by_topic = harness.press("clerk", "按主题", audience)
    preview = harness.press("clerk", "反诈", by_topic)
    assert "现有 1 人" in preview[1].text and "订阅“反诈”主题的居民" in preview[1].text
    sent = harness.press("clerk", "立即发送", preview)
    assert "共 1 人" in texts(sent)
    assert harness.queued("r1") == [preview[0]]  # exactly what the preview showed
    assert harness.queued("r2") == []
    published = ledger_rows(engine, "notice_published")
    assert [(r.topic, r.channel, r.value) for r in published] == [("反诈", "console", 1.0)]
    pushes = [r for r in ledger_rows(engine, "out_push") if r.ref and r.ref.startswith("push:")]
    assert len(pushes) == 1 and pushes[0].topic == "反诈"


def test_notice_with_inline_text_community_audience_and_edit(harness: Harness, engine):
    resident(engine, "r1", community="华阳里社区")
    resident(engine, "r2", community="东风里社区")
    staff(engine)
    audience = harness.say("clerk", "/notice 周六上午华阳里社区有义务法律咨询。")
    communities = harness.press("clerk", "按社区", audience)
    preview = harness.press("clerk", "华阳里社区", communities)
    edit = harness.press("clerk", "修改内容", preview)
    assert "新的通知内容" in texts(edit)
    preview = harness.say("clerk", "周日上午华阳里社区有义务法律咨询。")
    assert "周日上午" in preview[0].text and "华阳里社区的订阅者" in preview[1].text
    harness.press("clerk", "立即发送", preview)
    assert [r.text for r in harness.queued("r1")] == [preview[0].text]
    assert harness.queued("r2") == []


def test_notice_flow_bad_input_is_explained_and_nothing_is_lost(harness: Harness, engine, tmp_path):
    staff(engine)
    harness.say("clerk", "/notice")
    photo = media(harness, "clerk", "image", "no-such-file-id")
    assert "先发送通知的文字内容" in texts(photo)
    audience = harness.say("clerk", "第一段内容")
    assert "请点选发送对象" in texts(harness.say("clerk", "随便说点什么"))
    not_local = media(harness, "clerk", "image", "telegram-file-id")
    assert "不能直接用作通知附件" in texts(not_local)
    picture = tmp_path / "poster.png"
    picture.write_bytes(b"\x89PNG fake")
    attached = media(harness, "clerk", "image", str(picture))
    assert "已附加：poster.png" in texts(attached)
    preview = harness.press("clerk", "全部订阅者", audience)
    assert preview[0].attachment is not None and preview[0].attachment.path == str(picture)
    empty = harness.press("clerk", "立即发送", preview)
    assert "目前没有人" in texts(empty)
    assert "已取消" in texts(harness.say("clerk", "取消"))
    assert "失效" in texts(button(harness, "clerk", "nt:send"))
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Notice)).one() == 0


def test_residents_cannot_publish(harness: Harness, engine):
    assert "工作人员可以使用" in texts(harness.say("mallory", "/notice 假通知"))
    assert "只有工作人员" in texts(button(harness, "mallory", "nt:send"))
    assert "只有工作人员" in texts(button(harness, "mallory", "sch:cancel:1"))
    assert "工作人员可以使用" in texts(harness.say("mallory", "/campaign 0315"))
    assert outbox_rows(engine) == []


# --- schedules from chat ---------------------------------------------------------------------
def _scheduled(harness: Harness, when: str) -> list:
    harness.say("clerk", "/notice 本月普法讲座改到周五。")
    preview = button(harness, "clerk", "nt:aud:all")
    asked = harness.press("clerk", "定时发送", preview)
    assert "时间的写法" in texts(asked)
    return harness.say("clerk", when)


def test_schedule_list_edit_and_cancel_from_chat(harness: Harness, engine, settings):
    staff(engine)
    bad = _scheduled(harness, "下辈子")
    assert "看不懂" in texts(bad) and "时间的写法" in texts(bad)
    done = harness.say("clerk", "每周一 08:30")
    assert "已定时" in texts(done) and "每周一 08:30" in texts(done)
    listing = harness.say("clerk", "/schedules")
    assert "每周一 08:30" in texts(listing) and "全部订阅者" in texts(listing)
    edit = harness.press("clerk", "修改 #", listing)
    ask = harness.press("clerk", "修改时间", edit)
    assert "新时间" in texts(ask)
    assert "看不懂" in texts(harness.say("clerk", "马上"))
    changed = harness.say("clerk", "每月31日 20:00")
    assert "每月31日 20:00" in texts(changed)
    ask_text = harness.press(
        "clerk", "修改内容", harness.press("clerk", "修改 #", harness.say("clerk", "/schedules"))
    )
    updated = harness.say("clerk", "讲座改到下周五晚上。")
    assert "讲座改到下周五晚上" in updated[0].text and ask_text
    with Session(engine) as session:
        row = session.exec(select(Schedule).where(Schedule.notice_id.is_not(None))).one()
        assert (row.kind, row.day_of_month, row.at_time) == ("monthly", 31, "20:00")
        local = as_utc(row.next_run_at).astimezone(settings.zone)
        assert (local.hour, local.minute) == (20, 0)
        schedule_id = row.id
    cancelled = harness.say("clerk", f"/schedules cancel {schedule_id}")
    assert f"已取消定时推送 #{schedule_id}" in texts(cancelled)
    assert "没有进行中的定时推送" in texts(harness.say("clerk", f"/schedules cancel {schedule_id}"))
    assert "用法" in texts(harness.say("clerk", "/schedules nonsense"))
    kinds = {r.kind for r in ledger_rows(engine, "notice_scheduled")} | {
        r.kind for r in ledger_rows(engine, "schedule_cancelled")
    }
    assert kinds == {"notice_scheduled", "schedule_cancelled"}


def test_a_one_time_schedule_in_the_past_is_refused(harness: Harness, engine):
    staff(engine)
    reply = _scheduled(harness, "2001-01-01 09:00")
    assert "已经过去了" in texts(reply)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Schedule)).one() == 0


# --- campaigns -------------------------------------------------------------------------------
def test_an_observance_day_becomes_a_scheduled_campaign_with_one_command(
    harness: Harness, engine, settings
):
    staff(engine)
    calendar = harness.say("clerk", "/campaign")
    assert "国家宪法日" in texts(calendar) and "国际消费者权益日" in texts(calendar)
    reply = harness.say("clerk", "/campaign 3·15")
    assert "12315" in reply[0].text and "已安排" in reply[1].text
    again = harness.press("clerk", "国际消费者权益日", calendar)
    assert "已经安排过了" in texts(again)
    assert "没有找到" in texts(harness.say("clerk", "/campaign 愚人节"))
    with Session(engine) as session:
        row = session.exec(select(Schedule).where(Schedule.campaign == "0315")).one()
        notice = session.get(Notice, row.notice_id)
        assert (notice.audience, notice.audience_value) == ("topic", "民法典")
        local = as_utc(row.next_run_at).astimezone(settings.zone)
        assert (local.month, local.day, local.hour) == (3, 15, 9)
        assert as_utc(row.next_run_at) > utcnow()


def test_observance_dates_are_found_by_key_date_or_name():
    assert observances.find("0315").name == "国际消费者权益日"
    assert observances.find("12·4").key == "1204"
    assert observances.find("5月").key == "0501"
    assert observances.find("禁毒").key == "0626"
    assert observances.find("2·30") is None
    now = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, after 09:00
    zone = observances.BY_KEY["0315"].next_time(now, schedules_zone())
    assert zone.year == 2027


def schedules_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_daily_series_is_shown_stopped_and_restarted_by_staff(harness: Harness, engine):
    staff(engine)
    resident(engine, "r1", daily=True)
    status = harness.say("clerk", "/campaign daily")
    assert "运行中" in texts(status) and "现有 1 人" in texts(status)
    stopped = harness.press("clerk", "停止", status)
    assert "已停止" in texts(stopped)
    started = harness.press("clerk", "开启", stopped)
    assert "运行中" in texts(started)
    with Session(engine) as session:
        series_id = session.exec(select(Schedule.id).where(Schedule.series.is_not(None))).one()
    edit = harness.say("clerk", f"/schedules edit {series_id}")
    assert [b.label for b in edit[0].buttons] == ["⏰ 修改时间"]  # a series has no fixed text
    assert "只能每天推送" in texts(harness.press("clerk", "修改时间", edit))
    assert "看不懂" in texts(harness.say("clerk", "每周一 08:00"))
    assert "每天 07:45" in texts(harness.say("clerk", "7点45"))


# --- 每日一条民法典 picks ------------------------------------------------------------------------
def test_daily_picks_do_not_repeat_within_a_year(engine, faq_store):
    entries = faq_store.kb.entries[:3]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    picked = []
    with Session(engine) as session:
        for day in range(3):
            notice = publicity.daily_notice(
                session,
                entries,
                author_id=None,
                now=start + timedelta(days=day),
                zone=schedules_zone(),
            )
            picked.append(notice.kb_entry)
            assert entries[[e.id for e in entries].index(notice.kb_entry)].question in notice.text
        assert sorted(picked) == sorted(e.id for e in entries)
        assert publicity.pick_daily_entry(session, entries, start + timedelta(days=200)) is None
        again = publicity.pick_daily_entry(session, entries, start + timedelta(days=366))
        assert again.id == picked[0]  # the one pushed longest ago, once a year has passed
        session.commit()


# --- the command line -------------------------------------------------------------------------
@pytest.fixture
def cli(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("PUFA_ADMINS", "PUFA_TIMEZONE", "PUFA_SUBSCRIPTION_TOPICS", "PUFA_COMMUNITIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUFA_DATABASE_URL", database_url)
    return cli_main


def test_cli_notice_send_schedule_list_and_cancel(cli, engine, capsys):
    resident(engine, "r1", topics=["宪法"])
    resident(engine, "r2", topics=["反诈"])
    clerk = staff(engine)
    assert (
        cli(["notice", "send", "--text", "宪法宣传周开始啦", "--topic", "宪法", "--dry-run"]) == 0
    )
    assert "现有 1 人" in capsys.readouterr().out and outbox_rows(engine) == []
    assert (
        cli(
            [
                "notice",
                "send",
                "--text",
                "宪法宣传周开始啦",
                "--topic",
                "宪法",
                "--author",
                clerk.ref,
            ]
        )
        == 0
    )
    assert "共 1 人" in capsys.readouterr().out
    assert [
        (r.user_id, r.reply["text"].startswith("📢 宪法宣传周")) for r in outbox_rows(engine)
    ] == [(1, True)]
    assert cli(["notice", "schedule", "--text", "每周提醒", "--when", "每周五 18:00"]) == 0
    assert "每周五 18:00" in capsys.readouterr().out
    assert cli(["notice", "list"]) == 0
    listing = capsys.readouterr().out
    assert "每周五 18:00" in listing and "共 1 人" in listing
    with Session(engine) as session:
        schedule_id = session.exec(select(Schedule.id)).one()
    assert cli(["notice", "cancel", str(schedule_id)]) == 0
    assert cli(["notice", "cancel", str(schedule_id)]) == 1
    capsys.readouterr()


def test_cli_bad_arguments_are_one_clear_line(cli, engine, capsys, tmp_path):
    assert cli(["notice", "send", "--text", "x", "--topic", "星座"]) == 2
    assert "没有“星座”这个主题" in capsys.readouterr().err
    assert cli(["notice", "send", "--text", "x", "--image", str(tmp_path / "none.png")]) == 2
    assert "找不到或无法读取附件" in capsys.readouterr().err
    assert cli(["notice", "schedule", "--text", "x", "--when", "昨天"]) == 2
    assert "时间的写法" in capsys.readouterr().err
    assert cli(["notice", "send", "--text", "x", "--author", "telegram:404"]) == 2
    assert "找不到用户" in capsys.readouterr().err
    assert cli(["notice", "send", "--text", "x"]) == 2
    assert "没有发送" in capsys.readouterr().err
    assert cli(["campaign", "add", "愚人节"]) == 2
    assert "没有找到宣传日" in capsys.readouterr().err
    assert outbox_rows(engine) == []


def test_cli_campaign_list_add_and_daily(cli, engine, capsys):
    assert cli(["campaign", "list"]) == 0
    assert "1204" in capsys.readouterr().out
    assert cli(["campaign", "add", "12·4", "--time", "10:30"]) == 0
    assert "已安排" in capsys.readouterr().out
    assert cli(["campaign", "add", "1204"]) == 0
    assert "已经安排过了" in capsys.readouterr().out
    assert cli(["campaign", "daily", "--time", "07:45"]) == 0
    assert "运行中，每天 07:45" in capsys.readouterr().out
    assert cli(["campaign", "daily", "--off"]) == 0
    assert "已停止" in capsys.readouterr().out
    with Session(engine) as session:
        row = session.exec(select(Schedule).where(Schedule.campaign == "1204")).one()
        assert (
            as_utc(row.next_run_at).astimezone(schedules_zone()).strftime("%m-%d %H:%M")
            == "12-04 10:30"
        )
        assert session.exec(select(func.count()).select_from(Push)).one() == 0
