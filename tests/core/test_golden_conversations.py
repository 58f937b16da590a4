"""The golden conversations: one scripted session through the real dispatcher, every reply
text and button (label and payload) compared with tests/core/golden/conversations.json.

This is the "same replies before and after" check for refactoring. Volatile parts (dates,
times, years, case numbers) are normalised explicitly. After an intended change of wording
or of the knowledge base, regenerate with:

    PUFA_UPDATE_GOLDEN=1 python -m pytest tests/core/test_golden_conversations.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from bot.messages import Incoming, Reply
from bot.testing import Harness

GOLDEN = Path(__file__).parent / "golden" / "conversations.json"
UPDATE = os.environ.get("PUFA_UPDATE_GOLDEN") == "1"

# (user, action, argument): "say" a line, "press" the first offered button whose label
# contains the argument, or "queued" to take the user's outbox messages.
SCRIPT: list[tuple[str, str, str]] = [
    ("alice", "say", "/start"),
    ("alice", "say", "/help"),
    ("alice", "say", "离婚冷静期是多少天"),
    ("alice", "press", "有帮助"),
    ("alice", "say", "邻居"),
    ("alice", "press", "都不是"),
    ("alice", "say", "借钱不还"),
    ("alice", "say", "1"),
    ("alice", "say", "量子力学里的波函数坍缩是什么意思"),
    ("alice", "say", "公司拖欠工资三个月了怎么办"),
    ("alice", "say", "你叫什么名字呀"),
    ("alice", "say", "第1077条"),
    ("alice", "say", "/article 2000"),
    ("alice", "say", "/start"),
    ("alice", "press", "浏览"),
    ("alice", "press", "继承"),
    ("alice", "say", "1"),
    ("alice", "say", "1"),
    ("alice", "say", "/subscribe"),
    ("admin", "say", "/grant console:lawyer adviser"),
    ("admin", "say", "/grant console:clerk staff"),
    ("bob", "say", "/consult"),
    ("bob", "press", "同意"),
    ("bob", "press", "房产物业"),
    ("bob", "press", "东风里社区"),
    ("bob", "say", "楼上邻居装修把我家天花板弄漏水了，物业说不归他们管，我该找谁赔偿？"),
    ("bob", "press", "描述完毕"),
    ("bob", "say", "138 1234 5678"),
    ("bob", "press", "确认提交"),
    ("bob", "say", "/mycases"),
    ("lawyer", "queued", ""),
    ("lawyer", "press", "认领"),
    ("bob", "queued", ""),
    ("lawyer", "press", "回复"),
    ("lawyer", "say", "可以要求楼上邻居赔偿维修费用，依据民法典第1165条。建议先拍照留证。"),
    ("bob", "queued", ""),
    ("bob", "press", "满意"),
    ("lawyer", "say", "/cases"),
    ("bob", "say", "/notice"),
    ("clerk", "say", "/notice"),
    ("clerk", "say", "周六上午华阳里社区有义务法律咨询，欢迎居民参加。"),
    ("clerk", "press", "全部"),
    ("clerk", "press", "立即发送"),
    ("alice", "queued", ""),
    ("clerk", "say", "/stats"),
    ("alice", "say", "/stats"),
    ("alice", "say", "/nosuchcommand"),
]

VOLATILE = [
    (re.compile(r"ZS-\d{4}-\d{4}"), "ZS-<year>-<n>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<date>"),
    (re.compile(r"\d{4}年(\d{1,2}月(\d{1,2}日)?)?"), "<date>"),
    (re.compile(r"\d{1,2}月\d{1,2}日"), "<date>"),
    (re.compile(r"\b\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"-20\d{2}\b"), "-<year>"),
    (re.compile(r"\d{1,2}:\d{2}(:\d{2})?"), "<time>"),
]


def normalise(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def recorded(replies: list[Reply]) -> list[dict]:
    out = []
    for reply in replies:
        item: dict = {"text": normalise(reply.text)}
        if reply.buttons:
            item["buttons"] = [[normalise(b.label), normalise(b.payload)] for b in reply.buttons]
        if reply.attachment is not None:
            item["attachment"] = [reply.attachment.kind, normalise(reply.attachment.filename)]
        out.append(item)
    return out


def press(harness: Harness, user: str, label_part: str, last: list[Reply]) -> list[Reply]:
    for reply in last:
        for button in reply.buttons:
            if label_part in button.label:
                incoming = Incoming(
                    channel="console",
                    user_id=user,
                    kind="button",
                    payload=button.payload,
                    text=button.label,
                )
                return harness.services.dispatcher.handle(incoming)
    offered = [b.label for r in last for b in r.buttons]
    raise AssertionError(f"{user}: no button with {label_part!r}; offered: {offered}")


def run_script(harness: Harness) -> list[dict]:
    transcript = []
    last: dict[str, list[Reply]] = {}
    for user, action, argument in SCRIPT:
        if action == "say":
            replies = harness.say(user, argument)
        elif action == "press":
            replies = press(harness, user, argument, last.get(user, []))
        else:
            replies = harness.queued(user)
        last[user] = replies
        step = {"user": user, action: argument, "replies": recorded(replies)}
        transcript.append(step)
    return transcript


def test_the_scripted_conversations_get_the_golden_replies(harness: Harness):
    transcript = run_script(harness)
    if UPDATE or not GOLDEN.exists():
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(transcript, ensure_ascii=False, indent=1) + "\n", "utf-8")
    golden = json.loads(GOLDEN.read_text("utf-8"))
    assert len(transcript) == len(golden)
    for step, expected in zip(transcript, golden, strict=True):
        assert step == expected


def test_normalising_hides_dates_times_and_case_numbers():
    text = "案件 ZS-2026-0007 于 2026-12-04 09:30 提交，2026年12月4日，12-04 stats-2026.png"
    expected = "案件 ZS-<year>-<n> 于 <date> <time> 提交，<date>，<date> stats-<year>.png"
    assert normalise(text) == expected
