"""Render the bot's user-facing text from ``bot.yaml`` templates."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.vocab.policy import GroupPolicy


def rules_text(rules: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {rule}" for i, rule in enumerate(rules, 1))


def render(template: str, policy: GroupPolicy, **extra: str) -> str:
    """Fill a template's placeholders from the room's policy: the group's name,
    the bot's, what each section lends (``placeholder_values``) and ``extra``.

    The @mentions are not part of the text: the SDK puts ``@name`` in front of
    it for every id in ``mention_ids`` (that is what makes WeChat notify them).
    """
    values = {"group": policy.name, "bot_name": policy.bot_name}
    for section in policy.sections.values():
        lend = getattr(section, "placeholder_values", None)
        if lend is not None:
            values |= lend()
    return template.format(**values, **extra).strip()


#: Every placeholder some owner notice uses (:func:`notice` fills the ones a
#: notice leaves out with ""); each notice declares its own subset.
NOTICE_PLACEHOLDERS = frozenset(
    {"bot_name", "minutes", "action", "error", "hours", "group", "role"}
)


def notice(template: str, **values: str) -> str:
    """Fill an owner-notice template; placeholders it does not use may be left out."""
    return template.format(**(dict.fromkeys(NOTICE_PLACEHOLDERS, "") | values))


def chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), max(1, size))]
