"""The channel-neutral message model.

Channels translate platform updates into `Incoming` and render `Reply` back; handlers see
only these types. Everything here is plain data so it can be stored (outbox) and compared
(tests) without any SDK.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Literal

MessageKind = Literal["text", "button", "image", "voice", "file", "sticker", "location", "event"]

MAX_INPUT_CHARS = 2000
MAX_QUEUED_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Button:
    """A button: `label` is shown, `payload` comes back when pressed (<= 64 bytes for Telegram)."""

    label: str
    payload: str

    def __post_init__(self) -> None:
        if len(self.payload.encode()) > 64:
            raise ValueError(f"button payload over 64 bytes: {self.payload!r}")


@dataclass(frozen=True)
class Attachment:
    """A file to send: `kind` is 'image' or 'document'; content is bytes or a path on disk."""

    kind: Literal["image", "document"]
    filename: str
    data: bytes | None = None
    path: str | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ValueError("attachment has neither data nor path")
        with open(self.path, "rb") as handle:
            return handle.read()


@dataclass(frozen=True)
class Reply:
    """One message back to a user. Buttons render as a keyboard or as numbered options."""

    text: str
    buttons: tuple[Button, ...] = ()
    attachment: Attachment | None = None

    def to_dict(self) -> dict:
        """A JSON-safe form for the outbox: a file on disk by its path, a small file made
        in memory (a chart) as base64, so any process can send it."""
        data = asdict(self)
        attachment = data["attachment"]
        if attachment is not None:
            content = attachment.pop("data", None)
            if self.attachment.path is None:
                if content is None or len(content) > MAX_QUEUED_FILE_BYTES:
                    raise ValueError("only attachments on disk or under 5 MB can be queued")
                attachment["data_b64"] = base64.b64encode(content).decode("ascii")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Reply:
        attachment = dict(data.get("attachment") or {})
        if "data_b64" in attachment:
            attachment["data"] = base64.b64decode(attachment.pop("data_b64"))
        return cls(
            text=data["text"],
            buttons=tuple(Button(**b) for b in data.get("buttons", ())),
            attachment=Attachment(**attachment) if attachment else None,
        )


@dataclass(frozen=True)
class Incoming:
    """One thing a user did: a message, a button press, media or a platform event.

    `digit_buttons` is set by channels that show buttons as numbered options (console,
    WeChat): a bare number then presses the matching button offered last. `in_group` marks
    a message in a group chat: only public features answer there (bot.dispatcher).
    """

    channel: str
    user_id: str
    kind: MessageKind = "text"
    text: str = ""
    payload: str | None = None
    display_name: str | None = None
    message_id: str | None = None
    media_ref: str | None = None
    digit_buttons: bool = False
    in_group: bool = False  # said in a group chat, where others read the replies
    meta: dict = field(default_factory=dict)

    @property
    def is_command(self) -> bool:
        return self.kind == "text" and self.text.strip().startswith("/")

    def command(self) -> tuple[str, str]:
        """('grant', 'telegram:1 staff') for '/grant telegram:1 staff' (bot suffix dropped)."""
        head, _, rest = self.text.strip()[1:].partition(" ")
        return head.split("@", 1)[0].lower(), rest.strip()


def as_replies(result: Reply | str | list | tuple | None) -> list[Reply]:
    """Normalize a handler's return value to a list of replies."""
    if result is None:
        return []
    if isinstance(result, Reply | str):
        result = [result]
    return [Reply(item) if isinstance(item, str) else item for item in result]


@dataclass(frozen=True)
class Photo:
    """A picture a resident sent, fetched back from their platform (for the web console)."""

    data: bytes
    content_type: str


class PhotoUnavailable(Exception):
    """The platform could not hand the picture back (expired, deleted, network); the
    message is Chinese and says so."""
