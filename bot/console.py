"""The sandbox console: play group members against the real bot.

Every line is a command; the person speaks as a member of the current group,
and sees each action the bot takes (messages with their @mentions, removals,
accepted invitations) the moment the puppet receives it, and what the bot
decided *not* to do (a refused invitation, a refusal by the governor, a
dry-run action) as soon as it is audited.  Members and groups come from
``sandbox.yaml``; members can be named by id or name.  A bad line gets one
line of explanation, never a traceback.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shlex
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.sandbox_clock import parse_duration

HELP = """\
Commands (you play the members; the bot answers as it would in WeChat):
  say <member> <text...>           a member says something in the current group
  join <member>[,<member>...] [by <inviter>]   members join (inviter optional)
  leave <member>                   a member leaves the group
  link <member> <url> [title...]   a member shares a link
  mini <member> <title...>         a member shares a mini program
  card <member> <contact>          a member shares someone's contact card
  image <member> [kilobytes]       a member posts an image
  dm <member> <text...>            a member writes to the bot directly
  quote <member> <whose> <text...> a member quotes (引用) whose's last message here
                                   and replies, e.g. quote 管理员 阿甲 #广告
  invite <inviter> <room_id> <topic...>  someone invites the bot into a new group
  group [room_id]                  show or switch the current group
  groups | members                 list groups / members of the current group
  wait <seconds>                   let time pass (welcome window, ...)
  time [+24h|+30m|+90s]            show the sandbox time, or jump it forward
                                   (reminders and schedules fall due at once)
  help | quit                      (Ctrl-D or Ctrl-C quit too)
