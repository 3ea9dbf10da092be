"""The ``alerts`` section of ``bot.yaml``: where alerts are posted and how.

:class:`AlertsConfig` (language, webhooks, dedupe window, queue size,
attempts, per-kind texts) and :class:`WebhookConfig` (one robot: its format,
its address or the environment variable holding it, its signing secret, the
kinds it gets), validated when the file is read so a wrong address or a
secret on an unsigned robot is told at ``qunbot config check``, not at the
first alert.  :mod:`bot.config` builds on these; delivery is in
:mod:`bot.alert_webhooks`.
"""

from __future__ import annotations

import enum
import re
import urllib.parse

from pydantic import Field, field_validator, model_validator

from bot.alert_texts import AlertKind, AlertText, Language, _Model


class WebhookFormat(enum.StrEnum):
    JSON = "json"  # a plain JSON POST of the alert's fields and text
    WECOM = "wecom"  # 企业微信群机器人
    DINGTALK = "dingtalk"  # 钉钉群自定义机器人
    FEISHU = "feishu"  # 飞书群自定义机器人


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "not a web address: a webhook url starts with https:// (or http://), "
            "e.g. https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."
        )
    if any(c.isspace() for c in value):
        raise ValueError("a webhook url has no spaces")
    return value


class WebhookConfig(_Model):
    """One place alerts are posted to."""

    name: str = Field(
        default="",
        max_length=40,
        description="A name for logs (the url holds a key and is never logged).",
    )
    format: WebhookFormat = Field(
        default=WebhookFormat.JSON,
        description="json (plain POST), wecom (企业微信), dingtalk (钉钉) or feishu (飞书).",
    )
    url: str | None = Field(default=None, description="The webhook address (http/https).")
    url_env: str | None = Field(
        default=None, description="Or: the environment variable holding the address."
    )
    secret: str | None = Field(
        default=None, description="DingTalk 加签 / Feishu 签名校验 secret (signs each post)."
    )
    secret_env: str | None = Field(
        default=None, description="Or: the environment variable holding the secret."
    )
    kinds: tuple[AlertKind, ...] = Field(
        default=(), description="Only these kinds of alert (empty: all)."
    )
    timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="How long one post may take before it is retried."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("url_env", "secret_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give a webhook either 'url' or 'url_env' (exactly one)")
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give either 'secret' or 'secret_env', not both")
        signed = self.secret is not None or self.secret_env is not None
        if signed and self.format not in (WebhookFormat.DINGTALK, WebhookFormat.FEISHU):
            raise ValueError(
                f"format {self.format} is not signed: 'secret' is for dingtalk, feishu"
            )
        return self

    def label(self) -> str:
        """How logs name this webhook: never the url (it carries the key)."""
        if self.name:
            return self.name
        if self.url is not None:
            return f"{self.format} {urllib.parse.urlsplit(self.url).hostname}"
        return f"{self.format} ${self.url_env}"


class AlertsConfig(_Model):
    """``alerts``: tell the owners about trouble without using the WeChat account."""

    language: Language = Field(default="zh", description="zh (中文) or en.")
    webhooks: tuple[WebhookConfig, ...] = Field(
        default=(), description="Where alerts are posted (none: only the ERROR log line)."
    )
    dedupe_minutes: float = Field(
        default=10,
        ge=0,
        le=1440,
        description="The same alert (kind and place) is sent once in this many minutes.",
    )
    queue_size: int = Field(
        default=100, ge=1, le=10000, description="Alerts waiting per webhook; the oldest go first."
    )
    max_attempts: int = Field(
        default=8, ge=1, le=30, description="Posts per alert before giving up (with backoff)."
    )
    texts: dict[AlertKind, AlertText] = Field(
        default_factory=dict, description="Per kind of alert: title, doing, owner_can."
    )
