"""The interaction ledger: one row per counted event, written in the caller's transaction.

Every kind of row is named once, in `Kind`; the statistics (bot.services.stats) count
them by these names, and the kinds they do not count are listed in `AUDIT_ONLY` (kept for
the audit trail). tests/core/test_vocabulary.py fails when a module writes a kind that is
neither counted nor audit-only, or the statistics read a kind that nothing writes.

Outbox sources (the `source` of an outbox row, copied to the `ref` of its delivery rows)
are named once too, in `Source`.
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session

from bot.models import LedgerEvent, User


class Kind(StrEnum):
    # Inbound and outbound messages (the foundation).
    IN_TEXT = "in_text"
    IN_COMMAND = "in_command"
    IN_BUTTON = "in_button"
    IN_MEDIA = "in_media"
    IN_EVENT = "in_event"
    OUT_REPLY = "out_reply"
    OUT_PUSH = "out_push"  # a delivered outbox message (ref = its source)
    # Civil-code questions and answers (handlers.faq).
    FAQ_ANSWERED = "faq_answered"
    FAQ_SUGGESTED = "faq_suggested"
    FAQ_UNANSWERED = "faq_unanswered"  # ref "suggest_rejected": 都不是 under suggestions
    FAQ_OUT_OF_SCOPE = "faq_out_of_scope"
    FAQ_CHITCHAT = "faq_chitchat"
    FAQ_SAFETY = "faq_safety"  # answered with a safety route first (110/96110, 12315 …)
    FAQ_VIEW = "faq_view"
    FAQ_ARTICLE = "faq_article"
    FEEDBACK_HELPFUL = "feedback_helpful"
    FEEDBACK_UNHELPFUL = "feedback_unhelpful"
    # Consultations (bot.services.cases describes each).
    CONSULT_SUBMITTED = "consult_submitted"
    CONSULT_CLAIMED = "consult_claimed"
    CONSULT_ANSWERED = "consult_answered"
    CONSULT_REPLIED = "consult_replied"
    CONSULT_CLOSED = "consult_closed"
    CONSULT_FOLLOWUP = "consult_followup"
    CONSULT_RATED = "consult_rated"
    # Publicity: notices, subscriptions, deliveries, schedules.
    NOTICE_PUBLISHED = "notice_published"
    NOTICE_SCHEDULED = "notice_scheduled"
    SCHEDULE_CHANGED = "schedule_changed"
    SCHEDULE_CANCELLED = "schedule_cancelled"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PUSH_FAILED = "push_failed"
    PUSH_UNREACHABLE = "push_unreachable"
    PUSH_SKIPPED = "push_skipped"
    # Offline activities (bot.services.activities).
    ACTIVITY_ADDED = "activity_added"
    ACTIVITY_UPDATED = "activity_updated"
    ACTIVITY_DELETED = "activity_deleted"
    PUBLICATION_ADDED = "publication_added"  # an item published elsewhere, registered
    PUBLICATION_DELETED = "publication_deleted"
    # The office's legal work (bot.services.worklog, litigation): the figures come from
    # their own tables; these rows are the audit trail.
    WORK_ADDED = "work_added"
    WORK_UPDATED = "work_updated"
    WORK_DELETED = "work_deleted"
    LITIGATION_ADDED = "litigation_added"
    LITIGATION_UPDATED = "litigation_updated"
    LITIGATION_DATE_ADDED = "litigation_date_added"
    LITIGATION_CLOSED = "litigation_closed"
    LITIGATION_REMINDER = "litigation_reminder"  # a reminder queued for the responsible person
    LEGAL_REPORT = "legal_report"  # a quarterly litigation report made in chat
    # Administration and errors.
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    REFUSED = "refused"
    ERROR = "error"
    STATS_EXPORTED = "stats_exported"


INBOUND_KINDS = (Kind.IN_TEXT, Kind.IN_COMMAND, Kind.IN_BUTTON, Kind.IN_MEDIA, Kind.IN_EVENT)
OUTBOUND_KINDS = (Kind.OUT_REPLY, Kind.OUT_PUSH)

# Written for the audit trail; no statistic counts them.
AUDIT_ONLY = frozenset(
    {
        Kind.CONSULT_REPLIED,
        Kind.NOTICE_SCHEDULED,
        Kind.SCHEDULE_CHANGED,
        Kind.SCHEDULE_CANCELLED,
        Kind.PUSH_SKIPPED,
        Kind.ACTIVITY_ADDED,
        Kind.ACTIVITY_UPDATED,
        Kind.ACTIVITY_DELETED,
        Kind.PUBLICATION_ADDED,
        Kind.PUBLICATION_DELETED,
        Kind.ROLE_GRANTED,
        Kind.ROLE_REVOKED,
        Kind.REFUSED,
        Kind.ERROR,
        Kind.STATS_EXPORTED,
        Kind.WORK_ADDED,
        Kind.WORK_UPDATED,
        Kind.WORK_DELETED,
        Kind.LITIGATION_ADDED,
        Kind.LITIGATION_UPDATED,
        Kind.LITIGATION_DATE_ADDED,
        Kind.LITIGATION_CLOSED,
        Kind.LITIGATION_REMINDER,
        Kind.LEGAL_REPORT,
    }
)

# The ref of the faq_unanswered row written when a resident rejects every suggestion.
SUGGEST_REJECTED = "suggest_rejected"


class Source:
    """Outbox sources: why a message was queued. A delivery's ledger ref is its source."""

    PUSH = "push:"  # + push id: a notice or daily-series run (publicity deliveries)
    CASE = "case:"  # + case number: an adviser's answer or a case update
    CASE_DIGEST = "case_digest"
    REPORT = "publicity:report"
    SKIPPED = "publicity:skipped"
    WECHAT_REPLY = "wechat_reply"  # parts of a WeChat answer sent after the passive reply
    REPLY = "reply"  # the answer to a stored update (durable intake), sent from the outbox
    PUBLICITY_PREFIXES = (PUSH,)  # the sources the statistics count as 普法信息送达

    @staticmethod
    def push(push_id: int) -> str:
        return f"{Source.PUSH}{push_id}"

    @staticmethod
    def push_id(source: str) -> int | None:
        """The push id of a 'push:<id>' source (None for any other source)."""
        rest = source[len(Source.PUSH) :] if source.startswith(Source.PUSH) else ""
        return int(rest) if rest.isascii() and rest.isdigit() else None

    @staticmethod
    def case(number: str) -> str:
        return f"{Source.CASE}{number}"


def schedule_ref(schedule_id: int) -> str:
    """The ledger ref of a row about a schedule."""
    return f"schedule:{schedule_id}"


def record(
    session: Session,
    kind: Kind,
    *,
    channel: str,
    user: User | None = None,
    topic: str | None = None,
    book: str | None = None,
    community: str | None = None,
    ref: str | None = None,
    value: float | None = None,
) -> LedgerEvent:
    """Add one ledger row to `session` (committed with the work it reports).

    `Kind(kind)` refuses a name outside the vocabulary, so a misspelt kind fails loudly
    instead of silently zeroing a figure."""
    event = LedgerEvent(
        kind=Kind(kind).value,
        channel=channel,
        user_id=user.id if user else None,
        topic=topic,
        book=book,
        community=community if community is not None else (user.community if user else None),
        ref=ref[:64] if ref else None,
        value=value,
    )
    session.add(event)
    return event