A member is named by id (wxid_zhangsan) or name (张三); quote a name with spaces.
"""

USAGE = {
    "say": "say <member> <text...>",
    "join": "join <member>[,<member>...] [by <inviter>]",
    "leave": "leave <member>",
    "link": "link <member> <url> [title...]",
    "mini": "mini <member> <title...>",
    "card": "card <member> <contact>",
    "image": "image <member> [kilobytes]",
    "dm": "dm <member> <text...>",
    "quote": "quote <member> <whose> <text...>",
    "invite": "invite <inviter> <room_id> <topic...>",
    "wait": "wait <seconds>",
    "time": "time [+24h|+30m|+90s]",
}

#: Audit outcomes the puppet never sees: shown so that nothing the bot
#: decided is invisible.  ("done" and "failed" are shown from the puppet call.)
_SHOWN_AUDIT = {
    "refused": "⛔ refused",
    "dry_run": "🧪 dry run (not sent)",
    "expired": "⌛ expired (not sent)",
    "in_doubt": "❓ in doubt",
    "shadow": "👻 shadow mode (recorded, not done)",
}


class UsageError(ValueError):
    """A console line that cannot be run; ``str()`` is the one line shown."""


def _split(rest: str, n: int) -> list[str]:
    """The first ``n`` words of ``rest`` (shell-quoted if quoted), then the rest raw."""
    out: list[str] = []
    rest = rest.strip()
    for _ in range(n):
        if not rest:
            break
        if rest[0] in "'\"":
            lexer = shlex.shlex(rest, posix=True)
            lexer.whitespace_split = True
            try:
                word = lexer.get_token() or ""
            except ValueError:
                raise UsageError(f"unclosed quote in {rest!r}") from None
            out.append(word)
            rest = str(lexer.instream.read()).strip()  # type: ignore[call-arg]
        else:
            word, _, rest = rest.partition(" ")
            out.append(word)
            rest = rest.strip()
    if rest:
        out.append(rest)
    return out


class Console:
    def __init__(
        self,
        app: Any,
        puppet: Any,
        world: Any,
        out: TextIO | None = None,
        *,
        interactive: bool = False,
    ) -> None:
        self.app = app
        self.puppet = puppet
        self.world = world
        self.out = out or sys.stdout
        self.interactive = interactive
        self.names = {m.id: m.name for m in world.members}
        self.names[world.account.id] = world.account.name
        self.rooms = {g.room_id: g.topic for g in world.groups}
        self.current = world.groups[0].room_id if world.groups else ""
        self.stopping = asyncio.Event()
        self._prompted = False
        self._audit_seen: int | None = None
        self._audit_lock = asyncio.Lock()
        try:
            self._tz: Any = ZoneInfo(app.config.bot.timezone)
        except Exception:
            self._tz = None
        puppet.on_call.append(self._show_call)

    # --------------------------------------------------------------- output

    @property
    def prompt(self) -> str:
        return f"[{self.rooms.get(self.current, self.current)}] > "

    def print(self, text: str) -> None:
        if self.interactive:  # over the prompt, then the prompt again
            self.out.write("\r\033[K" + text + "\n" + self.prompt)
            self._prompted = True
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def stamp(self, moment: datetime | None = None) -> str:
        moment = moment or self.app.clock.now()
        local = moment.astimezone(self._tz) if self._tz else moment
        return local.strftime("%m-%d %H:%M:%S")

    def _name(self, contact_id: str) -> str:
        return self.names.get(contact_id, contact_id)

    def _where(self, room: str | None) -> str:
        return f"[{self.rooms.get(room, room)}]" if room else ""

    def _show_call(self, call: Any) -> None:
        args = call.args
        room = args.get("conversation_id") or args.get("room_id") or args.get("to_id") or ""
        if room and room not in self.rooms and room in self.names:
            where = f"[dm {self._name(room)}]"
        else:
            where = self._where(room)
        head = f"{self.stamp()} 🤖"
        if call.error:
            self.print(f"{head} {call.method} {where} failed: {call.error}")
        elif call.method == "message_send_text":
            self.print(f"{head} {where} {args.get('message', '')}")
        elif call.method == "message_send_url":
            url = args.get("url") or {}
            self.print(f"{head} {where} link {url.get('title', '')} {url.get('url', '')}")
        elif call.method == "message_send_mini_program":
            mini = args.get("mini_program") or {}
            self.print(
                f"{head} {where} mini program {mini.get('title', '')} (app id {mini.get('appid')})"
            )
        elif call.method == "message_send_contact":
            card = args.get("contact_id", "")
            self.print(f"{head} {where} card of {self._name(card)} ({card})")
        elif call.method == "room_delete":
            self.print(f"{head} {where} removed {self._name(args.get('contact_id', ''))}")
        elif call.method == "room_invitation_accept":
            self.print(f"{head} accepted the invitation")
        elif call.method in ("room_members", "room_payload"):
            return  # reads, not actions
        else:
            self.print(f"{head} {call.method} {where} {_short(args)}")

    async def show_audit(self) -> None:
        """Print what was audited since the last look and the puppet never saw."""
        async with self._audit_lock:
            try:
                rows = await self.app.repo.recent_audit(50)
            except Exception:
                return  # shutting down; nothing to show
            if self._audit_seen is None:  # the first look: older rows are history
                self._audit_seen = max((r.id for r in rows), default=0)
                return
            new = sorted((r for r in rows if r.id > self._audit_seen), key=lambda r: r.id)
            if new:
                self._audit_seen = new[-1].id
            for row in new:
                label = _SHOWN_AUDIT.get(row.status)
                if label is None:
                    continue
                detail = row.detail or {}
                what = detail.get("text") or detail.get("message") or detail.get("topic") or ""
                target = self._name(row.target_id) if row.target_id else ""
                why = row.error or row.reason or ""
                parts = [f"{self.stamp(row.at)} {label}: {row.action}", self._where(row.room_id)]
                if target:
                    parts.append(target)
                if what:
                    parts.append(f"«{_clip(str(what))}»")
                if why:
                    parts.append(f"— {why}")
                self.print(" ".join(p for p in parts if p))

    # ---------------------------------------------------------------- input

    def member(self, who: str) -> str:
        if who in self.names:
            return who
        for contact_id, name in self.names.items():
            if name == who:
                return contact_id
        raise UsageError(f"no member called {who!r}; try 'members'")

    async def run(self, lines: AsyncIterator[str], *, poll_seconds: float = 0.5) -> None:
        self.print(f"qunbot sandbox — you are in {self.rooms.get(self.current, '?')}. Type 'help'.")
        await self.show_audit()
        poller = asyncio.ensure_future(self._poll(poll_seconds))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            while True:
                if self.interactive and not self._prompted:
                    self.out.write(self.prompt)
                    self.out.flush()
                nxt = asyncio.ensure_future(anext(lines, None))
                await asyncio.wait([nxt, stop], return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    break
                line = nxt.result()
                self._prompted = False  # Enter moved the cursor to a fresh line
                if line is None:
                    break
                step = asyncio.ensure_future(self.execute(line))
                await asyncio.wait([step, stop], return_when=asyncio.FIRST_COMPLETED)
                if not step.done():  # Ctrl-C during a long command (wait 600)
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await step
                    break
                if not step.result():
                    break
        finally:
            for task in (poller, stop):
                task.cancel()
            if self.interactive:
                self.out.write("\n")
                self.out.flush()

    async def _poll(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)  # screen refresh: wall time on purpose
            await self.show_audit()

    def interrupt(self) -> None:
        """Ctrl-C: stop reading and quit (what is still waiting is sent)."""
        self.stopping.set()

    async def execute(self, line: str) -> bool:
        """Run one command line; return False to quit.  Never raises for a bad line."""
        cmd, _, rest = line.strip().partition(" ")
        cmd = cmd.lower()
        if not cmd:
            return True
        if cmd in ("quit", "exit"):
            return False
        try:
            await self._dispatch(cmd, rest)
        except UsageError as exc:
            self.print(f"! {exc}")
        except (IndexError, KeyError):
            self.print(f"! usage: {USAGE.get(cmd, cmd)}")
        except Exception as exc:  # the puppet refused (not a member, no such room, ...)
            self.print(f"! {cmd}: {exc}")
        await self.app.settle(send=False)  # the bot's actions print as they happen
        await self.show_audit()
        return True

    async def _dispatch(self, cmd: str, rest: str) -> None:
        p, room = self.puppet, self.current
        handler = self._commands().get(cmd)
        if handler is None:
            raise UsageError(f"unknown command {cmd!r}; type 'help'")
        await handler(p, room, rest)

    def _commands(self) -> dict[str, Callable[[Any, str, str], Awaitable[None]]]:
        return {
            "help": self._help,
            "say": self._say,
            "join": self._join,
            "leave": self._leave,
            "link": self._link,
            "mini": self._mini,
            "card": self._card,
            "image": self._image,
            "dm": self._dm,
            "quote": self._quote,
            "invite": self._invite,
            "group": self._group,
            "groups": self._groups,
            "members": self._members,
            "wait": self._wait,
            "time": self._time,
        }

    def _need(self, cmd: str, words: list[str], n: int) -> list[str]:
        if len(words) < n:
            raise UsageError(f"usage: {USAGE[cmd]}")
        return words

    async def _help(self, p: Any, room: str, rest: str) -> None:
        self.print(HELP.rstrip("\n"))

    async def _say(self, p: Any, room: str, rest: str) -> None:
        who, text = self._need("say", _split(rest, 1), 2)
        await p.member_says(room, self.member(who), text)

    async def _dm(self, p: Any, room: str, rest: str) -> None:
        who, text = self._need("dm", _split(rest, 1), 2)
        await p.direct_message(self.member(who), text)

    async def _quote(self, p: Any, room: str, rest: str) -> None:
        who, whose, text = self._need("quote", _split(rest, 2), 3)
        quoted = p.last_message_of(room, self.member(whose))
        await p.member_quotes(room, self.member(who), quoted, text)

    async def _join(self, p: Any, room: str, rest: str) -> None:
        words = shlex.split(rest) if rest.count('"') % 2 == 0 else rest.split()
        inviter = None
        if len(words) >= 3 and words[-2] == "by":
            inviter, words = self.member(words[-1]), words[:-2]
        elif "by" in words:
            raise UsageError(f"usage: {USAGE['join']}")
        names = [n.strip() for n in ",".join(words).replace("，", ",").split(",") if n.strip()]
        if not names:
            raise UsageError(f"usage: {USAGE['join']} (a member needs a name)")
        members = [self._join_id(n) for n in names]
        await p.join(room, members, inviter)

    async def _leave(self, p: Any, room: str, rest: str) -> None:
        (who,) = self._need("leave", _split(rest, 0), 1)
        await p.leave(room, [self.member(who)])

    async def _link(self, p: Any, room: str, rest: str) -> None:
        words = self._need("link", _split(rest, 2), 2)
        who, url = words[0], words[1]
        title = words[2] if len(words) > 2 else url
        await p.member_sends_link(room, self.member(who), url, title)

    async def _mini(self, p: Any, room: str, rest: str) -> None:
        who, title = self._need("mini", _split(rest, 1), 2)
        await p.member_sends_mini_program(room, self.member(who), "wx_sandbox", title)

    async def _card(self, p: Any, room: str, rest: str) -> None:
        who, card = self._need("card", _split(rest, 1), 2)
        await p.member_sends_card(room, self.member(who), self.member(card))

    async def _image(self, p: Any, room: str, rest: str) -> None:
        words = self._need("image", _split(rest, 1), 1)
        size = 8
        if len(words) > 1:
            try:
                size = int(words[1])
            except ValueError:
                raise UsageError(f"usage: {USAGE['image']} (kilobytes is a number)") from None
            if not 0 <= size <= 20_000:
                raise UsageError("an image of 0 to 20000 kilobytes")
        await p.member_sends_image(room, self.member(words[0]), b"\xff\xd8" + b"\0" * size * 1024)

    async def _invite(self, p: Any, room: str, rest: str) -> None:
        words = self._need("invite", _split(rest, 2), 2)
        inviter, room_id = self.member(words[0]), words[1]
        topic = words[2] if len(words) > 2 else room_id
        if not room_id.endswith("@chatroom"):
            raise UsageError(f"a room id looks like 20001@chatroom, not {room_id!r}")
        others = [m for m in self.names if m not in (self.world.account.id, inviter)][:3]
        await p.invite_bot(inviter, room_id, topic, others)
        self.rooms[room_id] = p.room_state(room_id).topic  # only once the room exists

    async def _group(self, p: Any, room: str, rest: str) -> None:
        wanted = rest.strip()
        if wanted:
            if wanted not in self.rooms:
                match = [r for r, t in self.rooms.items() if t == wanted]
                if not match:
                    raise UsageError(f"no group {wanted!r}; try 'groups'")
                wanted = match[0]
            self.current = wanted
        self.print(f"current group: {self.current} ({self.rooms.get(self.current, '')})")

    async def _groups(self, p: Any, room: str, rest: str) -> None:
        me = self.world.account.id
        for room_id, topic in self.rooms.items():
            inside = me in p.room_state(room_id).members
            mark = "" if inside else "  (the bot is not in it)"
            self.print(f"  {room_id}  {topic}{mark}" + ("  <- current" if room_id == room else ""))

    async def _members(self, p: Any, room: str, rest: str) -> None:
        state = p.room_state(room)  # the world as it is; not a bot action
        for contact_id in state.member_ids:
            role = " (owner)" if contact_id == state.owner_id else ""
            role += " (admin)" if contact_id in state.admin_ids else ""
            self.print(f"  {contact_id}  {self._name(contact_id)}{role}")

    async def _wait(self, p: Any, room: str, rest: str) -> None:
        try:
            seconds = float(rest.strip())
        except ValueError:
            raise UsageError(f"usage: {USAGE['wait']} (a number)") from None
        if not 0 <= seconds <= 3600:
            raise UsageError("wait 0 to 3600 seconds; to jump further use 'time +24h'")
        await self.app.clock.sleep(seconds)

    async def _time(self, p: Any, room: str, rest: str) -> None:
        clock = self.app.clock
        if rest.strip():
            try:
                seconds = parse_duration(rest)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            advance = getattr(clock, "advance", None)
            if advance is None:
                raise UsageError("this clock cannot be moved")
            result = advance(seconds)  # the calendar, on this clock, runs what fell due
            if asyncio.iscoroutine(result):
                await result
            await self.app.settle()
        self.print(f"sandbox time: {self.stamp()}")

    def _join_id(self, who: str) -> str:
        """Join accepts new people too: an unknown name becomes a new contact."""
        try:
            return self.member(who)
        except UsageError:
            contact_id = f"wxid_{who}"
            self.names[contact_id] = who
            self.puppet.add_contact(contact_id, who)
            return contact_id


class _StdinReader:
    """Lines from a file descriptor, read by a daemon thread with ``os.read``.

    Unlike ``run_in_executor(readline)`` this never holds up the end of the
    program (Ctrl-C quits at once) and takes no lock Python needs at exit.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="sandbox-stdin", daemon=True).start()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        buf = ""
        try:
            while chunk := os.read(self.fd, 4096):
                buf += decoder.decode(chunk)
                *lines, buf = buf.split("\n")
                for line in lines:
                    self._put(line.rstrip("\r"))
        except OSError:
            pass
        if buf:
            self._put(buf)
        self._put(None)

    def _put(self, item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is reading
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


async def stdin_lines(fd: int | None = None) -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop (or its end)."""
    reader = _StdinReader(sys.stdin.fileno() if fd is None else fd)
    while (line := await reader.queue.get()) is not None:
        yield line


def _short(args: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in args.items())
    return _clip(text, 120)


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
