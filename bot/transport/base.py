"""What the rest of the runtime needs from a transport.

Only ``bot.executor`` calls :meth:`Transport.execute` (after the governor);
only the app wires :meth:`Transport.start`'s sink to the dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.vocab.actions import Action
from bot.vocab.events import Event

# May return an awaitable: the transport then waits for it (back-pressure).
Sink = Callable[[Event], Awaitable[None] | None]


class ActionFailed(Exception):
    """The transport could not carry out an action (the text says why)."""


class Transport(Protocol):
    @property
    def self_id(self) -> str | None: ...

    async def start(self, sink: Sink) -> None: ...

    async def stop(self) -> None: ...

    async def snapshots(self, room_ids: list[str] | None = None) -> list[Event]:
        """Who is in each room now (member-list reads: use sparingly)."""

    async def execute(self, action: Action) -> str | None:
        """Carry out one action; return what the platform returned (a message id)."""
