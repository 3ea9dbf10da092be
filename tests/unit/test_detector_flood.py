"""FloodWatch: N messages in T seconds by one member in one group is a flood; the
same or a near-duplicate message in several of the bot's groups is an ad run.
Times are passed in; memory stays bounded however many members talk."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.moderation.detector.flood import (
    DUPLICATE,
    FLOOD,
    FloodLimit,
    FloodWatch,
    default_normalize,
)

_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
AD = "加我微信领取618大额优惠券，名额有限先到先得"


def _send(
    watch: FloodWatch, times: list[float], group: str = "g1", member: str = "m1"
) -> list[bool]:
    return [
        watch.observe(group_id=group, member_id=member, now=t, text=f"msg {i}")[0].hit
        for i, t in enumerate(times)
    ]


@pytest.mark.parametrize(
    ("times", "hits"),
    [
        # limit 3 in 10 s
        ([0, 1, 2], [False, False, True]),
        ([0, 5, 10], [False, False, False]),  # the first is exactly 10 s old: out
        ([0, 5, 9.9], [False, False, True]),
        ([0, 20, 21, 22, 23], [False, False, False, True, True]),
        ([0, 5, 10, 15, 20], [False, False, False, False, False]),  # never 3 within 10 s
    ],
)
def test_a_member_floods_when_the_limit_is_reached_within_the_window(
    times: list[float], hits: list[bool]
) -> None:
    watch = FloodWatch(limit=FloodLimit(max_messages=3, per_seconds=10))
    assert _send(watch, times) == hits


def test_a_flood_result_says_how_many_in_how_long() -> None:
    watch = FloodWatch(limit=FloodLimit(max_messages=2, per_seconds=30))
    first, _ = watch.observe(group_id="g", member_id="m", now=0, text="hi")
    second, _ = watch.observe(group_id="g", member_id="m", now=1, text="hi")
    assert (first.name, first.hit, first.reason) == (FLOOD, False, "未刷屏：30秒内第1条（上限2条）")
    assert (second.hit, second.score, second.reason) == (True, 0.5, "刷屏：30秒内发了2条消息")
    assert second.detail["count"] == "2"


def test_messages_count_per_member_and_per_group() -> None:
    watch = FloodWatch(limit=FloodLimit(max_messages=3, per_seconds=60))
    assert _send(watch, [0, 1], member="a") == [False, False]
    assert _send(watch, [2, 3], member="b") == [False, False]
    assert _send(watch, [4, 5], group="g2", member="a") == [False, False]
    assert _send(watch, [6], member="a") == [True]


def test_a_group_can_have_its_own_stricter_limit() -> None:
    watch = FloodWatch(limit=FloodLimit(max_messages=8, per_seconds=30))
    strict = FloodLimit(max_messages=2, per_seconds=30)
    hits = [
        watch.observe(group_id="g", member_id="m", now=t, text="x", limit=strict)[0].hit
        for t in (0, 1)
    ]
    assert hits == [False, True]


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FloodLimit(max_messages=0)
    with pytest.raises(ValueError):
        FloodLimit(per_seconds=0)


def test_the_same_ad_in_three_groups_is_a_cross_group_duplicate() -> None:
    watch = FloodWatch(dup_groups=3, dup_window=600)
    results = [
        watch.observe(group_id=g, member_id="spammer", now=t, text=AD)[1]
        for g, t in (("g1", 0), ("g2", 30), ("g3", 60))
    ]
    assert [r.hit for r in results] == [False, False, True]
    assert results[0].reason == "未发现跨群重复"
    assert results[1].reason == "同一内容10分钟内出现在2个群（上限2个）"
    assert results[2].name == DUPLICATE
    assert results[2].reason == "同一内容10分钟内出现在3个群（1人发送）"
    assert results[2].score == 0.9


def test_near_duplicates_from_different_accounts_count_as_one_ad_run() -> None:
    watch = FloodWatch(dup_groups=3)
    variants = [
        AD,
        AD + " 8831",  # a random tail
        "ＡＤ " + AD.replace("微信", "微 信"),  # full width and a space
    ]
    results = [
        watch.observe(group_id=f"g{i}", member_id=f"m{i}", now=i * 10, text=text)[1]
        for i, text in enumerate(variants)
    ]
    assert results[-1].hit
    assert results[-1].detail["members"] == "3"


def test_a_different_message_in_other_groups_is_no_duplicate() -> None:
    watch = FloodWatch(dup_groups=2)
    watch.observe(group_id="g1", member_id="a", now=0, text=AD)
    _, other = watch.observe(
        group_id="g2", member_id="b", now=1, text="明天上午十点在三楼会议室开周会，请准时参加"
    )
    assert not other.hit


def test_the_same_text_repeated_in_one_group_is_no_cross_group_duplicate() -> None:
    watch = FloodWatch(dup_groups=2)
    results = [watch.observe(group_id="g1", member_id="m", now=t, text=AD)[1] for t in range(5)]
    assert not any(r.hit for r in results)


def test_copies_older_than_the_window_are_forgotten() -> None:
    watch = FloodWatch(dup_groups=2, dup_window=600)
    watch.observe(group_id="g1", member_id="m", now=0, text=AD)
    _, late = watch.observe(group_id="g2", member_id="m", now=600, text=AD)
    assert not late.hit
    _, soon = watch.observe(group_id="g3", member_id="m", now=601, text=AD)
    assert soon.hit


@pytest.mark.parametrize("text", ["好的", "收到收到", "早上好", "", None])
def test_short_messages_are_not_checked_for_duplicates(text: str | None) -> None:
    watch = FloodWatch(dup_groups=2)
    for group in ("g1", "g2", "g3"):
        _, result = watch.observe(group_id=group, member_id="m", now=0, text=text)
    assert not result.hit
    assert result.reason == "消息太短或无内容，不查跨群重复"


def test_the_same_image_in_several_groups_is_a_duplicate_by_its_content_key() -> None:
    watch = FloodWatch(dup_groups=2)
    watch.observe(group_id="g1", member_id="m", now=0, content_key="md5:abc")
    _, other = watch.observe(group_id="g2", member_id="n", now=1, content_key="md5:def")
    _, same = watch.observe(group_id="g2", member_id="n", now=2, content_key="md5:abc")
    assert (other.hit, same.hit) == (False, True)


def test_the_normaliser_is_a_parameter() -> None:
    def digits_folded(text: str) -> str:
        return default_normalize(text).replace("①", "1").replace("〇", "0")

    watch = FloodWatch(dup_groups=2, similarity=1.0, normalize=digits_folded)
    watch.observe(group_id="g1", member_id="m", now=0, text="加V信1350000")
    _, folded = watch.observe(group_id="g2", member_id="m", now=1, text="加v信①35〇〇〇〇")
    assert folded.hit


def test_memory_stays_bounded_with_many_members_over_time() -> None:
    rnd = random.Random(7)
    watch = FloodWatch(limit=FloodLimit(8, 30), dup_window=600)
    now = 0.0
    for i in range(20_000):
        now += 0.05  # 20 messages a second, each from a new member
        text = "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(8, 30)))
        watch.observe(group_id=f"g{i % 200}", member_id=f"m{i}", now=now, text=text)
    # Only the last 30 s of members and the last 600 s of messages are kept.
    assert watch.tracked_members <= 30 / 0.05 + 1
    assert watch.recent_messages <= 600 / 0.05 + 1
    assert len(watch._index) <= watch.recent_messages * 6


def test_many_messages_alike_but_not_copies_stay_apart_and_cheap() -> None:
    watch = FloodWatch(dup_groups=2)
    results = [
        watch.observe(
            group_id=f"g{i % 50}", member_id=f"m{i}", now=i * 0.1, text=f"第{i}条：今天的天气"
        )[1]
        for i in range(1_000, 4_000)  # four digits: about 0.6 alike
    ]
    assert not any(r.hit for r in results)


def test_hard_caps_evict_the_oldest_first() -> None:
    watch = FloodWatch(limit=FloodLimit(8, 10**9), max_members=100, max_recent=50, dup_window=10**9)
    for i in range(1_000):
        watch.observe(
            group_id="g", member_id=f"m{i}", now=float(i), text=f"{i} 号的一段足够长的消息"
        )
    assert watch.tracked_members == 100
    assert watch.recent_messages == 50


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["g1", "g2", "g3"]),
            st.sampled_from(["a", "b"]),
            st.floats(min_value=0, max_value=5, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_a_flood_hit_means_the_limit_was_reached_within_the_window(
    steps: list[tuple[str, str, float]],
) -> None:
    limit = FloodLimit(max_messages=4, per_seconds=10)
    watch = FloodWatch(limit=limit)
    now = 0.0
    sent: dict[tuple[str, str], list[float]] = {}
    for group, member, gap in steps:
        now += gap
        result, _ = watch.observe(group_id=group, member_id=member, now=now, text="x")
        times = sent.setdefault((group, member), [])
        times.append(now)
        in_window = sum(1 for t in times if t > now - limit.per_seconds)
        assert result.hit is (in_window >= limit.max_messages)
