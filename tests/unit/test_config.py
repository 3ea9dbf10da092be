"""bot.yaml: models, error locations, env overrides, policy resolution, schema."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from bot.config import (
    DEFAULT_DATABASE_URL,
    MAX_CONFIG_BYTES,
    MAX_YAML_DEPTH,
    WELCOME_PLACEHOLDERS,
    BotConfig,
    BotSettings,
    ConfigError,
    ConfigIssue,
    Profile,
    WelcomePolicy,
    config_json_schema,
    effective_database_url,
    effective_endpoint,
    load_config,
    resolve_all,
    resolve_policy,
    template_placeholders,
    validate_config_text,
)
from bot.vocab.texts import render

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "bot.yaml"


def issues_of(text: str, filename: str = "bot.yaml") -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        validate_config_text(textwrap.dedent(text), filename)
    assert info.value.issues, "a ConfigError always carries issues"
    return info.value.issues


def one_issue(text: str) -> ConfigIssue:
    issues = issues_of(text)
    assert len(issues) == 1, issues
    return issues[0]


def cfg_of(text: str) -> BotConfig:
    return validate_config_text(textwrap.dedent(text))


# --------------------------------------------------------------------------
# The shipped example
# --------------------------------------------------------------------------


def test_shipped_bot_yaml_loads() -> None:
    cfg = load_config(SHIPPED)
    assert cfg.transport.kind == "sandbox"
    assert cfg.database.url.startswith("sqlite+aiosqlite:///data/")
    assert cfg.owners
    assert cfg.warnings == ()  # no old key names in the shipped file
    assert {g.profile for g in cfg.groups.values()} == {"vip", "member"}
    assert cfg.profile("vip") is not None and cfg.profile("vip").chain == ("vip", "super")
    assert any(g.sections().get("welcome") for g in cfg.groups.values())
    assert any(g.tags for g in cfg.groups.values())
    assert cfg.source_path == SHIPPED
    # one-line texts with " #" are quoted, so no part became a YAML comment
    default = cfg_of("bot: {}\n")
    assert cfg.bot.intro == default.bot.intro
    assert cfg.commands.unknown == default.commands.unknown
    assert cfg.commands.help.strip() == default.commands.help
    for policy in resolve_all(cfg).values():
        text = render(policy.welcome.template, policy)
        assert "1. " in text and "{" not in text
        assert policy.welcome.name_card_format in text


def test_shipped_database_is_under_data_next_to_the_file() -> None:
    cfg = load_config(SHIPPED)
    assert effective_database_url(cfg, {}) == f"sqlite+aiosqlite:///{REPO / 'data' / 'qunbot.db'}"


def test_minimal_file_gets_defaults() -> None:
    cfg = cfg_of("bot: {}\n")
    assert cfg.bot.name == "群管家"
    assert cfg.bot.timezone == "Asia/Shanghai"
    assert str(cfg.bot.tz) == "Asia/Shanghai"
    assert cfg.transport.kind == "sandbox" and cfg.transport.endpoint is None
    assert cfg.database.url == DEFAULT_DATABASE_URL
    assert cfg.commands.prefix == "#"
    assert cfg.bot.reminder_check_minutes == 10
    assert cfg.activity.max_text_length == 2000
    assert cfg.activity.flush_interval_seconds == 0.2
    assert cfg.activity.flush_max_rows == 500
    assert cfg.groups == {}


def profile_of(cfg: BotConfig, name: str) -> Profile:
    profile = cfg.profile(name)
    assert profile is not None, name
    return profile


def test_builtin_profiles_differ_as_the_playbook_says() -> None:
    cfg = cfg_of("bot: {}\n")
    assert cfg.profile_names() == ["super", "member", "flash"]
    sup, mem, fla = (profile_of(cfg, n).welcome for n in ("super", "member", "flash"))
    assert sup.reminder_after_hours > 0 and mem.reminder_after_hours > 0
    assert fla.reminder_after_hours == 0
    assert len(sup.rules) > len(mem.rules) > 0
    assert len(fla.template) < len(sup.template)
    assert "{self_intro_prompt}" in sup.template and "{name_card_format}" in sup.template
    assert sup.name_card_format == "城市-行业-昵称"
    assert WelcomePolicy() == mem  # the model's own defaults are the member profile's


def test_partial_builtin_profile_keeps_that_profiles_defaults() -> None:
    cfg = cfg_of(
        """
        profiles:
          super:
            welcome:
              window_seconds: 42
          flash:
        """
    )
    builtin = cfg_of("bot: {}\n")
    assert profile_of(cfg, "super").welcome.window_seconds == 42
    assert profile_of(cfg, "super").welcome.rules == profile_of(builtin, "super").welcome.rules
    assert profile_of(cfg, "flash") == profile_of(builtin, "flash")


def test_empty_sections_and_bare_group_ids_mean_defaults() -> None:
    cfg = cfg_of(
        """
        bot:
        groups:
          1@chatroom:
        """
    )
    assert cfg.groups["1@chatroom"].profile == "member"
    assert cfg.groups["1@chatroom"].managed


# --------------------------------------------------------------------------
# Errors: file, line, column, field, message
# --------------------------------------------------------------------------


def test_error_format_one_issue_per_line() -> None:
    err = ConfigError(
        [
            ConfigIssue("bot.yaml", 12, 5, "groups.r1@chatroom.tier", "bad"),
            ConfigIssue("bot.yaml", None, None, "", "config file not found"),
        ]
    )
    assert str(err).splitlines() == [
        "bot.yaml:12:5: groups.r1@chatroom.tier: bad",
        "bot.yaml: config file not found",
    ]
    assert isinstance(err, Exception)


def test_unknown_profile_points_at_the_value_and_suggests() -> None:
    text = """\
        bot:
          name: 群管家
        groups:
          r1@chatroom:
            name: 一群
            profile: supr
        """
    issue = one_issue(text)
    assert (issue.line, issue.column) == (6, 14)
    assert issue.field == "groups.r1@chatroom.profile"
    assert str(issue) == (
        "bot.yaml:6:14: groups.r1@chatroom.profile: unknown profile 'supr'; "
        "did you mean 'super'? profiles: flash, member, super"
    )


def test_unknown_key_at_depth_points_at_the_key_and_suggests() -> None:
    issue = one_issue(
        """\
        groups:
          r1@chatroom:
            welcome:
              windw_seconds: 3
        """
    )
    assert (issue.line, issue.column) == (4, 7)
    assert issue.field == "groups.r1@chatroom.welcome.windw_seconds"
    assert "unknown key 'windw_seconds'" in issue.message
    assert "window_seconds" in issue.message


def test_unknown_top_level_section_lists_allowed_keys() -> None:
    issue = one_issue("bot: {}\nzzz: 1\n")
    assert (issue.line, issue.column, issue.field) == (2, 1, "zzz")
    assert "transport" in issue.message and "groups" in issue.message


def test_wrong_type_and_range() -> None:
    issues = issues_of(
        """\
        groups:
          r1@chatroom:
            welcome:
              window_seconds: abc
              max_mentions: 50
        activity:
          max_text_length: 10
        """
    )
    got = [(i.line, i.column, i.field) for i in issues]
    assert got == [
        (4, 23, "groups.r1@chatroom.welcome.window_seconds"),
        (5, 21, "groups.r1@chatroom.welcome.max_mentions"),
        (7, 20, "activity.max_text_length"),
    ]
    assert "valid number" in issues[0].message
    assert "20" in issues[1].message
    assert "100" in issues[2].message


def test_window_must_be_positive_and_reminder_zero_is_allowed() -> None:
    issue = one_issue("tiers:\n  member:\n    welcome:\n      window_seconds: 0\n")
    assert issue.field == "tiers.member.welcome.window_seconds"
    assert cfg_of("tiers: {member: {welcome: {reminder_after_hours: 0}}}\n")


def test_bad_room_id() -> None:
    issue = one_issue(
        """\
        groups:
          r1@chatroom: {tier: super}
          读书会:
            tier: member
        """
    )
    assert (issue.line, issue.column, issue.field) == (3, 3, "groups.读书会")
    assert "12345678@chatroom" in issue.message


def test_non_text_room_id() -> None:
    issue = one_issue("groups:\n  123: {}\n")
    assert (issue.line, issue.column, issue.field) == (2, 3, "groups.123")


def test_bad_timezone() -> None:
    issue = one_issue("bot:\n  timezone: Mars/Olympus\n")
    assert (issue.line, issue.column, issue.field) == (2, 13, "bot.timezone")
    assert "Mars/Olympus" in issue.message


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ('"欢迎 {foo}"', "unknown placeholder '{foo}'"),
        ('"欢迎 {group"', "broken braces"),
        ('"欢迎 }"', "broken braces"),
        ('"{} 欢迎"', "positional"),
        ('"{group.name}"', "unknown placeholder"),
        ('"{group!r}"', "no format spec"),
    ],
)
def test_bad_template_placeholder(template: str, needle: str) -> None:
    issue = one_issue(f"groups:\n  r1@chatroom:\n    welcome:\n      template: {template}\n")
    assert (issue.line, issue.column) == (4, 17)
    assert issue.field == "groups.r1@chatroom.welcome.template"
    assert needle in issue.message


def test_template_literal_braces_and_block_scalars_are_fine() -> None:
    cfg = cfg_of(
        """
        profiles:
          member:
            welcome:
              template: |
                欢迎！{{不是占位符}}
                {rules}
        """
    )
    policy = resolve_policy(cfg, "x@chatroom", "member")
    assert policy is not None
    assert "{不是占位符}" in render(policy.welcome.template, policy)


def test_unquoted_brace_template_gets_a_hint() -> None:
    issue = one_issue("groups:\n  r1@chatroom:\n    welcome:\n      template: {mentions}\n")
    assert issue.field == "groups.r1@chatroom.welcome.template"
    assert "quoted" in issue.message
    issue = one_issue("groups:\n  r1@chatroom:\n    welcome:\n      template: {mentions} 你好\n")
    assert issue.field == "" and issue.line == 4 and "quoted" in issue.message


def test_other_bot_texts_are_templates_too() -> None:
    cfg = cfg_of("commands:\n  help: '{bot_name} 在 {group}'\n")
    assert cfg.commands.help == "{bot_name} 在 {group}"
    issue = one_issue("commands:\n  help: '{prefix}帮助'\n")
    assert issue.field == "commands.help" and "{prefix}" in issue.message
    issue = one_issue("bot:\n  intro: '大家好 {foo}'\n")
    assert issue.field == "bot.intro"


def test_default_command_texts_follow_the_prefix() -> None:
    default = cfg_of("bot: {}\n")
    assert "#帮助" in default.commands.help and "#帮助" in default.bot.intro
    cfg = cfg_of("commands:\n  prefix: '/'\n")
    assert "/帮助" in cfg.commands.help and "#" not in cfg.commands.help
    assert "/帮助" in cfg.commands.unknown and "/帮助" in cfg.bot.intro
    own = cfg_of("commands:\n  prefix: '/'\n  help: 自己写的\nbot:\n  intro: 你好\n")
    assert own.commands.help == "自己写的" and own.bot.intro == "你好"
    assert one_issue("commands:\n  prefix: '{'\n").field == "commands.prefix"
    assert one_issue("commands:\n  prefix: '# '\n").field == "commands.prefix"


def test_token_key_is_rejected_with_env_hint() -> None:
    issue = one_issue(
        """\
        transport:
          kind: wechaty
          endpoint: 127.0.0.1:8788
          token: puppet_padlocal_xxx
        owners: [wxid_owner]
        """
    )
    assert (issue.line, issue.column, issue.field) == (4, 3, "transport.token")
    assert "WECHATY_PUPPET_SERVICE_TOKEN" in issue.message


@pytest.mark.parametrize("endpoint", ["localhost", "host:0", "host:99999", "a b:1", "http://h:1"])
def test_bad_endpoint(endpoint: str) -> None:
    issue = one_issue(f"transport:\n  endpoint: '{endpoint}'\n")
    assert (issue.line, issue.field) == (2, "transport.endpoint")


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8788", "puppet.example.com:443", "[::1]:8788"])
def test_good_endpoint(endpoint: str) -> None:
    assert cfg_of(f"transport:\n  endpoint: '{endpoint}'\n").transport.endpoint == endpoint


def test_wechaty_needs_an_owner() -> None:
    issue = one_issue("transport:\n  kind: wechaty\nowners: []\n")
    assert (issue.line, issue.field) == (3, "owners")
    issue = one_issue("transport:\n  kind: wechaty\n")
    assert (issue.line, issue.column, issue.field) == (2, 9, "transport.kind")
    assert cfg_of("transport:\n  kind: wechaty\nowners: [wxid_boss]\n")


def test_duplicate_and_display_name_ids() -> None:
    issues = issues_of(
        """\
        owners: [wxid_a, wxid_b, wxid_a]
        admins:
          - wxid_c
          - 小李
        groups:
          r1@chatroom:
            admins: [wxid_d, wxid_d]
        """
    )
    got = [(i.line, i.column, i.field) for i in issues]
    assert got == [
        (1, 26, "owners[2]"),
        (4, 5, "admins[1]"),
        (7, 22, "groups.r1@chatroom.admins[1]"),
    ]
    assert "duplicate" in issues[0].message
    assert "display name" in issues[1].message.lower()


def test_bad_database_url() -> None:
    issue = one_issue("database:\n  url: sqlite:///x.db\n")
    assert issue.field == "database.url" and "sqlite+aiosqlite" in issue.message


def test_yaml_syntax_error() -> None:
    issue = one_issue("bot:\n  name: [群管家\ngroups: {}\n")
    assert issue.line is not None and issue.line >= 2
    assert issue.column is not None
    assert "YAML" in issue.message
    issue = one_issue("bot:\n  name: a\n   timezone: b\n")
    assert (issue.line, issue.column) == (3, 12)


def test_tabs_are_explained() -> None:
    issue = one_issue("bot:\n\tname: a\n")
    assert (issue.line, issue.column) == (2, 1)
    assert "tabs" in issue.message


def test_duplicate_key_is_an_error_with_its_path() -> None:
    issues = issues_of(
        """\
        bot:
          name: 群管家
          timezone: Asia/Shanghai
          name: 小管家
        groups:
          r1@chatroom: {tier: super}
          r1@chatroom: {tier: member}
        """
    )
    got = [(i.line, i.column, i.field) for i in issues]
    assert got == [(4, 3, "bot.name"), (7, 3, "groups.r1@chatroom")]
    assert "duplicate key 'name'" in issues[0].message
    assert "line 2" in issues[0].message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    issue = one_issue(text)
    assert (issue.file, issue.line, issue.column) == ("bot.yaml", 1, 1)
    assert "empty" in issue.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_non_mapping_file(text: str) -> None:
    issue = one_issue(text)
    assert (issue.line, issue.column) == (1, 1)
    assert "mapping" in issue.message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.file == str(path) and issue.line is None
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "qun.yaml"
    path.write_text("bot:\n  timezone: Nowhere/Land\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2:13: bot.timezone: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("bot:\n  name: 群管家\n".encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.issues[0].line == 2 and "UTF-8" in str(info.value)


def test_all_issues_reported_at_once_in_file_order() -> None:
    issues = issues_of(
        """\
        bot:
          timezone: Nowhere
        groups:
          bad: {}
          r1@chatroom: {tier: x}
        activity:
          flush_max_rows: 0
        """
    )
    assert [i.line for i in issues] == [2, 4, 5, 7]


# --------------------------------------------------------------------------
# Environment overrides
# --------------------------------------------------------------------------


def test_effective_endpoint() -> None:
    cfg = cfg_of("transport:\n  endpoint: 10.0.0.1:8788\n")
    assert effective_endpoint(cfg, {}) == "10.0.0.1:8788"
    env = {"WECHATY_PUPPET_SERVICE_ENDPOINT": "puppet:9001"}
    assert effective_endpoint(cfg, env) == "puppet:9001"
    assert effective_endpoint(cfg_of("bot: {}\n"), {}) is None
    with pytest.raises(ConfigError, match="WECHATY_PUPPET_SERVICE_ENDPOINT"):
        effective_endpoint(cfg, {"WECHATY_PUPPET_SERVICE_ENDPOINT": "nope"})


def test_effective_database_url(tmp_path: Path) -> None:
    cfg = cfg_of("database:\n  url: sqlite+aiosqlite:///data/x.db?timeout=5\n")
    assert (
        effective_database_url(cfg, {}, tmp_path)
        == f"sqlite+aiosqlite:///{tmp_path}/data/x.db?timeout=5"
    )
    env = {"DATABASE_URL": "postgresql+asyncpg://qunbot@db/qunbot"}
    assert effective_database_url(cfg, env, tmp_path) == env["DATABASE_URL"]
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        effective_database_url(cfg, {"DATABASE_URL": "mysql://x"}, tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////var/lib/qunbot.db",
        "postgresql+asyncpg://u@h/db",
    ],
)
def test_database_url_left_alone_when_not_relative(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.config.env.database_location_problem", lambda url: None)
    cfg = cfg_of(f"database:\n  url: '{url}'\n")
    assert effective_database_url(cfg, {}, tmp_path) == url


def test_relative_sqlite_resolves_against_the_config_files_dir(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "bot.yaml"
    path.write_text("bot: {}\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg.config_dir == tmp_path / "conf"
    assert effective_database_url(cfg, {}) == (
        f"sqlite+aiosqlite:///{tmp_path / 'conf' / 'data' / 'qunbot.db'}"
    )


# --------------------------------------------------------------------------
# Policy resolution
# --------------------------------------------------------------------------

POLICY_YAML = """\
owners: [wxid_owner]
admins: [wxid_admin]
profiles:
  member:
    welcome:
      window_seconds: 15
      rules: [规则甲, 规则乙]
