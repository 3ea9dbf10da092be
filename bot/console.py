"""The sandbox console: play group members against the real bot.

Every line is a command; the person speaks as a member of the current group,
and sees each action the bot takes (messages with their @mentions, removals,
accepted invitations) the moment the puppet receives it.  Members and groups
come from ``bot.yaml`` (``sandbox:``); members can be named by id or name.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from typing import Any, TextIO

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
  invite <inviter> <room_id> <topic...>  someone invites the bot into a new group
  group [room_id]                  show or switch the current group
  groups | members                 list groups / members of the current group
  wait <seconds>                   let time pass (welcome window, ...)
  help | quit
"""


class Console:
    def __init__(self, app: Any, puppet: Any, out: TextIO | None = None) -> None:
        self.app = app
        self.puppet = puppet
        self.out = out or sys.stdout
        sandbox = app.config.sandbox
        self.names = {m.id: m.name for m in sandbox.members}
        self.names[sandbox.account.id] = sandbox.account.name
        self.rooms = {g.room_id: g.topic for g in sandbox.groups}
        self.current = sandbox.groups[0].room_id if sandbox.groups else ""
        puppet.on_call.append(self._show_call)

    # --------------------------------------------------------------- output

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _name(self, contact_id: str) -> str:
        return self.names.get(contact_id, contact_id)

    def _show_call(self, call: Any) -> None:
        args = call.args
        room = args.get("conversation_id") or args.get("room_id") or ""
        where = f"[{self.rooms.get(room, room)}]" if room else ""
        if call.error:
            self.print(f"🤖 {call.method} {where} failed: {call.error}")
        elif call.method == "message_send_text":
            self.print(f"🤖 {where} {args.get('message', '')}")
        elif call.method == "room_delete":
            self.print(f"🤖 {where} removed {self._name(args.get('contact_id', ''))}")
        elif call.method == "room_invitation_accept":
            self.print("🤖 accepted the invitation")
        else:
            self.print(f"🤖 {call.method} {where} {_short(args)}")

    # ---------------------------------------------------------------- input

    def member(self, who: str) -> str:
        if who in self.names:
            return who
        for contact_id, name in self.names.items():
            if name == who:
                return contact_id
        raise ValueError(f"no member called {who!r}; try 'members'")

    async def run(self, lines: Any) -> None:
        self.print(f"qunbot sandbox — you are in {self.rooms.get(self.current, '?')}. Type 'help'.")
        async for line in lines:
            if not await self.execute(line):
                break

    async def execute(self, line: str) -> bool:
        """Run one command line; return False to quit."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.print(f"! {exc}")
            return True
        if not words:
            return True
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd in ("quit", "exit"):
                return False
            await self._dispatch(cmd, args)
        except (ValueError, IndexError) as exc:
            self.print(f"! {exc or 'missing argument'} — type 'help'")
        await self.app.settle(send=False)  # the bot's actions print as they happen
        return True

    async def _dispatch(self, cmd: str, args: list[str]) -> None:
        p, room = self.puppet, self.current
        if cmd == "help":
            self.print(HELP)
        elif cmd == "say":
            await p.member_says(room, self.member(args[0]), " ".join(args[1:]))
        elif cmd == "join":
            inviter = self.member(args[2]) if len(args) > 2 and args[1] == "by" else None
            members = [self._join_id(m) for m in args[0].split(",")]
            await p.join(room, members, inviter)
        elif cmd == "leave":
            await p.leave(room, [self.member(args[0])])
        elif cmd == "link":
            title = " ".join(args[2:]) or args[1]
            await p.member_sends_link(room, self.member(args[0]), args[1], title)
        elif cmd == "mini":
            await p.member_sends_mini_program(
                room, self.member(args[0]), "wx_sandbox", " ".join(args[1:])
            )
        elif cmd == "card":
            await p.member_sends_card(room, self.member(args[0]), self.member(args[1]))
        elif cmd == "image":
            size = int(args[1]) if len(args) > 1 else 8
            await p.member_sends_image(
                room, self.member(args[0]), b"\xff\xd8" + b"\0" * size * 1024
            )
        elif cmd == "dm":
            await p.direct_message(self.member(args[0]), " ".join(args[1:]))
        elif cmd == "invite":
            room_id, topic = args[1], " ".join(args[2:]) or args[1]
            self.rooms[room_id] = topic
            members = [m for m in self.names if m != self.app.config.sandbox.account.id][:3]
            await p.invite_bot(self.member(args[0]), room_id, topic, members)
        elif cmd == "group":
            if args:
                if args[0] not in self.rooms:
                    raise ValueError(f"no group {args[0]!r}; try 'groups'")
                self.current = args[0]
            self.print(f"current group: {self.current} ({self.rooms.get(self.current, '')})")
        elif cmd == "groups":
            for room_id, topic in self.rooms.items():
                self.print(f"  {room_id}  {topic}" + ("  <- current" if room_id == room else ""))
        elif cmd == "members":
            for contact_id in await p.room_members(room):
                self.print(f"  {contact_id}  {self._name(contact_id)}")
        elif cmd == "wait":
            await self.app.clock.sleep(float(args[0]))
        else:
            raise ValueError(f"unknown command {cmd!r}")

    def _join_id(self, who: str) -> str:
        """Join accepts new people too: an unknown name becomes a new contact."""
        try:
            return self.member(who)
        except ValueError:
            contact_id = f"wxid_{who}"
            self.names[contact_id] = who
            self.puppet.add_contact(contact_id, who)
            return contact_id


async def stdin_lines() -> Any:
    """Lines from standard input without blocking the event loop."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line.rstrip("\n")


def _short(args: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in args.items())
    return text if len(text) < 120 else text[:117] + "..."
