"""Member commands (``#帮助``, ``#规则``): a reply that @mentions the asker.

One member cannot drown the bot (the ``commands`` section of the group's
profile, defaults from ``commands:`` in bot.yaml):

* at most ``max_per_member`` commands are answered per member per group within
  ``limit_window_seconds``; beyond that the member is quietly ignored (a
  notice would be one more message for the flood to trigger);
* the same reply goes to the same member at most once within
  ``repeat_window_seconds``: ``#规则`` asked twice in 10 s gets one reply.  The
  handler remembers the last reply exactly (a sliding window); the reply's
  idempotency key carries the member, a hash of the text and a time bucket of
  that length, so the outbox drops a repeat too, which also holds across a
  restart and for a replayed message event;
* a reply carries ``not_after`` = the command's time + ``reply_valid_seconds``:
  one that could not go out by then is dropped and audited as expired by the
  executor (also when it is found in the outbox at start), never sent late.

Identity is the account id, never the display name.  State is in memory,
keyed by (room, member), and swept once a window so it stays small.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from bot.vocab.actions import Priority, Say
from bot.vocab.events import Event, MessageEvent, MessageKind
from bot.vocab.keys import action_key, digest, time_bucket, valid_until
from bot.vocab.texts import render, rules_text
from handlers.base import STOP, BaseHandler, Context, Result

log = logging.getLogger(__name__)

CommandFn = Callable[[MessageEvent, Context, str], str]


def _help(event: MessageEvent, ctx: Context, args: str) -> str:
    assert ctx.policy is not None
    return render(ctx.policy.commands.help, ctx.policy)


def _rules(event: MessageEvent, ctx: Context, args: str) -> str:
    assert ctx.policy is not None
    rules = ctx.policy.welcome.rules
    return rules_text(rules) if rules else ctx.policy.commands.no_rules


COMMANDS: dict[str, CommandFn] = {
    "帮助": _help,
    "help": _help,
    "规则": _rules,
    "群规": _rules,
    "rules": _rules,
}

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


class Commands(BaseHandler):
    name = "commands"

    def __init__(self, commands: dict[str, CommandFn] | None = None) -> None:
        self._commands = dict(commands or COMMANDS)
        self.limits = MemberLimits()

    def _disabled(self, command: CommandFn, disabled: tuple[str, ...]) -> bool:
        """Whether any name of ``command`` is in the group's ``disabled`` list."""
        return any(self._commands.get(name.lower()) is command for name in disabled)

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if not isinstance(event, MessageEvent) or event.kind is not MessageKind.TEXT:
            return None
        if event.room_id is None or ctx.policy is None:
            return None
        cfg = ctx.policy.commands  # this group's: its profile, its overrides
        prefix = ctx.policy.command_prefix
        text = event.text.strip()
        if not text.startswith(prefix) or len(text) > 200:
            return None
        word, _, args = text[len(prefix) :].strip().partition(" ")
        command = self._commands.get(word.lower())
        if command is not None and self._disabled(command, cfg.disabled):
            return None  # turned off in this group: ordinary chat
        if command is None and (not word or len(word) > 8 or args):
            return None  # "#话题# ..." in normal chat is not a command

        member = (event.room_id, event.sender_id)
        now = ctx.clock.monotonic()
        if self.limits.over_limit(member, now, cfg.max_per_member, cfg.limit_window_seconds):
            return STOP  # quiet: a notice would be one more message to flood with
        if command is None:
            reply = render(cfg.unknown, ctx.policy)
        else:
            reply = command(event, ctx, args.strip())
        repeat = cfg.repeat_window_seconds
        if repeat > 0 and self.limits.repeated(member, reply, now, repeat):
            log.debug("%s asked again within %g s: not repeated", event.sender_id, repeat)
            return STOP
        self.limits.answered(member, reply, now, max(repeat, cfg.limit_window_seconds))
        if repeat > 0:
            key = action_key(
                "reply",
                event.room_id,
                event.sender_id,
                digest(reply),
                time_bucket(event.at, repeat),
            )
        else:
            key = action_key("reply", event.room_id, event.message_id)
        return Result(
            [
                Say(
                    room=event.room_id,
                    text=reply,
                    mention_ids=(event.sender_id,),
                    priority=Priority.REPLY,
                    reason=f"command {prefix}{word}",
                    key=key,
                    not_after=valid_until(event.at, cfg.reply_valid_seconds),
                )
            ],
            stop=True,
        )
