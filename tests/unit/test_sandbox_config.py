"""sandbox.yaml: the simulated members and groups, apart from the production bot.yaml."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from bot.config import ConfigError, ConfigIssue, load_config, validate_config_text
from bot.sandbox_file import default_sandbox_path, load_sandbox, validate_sandbox_text

REPO = Path(__file__).resolve().parents[2]


def issues_of(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        validate_sandbox_text(textwrap.dedent(text), "sandbox.yaml")
    return info.value.issues


def test_the_shipped_sandbox_plays_the_groups_and_people_bot_yaml_names() -> None:
    cfg = load_config(REPO / "bot.yaml")
    world = load_sandbox(default_sandbox_path(cfg))
    ids = {m.id for m in world.members}
    assert set(cfg.owners) <= ids and set(cfg.admins) <= ids
    assert {g.room_id for g in world.groups} == set(cfg.groups)
    assert 5 <= len(world.members) <= 8


def test_the_readme_examples_work_from_the_group_the_console_starts_in() -> None:
    world = load_sandbox(REPO / "sandbox.yaml")
    first = world.groups[0]
    assert {"wxid_zhangsan", "wxid_tuiguang", "wxid_xiaoli"} <= set(first.member_ids)


def test_a_sandbox_section_in_bot_yaml_says_where_it_moved() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config_text("owners: [wxid_a]\nsandbox:\n  members: []\n", "bot.yaml")
    (issue,) = info.value.issues
    assert (issue.line, issue.field) == (2, "sandbox")
    assert "sandbox.yaml" in issue.message and "move" in issue.message


def test_sandbox_references_are_checked_with_file_and_line() -> None:
    issues = issues_of(
        """\
        account: {id: wxid_bot, name: 群管家}
        members:
          - {id: wxid_a, name: A}
          - {id: wxid_a, name: B}
        groups:
          - room_id: 1@chatroom
            topic: 一群
            owner_id: wxid_a
            member_ids: [wxid_a, wxid_ghost]
          - room_id: 2@chatroom
            topic: 二群
            owner_id: wxid_x
        """
    )
    assert [(i.file, i.line, i.field) for i in issues] == [
        ("sandbox.yaml", 4, "members[1].id"),
        ("sandbox.yaml", 9, "groups[0].member_ids[1]"),
        ("sandbox.yaml", 12, "groups[1].owner_id"),
    ]
    assert "wxid_ghost" in issues[1].message


def test_missing_required_field_points_at_the_parent() -> None:
    (issue,) = issues_of("account:\n  id: wxid_bot\n")
    assert (issue.line, issue.column, issue.field) == (1, 1, "account.name")
    assert "missing" in issue.message


def test_unknown_keys_and_invisible_ids_are_refused() -> None:
    (issue,) = issues_of("memebers: []\n")
    assert issue.field == "memebers" and issue.line == 1
    escaped = json.dumps("wxid_\u200bboss")
    (issue,) = issues_of(f"members: [{{id: {escaped}, name: x}}]\n")
    assert issue.field == "members[0].id" and "invisible" in issue.message


def test_a_missing_sandbox_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_sandbox(tmp_path / "sandbox.yaml")
    assert "sandbox.yaml beside bot.yaml" in str(info.value)
