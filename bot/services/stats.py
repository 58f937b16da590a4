"""Statistics for any period, aggregated in SQL from the ledger and the activities table.

How the figures are computed
----------------------------
* The database does the counting, in three queries over the period's ledger rows:
  1. `SELECT month, channel, community, kind, COUNT(*), SUM(<rejected>), SUM(<publicity>)
     FROM ledger_events WHERE :start <= at < :end AND kind IN (...) GROUP BY month,
     channel, community, kind` — the summary and the month / channel / community
     breakdowns are sums of these groups (a few thousand result rows at most);
  2. the same GROUP BY topic, book, kind over the kinds that can carry a topic;
  3. distinct residents: the distinct (month, channel, community, user) of residents'
     inbound rows are collected once (a CTE) and `COUNT(DISTINCT user_id)` is taken
     over them four ways (all, per month, channel, community) in one UNION ALL.
  Python then adds up, per figure, the kinds that make it — it reads aggregated rows,
  never ledger rows. (A first version computed ~30 `SUM(CASE ...)` columns per row in
  one pass per breakdown; grouping by kind was 3x faster on SQLite, and plain columns as
  group keys let PostgreSQL estimate the groups and hash-aggregate instead of sorting.)
  Subscribers, the median and the activities add a few small indexed queries.
* Months are cut in PUFA_TIMEZONE without any time-zone support in the database: the UTC
  instants where each local month begins are computed in Python and the bucket is a
  `CASE WHEN at < :edge1 THEN 0 WHEN at < :edge2 THEN 1 ... END` over the stored UTC
  timestamps. This is the same SQL on SQLite and PostgreSQL and stays right in zones with
  daylight saving (the bound parameters are the same in SELECT and GROUP BY, which
  PostgreSQL requires).
* On SQLite a period covering much of the ledger is read with a table scan (`+at`), see
  `_prefer_scan`; PostgreSQL's planner chooses by itself.
* "Distinct residents served" (`residents`) counts distinct users with at least one
  inbound message in the period whose role in the users table is `resident` (their current
  role: staff, advisers and admins are left out; a resident later made staff drops out).
* "Questions" are FAQ questions that were answered, got suggestions, found nothing or were
  out of the Civil Code's scope; small talk (faq_chitchat) is counted apart, and the
  extra `faq_unanswered` row written when a resident rejects the suggestions
  (ref "suggest_rejected") is not a second question but does count as unanswered.
* "Answers" of the Civil Code (`answers_shown`) = answers given directly (faq_answered) +
  answers opened from browsing, suggestions or article look-up (faq_view).
* Subscribers at an instant come from the ledger, not from the publicity tables: users
  whose latest `subscribe`/`unsubscribe` event before that instant is a subscribe
  (a GROUP BY user_id over those two kinds).
* The median time to first answer is computed in SQL: count the `consult_answered` rows
  with a value, then read only the middle one or two values (ORDER BY value LIMIT/OFFSET).
* Publicity deliveries ("covering N person-times") are `out_push` rows whose ref (the
  outbox source) starts with one of ledger.Source.PUBLICITY_PREFIXES (push:<id>); all pushes, adviser answers
  included, are in messages out.
* Offline activities are counted from the `activities` table by their local date; those
  for the office's cadres or enforcement staff (audience) are 学法用法 (study_activities),
  not public publicity (activities). Items published through other channels come from the
  `publications` register; items_published = the bot's notices + those.
* The legal work (the adviser's work log and the litigation register, issue 15) is
  counted from its own tables by bot.services.legal_stats into `Stats.legal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlmodel import Session

from bot import ledger
from bot.ledger import Kind, Source
from bot.models import Activity, FaqQuestion, LedgerEvent, MatchStatus, Publication, User
from bot.services import legal_stats
from bot.services.activities import AUDIENCES, STUDY_AUDIENCES
from bot.services.activities import KINDS as ACTIVITY_KINDS
from bot.services.periods import Period, local_midnight_utc
from bot.timeutil import utcnow

RESIDENT_ROLE = "resident"
MAX_LISTED_GAPS = 5000
SCAN_SHARE = 0.25  # on SQLite, scan the ledger for periods covering more of its span
UNSET = "未填写"

CHANNEL_LABELS = {
    "telegram": "Telegram",
    "wechat": "微信",
    "console": "控制台",
    "cli": "命令行",
    "offline": "线下活动",
    # consultations recorded by staff (bot.services.walkin.CHANNELS)
    "walk_in": "窗口",
    "phone": "电话",
    "hotline": "热线",
}
IN_PERSON_CHANNELS = ("walk_in", "phone", "hotline")

FAQ_QUESTION_KINDS = (
    Kind.FAQ_ANSWERED,
    Kind.FAQ_SUGGESTED,
    Kind.FAQ_UNANSWERED,
    Kind.FAQ_OUT_OF_SCOPE,
    Kind.FAQ_SAFETY,
)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    note: str
    kinds: tuple[str, ...] = ()
    distinct_users: bool = False
    variant: str | None = None  # count only rows of this variant (see _variant)
    skip: tuple[str, str] | None = None  # ... and not rows of this (kind, variant)

    def counts(self, kind: str, variant: str) -> bool:
        if kind not in self.kinds or (self.variant is not None and variant != self.variant):
            return False
        return self.skip != (kind, variant)


REJECTED, PUBLICITY, IN_PERSON = "rejected", "publicity", "in_person"


def _variant_conditions() -> dict[str, ColumnElement]:
    """The rows whose ref or channel changes what they count for: the faq_unanswered row of
    a rejected suggestion, an out_push whose source is a notice (a publicity delivery), and
    a consultation recorded by staff (窗口/电话/热线)."""
    kind, ref = LedgerEvent.kind, LedgerEvent.ref
    publicity = or_(*(ref.like(f"{prefix}%") for prefix in Source.PUBLICITY_PREFIXES))
    return {
        REJECTED: and_(kind == Kind.FAQ_UNANSWERED, ref == ledger.SUGGEST_REJECTED),
        PUBLICITY: and_(kind == Kind.OUT_PUSH, publicity),
        IN_PERSON: and_(
            kind == Kind.CONSULT_SUBMITTED, LedgerEvent.channel.in_(IN_PERSON_CHANNELS)
        ),
    }


LEDGER_METRICS: tuple[Metric, ...] = (
    Metric(
        "residents",
        "服务群众（人）",
        "期间内发过消息的居民人数（按人去重，不含工作人员、法律顾问和管理员）",
        ledger.INBOUND_KINDS,
        distinct_users=True,
    ),
    Metric(
        "messages_in",
        "收到消息（条）",
        "群众和工作人员发来的文字、命令、按钮、图片等消息",
        ledger.INBOUND_KINDS,
    ),
    Metric("messages_out", "发出消息（条）", "即时回复与推送送达之和", ledger.OUTBOUND_KINDS),
    Metric("replies", "即时回复（条）", "对来信的直接回复", (Kind.OUT_REPLY,)),
    Metric(
        "questions",
        "民法典提问（个）",
        "直接解答、给出相近问题、未能解答、超出范围和安全提醒的提问之和（不含寒暄）",
        FAQ_QUESTION_KINDS,
        skip=(Kind.FAQ_UNANSWERED, REJECTED),
    ),
    Metric("answered", "直接解答（次）", "提问后直接给出解答", (Kind.FAQ_ANSWERED,)),
    Metric(
        "suggested", "给出相近问题（次）", "提问后给出几个相近问题供选择", (Kind.FAQ_SUGGESTED,)
    ),
    Metric(
        "unanswered",
        "未能解答（次）",
        "没有找到解答，或群众认为相近问题都不是",
        (Kind.FAQ_UNANSWERED,),
    ),
    Metric(
        "out_of_scope",
        "超出民法典范围（次）",
        "刑事、劳动、行政、税务等问题，已引导至相关渠道",
        (Kind.FAQ_OUT_OF_SCOPE,),
    ),
    Metric(
        "safety",
        "安全提醒（次）",
        "正在发生的诈骗、家庭暴力或消费纠纷：先告知报警（110、96110）、保护令或 12315 等渠道",
        (Kind.FAQ_SAFETY,),
    ),
    Metric("chitchat", "寒暄（次）", "问候等非法律问题", (Kind.FAQ_CHITCHAT,)),
    Metric(
        "views", "浏览查看解答（次）", "从浏览、相近问题或法条查询中打开的解答", (Kind.FAQ_VIEW,)
    ),
    Metric(
        "answers_shown",
        "解答民法典咨询（次）",
        "直接解答与浏览查看解答之和",
        (Kind.FAQ_ANSWERED, Kind.FAQ_VIEW),
    ),
    Metric("articles", "法条查询（次）", "按条号查询《民法典》", (Kind.FAQ_ARTICLE,)),
    Metric("helpful", "评价有帮助（次）", "群众对解答点了“有帮助”", (Kind.FEEDBACK_HELPFUL,)),
    Metric("unhelpful", "评价没帮助（次）", "群众对解答点了“没帮助”", (Kind.FEEDBACK_UNHELPFUL,)),
    Metric(
        "consult_submitted",
        "受理法律咨询（件）",
        "群众提交给法律顾问的咨询",
        (Kind.CONSULT_SUBMITTED,),
    ),
    Metric(
        "consult_in_person",
        "窗口电话热线咨询（件）",
        "工作人员登记的窗口来访、电话和热线咨询（已含在受理法律咨询中）",
        (Kind.CONSULT_SUBMITTED,),
        variant=IN_PERSON,
    ),
    Metric("consult_claimed", "顾问认领（件）", "法律顾问认领的咨询", (Kind.CONSULT_CLAIMED,)),
    Metric(
        "consult_answered", "顾问答复（件）", "法律顾问首次答复的咨询", (Kind.CONSULT_ANSWERED,)
    ),
    Metric("consult_closed", "咨询办结（件）", "已办结的咨询", (Kind.CONSULT_CLOSED,)),
    Metric("consult_followup", "群众补充（次）", "群众对咨询的补充说明", (Kind.CONSULT_FOLLOWUP,)),
    Metric("consult_rated", "咨询评价（次）", "群众对顾问答复的评价", (Kind.CONSULT_RATED,)),
    Metric(
        "notices", "发布普法信息（条）", "工作人员发布的普法信息和通知", (Kind.NOTICE_PUBLISHED,)
    ),
    Metric(
        "deliveries",
        "普法信息送达（人次）",
        "普法信息逐人送达的次数",
        (Kind.OUT_PUSH,),
        variant=PUBLICITY,
    ),
    Metric("pushes", "推送送达（条）", "所有推送送达，含法律顾问答复", (Kind.OUT_PUSH,)),
    Metric("push_failed", "推送失败（条）", "多次重试后仍未送达", (Kind.PUSH_FAILED,)),
    Metric("push_unreachable", "无法送达（条）", "用户已屏蔽或无法联系", (Kind.PUSH_UNREACHABLE,)),
    Metric("subscribes", "新增订阅（次）", "订阅普法信息", (Kind.SUBSCRIBE,)),
    Metric("unsubscribes", "取消订阅（次）", "退订普法信息", (Kind.UNSUBSCRIBE,)),
)
OTHER_METRICS: tuple[Metric, ...] = (
    Metric("subscribers", "订阅用户（人，期末）", "期末仍在订阅的用户数（最后一次操作为订阅）"),
    Metric(
        "median_answer_hours", "首次答复中位数（小时）", "从受理到法律顾问首次答复的时间的中位数"
    ),
    Metric(
        "activities",
        "线下活动（次）",
        "工作人员登记的面向居民的宣讲、学法、巡回和阵地活动（机关干部学法、执法培训另计）",
    ),
    Metric("attendance", "线下参与（人次）", "面向居民的线下活动登记的参与人数之和"),
    Metric("materials", "发放宣传资料（份）", "线下活动登记的发放资料份数之和（含干部学法）"),
    Metric(
        "study_activities",
        "干部学法和执法培训（次）",
        "面向机关干部、执法人员的学法活动和培训（属学法用法，不计入线下活动）",
    ),
    Metric("study_attendance", "干部学法参与（人次）", "干部学法和执法培训登记的参与人数之和"),
    Metric(
        "publications",
        "其他渠道发布（条）",
        "登记的两微一端、微信群、宣传栏等渠道发布的普法信息",
    ),
    Metric(
        "items_published",
        "累计发布普法信息（条）",
        "普法助手发布的普法信息与其他渠道登记的发布之和",
    ),
)
COMMUNITY_SHARE = Metric(
    "residents_share",
    "占服务群众比例（%）",
    "该社区的服务群众人数占全部服务群众的比例；“未填写”是没有选择所在社区的群众"
    "（期间内改过社区的群众在两处都计入，合计可能略超100%）",
)
METRICS_EXTRA = (COMMUNITY_SHARE,)
ACTIVITY_KEYS = ("activities", "attendance", "study_activities", "study_attendance", "materials")
METRICS = {m.key: m for m in (*LEDGER_METRICS, *OTHER_METRICS, *METRICS_EXTRA)}
SUMMARY_ORDER = (
    "residents", "messages_in", "messages_out", "replies",
    "questions", "answered", "suggested", "unanswered", "out_of_scope", "safety", "chitchat",
    "views", "answers_shown", "articles", "helpful", "unhelpful",
    "consult_submitted", "consult_in_person", "consult_claimed", "consult_answered",
    "consult_closed", "consult_followup", "consult_rated", "median_answer_hours",
    "notices", "publications", "items_published",
    "deliveries", "pushes", "push_failed", "push_unreachable",
    "subscribes", "unsubscribes", "subscribers",
    "activities", "attendance", "materials", "study_activities", "study_attendance",
)  # fmt: skip
LEDGER_METRICS_KEYS = tuple(m.key for m in LEDGER_METRICS)
COUNTED_KINDS = tuple(sorted({kind for m in LEDGER_METRICS for kind in m.kinds}))
# Kinds that may carry a topic or a book: plain messages in and replies never do, so the
# topic/book query skips them (most of the ledger).
TOPICAL_KINDS = tuple(k for k in COUNTED_KINDS if k not in (*ledger.INBOUND_KINDS, Kind.OUT_REPLY))

_COMMON = (
    "residents", "messages_in", "messages_out", "questions", "answered", "suggested",
    "unanswered", "answers_shown", "helpful", "unhelpful", "consult_submitted",
    "consult_answered", "consult_closed", "notices", "deliveries", "push_failed",
    "subscribes", "unsubscribes", "activities", "attendance",
)  # fmt: skip
_TOPICAL = (
    "questions", "answered", "unanswered", "answers_shown", "helpful", "unhelpful",
    "consult_submitted", "consult_answered", "consult_closed", "notices", "deliveries",
    "subscribes", "activities", "attendance",
)  # fmt: skip


@dataclass(frozen=True)
class Dimension:
    key: str
    title: str  # sheet / section name
    header: str  # first column's heading
    metrics: tuple[str, ...]


DIMENSIONS = (
    Dimension("month", "按月", "月份", (*_COMMON, "subscribers")),
    Dimension("channel", "按渠道", "渠道", _COMMON),
    Dimension("community", "按社区", "社区", (*_COMMON, "residents_share")),
    Dimension("topic", "按主题", "主题", _TOPICAL),
    Dimension(
        "book", "按民法典分编", "分编", ("answered", "answers_shown", "helpful", "unhelpful")
    ),
    Dimension("activity_kind", "按活动类型", "活动类型", ACTIVITY_KEYS),
    Dimension("audience", "按活动对象", "活动对象", ACTIVITY_KEYS),
    Dimension("site", "按法治文化阵地", "阵地", ACTIVITY_KEYS),
    Dimension("series", "按系列栏目", "系列栏目", ACTIVITY_KEYS),
)
ACTIVITY_DIMENSIONS = {
    "community": Activity.community,
    "topic": Activity.topic,
    "activity_kind": Activity.kind,
    "audience": Activity.audience,
    "site": Activity.site,
    "series": Activity.series,
}


@dataclass
class Row:
    key: str | None
    label: str
    values: dict[str, int | float | None]


@dataclass
class Breakdown:
    dimension: Dimension
    rows: list[Row]


@dataclass
class Stats:
    period: Period
    summary: dict[str, int | float | None]
    breakdowns: list[Breakdown]
    generated_at: datetime = field(default_factory=utcnow)
    unanswered_questions: list[dict] = field(default_factory=list)
    activity_list: list[dict] = field(default_factory=list)
    legal: legal_stats.LegalFigures | None = None
    # items registered as published elsewhere, per channel label (bot.services.publications)
    publication_channels: dict[str, int] = field(default_factory=dict)

    def breakdown(self, key: str) -> Breakdown:
        return next(b for b in self.breakdowns if b.dimension.key == key)


# --- SQL -------------------------------------------------------------------------------------
def _in_period(column, period: Period) -> ColumnElement:
    return and_(column >= period.start_utc, column < period.end_utc)


def _unindexed(column) -> ColumnElement:
    """`+column`: SQLite's documented way to keep the planner off an index."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _prefer_scan(session: Session, period: Period) -> bool:
    """True on SQLite when the period covers much of the ledger's time span.

    Without a histogram SQLite always takes an index for a range on `at` and then looks
    every row up in the table; over a year of a ledger that spans two, a plain table scan
    is two to three times faster (see bench/stats_bench.py). PostgreSQL's planner makes
    this choice itself. min/max(at) come from the index, so asking costs nothing."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    # Two scalar subqueries: SQLite answers a lone min() or max() from the index.
    first = select(func.min(LedgerEvent.at)).scalar_subquery()
    last = select(func.max(LedgerEvent.at)).scalar_subquery()
    first, last = session.execute(select(first, last)).one()
    if first is None or last <= first:
        return False
    overlap = min(last, period.end_utc) - max(first, period.start_utc)
    return overlap > (last - first) * SCAN_SHARE


def _month_bucket(column, edges: list) -> ColumnElement:
    """0 for the first month of the period, 1 for the next... (edges: where each begins)."""
    if not edges:
        return literal(0)
    return case(*((column < edge, index) for index, edge in enumerate(edges)), else_=len(edges))


def _blank_is_null(column) -> ColumnElement:
    return func.nullif(column, "")  # '' and NULL are both 未填写 (one group: distinct counts)


@cache
def _metrics_of(kind: str, variant: str) -> tuple[str, ...]:
    """The summed metrics a ledger row of this kind and variant counts in."""
    return tuple(m.key for m in LEDGER_METRICS if not m.distinct_users and m.counts(kind, variant))


def _kind_counts(
    session: Session, period: Period, dims: dict, kinds, *, scan: bool = False
) -> list[tuple]:
    """(dim values..., kind, variant, count) per group: the database does the counting.

    Variants are summed as columns rather than grouped on, and the dimensions are plain
    columns where possible: PostgreSQL then estimates the number of groups from its
    column statistics and aggregates in a hash table instead of sorting every row."""
    at, kind = LedgerEvent.at, LedgerEvent.kind
    if scan:
        at, kind = _unindexed(at), _unindexed(kind)
    variants = _variant_conditions()
    keys = [expression.label(name) for name, expression in dims.items()]
    sums = [func.sum(case((cond, 1), else_=0)).label(name) for name, cond in variants.items()]
    statement = (
        select(*keys, LedgerEvent.kind, func.count().label("rows"), *sums)
        .where(_in_period(at, period), kind.in_(kinds))
        .group_by(*(key.element for key in keys), LedgerEvent.kind)
    )
    counts = []
    for row in session.execute(statement):
        values, kind_value, total = row[: len(keys)], row[len(keys)], int(row[len(keys) + 1])
        split = {name: int(row[len(keys) + 2 + i] or 0) for i, name in enumerate(variants)}
        counts.append((*values, kind_value, "", total - sum(split.values())))
        counts += [(*values, kind_value, name, n) for name, n in split.items() if n]
    return counts


def _residents(session: Session, period: Period, bucket: ColumnElement) -> list[tuple]:
    """(dimension, value, distinct residents) for the whole period and per month, channel
    and community: the (month, channel, community, user) combinations are collected once
    (a CTE) and counted four ways."""
    served = (
        select(
            bucket.label("month"),
            _blank_is_null(LedgerEvent.channel).label("channel"),
            _blank_is_null(LedgerEvent.community).label("community"),
            LedgerEvent.user_id.label("user_id"),
        )
        .join(User, User.id == LedgerEvent.user_id)
        .where(_in_period(LedgerEvent.at, period), LedgerEvent.kind.in_(ledger.INBOUND_KINDS))
        .where(User.role == RESIDENT_ROLE)
        .distinct()
        .cte("served")
    )
    people = func.count(distinct(served.c.user_id))
    parts = [select(literal_column("'all'"), cast(literal_column("NULL"), String), people)]
    for name in ("month", "channel", "community"):
        column = served.c[name]
        label = literal_column(f"'{name}'")
        parts.append(select(label, cast(column, String), people).group_by(column))
    return [tuple(row) for row in session.execute(union_all(*parts))]


def _ledger_figures(session: Session, period: Period) -> dict:
    """{None: {'all': figures}, 'month': {0: figures, ...}, 'channel': {...}, ...} for
    every ledger metric, from three queries over the period's rows."""
    result: dict = {key: {} for key in (None, "month", "channel", "community", "topic", "book")}

    def add(dimension, value, kind: str, variant: str, count: int) -> None:
        value = None if value == "" else value  # '' and NULL are both 未填写
        figures = result[dimension].setdefault(value, _zeros(LEDGER_METRICS_KEYS))
        for key in _metrics_of(kind, variant):
            figures[key] += int(count)

    bucket = _month_bucket(LedgerEvent.at, period.month_edges_utc())
    wide = {"month": bucket, "channel": LedgerEvent.channel, "community": LedgerEvent.community}
    scan = _prefer_scan(session, period)
    for month, channel, community, kind, variant, count in _kind_counts(
        session, period, wide, COUNTED_KINDS, scan=scan
    ):
        add(None, "all", kind, variant, count)
        add("month", int(month), kind, variant, count)
        add("channel", channel, kind, variant, count)
        add("community", community, kind, variant, count)
    topical = {"topic": LedgerEvent.topic, "book": LedgerEvent.book}
    for topic, book, kind, variant, count in _kind_counts(session, period, topical, TOPICAL_KINDS):
        add("topic", topic, kind, variant, count)
        add("book", book, kind, variant, count)
    for dimension, value, count in _residents(session, period, bucket):
        key = None if dimension == "all" else dimension
        value = "all" if key is None else (int(value) if key == "month" else value)
        result[key].setdefault(value, _zeros(LEDGER_METRICS_KEYS))["residents"] = int(count)
    return result


