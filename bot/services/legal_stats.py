"""The legal-work figures: the adviser's work log and the litigation register, for
`stats`, the exports (json/csv/xlsx, breakdowns by month, quarter and type) and the
annual report's （三）强化合法性审核 / （四）强化应诉应议 — all from the same two tables,
so every figure can be traced to the rows behind it (`LegalFigures.sources`).

Work entries count by their local date. A case counts in a period when it was open at
some point of it (filed before the end, not closed before the start: "handled"); new,
closed and pending as in bot.services.litigation_report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session

from bot.models import LitigationCase, WorkEntry
from bot.services import litigation, worklog
from bot.services.litigation import CASE_TYPES
from bot.services.periods import Period
from bot.services.worklog import WORK_TYPES

# key → (label, what counts); work figures sum `count` ("docs") or count entries.
LEGAL_METRICS = {
    "contracts": "审查修改合同（项）",
    "contract_docs": "修改合同文稿（份）",
    "model_texts": "完善合同示范文本（份）",
    "opinions": "书面法律意见（件）",
    "opinion_items": "提出法律意见（条）",
    "meetings": "参加会议（次）",
    "meeting_opinions": "会议现场法律意见（条）",
    "reviews": "重大行政执法决定法制审核（件）",
    "reviews_agree": "审核同意（件）",
    "reviews_amend": "审核修改后同意（件）",
    "reviews_disagree": "审核不同意（件）",
    "trainings": "法治培训授课（次）",
    "training_attendance": "培训参训（人次）",
    "civil_cases": "办理民事诉讼（件）",
    "administrative_cases": "办理行政诉讼（件）",
    "reconsideration_cases": "办理行政复议（件）",
    "community_cases": "协助社区处理案件（件）",
    "new_cases": "新收案件（件）",
    "closed_cases": "办结案件（件）",
    "pending_cases": "期末未结案件（件）",
}
PERIOD_METRICS = ("contract_docs", "model_texts", "opinion_items", "meeting_opinions",
                  "reviews", "training_attendance", "new_cases", "closed_cases")  # fmt: skip
_WORK_SUMS = {
    "contract": ("contracts", "contract_docs"),
    "model_text": (None, "model_texts"),
    "opinion": ("opinions", "opinion_items"),
    "meeting": ("meetings", "meeting_opinions"),
    "review": ("reviews", None),
    "training": ("trainings", "training_attendance"),
}


@dataclass
class LegalBreakdown:
    key: str  # month | quarter | type
    title: str
    header: str
    metrics: tuple[str, ...]
    rows: list[tuple[str, dict[str, int]]]  # (label, {metric: value})


@dataclass
class LegalFigures:
    summary: dict[str, int]
    breakdowns: list[LegalBreakdown]
    sources: dict[str, list[dict]] = field(default_factory=dict)  # figure → rows behind it


def _add(figures: dict, sources: dict, key: str | None, amount: int, row: dict) -> None:
    if key is None:
        return
    figures[key] += amount
    sources[key].append(row)


def _work_part(entries: list[WorkEntry], figures: dict, sources: dict) -> None:
    for entry in entries:
        row = {"record": "工作台账", **worklog.as_row(entry)}
        items, units = _WORK_SUMS[entry.kind]
        _add(figures, sources, items, 1, row)
        _add(figures, sources, units, entry.count, row)
        if entry.kind == "review":
            _add(figures, sources, f"reviews_{entry.opinion}", 1, row)


def _case_part(session, cases: list[LitigationCase], period: Period, figures, sources) -> None:
    for case in cases:
        row = {"record": "案件登记", **litigation.as_row(session, case, period.zone)}
        _add(figures, sources, f"{case.kind}_cases", 1, row)
        if case.community:
            _add(figures, sources, "community_cases", 1, row)
        if period.start <= case.filed_on < period.end:
            _add(figures, sources, "new_cases", 1, row)
        closed = case.closed_on is not None and case.closed_on < period.end
        if closed and case.closed_on >= period.start:
            _add(figures, sources, "closed_cases", 1, row)
        if not closed:
            _add(figures, sources, "pending_cases", 1, row)


def _figures(session: Session, period: Period, with_sources: bool = False):
    figures = dict.fromkeys(LEGAL_METRICS, 0)
    sources: dict[str, list[dict]] = {key: [] for key in LEGAL_METRICS}
    _work_part(worklog.in_period(session, period), figures, sources)
    _case_part(session, litigation.active_in(session, period), period, figures, sources)
    return (figures, sources) if with_sources else figures


def _sub_periods(period: Period, key: str) -> list[tuple[str, Period]]:
    from bot.services.periods import date_range, of_quarter

    if key == "month":
        return [(m.label, date_range(m.start, m.end - _DAY, period.zone)) for m in period.months()]
    quarters = []
    for year in range(period.start.year, period.last_day.year + 1):
        for number in range(1, 5):
            q = of_quarter(year, number, period.zone)
            start, end = max(q.start, period.start), min(q.end, period.end)
            if start < end:
                quarters.append((q.label, date_range(start, end - _DAY, period.zone)))
    return quarters


def _by_period(session: Session, period: Period, key: str) -> LegalBreakdown:
    rows = []
    for label, part in _sub_periods(period, key):
        figures = _figures(session, part)
        rows.append((label, {m: figures[m] for m in PERIOD_METRICS}))
    title = {"month": "法律事务按月", "quarter": "法律事务按季度"}[key]
    header = {"month": "月份", "quarter": "季度"}[key]
    return LegalBreakdown(key, title, header, PERIOD_METRICS, rows)


def _by_type(session: Session, period: Period) -> LegalBreakdown:
    rows = []
    entries = worklog.in_period(session, period)
    for key, kind in WORK_TYPES.items():
        mine = [e for e in entries if e.kind == key]
        rows.append((kind.label, {"records": len(mine), "amount": sum(e.count for e in mine)}))
    cases = litigation.active_in(session, period)
    for key, label in CASE_TYPES.items():
        mine = [c for c in cases if c.kind == key]
        rows.append((label, {"records": len(mine), "amount": len(mine)}))
    return LegalBreakdown("type", "法律事务按类型", "类型", ("records", "amount"), rows)


TYPE_METRIC_LABELS = {"records": "记录数（项/件）", "amount": "数量（份/条/人/件）"}
_DAY = timedelta(days=1)


def compute(session: Session, period: Period) -> LegalFigures:
    figures, sources = _figures(session, period, with_sources=True)
    breakdowns = [
        _by_period(session, period, "month"),
        _by_period(session, period, "quarter"),
        _by_type(session, period),
    ]
    return LegalFigures(figures, breakdowns, sources)


def label(metric: str) -> str:
    return LEGAL_METRICS.get(metric) or TYPE_METRIC_LABELS[metric]


def summary_lines(legal: LegalFigures) -> list[str]:
    s = legal.summary
    return [
        f"合法性审核：审查修改合同 {s['contracts']} 项（文稿 {s['contract_docs']} 份），完善示范文本 "
        f"{s['model_texts']} 份，书面法律意见 {s['opinions']} 件（{s['opinion_items']} 条），参会 "
        f"{s['meetings']} 次（现场意见 {s['meeting_opinions']} 条），重大执法决定法制审核 {s['reviews']} 件，"
        f"培训 {s['trainings']} 次（{s['training_attendance']} 人次）",
        f"应诉应议：民事诉讼 {s['civil_cases']} 件，行政诉讼 {s['administrative_cases']} 件，行政复议 "
        f"{s['reconsideration_cases']} 件，协助社区 {s['community_cases']} 件；新收 {s['new_cases']} 件，"
        f"办结 {s['closed_cases']} 件，期末未结 {s['pending_cases']} 件",
    ]
