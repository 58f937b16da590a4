"""What every live channel provides to the rest of the application.

A channel owns its platform connection. It translates platform updates into `Incoming`,
hands them to the dispatcher (in a worker thread: handlers use a synchronous Session) and
renders the returned replies. For messages that are not answers to the current update
(adviser replies, notices) it provides a `Sender`, which the delivery worker
(bot.runtime.delivery) drives from the outbox at the channel's rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.messages import Reply


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of one send.

    sent        — the platform accepted it.
    retry       — a transient failure (network, flood control); try again after `retry_after` s.
    unreachable — the user blocked the bot or can no longer be messaged; do not retry.
    failed      — a permanent error for this message (bad request); do not retry.
    """

    status: Literal["sent", "retry", "unreachable", "failed"]
    retry_after: float = 0.0
    error: str = ""


class Sender(Protocol):
    channel: str
    rate_per_second: float

    async def send(self, external_id: str, reply: Reply) -> DeliveryOutcome: ...


class Channel(Protocol):
    name: str
    sender: Sender

    async def start(self) -> None:
        """Connect and begin receiving (returns once running)."""

    async def stop(self) -> None:
        """Stop receiving and close connections."""
