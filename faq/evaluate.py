"""Evaluating the matcher on labelled questions (JSON lines: question, in_scope, articles).

hit@k: one of the first k answers cites a labelled article. Out-of-scope lines count as
handled when they get no Civil Code answer at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from faq.matcher import Matcher, MatchResult


@dataclass
class Report:
    in_scope: int = 0
    hit1: int = 0
    hit3: int = 0
    out_of_scope: int = 0
    refused: int = 0
    misses: list[tuple[dict, MatchResult]] = field(default_factory=list)

    def rate(self, part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    def summary(self) -> str:
        return (
            f"in scope: {self.in_scope}  hit@1 {self.rate(self.hit1, self.in_scope):.3f}  "
            f"hit@3 {self.rate(self.hit3, self.in_scope):.3f}\n"
            f"out of scope: {self.out_of_scope}  given no Civil Code answer "
            f"{self.rate(self.refused, self.out_of_scope):.3f}"
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


def evaluate(matcher: Matcher, items: Iterable[dict]) -> Report:
    report = Report()
    for item in items:
        result = matcher.match(item["question"])
        cited = [set(m.entry.articles) for m in result.matches]
        if item.get("in_scope", True):
            labels = set(item.get("articles", []))
            report.in_scope += 1
            first = bool(cited and cited[0] & labels)
            top3 = any(c & labels for c in cited[:3])
            report.hit1 += first
            report.hit3 += top3
            if not first:
                report.misses.append((item, result))
        else:
            report.out_of_scope += 1
            if not result.matches:
                report.refused += 1
            else:
                report.misses.append((item, result))
    return report
