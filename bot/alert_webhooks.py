"""Posting alerts to the owners' group robots (plain JSON, WeCom, DingTalk, Feishu).

:class:`WebhookAlerter` puts each alert on one bounded queue per webhook and
posts it in the background, retried with backoff on the injected clock
(:func:`retry_delay`), with repeats held back for ``dedupe_minutes``.
:func:`webhook_request` builds each robot's own request (signed for DingTalk
and Feishu: :func:`dingtalk_sign`, :func:`feishu_sign`) and :func:`judge`
reads its answer, since the robots answer HTTP 200 even when they refuse.
Its configuration is in :mod:`bot.alert_config`; :func:`bot.alerts.build_alerter`
chooses it when webhooks are configured.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.alert_config import AlertsConfig, WebhookConfig, WebhookFormat, _check_url
from bot.alert_texts import AlertKind, _one_line, fields_of, plain, render
from bot.vocab.clock import Clock

if TYPE_CHECKING:
    from bot.alerts import Alert

log = logging.getLogger("qunbot.alerts")


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
