"""Assert on the project's own actions, in order (in the spirit of aiogram's ``MockedBot``).

:class:`ActionLog` hears every action's outcome from the app (``done``,
``dry_run``, ``refused``, ``expired``, ``failed``).  :meth:`ActionLog.expect`
takes the actions finished since the previous call and compares them, in
order, with patterns::

    bot.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("欢迎")),
        Like(RemoveMember, room=ROOM, member_id="wxid_spam"),
    )

A pattern names the action's type and the fields that matter; a field's
value is compared for equality, or called when it is a predicate (:class:`Has`).
A mismatch fails with both lists written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.vocab.actions import Action, action_name


@dataclass(frozen=True)
class Has:
    """A text field containing every one of ``parts``."""

    parts: tuple[str, ...]

    def __init__(self, *parts: str) -> None:
        object.__setattr__(self, "parts", parts)

    def __call__(self, value: object) -> bool:
        return isinstance(value, str) and all(p in value for p in self.parts)

    def __repr__(self) -> str:
        return f"Has{self.parts!r}"


class Like:
    def __init__(self, kind: type[Action], status: str = "done", **fields: Any) -> None:
        self.kind = kind
        self.status = status
        self.fields = fields

    def matches(self, action: Action, status: str) -> bool:
        if type(action) is not self.kind or status != self.status:
            return False
        for name, want in self.fields.items():
            have = getattr(action, name)
            ok = want(have) if callable(want) and not isinstance(want, type) else have == want
            if not ok:
                return False
        return True

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.kind.__name__}[{self.status}]({shown})"


def _show(action: Action, status: str) -> str:
    fields = {
        k: getattr(action, k)
        for k in ("room", "to_contact", "member_id", "text", "mention_ids")
        if getattr(action, k, None)
    }
    return f"{action_name(action)}[{status}]({fields})"


class ActionLog:
    """Every action's outcome, in the order they finished."""

    def __init__(self) -> None:
        self.entries: list[tuple[Action, str]] = []
        self._seen = 0

    def __call__(self, action: Action, status: str) -> None:
        self.entries.append((action, status))

    def new(self) -> list[tuple[Action, str]]:
        """The outcomes since the previous :meth:`expect` (or :meth:`new`)."""
        fresh = self.entries[self._seen :]
        self._seen = len(self.entries)
        return fresh

    def expect(self, *patterns: Like, in_order: bool = True) -> list[tuple[Action, str]]:
        """Exactly these actions finished since the previous call, in this order
        (``in_order=False``: in any order — actions of different kinds or
        conversations are paced apart, so their relative order is not the
        bot's promise).  Returns them."""
        fresh = self.new()
        if in_order:
            ok = len(fresh) == len(patterns) and all(
                p.matches(a, s) for p, (a, s) in zip(patterns, fresh, strict=True)
            )
        else:
            left = list(fresh)
            for p in patterns:
                hit = next((e for e in left if p.matches(*e)), None)
                if hit is not None:
                    left.remove(hit)
            ok = len(fresh) == len(patterns) and not left
        assert ok, (
            "the bot's actions were not the expected ones\n  expected:\n    "
            + "\n    ".join(map(repr, patterns))
            + "\n  done:\n    "
            + "\n    ".join(_show(a, s) for a, s in fresh)
        )
        return fresh

    def nothing(self) -> None:
        """No action finished since the previous call."""
        self.expect()


def order_of(done: list[tuple[Action, str]], *kinds: type[Action]) -> list[str]:
    """The names of ``done``'s actions of these kinds, in the order they finished."""
    return [type(a).__name__ for a, _ in done if isinstance(a, kinds)]
