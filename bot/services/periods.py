"""Reporting periods: "2026", "2026Q3", "2026-05", a date or a date range, cut at local
midnight in PUFA_TIMEZONE and turned into half-open UTC intervals [start, end).

The ledger stores aware UTC timestamps, so a period is compared as `start_utc <= at <
end_utc`; an event at 2026-12-31 23:30 Beijing time (15:30 UTC) therefore falls in 2026,
and one at 2027-01-01 00:10 (2026-12-31 16:10 UTC) in 2027. Month boundaries are
computed here too (`Period.months`), so statistics can bucket by local month on any
database and in any zone, daylight saving included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_RANGE_DAYS = 366 * 10
QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}

HELP = (
    "时间段可以写成：2026（全年）、2026Q3（季度）、2026-05（月份）、2026-05-01（某一天）"
    "或 2026-05-01..2026-05-31（日期范围，含首尾两天）"
)

_YEAR = re.compile(r"^(\d{4})年?$")
_QUARTER = re.compile(r"^(\d{4})(?:年)?\s*[-_ ]?\s*(?:[Qq]|第)\s*([1-4])\s*(?:季度?)?$")
_MONTH = re.compile(r"^(\d{4})(?:-|/|年)(\d{1,2})月?$")
_DATE = re.compile(r"^(\d{4})(?:-|/|年)(\d{1,2})(?:-|/|月)(\d{1,2})日?$")
_RANGE = re.compile(r"^(.+?)\s*(?:\.\.|~|～|至|到)\s*(.+)$")


class PeriodError(ValueError):
    """A period or date the user typed cannot be understood; the message is Chinese."""


@dataclass(frozen=True)
class Month:
    key: str  # "2026-05"
    label: str  # "2026年5月"
    start: date  # first local day inside the period
    end: date  # first local day after it (exclusive), clipped to the period


@dataclass(frozen=True)
class Period:
    kind: str  # year | quarter | month | range
    start: date  # first local day (inclusive)
    end: date  # local day after the last one (exclusive)
    zone: ZoneInfo
    label: str
    slug: str  # safe in file names: 2026, 2026Q3, 2026-05, 2026-05-01_2026-05-31

    @property
    def start_utc(self) -> datetime:
        return local_midnight_utc(self.start, self.zone)

    @property
    def end_utc(self) -> datetime:
        return local_midnight_utc(self.end, self.zone)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def months(self) -> list[Month]:
        """The calendar months the period touches, each clipped to the period."""
        months: list[Month] = []
        cursor = self.start
        while cursor < self.end:
            following = _first_of_next_month(cursor)
            months.append(
                Month(
                    key=f"{cursor.year}-{cursor.month:02d}",
                    label=f"{cursor.year}年{cursor.month}月",
                    start=cursor,
                    end=min(following, self.end),
                )
            )
            cursor = following
        return months

    def month_edges_utc(self) -> list[datetime]:
        """The UTC instants where each month after the first begins (bucket boundaries)."""
        return [local_midnight_utc(m.start, self.zone) for m in self.months()[1:]]


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _check_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"年份 {year} 超出范围（{MIN_YEAR}–{MAX_YEAR}）。")
    return year


def of_year(value: int, zone: ZoneInfo) -> Period:
    _check_year(value)
    return Period("year", date(value, 1, 1), date(value + 1, 1, 1), zone, f"{value}年", str(value))


def of_quarter(value: int, number: int, zone: ZoneInfo) -> Period:
    _check_year(value)
    if number not in QUARTER_NAMES:
        raise PeriodError(f"季度应为 1 到 4，收到的是“{number}”。")
    start = date(value, 3 * number - 2, 1)
    end = date(value + 1, 1, 1) if number == 4 else date(value, 3 * number + 1, 1)
    return Period(
        "quarter", start, end, zone, f"{value}年{QUARTER_NAMES[number]}", f"{value}Q{number}"
    )


def of_month(value: int, number: int, zone: ZoneInfo) -> Period:
    _check_year(value)
    if not 1 <= number <= 12:
        raise PeriodError(f"月份应为 1 到 12，收到的是“{number}”。")
    start = date(value, number, 1)
    return Period(
        "month",
        start,
        _first_of_next_month(start),
        zone,
        f"{value}年{number}月",
        f"{value}-{number:02d}",
    )


def date_range(first: date, last: date, zone: ZoneInfo) -> Period:
    """The days `first` to `last`, both included."""
    if last < first:
        raise PeriodError(f"结束日期 {last} 早于开始日期 {first}。")
    if (last - first).days > MAX_RANGE_DAYS:
        raise PeriodError("日期范围最长十年。")
    if first == last:
        label, slug = f"{first.year}年{first.month}月{first.day}日", first.isoformat()
    else:
        label = (
            f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"
        )
        slug = f"{first.isoformat()}_{last.isoformat()}"
    return Period("range", first, last + timedelta(days=1), zone, label, slug)


def parse_date(text: str) -> date:
    """2026-05-01, 2026/5/1 or 2026年5月1日."""
    found = _DATE.match(text.strip())
    if not found:
        raise PeriodError(f"无法识别的日期“{text.strip()[:40]}”，请写成 2026-05-01。")
    year_, month_, day_ = (int(part) for part in found.groups())
    _check_year(year_)
    try:
        return date(year_, month_, day_)
    except ValueError:
        raise PeriodError(f"日期“{text.strip()[:40]}”不存在，请检查月份和日期。") from None


def parse_period(text: str, zone: ZoneInfo) -> Period:
    """Parse what a user typed (see HELP); raise PeriodError with a Chinese reason."""
    cleaned = text.strip().replace("：", ":")
    if not cleaned:
        raise PeriodError(f"没有给出时间段。{HELP}。")
    if found := _YEAR.match(cleaned):
        return of_year(int(found.group(1)), zone)
    if found := _QUARTER.match(cleaned):
        return of_quarter(int(found.group(1)), int(found.group(2)), zone)
    if found := _MONTH.match(cleaned):
        return of_month(int(found.group(1)), int(found.group(2)), zone)
    if _DATE.match(cleaned):
        day = parse_date(cleaned)
        return date_range(day, day, zone)
    if found := _RANGE.match(cleaned):
        return date_range(parse_date(found.group(1)), parse_date(found.group(2)), zone)
    raise PeriodError(f"无法识别的时间段“{cleaned[:40]}”。{HELP}。")


def from_parts(
    zone: ZoneInfo,
    *,
    year: str | int | None,
    quarter: str | int | None = None,
    month: str | int | None = None,
) -> Period:
    """A period from --year/--quarter/--month options (given as typed, so a bad value
    gets a Chinese message rather than argparse's English one)."""
    value = _int_option(year, "年份")
    if value is None:
        raise PeriodError("请用 --year 给出年份，例如 --year 2026。")
    number_q = _int_option(quarter, "季度")
    number_m = _int_option(month, "月份")
    if number_q is not None and number_m is not None:
        raise PeriodError("--quarter 和 --month 只能选一个。")
    if number_q is not None:
        return of_quarter(value, number_q, zone)
    if number_m is not None:
        return of_month(value, number_m, zone)
    return of_year(value, zone)


def _int_option(value: str | int | None, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if not str(value).strip().isdigit():
        raise PeriodError(f"{name}应为数字，收到的是“{str(value)[:20]}”。")
    return int(str(value).strip())


def current_year(zone: ZoneInfo, now: datetime | None = None) -> Period:
    moment = (now or datetime.now(UTC)).astimezone(zone)
    return of_year(moment.year, zone)
