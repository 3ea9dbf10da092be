"""Record logins, logouts and lost connections; tell the owners after a long absence."""

from __future__ import annotations

from datetime import datetime

from bot.actions import Priority, Say
from bot.events import ConnectionEvent, Event, LoginEvent, LogoutEvent
from handlers.base import BaseHandler, Context, Result
from handlers.texts import notice


class ConnectionWatch(BaseHandler):
    name = "connection"

    def __init__(self) -> None:
        self._lost_at: datetime | None = None

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if isinstance(event, LoginEvent):
            await ctx.repo.log_connection("login", event.account_id, event.at, event.name)
            return None  # joining/snapshot handlers still see it
        if isinstance(event, LogoutEvent):
            await ctx.repo.log_connection("logout", event.account_id, event.at, event.reason)
            return None
        if not isinstance(event, ConnectionEvent):
            return None
        state = {"connected": "reconnect", "disconnected": "disconnect"}.get(event.state)
        if state is not None:
            await ctx.repo.log_connection(state, ctx.bot_id, event.at, event.detail)
        if event.state == "disconnected" and self._lost_at is None:
            self._lost_at = event.at
        elif event.state == "connected" and self._lost_at is not None:
            away = (event.at - self._lost_at).total_seconds() / 60
            self._lost_at = None
            threshold = ctx.config.bot.away_alert_minutes
            if threshold and away >= threshold:
                text = notice(
                    ctx.config.bot.away_notice, bot_name=ctx.config.bot.name, minutes=f"{away:.0f}"
                )
                return Result(
                    [
                        Say(
                            room=None,
                            to_contact=owner,
                            text=text,
                            priority=Priority.MODERATION,
                            reason=f"the bot was away {away:.0f} min",
                        )
                        for owner in ctx.config.owners
                    ],
                    stop=True,
                )
        return Result(stop=True)
