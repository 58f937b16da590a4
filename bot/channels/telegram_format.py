"""Telegram translation and rendering: Update → `Incoming`, `Reply` → Bot API calls.

Pure functions on python-telegram-bot's objects (and `send_part`, the one call per part), used
by the channel for answers and by its sender for queued messages. Replies are plain text (no
parse mode, so user text needs no escaping); buttons become inline keyboards whose callback
data is the button payload (<= 64 bytes, checked by `Button`); text over Telegram's 4096
UTF-16 units is split at paragraph boundaries, the keyboard going on the last part; files are
sent as photos or documents, with the text as caption when it fits.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ExtBot
from telegram.warnings import PTBDeprecationWarning

from bot.messages import Attachment, Button, Incoming, MessageKind, Reply

CHANNEL = "telegram"
MAX_TEXT = 4096  # Telegram's limit for a message, in UTF-16 code units
MAX_CAPTION = 1024
EMPTY_TEXT_WITH_BUTTONS = "请选择："
SHORT_LABEL = 10  # buttons with labels this short share a row, two by two


# --- translation: Update → Incoming --------------------------------------------------------------
# Message content → neutral kind. Order matters: an animation also carries a document and a
# venue a location. Service messages (members joining, pins, …) have none of these: ignored.
CONTENT_KINDS: tuple[tuple[str, MessageKind], ...] = (
    ("photo", "image"),
    ("animation", "image"),
    ("sticker", "sticker"),
    ("voice", "voice"),
    ("video_note", "file"),
    ("audio", "file"),
    ("video", "file"),
    ("document", "file"),
    ("venue", "location"),
    ("location", "location"),
    ("contact", "file"),
    ("dice", "file"),
    ("poll", "file"),
    ("game", "file"),
    ("story", "file"),
)


def incoming_from_update(update: Update) -> Incoming | None:
    """The neutral message for an update, or None for updates that are not a user's doing
    (edits, channel posts, service messages, button presses without data)."""
    if update.callback_query is not None:
        return _incoming_from_callback(update.callback_query)
    if update.message is not None:
        return _incoming_from_message(update.message)
    return None


def _incoming_from_message(message: Message) -> Incoming | None:
    sender = message.from_user
    if sender is None or sender.is_bot:
        return None
    meta: dict[str, Any] = {"chat_id": message.chat_id, "chat_type": message.chat.type}
    common = {
        "channel": CHANNEL,
        "user_id": str(sender.id),
        "display_name": sender.full_name or None,
        "message_id": str(message.message_id),
    }
    if message.text is not None:
        return Incoming(kind="text", text=message.text, meta=meta, **common)
    for attribute, kind in CONTENT_KINDS:
        content = getattr(message, attribute, None)
        if content:
            meta.update(_content_meta(attribute, content))
            return Incoming(
                kind=kind,
                text=message.caption or "",
                media_ref=_file_id(content),
                meta=meta,
                **common,
            )
    return None


def _content_meta(attribute: str, content: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"content": attribute}
    if attribute in ("location", "venue"):
        location = content.location if attribute == "venue" else content
        meta.update(latitude=location.latitude, longitude=location.longitude)
    with warnings.catch_warnings():  # PTB 22 warns on int durations
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        for name in ("file_name", "mime_type", "duration", "emoji"):
            value = getattr(content, name, None)
            if value is not None:
                meta[name] = value.total_seconds() if hasattr(value, "total_seconds") else value
    return meta


def _file_id(content: Any) -> str | None:
    if isinstance(content, tuple):  # photo sizes, smallest first
        content = content[-1] if content else None
    return getattr(content, "file_id", None)


def _incoming_from_callback(query: CallbackQuery) -> Incoming | None:
    if query.data is None or query.from_user.is_bot:
        return None
    message = query.message if isinstance(query.message, Message) else None
    return Incoming(
        channel=CHANNEL,
        user_id=str(query.from_user.id),
        kind="button",
        text=_pressed_label(message, query.data),
        payload=query.data,
        display_name=query.from_user.full_name or None,
        message_id=str(message.message_id) if message else None,
        meta={"chat_id": message.chat_id} if message else {},
    )


def _pressed_label(message: Message | None, data: str) -> str:
    markup = message.reply_markup if message is not None else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return ""


def addressed_elsewhere(text: str, bot_username: str | None) -> bool:
    """'/start@other_bot' in a group is meant for another bot."""
    head = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if not head.startswith("/") or "@" not in head:
        return False
    return bool(bot_username) and head.split("@", 1)[1].lower() != bot_username.lower()


# --- rendering: Reply → messages -----------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One Bot API call of a rendered reply: a text message, a photo or a document."""

    kind: str  # "text" | "image" | "document"
    text: str
    markup: InlineKeyboardMarkup | None = None
    attachment: Attachment | None = None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split `text` into messages of at most `limit` UTF-16 units: at paragraph boundaries,
    else at line ends, else (one huge line) wherever the limit falls."""
    if utf16_len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}{piece.separator}{piece.text}" if current else piece.text
        if utf16_len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = piece.text
    if current:
        chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


@dataclass(frozen=True)
class _Piece:
    text: str
    separator: str


def _pieces(text: str, limit: int) -> list[_Piece]:
    """Paragraphs, with oversized ones cut into lines and oversized lines cut hard."""
    pieces: list[_Piece] = []
    for paragraph in text.split("\n\n"):
        if utf16_len(paragraph) <= limit:
            pieces.append(_Piece(paragraph, "\n\n"))
            continue
        for index, line in enumerate(paragraph.split("\n")):
            separator = "\n\n" if index == 0 else "\n"
            for cut_index, cut in enumerate(_hard_cuts(line, limit)):
                pieces.append(_Piece(cut, separator if cut_index == 0 else ""))
    return pieces


def _hard_cuts(line: str, limit: int) -> list[str]:
    cuts, current, size = [], [], 0
    for char in line:
        width = utf16_len(char)
        if size + width > limit:
            cuts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    cuts.append("".join(current))
    return cuts


def inline_keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: long labels one per row, short ones two per row."""
    if not buttons:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        key = InlineKeyboardButton(button.label, callback_data=button.payload)
        previous = rows[-1] if rows else None
        if (
            previous is not None
            and len(previous) == 1
            and len(button.label) <= SHORT_LABEL
            and len(previous[0].text) <= SHORT_LABEL
        ):
            previous.append(key)
        else:
            rows.append([key])
    return InlineKeyboardMarkup(rows)


