"""`qunbot schedule preview`, the entries' targets and the calendar's config checks."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path

import pytest

import bot.cli_schedule
from bot.cli import main
from bot.config import ConfigError, load_config
from bot.config.loader import validate_config_text
from sop.preview import broadcast_estimates, holiday_warnings, preview
from sop.targets import target_rooms

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "bot.yaml"

GROUPS = """\
groups:
  g1@chatroom: {name: 会员一群, profile: member, tags: [品牌A]}
  g2@chatroom: {name: 会员二群, profile: member, tags: [品牌B]}
  g3@chatroom: {name: 核心群, profile: super, tags: [品牌A]}
  g4@chatroom: {name: 家人群, profile: member, tags: [品牌A], managed: false}
"""


def _yaml(entries: str, calendar: str = "", groups: str = GROUPS) -> str:
    return (
        groups
        + "calendar:\n"
        + textwrap.indent(textwrap.dedent(calendar), "  ")
        + "  entries:\n"
        + textwrap.indent(textwrap.dedent(entries), "    ")
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MORNING = """\
- id: morning
  kind: post
  cron: "0 9 * * *"
  timezone: Asia/Shanghai
  days: workdays
  groups: [g1@chatroom]
  post: {text: 早安}
"""


# ------------------------------------------------------------------- targets


def test_targets_by_id_profile_and_tag_sorted_once_and_never_unmanaged() -> None:
    cfg = validate_config_text(
        _yaml(
            """\
            - id: a
              kind: post
              cron: "0 9 * * *"
              groups: [g2@chatroom, g4@chatroom]
              profiles: [super]
              tags: [品牌A]
              post: {text: x}
            """
        )
    )
    entry = cfg.calendar.entries[0]
    assert target_rooms(entry, cfg) == ("g1@chatroom", "g2@chatroom", "g3@chatroom")


def test_adopted_groups_are_targets_by_their_profile_and_tags() -> None:
    cfg = validate_config_text(
        _yaml(
            """\
            - id: a
              kind: post
              cron: "0 9 * * *"
              profiles: [flash]
              tags: [品牌B]
              post: {text: x}
            """
        )
    )
    known = {
        "new1@chatroom": ("flash", ()),
        "new2@chatroom": ("member", ("品牌B",)),
        "new3@chatroom": ("member", ()),
        "g1@chatroom": ("flash", ()),  # bot.yaml says member: the file wins
    }
    entry = cfg.calendar.entries[0]
    assert target_rooms(entry, cfg, known) == ("g2@chatroom", "new1@chatroom", "new2@chatroom")


def test_an_unknown_profile_in_an_entry_is_an_error_at_its_line() -> None:
    text = _yaml(
        """\
        - id: a
          kind: post
          cron: "0 9 * * *"
          profiles: [member, vipp]
          post: {text: x}
        """
    )
    with pytest.raises(ConfigError) as exc:
        validate_config_text(text)
    (issue,) = exc.value.issues
    assert issue.field == "calendar.entries[0].profiles[1]"
    assert issue.line == text.splitlines().index("      profiles: [member, vipp]") + 1
    assert "unknown profile 'vipp'" in issue.message


def test_a_bad_cron_line_is_an_error_at_its_line() -> None:
    text = _yaml(
        """\
        - id: a
          kind: post
          cron: "0 25 * * *"
          tags: [品牌A]
          post: {text: x}
        """
    )
    with pytest.raises(ConfigError) as exc:
        validate_config_text(text)
    (issue,) = exc.value.issues
    line = text.splitlines().index('      cron: "0 25 * * *"') + 1
    assert (issue.field, issue.line) == ("calendar.entries[0].cron", line)
    assert str(issue).startswith(f"bot.yaml:{line}:")


def test_an_unknown_tag_or_room_is_a_warning_not_an_error() -> None:
    text = _yaml(
        """\
        - id: a
          kind: post
          cron: "0 9 * * *"
          groups: [later@chatroom]
          tags: [品牌C]
          post: {text: x}
        """
    )
    cfg = validate_config_text(text)
    lines = text.splitlines()
    assert [(w.field, w.line) for w in cfg.warnings] == [
        ("calendar.entries[0].groups[0]", lines.index("      groups: [later@chatroom]") + 1),
        ("calendar.entries[0].tags[0]", lines.index("      tags: [品牌C]") + 1),
    ]
    assert "品牌C" in cfg.warnings[1].message


# ------------------------------------------------------------------- preview


def test_the_issue_example_workdays_around_national_day() -> None:
    cfg = validate_config_text(_yaml(MORNING))
    runs = preview(cfg, date(2026, 9, 26), 16)
    assert [r.at.strftime("%m-%d %H:%M") for r in runs] == [
        "09-28 09:00",
        "09-29 09:00",
        "09-30 09:00",
        "10-08 09:00",
        "10-09 09:00",
        "10-10 09:00",
    ]
    assert runs[-1].notes == ("调休上班",)


def test_preview_json_lines_in_time_order_with_offsets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        _yaml(
            MORNING
            + """\
- id: night
  kind: post
  cron: "30 22 * * 5"
  tags: [品牌A]
  post: {text: 晚安}
