"""Wiring: the App owns the engine, clock, transport, dispatcher, executor, calendar.

No module-level singletons: everything is built here from a validated
``BotConfig`` and handed down.  The order of start-up is the order of
dependencies (storage, then the executor, then the dispatcher, then the
transport that feeds it); shutdown runs it backwards and drains each stage so
nothing queued is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.alerts import Alert, AlertKind, ManagedAlerter, build_alerter
from bot.config import BotConfig, effective_database_url
from bot.dispatcher import Dispatcher, HandlerFailureAlarm
from bot.executor import Executor
from bot.member_lists import BotNotInRoom, MemberList, MemberListReader
from bot.policies import PolicyBook
from bot.transport.base import Transport
from bot.vocab.actions import Action
from bot.vocab.clock import Clock, SystemClock
from bot.vocab.events import (
    BotJoinedRoomEvent,
    Event,
    LeaveEvent,
    LoginEvent,
    LogoutEvent,
    RoomSnapshotEvent,
    room_of,
)
from handlers.activity import ActivityRecorder
from handlers.base import Context, Handler
from handlers.commands import Commands
from handlers.connection import ConnectionWatch
from handlers.joining import JoiningGroups
from handlers.membership import MembershipSync
from handlers.pauses import PauseCommands
from handlers.welcome import WelcomeRitual, WelcomeScheduler
from sop.calendar import Calendar, every
from sop.reminders import remind_silent_newcomers
from storage.calendar_runs import CalendarRuns
from storage.db import create_engine, safe_url, session_factory, upgrade
from storage.lease import AccountLease, Leases
from storage.membership import MembershipStore
from storage.outbox_retry import OutboxRetries
from storage.pauses import PauseStore
from storage.repo import Repository
from storage.welcome import WelcomeStore

log = logging.getLogger(__name__)


@dataclass
class AppOptions:
    base_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Clock = field(default_factory=SystemClock)
    start_calendar: bool = True
    alerter: ManagedAlerter | None = None  # None: built from the alerts: section


class App:
    def __init__(self, config: BotConfig, transport: Transport, options: AppOptions | None = None):
        self.config = config
        self.transport = transport
        self.options = options or AppOptions()
        self.clock = self.options.clock
        self.database_url = effective_database_url(config, self.options.env, self.options.base_dir)
        self.engine = create_engine(self.database_url)
        # Everything that belongs to the account is scoped by ``bot.account``.
        self.repo = Repository(
            session_factory(self.engine),
            account_id=config.bot.account,
            max_text_length=config.activity.max_text_length,
        )
        self.policies = PolicyBook(config)
        # Owners hear about trouble by webhook, not through the troubled account.
        self.alerter: ManagedAlerter = self.options.alerter or build_alerter(
            config.alerts, self.clock, self.options.env
        )
        self.memberships = MembershipStore(session_factory(self.engine))
        # Every member-list read goes through this one reader: paced and cached.
        self.members = MemberListReader(
            self._read_member_list,
            self.clock,
            reads_per_minute=config.member_lists.reads_per_minute,
            cache_hours=config.member_lists.cache_hours,
            list_rooms=self._list_rooms,
        )
        if hasattr(transport, "on_extra_read"):  # the room payload read at a bot-join
            transport.on_extra_read = self.members.charge
        self.pauses = PauseStore(session_factory(self.engine))
        self.executor = Executor(
            transport,
            self.repo,
            self.clock,
            config.governor,
            owners=config.owners,
            risk_notice=config.bot.risk_notice,
            bot_name=config.bot.name,
            ready=getattr(transport, "logged_in", None),
            on_outcome=self.on_outcome,
            account_id=config.bot.account,
            pauses=self.pauses,
            retries=OutboxRetries(session_factory(self.engine), account_id=self.repo.account_id),
            alerter=self.alerter,
        )
        self.activity = ActivityRecorder(
            self.repo,
            self.clock,
            flush_interval=config.activity.flush_interval_seconds,
            max_rows=config.activity.flush_max_rows,
        )
        self.welcome_store = WelcomeStore(session_factory(self.engine))
        self.welcomes = WelcomeScheduler(
            self.welcome_store,
            self.repo,
            self.policies,
            self.clock,
            self.submit,
            account=config.bot.account,
        )
        self.welcome = WelcomeRitual(self.welcome_store, wake=self.welcomes.wake)
        # Groups run in order; activity first and never stops the chain.
        self.handler_groups: list[list[Handler]] = [
            [self.activity, MembershipSync(self.memberships, self._feed)],
            [ConnectionWatch(alerter=self.alerter), JoiningGroups()],
            [self.welcome],
            [PauseCommands(self.pauses)],
            [Commands()],
        ]
        self.dispatcher = Dispatcher(
            self.handler_groups,
            self.context_for,
            self.submit,
            clock=self.clock,
            max_queued=config.bot.event_queue_max,
            max_queued_per_room=config.bot.event_queue_max_per_room,
            idle_room_seconds=config.bot.idle_room_hours * 3600,
            on_evict=self.members.forget,  # the reader's per-room state too
            # A handler that keeps failing reaches the owners, once per burst.
            on_handler_error=HandlerFailureAlarm(
                self.alerter, self.clock, account_id=config.bot.account
            ),
        )
        # Each scheduled run is claimed in the database: at most once, across restarts.
        self.calendar_runs = CalendarRuns(
            session_factory(self.engine), account_id=config.bot.account
        )
        self.calendar = Calendar(
            ZoneInfo(config.bot.timezone), self.clock, self.calendar_runs, self.repo
        )
        self.calendar.add(
            "remind-newcomers",
            every(config.bot.reminder_check_minutes, ZoneInfo(config.bot.timezone)),
            self.remind_newcomers,
        )
        self.calendar.add(
            "reconcile-members",
            every(config.bot.reconcile_minutes, ZoneInfo(config.bot.timezone)),
            self.reconcile,
        )
        self._reconcile_cursor = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self._left: set[str] = set()  # groups the bot is known to be out of
        self._contexts: dict[str | None, Context] = {}  # per room: see context_for
        # One process per account: taken before the outbox is resumed.
        self.lease = AccountLease(
            Leases(session_factory(self.engine)),
            config.bot.account,
            self.clock,
            ttl=config.bot.lease_ttl_seconds,
            renew_every=config.bot.lease_renew_seconds,
            on_lost=self._lease_lost,
        )
        #: set when another process took the account: the runner must stop.
        self.lease_lost = asyncio.Event()
        self._login_checks: set[asyncio.Future[bool]] = set()
        self.bot_id = ""
        self._started = False
        self._accepting = True

    # ----------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Raises :class:`storage.lease.LeaseHeld` if another process runs the account."""
        await upgrade(self.engine)
        try:
            await self.lease.acquire()  # before the executor marks sends "in doubt"
        except Exception:
            await self.engine.dispose()
            raise
        self.lease.start()
        for group in await self.repo.active_groups():
            if self.policies.configured_profile(group.room_id) is None:
                self.policies.adopt(group.room_id, group.profile, group.topic or "")
        now = self.clock.now()
        for room_id in self.config.groups:
            cfg = self.config.groups[room_id]
            known = await self.repo.get_group(room_id)
            if known is not None and known.left_at is not None:
                # The bot was removed: it stays out until invited back.
                self.members.mark_gone(room_id)
                self._left.add(room_id)
                continue
            await self.repo.upsert_group(room_id, cfg.name, cfg.profile, now)
        await self.executor.start()
        await self.alerter.start()
        self.welcomes.start()  # finishes what a crash interrupted once logged in
        await self.transport.start(self.on_event)
        if self.options.start_calendar:
            self.calendar.start()
        self._started = True
        log.info(
            "qunbot started: %d managed group(s), database %s",
            len(self.policies.managed_rooms()),
            safe_url(self.database_url),
        )

    async def stop(self) -> None:
        """Stop listening, then drain every stage in order: nothing queued is lost.

        Pending welcomes are sent and activity is flushed while the transport
        is still connected; only then is it stopped.
        """
        await self.calendar.stop()  # a run under way finishes first
        self._accepting = False
        await self.members.close()
        await self._join_tasks()
        drain = getattr(self.transport, "drain", None)
        if drain is not None:
            await drain()
        await self.dispatcher.close()  # flushes activity
        if self.lease.lost is None:
            await self.welcomes.close()  # submits pending welcomes
        else:
            await self.welcomes.abort()  # the account's new holder sends them
        await self.executor.stop()  # sends what is queued (bounded), audits the rest
        await self.transport.stop()
        await self.lease.stop()  # released: the next process may start at once
        await self.engine.dispose()
        await self.alerter.stop()  # last: alerts raised while stopping still go out (bounded)
        self._started = False

    async def settle(self, *, send: bool = True) -> None:
        """Wait until everything received so far is handled and written (and sent)."""
        drain = getattr(self.transport, "drain", None)
        if drain is not None:
            await drain()
        await self._join_tasks()
        await self.calendar.settle()  # runs due now are done (their actions queued)
        await self.members.settle()  # member lists due now are read and queued
        await self.dispatcher.join()
        await self.activity.flush()
        await self.welcomes.join()
        if send:
            await self.executor.join()

    # -------------------------------------------------------------- events

    def on_event(self, event: Event) -> Awaitable[None] | None:
        """The transport's sink.  Returns an awaitable only when the dispatcher
        is full: the transport then waits (back-pressure) and nothing is lost."""
        if not self._accepting:
            log.debug("stopping: %s not handled", type(event).__name__)
            return None
        if isinstance(event, LoginEvent):
            self.bot_id = event.account_id
            log.info("logged in as %s (%s)", event.account_id, event.name)
            task = asyncio.ensure_future(self.lease.record_login(event.account_id))
            self._login_checks.add(task)
            task.add_done_callback(self._login_checks.discard)
            task.add_done_callback(_log_failure)
        elif isinstance(event, LogoutEvent):
            log.warning("logged out: %s", event.reason)
        elif isinstance(event, LeaveEvent) and self._bot_in(event.member_ids):
            self._spawn(self.bot_removed(event.room_id, event.at, "a room-leave event"))
            others = tuple(m for m in event.member_ids if not self._bot_in((m,)))
            if not others:
                return None
            event = dataclasses.replace(event, member_ids=others)
        elif isinstance(event, BotJoinedRoomEvent):
            self._bot_joined(event)
        if isinstance(event, LoginEvent):
            self._spawn(self.refresh_member_lists())  # runs after the login is queued
        if self.dispatcher.full(event):
            return self.dispatcher.put(event)
        self.dispatcher.feed(event)
        return None

    def _feed(self, event: Event) -> None:
        """Events the handlers find (joins and leaves a member list reveals)."""
        if self._accepting:
            self.dispatcher.feed(event)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _join_tasks(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def context_for(self, event: Event) -> Context | None:
        room_id = room_of(event)
        policy = None
        if room_id is not None:
            if self.members.is_gone(room_id) and not isinstance(event, BotJoinedRoomEvent):
                return None  # the bot is no longer in that group: nothing more there
            policy = self.policies.get(room_id)
            if policy is None and not isinstance(event, BotJoinedRoomEvent):
                return None  # not a group the bot manages: stay out of it
        # Built once per room: the same until the room's policy or the bot's id changes.
        bot_id = self.bot_id or (self.transport.self_id or "")
        ctx = self._contexts.get(room_id)
        if ctx is not None and ctx.policy is policy and ctx.bot_id == bot_id:
            return ctx
        ctx = self._contexts[room_id] = Context(
            config=self.config,
            repo=self.repo,
            clock=self.clock,
            submit=self.submit,
            bot_id=bot_id,
            policies=self.policies,
            policy=policy,
        )
        return ctx

    async def submit(self, actions: Sequence[Action]) -> None:
        if self.lease.lost is not None:
            log.warning("not submitted (this process lost the account): %d action(s)", len(actions))
            return
        kept = [a for a in actions if a.room_id is None or not self.members.is_gone(a.room_id)]
        if len(kept) < len(actions):
            log.info(
                "%d action(s) not sent: the bot is no longer in that group",
                len(actions) - len(kept),
            )
        await self.executor.submit(kept)

    def _lease_lost(self, reason: str) -> None:
        """Another process runs the account now: stop acting at once (sends,
        welcomes, member-list reads, the calendar), then stop."""
        self._accepting = False
        self.executor.halt()
        self._spawn(self.calendar.abort())
        self._spawn(self.welcomes.abort())
        self._spawn(self.members.close())
        self.lease_lost.set()

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
                )
        raise RuntimeError(f"no member list for {room_id}")

    def _logged_in(self) -> bool:
        return getattr(self.transport, "logged_in", asyncio.Event()).is_set()

    def _bot_in(self, member_ids: Sequence[str]) -> bool:
        me = self.bot_id or self.transport.self_id or ""
        return bool(me) and me in member_ids

    # ------------------------------------------------- the bot's own presence

    def _bot_joined(self, event: BotJoinedRoomEvent) -> None:
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

    async def on_outcome(self, action: Action, status: str) -> None:
        """Bookkeeping from how an action ended (the executor's hook)."""
        await self.welcomes.on_outcome(action, status)

    async def remind_newcomers(self) -> int:
        return await remind_silent_newcomers(self.repo, self.policies, self.clock, self.submit)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not record the login in the lease", exc_info=task.exception())
