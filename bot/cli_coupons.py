"""``qunbot coupons drop`` and the coupons' CSV export, from the command line.

qunbot coupons drop --group ID --type T --count N [--minutes M]
    open a drop of N coupons of type T (``engagement.coupons.types``) in a
    group for M minutes (the group's ``drop_minutes`` by default); the
    running bot announces it in the group at its next sweep (within a
    minute) and members claim with #领券.  Audited.
export_coupons(config, group, path)
    every coupon of ``bot.account`` (of one group with ``group``) as CSV
    for operators' spreadsheets (UTF-8 with a BOM, so Excel reads the
    Chinese right); ``qunbot export coupons`` calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import handlers.engagement.policy  # noqa: F401  (registers the engagement section)
from bot.cli_db import open_cli_db
from bot.config import BotConfig, resolve_policy
from bot.vocab.policy import GroupPolicy

#: The CSV's columns, in order (times in the bot's time zone, ISO 8601).
EXPORT_COLUMNS = (
    "id",
    "code",
    "type_id",
    "name",
    "value",
    "status",
    "owner_id",
    "owner_name",
    "group",
    "room_id",
    "scope",
    "drop_id",
    "issued_by",
    "issued_at",
    "claimed_by",
    "claimed_at",
    "expires_at",
    "pending_to",
    "pending_until",
    "redeemed_at",
    "redeemed_by",
    "redeemed_room",
)


def coupons_parsers(sub: Any) -> None:
    """Add ``coupons`` (with ``drop``) to the ``qunbot`` command's subparsers."""
    coupons = sub.add_parser("coupons", help="coupons: open a drop in a group")
    coupons_sub = coupons.add_subparsers(dest="coupons_command", required=True)
    drop = coupons_sub.add_parser(
        "drop", help="open a drop for #领券 in a group (the running bot announces it)"
    )
    drop.add_argument("--group", required=True, metavar="ID", help="the group (room id)")
    drop.add_argument("--type", required=True, dest="type_id", help="a coupon type id")
    drop.add_argument("--count", required=True, type=int, help="how many coupons")
    drop.add_argument("--minutes", type=float, help="how long it stays open")


async def coupons_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    return await open_drop(
        config,
        base_dir,
        group=args.group,
        type_id=args.type_id,
        count=args.count,
        minutes=args.minutes,
    )


async def _policy(config: BotConfig, repo: Any, group: str) -> GroupPolicy | None:
    """The group's policy: listed in bot.yaml, or adopted by the bot (stored)."""
    policy = resolve_policy(config, group)
    if policy is not None:
        return policy
    stored = await repo.get_group(group)
    if stored is None or stored.left_at is not None:
        return None
    return resolve_policy(config, group, default_profile=stored.profile, name=stored.topic or "")


def _fail(text: str) -> int:
    print(f"qunbot coupons drop: {text}", file=sys.stderr)
    return 2


async def open_drop(
    config: BotConfig,
    base_dir: Path,
    *,
    group: str,
    type_id: str,
    count: int,
    minutes: float | None = None,
    now: datetime | None = None,
    out: IO[str] | None = None,
) -> int:
    """Open a drop (see the module docstring); 0, or 2 with the reason on stderr."""
    from handlers.engagement.coupons.common import enabled, kind_of, section, type_list
    from handlers.engagement.policy import scope_of
    from storage.coupons import CouponStore

    out = out or sys.stdout
    async with open_cli_db(config, base_dir) as db:
        repo = db.repo()
        policy = await _policy(config, repo, group)
        if policy is None:
            return _fail(f"the bot does not manage the group {group!r}")
        if not enabled(policy):
            return _fail(f"coupons are off in {group} (engagement.coupons.enabled)")
        t = section(policy)
        spec = t.types.get(type_id)
        if spec is None:
            return _fail(f"no coupon type {type_id!r} in {group}: {type_list(t)}")
        if not 1 <= count <= t.max_drop_count:
            return _fail(f"--count must be 1 to {t.max_drop_count} (max_drop_count)")
        minutes = t.drop_minutes if minutes is None else minutes
        if not 0 < minutes <= 10_080:
            return _fail("--minutes must be more than 0 and at most 10080 (a week)")
        now = now or datetime.now(UTC)
        store = CouponStore(db.sessions, account_id=db.account)
        opened = await store.open_drop(
            scope=scope_of(policy),
            room_id=group,
            kind=kind_of(type_id, spec),
            count=count,
            by="cli",
            at=now,
            closes_at=now + timedelta(minutes=minutes),
            announced=False,
        )
        reason = f"drop {opened.id}: {count} x {type_id} in {group} for {minutes:g} min (cli)"
        await repo.write_audit(
            at=now,
            action="coupon_drop",
            kind="coupons",
            status="recorded",
            room_id=group,
            target_id="cli",
            reason=reason,
            detail={"drop": opened.id, "type": type_id, "count": count, "by": "cli"},
        )
    until = opened.closes_at.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d %H:%M")
    out.write(
        f"drop {opened.id}: {count} x {spec.name} ({type_id}) open in {policy.name} "
        f"until {until}; the running bot announces it within a minute\n"
    )
    return 0


async def export_coupons(
    config: BotConfig,
    group: str | None,
    path: Path | str,
    *,
    base_dir: Path | None = None,
) -> int:
    """Write the account's coupons (of ``group`` if given) to ``path`` as CSV
    (``-``: standard output); 0, with how many on stderr."""
    from storage.coupons import CouponStore

    async with open_cli_db(config, base_dir) as db:
        found = await CouponStore(db.sessions, account_id=db.account).export(group)
        names = await db.contact_names(c.owner_id for c in found)
    tz = db.tz

    def cell(value: object) -> object:
        if isinstance(value, datetime):
            return value.astimezone(tz).isoformat(timespec="seconds")
        return "" if value is None else value

    def group_name(room: str) -> str:
        listed = config.groups.get(room)
        return (listed.name if listed is not None else None) or room

    def write(stream: IO[str]) -> None:
        writer = csv.writer(stream)
        writer.writerow(EXPORT_COLUMNS)
        for c in found:
            extra = {"owner_name": names.get(c.owner_id) or "", "group": group_name(c.room_id)}
            writer.writerow(
                [cell(extra[k] if k in extra else getattr(c, k)) for k in EXPORT_COLUMNS]
            )

    if str(path) == "-":
        write(sys.stdout)
    else:
        buffer = io.StringIO(newline="")
        write(buffer)
        await asyncio.to_thread(Path(path).write_text, buffer.getvalue(), encoding="utf-8-sig")
    print(f"{len(found)} coupon(s) written to {path}", file=sys.stderr)
    return 0