def _activity_rows(session: Session, period: Period, dimension: str | None) -> dict:
    """{dimension value: {ACTIVITY_KEYS: figures}} from the activities table: activities
    for residents are counted apart from the cadres' study sessions and enforcement
    trainings (学法用法); materials are those of every activity."""
    if dimension == "month":
        edges = [m.start for m in period.months()[1:]]
        dim = _month_bucket(Activity.day, edges)
    elif dimension is None or dimension == "channel":
        dim = literal("offline")
    else:
        dim = func.nullif(ACTIVITY_DIMENSIONS[dimension], "")
    study = case((Activity.audience.in_(STUDY_AUDIENCES), 1), else_=0)
    inner = (
        select(
            dim.label("dim"),
            study.label("study"),
            Activity.attendance.label("people"),
            Activity.materials.label("materials"),
        )
        .where(Activity.day >= period.start, Activity.day < period.end)
        .subquery()
    )
    c = inner.c
    statement = select(
        c.dim,
        func.count().label("n"),
        func.coalesce(func.sum(c.study), 0).label("study_n"),
        func.coalesce(func.sum(c.people), 0).label("people"),
        func.coalesce(func.sum(c.people * c.study), 0).label("study_people"),
        func.coalesce(func.sum(c.materials), 0).label("materials"),
    ).group_by(c.dim)
    return {
        row.dim: {
            "activities": int(row.n) - int(row.study_n),
            "attendance": int(row.people) - int(row.study_people),
            "study_activities": int(row.study_n),
            "study_attendance": int(row.study_people),
            "materials": int(row.materials),
        }
        for row in session.execute(statement)
    }


