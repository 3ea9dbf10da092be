"""Invites and joins (issue 8.4) and the join side of the blocklist (8.5).

Who may bring people in, how a member asks to, and how fast a group may grow:
``decide`` (pure), ``joins`` (a join event: facts, decisions, what to do),
``requests`` (``#邀请``, ``#同意``, ``#拒绝``), ``lapse`` (requests past their
time closed and their requester told, a job), ``effects`` (its records);
its settings are ``moderation.invites`` (``handlers.moderation.invite_policy``),
its records ``storage.invites``.  Add ``feature`` to ``handlers.features``.
"""

from __future__ import annotations

from handlers.moderation.invites import effects, joins, lapse, requests
from handlers.moderation.invites.feature import feature

__all__ = ["effects", "feature", "joins", "lapse", "requests"]
