"""``qunbot cases`` and ``qunbot scan``: moderation from the command line.

    qunbot cases [--group ID] [--open] [--json] [--limit N]
        the account's moderation cases, newest first: a table for people, or
        one JSON object a line (``--json``).  ``--open``: those still waiting
        for someone (open, appealed).
    qunbot scan [--format tsv|lines] [--summary] FILE|-
        the ad detector with the default policy over a file (``-``: standard
        input): one JSON object a line on standard output, in input order, with
        ``ad``, ``score``, ``decision`` and ``reasons`` (and ``label`` from a
        tsv).  ``--summary``: precision, recall and F1 on standard error when
        the input has labels (tsv: ``label<TAB>text``, label 1 = an ad).

``scan`` needs no bot.yaml and no database: it is the detector alone.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bot.cli_db import open_cli_db
from bot.config import BotConfig

#: Statuses of a case someone still has to look at.
OPEN_STATUSES = ("open", "appealed")
REASONS_WIDTH = 40
SCAN_BATCH = 2000  # rows written to stdout at once


# ------------------------------------------------------------ the parsers


def moderation_parsers(sub: Any) -> None:
    """Add ``cases`` and ``scan`` to the ``qunbot`` command's subparsers."""
    cases = sub.add_parser("cases", help="moderation cases, newest first (reads the database)")
    cases.add_argument("--group", metavar="ID", help="only this group (room id)")
    cases.add_argument("--open", action="store_true", help="only cases still open or appealed")
    cases.add_argument("--json", action="store_true", help="one JSON object a line")
    cases.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    scan = sub.add_parser("scan", help="run the ad detector over a file, one JSON line each")
    scan.add_argument(
        "--format",
        choices=("tsv", "lines"),
        default="lines",
        help="tsv: label<TAB>text (label 1 = ad); lines: one message a line",
    )
    scan.add_argument(
        "--summary", action="store_true", help="precision, recall and F1 on stderr (needs labels)"
    )
    scan.add_argument("file", help="the file, or - for standard input")


async def cases_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    return await cases(
        config,
        base_dir,
        group=args.group,
        open_only=args.open,
        as_json=args.json,
        limit=args.limit,
    )


# ----------------------------------------------------------------- cases


def _reasons(reasons: Sequence[dict[str, Any]]) -> str:
    hits = [str(r["reason"]) for r in reasons if r.get("hit", True) and r.get("reason")]
    return "；".join(hits) or "-"


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cut(text: str, width: int) -> str:
    out: list[str] = []
    used = 0
    for c in text.replace("\n", " "):
        w = _width(c)
        if used + w > width - 1:
            return "".join(out) + "…"
        out.append(c)
        used += w
    return "".join(out)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned by display width (the last one is not padded)."""
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


async def cases(
    config: BotConfig,
    base_dir: Path,
    *,
    group: str | None = None,
    open_only: bool = False,
    as_json: bool = False,
    limit: int = 200,
    out: IO[str] | None = None,
) -> int:
    """Print the cases of ``bot.account`` (see the module docstring)."""
    from storage.moderation import ModerationStore

    out = out or sys.stdout
    async with open_cli_db(config, base_dir) as db:
        store = ModerationStore(db.sessions, account_id=db.account)
        found = await store.cases(
            room_id=group, statuses=OPEN_STATUSES if open_only else (), limit=limit
        )
        names = await db.contact_names(c.member_id for c in found)

    def group_name(room: str) -> str:
        listed = config.groups.get(room)
        return (listed.name if listed is not None else None) or room

    if as_json:
        for c in found:
            row = c.as_dict() | {"group": group_name(c.room_id), "member": names[c.member_id]}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    if not found:
        what = "open cases" if open_only else "cases"
        where = f" in {group}" if group else ""
        out.write(f"no {what}{where} for {config.bot.account}\n")
        return 0
    tz = db.tz
    header = [
        "case",
        "group",
        "member",
        "rule",
        "decision",
        "action",
        "mode",
        "status",
        "time",
        "reasons",
    ]
    rows = [
        [
            str(c.id),
            _cut(group_name(c.room_id), 16),
            _cut(f"{names[c.member_id]}({c.member_id})" if names[c.member_id] else c.member_id, 28),
            c.rule,
            c.decision,
            c.action,
            c.mode,
            c.status,
            c.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            _cut(_reasons(c.reasons), REASONS_WIDTH),
        ]
        for c in found
    ]
    out.write(table(header, rows) + "\n")
    return 0


# ------------------------------------------------------------------ scan


@dataclass
class Tally:
    """Labelled rows against the detector's ``ad``."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, label: bool, ad: bool) -> None:
        if label:
            self.tp, self.fn = self.tp + ad, self.fn + (not ad)
        else:
            self.fp, self.tn = self.fp + ad, self.tn + (not ad)

    @property
    def labelled(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def summary(self) -> dict[str, float | int]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "labelled": self.labelled,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


def _lines(source: str, stdin: IO[str] | None) -> Iterator[str]:
    """The input's lines, split on ``\\n`` only (a ``\\r`` inside a message stays
    in it; ``\\r\\n`` ends are stripped by the parser); UTF-8, a BOM dropped."""
    if source == "-":
        stream = stdin or sys.stdin
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="\n")
        yield from stream
        return
    with open(source, encoding="utf-8-sig", errors="replace", newline="\n") as f:
        yield from f


def _utf8(stream: IO[str]) -> IO[str]:
    """JSON with Chinese in it must not die on a terminal set to ASCII."""
    if (getattr(stream, "encoding", "utf-8") or "").lower().replace("-", "") != "utf8":
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8")
    return stream


def scan(
    source: str,
    fmt: str = "lines",
    summary: bool = False,
    *,
    stdin: IO[str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Run the detector over ``source`` (see the module docstring); 2 if it cannot be read."""
    from handlers.moderation.detector.verdict import scan_lines

    out = _utf8(out or sys.stdout)
    err = err or sys.stderr
    tally = Tally()
    batch: list[str] = []
    started = datetime.now(UTC)
    try:
        # scan_lines is what verdict.scan_json_lines serialises; the rows are
        # kept here as dicts to count the labels on the way.
        for row in scan_lines(_lines(source, stdin), fmt):
            if "label" in row:
                tally.add(bool(row["label"]), bool(row["ad"]))
            batch.append(json.dumps(row, ensure_ascii=False))
            if len(batch) >= SCAN_BATCH:
                out.write("\n".join(batch) + "\n")
                batch.clear()
    except OSError as exc:
        print(f"qunbot scan: cannot read {source}: {exc.strerror or exc}", file=err)
        return 2
    if batch:
        out.write("\n".join(batch) + "\n")
    out.flush()
    if summary:
        if not tally.labelled:
            print(
                "qunbot scan: no labels in the input: --summary needs --format tsv "
                "(label<TAB>text, label 1 = ad)",
                file=err,
            )
        else:
            seconds = (datetime.now(UTC) - started).total_seconds()
            print(json.dumps(tally.summary() | {"seconds": round(seconds, 2)}), file=err)
    return 0
