"""Calendar kinds: what an entry of the SOP calendar does when it fires.

A kind is registered by the feature that owns it (``post`` and ``checkin`` by
the calendar's own features, ``lottery``, ``coupon_drop``, ``flash_group``,
``lurker_sweep``, ``report`` by theirs) with :meth:`handlers.feature.Feature.kind`:
its name, the model of its content (validated with the rest of ``bot.yaml``,
errors at file:line:field) and its runner.

A runner decides, like a handler: it gets the group's context and the run,
and returns actions / a ``Result`` (the doer applies effects and queues the
actions, keyed by the run).  A kind whose work spans time (a check-in round
closes, a lottery draws, a flash group is dissolved days later) records its
state in its own table and finishes it in its own feature job: the runner
only opens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # pragma: no cover
    from handlers.base import Context
    from sop.entries import Entry


#: Calendar job ids of bot.yaml's entries: ``sop:<entry id>``.
JOB_PREFIX = "sop:"


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a calendar entry (in one group unless the kind is app-wide)."""

    entry: Entry
    room_id: str  # "" for an app-wide kind (per_group=False)
    scheduled_at: (
        datetime  # when it fires (after day rules, quiet hours, jitter): the run key's time
    )
    not_after: datetime  # its actions are still worth doing until then (validity window)
    rooms: tuple[str, ...] = ()  # the entry's target groups (app-wide kinds use them)

    @property
    def content(self) -> Any:
        """The kind's validated content model (``entry.content``)."""
        return self.entry.content

    @property
    def key(self) -> str:
        """The run key as text: entry, group, scheduled time (keys of its actions start with it)."""
        return f"{JOB_PREFIX}{self.entry.id}:{self.room_id}:{self.scheduled_at.isoformat()}"


Outcome = Any  # what a handler may return: actions, a Result, None (handlers.feature.as_result)
Runner = Callable[["Context", Run], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class KindSpec:
    name: str
    content: type[BaseModel]
    run: Runner
    feature: str  # the owning feature's name (the doer's origin, its shadow switch)
    per_group: bool = True  # False: one run per entry, not per target group
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


#: Every registered kind by name (filled at import of handlers.features).
KINDS: dict[str, KindSpec] = {}


def register_kind(spec: KindSpec) -> KindSpec:
    known = KINDS.get(spec.name)
    if known is not None and known.run is not spec.run:
        raise ValueError(f"calendar kind {spec.name!r} is taken by feature {known.feature!r}")
    KINDS[spec.name] = spec
    return spec
