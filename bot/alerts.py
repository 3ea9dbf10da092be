"""Alerts to the owners that do not go through the (possibly troubled) account.

Contract shared by every part of the bot: build an :class:`Alert` in plain
words and hand it to :meth:`Alerter.alert`, which never blocks and never
raises.  Delivery (webhooks: plain JSON, WeCom, DingTalk, Feishu; retried
with backoff) is implemented behind this interface; an ERROR log line is
always written.

Writing an alert: ``what`` says what happened with its facts (minutes, the
error in a few words), ``where`` the account or the group (name and id).
Operators read Chinese: write these in Chinese, in plain words.  Leave
``doing`` / ``owner_can`` empty to use the kind's default (below, in
:data:`DEFAULT_TEXTS`, overridable in ``bot.yaml`` under ``alerts.texts``).
Whatever is written, the rendering keeps it plain: stack traces are cut and
every field is shortened (:func:`plain`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import enum
import hashlib
import hmac
import json
import logging
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.clock import Clock

log = logging.getLogger("qunbot.alerts")


class AlertKind(enum.StrEnum):
    PAUSE_OPENED = "pause_opened"  # a risk-control pause opened for a kind of action
    LOGGED_OUT = "logged_out"  # the WeChat account logged out
    AWAY = "away"  # disconnected longer than the threshold
    REMOVED_FROM_GROUP = "removed_from_group"  # the bot was removed from a group
    CONFIG_REJECTED = "config_rejected"  # a config reload was rejected
    HANDLER_FAILING = "handler_failing"  # a handler keeps failing


Language = Literal["zh", "en"]


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
# Texts
# --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertText(_Model):
    """What the owners read for one kind of alert, unless the alert says otherwise."""

    title: str = Field(default="", max_length=100, description="The first line of the alert.")
    doing: str = Field(
        default="", max_length=300, description="What the bot does now (when the alert says not)."
    )
    owner_can: str = Field(
        default="",
        max_length=300,
        description="What the owner can do about it (when the alert says not).",
    )


# The one place for the default alert texts.  ``alerts.texts.<kind>`` in
# bot.yaml overrides them field by field.
DEFAULT_TEXTS: dict[Language, dict[AlertKind, AlertText]] = {
    "zh": {
        AlertKind.PAUSE_OPENED: AlertText(
            title="微信风控：部分操作已暂停",
            doing="暂停期间不再做这类操作，其他功能照常；到时间后自动恢复。",
            owner_can="暂时别用这个微信号频繁操作；确认没事后，可用 qunbot pause clear 提前恢复。",
        ),
        AlertKind.LOGGED_OUT: AlertText(
            title="微信账号已退出登录",
            doing="机器人现在收不到也发不出消息，等待重新登录；登录后自动继续工作。",
            owner_can="看看手机微信是否被挤下线或要求安全验证；然后在网关（puppet 服务）上重新扫码登录。",
        ),
        AlertKind.AWAY: AlertText(
            title="机器人与微信断开了连接",
            doing="机器人在自动重连，连上后照常工作；断线期间的入群欢迎和消息可能有遗漏。",
            owner_can="检查网关（puppet 服务）和服务器网络；如果一直连不上，重启网关。",
        ),
        AlertKind.REMOVED_FROM_GROUP: AlertText(
            title="机器人被移出了群",
            doing="机器人不再在这个群发消息，也不再读取这个群的成员。",
            owner_can="如果是误操作，把机器人重新拉进群，它会自动恢复管理。",
        ),
        AlertKind.CONFIG_REJECTED: AlertText(
            title="新配置没有生效",
            doing="机器人继续按上一份有效的配置运行。",
            owner_can="按提示改好配置文件，用 qunbot config check 检查通过后再重新加载。",
        ),
        AlertKind.HANDLER_FAILING: AlertText(
            title="有一项功能反复出错",
            doing="这项功能的部分事情可能没有做，其他功能照常运行。",
            owner_can="查看机器人日志里的错误详情；问题持续请重启机器人或联系维护的人。",
        ),
    },
    "en": {
        AlertKind.PAUSE_OPENED: AlertText(
            title="WeChat risk control: some actions are paused",
            doing="Actions of this kind wait until the pause ends; everything else goes on.",
            owner_can="Go easy on this account for a while; once it is fine, "
            "`qunbot pause clear` ends the pause early.",
        ),
        AlertKind.LOGGED_OUT: AlertText(
            title="The WeChat account logged out",
            doing="The bot can neither receive nor send until it is logged in again; "
            "then it carries on by itself.",
            owner_can="Check the phone for a forced logout or a security check, "
            "then scan the QR code on the gateway (puppet service) again.",
        ),
        AlertKind.AWAY: AlertText(
            title="The bot lost its connection to WeChat",
            doing="The bot keeps reconnecting and carries on once back; welcomes and "
            "messages during the outage may be missed.",
            owner_can="Check the gateway (puppet service) and the network; "
            "restart the gateway if it does not come back.",
        ),
        AlertKind.REMOVED_FROM_GROUP: AlertText(
            title="The bot was removed from a group",
            doing="The bot no longer posts in that group or reads its members.",
            owner_can="If it was a mistake, invite the bot back: it resumes by itself.",
        ),
        AlertKind.CONFIG_REJECTED: AlertText(
            title="The new configuration was not applied",
            doing="The bot keeps running on the last valid configuration.",
            owner_can="Fix the file as the message says, check it with "
            "`qunbot config check`, then reload.",
        ),
        AlertKind.HANDLER_FAILING: AlertText(
            title="A feature keeps failing",
            doing="Some of that feature's work may not be done; everything else goes on.",
            owner_can="See the bot's log for details; restart the bot or ask its "
            "maintainer if it goes on.",
        ),
    },
}

_LABELS: dict[Language, tuple[str, str, str, str, str]] = {
    # header, what, where, doing, owner_can
    "zh": ("【qunbot 告警】", "发生了什么：", "在哪里：", "机器人现在：", "您可以："),
    "en": ("[qunbot alert] ", "What happened: ", "Where: ", "The bot now: ", "You can: "),
}
_ACCOUNT: dict[Language, str] = {"zh": "微信号 {}", "en": "account {}"}

FIELD_LIMIT = 300  # characters per field: an alert is read on a phone
_TRACEBACK_START = re.compile(r"^\s*Traceback \(most recent call last\)")
_FRAME = re.compile(
    r"^\s*(at\s+\S.*|at\s*$|File \".*\", line \d+.*|\.\.\. \d+ more.*|<anonymous>.*)$"
)
_SPACES = re.compile(r"\s+")


def plain(text: str, limit: int = FIELD_LIMIT) -> str:
    """``text`` as one short line without stack traces.

    A Python traceback keeps only its last line (``ValueError: ...``); Node and
    Java frames (``at fn (file.js:1:2)``) and Python frames are dropped.
    """
    lines = str(text).splitlines()
    if any(_TRACEBACK_START.match(line) for line in lines):
        tail = [line for line in lines if line.strip() and not line.startswith((" ", "\t"))]
        lines = tail[-1:]
    kept: list[str] = []
    skip_code = False
    for line in lines:
        if _FRAME.match(line):
            skip_code = line.lstrip().startswith("File ")  # the source line follows it
            continue
        if skip_code and line.startswith((" ", "\t")):
            skip_code = False
            continue
        skip_code = False
        kept.append(line)
    one = _SPACES.sub(" ", " ".join(kept)).strip()
    if len(one) > limit:
        one = one[: max(0, limit - 1)].rstrip() + "…"
    return one


def texts_for(
    kind: AlertKind, language: Language = "zh", texts: Mapping[AlertKind, AlertText] | None = None
) -> AlertText:
    """The kind's texts: the defaults with ``alerts.texts`` laid over them."""
    base = DEFAULT_TEXTS[language][kind]
    over = (texts or {}).get(kind)
    if over is None:
        return base
    return AlertText(
        title=over.title or base.title,
        doing=over.doing or base.doing,
        owner_can=over.owner_can or base.owner_can,
    )


