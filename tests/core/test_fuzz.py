"""Property-based: random text, button payloads and platform updates never crash the
dispatcher or the channels' translators (an exception would end in "系统出了点问题" or an
HTTP 500 for a resident who typed something unusual)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from telegram import Update

from bot.channels.telegram_format import incoming_from_update
from bot.channels.wechat import Rejected, parse_xml, translate
from bot.dispatcher import TEXT_ERROR
from bot.messages import Incoming
from bot.models import LedgerEvent
from bot.payload import PAYLOADS

PREFIX_LIST = sorted(p.prefix for p in PAYLOADS)
odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60
) | st.sampled_from(
    ["2-1", "2.1", "2+1", "①", "²", "9" * 40, "/", "/ ", "/case", "第条", "第99999条"]
)
payloads = st.builds(
    lambda prefix, rest: f"{prefix}:{rest}" if rest else prefix,
    st.sampled_from(PREFIX_LIST) | st.text(max_size=8),
    st.text(alphabet="0123456789:-aby①²ZS", max_size=30),
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def no_errors(engine) -> bool:
    with Session(engine) as session:
        return session.exec(select(LedgerEvent).where(LedgerEvent.kind == "error")).first() is None


@FUZZ
@given(texts=st.lists(odd_text, min_size=1, max_size=4))
def test_random_text_never_breaks_a_handler(harness, texts):
    for text in texts:
        replies = harness.say("fuzz", text)
        assert all(TEXT_ERROR not in r.text for r in replies), text
    assert no_errors(harness.services.engine)


@FUZZ
@given(payload=payloads, as_staff=st.booleans())
def test_random_button_payloads_never_break_a_handler(harness, payload, as_staff):
    user = "admin" if as_staff else "fuzzer"
    press = Incoming(channel="console", user_id=user, kind="button", payload=payload, text="?")
    replies = harness.services.dispatcher.handle(press)
    assert all(TEXT_ERROR not in r.text for r in replies), payload
    assert no_errors(harness.services.engine)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
updates = st.fixed_dictionaries(
    {"update_id": st.integers(1, 2**31)},
    optional={
        "message": st.fixed_dictionaries(
            {
                "message_id": st.integers(1, 10**6),
                "date": st.integers(0, 2**31),
                "chat": st.fixed_dictionaries(
                    {
                        "id": st.integers(-(10**12), 10**12),
                        "type": st.sampled_from(["private", "group", "supergroup", "channel", "x"]),
                    }
                ),
            },
            optional={
                "from": st.fixed_dictionaries(
                    {
                        "id": st.integers(1, 10**12),
                        "is_bot": st.booleans(),
                        "first_name": st.text(max_size=10),
                    }
                ),
                "text": odd_text,
                "caption": odd_text,
                "photo": json_values,
                "voice": json_values,
                "entities": json_values,
            },
        ),
        "callback_query": st.fixed_dictionaries(
            {
                "id": st.text(min_size=1, max_size=10),
                "chat_instance": st.text(max_size=5),
                "from": st.fixed_dictionaries(
                    {
                        "id": st.integers(1, 10**12),
                        "is_bot": st.booleans(),
                        "first_name": st.just("x"),
                    }
                ),
            },
            optional={"data": payloads},
        ),
        "edited_message": json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(raw=updates)
def test_telegram_translation_takes_any_update_the_library_parses(raw):
    try:
        update = Update.de_json(raw, None)
    except Exception:  # the library refuses it: the inbox worker sets it aside (tested there)
        return
    incoming = incoming_from_update(update)
    assert incoming is None or isinstance(incoming, Incoming)


wechat_fields = st.dictionaries(
    st.sampled_from(
        [
            "FromUserName",
            "MsgType",
            "Content",
            "MsgId",
            "Event",
            "EventKey",
            "Recognition",
            "MediaId",
            "CreateTime",
            "PicUrl",
            "Label",
        ]
    ),
    odd_text
    | st.sampled_from(
        ["text", "event", "voice", "image", "CLICK", "subscribe", "unsubscribe", "LOCATION"]
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(fields=wechat_fields)
def test_wechat_translation_takes_any_message(fields):
    fields.setdefault("FromUserName", "oFuzz")
    translate(fields, "mfuzz")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_wechat_xml_parsing_refuses_or_parses(body):
    try:
        parse_xml(body)
    except Rejected as exc:
        assert exc.status == 400
