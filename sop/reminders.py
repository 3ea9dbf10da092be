"""Remind newcomers, once, who have not spoken since the welcome.

A calendar job: it runs every few minutes, asks storage who is due (no scan
of the activity log: memberships and the per-member rollup answer it) and
@mentions them in one message per room (at most ``max_mentions`` each).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from bot.policies import PolicyBook
from bot.vocab.actions import Priority, Say
from bot.vocab.clock import Clock
from bot.vocab.texts import chunks, render
from handlers.base import Submit
from storage.repo import Repository


async def remind_silent_newcomers(
    repo: Repository, policies: PolicyBook, clock: Clock, submit: Submit
) -> int:
    """Queue the reminders that are due; return how many members were reminded."""
    now = clock.now()
    rooms_by_hours: dict[float, set[str]] = defaultdict(set)
    for room_id in policies.managed_rooms():
        policy = policies.get(room_id)
        if policy and policy.welcome.enabled and policy.welcome.reminder_after_hours > 0:
            rooms_by_hours[policy.welcome.reminder_after_hours].add(room_id)
    reminded = 0
    for hours, rooms in rooms_by_hours.items():
        due: dict[str, list[str]] = defaultdict(list)
        for room_id, contact_id in await repo.due_for_reminder(now, timedelta(hours=hours)):
            if room_id in rooms:
                due[room_id].append(contact_id)
        for room_id, members in due.items():
            policy = policies.get(room_id)
            assert policy is not None
            text = render(policy.welcome.reminder_template, policy)
            await submit(
                [
                    Say(
                        room=room_id,
                        text=text,
                        mention_ids=tuple(group),
                        priority=Priority.WELCOME,
                        reason=f"remind {len(group)} silent newcomer(s) to introduce themselves",
                    )
                    for group in chunks(members, policy.welcome.max_mentions)
                ]
            )
            for member in members:
                await repo.mark_reminded(room_id, member, now)
            reminded += len(members)
    return reminded
