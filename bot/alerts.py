"""Alerts to the owners that do not go through the (possibly troubled) account.

Contract shared by every part of the bot: build an :class:`Alert` in plain
words and hand it to :meth:`Alerter.alert`, which never blocks and never
raises.  Delivery (webhooks: plain JSON, WeCom, DingTalk, Feishu; retried
with backoff) is implemented behind this interface; an ERROR log line is
always written.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("qunbot.alerts")


class AlertKind(enum.StrEnum):
    PAUSE_OPENED = "pause_opened"  # a risk-control pause opened for a kind of action
    LOGGED_OUT = "logged_out"  # the WeChat account logged out
    AWAY = "away"  # disconnected longer than the threshold
    REMOVED_FROM_GROUP = "removed_from_group"  # the bot was removed from a group
    CONFIG_REJECTED = "config_rejected"  # a config reload was rejected
    HANDLER_FAILING = "handler_failing"  # a handler keeps failing


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    kind: AlertKind
    what: str  # what happened, in plain words
    where: str = ""  # the account, the group (name and id), the file
    doing: str = ""  # what the bot does now
    owner_can: str = ""  # what the owner can do about it
    account_id: str = ""  # the bot account this is about

    def text(self) -> str:
        parts = [f"[qunbot] {self.what}"]
        if self.where:
            parts.append(f"Where: {self.where}")
        if self.doing:
            parts.append(f"The bot now: {self.doing}")
        if self.owner_can:
            parts.append(f"You can: {self.owner_can}")
        return "\n".join(parts)


class Alerter(Protocol):
    def alert(self, alert: Alert) -> None:
        """Queue the alert for delivery; never blocks, never raises."""


class LogAlerter:
    """The floor every alerter stands on: one ERROR line per alert."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        log.error("ALERT %s: %s", alert.kind, alert.text().replace("\n", " | "))
