"""Send retries in the outbox: a claimed action that failed for sure goes back.

An action claimed for sending ('sending', attempts + 1) whose call failed with
a transient transport error (the connection, not a refusal) is put back to
'pending' with a ``not_before`` time, so the retry survives a restart.  The
attempt count stays as the claim set it.  Takes the same session factory as
:class:`storage.repo.Repository`, and its ``account_id``: idempotency keys are
the same for every account (``reply:room:member:…``), so every query keeps to
the account's own rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Outbox
from storage.repo import DEFAULT_ACCOUNT
from storage.types import clean_text, require_aware

_OUTBOX: Table = Outbox.__table__  # type: ignore[assignment]
ERROR_MAX_LENGTH = 2000


class OutboxRetries:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, account_id: str = DEFAULT_ACCOUNT
    ) -> None:
        if not account_id:
            raise ValueError("account_id must not be empty")
        self._sessions = sessions
        self.account_id = account_id

    async def retry_later(self, key: str, at: datetime, not_before: datetime, error: str) -> bool:
        """'sending' → 'pending', not to be tried before ``not_before``.

        False (nothing changed) unless the key was 'sending'."""
        at = require_aware(at, "at")
        not_before = require_aware(not_before, "not_before")
        stmt = (
            update(_OUTBOX)
            .where(
                _OUTBOX.c.account_id == self.account_id,
                _OUTBOX.c.key == key,
                _OUTBOX.c.status == "sending",
            )
            .values(
                status="pending",
                updated_at=at,
                not_before=not_before,
                error=clean_text(error, ERROR_MAX_LENGTH),
            )
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def not_before(self) -> dict[str, datetime]:
        """The account's pending actions waiting for a retry: key → not before."""
        o = _OUTBOX.c
        stmt = select(o.key, o.not_before).where(
            o.account_id == self.account_id, o.status == "pending", o.not_before.is_not(None)
        )
        async with self._sessions() as session:
            return {k: t for k, t in (await session.execute(stmt)).all()}