""",
            calendar='quiet_hours: "22:00-08:00"\n',
        ),
    )
    argv = ["schedule", "preview", "--config", str(path), "--from", "2026-11-20", "--days", "4"]
    assert main([*argv, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["at"], x["entry"], x["group"]) for x in lines] == [
        ("2026-11-20T09:00:00+08:00", "morning", "g1@chatroom"),
        ("2026-11-21T08:00:00+08:00", "night", "g1@chatroom"),
        ("2026-11-21T08:00:00+08:00", "night", "g3@chatroom"),
        ("2026-11-23T09:00:00+08:00", "morning", "g1@chatroom"),
    ]
    deferred = lines[1]
    assert deferred["kind"] == "post" and deferred["nominal"] == "2026-11-20T22:30:00+08:00"
    assert deferred["notes"] == ["免打扰时段顺延（原定 11-20 22:30）"]


def test_preview_for_people_shows_weekday_group_notes_and_broadcast_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        _yaml(
            MORNING
            + """\
- id: sale
  kind: post
  cron: "0 20 * * thu"
  tags: [品牌A, 品牌B]
  post:
    text: 秒杀
    link: {url: "https://example.com/s", title: 秒杀}
"""
        ),
    )
    argv = ["schedule", "preview", "--config", str(path), "--from", "2026-10-08", "--days", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2026-10-10  周六  09:00  morning" in out
    assert "调休上班" in out
    assert "会员一群 (g1@chatroom)" in out
    assert "sale" in out and "3 个群 × 2 条 = 6 条" in out


def test_preview_of_one_group_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _yaml(MORNING))
    argv = ["schedule", "preview", "--config", str(path), "--from", "2026-11-20", "--days", "4"]
    assert main([*argv, "--group", "g2@chatroom", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_a_broadcast_of_links_to_many_groups_is_paced_by_the_rich_lane() -> None:
    groups = "groups:\n" + "".join(
        f"  g{i}@chatroom: {{profile: member, tags: [品牌A]}}\n" for i in range(50)
    )
    cfg = validate_config_text(
        _yaml(
            """\
            - id: sale
              kind: post
              cron: "0 20 * * thu"
              tags: [品牌A]
              post:
                text: 秒杀
                link: {url: "https://example.com/s", title: 秒杀}
            """,
            groups=groups,
        )
    )
    (estimate,) = broadcast_estimates(cfg)
    assert (estimate.groups, estimate.messages) == (50, 100)
    assert estimate.minutes == pytest.approx(10)  # 50 links at 5 a minute


# ------------------------------------------------------ holiday data checks


def test_config_check_warns_about_a_year_without_holiday_data() -> None:
    cfg = validate_config_text(_yaml(MORNING))
    (warning,) = holiday_warnings(cfg, date(2026, 6, 1))
    assert warning[0] == ("calendar", "entries", 0, "days")
    assert "'morning'" in warning[1] and "2027" in warning[1]
    assert "calendar.holidays" in warning[1] and "calendar.workdays" in warning[1]


def test_no_warning_when_bot_yaml_adds_that_years_days_or_the_entry_has_no_day_rule() -> None:
    cfg = validate_config_text(_yaml(MORNING, calendar="holidays: [2027-01-01]\n"))
    assert holiday_warnings(cfg, date(2026, 6, 1)) == []
    every = MORNING.replace("days: workdays", "days: every")
    assert holiday_warnings(validate_config_text(_yaml(every)), date(2026, 6, 1)) == []
    ended = MORNING.replace("days: workdays", "days: workdays\n  ends: 2026-12-31")
    assert holiday_warnings(validate_config_text(_yaml(ended)), date(2026, 6, 1)) == []


def test_config_check_prints_the_warning_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.cli_schedule, "today", lambda cfg: date(2026, 6, 1))
    text = _yaml(MORNING)
    path = _write(tmp_path, text)
    assert main(["config", "check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{path}: ok"
    (line,) = err.splitlines()
    assert line.startswith(f"{path}:{text.splitlines().index('      days: workdays') + 1}:")
    assert "calendar.entries[0].days" in line and "'morning'" in line and "2027" in line


# --------------------------------------------------------- the shipped file


def test_the_shipped_calendar_follows_the_playbooks_week() -> None:
    cfg = load_config(SHIPPED)
    runs = preview(cfg, date(2026, 11, 16), 7)  # Monday to Sunday, no holidays
    by_entry: dict[str, set[str]] = {}
    for run in runs:
        by_entry.setdefault(run.entry, set()).add(run.at.strftime("%a %H"))
    assert by_entry["morning-post"] == {f"{d} 09" for d in ("Mon", "Tue", "Wed", "Thu", "Fri")}
    assert len(by_entry["afternoon-content"]) == 7
    assert by_entry["thursday-flash-sale"] == {"Thu 20"}
    assert by_entry["topic-sharing"] == {"Wed 20"}
    assert len(by_entry["daily-checkin"]) == 7
    kinds = {r.entry: r.kind for r in runs}
    assert kinds["daily-checkin"] == "checkin" and kinds["morning-post"] == "post"
    assert all(r.room_id in cfg.groups for r in runs)
