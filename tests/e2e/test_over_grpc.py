"""The bot over real gRPC against wechaty-puppet-service + a stateful PuppetMock."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.conftest import ADMIN, OWNER, ROOM, STRANGER, LiveBot, eventually
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e


def texts_to(peer: NodePeer, room: str, since: int = 0) -> list[dict]:
    return [
        c
        for c in peer.calls_of("messageSendText", since)
        if c["args"][0] == room and not c["error"]
    ]


async def test_a_member_speaks_and_the_activity_is_stored(live: LiveBot) -> None:
    await live.peer.cmd("say", sender="wxid_a", room=ROOM, text="大家好")

    async def stored() -> bool:
        await live.app.settle(send=False)
        return await live.repo.count_activity(ROOM) == 1

    await eventually(stored)
    stats = await live.repo.member_stats(ROOM, "wxid_a")
    assert stats is not None and stats.message_count == 1


async def test_two_members_joining_within_the_window_get_one_welcome(live: LiveBot) -> None:
    mark = live.peer.mark()
    await live.peer.cmd(
        "join", room=ROOM, members=[{"id": "wxid_n1", "name": "新人一"}], inviter=ADMIN
    )
    await live.peer.cmd(
        "join", room=ROOM, members=[{"id": "wxid_n2", "name": "新人二"}], inviter=ADMIN
    )

    welcome = await live.peer.wait_for_call(
        "messageSendText", lambda c: c["args"][0] == ROOM, timeout=20, since=mark
    )
    _, text, mentions = welcome["args"]
    assert sorted(mentions) == ["wxid_n1", "wxid_n2"]
    assert "@新人一" in text and "@新人二" in text and "端到端一群" in text
    # Nothing else was sent for those joins: the next message is the reply to a command.
    after = live.peer.mark()
    await live.peer.cmd("say", sender="wxid_a", room=ROOM, text="#规则")
    reply = await live.peer.wait_for_call("messageSendText", timeout=20, since=after)
    assert reply["args"][2] == ["wxid_a"]
    assert len(texts_to(live.peer, ROOM, mark)) == 2

    membership = await live.repo.get_membership(ROOM, "wxid_n2")
    assert membership is not None and membership.inviter_id == ADMIN


async def test_an_owner_invites_the_bot_and_it_accepts(live: LiveBot) -> None:
    room = {
        "id": "r9@chatroom",
        "topic": "新开的群",
        "memberIds": [OWNER, "wxid_b"],
        "ownerId": OWNER,
    }
    invitation = await live.peer.cmd("room_invite", inviter=OWNER, room=room)

    accepted = await live.peer.wait_for_call("roomInvitationAccept", timeout=20)
    assert accepted["args"][0] == invitation
    intro = await live.peer.wait_for_call(
        "messageSendText", lambda c: c["args"][0] == "r9@chatroom", timeout=20
    )
    assert "群管家" in intro["args"][1]
    state = await live.peer.state()
    assert "wxid_bot" in state["rooms"]["r9@chatroom"]["memberIds"]


async def test_an_invitation_from_a_stranger_is_not_accepted(live: LiveBot) -> None:
    strange = {"id": "r7@chatroom", "topic": "陌生群", "memberIds": [STRANGER], "ownerId": STRANGER}
    stranger_invitation = await live.peer.cmd("room_invite", inviter=STRANGER, room=strange)
    # An owner's invitation sent afterwards is handled after the stranger's one.
    owned = {"id": "r8@chatroom", "topic": "群主的群", "memberIds": [OWNER], "ownerId": OWNER}
    owner_invitation = await live.peer.cmd("room_invite", inviter=OWNER, room=owned)

    accepted = await live.peer.wait_for_call("roomInvitationAccept", timeout=20)
    assert accepted["args"][0] == owner_invitation
    assert [c["args"][0] for c in live.peer.calls_of("roomInvitationAccept")] == [owner_invitation]
    refused = [a for a in await live.repo.recent_audit(20) if a.status == "refused"]
    assert [a.key for a in refused] == [f"invite:{stranger_invitation}"]
    state = await live.peer.state()
    assert "wxid_bot" not in state["rooms"]["r7@chatroom"]["memberIds"]


async def test_defective_events_do_not_kill_the_stream(live: LiveBot) -> None:
    # Defect 2: a room-join without inviterId; defect 1: an error event {gerror}.
    await live.peer.cmd(
        "join", room=ROOM, members=[{"id": "wxid_n3", "name": "新人三"}], inviter=None
    )
    await live.peer.cmd("emit", event="error", payload={"gerror": "something broke"})
    await live.peer.cmd("say", sender="wxid_a", room=ROOM, text="还在吗")

    async def both_recorded() -> bool:
        await live.app.settle(send=False)
        joined = await live.repo.get_membership(ROOM, "wxid_n3")
        return joined is not None and await live.repo.count_activity(ROOM) >= 2

    await eventually(both_recorded)
    membership = await live.repo.get_membership(ROOM, "wxid_n3")
    assert membership is not None and membership.inviter_id is None


async def test_the_token_is_never_logged(peer: NodePeer, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    bot = LiveBot(peer, tmp_path)
    await bot.start()
    await peer.cmd("say", sender="wxid_a", room=ROOM, text="hello")

    async def stored() -> bool:
        await bot.app.settle(send=False)
        return await bot.repo.count_activity(ROOM) == 1

    await eventually(stored)
    await bot.stop()
    assert peer.token not in caplog.text
    assert peer.token not in repr(bot.transport.puppet)


async def test_a_member_who_leaves_without_an_event_is_found_by_reconciliation(
    live: LiveBot,
) -> None:
    assert "wxid_a" in await live.repo.current_members(ROOM)
    await live.peer.cmd("leave_silently", room=ROOM, member="wxid_a")
    assert await live.app.presence.reconcile() == 0  # the list read at login is still fresh
    live.app.members.invalidate(ROOM)  # as when member_lists.cache_hours have passed
    assert await live.app.presence.reconcile() == 1
    await live.app.settle(send=False)
    assert "wxid_a" not in await live.repo.current_members(ROOM)
    membership = await live.repo.get_membership(ROOM, "wxid_a")
    assert membership is not None and membership.left_at is not None
    group = await live.repo.get_group(ROOM)
    assert group is not None and group.bot_role == "admin"  # learned from the member list
