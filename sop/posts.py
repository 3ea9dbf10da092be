"""The ``post`` kind: a scheduled message (text, and optionally an image, a
link card or a mini program) into each target group."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model
from handlers.feature import Feature

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


@feature.kind("post", PostContent, description="A scheduled message into each target group.")
async def run_post(ctx, run):  # type: ignore[no-untyped-def]  # filled in by the lead
    return None
