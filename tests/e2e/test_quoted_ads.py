"""#广告 as a quote reply over real gRPC: the peer sends the quote as padlocal does
(text form, the sender found in the activity log) and as a raw appmsg (the
sender's id in the XML); either way the quoted member is warned."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN, ROOM, LiveBot, eventually
from tests.e2e.test_moderation import enforcing  # noqa: F401  (the fixture)

pytestmark = pytest.mark.e2e

SOFT = "周末来我们店里坐坐，老顾客都知道"


@pytest.mark.parametrize("form", ["text", "xml"])
async def test_an_admins_quoted_ad_warns_the_quoted_member(
    enforcing: LiveBot,  # noqa: F811
    form: str,
) -> None:
    peer = enforcing.peer
    quoted = await peer.cmd("say", sender="wxid_a", room=ROOM, text=SOFT)

    async def logged() -> bool:
        rows = await enforcing.repo.recent_activity(ROOM, 20)
        return any(r.message_id == quoted for r in rows)

    await eventually(logged)
    mark = peer.mark()
    await peer.cmd("send_quote", sender=ADMIN, room=ROOM, quote=quoted, text="#广告", form=form)
    warning = await peer.wait_for_call(
        "messageSendText",
        lambda c: c["args"][0] == ROOM and c["args"][2] == ["wxid_a"],
        timeout=30,
        since=mark,
    )
    assert "请勿" in warning["args"][1]
    answer = await peer.wait_for_call(
        "messageSendText", lambda c: c["args"][2] == [ADMIN], timeout=30, since=mark
    )
    assert "已标记为广告" in answer["args"][1]
