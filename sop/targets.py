"""Which groups a calendar entry runs in, and the checks of its targets.

An entry names its groups by room id (``groups``), by profile (``profiles``:
the groups in ``bot.yaml`` with that profile, and groups adopted at run time
with it) and by tag (``tags``).  A group marked ``managed: false`` is never a
target.  :func:`target_problems` are errors of ``bot.yaml`` (a profile that
does not exist); :func:`target_warnings` are not (a tag no group carries yet, a
room id not in ``groups:``: groups can be adopted while the bot runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from bot.config.errors import Problem
from sop.kinds import KINDS

if TYPE_CHECKING:  # pragma: no cover
    from bot.config.schema import BotConfig
    from sop.entries import Entry

#: A group known at run time (adopted, not in bot.yaml): (profile, tags).
KnownRoom = tuple[str, Iterable[str]]


def target_rooms(
    entry: Entry, cfg: BotConfig, known_rooms: Mapping[str, KnownRoom] | None = None
) -> tuple[str, ...]:
    """The room ids ``entry`` runs in: sorted, each once, unmanaged groups left out.

    ``known_rooms`` are groups the bot manages that ``bot.yaml`` does not list
    (adopted at run time), with their profile and tags; a group listed in
    ``bot.yaml`` is judged by what the file says.
    """
    rooms: dict[str, tuple[str, frozenset[str]]] = {}
    for room_id, (profile, tags) in (known_rooms or {}).items():
        rooms[room_id] = (profile, frozenset(tags))
    unmanaged: set[str] = set()
    for room_id, group in cfg.groups.items():
        if not group.managed:
            unmanaged.add(room_id)
            rooms.pop(room_id, None)
        else:
            rooms[room_id] = (group.profile, frozenset(group.tags))
    profiles, tags = set(entry.profiles), set(entry.tags)
    out = {r for r in entry.groups if r not in unmanaged}
    out.update(
        room_id
        for room_id, (profile, room_tags) in rooms.items()
        if profile in profiles or room_tags & tags
    )
    return tuple(sorted(out))


def target_problems(cfg: BotConfig) -> list[Problem]:
    """Errors in the entries' targets, located below the config's root."""
    known = set(cfg.profile_names())
    problems: list[Problem] = []
    for i, entry in enumerate(cfg.calendar.entries):
        for j, name in enumerate(entry.profiles):
            if name not in known:
                problems.append(
                    (
                        ("calendar", "entries", i, "profiles", j),
                        f"unknown profile {name!r}: the profiles are {', '.join(sorted(known))}",
                    )
                )
    return problems


def target_warnings(cfg: BotConfig) -> list[Problem]:
    """What is worth a warning, not a refusal, in the entries' targets."""
    carried = {t for g in cfg.groups.values() if g.managed for t in g.tags}
    out: list[Problem] = []
    for i, entry in enumerate(cfg.calendar.entries):
        at = ("calendar", "entries", i)
        for j, room_id in enumerate(entry.groups):
            group = cfg.groups.get(room_id)
            if group is None:
                out.append(
                    (
                        (*at, "groups", j),
                        f"{room_id!r} is not in 'groups:': entry {entry.id!r} runs there only "
                        "once the bot has been invited into it (adopted)",
                    )
                )
            elif not group.managed:
                out.append(
                    (
                        (*at, "groups", j),
                        f"{room_id!r} is marked 'managed: false': entry {entry.id!r} "
                        "never runs there",
                    )
                )
        for j, tag in enumerate(entry.tags):
            if tag not in carried:
                out.append(
                    (
                        (*at, "tags", j),
                        f"no managed group in 'groups:' carries the tag {tag!r}: "
                        f"entry {entry.id!r} runs nowhere by it (yet)",
                    )
                )
        spec = KINDS.get(entry.kind)
        if entry.enabled and not entry.targets_anything and (spec is None or spec.per_group):
            out.append(
                ((*at, "id"), f"entry {entry.id!r} names no target: add groups, profiles or tags")
            )
    return out
