"""``sandbox.yaml``'s models: the simulated WeChat the sandbox transport plays.

Not part of ``bot.yaml``: :mod:`bot.sandbox_file` reads them from their own
file, with the same loader, limits and file:line errors.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.config.errors import Problem, duplicate_issues, duplicates, fail_many
from bot.config.fields import ContactId, NonEmptyText, RoomId
from bot.config.sections import Model as _Model


class SandboxContact(_Model):
    id: ContactId
    name: NonEmptyText


class SandboxGroup(_Model):
    room_id: RoomId
    topic: NonEmptyText
    member_ids: tuple[ContactId, ...] = Field(
        default=(), description="People in the room besides the bot (ids from 'members')."
    )
    owner_id: ContactId = Field(description="The room's owner (群主): a member or the bot.")


def _default_account() -> SandboxContact:
    return SandboxContact(id="qunbot", name="群管家")


class SandboxConfig(_Model):
    """The whole of ``sandbox.yaml``: the simulated WeChat the sandbox transport plays."""

    account: SandboxContact = Field(default_factory=_default_account, description="The bot.")
    members: tuple[SandboxContact, ...] = ()
    groups: tuple[SandboxGroup, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> SandboxConfig:
        issues: list[Problem] = []
        ids = [m.id for m in self.members]
        for i, j in duplicates(ids):
            issues.append((("members", i, "id"), f"duplicate member id {ids[i]!r} (members[{j}])"))
        for i, m in enumerate(self.members):
            if m.id == self.account.id:
                issues.append((("members", i, "id"), f"{m.id!r} is the bot's own account id"))
        known = {*ids, self.account.id}
        rooms = [g.room_id for g in self.groups]
        for i, j in duplicates(rooms):
            issues.append(
                (("groups", i, "room_id"), f"duplicate room id {rooms[i]!r} (groups[{j}])")
            )
        for gi, group in enumerate(self.groups):
            for mi, mid in enumerate(group.member_ids):
                if mid not in known:
                    issues.append((("groups", gi, "member_ids", mi), f"{mid!r} is not in members"))
            issues.extend(duplicate_issues(group.member_ids, "groups", gi, "member_ids"))
            if group.owner_id != self.account.id and group.owner_id not in group.member_ids:
                issues.append(
                    (
                        ("groups", gi, "owner_id"),
                        f"owner {group.owner_id!r} must be the bot or in this group's member_ids",
                    )
                )
        fail_many(issues)
        return self
