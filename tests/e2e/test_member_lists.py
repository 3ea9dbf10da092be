"""Member-list reads are paced and cached (issue 6.3), against the peer.

50 groups and a budget of 10 reads a minute: at most 10 reads in the first
minute after login, and a member is answered while the rest wait.  A gateway
restart (a new login) reads no list that is still fresh.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, OWNER, ROOM, eventually
from tests.e2e.operator import InProcessBot, add_rooms
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

MINUTE_MS = 60_000


def group_yaml(rooms: list[str], reads_per_minute: int) -> str:
    lines = "\n".join(f"  {r}: {{name: 群{i}, tier: member}}" for i, r in enumerate(rooms))
    return (
        "transport: {kind: wechaty}\n"
        f"owners: [{OWNER}]\n"
        f"admins: [{ADMIN}]\n"
        "groups:\n"
        f"  {ROOM}: {{name: 端到端一群, tier: member}}\n"
        f"{lines}\n"
        f"member_lists: {{reads_per_minute: {reads_per_minute}}}\n"
        # the bot's hello to each group it meets must not hold up a reply for long
        "governor: {switch_delay_min: 0, switch_delay_max: 0.2, room_gap_s: 1,"
        " messages_per_min: 60, message_burst: 30, messages_hard_cap_per_min: 60}\n"
    )


async def with_groups(peer: NodePeer, count: int) -> list[str]:
    rooms = [f"g{i:03d}@chatroom" for i in range(count)]
    await add_rooms(
        peer,
        [
            {
                "id": r,
                "topic": f"群{i}",
                "memberIds": ["wxid_bot", OWNER, "wxid_a"],
                "ownerId": OWNER,
                "adminIds": ["wxid_bot"],  # (else the owner hears it is not, per group)
            }
            for i, r in enumerate(rooms)
        ],
    )
    return rooms


async def test_fifty_groups_at_login_are_read_at_most_ten_a_minute_and_members_are_answered_meanwhile(
    peer: NodePeer, tmp_path: Path
) -> None:
    rooms = await with_groups(peer, 50)
    bot = InProcessBot(peer, tmp_path, group_yaml(rooms, reads_per_minute=10))
    await bot.start()
    try:
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")
        await peer.wait_for_call("messageSendText", lambda c: c["args"][0] == ROOM, timeout=20)
        assert bot.app.members.queued > 0  # answered while lists still wait for budget

        reads = peer.calls_of("roomMemberList")
        first = reads[0]["ts"]
        in_first_minute = [c for c in reads if c["ts"] < first + MINUTE_MS]
        assert len(in_first_minute) == 10  # the budget, used at once, not exceeded
        read_rooms = [c["args"][0] for c in reads]
        assert len(set(read_rooms)) == len(read_rooms)  # no list read twice
    finally:
        await bot.stop()


async def test_a_gateway_restart_reads_no_member_list_that_is_still_fresh(
    peer: NodePeer, tmp_path: Path
) -> None:
    rooms = await with_groups(peer, 3)
    bot = InProcessBot(peer, tmp_path, group_yaml(rooms, reads_per_minute=10))
    await bot.start()
    try:
        assert sorted(c["args"][0] for c in peer.calls_of("roomMemberList")) == sorted(
            [ROOM, *rooms]
        )
        await bot.app.settle()  # the bot's hellos are out
        mark = peer.mark()
        await peer.restart()  # the gateway comes back and logs in again
        supervisor = bot.transport.supervisor
        assert supervisor is not None

        async def back_online() -> bool:
            return supervisor.reconnects >= 1 and bot.transport.logged_in.is_set()

        await eventually(back_online, within=40)
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")
        await peer.wait_for_call(  # the bot is back in
            "messageSendText", lambda c: c["args"][0] == ROOM, timeout=30, since=mark
        )
        await peer.cmd("replay", event="login")  # and the gateway replays the login
        await bot.app.settle()
        assert peer.calls_of("roomMemberList", mark) == []
    finally:
        await bot.stop()
