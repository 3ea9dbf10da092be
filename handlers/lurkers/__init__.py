"""Lurkers (issue 11): activity tiers, fair elimination of silent members, capacity alerts.

``tiers`` is pure; ``sweep`` decides the elimination's steps; ``feature`` holds
the admins' commands, the calendar's ``lurker_sweep`` kind, the tick and the
capacity alert.  One feature, :data:`feature`, registered in ``handlers.features``.
"""

from handlers.lurkers.feature import feature

__all__ = ["feature"]
