"""Link approvals (报备) on SQLite and PostgreSQL alike, scoped by account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.links import LinkApprovals, parse_link
from tests.unit.conftest import Store

AT = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"


def _store(store: Store, account: str = "default") -> LinkApprovals:
    return LinkApprovals(store.sessions, account_id=account)


def test_a_link_is_the_same_with_or_without_scheme_www_and_trailing_slash() -> None:
    one = parse_link("https://www.Shop.Example.com/a/?x=1")
    two = parse_link("shop.example.com/a?x=1，")
    assert one is not None and two is not None
    assert one.key == two.key == "shop.example.com/a?x=1"
    assert one.domains() == ["shop.example.com", "example.com"]


@pytest.mark.parametrize("text", ["", "hello", "ftp://x.com/a", "a b.com", "localhost/x"])
def test_what_is_not_a_link_is_refused(text: str) -> None:
    assert parse_link(text) is None


async def test_a_link_is_approved_only_after_an_admin_says_so_and_for_its_hours(
    store: Store,
) -> None:
    links = _store(store)
    request, new = await links.request(ROOM, "wxid_a", "https://x.com/promo", AT)
    assert new and request.status == "pending"
    assert not await links.approved(ROOM, "https://x.com/promo", AT)
    decided = await links.decide(request.id, approve=True, by="wxid_admin", at=AT, hours=24)
    assert decided is not None and decided.status == "approved"
    assert decided.expires_at == AT + timedelta(hours=24) and decided.decided_by == "wxid_admin"
    assert await links.approved(ROOM, "http://www.x.com/promo/", AT + timedelta(hours=23))
    assert not await links.approved(ROOM, "https://x.com/other", AT)  # not the domain
    assert not await links.approved(ROOM2, "https://x.com/promo", AT)  # not that group
    assert not await links.approved(ROOM, "https://x.com/promo", AT + timedelta(hours=24))


async def test_a_domain_approval_covers_every_link_of_it_and_its_subdomains(store: Store) -> None:
    links = _store(store)
    request, _ = await links.request(ROOM, "wxid_a", "example.com/a", AT)
    await links.decide(request.id, approve=True, by="wxid_admin", at=AT, whole_domain=True)
    assert await links.approved(ROOM, "https://example.com/b?c=1", AT)
    assert await links.approved(ROOM, "https://shop.example.com/x", AT)
    assert not await links.approved(ROOM, "https://notexample.com/a", AT)


async def test_a_request_is_answered_once_and_a_declined_link_stays_unapproved(
    store: Store,
) -> None:
    links = _store(store)
    request, _ = await links.request(ROOM, "wxid_a", "x.com/a", AT)
    again, new = await links.request(ROOM, "wxid_a", "https://x.com/a", AT)
    assert not new and again.id == request.id  # the admins were asked already
    declined = await links.decide(request.id, approve=False, by="wxid_admin", at=AT)
    assert declined is not None and declined.status == "declined"
    assert await links.decide(request.id, approve=True, by="wxid_admin", at=AT) is None
    assert not await links.approved(ROOM, "x.com/a", AT)
    assert [r.id for r in await links.requests(room_id=ROOM, status="declined")] == [request.id]


async def test_another_account_sees_and_decides_none_of_the_requests(store: Store) -> None:
    request, _ = await _store(store).request(ROOM, "wxid_a", "x.com/a", AT)
    other = _store(store, "other")
    assert await other.get(request.id) is None
    assert await other.decide(request.id, approve=True, by="wxid_admin", at=AT) is None
    assert await other.requests() == []
    await _store(store).decide(request.id, approve=True, by="wxid_admin", at=AT)
    assert not await other.approved(ROOM, "x.com/a", AT)