def fields_of(
    alert: Alert, language: Language = "zh", texts: Mapping[AlertKind, AlertText] | None = None
) -> dict[str, str]:
    """The alert's fields as shown to people: plain, with the kind's defaults filled in."""
    kt = texts_for(alert.kind, language, texts)
    where = alert.where or (_ACCOUNT[language].format(alert.account_id) if alert.account_id else "")
    return {
        "title": plain(kt.title, 100),
        "what": plain(alert.what),
        "where": plain(where),
        "doing": plain(alert.doing or kt.doing),
        "owner_can": plain(alert.owner_can or kt.owner_can),
    }


def render(
    alert: Alert, language: Language = "zh", texts: Mapping[AlertKind, AlertText] | None = None
) -> str:
    """The alert as a few short lines: what happened, where, what the bot does, what to do."""
    f = fields_of(alert, language, texts)
    header, what, where, doing, owner_can = _LABELS[language]
    lines = [header + f["title"]]
    for label, value in ((what, f["what"]), (where, f["where"])):
        if value:
            lines.append(label + value)
    for label, value in ((doing, f["doing"]), (owner_can, f["owner_can"])):
        if value:
            lines.append(label + value)
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return text.replace("\n", " | ")


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


# --------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Webhook delivery
# --------------------------------------------------------------------------

RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # then 60 s until max_attempts
_MAX_BODY = 65536  # bytes of a robot's answer read


def retry_delay(attempt: int) -> float:
    """Wait before retry ``attempt`` (0-based), capped at the last step."""
    return RETRY_DELAYS[min(max(attempt, 0), len(RETRY_DELAYS) - 1)]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, "timestamp\\nsecret"))."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu 签名校验: base64(HMAC-SHA256(key="timestamp\\nsecret", empty message))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def webhook_request(
    fmt: WebhookFormat,
    url: str,
    fields: Mapping[str, str],
    text: str,
    *,
    secret: str | None = None,
    now_s: float,
) -> tuple[str, dict[str, Any]]:
    """The (url, JSON body) of one post in the robot's own format."""
    if fmt is WebhookFormat.JSON:
        return url, dict(fields) | {"text": text}
    if fmt is WebhookFormat.WECOM:
        return url, {"msgtype": "text", "text": {"content": text}}
    if fmt is WebhookFormat.DINGTALK:
        if secret:
            ts = int(now_s * 1000)
            query = urllib.parse.urlencode({"timestamp": ts, "sign": dingtalk_sign(secret, ts)})
            url = f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{query}"
        return url, {"msgtype": "text", "text": {"content": text}}
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
    if secret:
        ts = int(now_s)
        body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts)} | body
    return url, body


def judge(fmt: WebhookFormat, status: int, body: bytes) -> tuple[bool, bool, str]:
    """(delivered, worth retrying, why not) from the answer to a post.

    The group robots answer HTTP 200 even when they refuse: WeCom and
    DingTalk say ``{"errcode": 0}`` on success, Feishu ``{"code": 0}``.
    """
    if not 200 <= status < 300:
        return False, status >= 500 or status in (408, 425, 429), f"HTTP {status}"
    if fmt is WebhookFormat.JSON:
        return True, False, ""
    try:
        answer = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return False, True, "the robot's answer is not JSON"
    if not isinstance(answer, dict):
        return False, True, "the robot's answer is not a JSON object"
    if fmt is WebhookFormat.FEISHU:
        code = answer.get("code", answer.get("StatusCode"))
        msg = answer.get("msg", answer.get("StatusMessage", ""))
    else:
        code, msg = answer.get("errcode"), answer.get("errmsg", "")
    if code == 0:
        return True, False, ""
    return False, True, f"the robot answered code {code}: {plain(str(msg), 120)}"


@dataclass
class _Delivery:
    alert: Alert
    fields: dict[str, str]
    text: str


