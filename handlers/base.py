"""The contract between the dispatcher and the handlers.

A handler receives one of the project's events (``bot.vocab.events``) with a
:class:`Context` and returns a :class:`Result` (actions and effects as data,
and whether the chain stops) or ``None`` when the event is not its business.
Handlers decide; ``bot.doer`` does: they never talk to WeChat, never import
Wechaty and never write the bot's records themselves (an
:class:`~bot.vocab.effects.Effect` says what to write).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.vocab.actions import Action
from bot.vocab.clock import Clock
from bot.vocab.effects import Effect
from bot.vocab.events import Event
from bot.vocab.policy import GroupPolicy

if TYPE_CHECKING:
    from bot.config import BotConfig
    from bot.policies import PolicyBook
    from handlers.services import Services
    from storage.repo import Repository

Submit = Callable[[Sequence[Action]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use.  ``policy`` is the room's, resolved once."""

    config: BotConfig
    repo: Repository
    clock: Clock
    submit: Submit  # for actions decided later (e.g. a batched welcome)
    bot_id: str
    policies: PolicyBook
    policy: GroupPolicy | None = None
    sessions: Any = None  # the async session factory: a feature builds its stores on it
    services: Services | None = None  # what the app hands features (per-app state too)


@dataclass(frozen=True, slots=True)
class Result:
    actions: Sequence[Action] = field(default=())
    stop: bool = False  # end the chain: later groups do not see the event
    effects: Sequence[Effect] = field(default=())  # applied before the actions are queued


HANDLED = Result()
STOP = Result(stop=True)


class BaseHandler:
    """Handlers with nothing to finish at shutdown inherit a no-op ``close``."""

    async def close(self) -> None:
        return None


class Handler(Protocol):
    name: str

    async def handle(self, event: Event, ctx: Context) -> Result | None: ...

    async def close(self) -> None:
        """Finish pending work (flush buffers, send batched messages)."""
