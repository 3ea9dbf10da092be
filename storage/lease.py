"""One process per account: a lease held in the database.

Two processes running one WeChat account would both answer every event, and
the second one's start-up would mark the first one's send in flight as "in
doubt".  So before anything else touches the outbox, a process takes the
account's row in ``leases`` and renews it periodically; a second process for
the same account finds the row held and refuses to start.  A process killed
without releasing it leaves a row that expires after ``ttl`` seconds and is
then taken over.

Every step is one atomic statement, portable between SQLite and PostgreSQL
(and so across machines sharing a PostgreSQL database):

* acquire: ``INSERT … ON CONFLICT DO NOTHING``; if the row exists,
  ``UPDATE … WHERE holder = me OR expires_at <= now`` (PostgreSQL re-checks
  the condition on the latest row after waiting for its lock, so of two
  processes taking over one expired lease only one gets a row back);
* renew: ``UPDATE … WHERE holder = me`` (no row: someone else took it);
* release: ``UPDATE … SET expires_at = now WHERE holder = me`` (the row, and
  the WeChat id recorded in it, stay; the next process starts at once).

Times come from the caller's clock (the injected clock), so processes on
several machines must have their clocks in sync to well within ``ttl``.

The lease is keyed by the configured account name (``bot.account``), not by
the WeChat id: that id is known only after login, which is after the outbox
has been resumed and after the gateway has been asked to start.  At login the
WeChat id is recorded in the row and checked against the other live leases:
two account names logged in as one WeChat account is the same mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Lease
from storage.repo import _insert
from storage.types import require_aware

log = logging.getLogger(__name__)

_LEASES = cast(Table, Lease.__table__)

DEFAULT_TTL_SECONDS = 30.0
DEFAULT_RENEW_SECONDS = 10.0
HOLDER_MAX_LENGTH = 200


class LeaseClock(Protocol):
    """What the keeper needs of ``bot.vocab.clock.Clock``."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


def new_holder() -> str:
    """``host:pid:random``: who holds a lease (the random part tells a reused pid apart)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return holder[-HOLDER_MAX_LENGTH:]


@dataclass(frozen=True, slots=True)
class LeaseState:
    account_id: str
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    wechat_id: str | None = None

    @property
    def process(self) -> str:
        """``host:pid`` of the holder."""
        return self.holder.rsplit(":", 1)[0] if self.holder.count(":") >= 2 else self.holder


def _state(row: Any) -> LeaseState:
    return LeaseState(
        account_id=row.account_id,
        holder=row.holder,
        acquired_at=row.acquired_at,
        renewed_at=row.renewed_at,
        expires_at=row.expires_at,
        wechat_id=row.wechat_id,
    )


class LeaseHeld(Exception):
    """Another live process holds the account: the message is one line for stderr."""

    def __init__(self, state: LeaseState, now: datetime) -> None:
        self.state = state
        wait = max(1, math.ceil((state.expires_at - now).total_seconds()))
        since = state.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"another qunbot process ({state.process}) holds the account "
            f"'{state.account_id}' since {since}; stop it first, "
            f"or wait {wait} s if it was killed"
        )


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """What ``record_login`` found."""

    held: bool  # the row was still ours
    previous_wechat_id: str | None  # what the row recorded before
    others: tuple[LeaseState, ...]  # other live leases logged in as the same WeChat id


class Leases:
    """The ``leases`` table; each method one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, account_id: str) -> LeaseState | None:
        async with self._sessions() as session:
            row = (
                await session.execute(select(_LEASES).where(_LEASES.c.account_id == account_id))
            ).first()
        return None if row is None else _state(row)

    async def acquire(self, account_id: str, holder: str, now: datetime, ttl: float) -> LeaseState:
        """Take the account's lease (new, ours already, or expired); else raise LeaseHeld."""
        now = require_aware(now, "now")
        expires = now + timedelta(seconds=ttl)
        async with self._sessions() as session, session.begin():
            inserted = (
                await session.execute(
                    _insert(session, _LEASES)
                    .values(
                        account_id=account_id,
                        holder=holder,
                        acquired_at=now,
                        renewed_at=now,
                        expires_at=expires,
                    )
                    .on_conflict_do_nothing(index_elements=[_LEASES.c.account_id])
                    .returning(*_LEASES.c)
                )
            ).first()
            if inserted is not None:
                return _state(inserted)
            taken = (
                await session.execute(
                    update(_LEASES)
                    .where(
                        _LEASES.c.account_id == account_id,
                        or_(_LEASES.c.holder == holder, _LEASES.c.expires_at <= now),
                    )
                    .values(
                        holder=holder,
                        acquired_at=case(
                            (_LEASES.c.holder == holder, _LEASES.c.acquired_at), else_=now
                        ),
                        renewed_at=now,
                        expires_at=expires,
                    )
                    .returning(*_LEASES.c)
                )
            ).first()
            if taken is not None:
                return _state(taken)
            current = (
                await session.execute(select(_LEASES).where(_LEASES.c.account_id == account_id))
            ).one()
        raise LeaseHeld(_state(current), now)

    async def renew(
        self, account_id: str, holder: str, now: datetime, ttl: float
    ) -> LeaseState | None:
        """Extend our lease; None if another process holds it now (ours was lost)."""
        now = require_aware(now, "now")
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    update(_LEASES)
                    .where(_LEASES.c.account_id == account_id, _LEASES.c.holder == holder)
                    .values(renewed_at=now, expires_at=now + timedelta(seconds=ttl))
                    .returning(*_LEASES.c)
                )
            ).first()
        return None if row is None else _state(row)

    async def release(self, account_id: str, holder: str, now: datetime) -> bool:
        """Let the lease expire now (if it is still ours): the next process starts at once."""
        now = require_aware(now, "now")
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    update(_LEASES)
                    .where(_LEASES.c.account_id == account_id, _LEASES.c.holder == holder)
                    .values(expires_at=now)
                    .returning(_LEASES.c.account_id)
                )
            ).first()
        return row is not None

    async def record_login(
        self, account_id: str, holder: str, wechat_id: str, now: datetime
    ) -> LoginCheck:
        """Record the WeChat id our lease logged in as; find others live with the same id."""
        now = require_aware(now, "now")
        async with self._sessions() as session, session.begin():
            previous = (
                await session.execute(
                    select(_LEASES.c.wechat_id).where(
                        _LEASES.c.account_id == account_id, _LEASES.c.holder == holder
                    )
                )
            ).first()
            if previous is None:
                return LoginCheck(held=False, previous_wechat_id=None, others=())
            await session.execute(
                update(_LEASES)
                .where(_LEASES.c.account_id == account_id, _LEASES.c.holder == holder)
                .values(wechat_id=wechat_id)
            )
            others = (
                await session.execute(
                    select(_LEASES).where(
                        _LEASES.c.wechat_id == wechat_id,
                        _LEASES.c.account_id != account_id,
                        _LEASES.c.expires_at > now,
                    )
                )
            ).all()
        return LoginCheck(
            held=True,
            previous_wechat_id=previous.wechat_id,
            others=tuple(_state(row) for row in others),
        )


