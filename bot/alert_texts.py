"""The kinds of alert and what the owners read for each: texts and rendering.

Every :class:`AlertKind` has its default title, "what the bot does now" and
"what the owner can do" in each language in :data:`DEFAULT_TEXTS` (so a new
kind gets its texts here, next to it), overridable in ``bot.yaml`` under
``alerts.texts`` (:func:`texts_for`).  :func:`render` and :func:`fields_of`
turn an :class:`~bot.alerts.Alert` into the few short lines people read,
and :func:`plain` keeps every field plain: stack traces cut, one line,
shortened.  The contract itself (``Alert``, ``Alerter``) is in
:mod:`bot.alerts`, which re-exports everything here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from bot.alerts import Alert


class AlertKind(enum.StrEnum):
    PAUSE_OPENED = "pause_opened"  # a risk-control pause opened for a kind of action
    LOGGED_OUT = "logged_out"  # the WeChat account logged out
    AWAY = "away"  # disconnected longer than the threshold
    REMOVED_FROM_GROUP = "removed_from_group"  # the bot was removed from a group
    CONFIG_REJECTED = "config_rejected"  # a config reload was rejected
    HANDLER_FAILING = "handler_failing"  # a handler keeps failing
    RAID = "raid"  # a burst of joins locked a group (handlers.moderation.invites)
    HOLIDAY_DATA = "holiday_data"  # the calendar runs on the Mon–Fri fallback (sop.runtime)


Language = Literal["zh", "en"]


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
        AlertKind.HOLIDAY_DATA: AlertText(
            title="日程缺少节假日数据",
            doing="缺数据的日子按周一到周五为工作日安排“仅工作日/仅休息日”的日程。",
            owner_can="在 bot.yaml 的 calendar.holidays 和 calendar.workdays 里写上这一年的放假和调休日期"
            "（或升级 chinesecalendar），再 #重载。",
        ),
        AlertKind.RAID: AlertText(
            title="有群疑似被批量拉人，已锁定入群",
            doing="锁定期间新入群的人按群的设置交给群管查看或移出；到时间后自动解锁。",
            owner_can="看看是谁在拉人；需要时把拉人的人移出或拉黑。",
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
        AlertKind.RAID: AlertText(
            title="A burst of joins locked a group",
            doing="While locked, joiners are held for the admins or removed, as the group "
            "is set; the lock ends by itself.",
            owner_can="See who is pulling people in; remove or block them if need be.",
        ),
        AlertKind.HOLIDAY_DATA: AlertText(
            title="The calendar has no public-holiday data",
            doing="Workday / day-off entries treat Monday to Friday as workdays on the days "
            "without data.",
            owner_can="Add that year's holidays and make-up workdays under calendar.holidays "
            "and calendar.workdays in bot.yaml (or upgrade chinesecalendar), then #重载.",
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
