"""One handler for every feature's commands: parse once, check, answer.

For each message: :func:`handlers.parsing.parse_command`; the command found
by name or alias among the features' commands; turned off in this group
(``commands.disabled``) or the feature disabled here: ordinary chat.  Then,
in order:

* one member cannot drown the bot (the group's ``commands`` section): at
  most ``max_per_member`` commands per ``limit_window_seconds``, beyond
  that quiet (a notice would be one more message for the flood to trigger);
* admin-only and owner-only commands, checked by account id, answer anyone
  else with a polite refusal;
* the command's answer: a text becomes a reply that @mentions the asker (in
  a direct message: a private reply).  The same reply goes to the same member
  at most once within ``repeat_window_seconds`` — the handler remembers it
  exactly, and the reply's idempotency key carries the member, a hash of the
  text and a time bucket of that length, so the outbox drops a repeat too,
  across a restart and for a replayed message event;
* every reply carries ``not_after`` = the command's time +
  ``reply_valid_seconds``: one that could not go out by then is dropped and
  audited as expired, never sent late.

A command nobody knows, with or without arguments, gets the group's
``commands.unknown`` hint.  State is in memory, keyed by (room, member), and
swept once a window so it stays small.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.effects import Effect
from bot.vocab.events import Event, MessageEvent
from bot.vocab.keys import action_key, digest, time_bucket, valid_until
from bot.vocab.texts import render
from handlers.base import STOP, BaseHandler, Context, Result
from handlers.feature import CommandSpec
from handlers.parsing import Command, parse_command

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's answer with what goes with it (effects first, then actions,
    then the reply)."""

    text: str
    actions: Sequence[Action] = ()
    effects: Sequence[Effect] = field(default=())
    urgent: bool = False  # goes ahead of ordinary replies (an owner's decision)


_Member = tuple[str, str]  # (room id, member id)


class MemberLimits:
    """Who may be answered now: a per-member rate limit and a repeat window.

    Pure bookkeeping on the caller's monotonic seconds; no I/O.
    """

    def __init__(self) -> None:
        self._answered: dict[_Member, deque[float]] = {}
        self._last_reply: dict[tuple[str, str, str], float] = {}
        self._quiet: set[_Member] = set()
        self._sweep_at = 0.0

    def over_limit(self, member: _Member, now: float, limit: int, window: float) -> bool:
        """True when ``member`` already had ``limit`` answers within ``window``."""
        times = self._answered.get(member)
        if times is None:
            return False
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) < limit:
            self._quiet.discard(member)
            return False
        if member not in self._quiet:
            self._quiet.add(member)
            log.info(
                "%s sent more than %d commands in %g s in %s: ignored for now",
                member[1],
                limit,
                window,
                member[0],
            )
        return True

    def repeated(self, member: _Member, reply: str, now: float, window: float) -> bool:
        """True when the same reply went to ``member`` less than ``window`` ago."""
        last = self._last_reply.get((*member, digest(reply)))
        return last is not None and now - last < window

    def answered(self, member: _Member, reply: str, now: float, horizon: float) -> None:
        """Record an answer; forget what is older than ``horizon`` once in a while."""
        self._answered.setdefault(member, deque()).append(now)
        self._last_reply[(*member, digest(reply))] = now
        if now >= self._sweep_at:
            self._sweep(now - horizon)
            self._sweep_at = now + horizon

    def _sweep(self, before: float) -> None:
        for member, times in list(self._answered.items()):
            if not times or times[-1] <= before:
                del self._answered[member]
                self._quiet.discard(member)
        for key, at in list(self._last_reply.items()):
            if at <= before:
                del self._last_reply[key]

    def __len__(self) -> int:
        """Members and replies remembered (for tests of the sweep)."""
        return len(self._answered) + len(self._last_reply)


