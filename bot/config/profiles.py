"""Policy profiles: ``extends`` chains, deep merge, each group's resolved policy.

A profile's sections are layers laid over each other, most general first:

1. the top-level ``commands:`` (defaults of every profile's ``commands``);
2. the parent profile's layers (``extends``), recursively;
3. the built-in profile of that name (``super``, ``member``, ``flash``);
4. what ``profiles.<name>`` in bot.yaml writes;
5. for a group, what ``groups.<room_id>`` writes.

Mappings merge key by key, anything else replaces (a list of rules is
replaced whole).  The merged mapping of each section is validated by the
section's model (:data:`bot.config.sections.SECTIONS`); an error is reported
at the key of the most specific layer that wrote the offending value, so the
admin is sent to the line they wrote.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from bot.config.errors import Loc, Problem, expand
from bot.config.sections import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    SECTIONS,
)
from bot.vocab.policy import GroupPolicy

if TYPE_CHECKING:
    from bot.config.schema import BotConfig

log = logging.getLogger(__name__)


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` laid over ``base``: mappings merge key by key, ``None``
    keeps ``base``, anything else replaces it."""
    if override is None:
        return base
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


@dataclass(frozen=True, slots=True)
class Layer:
    """Sections as one place wrote them; ``at``: that place in bot.yaml
    (``None``: built into the bot)."""

    data: Mapping[str, Any]
    at: Loc | None


@dataclass(frozen=True, slots=True)
class Profile:
    """A profile with every section validated (``chain``: it, its parent, …)."""

    name: str
    chain: tuple[str, ...]
    sections: Mapping[str, BaseModel]

    def __getattr__(self, name: str) -> Any:
        """``profile.welcome``: a section by its key."""
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(slots=True)
class Resolution:
    profiles: dict[str, Profile] = field(default_factory=dict)
    groups: dict[str, Profile] = field(default_factory=dict)  # room id -> its own sections
    problems: list[Problem] = field(default_factory=list)


def _depth_written(data: Mapping[str, Any], loc: Loc) -> int:
    """How many parts of ``loc`` exist in ``data``."""
    node: Any = data
    for depth, part in enumerate(loc):
        if isinstance(node, Mapping):
            if part not in node:
                return depth
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return depth
    return len(loc)


def _validate(layers: Sequence[Layer], fallback: Loc) -> tuple[dict[str, BaseModel], list[Problem]]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer.data)
    sections: dict[str, BaseModel] = {}
    problems: list[Problem] = []
    for name, model in SECTIONS.items():
        try:
            sections[name] = model.model_validate(merged.get(name) or {})
        except ValidationError as exc:
            for err in exc.errors():
                for loc, msg, at_key in expand(err, model, (name,)):
                    problems.append(_attribute(layers, loc, msg, at_key, fallback))
    return sections, problems


def _attribute(layers: Sequence[Layer], loc: Loc, msg: str, at_key: bool, fallback: Loc) -> Problem:
    """Send the problem to the most specific layer that wrote (most of) ``loc``."""
    best: Layer | None = None
    best_depth = 0
    for layer in reversed(layers):
        depth = _depth_written(layer.data, loc)
        if depth > best_depth:
            best, best_depth = layer, depth
    if best is None or best.at is None:
        # Only a built-in default says this: the reference to it is to blame.
        shown = ".".join(str(p) for p in loc)
        return (fallback, f"{shown}: {msg}", False)
    return ((*best.at, *loc), msg, at_key)


def _sections_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k in SECTIONS and isinstance(v, Mapping)}


def did_you_mean(name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}profiles: {', '.join(names)}"


