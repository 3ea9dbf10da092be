"""Command parsing shared by every feature: prefix, name, arguments, @mentions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.vocab.events import MessageEvent, MessageKind
from handlers.parsing import parse_command, prefixes

AT = datetime(2026, 1, 5, tzinfo=UTC)


def msg(
    text: str, mentions: tuple[str, ...] = (), kind: MessageKind = MessageKind.TEXT
) -> MessageEvent:
    return MessageEvent("m1", "r@chatroom", "wxid_a", "阿甲", kind, text, AT, mentions)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("#签到", "签到", ""),
        ("＃签到", "签到", ""),  # full-width, as Chinese keyboards type it
        ("  # 签到  ", "签到", ""),
        ("#HELP", "help", ""),
        ("#抽奖 明天 晚上", "抽奖", "明天 晚上"),
        ("#转赠\u3000券A", "转赠\u3000券a", ""),  # an ideographic space is part of the name
    ],
)
def test_a_command_is_its_name_and_arguments(text: str, name: str, args: str) -> None:
    cmd = parse_command(msg(text), "#")
    assert cmd is not None and (cmd.name, cmd.args) == (name, args)


@pytest.mark.parametrize(
    "text",
    ["签到", "#", "#今日话题# 大家周末去哪玩", "#一二三四五六七八九", "# ", "#" + "x" * 300],
)
def test_chat_is_not_a_command(text: str) -> None:
    assert parse_command(msg(text), "#") is None


def test_a_non_text_message_is_not_a_command() -> None:
    assert parse_command(msg("#签到", kind=MessageKind.IMAGE), "#") is None


def test_mentions_are_account_ids_and_leave_the_arguments() -> None:
    cmd = parse_command(msg("#加分 @阿甲\u2005 5 积极分享", ("wxid_a", "wxid_a")), "#")
    assert cmd is not None
    assert cmd.mentions == ("wxid_a",)
    assert cmd.args == "5 积极分享" and cmd.words == ("5", "积极分享")


def test_a_name_typed_like_a_mention_is_not_a_mention_without_an_id() -> None:
    cmd = parse_command(msg("#加分 @群主 5"), "#")  # nobody was really mentioned
    assert cmd is not None and cmd.mentions == () and cmd.args == "@群主 5"


def test_a_configured_prefix_is_matched_in_its_full_width_form_too() -> None:
    assert prefixes("!") == ("!", "！")
    cmd = parse_command(msg("！签到"), "!")
    assert cmd is not None and cmd.name == "签到" and cmd.prefix == "!"


@given(st.text(max_size=300))
def test_parsing_never_raises_and_a_name_never_holds_a_space(text: str) -> None:
    cmd = parse_command(msg(text), "#")
    if cmd is not None:
        assert cmd.name and " " not in cmd.name and len(cmd.name) <= 8
