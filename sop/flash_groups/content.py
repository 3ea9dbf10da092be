"""``flash_group:`` of a calendar entry: one campaign's group, invitations,
schedule, thanks and dissolution (快闪群)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field, model_validator

from bot.config.errors import fail
from bot.config.fields import Name, RoomId, Template
from bot.config.sections import Model

#: What the campaign's texts may say.
FLASH_PLACEHOLDERS = frozenset({"topic", "start", "end"})
FlashText = Annotated[str, Template(placeholders=FLASH_PLACEHOLDERS)]


class Invitees(Model):
    """Who is invited: members of groups with these tags and of these groups."""

    tags: tuple[Name, ...] = Field(default=(), description="Groups carrying any of these tags.")
    groups: tuple[RoomId, ...] = Field(default=(), description="Source groups by room id.")
    active_within_days: float | None = Field(
        default=None, gt=0, le=365, description="Only members who spoke within this many days."
    )


class ScheduledPost(Model):
    """A post of the campaign: at a local time, or minutes from the event start."""

    at: datetime | None = Field(default=None, description="Local date and time.")
    offset_minutes: float | None = Field(
        default=None,
        ge=-30 * 1440,
        le=30 * 1440,
        description="Minutes from the event start (negative: before it).",
    )
    text: FlashText = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_time(self) -> ScheduledPost:
        if (self.at is None) == (self.offset_minutes is None):
            fail("a scheduled post needs exactly one of 'at' or 'offset_minutes'", "at")
        return self


class FlashGroupContent(Model):
    """``flash_group:`` of a calendar entry (kind ``flash_group``)."""

    topic: str = Field(min_length=1, max_length=30, description="The new group's name.")
    event_start: datetime = Field(description="Local date and time the event starts.")
    event_end: datetime = Field(description="Local date and time it ends.")
    create_days_before: float = Field(
        default=1, ge=0, le=30, description="Create the group this many days before the start."
    )
    invite: Invitees = Field(default_factory=Invitees)
    create_with: int = Field(
        default=2,
        ge=2,
        le=39,
        description="Members put in the group when it is created (WeChat needs 2); the rest "
        "are invited one by one, paced (a group of 40+ only takes invitations).",
    )
    welcome_text: FlashText = Field(
        default="欢迎来到「{topic}」！活动时间：{start} 至 {end}，福利和通知都会在这里发布～",
        max_length=2000,
    )
    schedule: tuple[ScheduledPost, ...] = Field(default=(), max_length=100)
    thank_you: FlashText = Field(
        default="「{topic}」活动圆满结束，感谢大家的参与！本群稍后解散，我们下次活动见～",
        max_length=2000,
    )
    dissolve_after_hours: float = Field(default=24, ge=0, le=30 * 24)
    add_friends: bool = Field(
        default=False,
        description="Send friend requests to members who are not friends yet (within the "
        "friend-request budget), after the thanks.",
    )
    friend_hello: str = Field(
        default="你好，我是活动群的群管家，加个好友方便后续通知～", max_length=50
    )
    post_valid_minutes: float = Field(
        default=60, gt=0, le=1440, description="A post later than this is recorded missed."
    )

    @model_validator(mode="after")
    def _times(self) -> FlashGroupContent:
        if self.event_start.tzinfo is not None or self.event_end.tzinfo is not None:
            fail("write the event's times as local times, without a zone", "event_start")
        if self.event_end <= self.event_start:
            fail("'event_end' must be after 'event_start'", "event_end")
        for i, post in enumerate(self.schedule):
            if post.at is not None and post.at.tzinfo is not None:
                fail("write the post's time as a local time, without a zone", "schedule", i, "at")
            when = post.at
            if when is None and post.offset_minutes is not None:
                when = self.event_start + timedelta(minutes=post.offset_minutes)
            if when is not None and when > self.event_end:
                fail("a scheduled post must be before the event's end", "schedule", i)
        return self
