"""``qunbot status`` for people: the JSON report (``--json``) as a few short sections."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_COUNTERS = ("sent", "dry_run", "pending", "delayed", "refused", "failed", "expired", "in_doubt")
_LABELS = {"dry_run": "dry run", "in_doubt": "in doubt"}


def _when(value: Any, tz: Any) -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None and tz is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def render_status(report: dict[str, Any], timezone: str = "UTC") -> str:
    try:
        tz: Any = ZoneInfo(timezone)
    except Exception:
        tz = None
    out: list[str] = []
    totals = report.get("totals", {})
    out.append(
        f"Groups: {totals.get('groups_active', 0)} active · members present: "
        f"{totals.get('members_present', 0)} · messages logged: {totals.get('messages', 0)}"
    )
    for g in report.get("groups", []):
        state = "present" if g.get("present") else f"left {_when(g.get('left_at'), tz)}"
        role = f", bot is {g['bot_role']}" if g.get("bot_role") else ""
        out.append(
            f"  {g.get('room_id')}  {g.get('topic') or ''}  [{g.get('tier')}] "
            f"{g.get('members', 0)} members, {state}{role}"
        )
    pauses = report.get("pauses") or []
    out.append("")
    if pauses:
        out.append("Paused (risk control):")
        for p in pauses:
            out.append(
                f"  {p.get('kind')} until {_when(p.get('until'), tz)} — {p.get('error') or ''}"
                f"  (qunbot pause clear {p.get('kind')})"
            )
    else:
        out.append("Paused: nothing")
    broadcasts = report.get("broadcasts") or []
    if broadcasts:
        out.append("")
        out.append("Calendar broadcasts (at the governor's pace):")
        for b in broadcasts:
            over = "  — over the daily link/card budget!" if b.get("over_rich_day") else ""
            minutes = float(b.get("minutes") or 0)
            takes = "under a minute" if minutes < 1 else f"about {minutes:.0f} min"
            out.append(
                f"  {b.get('entry')}: {b.get('groups')} groups × "
                f"{b.get('messages_per_group')} message(s), {takes}{over}"
            )
    actions = report.get("actions") or {}
    out.append("")
    if actions:
        out.append("Actions by kind:")
        for kind, counts in sorted(actions.items()):
            parts = [
                f"{counts[name]} {_LABELS.get(name, name)}"
                for name in _COUNTERS
                if counts.get(name)
            ]
            out.append(f"  {kind:<14} " + (", ".join(parts) or "none"))
    else:
        out.append("Actions: none yet")
    pending, doubt = report.get("outbox_pending", 0), report.get("outbox_in_doubt", 0)
    if pending or doubt:
        out.append(f"  waiting to be sent: {pending}; in doubt (never repeated): {doubt}")
    conn = report.get("last_connection")
    out.append("")
    if conn:
        who = f" as {conn['wechat_id']}" if conn.get("wechat_id") else ""
        out.append(f"Last connection: {conn.get('event')}{who} at {_when(conn.get('at'), tz)}")
    else:
        out.append("Last connection: never")
    audit = report.get("recent_audit") or []
    if audit:
        out.append("")
        out.append("Recent actions (newest first):")
        for a in audit:
            where = f" in {a['room_id']}" if a.get("room_id") else ""
            target = f" → {a['target_id']}" if a.get("target_id") else ""
            why = a.get("error") or a.get("reason") or ""
            out.append(
                f"  {_when(a.get('at'), tz)}  {a.get('action')}{where}{target}: {a.get('status')}"
                + (f" — {why}" if why else "")
            )
    out.append("")
    out.append("(qunbot status --json: the whole report)")
    return "\n".join(out)