def resolve(
    profiles: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Mapping[str, Any]],
    base: Mapping[str, Any] | None = None,
) -> Resolution:
    """Resolve every profile and every group's own sections.

    ``profiles``: ``profiles.<name>`` as written (``extends`` and sections);
    ``groups``: ``groups.<room_id>`` as written (``profile`` and sections);
    ``base``: sections every profile starts from (the top-level ``commands``).
    Tolerates anything the models would refuse (it is also used to find more
    problems in a file that failed validation): such parts are skipped."""
    out = Resolution()
    names = [*BUILTIN_PROFILES, *(n for n in profiles if n not in BUILTIN_PROFILES)]
    base_layer = Layer(dict(base or {}), ())

    def parent(name: str) -> str | None:
        ext = profiles.get(name, {}).get("extends")
        return ext if isinstance(ext, str) else None

    chains: dict[str, tuple[str, ...]] = {}
    seen_cycles: set[frozenset[str]] = set()
    for name in names:
        chain = [name]
        while (up := parent(chain[-1])) is not None:
            if up not in BUILTIN_PROFILES and up not in profiles:
                if chain[-1] == name:
                    msg = f"unknown profile {up!r} in extends; {did_you_mean(up, names)}"
                    out.problems.append((("profiles", name, "extends"), msg, False))
                break
            if up in chain:
                cycle = chain[chain.index(up) :]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    first = min(cycle, key=names.index)
                    i = cycle.index(first)
                    ring = " → ".join([*cycle[i:], *cycle[:i], first])
                    msg = f"profiles extend each other in a circle ({ring}); break the circle"
                    out.problems.append((("profiles", first, "extends"), msg, False))
                break
            chain.append(up)
        else:
            chains[name] = tuple(chain)

    layers_of: dict[str, list[Layer]] = {}
    for name, names_up in chains.items():
        layers = [base_layer]
        for member in reversed(names_up):
            if member in BUILTIN_PROFILES:
                layers.append(Layer(BUILTIN_PROFILES[member], None))
            if member in profiles:
                layers.append(Layer(_sections_of(profiles[member]), ("profiles", member)))
        layers_of[name] = layers
        fallback: Loc = ("profiles", name) if name in profiles else ()
        sections, problems = _validate(layers, fallback)
        out.problems.extend(problems)
        if not problems:
            out.profiles[name] = Profile(name, names_up, sections)

    for room_id, raw in groups.items():
        name = raw.get("profile", DEFAULT_PROFILE)
        if not isinstance(name, str):
            continue
        known = name in names
        if not known:
            msg = f"unknown profile {name!r}; {did_you_mean(name, names)}"
            out.problems.append((("groups", room_id, "profile"), msg, False))
            name = DEFAULT_PROFILE  # still check the group's own sections
        if name not in layers_of:
            continue  # its extends chain is broken: reported there
        own = _sections_of(raw)
        if not own:
            if name in out.profiles:
                out.groups[room_id] = out.profiles[name]
            continue
        layers = [*layers_of[name], Layer(own, ("groups", room_id))]
        sections, problems = _validate(layers, ("groups", room_id, "profile"))
        out.problems.extend(problems)
        if known and not problems and name in out.profiles:
            out.groups[room_id] = Profile(name, chains[name], sections)

    unique: dict[tuple[Loc, str], Problem] = {}
    for p in out.problems:
        unique.setdefault((p[0], p[1]), p)
    out.problems = list(unique.values())
    return out


# --------------------------------------------------------------------------
# A group's policy
# --------------------------------------------------------------------------


def resolve_policy(
    cfg: BotConfig,
    room_id: str,
    default_profile: str | None = None,
    *,
    name: str | None = None,
) -> GroupPolicy | None:
    """The policy for ``room_id``.

    Rooms listed in ``groups`` get their profile with their overrides;
    ``managed: false`` rooms get ``None``.  A room not listed gets ``None``
    unless ``default_profile`` is given (e.g. ``"member"`` for a room an owner
    invited the bot into, or the profile stored for it); ``name`` labels such
    a room.  A stored profile bot.yaml no longer has falls back to ``member``."""
    group = cfg.groups.get(room_id)
    tags: tuple[str, ...] = ()
    extra_admins: tuple[str, ...] = ()
    if group is None:
        if default_profile is None:
            return None
        profile = cfg.profile(default_profile)
        if profile is None:
            log.warning(
                "room %s: profile %r is not in bot.yaml; using %r",
                room_id,
                default_profile,
                DEFAULT_PROFILE,
            )
            profile = cfg.profile(DEFAULT_PROFILE)
        assert profile is not None
        listed = False
        label = name or room_id
    else:
        if not group.managed:
            return None
        profile = cfg.group_profile(room_id)
        tags, extra_admins = group.tags, group.admins
        listed = True
        label = group.name or name or room_id
    owners = frozenset(cfg.owners)
    return GroupPolicy(
        room_id=room_id,
        name=label,
        profile=profile.name,
        tags=tags,
        admins=owners | frozenset(cfg.admins) | frozenset(extra_admins),
        owners=owners,
        sections=profile.sections,
        command_prefix=cfg.commands.prefix,
        bot_name=cfg.bot.name,
        timezone=cfg.bot.timezone,
        listed=listed,
    )


def resolve_all(cfg: BotConfig) -> dict[str, GroupPolicy]:
    """Policies of every managed room listed in ``groups``."""
    out: dict[str, GroupPolicy] = {}
    for room_id in cfg.groups:
        policy = resolve_policy(cfg, room_id)
        if policy is not None:
            out[room_id] = policy
    return out