@dataclass
class _Channel:
    hook: WebhookConfig
    url: str
    secret: str | None
    queue: collections.deque[_Delivery]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    current: _Delivery | None = None
    retry_at: float | None = None  # clock.monotonic() of the next attempt, while waiting
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    given_up: int = 0
    dropped: int = 0

    def __post_init__(self) -> None:
        self.idle.set()

    def accepts(self, kind: AlertKind) -> bool:
        return not self.hook.kinds or kind in self.hook.kinds


class WebhookAlerter:
    """Posts each alert to the configured webhooks in the background.

    ``alert()`` only writes the ERROR log line and puts the alert on each
    webhook's bounded queue (the oldest is dropped, with a log line, when it
    is full); one task per webhook posts them in order, retrying with
    backoff on the injected clock, so a dead robot never holds up the bot or
    another webhook.  The same alert (kind, where, account, key) is sent once
    per ``dedupe_minutes``: a flapping connection does not spam the owners.
    """

    def __init__(
        self,
        config: AlertsConfig,
        clock: Clock,
        *,
        env: Mapping[str, str] | None = None,
        flush_seconds: float = 5.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self.flush_seconds = flush_seconds
        self.sent: collections.deque[Alert] = collections.deque(maxlen=1000)
        self._recent: dict[tuple[str, str, str, str], float] = {}
        self._session: Any = None  # aiohttp.ClientSession, made in start()
        self._started = False
        self.channels: list[_Channel] = []
        env = env or {}
        for hook in config.webhooks:
            url = hook.url if hook.url is not None else env.get(hook.url_env or "", "")
            secret = hook.secret if hook.secret_env is None else env.get(hook.secret_env)
            try:
                _check_url(url)
            except ValueError:
                log.error(
                    "alerts: webhook %s is off: environment variable %s holds no web address",
                    hook.label(),
                    hook.url_env,
                )
                continue
            if hook.secret_env is not None and not secret:
                log.error(
                    "alerts: webhook %s posts unsigned: environment variable %s is empty",
                    hook.label(),
                    hook.secret_env,
                )
            self.channels.append(
                _Channel(hook, url, secret or None, collections.deque(maxlen=config.queue_size))
            )

    # ------------------------------------------------------------ raising

    def alert(self, alert: Alert) -> None:
        try:
            self._alert(alert)
        except Exception:  # never raise into the caller: it is already in trouble
            log.exception("alerts: could not queue %s", getattr(alert, "kind", alert))

    def _alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        language = self.config.language
        text = render(alert, language, self.config.texts)
        repeat = self._is_repeat(alert)
        note = (
            f" (again within {self.config.dedupe_minutes:g} min: not posted again)"
            if repeat
            else ""
        )
        log.error("ALERT %s: %s%s", alert.kind, _one_line(text), note)
        if repeat:
            return
        fields = fields_of(alert, language, self.config.texts) | {
            "kind": str(alert.kind),
            "account_id": alert.account_id,
            "language": language,
            "at": self.clock.now().isoformat(),
        }
        for ch in self.channels:
            if not ch.accepts(alert.kind):
                continue
            if len(ch.queue) == ch.queue.maxlen:
                oldest = ch.queue.popleft()
                ch.dropped += 1
                log.error(
                    "alerts: queue for %s is full: dropped the oldest alert (%s: %s)",
                    ch.hook.label(),
                    oldest.alert.kind,
                    oldest.fields["what"],
                )
            ch.queue.append(_Delivery(alert, fields, text))
            ch.idle.clear()
            ch.wake.set()

    def _is_repeat(self, alert: Alert) -> bool:
        window = self.config.dedupe_minutes * 60
        if window <= 0:
            return False
        now = self.clock.monotonic()
        for k in [k for k, at in self._recent.items() if now - at >= window]:
            del self._recent[k]
        key = (str(alert.kind), alert.where, alert.account_id, alert.key)
        if key in self._recent:
            return True
        self._recent[key] = now
        return False

    # ---------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._started or not self.channels:
            self._started = True
            return
        import aiohttp

        self._session = aiohttp.ClientSession()
        for ch in self.channels:
            ch.task = asyncio.create_task(self._run(ch), name=f"alerts {ch.hook.label()}")
        self._started = True

    async def join(self) -> None:
        """Wait until every alert raised so far is delivered or given up."""
        for ch in self.channels:
            await ch.idle.wait()

    async def stop(self) -> None:
        """Give pending alerts up to ``flush_seconds`` (clock time), then stop."""
        tasks = [ch.task for ch in self.channels if ch.task is not None]
        if tasks and not all(ch.idle.is_set() for ch in self.channels):
            await _first(self.join(), self.clock.sleep(self.flush_seconds))
        for ch in self.channels:
            if ch.task is not None:
                ch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ch.task
                ch.task = None
            left = len(ch.queue) + (ch.current is not None)
            if left:
                log.error(
                    "alerts: %d alert(s) not posted to %s before shutdown (see the ALERT lines above)",
                    left,
                    ch.hook.label(),
                )
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._started = False

    # ------------------------------------------------------------ delivery

    async def _run(self, ch: _Channel) -> None:
        while True:
            if not ch.queue:
                ch.idle.set()
                ch.wake.clear()
                await ch.wake.wait()
                continue
            ch.current = ch.queue.popleft()
            try:
                await self._deliver(ch, ch.current)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the webhook's task
                log.exception("alerts: delivery to %s failed", ch.hook.label())
            ch.current = None

    async def _deliver(self, ch: _Channel, d: _Delivery) -> None:
        why = ""
        attempts = self.config.max_attempts
        for attempt in range(attempts):
            ok, retry, why = await self._attempt(ch, d)
            if ok:
                ch.delivered += 1
                log.info("alerts: %s posted to %s", d.alert.kind, ch.hook.label())
                return
            if not retry or attempt + 1 == attempts:
                break
            delay = retry_delay(attempt)
            log.warning(
                "alerts: posting %s to %s failed (%s); attempt %d of %d in %.0f s",
                d.alert.kind,
                ch.hook.label(),
                why,
                attempt + 2,
                attempts,
                delay,
            )
            ch.retry_at = self.clock.monotonic() + delay
            try:
                await self.clock.sleep(delay)
            finally:
                ch.retry_at = None
        ch.given_up += 1
        log.error(
            "alerts: gave up posting %s to %s (%s); it is only in this log",
            d.alert.kind,
            ch.hook.label(),
            why,
        )

    async def _attempt(self, ch: _Channel, d: _Delivery) -> tuple[bool, bool, str]:
        url, body = webhook_request(
            ch.hook.format,
            ch.url,
            d.fields,
            d.text,
            secret=ch.secret,
            now_s=self.clock.now().timestamp(),
        )
        timeout = ch.hook.timeout_seconds
        try:
            answer = await _first(self._post(url, body), self.clock.sleep(timeout))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection refused, reset, DNS, TLS...
            said = f"{type(exc).__name__}: {exc}".replace(url, "<url>").replace(ch.url, "<url>")
            return False, True, plain(said, 120)
        if answer is None:
            return False, True, f"no answer within {timeout:g} s"
        status, raw = answer
        return judge(ch.hook.format, status, raw)

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
        assert self._session is not None
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        async with self._session.post(url, data=data, headers=headers) as resp:
            return resp.status, await resp.content.read(_MAX_BODY)


async def _first(work: Any, timer: Any) -> Any:
    """Run ``work`` until ``timer`` (a clock sleep) ends; its result, or None on time-out.

    Both are cancelled if this is, so nothing is left running.
    """
    work_task = asyncio.ensure_future(work)
    timer_task = asyncio.ensure_future(timer)
    try:
        await asyncio.wait({work_task, timer_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work_task, timer_task):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    if work_task.done() and not work_task.cancelled():
        return work_task.result()  # raises what the work raised
    return None


def build_alerter(
    config: AlertsConfig, clock: Clock, env: Mapping[str, str] | None = None
) -> ManagedAlerter:
    """The app's alerter: webhooks when configured, else the ERROR log line alone."""
    if config.webhooks:
        return WebhookAlerter(config, clock, env=env)
    return LogAlerter(config.language, config.texts)
