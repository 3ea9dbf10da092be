"""Risk-control detection, send-retry classification, and the pauses table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.governor import Governor, GovernorSettings, Refusal, RefusalCode, short_error
from bot.vocab.actions import ActionKind, Say, to_payload
from handlers.pauses import parse_kind
from storage.outbox_retry import OutboxRetries
from storage.pauses import PauseStore
from storage.types import NewOutboxItem
from tests.unit.conftest import Store

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
K = ActionKind


def at(minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- risk-control detection ---------------------------------------------------------

RISK = [
    "操作过于频繁",
    "Error: 操作过于频繁，请稍后再试",
    "请求频繁",
    "发送频率过快",
    "触发风控",
    "Error: Too many attempts. Try again later",
    "429 Too Many Requests",
    "too  many-requests",
    "rate limit exceeded",
    "Rate-limited by server",
    "frequency limit reached",
    "errcode=20001",
    "code: 20001.",
    "ret -20001",
    "error 20001 (send)",
    "错误码20001",
    "RISK control",
    "risk-control triggered",
    # A risk marker wins over a connection error: never retried.
    "ECONNRESET after 操作过于频繁",
]

NOT_RISK = [
    "contact wxid_riskfree not found",
    "room risky_deals@chatroom not found",
    "room 120001@chatroom not found",
    "room 20001@chatroom not found",
    "msg id 200011 not found",
    "120001",
    "wxid_20001x is not a friend",
    "asterisk",
    "the risk",
    "connection reset",
    "timeout after 30 s",
    "",
]


@pytest.mark.parametrize("error", RISK)
def test_risk_control_errors_pause(error: str) -> None:
    g = Governor()
    assert g.is_risk_error(error)
    assert g.trip(K.MESSAGE, 0.0, error) is True
    assert g.risk_marker(error)


@pytest.mark.parametrize("error", NOT_RISK)
def test_texts_that_only_contain_risk_or_20001_inside_an_id_do_not_pause(error: str) -> None:
    g = Governor()
    assert not g.is_risk_error(error)
    assert g.trip(K.MESSAGE, 0.0, error) is False


def test_risk_markers_are_configurable_and_still_whole_tokens() -> None:
    g = Governor(GovernorSettings(risk_markers=("blocked", "42")))
    assert g.is_risk_error("account blocked") and g.is_risk_error("code 42")
    assert not g.is_risk_error("操作过于频繁")
    assert not g.is_risk_error("wxid_blocked_user") and not g.is_risk_error("1420")


# -- transient errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        "SandboxPuppetError: read ECONNRESET",
        "GRPCError: (<Status.UNAVAILABLE: 14>, 'No connection established', None)",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "Error: not logged in",
    ],
)
def test_calls_that_did_not_get_through_are_retried(error: str) -> None:
    assert Governor().is_transient_error(error)


@pytest.mark.parametrize(
    "error",
    [
        "SandboxPuppetError: 操作过于频繁",
        "ECONNRESET: Too Many Requests",  # a refusal is never retried
        "SandboxPuppetError: room r1@chatroom not found",
        "ActionFailed: a Say needs a room or a contact",
        "contact wxid_timeoutking not found",  # not a token
        "",
        # It may have reached WeChat: a retry could post twice.
        "TimeoutError: ",
        "StreamTerminatedError: Connection lost",
        "Error: socket hang up",
        "request timed out",
        "GRPCError: (<Status.DEADLINE_EXCEEDED: 4>, 'Deadline exceeded', None)",
    ],
)
def test_refusals_errors_and_maybe_delivered_calls_are_not_retried(error: str) -> None:
    assert not Governor().is_transient_error(error)


def test_retry_delays_follow_the_backoff_then_give_up() -> None:
    g = Governor()
    assert [g.retry_delay(n) for n in (1, 2, 3, 4)] == [5.0, 30.0, 120.0, None]
    assert Governor(GovernorSettings(retry_backoff_s=())).retry_delay(1) is None


def test_retry_backoff_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        GovernorSettings(retry_backoff_s=(0.1,))


def test_short_error_drops_stack_frames_and_exception_names() -> None:
    node = (
        "Error: 操作过于频繁\n"
        "    at PuppetXp.messageSendText (/app/node_modules/x.js:10:5)\n"
        "    at async PuppetServer.say (/app/server.js:1:1)"
    )
    assert short_error(node) == "操作过于频繁"
    assert short_error("GRPCError: boom\nTraceback (most recent call last):") == "boom"
    assert len(short_error("x" * 500)) == 160


# -- governor pauses ------------------------------------------------------------------


def test_a_restored_pause_refuses_until_it_ends_and_never_shortens() -> None:
    g = Governor()
    g.restore(K.MESSAGE, 500.0, "操作过于频繁")
    r = g.earliest(K.RICH, "a", 100.0)  # a message pause stops rich messages too
    assert isinstance(r, Refusal) and r.code is RefusalCode.BREAKER and r.until == 500.0
    g.restore(K.MESSAGE, 300.0)
    assert g.open_pauses(100.0) == {K.MESSAGE: 500.0}
    assert g.open_pauses(500.0) == {}
    g.close(K.MESSAGE)
    assert not g.is_open(K.MESSAGE, 100.0)


def test_kind_words_an_owner_may_write() -> None:
    assert parse_kind("message") is K.MESSAGE and parse_kind("消息") is K.MESSAGE
    assert parse_kind("REMOVE") is K.REMOVE and parse_kind("踢人") is K.REMOVE
    assert parse_kind("all") == "all" and parse_kind("全部") == "all"
    assert parse_kind("say") is None


# -- storage ---------------------------------------------------------------------------


async def test_a_pause_is_stored_per_account_and_extended_not_doubled(store: Store) -> None:
    pauses = PauseStore(store.sessions)
    first = await pauses.open("wxid_bot", "message", at(0), at(60), "操作过于频繁")
    again = await pauses.open("wxid_bot", "message", at(1), at(61), "Too many attempts")
    await pauses.open("wxid_other", "message", at(0), at(30), "风控")
    assert again.id == first.id and again.until == at(61) and again.error == "Too many attempts"
    mine = await pauses.open_pauses("wxid_bot", at(2))
    assert [(p.kind, p.until) for p in mine] == [("message", at(61))]
    assert {p.account_id for p in await pauses.open_pauses(None, at(2))} == {
        "wxid_bot",
        "wxid_other",
    }
    assert await pauses.open_pauses("wxid_bot", at(61)) == []  # ended


async def test_closing_a_pause_records_who_and_touches_only_that_account(store: Store) -> None:
    pauses = PauseStore(store.sessions)
    await pauses.open("wxid_bot", "remove", at(0), at(60), "操作过于频繁")
    await pauses.open("wxid_other", "remove", at(0), at(60), "操作过于频繁")
    closed = await pauses.close("wxid_bot", "remove", at(5), "wxid_owner")
    assert [(p.closed_at, p.closed_by) for p in closed] == [(at(5), "wxid_owner")]
    assert await pauses.open_pauses("wxid_bot", at(6)) == []
    assert len(await pauses.open_pauses("wxid_other", at(6))) == 1
    assert await pauses.close("wxid_bot", "remove", at(7), "wxid_owner") == []
    history = await pauses.history("wxid_bot")
    assert [h.closed_by for h in history] == ["wxid_owner"]
    # A new error after an early close opens a new pause.
    reopened = await pauses.open("wxid_bot", "remove", at(8), at(68), "20001")
    assert reopened.id != closed[0].id


async def test_a_retry_puts_a_claimed_action_back_with_its_not_before(store: Store) -> None:
    retries = OutboxRetries(store.sessions)
    say = Say(room="r1@chatroom", text="hi", key="k1")
    new = NewOutboxItem(
        key="k1",
        action="say",
        payload=to_payload(say),
        kind="message",
        room_id="r1@chatroom",
        priority=2,
        created_at=at(0),
    )
    await store.repo.outbox_add([new])
    assert not await retries.retry_later("k1", at(0), at(1), "ECONNRESET")  # not claimed
    assert await store.repo.outbox_claim("k1", at(0))
    assert await retries.retry_later("k1", at(0), at(1), "ECONNRESET")
    item = await store.repo.outbox_get("k1")
    assert item is not None and (item.status, item.attempts) == ("pending", 1)
    assert item.error == "ECONNRESET"
    assert await retries.not_before() == {"k1": at(1)}
    assert await store.repo.outbox_claim("k1", at(1))  # and it can be claimed again
    assert await store.repo.outbox_finish("k1", "done", at(1))
    assert await retries.not_before() == {}


# -- the command line ----------------------------------------------------------------


async def _open_pause(db: str, account: str, kind: str) -> None:
    from storage.db import create_engine, session_factory, upgrade

    engine = create_engine(db)
    try:
        await upgrade(engine)
        now = datetime.now(UTC)
        until = now + timedelta(days=30)  # far from any test's run time
        await PauseStore(session_factory(engine)).open(account, kind, now, until, "操作过于频繁")
    finally:
        await engine.dispose()


def test_status_lists_open_pauses_and_pause_clear_closes_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import json

    from bot.cli import main

    for name in ("DATABASE_URL", "QUNBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "bot.yaml"
    config.write_text(
        "bot: {account: wxid_bot}\ndatabase: {url: 'sqlite+aiosqlite:///data/q.db'}\n",
        encoding="utf-8",
    )
    db = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'q.db'}"
    asyncio.run(_open_pause(db, "wxid_bot", "remove"))
    asyncio.run(_open_pause(db, "wxid_bot2", "message"))

    assert main(["-c", str(config), "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Only this config's account: another bot's pauses are its own business.
    assert [(p["account_id"], p["kind"]) for p in report["pauses"]] == [("wxid_bot", "remove")]
    assert all(p["until"] and p["error"] == "操作过于频繁" for p in report["pauses"])

    assert main(["-c", str(config), "pause", "clear", "say"]) == 2  # no such kind
    assert "one of message" in capsys.readouterr().err
    assert main(["-c", str(config), "pause", "clear", "remove"]) == 0
    assert "closed the remove pause of wxid_bot" in capsys.readouterr().out
    assert main(["-c", str(config), "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pauses"] == []
    assert report["recent_audit"][0]["action"] == "close_pause"
