"""The bot's own presence in its groups: member lists read, the bot removed or back.

Every member-list read goes through the paced, cached reader
(``bot.member_lists``).  :meth:`Presence.reconcile` (a calendar job) compares
a few stale groups' lists with storage each round; after a login the stale
lists are read in the background; a group missing from the room list is read
to confirm whether the bot was removed.  When the bot is out of a group it
reads and sends nothing more there, refuses what is queued for it (audited)
and the owners are alerted; an owner's invitation brings it back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.alerts import Alert, Alerter, AlertKind
from bot.config import BotConfig
from bot.member_lists import BotNotInRoom, MemberList, MemberListReader
from bot.policies import PolicyBook
from bot.transport.base import Transport
from bot.vocab.clock import Clock
from bot.vocab.events import BotJoinedRoomEvent, Event, RoomSnapshotEvent
from storage.repo import Repository

log = logging.getLogger(__name__)


class Presence:
    def __init__(
        self,
        config: BotConfig,
        transport: Transport,
        repo: Repository,
        policies: PolicyBook,
        clock: Clock,
        alerter: Alerter,
        feed: Callable[[Event], None],
    ) -> None:
        self.config = config
        self.transport = transport
        self.repo = repo
        self.policies = policies
        self.clock = clock
        self.alerter = alerter
        self._feed = feed
        # Every member-list read goes through this one reader: paced and cached.
        self.members = MemberListReader(
            self._read_member_list,
            clock,
            reads_per_minute=config.member_lists.reads_per_minute,
            cache_hours=config.member_lists.cache_hours,
            list_rooms=self._list_rooms,
        )
        self._reconcile_cursor = 0
        self._left: set[str] = set()  # groups the bot is known to be out of

    def mark_left(self, room_id: str) -> None:
        """Known at start: the bot was removed from ``room_id`` and stays out."""
        self.members.mark_gone(room_id)
        self._left.add(room_id)

    def _logged_in(self) -> bool:
        return getattr(self.transport, "logged_in", asyncio.Event()).is_set()

    async def reconcile(self) -> int:
        """Compare a few groups' member lists with storage; returns the lists read.

        Round-robin over the managed groups whose cached list is stale (read
        longer ago than ``member_lists.cache_hours``), at most
        ``bot.reconcile_rooms_per_run`` per run, every read on the reader's
        budget.  A managed group missing from the bot's room list is read even
        if fresh, to confirm whether the bot was removed.
        """
        rooms = [r for r in self.policies.managed_rooms() if not self.members.is_gone(r)]
        if not rooms or not self._logged_in():
            return 0
        self.members.new_round()
        missing = await self._missing_rooms(rooms)
        for room_id in missing:
            self.members.invalidate(room_id)
        start = self._reconcile_cursor % len(rooms)
        ordered = rooms[start:] + rooms[:start]
        batch = self.members.stale(ordered)[: self.config.bot.reconcile_rooms_per_run]
        if batch:
            self._reconcile_cursor = start + ordered.index(batch[-1]) + 1
        read = 0
        for room_id in batch:
            try:
                members = await self.members.get(room_id)
            except BotNotInRoom as exc:
                await self.bot_removed(room_id, self.clock.now(), exc.detail)
                continue
            except Exception:
                log.warning("could not read the member list of %s", room_id, exc_info=True)
                continue
            self._feed(members.snapshot())
            read += 1
        return read

    async def refresh_member_lists(self) -> int:
        """After a login: queue the stale member lists of the managed groups for a
        background read (on the budget); returns how many were queued.  Events
        keep flowing meanwhile.  A group the bot was removed from while away
        shows up missing from the room list and is confirmed by its read."""
        rooms = [r for r in self.policies.managed_rooms() if not self.members.is_gone(r)]
        if not rooms:
            return 0
        self.members.new_round()
        for room_id in await self._missing_rooms(rooms):
            self.members.invalidate(room_id)
        return self.members.refresh_in_background(rooms, self._list_read, self._list_gone)

    def _list_read(self, members: MemberList) -> None:
        self._feed(members.snapshot())

    async def _list_gone(self, room_id: str, detail: str) -> None:
        await self.bot_removed(room_id, self.clock.now(), detail)

    async def _missing_rooms(self, rooms: Sequence[str]) -> list[str]:
        """Rooms with a fresh cached list that the room list no longer has (their
        list is re-read to confirm).  The room list comes through the reader:
        paced and cached; not read at all when no list is cached (all are due)."""
        if all(self.members.is_stale(r) for r in rooms):
            return []
        listed = await self.members.room_list()
        if not listed:  # unknown, or empty right after login: proves nothing
            return []
        return [r for r in rooms if r not in listed and not self.members.is_stale(r)]

    async def _list_rooms(self) -> set[str]:
        room_ids = getattr(self.transport, "room_ids", None)
        if room_ids is None:
            return set()
        listed: set[str] = await room_ids()
        return listed

    async def _read_member_list(self, room_id: str) -> MemberList:
        read = getattr(self.transport, "read_member_list", None)
        if read is not None:
            result: MemberList = await read(room_id)
            return result
        for event in await self.transport.snapshots([room_id]):  # a transport without it
            if isinstance(event, RoomSnapshotEvent):
                return MemberList(
                    event.room_id,
                    event.member_ids,
                    event.at,
                    event.topic,
                    event.member_names,
                    event.owner_id,
                    event.admin_ids,
                    member_aliases=event.member_aliases,
                )
        raise RuntimeError(f"no member list for {room_id}")

    def bot_joined(self, event: BotJoinedRoomEvent) -> None:
        """Back in (or new to) a group: read its member list once, in the background
        (the snapshot follows the join event in the room's order)."""
        room_id = event.room_id
        allowed = (
            self.policies.configured_profile(room_id) is not None
            or event.inviter_id in self.config.owners
        )
        if not allowed:
            return
        self._left.discard(room_id)
        self.members.note_listed(room_id)
        if self.members.resume(room_id):
            log.info("the bot is back in %s: managing it again", room_id)
        self.members.invalidate(room_id)
        self.members.refresh_in_background([room_id], self._list_read, self._list_gone)

    async def bot_removed(self, room_id: str, at: datetime, how: str = "") -> bool:
        """The bot is no longer in ``room_id`` (removed, or it left): mark the group
        left, read and send nothing more there, refuse what is queued for it, and
        alert the owners.  False if it was already known to be out."""
        self.members.mark_gone(room_id)  # the reader may have marked it already
        if room_id in self._left:
            return False
        self._left.add(room_id)
        log.warning("the bot is no longer in %s (%s)", room_id, how or "no detail")
        try:
            group = await self.repo.get_group(room_id)
            await self.repo.mark_group_left(room_id, at)
            refused = await self.repo.outbox_refuse_room(
                room_id, at, "the bot is no longer in this group"
            )
        except Exception:
            log.exception("could not record that the bot left %s", room_id)
            group, refused = None, []
        for item in refused:
            try:
                await self.repo.write_audit(
                    at=at,
                    action=item.action,
                    kind=item.kind,
                    room_id=room_id,
                    key=item.key,
                    status="refused",
                    reason="the bot is no longer in this group",
                    detail=item.payload,
                )
            except Exception:
                log.exception("could not audit the refusal of %s", item.key)
        policy = self.policies.get(room_id)
        name = (policy.name if policy is not None else "") or (group.topic if group else "")
        where = f"«{name}» ({room_id})" if name else room_id
        try:
            quit_on_purpose = await self.repo.outbox_quit_requested(room_id)
        except Exception:
            log.exception("could not read whether the bot meant to leave %s", room_id)
            quit_on_purpose = False
        if quit_on_purpose:  # a dissolved flash group: expected, not news for the owners
            log.info("the bot left %s as planned", room_id)
            return True
        self.alerter.alert(
            Alert(
                kind=AlertKind.REMOVED_FROM_GROUP,
                what=f"机器人已不在群 {where} 里：被移出群，或自己退出了。",
                where=where,
                doing="机器人不再读取或发送这个群的任何内容"
                + (f"；排队中的 {len(refused)} 个操作已取消。" if refused else "。"),
                owner_can="如果是误操作，请群主把机器人重新拉进群：群主的邀请会被接受，"
                "之后照常管理这个群。",
                account_id=self.config.bot.account,
            )
        )
        return True
