"""Typed button payloads: every prefix once, packed and unpacked in one place.

A payload is `prefix[:field…]` — the text a platform sends back when a button is pressed
(Telegram allows 64 bytes of callback data). Each kind of button is a frozen dataclass
with a `prefix` and typed fields (modelled on aiogram's CallbackData); trailing fields
that are None are left out, so `IntakeButton("back")` packs to "cs:back" and
`IntakeButton("t", "0")` to "cs:t:0".

`unpack` never raises anything but `PayloadError` (which the dispatcher answers as a
stale button): an int field is ASCII digits only, at most 9 of them; a text field is
ASCII letters, digits and `-_.`, at most 48 characters. Payloads come from users, so
they are checked like any other input; `pack` applies the same checks (a bad button is
a programming error and fails at once).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import ClassVar, Self

MAX_BYTES = 64
SEPARATOR = ":"
INT_FIELD = re.compile(r"[0-9]{1,9}")
TEXT_FIELD = re.compile(r"[A-Za-z0-9_.\-]{1,48}")


class PayloadError(ValueError):
    """A payload that does not fit its class: an unknown, forged or outdated button."""


@dataclass(frozen=True)
class Payload:
    prefix: ClassVar[str] = ""

    def pack(self) -> str:
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        while values and values[-1] is None:
            values.pop()
        if None in values:
            raise ValueError(f"{type(self).__name__}: only trailing fields may be None")
        parts = [self.prefix]
        for (name, kind), value in zip(_field_types(type(self)), values, strict=False):
            text = str(value)
            if not _fits(kind, text):
                raise ValueError(
                    f"{type(self).__name__}.{name}: {text!r} cannot be a payload field"
                )
            parts.append(text)
        packed = SEPARATOR.join(parts)
        if len(packed.encode()) > MAX_BYTES:
            raise ValueError(f"payload {packed!r} is longer than {MAX_BYTES} bytes")
        return packed

    @classmethod
    def unpack(cls, data: str | None) -> Self:
        """The payload `data` as this class; PayloadError for anything else."""
        if not isinstance(data, str) or len(data.encode()) > MAX_BYTES:
            raise PayloadError(f"not a {cls.prefix} payload")
        prefix, *parts = data.split(SEPARATOR)
        types_ = _field_types(cls)
        required = sum(1 for f in dataclasses.fields(cls) if _is_required(f))
        if prefix != cls.prefix or not required <= len(parts) <= len(types_):
            raise PayloadError(f"not a {cls.prefix} payload: {data[:64]!r}")
        values = []
        for (name, kind), text in zip(types_, parts, strict=False):
            if not _fits(kind, text):
                raise PayloadError(f"{cls.prefix}: bad {name} {text[:20]!r}")
            values.append(int(text) if kind is int else text)
        return cls(*values)


@typing.no_type_check
def _field_types(cls: type[Payload]) -> list[tuple[str, type]]:
    """(name, int or str) per field, in order."""
    hints = typing.get_type_hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if isinstance(hint, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        out.append((field.name, hint))
    return out


def _is_required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _fits(kind: type, text: str) -> bool:
    pattern = INT_FIELD if kind is int else TEXT_FIELD
    return pattern.fullmatch(text) is not None


# --- the buttons, one class per prefix -------------------------------------------------------
@dataclass(frozen=True)
class Help(Payload):
    prefix: ClassVar[str] = "help"


@dataclass(frozen=True)
class MainMenu(Payload):
    prefix: ClassVar[str] = "menu"


@dataclass(frozen=True)
class Consult(Payload):
    """Start a consultation (the intake's first step)."""

    prefix: ClassVar[str] = "consult"


@dataclass(frozen=True)
class Browse(Payload):
    """browse → books; browse:<book> → topics; browse:<book>:<topic> → questions."""

    prefix: ClassVar[str] = "browse"
    book: int | None = None
    topic: int | None = None


@dataclass(frozen=True)
class FaqPick(Payload):
    """A suggestion or a listed question: faq:<question id or 0>:<entry id or ->."""

    prefix: ClassVar[str] = "faq"
    question: int
    entry: str

    NONE_OF_THESE: ClassVar[str] = "-"


@dataclass(frozen=True)
class Feedback(Payload):
    """👍/👎 under an answer: fb:y|n:<question id>:<entry id>."""

    prefix: ClassVar[str] = "fb"
    verdict: str
    question: int
    entry: str


@dataclass(frozen=True)
class IntakeButton(Payload):
    """The consultation intake: cs:<action>[:<arg>] (arg: an option index or a step)."""

    prefix: ClassVar[str] = "cs"
    action: str
    arg: str | None = None


@dataclass(frozen=True)
class MyCaseButton(Payload):
    """A resident's own cases: cm:<action>[:<case number>[:<score>]]."""

    prefix: ClassVar[str] = "cm"
    action: str
    number: str | None = None
    score: int | None = None


@dataclass(frozen=True)
class QueueButton(Payload):
    """The advisers' queue: cq:<action>[:<case number>]."""

    prefix: ClassVar[str] = "cq"
    action: str
    number: str | None = None


@dataclass(frozen=True)
class SubscriptionButton(Payload):
    """Subscription settings: sub[:<action>[:<option index>]]."""

    prefix: ClassVar[str] = "sub"
    action: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class NoticeButton(Payload):
    """The staff notice flow: nt:<action>[:<arg>]."""

    prefix: ClassVar[str] = "nt"
    action: str
    arg: str | None = None


@dataclass(frozen=True)
class ScheduleButton(Payload):
    """A scheduled push: sch:<action>:<schedule id>."""

    prefix: ClassVar[str] = "sch"
    action: str
    schedule: int


@dataclass(frozen=True)
class CampaignButton(Payload):
    """Campaigns: camp:<observance key> | camp:daily[:on|off]."""

    prefix: ClassVar[str] = "camp"
    key: str
    switch: str | None = None

    DAILY: ClassVar[str] = "daily"


@dataclass(frozen=True)
class ActivityButton(Payload):
    """The offline-activity flow and list: act:<action>[:<arg>]."""

    prefix: ClassVar[str] = "act"
    action: str
    arg: str | None = None


@dataclass(frozen=True)
class WorkButton(Payload):
    """The adviser's work-log dialogue: wk:<action>[:<arg>] (k = kind, v = a value)."""

    prefix: ClassVar[str] = "wk"
    action: str
    arg: str | None = None


@dataclass(frozen=True)
class LitigationButton(Payload):
    """The litigation register: lit:show:<case id>."""

    prefix: ClassVar[str] = "lit"
    action: str
    arg: int | None = None


@dataclass(frozen=True)
class WalkinButton(Payload):
    """Recording a walk-in, phone or hotline consultation: wi:<action>[:<arg>] (o = option)."""

    prefix: ClassVar[str] = "wi"
    action: str
    arg: str | None = None


@dataclass(frozen=True)
class CommunityButton(Payload):
    """A resident's community in /settings: com:set:<index> | com:skip | com:clear."""

    prefix: ClassVar[str] = "com"
    action: str
    index: int | None = None


PAYLOADS: tuple[type[Payload], ...] = (
    Help,
    MainMenu,
    Consult,
    Browse,
    FaqPick,
    Feedback,
    IntakeButton,
    MyCaseButton,
    QueueButton,
    SubscriptionButton,
    NoticeButton,
    ScheduleButton,
    CampaignButton,
    ActivityButton,
    WorkButton,
    LitigationButton,
    WalkinButton,
    CommunityButton,
)


def prefix_of(data: str | None) -> str:
    """The prefix a payload is routed by ('' for none)."""
    return (data or "").split(SEPARATOR, 1)[0]
