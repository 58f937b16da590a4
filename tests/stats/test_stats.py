"""Statistics against a generated ledger whose figures are computed independently
(bot/testing/stats_data.py), periods, and the time-zone edges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.models import LedgerEvent, User
from bot.services import periods, stats
from bot.services.periods import PeriodError
from bot.testing.stats_data import (
    ZONE,
    expected_rows,
    expected_summary,
    generate,
    insert,
)


def compare(figures: stats.Stats, data, first: date, end: date) -> None:
    assert figures.summary == expected_summary(data, first, end)
    for breakdown in figures.breakdowns:
        key = breakdown.dimension.key
        want = expected_rows(data, first, end, breakdown.dimension)
        got = {row.key: row.values for row in breakdown.rows}
        assert got == want, key
        assert len(got) == len(breakdown.rows), f"{key}: a group appears twice"


# --- periods ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "first", "end", "label"),
    [
        ("2026", date(2026, 1, 1), date(2027, 1, 1), "2026年"),
        ("2026Q3", date(2026, 7, 1), date(2026, 10, 1), "2026年第三季度"),
        ("2026q4", date(2026, 10, 1), date(2027, 1, 1), "2026年第四季度"),
        ("2026年第2季度", date(2026, 4, 1), date(2026, 7, 1), "2026年第二季度"),
        ("2026-05", date(2026, 5, 1), date(2026, 6, 1), "2026年5月"),
        ("2026年12月", date(2026, 12, 1), date(2027, 1, 1), "2026年12月"),
        ("2026-05-01..2026-05-31", date(2026, 5, 1), date(2026, 6, 1), None),
        ("2026/5/3 至 2026/6/2", date(2026, 5, 3), date(2026, 6, 3), None),
        ("2026-02-28", date(2026, 2, 28), date(2026, 3, 1), "2026年2月28日"),
    ],
)
def test_periods_are_parsed_into_local_days(text, first, end, label):
    period = periods.parse_period(text, ZONE)
    assert (period.start, period.end) == (first, end)
    if label:
        assert period.label == label
    # Local midnight in Beijing is 16:00 UTC the day before.
    assert period.start_utc == datetime(first.year, first.month, first.day, tzinfo=ZONE)
    assert period.start_utc.utcoffset() is not None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "没有给出时间段"),
        ("2026Q5", "无法识别的时间段"),
        ("2026-13", "月份应为 1 到 12"),
        ("26", "无法识别的时间段"),
        ("1999", "超出范围"),
        ("2026-02-30", "不存在"),
        ("2026-05-10..2026-05-01", "早于开始日期"),
        ("明年", "无法识别的时间段"),
    ],
)
def test_bad_periods_get_a_chinese_reason(text, reason):
    with pytest.raises(PeriodError, match=reason):
        periods.parse_period(text, ZONE)


def test_from_parts_checks_what_was_typed():
    assert periods.from_parts(ZONE, year="2026", quarter="3").slug == "2026Q3"
    assert periods.from_parts(ZONE, year="2026", month="5").slug == "2026-05"
    for kwargs, reason in (
        ({"year": None}, "--year"),
        ({"year": "二〇二六"}, "年份应为数字"),
        ({"year": "2026", "quarter": "5"}, "季度应为 1 到 4"),
        ({"year": "2026", "quarter": "1", "month": "2"}, "只能选一个"),
    ):
        with pytest.raises(PeriodError, match=reason):
            periods.from_parts(ZONE, **kwargs)


def test_months_are_clipped_to_a_range():
    period = periods.parse_period("2026-04-15..2026-06-10", ZONE)
    months = period.months()
    assert [m.key for m in months] == ["2026-04", "2026-05", "2026-06"]
    assert (months[0].start, months[-1].end) == (date(2026, 4, 15), date(2026, 6, 11))


# --- figures ---------------------------------------------------------------------------------
def test_statistics_equal_the_independently_computed_figures(engine):
    data = insert(engine, generate())
    cases = [
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-05", date(2026, 5, 1), date(2026, 6, 1)),
        ("2027", date(2027, 1, 1), date(2028, 1, 1)),
        ("2025-12-20..2026-02-10", date(2025, 12, 20), date(2026, 2, 11)),
    ]
    with Session(engine) as session:
        for text, first, end in cases:
            figures = stats.compute(session, periods.parse_period(text, ZONE))
            compare(figures, data, first, end)
            assert figures.summary["messages_in"] > 0, text  # the data covers every case


def test_a_period_without_events_is_all_zero(engine):
    with Session(engine) as session:
        figures = stats.compute(session, periods.parse_period("2030", ZONE))
    assert figures.summary["median_answer_hours"] is None
    assert all(v == 0 for k, v in figures.summary.items() if k != "median_answer_hours")
    month = figures.breakdown("month")
    assert [row.key for row in month.rows] == [f"2030-{m:02d}" for m in range(1, 13)]
    others = [b for b in figures.breakdowns if b.dimension.key not in ("month", "community")]
    assert all(b.rows == [] for b in others)
    (unset,) = figures.breakdown("community").rows  # 未填写 is always shown, even at 0
    assert unset.label == "未填写" and not any(unset.values.values())


def _record(session: Session, user: User, at: datetime, kind: str = "in_text") -> None:
    session.add(LedgerEvent(at=at, kind=kind, channel="console", user_id=user.id))


def test_period_edges_follow_the_configured_time_zone(engine):
    with Session(engine) as session:
        user = User(channel="console", external_id="edge")
        session.add(user)
        session.flush()
        _record(session, user, datetime(2026, 12, 31, 15, 30, tzinfo=UTC))  # 23:30 Beijing
        _record(session, user, datetime(2026, 12, 31, 16, 10, tzinfo=UTC))  # 2027-01-01 00:10
        _record(session, user, datetime(2026, 12, 31, 16, 10, tzinfo=UTC))
        session.commit()

        def messages(text: str) -> int:
            return stats.compute(session, periods.parse_period(text, ZONE)).summary["messages_in"]

        assert messages("2026") == 1
        assert messages("2026Q4") == 1
        assert messages("2026-12") == 1
        assert messages("2026-12-31") == 1
        assert messages("2027") == 2
        assert messages("2027Q1") == 2
        assert messages("2027-01-01") == 2
        december = stats.compute(session, periods.parse_period("2026", ZONE)).breakdown("month")
        assert december.rows[-1].key == "2026-12" and december.rows[-1].values["messages_in"] == 1
        # In UTC all three are on 2026-12-31: the zone is what decides.
        utc_year = periods.of_year(2026, ZoneInfo("UTC"))
        assert stats.compute(session, utc_year).summary["messages_in"] == 3


def test_subscribers_follow_the_latest_action_of_each_user(engine):
    with Session(engine) as session:
        people = [User(channel="console", external_id=f"s{i}") for i in range(3)]
        session.add_all(people)
        session.flush()
        a, b, c = people
        _record(session, a, datetime(2026, 1, 5, tzinfo=UTC), "subscribe")
        _record(session, a, datetime(2026, 3, 5, tzinfo=UTC), "subscribe")  # a second topic
        _record(session, b, datetime(2026, 1, 6, tzinfo=UTC), "subscribe")
        _record(session, b, datetime(2026, 2, 6, tzinfo=UTC), "unsubscribe")
        _record(session, c, datetime(2026, 1, 7, tzinfo=UTC), "subscribe")
        _record(session, c, datetime(2026, 2, 7, tzinfo=UTC), "unsubscribe")
        _record(session, c, datetime(2026, 4, 7, tzinfo=UTC), "subscribe")
        session.commit()
        figures = stats.compute(session, periods.parse_period("2026", ZONE))
    month = {row.key: row.values["subscribers"] for row in figures.breakdown("month").rows}
    assert (month["2026-01"], month["2026-02"], month["2026-03"], month["2026-04"]) == (3, 1, 1, 2)
    assert figures.summary["subscribers"] == 2
    assert (figures.summary["subscribes"], figures.summary["unsubscribes"]) == (5, 2)


@pytest.mark.parametrize(("values", "median"), [([5.0], 5.0), ([1.0, 9.0, 3.0, 4.0], 3.5)])
def test_median_time_to_first_answer(engine, values, median):
    with Session(engine) as session:
        user = User(channel="console", external_id="adviser")
        session.add(user)
        session.flush()
        for number, hours in enumerate(values):
            moment = datetime(2026, 6, 1 + number, tzinfo=UTC)
            session.add(
                LedgerEvent(at=moment, kind="consult_answered", channel="console", value=hours)
            )
        session.add(
            LedgerEvent(
                at=datetime(2026, 6, 9, tzinfo=UTC), kind="consult_answered", channel="console"
            )
        )
        session.commit()
        assert stats.median_answer_hours(session, periods.parse_period("2026", ZONE)) == median


def test_the_number_of_queries_does_not_grow_with_the_ledger(engine):
    """Figures come from aggregate queries: 50 or 2,500 events, the same statements run."""

    def statements_for(count: int, seed: int) -> int:
        insert(engine, generate(seed=seed, events=count, prefix=f"q{seed}-"))
        seen: list[str] = []

        def listen(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", listen)
        try:
            with Session(engine) as session:
                stats.compute(session, periods.parse_period("2026", ZONE), lists=False)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(seen)

    assert statements_for(50, 1) == statements_for(2500, 2)  # 50 rows, then 2,550 rows


def test_summary_text_carries_the_figures(engine):
    data = insert(engine, generate())
    with Session(engine) as session:
        figures = stats.compute(session, periods.parse_period("2026", ZONE), lists=False)
    expected = expected_summary(data, date(2026, 1, 1), date(2027, 1, 1))
    text = stats.summary_text(figures)
    assert f"服务群众 {expected['residents']} 人" in text
    assert f"直接解答 {expected['answered']} 次" in text
    assert (
        f"受理 {expected['consult_submitted']} 件（其中窗口、电话、热线 "
        f"{expected['consult_in_person']} 件）" in text
    )
    assert f"发放资料 {expected['materials']} 份" in text
    assert f"干部学法和执法培训 {expected['study_activities']} 次" in text
    assert f"累计发布普法信息 {expected['items_published']} 条" in text
    assert f"线下活动：{expected['activities']} 次，参与 {expected['attendance']} 人次" in text
    assert f"首次答复中位数 {expected['median_answer_hours']:.1f} 小时" in text
