"""Evaluating the matcher on labelled questions (JSON lines: id, question, in_scope, articles).

The one definition of the figures (docs/FAQ-EVALUATION.md), used by `bot.py faq eval` and
the tests. A first answer is *right* when it cites one of the question's labelled articles.

- hit@1: status "answered" AND the first answer is right (what a resident gets outright);
- top-1: the first answer is right, whatever the status (answered or a suggestion);
- hit@3: one of the first three answers is right;
- answered: share of in-scope questions answered outright;
- precision: of all outright answers (to in-scope and out-of-scope lines), the share right;
- out of scope handled: out-of-scope lines given no Civil Code answer or suggestion.

The split into a *tune* and a *check* half is a fixed rule on the id (sha1, even/odd), so
anyone can reproduce it and nobody can choose it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from faq.matcher import ANSWERED, Matcher, MatchResult

TUNE, CHECK, ALL = "tune", "check", "all"
HALVES = (TUNE, CHECK)


def half_of(item_id: str) -> str:
    """Which half an item belongs to: tune when sha1(id) is even, check when it is odd."""
    digest = hashlib.sha1(item_id.encode("utf-8")).hexdigest()
    return TUNE if int(digest, 16) % 2 == 0 else CHECK


def select_half(items: Iterable[dict], half: str) -> list[dict]:
    """The items of one half (items without an id belong to no half), or all items."""
    if half == ALL:
        return list(items)
    return [item for item in items if "id" in item and half_of(str(item["id"])) == half]


def has_halves(items: list[dict]) -> bool:
    return bool(items) and all("id" in item for item in items)


@dataclass
class Report:
    in_scope: int = 0
    hit1: int = 0
    top1: int = 0
    hit3: int = 0
    answered: int = 0  # in-scope questions answered outright
    answered_any: int = 0  # outright answers to any line (in or out of scope)
    out_of_scope: int = 0
    handled: int = 0
    misses: list[tuple[dict, MatchResult]] = field(default_factory=list)

    @staticmethod
    def rate(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    def figures(self) -> dict[str, float]:
        return {
            "hit@1": self.rate(self.hit1, self.in_scope),
            "top-1": self.rate(self.top1, self.in_scope),
            "hit@3": self.rate(self.hit3, self.in_scope),
            "answered": self.rate(self.answered, self.in_scope),
            "precision": self.rate(self.hit1, self.answered_any),
            "out_of_scope": self.rate(self.handled, self.out_of_scope),
        }

    def summary(self) -> str:
        f = self.figures()
        return (
            f"in scope: {self.in_scope}  hit@1 {f['hit@1']:.3f}  top-1 {f['top-1']:.3f}  "
            f"hit@3 {f['hit@3']:.3f}\n"
            f"answered outright: {self.answered}/{self.in_scope} = {f['answered']:.3f}  "
            f"right when answered: {self.hit1}/{self.answered_any} = {f['precision']:.3f}\n"
            f"out of scope: {self.out_of_scope}  given no Civil Code answer or suggestion "
            f"{f['out_of_scope']:.3f}"
        )


def read_jsonl(lines: Iterable[str]) -> list[dict]:
    items = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: not JSON ({exc})") from None
    return items


def score_item(report: Report, item: dict, result: MatchResult) -> None:
    """Add one judged question to the report."""
    cited = [set(m.entry.articles) for m in result.matches]
    answered = result.status == ANSWERED
    report.answered_any += answered
    if not item.get("in_scope", True):
        report.out_of_scope += 1
        if result.matches:
            report.misses.append((item, result))
        else:
            report.handled += 1
        return
    labels = set(item.get("articles", []))
    report.in_scope += 1
    first = bool(cited and cited[0] & labels)
    report.top1 += first
    report.hit3 += any(c & labels for c in cited[:3])
    report.answered += answered
    report.hit1 += first and answered
    if not (first and answered):
        report.misses.append((item, result))


def evaluate(matcher: Matcher, items: Iterable[dict]) -> Report:
    report = Report()
    for item in items:
        score_item(report, item, matcher.match(item["question"]))
    return report
