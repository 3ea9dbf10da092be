"""The ``reports`` feature object; its parts register on it (weekly, name_cards)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from handlers.feature import Feature, Stage
from handlers.reports.policy import ReportsPolicy
from storage.models import NameCard

#: RECORD: it reads the group aliases of member lists before ``membership``
#: (which ends the chain for a list); it only observes, never answers.
feature = Feature(
    "reports", stage=Stage.RECORD, section=ReportsPolicy, tables=(cast(Table, NameCard.__table__),)
)
