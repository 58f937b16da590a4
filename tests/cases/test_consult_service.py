"""The consultations service: case numbers, the daily digest, anonymizing old cases, and
the office's `cases` command line."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from bot import cli
from bot.messages import Incoming
from bot.models import Case, CaseEvent, LedgerEvent, OutboxMessage, User
from bot.services import cases
from bot.testing import Harness, texts
from bot.testing.factories import DESCRIPTION, grant_adviser, submit
from bot.timeutil import utcnow

NOW = datetime(2026, 6, 10, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def resident(session: Session, name: str, channel: str = "console") -> User:
    user = User(channel=channel, external_id=name, display_name=f"居民{name}")
    session.add(user)
    session.flush()  # the session has written: create_case may open its savepoint
    return user


def make_case(
    session: Session,
    user: User,
    at: datetime,
    topic: str = "婚姻家庭",
    community: str = "东风里社区",
    zone=None,
) -> Case:
    return cases.create_case(
        session,
        user,
        channel=user.channel,
        topic=topic,
        community=community,
        description=DESCRIPTION,
        photos=["p-1"],
        phone="13812345678",
        consent_at=at,
        now=at,
        zone=zone or ZoneInfo("Asia/Shanghai"),
    )


# --- numbers ---------------------------------------------------------------------------------
def test_numbers_count_per_year_in_the_configured_time_zone(engine):
    with Session(engine, expire_on_commit=False) as session:
        user = resident(session, "a")
        late_2026 = make_case(session, user, datetime(2026, 12, 31, 15, 59, tzinfo=UTC))
        beijing_new_year = make_case(session, user, datetime(2026, 12, 31, 16, 1, tzinfo=UTC))
        next_one = make_case(session, user, datetime(2027, 1, 2, tzinfo=UTC))
        session.commit()
    assert late_2026.number == "ZS-2026-0001"
    assert beijing_new_year.number == "ZS-2027-0001"
    assert next_one.number == "ZS-2027-0002"


def test_a_number_taken_meanwhile_is_skipped_not_duplicated(engine, monkeypatch, caplog):
    """A concurrent submission took the number this one read: the unique constraint
    refuses it and the next number is used."""
    caplog.set_level(logging.INFO, logger=cases.__name__)
    with Session(engine, expire_on_commit=False) as session:
        user = resident(session, "a")
        make_case(session, user, NOW)
        session.commit()
    stale = iter([1])  # what a transaction that read before the first commit would see
    real = cases.next_seq
    monkeypatch.setattr(cases, "next_seq", lambda s, y: next(stale, None) or real(s, y))
    with Session(engine, expire_on_commit=False) as session:
        user = session.get(User, user.id)
        user.last_seen_at = NOW  # a write first, as in the dispatcher
        session.flush()
        second = make_case(session, user, NOW)
        session.commit()
    assert second.number == "ZS-2026-0002"
    assert "2026-1 taken concurrently" in caplog.text  # the constraint did refuse it
    with Session(engine) as session:
        numbers = session.exec(select(Case.number).order_by(Case.id)).all()
    assert numbers == ["ZS-2026-0001", "ZS-2026-0002"]


def test_concurrent_submissions_get_distinct_numbers(harness: Harness, engine):
    residents = [f"r{i}" for i in range(6)]
    summaries = {}
    for user in residents:
        replies = harness.press(user, "同意", harness.say(user, "/consult"))
        replies = harness.press(user, "其他", replies)
        replies = harness.press(user, "其他", replies)
        replies = harness.press(user, "描述完毕", harness.say(user, DESCRIPTION))
        summaries[user] = harness.press(user, "在这里回复", replies)
    answers: dict[str, str] = {}
    start = threading.Barrier(len(residents))

    def press_submit(user: str) -> None:
        start.wait()
        answers[user] = texts(harness.press(user, "确认提交", summaries[user]))

    threads = [threading.Thread(target=press_submit, args=(u,)) for u in residents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(cases.parse_number(answers[u]) for u in residents)
    assert numbers == [f"ZS-{numbers[0][3:7]}-{i:04d}" for i in range(1, 7)]


# --- the digest ---------------------------------------------------------------------------------
@pytest.fixture
def aged_cases(engine):
    """Cases of every kind the digest must tell apart, by number."""
    with Session(engine) as session:
        adviser = User(channel="console", external_id="lawyer", role="adviser")
        session.add(adviser)
        user = resident(session, "a")
        overdue_new = make_case(session, user, NOW - timedelta(hours=50))
        overdue_claimed = make_case(session, user, NOW - timedelta(hours=49), topic="继承遗产")
        cases.claim(session, overdue_claimed, adviser, NOW - timedelta(hours=40))
        recent = make_case(session, user, NOW - timedelta(hours=47))
        answered = make_case(session, user, NOW - timedelta(hours=100))
        cases.answer(session, answered, adviser, "答复", [], NOW - timedelta(hours=90))
        closed = make_case(session, user, NOW - timedelta(hours=100))
        cases.close(session, closed, adviser, NOW - timedelta(hours=99))
        followed_up = make_case(session, user, NOW - timedelta(hours=100))  # answered, asked again
        cases.answer(session, followed_up, adviser, "答复", [], NOW - timedelta(hours=95))
        cases.add_followup(session, followed_up, user, "追问", [], NOW - timedelta(hours=80))
        assert followed_up.status == "claimed"
        session.commit()
        return {
            "overdue": [overdue_new.number, overdue_claimed.number],
            "not": [recent.number, answered.number, closed.number, followed_up.number],
        }


def test_overdue_cases_are_exactly_the_unanswered_ones_past_the_sla(engine, aged_cases):
    with Session(engine) as session:
        found = cases.overdue_cases(session, NOW, 48)
        assert [c.number for c in found] == aged_cases["overdue"]
        text = cases.digest_text(session, found, NOW, ZoneInfo("Asia/Shanghai"), 48)
    for number in aged_cases["overdue"]:
        assert number in text
    for number in aged_cases["not"]:
        assert number not in text
    assert "2 件咨询超过 48 小时" in text and "已等待 2天2小时" in text and "未认领" in text


def test_the_daily_digest_is_queued_once_a_day_for_advisers(engine, settings, aged_cases):
    assert cases.send_daily_digest(engine, settings, NOW) == 1
    assert cases.send_daily_digest(engine, settings, NOW + timedelta(hours=1)) == 0  # same day
    with Session(engine) as session:
        digest = session.exec(
            select(OutboxMessage).where(OutboxMessage.source == "case_digest")
        ).one()
    queued = digest.reply["text"]
    assert all(n in queued for n in aged_cases["overdue"])
    assert not any(n in queued for n in aged_cases["not"])
    assert cases.send_daily_digest(engine, settings, NOW + timedelta(days=1)) == 1  # next day


def test_no_digest_when_nothing_is_overdue(engine, settings):
    with Session(engine) as session:
        make_case(session, resident(session, "a"), NOW - timedelta(hours=2))
        session.commit()
    assert cases.send_daily_digest(engine, settings, NOW) == 0


def test_the_digest_reaches_a_console_adviser(harness: Harness, engine, settings):
    grant_adviser(harness)
    number = submit(harness, "sam")
    harness.queued("lawyer")
    later = utcnow() + timedelta(hours=settings.case_sla_hours + 1)
    assert cases.send_daily_digest(engine, settings, later) == 1
    assert number in texts(harness.queued("lawyer"))


# --- purge ------------------------------------------------------------------------------------
def counts_by_topic(engine) -> dict:
    with Session(engine) as session:
        rows = session.exec(
            select(Case.topic, Case.community, func.count()).group_by(Case.topic, Case.community)
        )
        return {(t, c): n for t, c, n in rows.all()}


def ledger_count(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(LedgerEvent)).one()


def test_purge_anonymizes_old_closed_cases_and_keeps_the_counts(harness: Harness, engine):
    grant_adviser(harness)
    old = submit(harness, "tom", phone="13812345678")
    recent = submit(harness, "uma", topic="婚姻家庭")
    still_open = submit(harness, "tom", topic="继承遗产")
    for number in (old, recent):
        harness.press("lawyer", "回复", harness.say("lawyer", f"/case {number}"))
        harness.say("lawyer", "汤先生您好，建议您先协商。")
        harness.press(
            "lawyer",
            "确认结案",
            harness.press("lawyer", "结案", harness.say("lawyer", f"/case {number}")),
        )
    with Session(engine) as session:  # the first case was closed 400 days ago
        case = cases.get_case(session, old)
        case.closed_at = utcnow() - timedelta(days=400)
        session.commit()
    before_counts, before_ledger = counts_by_topic(engine), ledger_count(engine)

    with Session(engine) as session:
        purged = cases.purge(session, utcnow(), timedelta(days=365))
        session.commit()
    assert purged == [old]
    assert counts_by_topic(engine) == before_counts and ledger_count(engine) == before_ledger
    with Session(engine) as session:
        gone = cases.get_case(session, old)
        assert gone.description == cases.ANONYMIZED and gone.phone is None and gone.photos == []
        assert gone.resident_name is None and gone.user_id is None and gone.anonymized_at
        assert (gone.topic, gone.community, gone.status) == ("房产物业", "东风里社区", "closed")
        trail = session.exec(select(CaseEvent).where(CaseEvent.case_id == gone.id)).all()
        assert {e.body for e in trail if e.body} <= {cases.ANONYMIZED}
        assert len(trail) >= 4  # the history of what happened, without what was said
        notices = session.exec(
            select(OutboxMessage).where(OutboxMessage.source == f"case:{old}")
        ).all()
        assert notices and all(m.reply["text"] == cases.ANONYMIZED for m in notices)
        kept = cases.get_case(session, recent)
        assert kept.description == DESCRIPTION and kept.anonymized_at is None
        assert cases.get_case(session, still_open).description == DESCRIPTION
    mine = texts(harness.say("tom", "/mycases"))
    assert old not in mine and still_open in mine
    assert "已匿名化" in texts(harness.say("lawyer", f"/case {old}"))
    with Session(engine) as session:
        assert cases.purge(session, utcnow(), timedelta(days=365)) == []


# --- the command line ----------------------------------------------------------------------------
@pytest.fixture
def office(harness: Harness, monkeypatch, tmp_path, database_url):
    """Two cases, one answered and closed; the CLI pointed at the same database."""
    grant_adviser(harness)
    open_case = submit(harness, "vera", topic="婚姻家庭", phone="13811112222")
    closed_case = submit(harness, "will")
    harness.press("lawyer", "回复", harness.say("lawyer", f"/case {closed_case}"))
    harness.say("lawyer", "建议协商。")
    harness.press(
        "lawyer",
        "确认结案",
        harness.press("lawyer", "结案", harness.say("lawyer", f"/case {closed_case}")),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUFA_DATABASE_URL", database_url)
    return open_case, closed_case


def test_cases_list_and_show(office, capsys):
    open_case, closed_case = office
    assert cli.main(["cases", "list"]) == 0
    out = capsys.readouterr().out
    assert open_case in out and closed_case not in out and "共 1 件" in out
    assert cli.main(["cases", "list", "--status", "all", "--topic", "房产物业"]) == 0
    out = capsys.readouterr().out
    assert closed_case in out and open_case not in out
    assert cli.main(["cases", "show", closed_case.lower()]) == 0
    out = capsys.readouterr().out
    assert DESCRIPTION in out and "建议协商。" in out and "结案" in out
    assert cli.main(["cases", "show", "ZS-1999-0001"]) == 1
    assert "没有找到" in capsys.readouterr().err
    assert cli.main(["cases", "show", "abc"]) == 2


def test_cases_export_csv_and_json(office, capsys, tmp_path):
    open_case, closed_case = office
    assert cli.main(["cases", "export", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in rows] == [open_case, closed_case]
    assert rows[1]["status"] == "已结案" and rows[1]["hours_to_answer"] is not None
    assert "description" not in rows[0]  # no personal data unless asked for
    assert rows[0]["first_answer_at"] is None and rows[0]["closed_at"] is None

    target = tmp_path / "cases.csv"
    assert cli.main(["cases", "export", "--out", str(target), "--personal"]) == 0
    content = target.read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].startswith("编号,状态,主题,社区")
    assert "13811112222" in content and DESCRIPTION in content


def test_cases_purge_from_the_command_line(office, capsys, engine):
    open_case, closed_case = office
    with Session(engine) as session:
        cases.get_case(session, closed_case).closed_at = utcnow() - timedelta(days=366)
        session.commit()
    assert cli.main(["cases", "purge", "--older-than", "365d", "--dry-run"]) == 0
    assert closed_case in capsys.readouterr().out
    with Session(engine) as session:
        assert cases.get_case(session, closed_case).anonymized_at is None
    assert cli.main(["cases", "purge", "--older-than", "365d"]) == 0
    assert "已匿名化 1 件" in capsys.readouterr().out
    with Session(engine) as session:
        assert cases.get_case(session, closed_case).description == cases.ANONYMIZED
        assert cases.get_case(session, open_case).description == DESCRIPTION
    with pytest.raises(SystemExit) as stop:
        cli.main(["cases", "purge", "--older-than", "soon"])
    assert stop.value.code == 2 and "应为天数" in capsys.readouterr().err


def test_case_numbers_are_parsed_leniently():
    assert cases.parse_number("请看 zs-2026-42 这件") == "ZS-2026-0042"
    assert cases.parse_number("ZS－2026－0007") == "ZS-2026-0007"
    assert cases.parse_number("2026-0042") is None
    assert cases.normalize_phone("+86 138-1234-5678") == "13812345678"
    assert cases.normalize_phone("（022）23456789") == "02223456789"
    assert cases.normalize_phone("23456789") is None  # a landline needs its area code
    assert cases.normalize_phone("0755-1234567") == "0755-1234567"
    assert cases.normalize_phone("10012345678") is None


def test_a_telegram_resident_and_a_console_resident_are_different_people(harness: Harness):
    number = submit(harness, "xena")
    other = harness.services.dispatcher.handle(
        Incoming(channel="telegram", user_id="xena", text=f"/mycases {number}")
    )
    assert "没有找到您名下" in texts(other)