def publication_channels(session: Session, period: Period) -> dict[str, int]:
    """{channel label: items} registered as published elsewhere, most first."""
    from bot.services.publications import CHANNELS

    statement = (
        select(Publication.channel, func.count())
        .where(Publication.day >= period.start, Publication.day < period.end)
        .group_by(Publication.channel)
    )
    rows = [(CHANNELS.get(key, key), int(n)) for key, n in session.execute(statement)]
    return dict(sorted(rows, key=lambda row: (-row[1], row[0])))


def publications_count(session: Session, period: Period) -> int:
    """Items registered as published through other channels, by their local date."""
    statement = (
        select(func.count())
        .select_from(Publication)
        .where(Publication.day >= period.start, Publication.day < period.end)
    )
    return int(session.execute(statement).scalar_one())


def subscribers_at(session: Session, moment: datetime) -> int:
    """Users whose latest subscribe/unsubscribe event before `moment` is a subscribe."""
    kind, at = LedgerEvent.kind, LedgerEvent.at
    per_user = (
        select(
            LedgerEvent.user_id,
            func.max(case((kind == Kind.SUBSCRIBE, at))).label("last_sub"),
            func.max(case((kind == Kind.UNSUBSCRIBE, at))).label("last_unsub"),
        )
        .where(kind.in_((Kind.SUBSCRIBE, Kind.UNSUBSCRIBE)), at < moment)
        .where(LedgerEvent.user_id.is_not(None))
        .group_by(LedgerEvent.user_id)
        .subquery()
    )
    c = per_user.c
    statement = select(func.count()).where(
        c.last_sub.is_not(None), or_(c.last_unsub.is_(None), c.last_sub > c.last_unsub)
    )
    return int(session.execute(statement).scalar_one())


