"""Which rooms the bot manages, and each room's resolved policy.

Rooms come from ``bot.yaml`` (``groups``) and from invitations an owner made
at run time (stored in the ``groups`` table, re-adopted at start).  A policy
is resolved once per room and cached: handlers receive it, they never compare
room names (Koishi's filtered contexts).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import BotConfig, GroupPolicy, resolve_policy


class PolicyBook:
    def __init__(self, config: BotConfig) -> None:
        self._config = config
        self._adopted: dict[str, tuple[str, str]] = {}  # room -> (profile, name)
        self._cache: dict[str, GroupPolicy | None] = {}
        #: called after a room is adopted (the calendar adds its entries there)
        self.on_adopt: list[Callable[[str], None]] = []

    def get(self, room_id: str) -> GroupPolicy | None:
        try:
            return self._cache[room_id]
        except KeyError:
            pass
        policy = resolve_policy(self._config, room_id)
        if policy is None and room_id in self._adopted:
            profile, name = self._adopted[room_id]
            policy = resolve_policy(self._config, room_id, default_profile=profile, name=name)
        self._cache[room_id] = policy
        return policy

    def adopt(self, room_id: str, profile: str = "member", name: str = "") -> GroupPolicy | None:
        """Manage a room the bot was invited into by an owner (``profile``: the
        one stored for it, or the default)."""
        known = self._adopted.get(room_id)
        self._adopted[room_id] = (profile, name)
        self._cache.pop(room_id, None)
        policy = self.get(room_id)
        if known != (profile, name):
            for listener in self.on_adopt:
                listener(room_id)
        return policy

    def preview(self, room_id: str, profile: str = "member", name: str = "") -> GroupPolicy | None:
        """The policy ``room_id`` would have if adopted (nothing is changed)."""
        if room_id in self._config.groups:
            return self.get(room_id)
        return resolve_policy(self._config, room_id, default_profile=profile, name=name)

    def configured_profile(self, room_id: str) -> str | None:
        """The profile bot.yaml gives the room, or None if it is not listed."""
        group = self._config.groups.get(room_id)
        return None if group is None else group.profile

    def managed_rooms(self) -> list[str]:
        return sorted(set(self._config.groups) | set(self._adopted))
