"""Alerts to the owners that do not go through the (possibly troubled) account.

Contract shared by every part of the bot: build an :class:`Alert` in plain
words and hand it to :meth:`Alerter.alert`, which never blocks and never
raises.  Delivery (webhooks: plain JSON, WeCom, DingTalk, Feishu; retried
with backoff) is implemented behind this interface; an ERROR log line is
always written.

Writing an alert: ``what`` says what happened with its facts (minutes, the
error in a few words), ``where`` the account or the group (name and id).
Operators read Chinese: write these in Chinese, in plain words.  Leave
``doing`` / ``owner_can`` empty to use the kind's default (in
:data:`DEFAULT_TEXTS`, overridable in ``bot.yaml`` under ``alerts.texts``).
Whatever is written, the rendering keeps it plain: stack traces are cut and
every field is shortened (:func:`plain`).

This module holds the contract (``Alert``, ``Alerter``, ``ManagedAlerter``,
``LogAlerter``, ``build_alerter``) and re-exports the rest, so everything is
imported from here: the kinds, texts and rendering are in
:mod:`bot.alert_texts`, the ``alerts`` config in :mod:`bot.alert_config`,
webhook delivery in :mod:`bot.alert_webhooks`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.alert_config import AlertsConfig, WebhookConfig, WebhookFormat
from bot.alert_texts import (
    DEFAULT_TEXTS,
    FIELD_LIMIT,
    AlertKind,
    AlertText,
    Language,
    _one_line,
    fields_of,
    plain,
    render,
    texts_for,
)
from bot.alert_webhooks import (
    RETRY_DELAYS,
    WebhookAlerter,
    dingtalk_sign,
    feishu_sign,
    judge,
    retry_delay,
    webhook_request,
)
from bot.vocab.clock import Clock

__all__ = [
    "DEFAULT_TEXTS",
    "FIELD_LIMIT",
    "RETRY_DELAYS",
    "Alert",
    "AlertKind",
    "AlertText",
    "Alerter",
    "AlertsConfig",
    "Language",
    "LogAlerter",
    "ManagedAlerter",
    "WebhookAlerter",
    "WebhookConfig",
    "WebhookFormat",
    "build_alerter",
    "dingtalk_sign",
    "feishu_sign",
    "fields_of",
    "judge",
    "plain",
    "render",
    "retry_delay",
    "texts_for",
    "webhook_request",
]

log = logging.getLogger("qunbot.alerts")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    kind: AlertKind
    what: str  # what happened, in plain words
    where: str = ""  # the account, the group (name and id), the file
    doing: str = ""  # what the bot does now
    owner_can: str = ""  # what the owner can do about it
    account_id: str = ""  # the bot account this is about
    # Tells apart alerts of one kind and place that are not repeats of each
    # other (e.g. "back" for "the connection is back" after "still away"):
    # repeats of the same kind, where, account and key are sent once per window.
    key: str = ""

    def text(self, language: Language = "zh") -> str:
        return render(self, language)


# --------------------------------------------------------------------------
# Alerters
# --------------------------------------------------------------------------


class Alerter(Protocol):
    def alert(self, alert: Alert) -> None:
        """Queue the alert for delivery; never blocks, never raises."""


class ManagedAlerter(Alerter, Protocol):
    """An alerter the app starts and stops (what ``App.alerter`` is)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def join(self) -> None:
        """Wait until everything raised so far is delivered or given up."""


class LogAlerter:
    """The floor every alerter stands on: one ERROR line per alert."""

    def __init__(
        self, language: Language = "zh", texts: Mapping[AlertKind, AlertText] | None = None
    ) -> None:
        self.sent: list[Alert] = []
        self.language: Language = language
        self.texts = dict(texts or {})

    def alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        try:
            text = _one_line(render(alert, self.language, self.texts))
            log.error("ALERT %s: %s", alert.kind, text)
        except Exception:  # never raise into the caller: it is already in trouble
            log.exception("ALERT (could not be rendered): %r", alert)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def join(self) -> None:
        return None


def build_alerter(
    config: AlertsConfig, clock: Clock, env: Mapping[str, str] | None = None
) -> ManagedAlerter:
    """The app's alerter: webhooks when configured, else the ERROR log line alone."""
    if config.webhooks:
        return WebhookAlerter(config, clock, env=env)
    return LogAlerter(config.language, config.texts)
