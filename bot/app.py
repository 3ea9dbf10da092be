"""Wiring: the App owns the engine, clock, transport, dispatcher, executor, calendar.

No module-level singletons: everything is built here from a validated
``BotConfig`` and handed down.  The order of start-up is the order of
dependencies (storage, then the executor, then the dispatcher, then the
transport that feeds it); shutdown runs it backwards and drains each stage so
nothing queued is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.actions import Action
from bot.clock import Clock, SystemClock
from bot.config import BotConfig, effective_database_url
from bot.dispatcher import Dispatcher
from bot.events import BotJoinedRoomEvent, Event, LoginEvent, LogoutEvent, room_of
from bot.executor import Executor
from bot.policies import PolicyBook
from bot.transport.base import Transport
from handlers.activity import ActivityRecorder
from handlers.base import Context, Handler
from handlers.commands import Commands
from handlers.connection import ConnectionWatch
from handlers.joining import JoiningGroups
from handlers.membership import MembershipSync
from handlers.welcome import WelcomeRitual
from sop.calendar import Calendar, every
from sop.reminders import remind_silent_newcomers
from storage.db import create_engine, session_factory, upgrade
from storage.repo import Repository

log = logging.getLogger(__name__)


@dataclass
class AppOptions:
    base_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Clock = field(default_factory=SystemClock)
    start_calendar: bool = True


class App:
    def __init__(self, config: BotConfig, transport: Transport, options: AppOptions | None = None):
        self.config = config
        self.transport = transport
        self.options = options or AppOptions()
        self.clock = self.options.clock
        self.database_url = effective_database_url(config, self.options.env, self.options.base_dir)
        self.engine = create_engine(self.database_url)
        self.repo = Repository(
            session_factory(self.engine), max_text_length=config.activity.max_text_length
        )
        self.policies = PolicyBook(config)
        self.executor = Executor(
            transport,
            self.repo,
            self.clock,
            config.governor,
            owners=config.owners,
            risk_notice=config.bot.risk_notice,
            bot_name=config.bot.name,
            ready=getattr(transport, "logged_in", None),
        )
        self.activity = ActivityRecorder(
            self.repo,
            self.clock,
            flush_interval=config.activity.flush_interval_seconds,
            max_rows=config.activity.flush_max_rows,
        )
        self.welcome = WelcomeRitual()
        # Groups run in order; activity first and never stops the chain.
        self.handler_groups: list[list[Handler]] = [
            [self.activity, MembershipSync()],
            [ConnectionWatch(), JoiningGroups()],
            [self.welcome],
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
        )
        self.calendar = Calendar(ZoneInfo(config.bot.timezone))
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
        self.bot_id = ""
        self._started = False
        self._accepting = True

    # ----------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await upgrade(self.engine)
        for group in await self.repo.active_groups():
            if self.policies.configured_tier(group.room_id) is None:
                self.policies.adopt(group.room_id, group.tier, group.topic or "")
        now = self.clock.now()
        for room_id in self.config.groups:
            cfg = self.config.groups[room_id]
            await self.repo.upsert_group(room_id, cfg.name, str(cfg.tier), now)
        await self.executor.start()
        await self.transport.start(self.on_event)
        if self.options.start_calendar:
            self.calendar.start()
        self._started = True
        log.info(
            "qunbot started: %d managed group(s), database %s",
            len(self.policies.managed_rooms()),
            _safe_url(self.database_url),
        )

    async def stop(self) -> None:
        """Stop listening, then drain every stage in order: nothing queued is lost.

        Pending welcomes are sent and activity is flushed while the transport
        is still connected; only then is it stopped.
        """
        self.calendar.shutdown()
        self._accepting = False
        drain = getattr(self.transport, "drain", None)
        if drain is not None:
            await drain()
        await self.dispatcher.close()  # flushes activity, submits pending welcomes
        await self.executor.stop()  # sends what is queued (bounded), audits the rest
        await self.transport.stop()
        await self.engine.dispose()
        self._started = False

    async def settle(self, *, send: bool = True) -> None:
        """Wait until everything received so far is handled and written (and sent)."""
        drain = getattr(self.transport, "drain", None)
        if drain is not None:
            await drain()
        await self.dispatcher.join()
        await self.activity.flush()
        if send:
            await self.executor.join()

    # -------------------------------------------------------------- events

    def on_event(self, event: Event) -> None:
        if not self._accepting:
            log.debug("stopping: %s not handled", type(event).__name__)
            return
        if isinstance(event, LoginEvent):
            self.bot_id = event.account_id
            log.info("logged in as %s (%s)", event.account_id, event.name)
        elif isinstance(event, LogoutEvent):
            log.warning("logged out: %s", event.reason)
        self.dispatcher.feed(event)

    def context_for(self, event: Event) -> Context | None:
        room_id = room_of(event)
        policy = None
        if room_id is not None:
            policy = self.policies.get(room_id)
            if policy is None and not isinstance(event, BotJoinedRoomEvent):
                return None  # not a group the bot manages: stay out of it
        return Context(
            config=self.config,
            repo=self.repo,
            clock=self.clock,
            submit=self.submit,
            bot_id=self.bot_id or (self.transport.self_id or ""),
            policies=self.policies,
            policy=policy,
        )

    async def submit(self, actions: Sequence[Action]) -> None:
        await self.executor.submit(actions)

    async def reconcile(self) -> int:
        """Compare a few groups' member lists with storage (round-robin, rate-limited
        by the calendar: member-list fetches are a risk-control trigger)."""
        rooms = self.policies.managed_rooms()
        if not rooms or not getattr(self.transport, "logged_in", asyncio.Event()).is_set():
            return 0
        n = min(self.config.bot.reconcile_rooms_per_run, len(rooms))
        start = self._reconcile_cursor % len(rooms)
        batch = (rooms[start:] + rooms[:start])[:n]
        self._reconcile_cursor = start + n
        events = await self.transport.snapshots(batch)
        for event in events:
            self.on_event(event)
        return len(events)

    async def remind_newcomers(self) -> int:
        return await remind_silent_newcomers(self.repo, self.policies, self.clock, self.submit)


def _safe_url(url: str) -> str:
    """A database URL without its password, for logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"
