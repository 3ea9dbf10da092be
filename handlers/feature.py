"""A feature: one module that brings its handlers, commands, jobs, section, texts and tables.

Patterned on aiogram's ``Router`` and Koishi's plugins::

    toy = Feature("toy", section=ToyPolicy)

    @toy.command("打卡", "daka")
    async def daka(cmd: Command, ctx: Context) -> str:
        return "打卡成功"

    @toy.job("morning", lambda tz: daily(time(9), tz))
    async def morning(ctx: Context, at: datetime) -> list[Action]: ...

and ``toy`` added to the list in ``handlers.features``: the app builds the
dispatcher's stages, the shared command router and the calendar from that
list; nothing else changes.

Checking whether a handler applies (:meth:`On.check`: event kind, managed
group or direct message, the feature enabled in this group, admin-only by
account id) is separate from handling it, cheap and without I/O, like
python-telegram-bot's ``check_update``.  A feature whose handlers need
stores builds them in ``setup(services)``, once per app: the feature object
itself holds no state, so two apps in one process never share any.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from bot.vocab.actions import Action
from bot.vocab.effects import Effect
from bot.vocab.events import Event
from bot.vocab.policy import GroupPolicy
from handlers.base import BaseHandler, Context, Handler, Result
from handlers.parsing import Command
from sop.kinds import KindSpec, register_kind

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from sqlalchemy import Table

    from handlers.services import Services


class Stage(enum.IntEnum):
    """The dispatcher's handler groups, in order (activity logging runs before all)."""

    RECORD = 0  # facts: who is in a group (member lists, joins, leaves)
    SYSTEM = 10  # the account: connection, joining groups
    MODERATION = 20  # may stop the chain (an ad is not welcomed or answered)
    WELCOME = 30
    COMMANDS = 40  # the shared command router: every feature's commands
    CHAT = 50  # keyword replies and the like


#: What a handler, a command or a job may return.
Outcome = Result | Sequence[Action] | None
HandlerFn = Callable[[Event, Context], Awaitable[Outcome]]
#: A command's answer: a reply text (to the asker, @-mentioned), a
#: ``command_router.Reply``, a Result, or None.
CommandFn = Callable[[Command, Context], Awaitable[Any]]
JobFn = Callable[[Context, datetime], Awaitable[Outcome]]
#: Builds a job's trigger from the bot's time zone and its config.
TriggerFor = Callable[[tzinfo, Any], "BaseTrigger"]
#: Applies a feature's effect: called as ``fn(effect, services=...)``.
EffectFn = Callable[..., Awaitable[None]]
Setup = Callable[["Services"], Sequence[Handler]]
#: Whether an action of the feature is only recorded in this group (shadow mode).
Shadow = Callable[[GroupPolicy, Action, "Services"], "bool | Awaitable[bool]"]
F = TypeVar("F", bound=Callable[..., Any])


def as_result(outcome: Outcome) -> Result | None:
    """A handler's, a command's or a job's return value as a Result."""
    if outcome is None or isinstance(outcome, Result):
        return outcome
    return Result(actions=tuple(outcome))


@dataclass(frozen=True, slots=True)
class On:
    """When a handler applies: a cheap check, no I/O."""

    kinds: tuple[type, ...]
    feature: Feature
    admin_only: bool = False  # by account id: owners and the group's admins
    direct: bool = False  # also in direct messages (no group policy there)

    def check(self, event: Event, ctx: Context) -> bool:
        if not isinstance(event, self.kinds):
            return False
        policy = ctx.policy
        if policy is None:  # a direct message, a friendship: no group
            if not self.direct or getattr(event, "room_id", None) is not None:
                return False
        elif not self.feature.enabled(policy):
            return False
        if self.admin_only:
            sender = getattr(event, "sender_id", None)
            if sender is None:
                return False
            admins = policy.admins if policy is not None else frozenset(ctx.config.owners)
            return sender in admins
        return True


class FunctionHandler(BaseHandler):
    """A decorated function as a dispatcher handler."""

    def __init__(self, fn: HandlerFn, on: On) -> None:
        self.fn = fn
        self.on = on
        self.feature = on.feature.name
        self.name = f"{on.feature.name}.{fn.__name__}"

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if not self.on.check(event, ctx):
            return None
        return as_result(await self.fn(event, ctx))


