"""Contacts and groups: names of contacts, and the groups the account is in.

:class:`ContactsMixin` gives :class:`storage.repo.Repository` contact upserts
and names, and the account's own row per group (joined, left, its role).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import case, select, update

from storage.models import Contact, Group
from storage.sql import (
    _CONTACTS,
    _GROUPS,
    NAME_MAX_LENGTH,
    RepositoryBase,
    _check,
    _insert,
)
from storage.types import BOT_ROLES, BotRole, GroupState, clean_text, require_aware


def _group_state(row: Group) -> GroupState:
    return GroupState(
        room_id=row.room_id,
        topic=row.topic,
        profile=row.profile,
        bot_role=cast(BotRole, row.bot_role),
        joined_at=row.joined_at,
        left_at=row.left_at,
        updated_at=row.updated_at,
    )


class ContactsMixin(RepositoryBase):
    """Contact and group methods of :class:`storage.repo.Repository`."""

    async def upsert_contacts(self, pairs: Iterable[tuple[str, str]], at: datetime) -> int:
        """Insert or rename contacts; returns how many distinct ids were given."""
        at = require_aware(at, "at")
        names = {cid: clean_text(name, NAME_MAX_LENGTH) for cid, name in pairs}
        if not names:
            return 0
        rows = [{"contact_id": c, "name": n, "updated_at": at} for c, n in names.items()]
        async with self._sessions.begin() as session:
            ins = _insert(session, _CONTACTS)
            stmt = ins.on_conflict_do_update(
                index_elements=[_CONTACTS.c.contact_id],
                set_={"name": ins.excluded.name, "updated_at": ins.excluded.updated_at},
                where=_CONTACTS.c.name != ins.excluded.name,
            )
            await session.execute(stmt, rows)
        return len(rows)

    async def contact_name(self, contact_id: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(Contact, contact_id)
            return None if row is None else row.name

    async def upsert_group(
        self, room_id: str, topic: str | None, profile: str, at: datetime
    ) -> None:
        """Record that the bot is in ``room_id``; a group it had left is rejoined.

        ``topic=None`` means unknown: a known topic is kept, a new group gets "".
        """
        at = require_aware(at, "at")
        if not profile or len(profile) > 64:
            raise ValueError(f"group profile {profile!r}: expected a name of 1 to 64 characters")
        clean_topic = "" if topic is None else clean_text(topic, NAME_MAX_LENGTH)
        async with self._sessions.begin() as session:
            ins = _insert(session, _GROUPS).values(
                account_id=self.account_id,
                room_id=room_id,
                topic=clean_topic,
                profile=profile,
                bot_role="unknown",
                joined_at=at,
                left_at=None,
                updated_at=at,
            )
            old = _GROUPS.c
            stmt = ins.on_conflict_do_update(
                index_elements=[old.account_id, old.room_id],
                set_={
                    "topic": old.topic if topic is None else ins.excluded.topic,
                    "profile": ins.excluded.profile,
                    "joined_at": case(
                        (old.left_at.is_not(None), ins.excluded.joined_at), else_=old.joined_at
                    ),
                    "left_at": None,
                    "updated_at": ins.excluded.updated_at,
                },
            )
            await session.execute(stmt)

    async def set_bot_role(self, room_id: str, role: str, at: datetime | None = None) -> bool:
        """Set the bot's own role in a group; False if the group is unknown."""
        _check(role, BOT_ROLES, "bot role")
        values: dict[str, Any] = {"bot_role": role}
        if at is not None:
            values["updated_at"] = require_aware(at, "at")
        stmt = update(Group).where(self._mine(Group), Group.room_id == room_id).values(**values)
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def mark_group_left(self, room_id: str, at: datetime) -> bool:
        """The bot left or was removed; False if it was not in the group."""
        at = require_aware(at, "at")
        stmt = (
            update(Group)
            .where(self._mine(Group), Group.room_id == room_id, Group.left_at.is_(None))
            .values(left_at=at, updated_at=at)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def get_group(self, room_id: str) -> GroupState | None:
        async with self._sessions() as session:
            row = await session.get(Group, (self.account_id, room_id))
            return None if row is None else _group_state(row)

    async def active_groups(self) -> list[GroupState]:
        """Groups the bot is in, by room id."""
        stmt = (
            select(Group).where(self._mine(Group), Group.left_at.is_(None)).order_by(Group.room_id)
        )
        async with self._sessions() as session:
            return [_group_state(g) for g in (await session.scalars(stmt)).all()]
