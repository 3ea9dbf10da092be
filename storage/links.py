"""Link approvals (报备): a member asks to post a link in a group, an admin answers.

    approvals = LinkApprovals(sessions, account_id="default")
    request, new = await approvals.request(room, member, "https://shop.example.com/a", now)
    await approvals.decide(request.id, approve=True, by=admin, at=now, hours=24)
    await approvals.approved(room, "shop.example.com/a", now)  # True for 24 h

A link is compared by its *key*: the host without ``www.``, lower-cased, with
the path (without a trailing ``/``) and the query; the scheme, the port and the
fragment do not count, so ``https://www.x.com/a/`` and ``x.com/a`` are one
link.  An approval of the whole domain covers its subdomains too
(``example.com`` covers ``shop.example.com``).  Scoped by the bot's account;
takes the same session factory as :class:`storage.repo.Repository`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import LinkApproval
from storage.types import clean_text, require_aware

_LINKS = cast(Table, LinkApproval.__table__)

URL_MAX_LENGTH = 1000
DOMAIN_MAX_LENGTH = 255
# What people put around a link in chat: brackets, quotes, Chinese punctuation.
_WRAPPING = "<>()[]{}\"'“”‘’《》「」【】，。；：！？、,.;:!?"
_HOST = re.compile(r"^[a-z0-9\u00a1-\uffff-]+(\.[a-z0-9\u00a1-\uffff-]+)+$")


@dataclass(frozen=True, slots=True)
class Link:
    """A link as compared: ``key`` (domain + path + query) and its ``domain``."""

    url: str
    key: str
    domain: str

    def domains(self) -> list[str]:
        """The domain and every parent of it with at least two labels
        (``a.b.com`` -> ``a.b.com``, ``b.com``): whole-domain approvals that cover it."""
        labels = self.domain.split(".")
        return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def parse_link(text: str) -> Link | None:
    """The link in ``text`` (one URL, with or without its scheme), or None."""
    raw = text.strip().strip(_WRAPPING)
    if not raw or any(c.isspace() for c in raw) or len(raw) > URL_MAX_LENGTH:
        return None
    full = raw if "://" in raw else "http://" + raw
    try:
        parts = urlsplit(full)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not _HOST.match(host):
        return None
    domain = host.removeprefix("www.")
    if "." not in domain or len(domain) > DOMAIN_MAX_LENGTH:
        return None
    key = domain + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return Link(url=raw, key=key, domain=domain)


@dataclass(frozen=True, slots=True)
class LinkRequest:
    id: int
    room_id: str
    member_id: str
    url: str
    domain: str
    whole_domain: bool
    status: str  # pending, approved, declined
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    expires_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        for k in ("created_at", "decided_at", "expires_at"):
            out[k] = out[k].isoformat() if out[k] is not None else None
        return out


def _request(row: LinkApproval) -> LinkRequest:
    return LinkRequest(
        id=row.id,
        room_id=row.room_id,
        member_id=row.member_id,
        url=row.url,
        domain=row.domain,
        whole_domain=row.whole_domain,
        status=row.status,
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        expires_at=row.expires_at,
    )


class LinkApprovals:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    async def request(
        self, room_id: str, member_id: str, url: str, at: datetime
    ) -> tuple[LinkRequest, bool]:
        """Record a request; the member's pending one for the same link in the
        group if there is one (then ``False``: the admins were asked already).
        Raises ValueError if ``url`` is not a link (see :func:`parse_link`)."""
        link = parse_link(url)
        if link is None:
            raise ValueError(f"not a link: {url!r}")
        at = require_aware(at, "at")
        c = _LINKS.c
        async with self._sessions.begin() as session:
            pending = await session.scalar(
                select(LinkApproval)
                .where(
                    c.account_id == self.account_id,
                    c.room_id == room_id,
                    c.member_id == member_id,
                    c.url_key == link.key,
                    c.status == "pending",
                )
                .order_by(c.id)
                .limit(1)
            )
            if pending is not None:
                return _request(pending), False
            row = LinkApproval(
                account_id=self.account_id,
                room_id=room_id,
                member_id=member_id,
                url=clean_text(link.url, URL_MAX_LENGTH),
                url_key=link.key,
                domain=link.domain,
                whole_domain=False,
                status="pending",
                created_at=at,
                decided_at=None,
                decided_by=None,
                expires_at=None,
            )
            session.add(row)
            await session.flush()
            return _request(row), True

    async def get(self, request_id: int) -> LinkRequest | None:
        async with self._sessions() as session:
            row = await session.get(LinkApproval, request_id)
            return None if row is None or row.account_id != self.account_id else _request(row)

    async def decide(
        self,
        request_id: int,
        *,
        approve: bool,
        by: str,
        at: datetime,
        hours: float = 24,
        whole_domain: bool = False,
    ) -> LinkRequest | None:
        """Approve (for ``hours``) or decline a pending request; None if there is
        no such pending request of this account (unknown, or answered already)."""
        at = require_aware(at, "at")
        c = _LINKS.c
        values: dict[str, Any] = {
            "status": "approved" if approve else "declined",
            "decided_at": at,
            "decided_by": by,
        }
        if approve:
            values |= {"expires_at": at + timedelta(hours=hours), "whole_domain": whole_domain}
        stmt = (
            update(LinkApproval)
            .where(c.id == request_id, c.account_id == self.account_id, c.status == "pending")
            .values(**values)
        )
        async with self._sessions.begin() as session:
            if not (await session.execute(stmt)).rowcount:  # type: ignore[attr-defined]
                return None
        return await self.get(request_id)

    async def approved(self, room_id: str, url: str, now: datetime) -> bool:
        """Whether ``url`` may be posted in the group now: an approval of that
        link, or of a domain that covers it, that has not expired."""
        link = parse_link(url)
        if link is None:
            return False
        c = _LINKS.c
        stmt = (
            select(c.id)
            .where(
                c.account_id == self.account_id,
                c.room_id == room_id,
                c.status == "approved",
                c.expires_at > require_aware(now, "now"),
                or_(
                    c.url_key == link.key,
                    and_(c.whole_domain.is_(True), c.domain.in_(link.domains())),
                ),
            )
            .limit(1)
        )
        async with self._sessions() as session:
            return (await session.scalar(stmt)) is not None

    async def requests(
        self, *, room_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[LinkRequest]:
        """The account's requests, newest first."""
        c = _LINKS.c
        stmt = select(LinkApproval).where(c.account_id == self.account_id)
        if room_id is not None:
            stmt = stmt.where(c.room_id == room_id)
        if status is not None:
            stmt = stmt.where(c.status == status)
        stmt = stmt.order_by(c.id.desc()).limit(limit)
        async with self._sessions() as session:
            return [_request(r) for r in (await session.scalars(stmt)).all()]