class AccountLease:
    """The lease of one account for this process: taken at start, renewed, released.

    ``on_lost`` is called once, with a reason, when the lease turns out to be
    someone else's (a renewal finds another holder, renewals fail until it
    has expired, or the WeChat id is already served under another account
    name); the owner must stop acting at once.
    """

    def __init__(
        self,
        leases: Leases,
        account_id: str,
        clock: LeaseClock,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        renew_every: float = DEFAULT_RENEW_SECONDS,
        on_lost: Callable[[str], None] = lambda reason: None,
        holder: str | None = None,
    ) -> None:
        if not 0 < renew_every < ttl:
            raise ValueError("the lease must be renewed more often than it expires")
        self.leases = leases
        self.account_id = account_id
        self.holder = holder or new_holder()
        self._clock = clock
        self.ttl = ttl
        self.renew_every = renew_every
        self._on_lost = on_lost
        self._task: asyncio.Task[None] | None = None
        self.expires_at: datetime | None = None
        self.lost: str | None = None  # the reason, once lost
        self.renewals = 0  # renewal attempts finished (tests step the clock by them)

    @property
    def held(self) -> bool:
        return self.expires_at is not None and self.lost is None

    async def acquire(self) -> LeaseState:
        """Take the lease or raise :class:`LeaseHeld`."""
        state = await self.leases.acquire(self.account_id, self.holder, self._clock.now(), self.ttl)
        self.expires_at = state.expires_at
        return state

    def start(self) -> None:
        """Renew every ``renew_every`` seconds of the clock, until stopped or lost."""
        if self._task is None:
            self._task = asyncio.create_task(self._renew_loop(), name="lease-renew")

    async def renew(self) -> bool:
        """One renewal; False (and ``on_lost``) once the lease is lost."""
        try:
            return await self._renew()
        finally:
            self.renewals += 1

    async def _renew(self) -> bool:
        if self.lost is not None:
            return False
        now = self._clock.now()
        try:
            state = await self.leases.renew(self.account_id, self.holder, now, self.ttl)
        except Exception as exc:
            # A database hiccup: the lease is still ours until it expires.
            if self.expires_at is not None and now < self.expires_at:
                log.warning("could not renew the lease of account '%s': %s", self.account_id, exc)
                return True
            self._lose(f"could not renew it before it expired ({type(exc).__name__}: {exc})")
            return False
        if state is None:
            current = await self._current()
            by = f" by {current.process}" if current is not None else ""
            self._lose(f"it was taken over{by}")
            return False
        self.expires_at = state.expires_at
        return True

    async def record_login(self, wechat_id: str) -> bool:
        """Record the logged-in WeChat id; False (and ``on_lost``) if another lease serves it."""
        check = await self.leases.record_login(
            self.account_id, self.holder, wechat_id, self._clock.now()
        )
        if not check.held:
            self._lose("it was taken over")
            return False
        if check.previous_wechat_id and check.previous_wechat_id != wechat_id:
            log.warning(
                "account '%s' was WeChat account %s and is now logged in as %s: "
                "give each WeChat account its own bot.account",
                self.account_id,
                check.previous_wechat_id,
                wechat_id,
            )
        if check.others:
            other = check.others[0]
            self._lose(
                f"WeChat account {wechat_id} is already served by account "
                f"'{other.account_id}' ({other.process})"
            )
            return False
        return True

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; release the lease if it is still ours."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if release and self.held:
            try:
                await self.leases.release(self.account_id, self.holder, self._clock.now())
            except Exception:
                log.warning("could not release the lease of '%s'", self.account_id, exc_info=True)
        self.expires_at = None

    async def _renew_loop(self) -> None:
        while self.lost is None:
            await self._clock.sleep(self.renew_every)
            if not await self.renew():
                return

    async def _current(self) -> LeaseState | None:
        with contextlib.suppress(Exception):
            return await self.leases.get(self.account_id)
        return None

    def _lose(self, reason: str) -> None:
        if self.lost is not None:
            return
        self.lost = reason
        log.error(
            "lost the lease of account '%s': %s; this process stops acting now",
            self.account_id,
            reason,
        )
        try:
            self._on_lost(reason)
        except Exception:
            log.exception("the lease-lost handler failed")
