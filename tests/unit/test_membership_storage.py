"""Storage contract for bulk membership writes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.membership import MembershipStore
from storage.types import NewOutboxItem
from tests.unit.conftest import Store

ROOM = "r1@chatroom"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_a_snapshot_stores_every_member_as_present_with_roles_in_one_call(
    store: Store,
) -> None:
    ms = MembershipStore(store.sessions)
    members = [f"m{i:04d}" for i in range(2500)]  # more than one INSERT chunk
    inserted = await ms.store_snapshot(
        ROOM, ["owner", "admin", *members], at(0), owner_id="owner", admin_ids=["admin"]
    )
    assert inserted == {"owner", "admin", *members}
    assert len(await store.repo.current_members(ROOM)) == 2502
    owner = await store.repo.get_membership(ROOM, "owner")
    admin = await store.repo.get_membership(ROOM, "admin")
    plain = await store.repo.get_membership(ROOM, "m0042")
    assert owner is not None and owner.role == "owner"
    assert admin is not None and admin.role == "admin"
    assert plain is not None and plain.role == "member" and plain.joined_at == at(0)
    assert plain.inviter_id is None and plain.welcomed_at is None and plain.join_count == 1


async def test_a_later_snapshot_keeps_stays_and_moves_roles(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    await ms.store_snapshot(ROOM, ["a", "b", "c"], at(0), owner_id="a", admin_ids=["b"])
    await store.repo.record_leave(ROOM, "c", at(1))
    # The owner handed the group to b; c is listed again (a rejoin is a join event's job).
    inserted = await ms.store_snapshot(ROOM, ["a", "b", "c", "d"], at(5), owner_id="b")
    assert inserted == {"d"}
    a = await store.repo.get_membership(ROOM, "a")
    b = await store.repo.get_membership(ROOM, "b")
    c = await store.repo.get_membership(ROOM, "c")
    assert a is not None and a.role == "member" and a.joined_at == at(0)
    assert b is not None and b.role == "owner"
    assert c is not None and c.left_at == at(1)  # not reopened here


async def test_roles_only_snapshot_adds_nobody(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    await ms.store_snapshot(ROOM, ["a", "b"], at(0))
    inserted = await ms.store_snapshot(
        ROOM, ["a", "b", "new"], at(1), admin_ids=["b"], add_missing=False
    )
    assert inserted == set()
    assert await store.repo.current_members(ROOM) == {"a", "b"}
    b = await store.repo.get_membership(ROOM, "b")
    assert b is not None and b.role == "admin"


async def test_without_owner_or_admins_roles_are_left_alone(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    await ms.store_snapshot(ROOM, ["a", "b"], at(0), owner_id="a")
    await ms.store_snapshot(ROOM, ["a", "b"], at(1))  # the puppet said nothing of roles
    a = await store.repo.get_membership(ROOM, "a")
    assert a is not None and a.role == "owner"


async def test_refusing_a_rooms_actions_leaves_other_rooms_and_finished_ones(store: Store) -> None:
    def item(key: str, room: str | None) -> NewOutboxItem:
        return NewOutboxItem(
            key=key,
            action="Say",
            payload={"text": key},
            kind="message",
            room_id=room,
            priority=1,
            created_at=at(0),
        )

    await store.repo.outbox_add(
        [item("k1", ROOM), item("k2", ROOM), item("k3", "r2@chatroom"), item("k4", None)]
    )
    await store.repo.outbox_finish("k2", "done", at(1))
    refused = await store.repo.outbox_refuse_room(ROOM, at(2), "the bot is no longer in this group")
    assert [i.key for i in refused] == ["k1"]
    assert not await store.repo.outbox_claim("k1", at(3))  # the executor cannot send it
    k1 = await store.repo.outbox_get("k1")
    assert k1 is not None and k1.status == "refused" and k1.error
    assert [i.key for i in await store.repo.outbox_pending()] == ["k3", "k4"]
