"""Buttons of consultations shared by the resident's and the adviser's side."""

from __future__ import annotations

from bot.messages import Button
from bot.payload import MyCaseButton


def answer_buttons(number: str) -> tuple[Button, ...]:
    """Under an adviser's answer: rate it, or ask more."""
    return (
        Button("😊 满意", MyCaseButton("r", number, 5).pack()),
        Button("😐 一般", MyCaseButton("r", number, 3).pack()),
        Button("🙁 不满意", MyCaseButton("r", number, 1).pack()),
        Button("💬 继续追问", MyCaseButton("f", number).pack()),
    )
