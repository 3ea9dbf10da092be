"""Reports (issue 11): the weekly report per group and the owners' overview
(charts sent as images, a text summary), and name-card compliance."""

from __future__ import annotations

from handlers.reports import name_cards, weekly
from handlers.reports.base import feature

__all__ = ["feature", "name_cards", "weekly"]
