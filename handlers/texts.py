"""Render the bot's user-facing text from ``bot.yaml`` templates."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import GroupPolicy


def rules_text(rules: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {rule}" for i, rule in enumerate(rules, 1))


def render(template: str, policy: GroupPolicy) -> str:
    """Fill a template's placeholders from the room's policy.

    The @mentions are not part of the text: the SDK puts ``@name`` in front of
    it for every id in ``mention_ids`` (that is what makes WeChat notify them).
    """
    welcome = policy.welcome
    return template.format(
        group=policy.name,
        rules=rules_text(welcome.rules),
        name_card_format=welcome.name_card_format,
        self_intro_prompt=welcome.self_intro_prompt,
        bot_name=policy.bot_name,
    ).strip()


def notice(template: str, **values: str) -> str:
    """Fill an owner-notice template; placeholders it does not use may be left out."""
    from bot.config import NOTICE_PLACEHOLDERS

    return template.format(**(dict.fromkeys(NOTICE_PLACEHOLDERS, "") | values))


def chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), max(1, size))]