groups:
  1@chatroom:
    name: 会员一群
    profile: member
    tags: [品牌A, 上海]
    admins: [wxid_local]
    welcome:
      max_mentions: 3
      name_card_format: 城市-昵称-月龄
  2@chatroom:
    profile: super
  3@chatroom:
    managed: false
"""


def test_group_override_wins_field_by_field() -> None:
    cfg = cfg_of(POLICY_YAML)
    policy = resolve_policy(cfg, "1@chatroom")
    assert policy is not None
    w = policy.welcome
    assert w.max_mentions == 3  # group override
    assert w.name_card_format == "城市-昵称-月龄"  # group override
    assert w.window_seconds == 15  # profile from the file
    assert w.rules == ("规则甲", "规则乙")  # profile from the file
    assert w.template == profile_of(cfg, "member").welcome.template  # built-in member default
    assert policy.profile == "member" and policy.name == "会员一群"
    assert policy.tags == ("品牌A", "上海")
    assert policy.listed and policy.command_prefix == "#" and policy.bot_name == "群管家"
    text = render(policy.welcome.template, policy)
    assert "1. 规则甲\n2. 规则乙" in text and "城市-昵称-月龄" in text
    assert "城市-昵称-月龄" in render(policy.welcome.reminder_template, policy)


def test_super_group_gets_super_defaults() -> None:
    cfg = cfg_of(POLICY_YAML)
    policy = resolve_policy(cfg, "2@chatroom")
    assert policy is not None
    assert policy.welcome == profile_of(cfg, "super").welcome
    assert policy.tags == ()
    assert policy.name == "2@chatroom"


def test_admins_include_owners() -> None:
    cfg = cfg_of(POLICY_YAML)
    one = resolve_policy(cfg, "1@chatroom")
    two = resolve_policy(cfg, "2@chatroom")
    assert one is not None and two is not None
    assert one.admins == {"wxid_owner", "wxid_admin", "wxid_local"}
    assert two.admins == {"wxid_owner", "wxid_admin"}
    assert one.is_admin("wxid_owner") and one.is_admin("wxid_local")
    assert not two.is_admin("wxid_local") and not one.is_admin("wxid_other")
    assert one.is_owner("wxid_owner") and not one.is_owner("wxid_admin")


def test_unmanaged_and_unknown_rooms() -> None:
    cfg = cfg_of(POLICY_YAML)
    assert resolve_policy(cfg, "3@chatroom") is None
    assert resolve_policy(cfg, "3@chatroom", "member") is None  # explicitly unmanaged
    assert resolve_policy(cfg, "9@chatroom") is None
    invited = resolve_policy(cfg, "9@chatroom", default_profile="member", name="新群")
    assert invited is not None
    assert invited.profile == "member" and not invited.listed and invited.name == "新群"
    assert invited.welcome == profile_of(cfg, "member").welcome
    assert set(resolve_all(cfg)) == {"1@chatroom", "2@chatroom"}


def test_policy_is_frozen() -> None:
    cfg = cfg_of(POLICY_YAML)
    policy = resolve_policy(cfg, "1@chatroom")
    assert policy is not None
    with pytest.raises(AttributeError):
        policy.profile = "super"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        policy.welcome.max_mentions = 5
    with pytest.raises(ValueError, match="frozen"):
        cfg.bot.name = "x"


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


def test_schema_export() -> None:
    schema = config_json_schema()
    dumped = json.loads(json.dumps(schema))
    props = dumped["properties"]
    for section in (
        "bot",
        "transport",
        "database",
        "owners",
        "admins",
        "profiles",
        "groups",
        "commands",
        "activity",
    ):
        assert section in props
    assert dumped["additionalProperties"] is False
    assert "WelcomePolicy" in dumped["$defs"]
    assert dumped["$defs"]["WelcomePolicy"]["additionalProperties"] is False


def test_wrong_container_types_are_explained() -> None:
    issue = one_issue("owners: wxid_a\n")
    assert (issue.line, issue.column, issue.field) == (1, 9, "owners")
    assert "list" in issue.message
    issue = one_issue("bot: {}\ngroups: [1@chatroom]\n")
    assert (issue.line, issue.column, issue.field) == (2, 9, "groups")
    assert "mapping" in issue.message


# --------------------------------------------------------------------------
# Files that cannot hurt: size, kind, nesting, aliases
# --------------------------------------------------------------------------


def load_issue(path: Path) -> ConfigIssue:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert "\n" not in str(issue)
    return issue


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"bot: {}\n" + b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    issue = load_issue(path)
    assert issue.file == str(path) and "at most 1,048,576 bytes" in issue.message


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert "named pipe (FIFO), not a regular file" in load_issue(path).message


def test_a_device_is_refused_without_reading_it() -> None:
    issue = load_issue(Path("/dev/zero"))
    assert "character device, not a regular file" in issue.message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert "directory, not a regular file" in load_issue(tmp_path).message


def test_billion_laughs_is_refused_at_the_alias_that_overflows() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    issue = one_issue("\n".join(lines) + "\n")
    assert "aliases expand the file to more than" in issue.message
    assert issue.line is not None and issue.line <= 10


def test_a_few_aliases_are_fine() -> None:
    cfg = cfg_of(
        """\
        owners: &bosses [wxid_boss]
        admins: *bosses
        """
    )
    assert cfg.admins == ("wxid_boss",)


@pytest.mark.parametrize(
    "text",
    [
        "bot: " + "[" * 5000 + "]" * 5000 + "\n",
        "bot: " + "{a:\n" * 5000 + "1" + "}" * 5000 + "\n",
        "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n",
    ],
    ids=["flow-lists", "flow-mappings", "block-mappings"],
)
def test_deep_nesting_is_one_line_not_a_recursion_error(text: str) -> None:
    issue = one_issue(text)
    assert f"nested more than {MAX_YAML_DEPTH} levels deep" in issue.message
    assert issue.line is not None


def test_too_many_values_are_refused() -> None:
    issue = one_issue("admins:\n" + "  - x\n" * 60_000)
    assert "more than 50,000 values" in issue.message


# --------------------------------------------------------------------------
# Values that cannot hurt: databases, numbers, ids
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite:///file:qunbot?mode=memory&cache=shared&uri=true",
    ],
)
def test_an_in_memory_database_is_refused(url: str) -> None:
    issue = one_issue(f"database:\n  url: '{url}'\n")
    assert issue.field == "database.url" and "in-memory database" in issue.message
    cfg = cfg_of("bot: {}\n")
    with pytest.raises(ConfigError, match=r"DATABASE_URL: .*in-memory database"):
        effective_database_url(cfg, {"DATABASE_URL": url})


def test_a_database_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory", encoding="utf-8")
    path = tmp_path / "bot.yaml"
    path.write_text("database:\n  url: sqlite+aiosqlite:///data/qunbot.db\n", encoding="utf-8")
    cfg = load_config(path)
    with pytest.raises(ConfigError) as info:
        effective_database_url(cfg, {})
    (issue,) = info.value.issues
    assert (issue.file, issue.field) == (str(path), "database.url")
    assert (
        issue.message
        == f"cannot create {tmp_path / 'data'}: {tmp_path / 'data'} is a file, not a directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_database_in_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        env = {"DATABASE_URL": f"sqlite+aiosqlite:///{ro / 'sub' / 'q.db'}"}
        with pytest.raises(ConfigError, match="not writable"):
            effective_database_url(cfg_of("bot: {}\n"), env)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "tiers:\n  member:\n    welcome:\n      max_mentions: true\n",
            "tiers.member.welcome.max_mentions",
        ),
        (
            "groups:\n  r1@chatroom:\n    welcome: {window_seconds: false}\n",
            "groups.r1@chatroom.welcome.window_seconds",
        ),
        ("activity:\n  flush_max_rows: true\n", "activity.flush_max_rows"),
        ("governor:\n  message_burst: yes\n", None),
        ("governor:\n  messages_per_min: true\n", "governor.messages_per_min"),
        ("bot:\n  reminder_check_minutes: true\n", "bot.reminder_check_minutes"),
    ],
)
def test_yes_no_values_are_not_numbers(text: str, field: str | None) -> None:
    if field is None:  # YAML 1.2: 'yes' is text, refused as not a number
        assert one_issue(text).field == "governor.message_burst"
        return
    issue = one_issue(text)
    assert issue.field == field
    assert issue.message.startswith("expected a number, found the yes/no value")


def test_ints_are_still_fine_where_floats_are_expected() -> None:
    cfg = cfg_of("governor:\n  messages_per_min: 12\nbot:\n  reminder_check_minutes: 5\n")
    assert cfg.governor.messages_per_min == 12.0 and cfg.bot.reminder_check_minutes == 5.0


@pytest.mark.parametrize(
    ("value", "char"),
    [
        ("wxid_boss\u200b", "U+200B ZERO WIDTH SPACE"),
        ("wxid_\u202eboss", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("wxid_\x07boss", "U+0007"),
        ("wxid_\x85boss", "U+0085"),
        ("wxid_\ufeffboss", "U+FEFF"),
    ],
)
def test_ids_with_invisible_characters_are_refused(value: str, char: str) -> None:
    escaped = json.dumps(value)
    for text, field in [
        (f"owners: [{escaped}]\n", "owners[0]"),
        (f"admins: [{escaped}]\n", "admins[0]"),
        (f"groups:\n  r1@chatroom:\n    admins: [{escaped}]\n", "groups.r1@chatroom.admins[0]"),
    ]:
        issue = one_issue(text)
        assert issue.field == field
        assert "invisible or control character" in issue.message and char in issue.message
        assert str(issue).isprintable()


def test_room_ids_with_invisible_characters_are_refused() -> None:
    issue = one_issue('groups:\n  "1\\u200b@chatroom": {}\n')
    assert "U+200B ZERO WIDTH SPACE" in issue.message
    assert str(issue).isprintable()


def test_a_very_long_line_is_refused_before_parsing() -> None:
    issue = one_issue("# " + "x" * 20_000 + "\nowners: [wxid_a]\n")
    assert (issue.line, issue.column) == (1, 16_385)
    assert "line is 20,002 characters long" in issue.message


# --------------------------------------------------------------------------
# Profiles: extends, sections, group overrides, tags, old key names
# --------------------------------------------------------------------------

PROFILES_YAML = """\
profiles:
  vip:
    extends: super
    welcome:
      window_seconds: 5
    commands:
      max_per_member: 2
  vip_sh:
    extends: vip
    welcome:
      name_card_format: 上海-昵称
