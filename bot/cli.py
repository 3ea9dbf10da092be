"""The ``qunbot`` command.

    qunbot sandbox            play members against the real bot, offline
    qunbot run                connect to a Wechaty puppet service (real WeChat)
    qunbot config check [F]   validate bot.yaml; errors name file, line, field
    qunbot config schema      JSON Schema of bot.yaml, for editors
    qunbot db upgrade         apply database migrations
    qunbot status             what the bot did (reads the database), open pauses
    qunbot pause clear KIND   close a risk-control pause early (audited)
    qunbot cases              moderation cases (--group ID, --open, --json)
    qunbot scan FILE|-        the ad detector over a file (--format tsv|lines, --summary)
    qunbot coupons drop       open a coupon drop in a group (--group, --type, --count, --minutes)
    qunbot lottery verify     recompute a lottery draw (--seed, --entrants FILE, --winners, --hash)
    qunbot lottery show N     a lottery draw from the database (--json)
    qunbot schedule preview   the calendar's upcoming runs (--from, --days, --group, --json)

The config is validated before anything else is built; a broken file stops
start-up with its errors and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli_coupons import coupons_command, coupons_parsers
from bot.cli_db import DatabaseUnavailable, open_cli_db, open_database
from bot.cli_engagement import engagement_parsers, export_command
from bot.cli_lottery import lottery_parsers, show_command, verify
from bot.cli_moderation import cases_command, moderation_parsers, scan
from bot.cli_reports import report_command, reports_parsers
from bot.cli_schedule import check_warnings, schedule_command, schedule_parsers
from bot.config import (
    BotConfig,
    ConfigError,
    ConfigIssue,
    config_json_schema,
    effective_database_url,
    effective_endpoint,
    load_config,
)
from bot.sandbox_file import SandboxConfig, default_sandbox_path, load_sandbox

if TYPE_CHECKING:
    from bot.app import App

TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
CONFIG_ENV = "QUNBOT_CONFIG"


def _config_path(arg: str | None) -> Path:
    return Path(arg or os.environ.get(CONFIG_ENV) or "bot.yaml")


def _load(arg: str | None) -> tuple[BotConfig, Path]:
    path = _config_path(arg)
    return load_config(path), path.resolve().parent


def sandbox_puppet(world: SandboxConfig, now: Any = None) -> Any:
    """The in-process puppet, populated with the members and groups of ``sandbox.yaml``."""
    from bot.transport.sandbox_puppet import SandboxPuppet

    puppet = SandboxPuppet(account_id=world.account.id, account_name=world.account.name, now=now)
    for member in world.members:
        puppet.add_contact(member.id, member.name)
    for group in world.groups:
        members = list(dict.fromkeys([*group.member_ids, world.account.id]))
        admins = [world.account.id] if group.owner_id != world.account.id else []
        puppet.add_room(
            group.room_id, group.topic, members, owner_id=group.owner_id, admin_ids=admins
        )
    return puppet


def _require_owners(config: BotConfig) -> None:
    """``run`` acts on a real account, whatever ``transport.kind`` says."""
    if not config.owners:
        where = str(config.source_path or "bot.yaml")
        raise ConfigError(
            [
                ConfigIssue(
                    where,
                    None,
                    None,
                    "owners",
                    "qunbot run connects to a real WeChat account and needs at least one "
                    "owner account id (wxid) in 'owners' (owners invite the bot into groups)",
                )
            ]
        )


def build_app(
    config: BotConfig,
    base_dir: Path,
    *,
    transport: str | None = None,
    world: SandboxConfig | None = None,
) -> Any:
    from bot.app import App, AppOptions
    from bot.sandbox_clock import OffsetClock
    from bot.transport.adapter import WechatyTransport
    from bot.vocab.clock import SystemClock

    kind = transport or config.transport.kind
    clock: Any
    if kind == "sandbox":
        clock = OffsetClock()  # the console moves it: `time +24h`
        if world is None:
            world = load_sandbox(default_sandbox_path(config))
        puppet = sandbox_puppet(world, now=clock.now)
    else:
        clock = SystemClock()
        from bot.transport.service import ServicePuppet

        endpoint = effective_endpoint(config, os.environ)
        if not endpoint:
            raise SystemExit(
                "qunbot run: no puppet service endpoint: set transport.endpoint in bot.yaml "
                "or WECHATY_PUPPET_SERVICE_ENDPOINT (host:port)"
            )
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise SystemExit(f"qunbot run: set the puppet service token in {TOKEN_ENV}")
        puppet = ServicePuppet(endpoint, token)
    wechaty = WechatyTransport(
        puppet,
        clock=clock,
        name=config.bot.name,
        max_backlog=config.bot.event_queue_max,
        read_aliases=config.member_lists.read_aliases,
    )
    options = AppOptions(base_dir=base_dir, clock=clock, watch_config_seconds=5.0)
    return App(config, wechaty, options), puppet


async def _start(app: App, command: str) -> bool:
    """Start the app; False (after one line on stderr) if another process holds
    the account."""
    from storage.lease import LeaseHeld

    try:
        await app.start()
    except LeaseHeld as exc:
        print(f"qunbot {command}: {exc}", file=sys.stderr)
        return False
    return True


async def _run(config: BotConfig, base_dir: Path) -> int:
    """Run until SIGINT/SIGTERM (0), or until another process takes the account (1).

    A second process for an account that is already running refuses to start
    with one line on stderr and exit code 2.
    """
    _require_owners(config)
    app, _ = build_app(config, base_dir, transport="wechaty")
    try:
        await open_database(app.engine, app.database_url)
    except DatabaseUnavailable:
        await app.engine.dispose()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Future[Any]] = set()

    def reload() -> None:  # SIGHUP: read bot.yaml again (the calendar)
        task = asyncio.ensure_future(app.reload_config(by="SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, reload)
    if not await _start(app, "run"):
        return 2
    try:
        stopping = asyncio.ensure_future(stop.wait())
        lost = asyncio.ensure_future(app.lease_lost.wait())
        await asyncio.wait([stopping, lost], return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopping, lost):
            waiter.cancel()
    finally:
        await app.stop()
    return 1 if app.lease_lost.is_set() else 0


async def _sandbox(config: BotConfig, base_dir: Path, world_file: str | None = None) -> int:
    from bot.console import Console, stdin_lines

    world = load_sandbox(world_file or default_sandbox_path(config))
    app, puppet = build_app(config, base_dir, transport="sandbox", world=world)
    try:
        await open_database(app.engine, app.database_url)
    except DatabaseUnavailable:
        await app.engine.dispose()
        raise
    await _resume_sandbox_time(app)
    await _forget_other_worlds(app, world)
    await _free_a_dead_sandbox_lease(app)
    if not await _start(app, "sandbox"):
        return 2
    console = Console(app, puppet, world, interactive=sys.stdin.isatty() and sys.stdout.isatty())
    loop = asyncio.get_running_loop()
    presses = 0

    def interrupted() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os._exit(130)  # a second Ctrl-C: do not wait for the sends
        console.print("(Ctrl-C) quitting — sending what is still waiting; Ctrl-C again to drop it")
        console.interrupt()

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, interrupted)
        for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal stops cleanly too
            loop.add_signal_handler(sig, console.interrupt)
    try:
        await app.transport.logged_in.wait()
        await app.settle()
        await console.run(stdin_lines())
    finally:
        await app.stop()  # sends what is still waiting (e.g. a welcome in its window)
        await console.show_audit()
        with contextlib.suppress(NotImplementedError):
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
    return 0


async def _resume_sandbox_time(app: Any) -> None:
    """Sandbox time never goes back: after an earlier run jumped ahead
    (``time +24h``), this one starts where that one stopped, so the governor's
    history and the pending welcomes in the database still make sense."""
    latest = sorted((a.at for a in await app.repo.recent_audit(200)), reverse=True)
    ahead = (latest[0] - app.clock.now()).total_seconds() if latest else 0.0
    if ahead > 0:
        app.clock.advance(ahead + 1)


async def _free_a_dead_sandbox_lease(app: Any) -> None:
    """A sandbox killed after ``time +24h`` leaves its lease a day ahead: free
    it if the process that holds it ran on this machine and is gone."""
    import socket

    state = await app.lease.leases.get(app.config.bot.account)
    if state is None:
        return
    host, _, pid = state.process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        await app.lease.leases.release(state.account_id, state.holder, datetime.now(UTC))
    except OSError:
        return


async def _forget_other_worlds(app: Any, world: SandboxConfig) -> None:
    """The sandbox's WeChat starts afresh on every run: groups a previous run
    joined (an ``invite``) are gone, so the database must not call them present."""
    rooms = {g.room_id for g in world.groups}
    now = app.clock.now()
    for group in await app.repo.active_groups():
        if group.room_id not in rooms:
            await app.repo.mark_group_left(group.room_id, now)


async def _db_upgrade(config: BotConfig, base_dir: Path) -> int:
    async with open_cli_db(config, base_dir):
        pass  # opening it brings the schema up to date
    print("database is up to date")
    return 0


async def _status(config: BotConfig, base_dir: Path, as_json: bool = False) -> int:
    from storage.pauses import PauseStore

    async with open_cli_db(config, base_dir) as db:
        report = await db.repo().status_report()
        pauses = await PauseStore(db.sessions).open_pauses(db.account, datetime.now(UTC))
    # Risk-control pauses still open for this account: kind, until when, why.
    report["pauses"] = [p.as_dict() for p in pauses]
    from sop.preview import broadcast_estimates

    # How long each calendar broadcast takes under the governor's pace.
    report["broadcasts"] = [dataclasses.asdict(b) for b in broadcast_estimates(config)]
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    else:
        from bot.status_text import render_status

        print(render_status(report, config.bot.timezone))
    return 0


async def pause_clear(
    config: BotConfig,
    base_dir: Path,
    kind: str,
    account: str | None = None,
    now: datetime | None = None,
) -> int:
    """Close the account's open pauses of ``kind`` (``bot.account``, or
    ``account``); a running bot notices before it refuses the next action."""

    from bot.vocab.actions import ActionKind
    from storage.pauses import PauseStore

    kinds = [k.value for k in ActionKind]
    if kind != "all" and kind not in kinds:
        print(
            f"qunbot pause clear: no kind {kind!r}: one of {', '.join(kinds)}, or all",
            file=sys.stderr,
        )
        return 2
    async with open_cli_db(config, base_dir, account=account) as db:
        account = db.account
        store, repo = PauseStore(db.sessions), db.repo()
        now = now or datetime.now(UTC)
        wanted = kinds if kind == "all" else [kind]
        open_ = [p for p in await store.open_pauses(account, now) if p.kind in wanted]
        if not open_:
            print(f"no open {kind} pause for {account}")
            return 0
        for pause in open_:
            for closed in await store.close(pause.account_id, pause.kind, now, "cli"):
                await repo.write_audit(
                    at=now,
                    action="close_pause",
                    kind=closed.kind,
                    status="done",
                    target_id="cli",
                    reason=f"{closed.kind} pause closed early from the command line",
                    detail={
                        "pause_kind": closed.kind,
                        "closed_by": "cli",
                        "account_id": closed.account_id,
                        "until": closed.until.isoformat(),
                    },
                )
                print(
                    f"closed the {closed.kind} pause of {closed.account_id} "
                    f"(was until {closed.until.isoformat(timespec='seconds')})"
                )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qunbot", description="WeChat group steward (群管家)")
    parser.add_argument(
        "-c", "--config", help="bot.yaml to use (default: ./bot.yaml or $QUNBOT_CONFIG)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)
    sandbox = sub.add_parser("sandbox", help="play group members against the real bot, offline")
    sandbox.add_argument(
        "--world", help="the simulated members and groups (default: sandbox.yaml beside bot.yaml)"
    )
    sub.add_parser("run", help="connect to a Wechaty puppet service")
    cfg = sub.add_parser("config", help="check bot.yaml or print its schema")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a config file")
    check.add_argument("file", nargs="?")
    cfg_sub.add_parser("schema", help="print the JSON Schema of bot.yaml")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations")
    status = sub.add_parser("status", help="show what the bot did (reads the database)")
    status.add_argument("--json", action="store_true", help="the whole report as JSON")
    pause = sub.add_parser("pause", help="risk-control pauses")
    pause_sub = pause.add_subparsers(dest="pause_command", required=True)
    clear = pause_sub.add_parser("clear", help="close a pause early (audited)")
    clear.add_argument("kind", help="message, rich, remove, ... or all")
    clear.add_argument(
        "--account", help="another bot account than bot.account (accounts sharing the database)"
    )
    moderation_parsers(sub)
    coupons_parsers(sub)
    engagement_parsers(sub)
    lottery_parsers(sub)
    reports_parsers(sub)
    schedule_parsers(sub)
    args = parser.parse_args(argv)

    # The SDK logs every message (text included) at INFO through handlers of its
    # own, read from WECHATY_LOG when it is imported: quiet unless asked.
    quiet_sdk = "error" if args.command == "sandbox" else "warn"  # the console is the show
    os.environ.setdefault("WECHATY_LOG", "info" if args.verbose else quiet_sdk)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:  # seven lines of plugin set-up before every migration check
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == "sandbox" and not args.verbose:
        # The console shows what the bot does and decides; log lines would only
        # break into the prompt (-v brings them back).
        logging.getLogger().setLevel(logging.ERROR)

    if args.command == "scan":  # the detector alone: no bot.yaml, no database
        return scan(args.file, args.format, args.summary)
    if args.command == "lottery" and args.lottery_command == "verify":  # no bot.yaml either
        return verify(args.seed, args.entrants, args.winners, args.hash, as_json=args.json)
    if args.command == "config" and args.config_command == "schema":
        print(json.dumps(config_json_schema(), ensure_ascii=False, indent=2))
        return 0
    try:
        file_arg = getattr(args, "file", None) or args.config
        config, base_dir = _load(file_arg)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "config":
        try:
            effective_database_url(config, os.environ, base_dir)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{_config_path(file_arg)}: ok")
        for warning in check_warnings(config, filename=str(_config_path(file_arg))):
            print(warning, file=sys.stderr)  # the bot runs; the admin should act
        return 0
    runners: dict[str, Any] = {
        "pause": lambda c, b: pause_clear(c, b, args.kind.lower(), args.account),
        "sandbox": lambda c, b: _sandbox(c, b, args.world),
        "run": _run,
        "db": _db_upgrade,
        "status": lambda c, b: _status(c, b, args.json),
        "cases": lambda c, b: cases_command(c, b, args),
        "coupons": lambda c, b: coupons_command(c, b, args),
        "export": lambda c, b: export_command(c, b, args),
        "lottery": lambda c, b: show_command(c, b, args),
        "report": lambda c, b: report_command(c, b, args),
        "schedule": lambda c, b: schedule_command(c, b, args),
    }
    try:
        return asyncio.run(runners[args.command](config, base_dir))
    except (ConfigError, DatabaseUnavailable) as exc:
        print(exc, file=sys.stderr)  # one line per problem, no traceback
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
