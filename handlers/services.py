"""What the app hands a feature: at ``setup`` (to build its handlers) and to its effects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.vocab.actions import Action
from bot.vocab.clock import Clock
from bot.vocab.events import Event

if TYPE_CHECKING:
    from bot.alerts import Alerter
    from bot.config import BotConfig
    from bot.policies import PolicyBook
    from storage.repo import Repository


@dataclass(frozen=True)
class Services:
    config: BotConfig
    repo: Repository
    clock: Clock
    sessions: Any  # the async session factory: a feature's own stores take it
    policies: PolicyBook
    alerter: Alerter
    feed: Callable[[Event], None]  # events a handler finds (a member list's joins)
    submit: Callable[[Sequence[Action]], Awaitable[None]]
    #: the bytes of an image message (paced by the transport); raises if unavailable
    fetch_image: Callable[[str], Awaitable[bytes]] | None = None
    #: every command name and alias the router answers (filled when it is built)
    commands: set[str] = field(default_factory=set)
    #: per-app objects a feature keeps (its detector, its caches), by feature name
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.repo.account_id