groups:
  r1@chatroom:
    profile: vip_sh
    tags: [brandA, 上海]
    welcome: {max_mentions: 4}
"""


def test_an_operator_profile_extends_a_chain_and_a_group_overrides_it() -> None:
    cfg = cfg_of(PROFILES_YAML)
    sup = profile_of(cfg, "super").welcome
    vip_sh = profile_of(cfg, "vip_sh")
    assert vip_sh.chain == ("vip_sh", "vip", "super")
    policy = resolve_policy(cfg, "r1@chatroom")
    assert policy is not None and policy.profile == "vip_sh"
    assert policy.welcome.max_mentions == 4  # the group
    assert policy.welcome.name_card_format == "上海-昵称"  # vip_sh
    assert policy.welcome.window_seconds == 5  # vip
    assert policy.welcome.rules == sup.rules  # super, built in
    assert policy.commands.max_per_member == 2  # vip's commands section
    assert policy.commands.help == cfg.commands.help  # the top-level commands: defaults
    assert policy.tags == ("brandA", "上海")
    assert policy.get(WelcomePolicy) is policy.welcome is policy.sections["welcome"]


def test_a_new_profile_without_extends_starts_from_the_defaults() -> None:
    cfg = cfg_of("profiles:\n  plain:\n    welcome: {window_seconds: 7}\n")
    plain = profile_of(cfg, "plain")
    assert plain.chain == ("plain",)
    assert plain.welcome == WelcomePolicy(window_seconds=7)


def test_top_level_commands_are_every_profiles_defaults_and_a_group_may_change_them() -> None:
    cfg = cfg_of(
        """\
        commands: {max_per_member: 9, no_rules: 没有群规}
        profiles:
          flash: {commands: {max_per_member: 3}}
        groups:
          r1@chatroom: {profile: flash, commands: {disabled: [规则]}}
          r2@chatroom: {}
        """
    )
    one, two = resolve_policy(cfg, "r1@chatroom"), resolve_policy(cfg, "r2@chatroom")
    assert one is not None and two is not None
    assert (one.commands.max_per_member, one.commands.disabled) == (3, ("规则",))
    assert (two.commands.max_per_member, two.commands.disabled) == (9, ())
    assert one.commands.no_rules == two.commands.no_rules == "没有群规"


def test_an_unknown_parent_is_reported_at_extends() -> None:
    issue = one_issue("profiles:\n  vip:\n    extends: supper\n")
    assert (issue.line, issue.column, issue.field) == (3, 14, "profiles.vip.extends")
    assert issue.message.startswith("unknown profile 'supper' in extends; did you mean 'super'?")


def test_a_cycle_of_extends_is_reported_once_at_the_first_profile_of_the_circle() -> None:
    issues = issues_of(
        """\
        profiles:
          a: {extends: b}
          b: {extends: c}
          c: {extends: a}
        groups:
          r1@chatroom: {profile: b}
        """
    )
    assert [(i.line, i.field) for i in issues] == [(2, "profiles.a.extends")]
    assert "circle (a → b → c → a)" in issues[0].message


def test_a_bad_value_deep_in_a_group_override_points_at_the_line_the_admin_wrote() -> None:
    issues = issues_of(
        """\
        profiles:
          vip:
            extends: super
            welcome:
              window_seconds: 500
        groups:
          r1@chatroom:
            profile: vip
            welcome:
              max_mentions: 0
              rules: [ok, ""]
          r2@chatroom: {profile: vip}
        """
    )
    found = {(i.line, i.column, i.field) for i in issues}
    assert found == {
        (5, 23, "profiles.vip.welcome.window_seconds"),  # once, not once per group using it
        (10, 21, "groups.r1@chatroom.welcome.max_mentions"),
        (11, 19, "groups.r1@chatroom.welcome.rules[1]"),
    }
    assert len(issues) == 3


def test_unknown_sections_and_section_keys_are_named_with_a_suggestion() -> None:
    issues = issues_of(
        """\
        profiles:
          vip:
            welcom: {}
        groups:
          r1@chatroom:
            commands: {max_per_membr: 3}
        """
    )
    assert [(i.line, i.column, i.field) for i in issues] == [
        (3, 5, "profiles.vip.welcom"),
        (6, 16, "groups.r1@chatroom.commands.max_per_membr"),
    ]
    assert "did you mean 'welcome'?" in issues[0].message
    assert "did you mean 'max_per_member'?" in issues[1].message


def test_a_section_that_is_not_a_mapping_is_explained() -> None:
    issue = one_issue("groups:\n  r1@chatroom:\n    welcome: [a]\n")
    assert issue.field == "groups.r1@chatroom.welcome" and "mapping" in issue.message


@pytest.mark.parametrize(
    ("tags", "message"),
    [("[上海, 上海]", "duplicate tag '上海'"), ("['brand a']", "not a usable name")],
)
def test_tags_are_names_without_repeats(tags: str, message: str) -> None:
    issue = one_issue(f"groups:\n  r1@chatroom:\n    tags: {tags}\n")
    assert issue.field.startswith("groups.r1@chatroom.tags[") and message in issue.message


def test_each_template_declares_its_own_placeholders() -> None:
    assert template_placeholders(WelcomePolicy, "template") == WELCOME_PLACEHOLDERS
    assert template_placeholders(BotSettings, "away_notice") == {"bot_name", "minutes"}
    assert template_placeholders(BotSettings, "risk_notice") == {
        "action",
        "error",
        "hours",
        "bot_name",
    }
    # {minutes} belongs to the away notice, not to the degraded-group notice
    issue = one_issue("bot:\n  degraded_notice: 断开 {minutes} 分钟\n")
    assert issue.field == "bot.degraded_notice"
    assert issue.message == (
        "unknown placeholder '{minutes}'; use one of {bot_name}, {group}, {role}"
    )
    assert cfg_of("bot:\n  away_notice: 断开 {minutes} 分钟\n")
    issue = one_issue("groups:\n  r1@chatroom:\n    commands: {help: '{minutes}'}\n")
    assert issue.field == "groups.r1@chatroom.commands.help"
    assert "unknown placeholder '{minutes}'" in issue.message


def test_old_key_names_still_work_with_one_warning_per_place() -> None:
    cfg = cfg_of(
        """\
        tiers:
          super: {welcome: {window_seconds: 42}}
        groups:
          r1@chatroom: {tier: super}
        """
    )
    policy = resolve_policy(cfg, "r1@chatroom")
    assert policy is not None and policy.profile == "super"
    assert policy.welcome.window_seconds == 42
    assert [str(w) for w in cfg.warnings] == [
        "bot.yaml:1:1: tiers: 'tiers' is deprecated: rename it to 'profiles' "
        "(read as 'profiles' for now)",
        "bot.yaml:4:17: groups.r1@chatroom.tier: 'tier' is deprecated: rename it to "
        "'profile' (read as 'profile' for now)",
    ]


def test_old_and_new_key_names_together_say_how_to_merge_them() -> None:
    issue = one_issue("tiers: {}\nprofiles: {}\n")
    assert (issue.line, issue.field) == (1, "tiers")
    assert "move what is under 'tiers' into 'profiles'" in issue.message


def test_errors_under_an_old_key_name_point_at_the_line_and_name_it_writes() -> None:
    issue = one_issue("tiers:\n  member:\n    welcome:\n      window_seconds: 0\n")
    assert (issue.line, issue.field) == (4, "tiers.member.welcome.window_seconds")


def test_a_stored_profile_that_bot_yaml_no_longer_has_falls_back_to_member() -> None:
    cfg = cfg_of("bot: {}\n")
    policy = resolve_policy(cfg, "x@chatroom", "gone", name="旧群")
    assert policy is not None and policy.profile == "member"


def test_schema_describes_profile_and_group_sections() -> None:
    defs = config_json_schema()["$defs"]
    for layer in ("ProfileConfig", "GroupConfig"):
        props = defs[layer]["properties"]
        assert props["welcome"] == {"$ref": "#/$defs/WelcomePolicy"}
        assert props["commands"] == {"$ref": "#/$defs/CommandPolicy"}
        assert defs[layer]["additionalProperties"] is False
    assert "required" not in defs["WelcomePolicy"]  # a partial override fits
    template = defs["WelcomePolicy"]["properties"]["template"]
    assert template["x-placeholders"] == sorted(WELCOME_PLACEHOLDERS)
    assert "Placeholders: {bot_name}" in template["description"]
