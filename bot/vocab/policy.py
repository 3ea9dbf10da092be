"""A group's resolved policy: what handlers know about the room they act in.

Resolved once per room by ``bot.config.profiles`` (profile, ``extends``,
the group's overrides), cached by ``bot.policies.PolicyBook``.  Handlers read
their settings from here, never from the global config: whatever a group may
override is one of its ``sections``.  A feature reads its own section by the
section's model class (``policy.get(WelcomePolicy)``, typed) or by its key
(``policy.welcome``), so this module knows no feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar


class Section(Protocol):
    """A section model: ``section`` is its key in a profile (``welcome``)."""

    section: ClassVar[str]


S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """Everything a handler needs to know about one room, resolved once."""

    room_id: str
    name: str
    profile: str
    tags: tuple[str, ...]  # brand, city, campaign: the calendar targets them
    admins: frozenset[str]  # owners ∪ global admins ∪ this group's admins
    owners: frozenset[str]
    sections: Mapping[str, Any]  # section key -> that section's validated model
    command_prefix: str
    bot_name: str
    timezone: str
    listed: bool  # True: the room is in `groups`; False: default policy for an invited room

    def get(self, model: type[S]) -> S:
        """This room's section of ``model`` (a class with a ``section`` key)."""
        value = self.sections[model.section]  # type: ignore[attr-defined]
        if not isinstance(value, model):
            raise TypeError(f"section {model.section!r} is a {type(value).__name__}")  # type: ignore[attr-defined]
        return value

    def __getattr__(self, name: str) -> Any:
        """``policy.welcome``: a section by its key (untyped; ``get`` is typed)."""
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(name) from None

    def is_admin(self, contact_id: str) -> bool:
        """Owners, global admins and the room's admins (by account id only)."""
        return contact_id in self.admins

    def is_owner(self, contact_id: str) -> bool:
        return contact_id in self.owners
