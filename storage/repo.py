"""The repository: every read and write the bot makes, one transaction each.

Methods take and return plain values (:mod:`storage.types`), never ORM objects.
Enumerated strings (roles, statuses) are checked at run time: a value
outside the ``Literal`` types of :mod:`storage.types` raises ValueError.
SQL stays portable between SQLite and PostgreSQL; upserts go through the
dialect's ``INSERT … ON CONFLICT``.  Times must be aware (they are stored as
UTC); a naive one is refused with ValueError before anything is written.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# The parts of the repository, one module per aggregate; every name that was
# defined here before the split is still importable from here.
from storage.activity_store import _ROW_ERRORS as _ROW_ERRORS
from storage.activity_store import ActivityMixin
from storage.activity_store import ActivityNotStored as ActivityNotStored
from storage.activity_store import _first_line as _first_line
from storage.activity_store import _rollup as _rollup
from storage.activity_store import _stats_upsert as _stats_upsert
from storage.activity_store import _unreachable as _unreachable
from storage.activity_store import log as log
from storage.audit_store import AuditMixin
from storage.audit_store import _audit_entry as _audit_entry
from storage.contacts_store import ContactsMixin
from storage.contacts_store import _group_state as _group_state
from storage.members_store import MembersMixin
from storage.members_store import _membership_state as _membership_state
from storage.members_store import _start_stay as _start_stay
from storage.members_store import _stay_of as _stay_of
from storage.outbox_store import OutboxMixin
from storage.outbox_store import _outbox_counts as _outbox_counts
from storage.outbox_store import _outbox_item as _outbox_item
from storage.outbox_store import _outbox_items as _outbox_items
from storage.outbox_store import _payload_json as _payload_json
from storage.report import ReportMixin
from storage.sql import _CONTACTS as _CONTACTS
from storage.sql import _EVENTS as _EVENTS
from storage.sql import _GROUPS as _GROUPS
from storage.sql import _MEMBERSHIPS as _MEMBERSHIPS
from storage.sql import _OUTBOX as _OUTBOX
from storage.sql import _STATS as _STATS
from storage.sql import _STAYS as _STAYS
from storage.sql import DEFAULT_ACCOUNT as DEFAULT_ACCOUNT
from storage.sql import DEFAULT_MAX_TEXT_LENGTH as DEFAULT_MAX_TEXT_LENGTH
from storage.sql import DETAIL_MAX_LENGTH as DETAIL_MAX_LENGTH
from storage.sql import NAME_MAX_LENGTH as NAME_MAX_LENGTH
from storage.sql import REASON_MAX_LENGTH as REASON_MAX_LENGTH
from storage.sql import RepositoryBase
from storage.sql import _check as _check
from storage.sql import _clean_id as _clean_id
from storage.sql import _earlier as _earlier
from storage.sql import _insert as _insert
from storage.sql import _json_object as _json_object
from storage.sql import _later as _later
from storage.types import ActivityRow as ActivityRow


class Repository(
    ActivityMixin, ContactsMixin, MembersMixin, ReportMixin, AuditMixin, OutboxMixin, RepositoryBase
):
    """Async data access for one bot account; safe to share (one session per call).

    What belongs to the account (outbox, audit, its presence and role per
    group) is written with ``account_id`` and every query of it filters on
    it; per-group facts (activity, memberships, contacts) are the group's,
    shared by every account in that group.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        account_id: str = DEFAULT_ACCOUNT,
        max_text_length: int = DEFAULT_MAX_TEXT_LENGTH,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        if max_text_length < 1:
            raise ValueError("max_text_length must be positive")
        if not account_id:
            raise ValueError("account_id must not be empty")
        self._sessions = session_factory
        self.account_id = account_id
        self.max_text_length = max_text_length
        self.tz = ZoneInfo(timezone)