@dataclass(frozen=True, slots=True)
class CommandSpec:
    names: tuple[str, ...]  # the first is the command's name; the rest are aliases
    fn: CommandFn
    feature: Feature
    admin_only: bool = False
    owner_only: bool = False
    direct: bool = False  # also answered in a direct message to the bot

    @property
    def name(self) -> str:
        return self.names[0]

    def allowed(self, sender_id: str, policy: GroupPolicy | None, owners: Sequence[str]) -> bool:
        """By account id only: anyone can rename themselves to look like an admin."""
        if self.owner_only:
            return sender_id in owners
        if self.admin_only:
            return sender_id in (policy.admins if policy is not None else owners)
        return True


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    trigger: TriggerFor
    fn: JobFn
    feature: Feature
    grace: timedelta = timedelta(minutes=5)


@dataclass(eq=False)
class Feature:
    """One feature; see the module docstring.

    ``section``: its config section model (a class with a ``section`` key,
    registered with ``bot.config.register_section``); the feature is enabled
    in a group when the section's ``enabled`` (if it has one) is true.
    ``tables``: the SQLAlchemy tables it owns (migrations must create them).
    ``texts``: its default user-facing texts that are not in the section.
    ``shadow``: whether, in a group, an action of it is only recorded (audited
    as ``shadow``) and not done — asked by ``bot.doer``, never in a handler;
    the action's ``rule`` says which of the feature's rules decided it.
    """

    name: str
    stage: Stage = Stage.CHAT
    section: type | None = None
    tables: Sequence[Table] = ()
    texts: Mapping[str, str] = field(default_factory=dict)
    setup: Setup | None = None
    shadow: Shadow | None = None
    handlers: list[FunctionHandler] = field(default_factory=list)
    commands: list[CommandSpec] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)
    effects: dict[type[Effect], EffectFn] = field(default_factory=dict)

    def enabled(self, policy: GroupPolicy) -> bool:
        if self.section is None:
            return True
        section = policy.sections.get(self.section.section)  # type: ignore[attr-defined]
        return bool(getattr(section, "enabled", True))

    def on(self, *kinds: type, admin_only: bool = False, direct: bool = False) -> Callable[[F], F]:
        """Handle events of these kinds (in a managed group, where enabled)."""

        def register(fn: F) -> F:
            self.handlers.append(FunctionHandler(fn, On(kinds, self, admin_only, direct)))
            return fn

        return register

    def command(
        self,
        name: str,
        *aliases: str,
        admin_only: bool = False,
        owner_only: bool = False,
        direct: bool = False,
    ) -> Callable[[F], F]:
        """A command with its aliases (compared lower-cased, without the prefix)."""

        def register(fn: F) -> F:
            names = tuple(dict.fromkeys(n.lower() for n in (name, *aliases)))
            self.commands.append(CommandSpec(names, fn, self, admin_only, owner_only, direct))
            return fn

        return register

    def job(
        self, job_id: str, trigger: TriggerFor, *, grace: timedelta = timedelta(minutes=5)
    ) -> Callable[[F], F]:
        """A scheduled job (app-wide; it picks its groups from ``ctx.policies``)."""

        def register(fn: F) -> F:
            self.jobs.append(JobSpec(f"{self.name}.{job_id}", trigger, fn, self, grace))
            return fn

        return register

    def kind(
        self,
        name: str,
        content: type[BaseModel],
        *,
        per_group: bool = True,
        description: str = "",
    ) -> Callable[[F], F]:
        """A kind of SOP calendar entry (``kind: name`` in ``bot.yaml``'s
        ``calendar.entries``), its content model and its runner
        ``async fn(ctx, run: sop.kinds.Run) -> actions | Result``."""

        def register(fn: F) -> F:
            register_kind(KindSpec(name, content, fn, self.name, per_group, description))
            return fn

        return register

    def effect(self, kind: type[Effect]) -> Callable[[F], F]:
        """How an effect type of this feature is applied (by ``bot.doer``)."""

        def register(fn: F) -> F:
            self.effects[kind] = fn
            return fn

        return register