def plan(reply: Reply) -> list[Part]:
    """The Bot API calls that show `reply`; the keyboard goes on the last one."""
    markup = inline_keyboard(reply.buttons)
    text = reply.text if reply.text.strip() else ""
    if reply.attachment is not None:
        kind = "image" if reply.attachment.kind == "image" else "document"
        if utf16_len(text) <= MAX_CAPTION:
            return [Part(kind, text, markup, reply.attachment)]
        texts = [Part("text", chunk) for chunk in split_text(text)]
        return [*texts, Part(kind, "", markup, reply.attachment)]
    if not text:
        return [Part("text", EMPTY_TEXT_WITH_BUTTONS, markup)] if markup else []
    chunks = split_text(text)
    return [Part("text", chunk, markup if last else None) for last, chunk in _mark_last(chunks)]


def _mark_last(items: list[str]) -> list[tuple[bool, str]]:
    return [(index == len(items) - 1, item) for index, item in enumerate(items)]


async def send_part(bot: ExtBot, chat_id: int, part: Part) -> Message:
    """Make the one Bot API call for `part` (plain text: nothing to escape)."""
    if part.kind == "text":
        return await bot.send_message(chat_id, part.text, reply_markup=part.markup)
    attachment = part.attachment
    assert attachment is not None
    data = await asyncio.to_thread(attachment.read)
    caption = part.text or None
    if part.kind == "image":
        return await bot.send_photo(
            chat_id, data, caption=caption, reply_markup=part.markup, filename=attachment.filename
        )
    return await bot.send_document(
        chat_id, data, caption=caption, reply_markup=part.markup, filename=attachment.filename
    )
