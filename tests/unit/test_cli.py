"""The qunbot command: config check/schema in-process; sandbox and run as real processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from bot.cli import CONFIG_ENV, TOKEN_ENV, main
from bot.config import load_config, resolve_policy
from bot.sandbox_file import load_sandbox

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "bot.yaml"
ISSUE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<field>\S+): (?P<message>.+)$"
)
SECTIONS = {
    "bot", "transport", "database", "owners", "admins", "profiles",
    "groups", "commands", "activity", "governor", "alerts",
    "member_lists", "calendar",
}  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without anything that would steer the bot."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECHATY_", "QUNBOT_")) and k != "DATABASE_URL"
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# config check / schema
# --------------------------------------------------------------------------


def test_config_check_accepts_the_shipped_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A day whose next 400 days the holiday data covers: no calendar warning.
    monkeypatch.setattr("bot.cli_schedule.today", lambda cfg: date(2025, 6, 1))
    assert main(["config", "check", str(SHIPPED)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{SHIPPED}: ok"
    assert err == ""


def test_config_check_reads_qunbot_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = write(tmp_path, "bad.yaml", "bot: {nmae: x}\n")
    monkeypatch.setenv(CONFIG_ENV, str(bad))
    assert main(["config", "check"]) == 2
    assert "bot.nmae" in capsys.readouterr().err
    monkeypatch.setenv(CONFIG_ENV, str(SHIPPED))
    assert main(["config", "check"]) == 0


def test_config_check_lists_every_problem_with_its_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        """\
        owners: [wxid_laowang]
        tiers:
          super:
            welcome:
              max_mention: 3
        groups:
          10001@chatroom:
            name: 一群
            tier: gold
            welcome:
              window_secs: 10
        """,
    )
    assert main(["config", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    matches = [ISSUE.match(line) for line in lines]
    assert all(matches), lines
    found = {
        (m["file"], int(m["line"]), int(m["column"]), m["field"]): m["message"]
        for m in matches
        if m
    }
    assert set(found) == {
        (str(path), 5, 7, "tiers.super.welcome.max_mention"),  # unknown key, three deep
        (str(path), 9, 11, "groups.10001@chatroom.tier"),  # bad tier, at its value
        (str(path), 11, 7, "groups.10001@chatroom.welcome.window_secs"),  # unknown key
    }
    assert "max_mentions" in found[(str(path), 5, 7, "tiers.super.welcome.max_mention")]
    tier_message = found[(str(path), 9, 11, "groups.10001@chatroom.tier")]
    assert all(t in tier_message for t in ("super", "member", "flash"))


def test_config_check_reports_yaml_syntax_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "syntax.yaml", "owners: [wxid_laowang\nbot: {name: x}\n")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    m = re.fullmatch(rf"{re.escape(str(path))}:(\d+):(\d+): (.+)", err)
    assert m, err
    assert int(m[1]) == 2 and int(m[2]) >= 1
    assert "YAML" in m[3]


def test_config_schema_is_json_with_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == SECTIONS


# --------------------------------------------------------------------------
# sandbox, scripted through stdin
# --------------------------------------------------------------------------


def test_sandbox_session(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    text = SHIPPED.read_text(encoding="utf-8")
    url_line = re.compile(r"^(\s*url:\s*)\S+", re.M)
    assert len(url_line.findall(text)) == 1, "expected one database url in bot.yaml"
    config_path = tmp_path / "bot.yaml"
    config_path.write_text(url_line.sub(rf"\g<1>sqlite+aiosqlite:///{db}", text), encoding="utf-8")
    shutil.copy(REPO / "sandbox.yaml", tmp_path / "sandbox.yaml")  # found beside bot.yaml

    cfg = load_config(config_path)
    world = load_sandbox(tmp_path / "sandbox.yaml")
    room = world.groups[0]
    policy = resolve_policy(cfg, room.room_id)
    assert policy is not None and policy.welcome.rules
    names = {m.id: m.name for m in world.members}

    script = "join 新人甲 by wxid_xiaoli\nsay wxid_zhangsan #规则\n"  # then EOF
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-c", str(config_path), "sandbox"],
        input=script,
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert out.startswith(f"qunbot sandbox — you are in {room.topic}."), out

    assert "Traceback" not in proc.stderr and "INFO" not in proc.stderr, proc.stderr
    rules_reply = f"🤖 [{room.topic}] @{names['wxid_zhangsan']} 1. {policy.welcome.rules[0]}"
    assert rules_reply in out, out
    # The welcome window is still open at EOF: shutting down must send it.
    greeting = policy.welcome.template.splitlines()[0].replace("{group}", policy.name)
    welcome = f"🤖 [{room.topic}] @新人甲 {greeting}"
    assert welcome in out, f"no welcome for the newcomer at shutdown:\n{out}\n{proc.stderr}"
    assert out.index(rules_reply) < out.index(welcome)
    assert " failed: " not in out, out

    assert db.exists()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, detail FROM audit_log ORDER BY id").fetchall()
    sent = [json.loads(detail)["mention_ids"] for status, detail in rows if status == "done"]
    assert sent == [["wxid_zhangsan"], ["wxid_新人甲"]], rows


# --------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------


def test_run_without_token_names_the_variable_and_leaks_nothing(tmp_path: Path) -> None:
    secret = "sekrit-7f3a9c1d2e"
    config_path = tmp_path / "bot.yaml"
    config_path.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    env = clean_env(
        WECHATY_PUPPET_SERVICE_ENDPOINT="127.0.0.1:9",
        WECHATY_TOKEN=secret,  # a plausible wrong name for the token
        PUPPET_SERVICE_TOKEN=secret,
    )
    assert TOKEN_ENV not in env
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-c", str(config_path), "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert TOKEN_ENV in proc.stderr
    assert secret not in proc.stdout + proc.stderr


def test_run_needs_an_owner_whatever_the_transport_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "bot.yaml", "transport: {kind: sandbox}\nowners: []\n")
    assert main(["-c", str(path), "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: owners: qunbot run connects to a real WeChat account")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "data").exists(), "nothing is built before the check"


# --------------------------------------------------------------------------
# Files and databases that cannot hurt: one line each, exit code 2
# --------------------------------------------------------------------------


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_config_check_of_a_fifo_returns_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fifo = tmp_path / "bot.yaml"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    assert main(["config", "check", str(fifo)]) == 2
    assert (
        capsys.readouterr().err
        == f"{fifo}: is a named pipe (FIFO), not a regular file; give the path of a bot.yaml file\n"
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + "owners: [wxid_a]\n",
            "aliases expand the file to more than 50,000 values",
        ),
        ("owners: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep"),
    ],
    ids=["billion-laughs", "deep-nesting"],
)
def test_config_check_of_a_hostile_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err


def test_config_check_refuses_a_database_whose_directory_is_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "data").write_text("", encoding="utf-8")
    path = write(tmp_path, "bot.yaml", "owners: [wxid_a]\n")  # default: data/qunbot.db
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"{path}: database.url: cannot create {tmp_path / 'data'}: {tmp_path / 'data'} is a file, not a directory\n"
    )


@pytest.mark.parametrize("command", [["db", "upgrade"], ["status"]])
def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path, command: list[str]) -> None:
    garbage = tmp_path / "q.db"
    garbage.write_bytes(b"this is not a SQLite database" * 10)
    write(tmp_path, "bot.yaml", "owners: [wxid_a]\n")
    proc = run_cli(
        tmp_path, "-c", "bot.yaml", *command, DATABASE_URL=f"sqlite+aiosqlite:///{garbage}"
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"qunbot: cannot open the database sqlite+aiosqlite:///{garbage}: "
        "DatabaseError: file is not a database\n"
    )


def test_run_with_postgresql_down_is_one_line_without_the_password(tmp_path: Path) -> None:
    write(tmp_path, "bot.yaml", "owners: [wxid_a]\n")
    proc = run_cli(
        tmp_path,
        "-c",
        "bot.yaml",
        "run",
        DATABASE_URL="postgresql+asyncpg://qunbot:sekrit@127.0.0.1:1/qunbot",
        WECHATY_PUPPET_SERVICE_ENDPOINT="127.0.0.1:9",
        WECHATY_PUPPET_SERVICE_TOKEN="token-not-used",
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "qunbot: cannot open the database postgresql+asyncpg://qunbot:***@127.0.0.1:1/qunbot: "
    )
    assert "sekrit" not in proc.stderr


# --------------------------------------------------------------------------
# status: for people, and JSON with --json
# --------------------------------------------------------------------------


def test_status_is_readable_text_and_the_same_report_as_json(tmp_path: Path) -> None:
    write(tmp_path, "bot.yaml", "owners: [wxid_a]\n")
    text = run_cli(tmp_path, "-c", "bot.yaml", "status")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Groups: 0 active")
    assert "Paused: nothing" in text.stdout and "--json" in text.stdout
    as_json = run_cli(tmp_path, "-c", "bot.yaml", "status", "--json")
    report = json.loads(as_json.stdout)
    assert {"groups", "totals", "actions", "pauses", "recent_audit", "outbox"} <= set(report)


def test_status_counts_dry_run_actions_apart_from_sent() -> None:
    from bot.status_text import render_status

    counts = dict.fromkeys(
        ("sent", "delayed", "refused", "failed", "expired", "in_doubt", "pending", "dry_run"), 0
    )
    report = {"actions": {"message": {**counts, "sent": 1, "dry_run": 3}}}
    assert "message        1 sent, 3 dry run" in render_status(report)


def test_status_says_how_long_each_calendar_broadcast_takes() -> None:
    from bot.status_text import render_status

    report = {
        "broadcasts": [
            dict(
                entry="flash",
                groups=50,
                messages_per_group=2,
                rich_per_group=1,
                minutes=10.0,
                over_rich_day=False,
            ),
            dict(
                entry="small",
                groups=2,
                messages_per_group=1,
                rich_per_group=0,
                minutes=0.1,
                over_rich_day=False,
            ),
        ]
    }
    text = render_status(report)
    assert "flash: 50 groups × 2 message(s), about 10 min" in text
    assert "small: 2 groups × 1 message(s), under a minute" in text


def test_a_sandbox_section_in_bot_yaml_stops_the_sandbox_with_where_to_move_it(
    tmp_path: Path,
) -> None:
    write(tmp_path, "bot.yaml", "owners: [wxid_a]\nsandbox:\n  members: []\n")
    proc = run_cli(tmp_path, "-c", "bot.yaml", "sandbox")
    assert proc.returncode == 2
    assert proc.stderr.startswith("bot.yaml:2:1: sandbox: ") and "sandbox.yaml" in proc.stderr