class CommandRouter(BaseHandler):
    name = "commands"
    feature = "commands"

    def __init__(self, specs: Sequence[CommandSpec]) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for spec in specs:
            for alias in spec.names:
                known = self._specs.get(alias)
                if known is not None and known is not spec:
                    raise ValueError(
                        f"command {alias!r} of {spec.feature.name} is taken by {known.feature.name}"
                    )
                self._specs[alias] = spec
        self.limits = MemberLimits()

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    def match(self, event: Event, ctx: Context) -> tuple[Command, CommandSpec | None] | None:
        """The command in ``event`` and its spec (None: unknown), or None for chat.
        Cheap, no I/O."""
        if not isinstance(event, MessageEvent):
            return None
        if event.room_id is not None and ctx.policy is None:
            return None
        cmd = parse_command(event, ctx.config.commands.prefix)
        if cmd is None:
            return None
        spec = self._specs.get(cmd.name)
        policy = ctx.policy
        if policy is None:  # a direct message: only commands meant for it
            return (cmd, spec) if spec is not None and spec.direct else None
        disabled = {n.lower() for n in policy.commands.disabled}
        if spec is not None and (disabled & set(spec.names) or not spec.feature.enabled(policy)):
            return None  # turned off in this group: ordinary chat
        return cmd, spec

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        found = self.match(event, ctx)
        if found is None:
            return None
        cmd, spec = found
        message = cmd.message
        cfg = ctx.policy.commands if ctx.policy is not None else ctx.config.commands
        member = (message.room_id or "", message.sender_id)
        now = ctx.clock.monotonic()
        if self.limits.over_limit(member, now, cfg.max_per_member, cfg.limit_window_seconds):
            return STOP
        effects: Sequence[Effect] = ()
        actions: Sequence[Action] = ()
        urgent = False
        if spec is None:
            text = render(cfg.unknown, ctx.policy) if ctx.policy else cfg.unknown
        elif not spec.allowed(message.sender_id, ctx.policy, ctx.config.owners):
            text = cfg.owners_only if spec.owner_only else cfg.admins_only
        else:
            answer = await spec.fn(cmd, ctx)
            if answer is None:
                self.limits.answered(member, "", now, cfg.limit_window_seconds)
                return STOP
            if isinstance(answer, Result):
                self.limits.answered(member, "", now, cfg.limit_window_seconds)
                return Result(answer.actions, stop=True, effects=answer.effects)
            if isinstance(answer, Reply):
                text, actions, effects = answer.text, answer.actions, answer.effects
                urgent = answer.urgent
            else:
                text = answer
        repeat = cfg.repeat_window_seconds
        if repeat > 0 and self.limits.repeated(member, text, now, repeat):
            log.debug("%s asked again within %g s: not repeated", message.sender_id, repeat)
            return STOP
        self.limits.answered(member, text, now, max(repeat, cfg.limit_window_seconds))
        say = reply_to(cmd, text, cfg.reply_valid_seconds, repeat, urgent=urgent)
        return Result([*actions, say], stop=True, effects=effects)


def reply_to(
    cmd: Command, text: str, valid_seconds: float, repeat_seconds: float, *, urgent: bool = False
) -> Say:
    """The reply to ``cmd``: @mentions the asker in a group, privately otherwise."""
    message = cmd.message
    room = message.room_id
    if repeat_seconds > 0:
        key = action_key(
            "reply",
            room or message.sender_id,
            message.sender_id,
            digest(text),
            time_bucket(message.at, repeat_seconds),
        )
    else:
        key = action_key("reply", room or message.sender_id, message.message_id)
    return Say(
        room=room,
        to_contact=message.sender_id if room is None else None,
        text=text,
        mention_ids=(message.sender_id,) if room is not None else (),
        priority=Priority.MODERATION if urgent else Priority.REPLY,
        reason=f"command {cmd.prefix}{cmd.name}",
        key=key,
        not_after=valid_until(message.at, valid_seconds),
    )
