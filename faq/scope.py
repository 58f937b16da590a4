"""Recognizing questions outside the Civil Code (criminal, labour, administrative, tax)
and chit-chat. A low matching score alone is not enough: out-of-scope questions often sit
right next to civil ones (重婚罪 beside 离婚, a labour contract's 违约金 beside a sale's), so
the refusal has its own signal, a list of area terms kept as data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faq.yamlfile import parse as parse_yaml

SCOPE_FILE = Path(__file__).with_name("data") / "scope.yaml"
CHITCHAT = "闲聊"


@dataclass(frozen=True)
class ScopeSignal:
    area: str | None  # 刑事 / 劳动 / 行政 / 税务 / 闲聊 with the highest score, or None
    score: int  # 2 per strong term of that area, 1 per weak term
    civil: int  # civil terms found
    strong: int = 0  # strong terms of that area found


class ScopeRules:
    def __init__(self, areas: dict[str, dict[str, list[str]]], civil_guard: list[str]) -> None:
        self.areas = {
            name: (tuple(spec.get("strong", [])), tuple(spec.get("weak", [])))
            for name, spec in areas.items()
        }
        self.civil_guard = tuple(civil_guard)

    @classmethod
    def load(cls, path: Path = SCOPE_FILE) -> ScopeRules:
        document = parse_yaml(path.read_text(encoding="utf-8"))
        return cls(document["areas"], document.get("civil_guard", []))

    def signal(self, text: str) -> ScopeSignal:
        """The out-of-scope area that `text` (normalized, no spaces) names most strongly."""
        civil = sum(term in text for term in self.civil_guard)
        best: tuple[int, str | None, int] = (0, None, 0)
        for name, (strong, weak) in self.areas.items():
            strong_found = sum(term in text for term in strong)
            score = 2 * strong_found + sum(term in text for term in weak)
            if score > best[0]:
                best = (score, name, strong_found)
        return ScopeSignal(best[1], best[0], civil, best[2])

    @staticmethod
    def decide(signal: ScopeSignal, confident_civil_answer: bool) -> str | None:
        """The area to redirect to, or None to treat the question as a civil one. A strong
        term redirects unless civil terms match the area's score; weak terms alone redirect
        only a question with no civil term (a single weak term only when no civil answer is
        confident): 公司 and 老板 are everyday words of civil disputes too."""
        if signal.area is None:
            return None
        if signal.area == CHITCHAT:
            return CHITCHAT if signal.civil == 0 else None
        if signal.strong and signal.score > signal.civil:
            return signal.area
        if signal.civil == 0 and (signal.score >= 2 or not confident_civil_answer):
            return signal.area
        return None