def median_answer_hours(session: Session, period: Period) -> float | None:
    """The median of consult_answered.value (hours), reading at most two values."""
    where = (
        LedgerEvent.kind == Kind.CONSULT_ANSWERED,
        _in_period(LedgerEvent.at, period),
        LedgerEvent.value.is_not(None),
    )
    total = session.execute(select(func.count()).select_from(LedgerEvent).where(*where))
    count = int(total.scalar_one())
    if count == 0:
        return None
    middle = (
        select(LedgerEvent.value)
        .where(*where)
        .order_by(LedgerEvent.value)
        .offset((count - 1) // 2)
        .limit(1 if count % 2 else 2)
    )
    values = [float(v) for v in session.execute(middle).scalars()]
    return round(sum(values) / len(values), 2)


# --- assembling ------------------------------------------------------------------------------
def _zeros(keys) -> dict:
    return {key: 0 for key in keys}


def _label(dimension: str, key, period: Period) -> str:
    if dimension == "month":
        return period.months()[int(key)].label
    if key is None:
        return UNSET
    if dimension == "channel":
        return CHANNEL_LABELS.get(key, key)
    if dimension == "activity_kind":
        return ACTIVITY_KINDS.get(key, key)
    if dimension == "audience":
        return AUDIENCES.get(key, key)
    if dimension == "book":
        return f"{key}编"
    return str(key)


def _breakdown(session: Session, period: Period, dimension: Dimension, ledger_part) -> Breakdown:
    key = dimension.key
    activity_part = {} if key == "book" else _activity_rows(session, period, key)
    months = period.months()
    if key == "month":  # every month of the period, in order, even when empty
        activity_part = {int(k): v for k, v in activity_part.items()}
        keys: list = list(range(len(months)))
    else:
        present = set(ledger_part) | set(activity_part) | ({None} if key == "community" else set())
        order = {"activity_kind": list(ACTIVITY_KINDS), "audience": list(AUDIENCES)}.get(key, [])
        keys = sorted(
            present, key=lambda k: (k is None, order.index(k) if k in order else 0, str(k))
        )
    rows = []
    for value in keys:
        figures = _zeros(LEDGER_METRICS_KEYS) | _zeros(ACTIVITY_KEYS) | {"residents_share": 0.0}
        figures.update(ledger_part.get(value, {}))
        figures.update(activity_part.get(value, {}))
        if key == "month":
            end = local_midnight_utc(months[value].end, period.zone)
            figures["subscribers"] = subscribers_at(session, end)
        values = {m: figures[m] for m in dimension.metrics}
        unset_community = key == "community" and value is None  # always shown, even at 0
        if key != "month" and not unset_community and not any(values.values()):
            continue  # e.g. a topic seen only on kinds this sheet does not show
        row_key = months[value].key if key == "month" else value
        rows.append(Row(row_key, _label(key, value, period), values))
    return Breakdown(dimension, rows)


def _summary(session: Session, period: Period, ledger_part: dict) -> dict:
    figures = _zeros(LEDGER_METRICS_KEYS)
    figures.update(ledger_part)
    figures |= _zeros(ACTIVITY_KEYS) | _activity_rows(session, period, None).get("offline", {})
    figures["publications"] = publications_count(session, period)
    figures["items_published"] = figures["notices"] + figures["publications"]
    figures["subscribers"] = subscribers_at(session, period.end_utc)
    figures["median_answer_hours"] = median_answer_hours(session, period)
    return {key: figures[key] for key in SUMMARY_ORDER}


def _community_shares(stats: Stats) -> None:
    """Each community's share of the residents served (未填写 included), in per cent."""
    total = stats.summary["residents"]
    for row in stats.breakdown("community").rows:
        people = row.values["residents"]
        row.values["residents_share"] = round(100 * people / total, 1) if total else 0.0


def unanswered_questions(session: Session, period: Period, limit: int = MAX_LISTED_GAPS):
    """FAQ questions that found no answer or were marked unhelpful, oldest first."""
    statement = (
        select(FaqQuestion)
        .where(_in_period(FaqQuestion.at, period))
        .where(or_(FaqQuestion.status == MatchStatus.NONE, FaqQuestion.feedback == "unhelpful"))
        .order_by(FaqQuestion.at, FaqQuestion.id)
        .limit(limit)
    )
    rows = []
    for question in session.execute(statement).scalars():
        rows.append(
            {
                "at": question.at.astimezone(period.zone).strftime("%Y-%m-%d %H:%M"),
                "channel": CHANNEL_LABELS.get(question.channel, question.channel),
                "question": question.question,
                "problem": "没帮助" if question.feedback == "unhelpful" else "未解答",
                "entry_id": question.entry_id or "",
                "reviewed": "是" if question.reviewed else "否",
            }
        )
    return rows


def activity_list(session: Session, period: Period) -> list[dict]:
    statement = (
        select(Activity)
        .where(Activity.day >= period.start, Activity.day < period.end)
        .order_by(Activity.day, Activity.id)
    )
    return [
        {
            "id": a.id,
            "date": a.day.isoformat(),
            "kind": ACTIVITY_KINDS.get(a.kind, a.kind),
            "title": a.title,
            "community": a.community or "",
            "topic": a.topic or "",
            "attendance": a.attendance,
            "notes": a.notes or "",
            "audience": AUDIENCES.get(a.audience, a.audience),
            "materials": a.materials,
            "site": a.site or "",
            "series": a.series or "",
            "lecturer": a.lecturer or "",
            "attachments": "；".join(a.attachments or []),
        }
        for a in session.execute(statement).scalars()
    ]


def compute(session: Session, period: Period, *, lists: bool = True) -> Stats:
    """Every figure for `period`; `lists` adds the unanswered questions and activities."""
    ledger_figures = _ledger_figures(session, period)
    stats = Stats(
        period=period,
        summary=_summary(session, period, ledger_figures[None].get("all", {})),
        breakdowns=[
            _breakdown(session, period, d, ledger_figures.get(d.key, {})) for d in DIMENSIONS
        ],
        publication_channels=publication_channels(session, period),
    )
    stats.legal = legal_stats.compute(session, period)
    _community_shares(stats)
    if lists:
        stats.unanswered_questions = unanswered_questions(session, period)
        stats.activity_list = activity_list(session, period)
    return stats


# --- text ------------------------------------------------------------------------------------
def summary_text(stats: Stats) -> str:
    """The summary as chat / console text (Chinese)."""
    s = stats.summary
    period = stats.period
    median = s["median_answer_hours"]
    lines = [
        f"📊 {period.label}统计（{period.start.isoformat()} 至 {period.last_day.isoformat()}）",
        f"服务群众 {s['residents']} 人；收到消息 {s['messages_in']} 条，发出 {s['messages_out']} 条",
        f"民法典问答：提问 {s['questions']} 个，直接解答 {s['answered']} 次，给出相近问题 "
        f"{s['suggested']} 次，未能解答 {s['unanswered']} 次，超出范围 {s['out_of_scope']} 次；"
        f"共解答 {s['answers_shown']} 次（含浏览查看 {s['views']} 次）",
        f"评价：有帮助 {s['helpful']} 次，没帮助 {s['unhelpful']} 次",
        f"法律咨询：受理 {s['consult_submitted']} 件（其中窗口、电话、热线 {s['consult_in_person']} 件），"
        f"答复 {s['consult_answered']} 件，办结 "
        f"{s['consult_closed']} 件；首次答复中位数 "
        + ("暂无" if median is None else f"{median:.1f} 小时"),
        f"普法推送：发布 {s['notices']} 条，送达 {s['deliveries']} 人次；推送失败 "
        f"{s['push_failed']} 条，无法送达 {s['push_unreachable']} 条；订阅 {s['subscribers']} 人",
        f"线下活动：{s['activities']} 次，参与 {s['attendance']} 人次，发放资料 {s['materials']} 份；"
        f"干部学法和执法培训 {s['study_activities']} 次，{s['study_attendance']} 人次",
        f"累计发布普法信息 {s['items_published']} 条（普法助手 {s['notices']} 条，其他渠道 "
        f"{s['publications']} 条）",
    ]
    unset = next(r for r in stats.breakdown("community").rows if r.key is None)
    lines.append(
        f"未填写社区的群众 {unset.values['residents']} 人，占服务群众 "
        f"{unset.values['residents_share']:.1f}%"
    )
    books = [r for r in stats.breakdown("book").rows if r.key and r.values["answers_shown"]]
    books.sort(key=lambda r: -r.values["answers_shown"])
    if books:
        listed = "、".join(f"{r.label} {r.values['answers_shown']}" for r in books[:5])
        lines.append(f"解答较多的分编：{listed}")
    if stats.legal is not None:
        lines += legal_stats.summary_lines(stats.legal)
    return "\n".join(lines)
