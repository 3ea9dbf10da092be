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
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.alerts import Alert, AlertKind, ManagedAlerter, build_alerter
from bot.config import BotConfig, effective_database_url
from bot.config.errors import ConfigError
from bot.config.loader import load_config
from bot.dispatcher import Dispatcher, HandlerFailureAlarm
from bot.doer import Doer
from bot.executor import Executor
from bot.policies import PolicyBook
from bot.presence import Presence
from bot.transport.base import Transport
from bot.vocab.actions import Action
from bot.vocab.clock import Clock, SystemClock
from bot.vocab.events import (
    BotJoinedRoomEvent,
    Event,
    LeaveEvent,
    LoginEvent,
    LogoutEvent,
    room_of,
)
from bot.vocab.policy import GroupPolicy
from bot.welcome_batches import WelcomeScheduler
from handlers import welcome
from handlers.activity import ActivityRecorder
from handlers.base import Context, Handler
from handlers.command_router import CommandRouter
from handlers.feature import Feature, JobSpec, Shadow, Stage, as_result
from handlers.features import FEATURES
from handlers.services import Services
from sop.calendar import Calendar, every
from sop.runtime import CalendarRuntime
from storage.calendar_pauses import CalendarPauses
from storage.calendar_runs import CalendarRuns
from storage.db import create_engine, safe_url, session_factory, upgrade
from storage.lease import AccountLease, Leases
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
    features: Sequence[Feature] | None = None  # None: handlers.features.FEATURES
    #: poll bot.yaml for changes and reload the calendar (the CLI's run; tests call reload_config)
    watch_config_seconds: float | None = None


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
            timezone=config.bot.timezone,
        )
        self.policies = PolicyBook(config)
        # Owners hear about trouble by webhook, not through the troubled account.
        self.alerter: ManagedAlerter = self.options.alerter or build_alerter(
            config.alerts, self.clock, self.options.env
        )
        self.presence = Presence(
            config, transport, self.repo, self.policies, self.clock, self.alerter, self._feed
        )
        self.members = self.presence.members  # every member-list read: paced and cached
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
        # Handlers decide; the doer applies their effects, then queues their actions.
        self.doer = Doer(
            self.repo,
            self.policies,
            self.clock,
            self.submit,
            welcomes=self.welcome_store,
            wake_welcomes=self.welcomes.wake,
            close_pause=self.executor.apply_close_pause,
        )
        self.features = tuple(FEATURES if self.options.features is None else self.options.features)
        self.services = Services(
            config=config,
            repo=self.repo,
            clock=self.clock,
            sessions=session_factory(self.engine),
            policies=self.policies,
            alerter=self.alerter,
            feed=self._feed,
            submit=self.submit,
            fetch_image=getattr(transport, "image_bytes", None),
        )
        self.handler_groups = self._build_features()
        self.dispatcher = Dispatcher(
            self.handler_groups,
            self.context_for,
            self.doer.do,
            outer=[self.activity],  # activity logging sees every event first
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
            "reconcile-members",
            every(config.bot.reconcile_minutes, ZoneInfo(config.bot.timezone)),
            lambda at: self.presence.reconcile(),
        )
        self._add_jobs()
        # The SOP calendar of bot.yaml: its entries as jobs per group (installed at start).
        self.sop = CalendarRuntime(
            calendar=self.calendar,
            config=config,
            policies=self.policies,
            context_for_room=self.context_for_room,
            do=self.doer.do,
            repo=self.repo,
            runs=self.calendar_runs,
            pauses=CalendarPauses(session_factory(self.engine), account_id=config.bot.account),
            alerter=self.alerter,
        )
        self.services.shared["sop"] = self.sop
        self.services.shared["reload_config"] = self.reload_config
        self.policies.on_adopt.append(lambda room: self._resync_calendar())
        self._config_stamp: tuple[int, int] | None = None
        self._watcher: asyncio.Future[None] | None = None  # polls bot.yaml (stopped first)
        self._tasks: set[asyncio.Future[Any]] = set()
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
        #: told of every action's outcome, in order (tests' expectation helper).
        self.outcome_listeners: list[Callable[[Action, str], None]] = []
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
                self.presence.mark_left(room_id)  # removed: out until invited back
                continue
            await self.repo.upsert_group(room_id, cfg.name, cfg.profile, now)
        await self.executor.start()
        await self.alerter.start()
        self.welcomes.start()  # finishes what a crash interrupted once logged in
        await self.transport.start(self.on_event)
        self.sop.install()  # after adoption: entries by profile or tag reach adopted groups too
        if self.options.start_calendar:
            self.calendar.start()
            await self.sop.check_holiday_data()
        if self.options.watch_config_seconds and self.config.source_path is not None:
            self._config_stamp = _stamp_of(self.config.source_path)
            self._watcher = asyncio.ensure_future(
                self._watch_config(self.options.watch_config_seconds)
            )
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
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
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
            self.welcomes.wake()  # it learns the account, and finishes a crash's work
            log.info("logged in as %s (%s)", event.account_id, event.name)
            task = asyncio.ensure_future(self.lease.record_login(event.account_id))
            self._login_checks.add(task)
            task.add_done_callback(self._login_checks.discard)
            task.add_done_callback(_log_failure)
        elif isinstance(event, LogoutEvent):
            log.warning("logged out: %s", event.reason)
        elif isinstance(event, LeaveEvent) and self._bot_in(event.member_ids):
            self._spawn(self.presence.bot_removed(event.room_id, event.at, "a room-leave event"))
            others = tuple(m for m in event.member_ids if not self._bot_in((m,)))
            if not others:
                return None
            event = dataclasses.replace(event, member_ids=others)
        elif isinstance(event, BotJoinedRoomEvent):
            self.presence.bot_joined(event)
        if isinstance(event, LoginEvent):
            self._spawn(self.presence.refresh_member_lists())  # runs after the login is queued
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
            sessions=self.services.sessions,
            services=self.services,
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
        if self._watcher is not None:
            self._watcher.cancel()
        self._spawn(self.calendar.abort())
        self._spawn(self.welcomes.abort())
        self._spawn(self.members.close())
        self.lease_lost.set()

    def _bot_in(self, member_ids: Sequence[str]) -> bool:
        me = self.bot_id or self.transport.self_id or ""
        return bool(me) and me in member_ids

    async def on_outcome(self, action: Action, status: str) -> None:
        """Bookkeeping from how an action ended (the executor's hook)."""
        await self.welcomes.on_outcome(action, status)
        for listen in self.outcome_listeners:
            listen(action, status)

    # ------------------------------------------------------------ features

    def _build_features(self) -> list[list[Handler]]:
        """The dispatcher's handler groups, by stage; every feature's commands in
        one router; every feature's effect appliers and shadow switch."""
        stages: dict[Stage, list[Handler]] = {}
        specs = []
        for feature in self.features:
            handlers: list[Handler] = [*feature.handlers]
            if feature.setup is not None:
                handlers += feature.setup(self.services)
            for handler in handlers:
                if not hasattr(handler, "feature"):
                    handler.feature = feature.name  # type: ignore[attr-defined]
            stages.setdefault(feature.stage, []).extend(handlers)
            specs += feature.commands
            for kind, apply in feature.effects.items():
                self.doer.register(kind, functools.partial(apply, services=self.services))
            if feature.shadow is not None:
                check = functools.partial(_shadow_check, feature.shadow, self.services)
                self.doer.set_shadow(feature.name, check)
        router = CommandRouter(specs)
        self.services.commands.update(router.names)
        stages.setdefault(Stage.COMMANDS, []).append(router)
        return [stages[stage] for stage in sorted(stages)]

    def _add_jobs(self) -> None:
        tz = ZoneInfo(self.config.bot.timezone)
        for feature in self.features:
            for job in feature.jobs:
                run = functools.partial(self._run_job, job)
                self.calendar.add(job.id, job.trigger(tz, self.config), run, grace=job.grace)

    async def _run_job(self, job: JobSpec, scheduled_at: datetime) -> None:
        result = as_result(await job.fn(self.context_for_job(), scheduled_at))
        if result is not None:
            await self.doer.do(result, job.feature.name, f"{job.id}@{scheduled_at.isoformat()}")

    def _resync_calendar(self) -> None:
        """A group adopted while running: entries by profile or tag reach it too."""
        self.sop.sync()

    def context_for_room(self, room_id: str) -> Context:
        """A group's context for a calendar run (the app-wide one for "")."""
        policy = self.policies.get(room_id) if room_id else None
        if policy is None:
            return self.context_for_job()
        return dataclasses.replace(self.context_for_job(), policy=policy)

    # -------------------------------------------------------------- reload

    async def reload_config(self, by: str = "") -> tuple[bool, str]:
        """Read bot.yaml again and replace the calendar with its entries.

        An invalid file is rejected with its errors (alerted to the owners,
        audited) and the running calendar stays as it was.  Returns (applied,
        a line saying what happened)."""
        path = self.config.source_path
        if path is None:
            return False, "没有配置文件可重新加载（机器人不是从文件启动的）。"
        now = self.clock.now()
        try:
            new = await asyncio.to_thread(load_config, path)
        except ConfigError as exc:
            lines = [str(i) for i in exc.issues][:5]
            summary = "；".join(lines)
            self.alerter.alert(
                Alert(
                    kind=AlertKind.CONFIG_REJECTED,
                    what=f"{path.name} 有 {len(exc.issues)} 处错误：{summary}",
                    where=str(path),
                    account_id=self.config.bot.account,
                    key=summary[:200],
                )
            )
            await self.repo.write_audit(
                at=now,
                action="calendar",
                kind="reload",
                status="refused",
                key=f"calendar:reload:{now.isoformat()}",
                reason=summary[:2000],
                detail={"errors": len(exc.issues), "by": by},
            )
            log.error("config reload rejected (%d problem(s)): %s", len(exc.issues), summary)
            return False, f"配置有 {len(exc.issues)} 处错误，没有生效，日程照旧：\n" + "\n".join(
                lines
            )
        change = await self.sop.reload(new, by=by)
        if _without_calendar(new) != _without_calendar(self.config):
            log.warning("bot.yaml: only the calendar is reloaded; other changes need a restart")
        return True, f"已重新加载日程：{change.text()}。"

    async def _watch_config(self, every: float) -> None:
        """Reload when bot.yaml's size or modification time changes (polled)."""
        path = self.config.source_path
        assert path is not None
        while True:
            await self.clock.sleep(every)
            stamp = _stamp_of(path)
            if stamp is None or stamp == self._config_stamp:
                continue
            self._config_stamp = stamp
            try:
                await self.reload_config(by="file change")
            except Exception:
                log.exception("config reload failed")

    def context_for_job(self) -> Context:
        return Context(
            config=self.config,
            repo=self.repo,
            clock=self.clock,
            submit=self.submit,
            bot_id=self.bot_id or (self.transport.self_id or ""),
            policies=self.policies,
            sessions=self.services.sessions,
            services=self.services,
        )

    async def remind_newcomers(self) -> int:
        """Run the welcome feature's reminder now (tests, the CLI); returns how
        many newcomers were reminded."""
        now = self.clock.now()
        result = await welcome.remind_newcomers(self.context_for_job(), now)
        await self.doer.do(result, welcome.feature.name, f"remind-now@{now.isoformat()}")
        return len(result.effects)


def _shadow_check(
    shadow: Shadow, services: Services, policy: GroupPolicy, action: Action
) -> bool | Awaitable[bool]:
    return shadow(policy, action, services)


def _stamp_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _without_calendar(config: BotConfig) -> str:
    return config.model_dump_json(exclude={"calendar"})


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not record the login in the lease", exc_info=task.exception())
