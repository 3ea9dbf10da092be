"""The sandbox world's plain data: rooms, members, invitations, and its error."""

from __future__ import annotations

from dataclasses import dataclass, field


class SandboxPuppetError(Exception):
    """A puppet call failed (unknown id, not allowed, or injected by ``fail_next``).

    ``str(err)`` is exactly the message, e.g. ``"操作过于频繁"``.
    """


@dataclass
class SandboxMember:
    inviter_id: str = ""
    room_alias: str = ""


@dataclass
class SandboxRoom:
    id: str
    topic: str
    members: dict[str, SandboxMember] = field(default_factory=dict)  # ordered
    owner_id: str = ""
    admin_ids: list[str] = field(default_factory=list)
    announcement: str = ""

    @property
    def member_ids(self) -> list[str]:
        return list(self.members)


@dataclass
class SandboxInvitation:
    id: str
    inviter_id: str
    room_id: str
    topic: str
    member_ids: list[str]
    timestamp: int
    accepted: bool = False
