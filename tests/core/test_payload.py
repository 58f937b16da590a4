"""Typed button payloads: the same strings as before, one prefix per class, and garbage
from a forger is a PayloadError (answered as a stale button), never a crash."""

from __future__ import annotations

import contextlib
import random

import pytest

from bot.dispatcher import TEXT_STALE_BUTTON
from bot.messages import Incoming
from bot.payload import (
    MAX_BYTES,
    PAYLOADS,
    Browse,
    CampaignButton,
    FaqPick,
    Feedback,
    IntakeButton,
    MyCaseButton,
    PayloadError,
    QueueButton,
    ScheduleButton,
    SubscriptionButton,
)
from bot.testing import Harness

EXAMPLES = [
    (IntakeButton("back"), "cs:back"),
    (IntakeButton("t", "0"), "cs:t:0"),
    (MyCaseButton("r", "ZS-2026-0001", 5), "cm:r:ZS-2026-0001:5"),
    (QueueButton("cancel"), "cq:cancel"),
    (SubscriptionButton(), "sub"),
    (SubscriptionButton("t", 3), "sub:t:3"),
    (ScheduleButton("edit", 12), "sch:edit:12"),
    (CampaignButton("daily", "off"), "camp:daily:off"),
    (Feedback("y", 7, "mf-cooling-off"), "fb:y:7:mf-cooling-off"),
    (FaqPick(0, FaqPick.NONE_OF_THESE), "faq:0:-"),
    (Browse(), "browse"),
    (Browse(5, 0), "browse:5:0"),
]


@pytest.mark.parametrize(("payload", "packed"), EXAMPLES)
def test_payloads_pack_to_the_strings_buttons_always_had_and_back(payload, packed):
    assert payload.pack() == packed
    assert type(payload).unpack(packed) == payload


def test_every_prefix_is_declared_once():
    prefixes = [cls.prefix for cls in PAYLOADS]
    assert len(prefixes) == len(set(prefixes)) and "" not in prefixes


def test_pack_refuses_what_unpack_would_refuse():
    with pytest.raises(ValueError, match="64 bytes"):
        IntakeButton("a" * 48, "b" * 48).pack()  # fields that fit, a payload that does not
    with pytest.raises(ValueError):
        QueueButton("v", "ZS:2026").pack()  # a separator inside a field
    with pytest.raises(ValueError):
        MyCaseButton("r", None, 5).pack()  # only trailing fields may be missing


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "cq",
        "browse:x",
        "browse:٣",
        "browse:1:2:3",
        "sch:edit:",
        "sch:edit:1e3",
        "faq:1",
        "fb:y:1:a b",
        "cm:r:ZS-2026-0001:99999999999",
        "cs:" + "a" * 70,
        "cs:t:0\n",
    ],
)
def test_unpack_raises_only_payload_errors_on_garbage(garbage):
    for cls in PAYLOADS:
        with contextlib.suppress(PayloadError):
            cls.unpack(garbage)


def test_random_bytes_never_raise_anything_but_a_payload_error():
    rng = random.Random(11)
    alphabet = "abcsmqtnfry:0123456789-_.٣ \x00é"
    for _ in range(3000):
        cls = rng.choice(PAYLOADS)
        text = cls.prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        try:
            payload = cls.unpack(text)
        except PayloadError:
            continue
        assert payload.pack() == text and len(text.encode()) <= MAX_BYTES


@pytest.mark.parametrize("garbage", ["browse:٣", "fb:y:x:y", "faq:1:a b", "cm:r:ZS-1:5:6"])
def test_the_dispatcher_answers_a_forged_payload_as_a_stale_button(harness: Harness, garbage):
    incoming = Incoming(channel="console", user_id="eve", kind="button", payload=garbage)
    replies = harness.services.dispatcher.handle(incoming)
    assert replies[0].text == TEXT_STALE_BUTTON
