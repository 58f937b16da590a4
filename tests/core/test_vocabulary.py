"""One vocabulary of ledger kinds: what the code writes is what the statistics read.

The writers are found by scanning the source for `Kind.X` (every write names its kind
that way; `ledger.record` refuses any other string), the readers are the statistics'
metrics. Then two real flows (a suggestion through the dispatcher, a notice through the
delivery worker) are read back as figures: the two figures that were always 0 while the
names differed (issue 13)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from bot import ledger
from bot.channels.base import DeliveryOutcome
from bot.ledger import AUDIT_ONLY, Kind, Source
from bot.messages import Reply
from bot.models import MatchStatus
from bot.runtime.delivery import DeliveryWorker
from bot.services import periods, publicity, stats, users
from bot.services.publicity import Audience
from bot.testing import Harness

REPO = Path(__file__).resolve().parents[2]
KIND_USE = re.compile(r"\bKind\.([A-Z_]+)\b")
BARE_KIND = re.compile(r"(?:\.count|ledger\.record)\(\s*(?:[a-z_.]+,\s*)?[\"']")
READERS = {REPO / "bot" / "ledger.py", REPO / "bot" / "services" / "stats.py"}


def writer_sources() -> dict[Path, str]:
    files = [*REPO.joinpath("bot").rglob("*.py"), *REPO.joinpath("handlers").rglob("*.py")]
    return {p: p.read_text("utf-8") for p in files if p not in READERS}


def written_kinds() -> set[Kind]:
    return {Kind[name] for text in writer_sources().values() for name in KIND_USE.findall(text)}


def test_every_written_kind_is_counted_or_audit_only():
    unknown = written_kinds() - set(stats.COUNTED_KINDS) - AUDIT_ONLY
    assert not unknown, f"written but neither counted nor audit-only: {sorted(unknown)}"


def test_the_statistics_read_only_kinds_that_something_writes():
    unwritten = (set(stats.COUNTED_KINDS) | AUDIT_ONLY) - written_kinds()
    assert not unwritten, f"read or listed but never written: {sorted(unwritten)}"


def test_every_kind_is_counted_or_audit_only_never_both():
    counted = {Kind(k) for k in stats.COUNTED_KINDS}
    assert counted | AUDIT_ONLY == set(Kind)
    assert not counted & AUDIT_ONLY


def test_no_module_writes_a_kind_as_a_bare_string():
    offenders = [
        str(p.relative_to(REPO)) for p, t in writer_sources().items() if BARE_KIND.search(t)
    ]
    assert offenders == []


def test_record_refuses_a_name_outside_the_vocabulary(engine):
    with Session(engine) as session, pytest.raises(ValueError):
        ledger.record(session, "faq_suggest", channel="console")  # the old misspelling


def test_push_sources_name_their_push_and_nothing_else():
    assert Source.push_id(Source.push(42)) == 42
    for other in ("push:", "push:4x", "push:٤", "case:ZS-2026-0001", Source.REPORT):
        assert Source.push_id(other) is None


def this_year(engine) -> stats.Stats:
    with Session(engine) as session:
        return stats.compute(session, periods.current_year(ZoneInfo("Asia/Shanghai")))


def test_a_suggestion_in_chat_is_counted_as_a_suggested_question(harness: Harness, engine):
    replies = harness.say("wes", "邻居")
    assert replies[0].text == "您是想问以下哪个问题？"
    summary = this_year(engine).summary
    assert (summary["questions"], summary["suggested"]) == (1, 1)


class Sender:
    """A platform that accepts every message at once."""

    channel = "telegram"
    rate_per_second = 1000.0

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, external_id: str, reply: Reply) -> DeliveryOutcome:
        self.sent.append(external_id)
        return DeliveryOutcome("sent")


def test_a_notice_delivered_by_the_worker_is_counted_as_deliveries(engine):
    now = datetime.now(UTC)
    with Session(engine) as session:
        for n in range(3):
            person = users.get_or_create(session, "telegram", f"r{n}")
            publicity.subscribe(session, person, topics=[], channel="telegram", now=now)
        notice = publicity.create_notice(
            session, text="停水通知", audience=Audience("all"), author=None, now=now
        )
        publicity.send_now(session, notice, now=now)
        session.commit()
    sender = Sender()
    worker = DeliveryWorker(engine, sender)
    try:
        asyncio.run(worker.drain())
    finally:
        worker.close()
    assert sorted(sender.sent) == ["r0", "r1", "r2"]
    summary = this_year(engine).summary
    assert (summary["notices"], summary["deliveries"], summary["pushes"]) == (1, 3, 3)


def test_match_statuses_are_the_matchers_and_each_has_a_ledger_kind():
    from faq import matcher
    from handlers.faq import FAQ_KINDS

    assert set(MatchStatus) == {
        matcher.ANSWERED,
        matcher.SUGGEST,
        matcher.NONE,
        matcher.OUT_OF_SCOPE,
        matcher.CHITCHAT_STATUS,
        matcher.SAFETY,
    }
    assert set(FAQ_KINDS) == set(MatchStatus)
