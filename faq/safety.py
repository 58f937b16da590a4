"""Safety routes that come before any Civil Code answer: fraud in progress, domestic
violence, fake goods and consumer disputes. The terms and the messages are data
(faq/data/safety.yaml); a route names what to tell the resident first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faq.yamlfile import parse as parse_yaml

SAFETY_FILE = Path(__file__).with_name("data") / "safety.yaml"


@dataclass(frozen=True)
class SafetyRoute:
    name: str
    message: str
    follow_up: bool  # whether Civil Code entries may follow the message
    before_scope: bool  # checked before the out-of-scope areas (True) or after them
    any_terms: tuple[str, ...]
    all_of: tuple[tuple[tuple[str, ...], ...], ...]

    def applies(self, text: str) -> bool:
        if any(term in text for term in self.any_terms):
            return True
        return any(all(any(t in text for t in group) for group in combo) for combo in self.all_of)


class SafetyRules:
    def __init__(self, routes: list[SafetyRoute]) -> None:
        self.routes = tuple(routes)
        self.by_name = {route.name: route for route in routes}

    @classmethod
    def load(cls, path: Path = SAFETY_FILE) -> SafetyRules:
        document = parse_yaml(path.read_text(encoding="utf-8"))
        routes = [
            SafetyRoute(
                name=raw["name"],
                message=raw["message"].strip(),
                follow_up=bool(raw.get("follow_up", False)),
                before_scope=bool(raw.get("before_scope", True)),
                any_terms=tuple(str(t) for t in raw.get("any", [])),
                all_of=tuple(
                    tuple(tuple(str(t) for t in group) for group in combo)
                    for combo in raw.get("all_of", [])
                ),
            )
            for raw in document["routes"]
        ]
        return cls(routes)

    def route(self, text: str, before_scope: bool = True) -> SafetyRoute | None:
        """The first route (in file order: fraud first) of the given stage whose terms
        `text` contains."""
        for route in self.routes:
            if route.before_scope == before_scope and route.applies(text):
                return route
        return None
