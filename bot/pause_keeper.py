"""Keep the risk-control pauses of one executor: the governor and the store agree.

A risk-control error opens a pause for that kind of action in the
:class:`~bot.governor.Governor`; the :class:`PauseKeeper` stores it
(``storage.pauses``, per account), raises the owners' alert and words the
owners' WeChat notice (which the executor submits, unless messages are what is
paused).  :meth:`PauseKeeper.sync` makes the governor's pauses those stored for
the current account (at start, for another account, or after an owner closed
one from the command line); :meth:`PauseKeeper.close` closes a pause early when
an owner asks, with one audit row per pause closed.  The executor owns one and
delegates to it; the loop that refuses and executes actions stays there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.alerts import Alert, Alerter, AlertKind
from bot.governor import Governor, GovernorSettings, short_error
from bot.vocab.actions import Action, ActionKind, Priority, say_to_each
from bot.vocab.clock import Clock
from bot.vocab.effects import ClosePause
from bot.vocab.texts import notice
from storage.pauses import PauseStore
from storage.repo import Repository

# The executor's logger: these lines read (and are filtered) as before the split.
log = logging.getLogger("bot.executor")

# How the owners' WeChat notice names a kind of action (never an internal name).
KIND_LABELS: dict[ActionKind, str] = {
    ActionKind.MESSAGE: "发消息",
    ActionKind.RICH: "发链接/小程序/名片/文件",
    ActionKind.REMOVE: "移出群成员",
    ActionKind.INVITE: "邀请入群",
    ActionKind.ACCEPT: "接受邀请/好友申请",
    ActionKind.FRIEND_REQUEST: "添加好友",
    ActionKind.ROOM_CREATE: "建群",
    ActionKind.ROOM_ADMIN: "修改群名/群公告",
}


class PauseKeeper:
    def __init__(
        self,
        governor: Governor,
        pauses: PauseStore | None,
        repo: Repository,
        alerter: Alerter,
        clock: Clock,
        account_id: Callable[[], str],
        settings: GovernorSettings,
        *,
        owners: Sequence[str],
        risk_notice: str,
        bot_name: str,
    ) -> None:
        """``account_id``: how to read the logged-in bot account (pauses are
        stored per account).  ``pauses``: where pauses are kept (None: in
        memory only)."""
        self.governor = governor
        self.settings = settings
        self.pauses = pauses
        self._repo = repo
        self._alerter = alerter
        self._clock = clock
        self._account = account_id
        self._owners = tuple(owners)
        self._risk_notice = risk_notice
        self._bot_name = bot_name
        self.synced_account: str | None = None  # whose pauses the governor holds
        self._unsaved_pauses: set[ActionKind] = set()  # open, but their row was not written

    async def sync(self) -> None:
        """Make the governor's pauses those stored for this account (restart,
        another account, or an owner closed one from the command line)."""
        if self.pauses is None:
            return
        account = self._account()
        now, mono = self._clock.now(), self._clock.monotonic()
        try:
            stored = await self.pauses.open_pauses(account, now)
        except Exception:
            log.exception("could not read the stored pauses")
            return
        wanted: dict[ActionKind, tuple[float, str]] = {}
        for pause in stored:
            try:
                kind = ActionKind(pause.kind)
            except ValueError:
                continue
            until = mono + (pause.until - now).total_seconds()
            if kind not in wanted or until > wanted[kind][0]:
                wanted[kind] = (until, pause.error)
        for kind in self.governor.open_pauses(mono):
            if kind not in wanted and kind not in self._unsaved_pauses:
                self.governor.close(kind)
                if self.synced_account == account:
                    log.warning("%s actions: the pause was closed from outside", kind)
        for kind, (until, error) in wanted.items():
            self.governor.restore(kind, until, error)
            if self.synced_account != account:
                log.warning(
                    "%s actions stay paused until %s (risk control, from before the restart)",
                    kind,
                    (now + timedelta(seconds=until - mono)).isoformat(timespec="seconds"),
                )
        self.synced_account = account

    async def opened(self, action: Action, error: str) -> list[Action]:
        """Store the pause the governor just opened and alert the owners;
        returns the owners' WeChat notice to submit (none when messages are
        what is paused)."""
        kind = action.kind
        now, mono = self._clock.now(), self._clock.monotonic()
        until_mono = self.governor.open_pauses(mono).get(kind, mono + self.settings.breaker_pause_s)
        until = now + timedelta(seconds=until_mono - mono)
        hours = self.settings.breaker_pause_s / 3600
        account = self._account()
        if self.pauses is not None:
            try:
                await self.pauses.open(account, str(kind), now, until, error)
                self._unsaved_pauses.discard(kind)
            except Exception:
                # Kept in memory all the same: a sync must not lift it.
                self._unsaved_pauses.add(kind)
                log.exception("could not store the %s pause: it ends at the next restart", kind)
        label = KIND_LABELS.get(kind, str(kind))
        marker = self.governor.risk_marker(error) or "风控"
        self._alerter.alert(
            Alert(
                kind=AlertKind.PAUSE_OPENED,
                what=f"微信拒绝了一次「{label}」操作，提示风控（{short_error(error)}）。",
                where=f"机器人账号 {account}",
                doing=f"「{label}」暂停 {hours:g} 小时，到 {_utc(until)}（UTC）为止；"
                "排队中的同类操作不再执行，都记入审计。",
                owner_can="最稳妥的是等暂停自然结束；确有必要可提前解除："
                f"`qunbot pause clear {kind}`，或向机器人发送「#解除暂停 {kind}」。",
                account_id=account,
            )
        )
        if kind is ActionKind.MESSAGE:
            return []  # a notice is a message: it would go through the paused account
        text = notice(
            self._risk_notice,
            action=label,
            error=marker,
            hours=f"{hours:g}",
            bot_name=self._bot_name,
        )
        return list(
            say_to_each(
                self._owners,
                text,
                priority=Priority.MODERATION,
                reason=f"tell the owners that {kind} actions are paused",
            )
        )

    async def close(self, decision: ClosePause) -> list[ActionKind]:
        """Close a pause early (an owner asked): the governor, the pauses table,
        one audit row per pause closed.  Returns the kinds that were paused."""
        if decision.pause_kind == "all":
            kinds = list(ActionKind)
        else:
            try:
                kinds = [ActionKind(decision.pause_kind)]
            except ValueError:
                log.warning("no such kind of action to unpause: %r", decision.pause_kind)
                return []
        now, mono = self._clock.now(), self._clock.monotonic()
        account = self._account()
        open_now = self.governor.open_pauses(mono)
        closed: list[ActionKind] = []
        for kind in kinds:
            rows = []
            if self.pauses is not None:
                try:
                    rows = await self.pauses.close(account, str(kind), now, decision.by)
                except Exception:
                    log.exception("could not record closing the %s pause", kind)
            if kind not in open_now and not rows:
                continue
            self.governor.close(kind)
            self._unsaved_pauses.discard(kind)
            closed.append(kind)
            log.warning("%s actions: pause closed early by %s", kind, decision.by)
            until = open_now.get(kind)
            try:
                await self._repo.write_audit(
                    at=now,
                    action="close_pause",
                    kind=str(kind),
                    status="done",
                    target_id=decision.by,
                    reason=decision.reason or f"{kind} pause closed early by {decision.by}",
                    detail={
                        "pause_kind": str(kind),
                        "closed_by": decision.by,
                        "account_id": account,
                        "until": None
                        if until is None
                        else _utc(now + timedelta(seconds=until - mono)),
                    },
                )
            except Exception:
                log.exception("could not write the audit row for closing the %s pause", kind)
        return closed


def _utc(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
