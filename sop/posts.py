"""The ``post`` kind: a scheduled message (text, and optionally an image, a
link card or a mini program) into each target group."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model
from bot.vocab.actions import Action, Priority, Say, SendImage, SendLink, SendMiniProgram
from bot.vocab.texts import render
from handlers.base import Context
from handlers.feature import Feature
from sop.kinds import JOB_PREFIX, Run
from storage.checkin_days import CheckinDays

log = logging.getLogger(__name__)

#: What a post's text may say (filled in when it is sent, per group).
POST_PLACEHOLDERS = frozenset(
    {
        "group",  # the group's name
        "bot_name",
        "prefix",  # the command prefix, e.g. '#'
        "date",  # 12月1日
        "weekday",  # 星期二
        "time",  # 09:30
        "member_count",
        "checkins_yesterday",  # members who checked in yesterday in this group
        "holiday",  # the holiday's name today, or ""
    }
)


class LinkCard(Model):
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=300)
    thumbnail_url: str = Field(default="", max_length=2048)


class MiniProgramCard(Model):
    app_id: str = Field(min_length=1, max_length=64, description="The mini program's wx… app id.")
    title: str = Field(min_length=1, max_length=100)
    page_path: str = Field(default="", max_length=512)
    username: str = Field(default="", max_length=64, description="Its gh_… id.")
    description: str = Field(default="", max_length=300)
    thumbnail_url: str = Field(default="", max_length=2048)


class PostContent(Model):
    """``post:`` of a calendar entry."""

    text: Annotated[str, Template(placeholders=POST_PLACEHOLDERS)] = Field(
        default="", max_length=2000, description="The message (a template)."
    )
    texts: tuple[Annotated[str, Template(placeholders=POST_PLACEHOLDERS)], ...] = Field(
        default=(),
        max_length=100,
        description="Several texts taken in turn, one per run (e.g. a week of morning posts).",
    )
    image: str | None = Field(default=None, max_length=512, description="An image file to send.")
    link: LinkCard | None = None
    mini_program: MiniProgramCard | None = None


feature = Feature("posts")


WEEKDAYS = "一二三四五六日"


async def post_values(ctx: Context, run: Run) -> dict[str, str]:
    """The placeholders of a post in this group at this run."""
    runtime = ctx.services.shared["sop"] if ctx.services is not None else None
    tz = ZoneInfo(run.entry.timezone or ctx.config.calendar.timezone or ctx.config.bot.timezone)
    local = run.scheduled_at.astimezone(tz)
    today = local.date()
    values = {
        "prefix": ctx.config.commands.prefix,
        "date": f"{local.month}月{local.day}日",
        "weekday": f"星期{WEEKDAYS[local.weekday()]}",
        "time": f"{local:%H:%M}",
        "holiday": runtime.days.holiday_name(today) if runtime is not None else "",
        "member_count": "",
        "checkins_yesterday": "",
    }
    if run.room_id:
        values["member_count"] = str(len(await ctx.repo.current_members(run.room_id)))
        yesterday = (today - timedelta(days=1)).isoformat()
        assert ctx.sessions is not None
        values["checkins_yesterday"] = str(
            await CheckinDays(ctx.sessions).count(run.room_id, yesterday)
        )
    return values


async def _text_for(ctx: Context, run: Run, content: PostContent) -> str:
    """The text, or the next of ``texts`` in turn (by the runs recorded so far)."""
    if not content.texts:
        return content.text
    runtime = ctx.services.shared["sop"] if ctx.services is not None else None
    done = 0
    if runtime is not None:
        done = await runtime.runs.count(JOB_PREFIX + run.entry.id, run.room_id)
    return content.texts[max(0, done - 1) % len(content.texts)]


def image_path(ctx: Context, image: str) -> Path:
    path = Path(image)
    if not path.is_absolute() and ctx.config.config_dir is not None:
        path = ctx.config.config_dir / path
    return path


@feature.kind("post", PostContent, description="A scheduled message into each target group.")
async def run_post(ctx: Context, run: Run) -> list[Action]:
    content: PostContent = run.content
    room = run.room_id
    why = f"calendar {run.entry.id}"
    common: dict[str, Any] = {"priority": Priority.BROADCAST, "reason": why}
    actions: list[Action] = []
    template = await _text_for(ctx, run, content)
    if template and ctx.policy is not None:
        text = render(template, ctx.policy, **await post_values(ctx, run))
        actions.append(Say(room=room, text=text, **common))
    if content.image:
        path = image_path(ctx, content.image)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            log.error("calendar entry %s: image %s cannot be read: %s", run.entry.id, path, exc)
        else:
            actions.append(SendImage(room=room, path=str(path), sha256=digest, **common))
    if content.link is not None:
        link = content.link
        actions.append(
            SendLink(
                room=room,
                url=link.url,
                title=link.title,
                description=link.description,
                thumbnail_url=link.thumbnail_url,
                **common,
            )
        )
    if content.mini_program is not None:
        mp = content.mini_program
        actions.append(
            SendMiniProgram(
                room=room,
                app_id=mp.app_id,
                title=mp.title,
                page_path=mp.page_path,
                username=mp.username,
                description=mp.description,
                thumbnail_url=mp.thumbnail_url,
                **common,
            )
        )
    return actions
