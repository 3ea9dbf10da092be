"""The flash group campaign's step planning: pure functions of the stored
campaign, its content and the time (no I/O; unit-tested on their own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.vocab.keys import action_key
from sop.flash_groups.content import FlashGroupContent

#: Removal rounds before the bot quits anyway (a removal refused by the day's
#: budget is tried again in the next round, ``ROUND_GAP`` later).
MAX_REMOVE_ROUNDS = 3
ROUND_GAP = timedelta(hours=6)
#: How long the campaign waits for its group's id before giving up.
CREATE_TIMEOUT = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Times:
    create_at: datetime
    event_start: datetime
    event_end: datetime
    dissolve_at: datetime


@dataclass(frozen=True, slots=True)
class Post:
    at: datetime  # aware UTC
    text: str


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A local wall time written in bot.yaml, in UTC."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def campaign_times(content: FlashGroupContent, tz: ZoneInfo, fired_at: datetime) -> Times:
    """When to create, the event, when to dissolve.  A run that fires later
    than ``create_days_before`` creates at once (never after the event starts:
    then the campaign is created when it fires, as late as it is)."""
    start = to_utc(content.event_start, tz)
    end = to_utc(content.event_end, tz)
    create_at = max(fired_at, start - timedelta(days=content.create_days_before))
    return Times(create_at, start, end, end + timedelta(hours=content.dissolve_after_hours))


def posts(content: FlashGroupContent, tz: ZoneInfo) -> list[Post]:
    """The schedule in time order (the same order every time: the stored
    ``posts_done`` counts along it)."""
    start = to_utc(content.event_start, tz)
    out = []
    for item in content.schedule:
        if item.at is not None:
            at = to_utc(item.at, tz)
        else:
            at = start + timedelta(minutes=item.offset_minutes or 0)
        out.append(Post(at, item.text))
    return sorted(out, key=lambda p: p.at)


def next_step(
    status: str,
    *,
    now: datetime,
    create_at: datetime,
    event_end: datetime,
    dissolve_at: datetime,
    schedule: list[Post],
    posts_done: int,
) -> str | None:
    """What the campaign does next, or None when nothing is due yet.

    planned -> ``create`` at its time; creating -> ``await_room``; open ->
    ``post`` each scheduled post at its time, then ``thank`` after the end;
    ended -> ``dissolve`` at its time; dissolving -> ``remove`` (rounds, then
    the quit); quitting -> ``await_quit``."""
    if status == "planned":
        return "create" if now >= create_at else None
    if status == "creating":
        return "await_room"
    if status == "open":
        if posts_done < len(schedule) and now >= schedule[posts_done].at:
            return "post"
        if now >= event_end and posts_done >= len(schedule):
            return "thank"
        return None
    if status == "ended":
        return "dissolve" if now >= dissolve_at else None
    if status == "dissolving":
        return "remove"
    if status == "quitting":
        return "await_quit"
    return None


def key(campaign_id: int, step: str, *parts: object) -> str:
    """The deterministic key of a campaign's action (the outbox deduplicates on it)."""
    return action_key("flash", campaign_id, step, *parts)


def local_label(at: datetime, tz: ZoneInfo) -> str:
    """``12月20日 19:00``."""
    local = at.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def fill(text: str, topic: str, start: str, end: str) -> str:
    return text.format(topic=topic, start=start, end=end)
