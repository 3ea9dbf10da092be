"""Deterministic action keys and validity windows (bot.keys), and the
commands handler's per-member bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import CommandsConfig
from bot.vocab.actions import Say
from bot.vocab.events import JoinEvent
from bot.vocab.keys import (
    KEY_MAX_LENGTH,
    action_key,
    digest,
    event_key,
    stamp,
    time_bucket,
    valid_until,
)
from handlers.command_router import MemberLimits

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def test_a_key_is_readable_and_the_same_for_the_same_parts() -> None:
    assert action_key("reply", "r1@chatroom", "wxid_a", 42) == "reply:r1@chatroom:wxid_a:42"
    assert action_key("reply", "r", "m", 1) != action_key("reply", "r", "m", 2)


def test_free_text_long_parts_and_separators_are_hashed_so_keys_stay_unambiguous() -> None:
    # "a:b" + "c" must not collide with "a" + "b:c".
    assert action_key("x", "a:b", "c") != action_key("x", "a", "b:c")
    text = "有\n换行"
    assert action_key("x", text) == "x:#" + digest(text)
    long = action_key("x", *["p" * 60] * 10)
    assert len(long) <= KEY_MAX_LENGTH and long.startswith("x:")
    assert long == action_key("x", *["p" * 60] * 10)
    with pytest.raises(ValueError):
        action_key()


def test_a_time_bucket_groups_moments_less_than_its_length_apart() -> None:
    start = datetime.fromtimestamp(60 * 1000, UTC)
    assert time_bucket(start, 60) == time_bucket(start + timedelta(seconds=59.9), 60)
    assert time_bucket(start, 60) + 1 == time_bucket(start + timedelta(seconds=60), 60)
    with pytest.raises(ValueError):
        time_bucket(start.replace(tzinfo=None), 60)
    with pytest.raises(ValueError):
        time_bucket(start, 0)


def test_valid_until_adds_the_window_to_an_aware_time() -> None:
    assert valid_until(T0, 120) == T0 + timedelta(minutes=2)
    with pytest.raises(ValueError):
        valid_until(T0.replace(tzinfo=None), 120)


def test_member_limits_count_answers_in_a_sliding_window_per_room_and_member() -> None:
    limits = MemberLimits()
    a = ("r1", "wxid_a")
    for t in (0.0, 1.0, 2.0):
        assert not limits.over_limit(a, t, limit=3, window=60)
        limits.answered(a, f"reply {t}", t, horizon=60)
    assert limits.over_limit(a, 30.0, limit=3, window=60)
    assert not limits.over_limit(("r2", "wxid_a"), 30.0, limit=3, window=60)  # another group
    assert not limits.over_limit(a, 60.5, limit=3, window=60)  # the first answer aged out


def test_member_limits_remember_each_reply_for_the_repeat_window() -> None:
    limits = MemberLimits()
    a = ("r1", "wxid_a")
    limits.answered(a, "群规", 0.0, horizon=60)
    assert limits.repeated(a, "群规", 59.0, window=60)
    assert not limits.repeated(a, "帮助", 59.0, window=60)
    assert not limits.repeated(("r1", "wxid_b"), "群规", 59.0, window=60)
    assert not limits.repeated(a, "群规", 60.0, window=60)


def test_member_limits_forget_members_who_went_quiet() -> None:
    limits = MemberLimits()
    for i in range(1000):
        limits.answered(("r1", f"m{i}"), "帮助", float(i) / 100, horizon=60)
    assert len(limits) == 2000  # each member, and the reply each got
    limits.answered(("r1", "late"), "帮助", 200.0, horizon=60)
    assert len(limits) == 2  # the late member and its reply


def test_command_limits_are_configurable_and_refuse_booleans() -> None:
    cfg = CommandsConfig(max_per_member=3, repeat_window_seconds=0, reply_valid_seconds=300)
    assert (cfg.max_per_member, cfg.limit_window_seconds) == (3, 60)
    defaults = CommandsConfig()
    assert (defaults.repeat_window_seconds, defaults.reply_valid_seconds) == (60, 120)
    with pytest.raises(ValueError):
        CommandsConfig(max_per_member=True)
    with pytest.raises(ValueError):
        CommandsConfig(reply_valid_seconds=1)


def test_an_action_decided_twice_about_the_same_event_gets_the_same_key() -> None:
    join = JoinEvent("r1@chatroom", ("wxid_a",), "wxid_admin", T0)
    replayed = JoinEvent("r1@chatroom", ("wxid_a",), "wxid_admin", T0)
    later = JoinEvent("r1@chatroom", ("wxid_a",), "wxid_admin", T0 + timedelta(hours=1))
    say = Say(room="r1@chatroom", text="欢迎")
    first = stamp(say, origin="welcome", cause=event_key(join), index=0, at=T0)
    again = stamp(say, origin="welcome", cause=event_key(replayed), index=0, at=T0)
    other = stamp(say, origin="welcome", cause=event_key(later), index=0, at=T0)
    second = stamp(say, origin="welcome", cause=event_key(join), index=1, at=T0)
    assert first.key == again.key
    assert len({first.key, other.key, second.key}) == 3
    assert first.not_after == T0 + timedelta(seconds=120)  # a reply's window by default


def test_stamp_keeps_a_key_and_a_window_the_decider_gave() -> None:
    say = Say(room="r1@chatroom", text="x", key="mine", not_after=T0 + timedelta(days=1))
    assert stamp(say, origin="f", cause="c", index=0, at=T0) is say
