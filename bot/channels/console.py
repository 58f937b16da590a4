"""The console channel: one line in, the replies out; buttons as numbered options.

Works interactively (a prompt on a terminal) and with piped input (exits at end of
input). Messages queued for this console user by others (an adviser's answer, a notice)
are printed before the next prompt and, while the console waits for input, as they come
(`run_async`, which `python bot.py chat` runs beside the publicity scheduler, so a notice
scheduled from the console goes out and its delivery report arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from bot.dispatcher import Dispatcher
from bot.messages import Incoming, Reply
from bot.runtime import outbox
from bot.runtime.delivery import complete_pushes
from bot.services import users
from bot.services.export import export_dir

CHANNEL = "console"
QUEUED_POLL_SECONDS = 1.0
log = logging.getLogger(__name__)


def save_attachment(reply: Reply, folder: Path) -> Reply:
    """A reply whose in-memory file (a chart) is written to `folder`, so a console user
    can open it; the reply then names the file by its path."""
    attachment = reply.attachment
    if attachment is None or attachment.path is not None or attachment.data is None:
        return reply
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(attachment.filename).name
    path.write_bytes(attachment.data)
    log.info("console: saved %s", path)
    saved = dataclasses.replace(attachment, data=None, path=str(path.resolve()))
    return dataclasses.replace(reply, attachment=saved)


def render(reply: Reply) -> str:
    """A reply as console text: the text, a file line, then numbered options."""
    lines = [reply.text]
    if reply.attachment is not None:
        where = reply.attachment.path or reply.attachment.filename
        lines.append(f"[文件] {where}")
    lines += [f"  {number}. {button.label}" for number, button in enumerate(reply.buttons, 1)]
    return "\n".join(lines)


class ConsoleChannel:
    def __init__(
        self, dispatcher: Dispatcher, user: str = "me", *, display_name: str | None = None
    ):
        self.dispatcher = dispatcher
        self.user = user
        self.display_name = display_name

    def say(self, text: str) -> list[Reply]:
        """Handle one typed line and return the replies (the in-memory form used by tests)."""
        incoming = Incoming(
            channel=CHANNEL,
            user_id=self.user,
            kind="text",
            text=text,
            display_name=self.display_name,
            digit_buttons=True,
        )
        return self.dispatcher.handle(incoming)

    def deliver_queued(self) -> list[Reply]:
        """Take this user's queued outbox messages, marking them delivered."""
        delivered: list[Reply] = []
        with Session(self.dispatcher.engine) as session:
            user = users.find(session, CHANNEL, self.user)
            if user is None:
                return delivered
            for message in outbox.pending(session, CHANNEL, user_id=user.id):
                delivered.append(outbox.reply_of(message))
                outbox.mark_sent(session, message)
            offered = [b for reply in delivered for b in reply.buttons]
            if offered:  # so that typing a number presses a button of a queued message
                user.offered_buttons = [{"label": b.label, "payload": b.payload} for b in offered]
            session.commit()
        if delivered:  # a push may be complete now: its author's delivery report is queued
            complete_pushes(self.dispatcher.engine)
        return delivered

    def run(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
        interactive = stdin.isatty()
        if interactive:
            stdout.write(f"普法助手（控制台，用户 {self.user}）。输入问题，Ctrl-D 退出。\n")
        self._print(self.deliver_queued(), stdout)
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                break
            self._print(self.say(line.rstrip("\r\n")), stdout)
            self._print(self.deliver_queued(), stdout)
        return 0

    async def run_async(
        self,
        stop: asyncio.Event,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        *,
        poll_seconds: float = QUEUED_POLL_SECONDS,
    ) -> int:
        """As `run`, while other work shares the event loop; messages queued for this user
        are printed every `poll_seconds` while the console waits for a line."""
        interactive = stdin.isatty()
        if interactive:
            stdout.write(f"普法助手（控制台，用户 {self.user}）。输入问题，Ctrl-D 退出。\n")
        self._print(await asyncio.to_thread(self.deliver_queued), stdout)
        waiting = asyncio.Event()
        printer = asyncio.create_task(self._print_as_queued(stop, waiting, stdout, poll_seconds))
        try:
            while not stop.is_set():
                if interactive:
                    stdout.write("> ")
                    stdout.flush()
                waiting.set()
                line = await asyncio.to_thread(stdin.readline)
                waiting.clear()
                if not line:
                    break
                self._print(await asyncio.to_thread(self.say, line.rstrip("\r\n")), stdout)
                self._print(await asyncio.to_thread(self.deliver_queued), stdout)
        finally:
            stop.set()
            printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await printer
        return 0

    async def _print_as_queued(
        self, stop: asyncio.Event, waiting: asyncio.Event, stdout: TextIO, poll_seconds: float
    ) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
            if waiting.is_set() and not stop.is_set():
                self._print(await asyncio.to_thread(self.deliver_queued), stdout)

    def _print(self, replies: list[Reply], stdout: TextIO) -> None:
        folder = export_dir(self.dispatcher.settings.database_url) / "console"
        for reply in replies:
            stdout.write(render(save_attachment(reply, folder)) + "\n\n")
        stdout.flush()
