"""Record logins, logouts and lost connections; alert the owners when the account is in trouble.

The alerts (a logout; an absence longer than ``bot.away_alert_minutes``) go
by webhook through the alerter, never through the account that is in
trouble.  After a long absence the owners also get a WeChat notice, sent once
the connection is back (so the account works again).
"""

from __future__ import annotations

from datetime import datetime

from bot.alerts import Alert, Alerter, AlertKind, LogAlerter
from bot.vocab.actions import Priority, say_to_each
from bot.vocab.effects import LogConnection
from bot.vocab.events import ConnectionEvent, Event, LoginEvent, LogoutEvent
from bot.vocab.texts import notice
from handlers.base import BaseHandler, Context, Result
from handlers.feature import Feature, Stage

# The facts of each alert; the kind's title, "what the bot does" and "what you
# can do" come from bot/alerts.py (overridable under alerts.texts).
_WHAT = {
    "zh": {
        "logged_out": "微信账号退出了登录。",
        "reason": "原因：{reason}",
        "still_away": "已经 {minutes} 分钟连不上微信，机器人还在重连。",
        "back": "与微信断开了约 {minutes} 分钟，现已恢复连接。",
        "back_doing": "机器人已恢复工作；断线期间的入群欢迎和消息可能有遗漏。",
        "back_owner_can": "不用处理；如有新人没收到欢迎，可以手动欢迎一下。",
    },
    "en": {
        "logged_out": "The WeChat account logged out.",
        "reason": "Reason: {reason}",
        "still_away": "WeChat has been unreachable for {minutes} minutes; the bot keeps reconnecting.",
        "back": "The bot was disconnected for about {minutes} minutes and is connected again.",
        "back_doing": "The bot works again; welcomes and messages during the outage may be missed.",
        "back_owner_can": "Nothing to do; welcome by hand any newcomer who was missed.",
    },
}


class ConnectionWatch(BaseHandler):
    name = "connection"

    def __init__(self, alerter: Alerter | None = None) -> None:
        self.alerter: Alerter = alerter if alerter is not None else LogAlerter()
        self._lost_at: datetime | None = None
        self._away_alerted = False  # the owners were told while it was still away

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        words = _WHAT[ctx.config.alerts.language]
        if isinstance(event, LoginEvent):
            login = LogConnection(
                state="login", wechat_id=event.account_id, at=event.at, detail=event.name
            )
            return Result(effects=[login])  # no stop: later handlers see the login too
        if isinstance(event, LogoutEvent):
            logged = LogConnection(
                state="logout", wechat_id=event.account_id, at=event.at, detail=event.reason
            )
            what = words["logged_out"]
            if event.reason:
                what += words["reason"].format(reason=event.reason)
            self.alerter.alert(
                Alert(
                    kind=AlertKind.LOGGED_OUT,
                    what=what,
                    where=f"微信号 {event.account_id}" if event.account_id else "",
                    account_id=ctx.repo.account_id,
                )
            )
            return Result(effects=[logged])
        if not isinstance(event, ConnectionEvent):
            return None
        state = {"connected": "reconnect", "disconnected": "disconnect"}.get(event.state)
        effects = (
            []
            if state is None
            else [
                LogConnection(state=state, wechat_id=ctx.bot_id, at=event.at, detail=event.detail)
            ]
        )
        threshold = ctx.config.bot.away_alert_minutes
        if event.state == "connected":
            if self._lost_at is None:
                return Result(stop=True, effects=effects)
            away = (event.at - self._lost_at).total_seconds() / 60
            self._lost_at = None
            self._away_alerted = False
            if not threshold or away < threshold:
                return Result(stop=True, effects=effects)
            self.alerter.alert(
                Alert(
                    kind=AlertKind.AWAY,
                    what=words["back"].format(minutes=f"{away:.0f}"),
                    doing=words["back_doing"],
                    owner_can=words["back_owner_can"],
                    where=f"微信号 {ctx.bot_id}" if ctx.bot_id else "",
                    account_id=ctx.repo.account_id,
                    key="back",
                )
            )
            text = notice(
                ctx.config.bot.away_notice, bot_name=ctx.config.bot.name, minutes=f"{away:.0f}"
            )
            return Result(
                say_to_each(
                    ctx.config.owners,
                    text,
                    priority=Priority.MODERATION,
                    reason=f"the bot was away {away:.0f} min",
                ),
                stop=True,
                effects=effects,
            )
        if self._lost_at is None:
            if event.state == "disconnected":
                self._lost_at = event.at
            return Result(stop=True, effects=effects)
        # Still away (another failed attempt, a reconnect try, a stall): the
        # owners hear about it now, by webhook, not only once it is over.
        away = (event.at - self._lost_at).total_seconds() / 60
        if threshold and away >= threshold and not self._away_alerted:
            self._away_alerted = True
            self.alerter.alert(
                Alert(
                    kind=AlertKind.AWAY,
                    what=words["still_away"].format(minutes=f"{away:.0f}"),
                    where=f"微信号 {ctx.bot_id}" if ctx.bot_id else "",
                    account_id=ctx.repo.account_id,
                )
            )
        return Result(stop=True, effects=effects)


feature = Feature(
    "connection",
    stage=Stage.SYSTEM,
    setup=lambda services: [ConnectionWatch(alerter=services.alerter)],
)
