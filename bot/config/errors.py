"""Config problems: where they are (file:line:column:field) and what they say.

:class:`ConfigIssue` and :class:`ConfigError` are what callers see.  The rest
is shared by the models and the loader: raising a problem from inside a
validator with a location below the validated value (:func:`fail`,
:func:`fail_many`), and turning pydantic's errors into sentences an admin
editing ``bot.yaml`` understands (:func:`message`).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]
#: (location, message) or (location, message, point at the key, not its value)
Problem = tuple[Loc, str] | tuple[Loc, str, bool]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file.  ``line``/``column`` are 1-based, or
    ``None`` when the problem has no place in the file (missing file, env)."""

    file: str
    line: int | None
    column: int | None
    field: str  # dotted path, e.g. "groups.r1@chatroom.welcome.window_seconds"; "" if none
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Exception):
    """The configuration is unusable; ``issues`` says where and why."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def fail(message: str, *at: str | int, key: bool = False) -> NoReturn:
    """Raise a validation error; ``at`` extends the error's location below the
    validated value (e.g. the index of a duplicate in a list); ``key``: point
    at the key rather than its value."""
    raise PydanticCustomError(
        "qunbot_config", "{message}", {"message": message, "at": list(at), "key": key}
    )


def fail_many(issues: Sequence[Problem]) -> None:
    """Raise one validation error that the loader expands into several issues."""
    if not issues:
        return
    if len(issues) == 1:
        first = issues[0]
        fail(first[1], *first[0], key=bool(first[2]) if len(first) > 2 else False)
    raise PydanticCustomError(
        "qunbot_config",
        "{message}",
        {
            "message": "; ".join(p[1] for p in issues),
            "issues": [(list(p[0]), p[1], bool(p[2]) if len(p) > 2 else False) for p in issues],
        },
    )


def duplicates(values: Iterable[object]) -> list[tuple[int, int]]:
    """(index of a repeat, index of its first occurrence) for each repeat."""
    first: dict[object, int] = {}
    out: list[tuple[int, int]] = []
    for i, v in enumerate(values):
        if v in first:
            out.append((i, first[v]))
        else:
            first[v] = i
    return out


def duplicate_issues(values: Sequence[str], *prefix: str | int, what: str = "id") -> list[Problem]:
    return [
        ((*prefix, i), f"duplicate {what} {values[i]!r} (already at [{j}])")
        for i, j in duplicates(values)
    ]


# --------------------------------------------------------------------------
# Walking the model types (for messages and for yes/no-as-number checks)
# --------------------------------------------------------------------------


def unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` → ``X``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or origin is types.UnionType:
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_type(model: type[BaseModel], key: str) -> Any:
    """The type of ``key`` in ``model``: a declared field, or one of the
    model's ``extra_field_types`` (profile sections kept as written)."""
    f = model.model_fields.get(key)
    if f is not None:
        return f.annotation
    extra: Mapping[str, Any] = getattr(model, "extra_field_types", {})
    return extra.get(key)


def _model_keys(model: type[BaseModel]) -> list[str]:
    return [*model.model_fields, *getattr(model, "extra_field_types", {})]


def keys_at(root: Any, loc: Loc) -> list[str] | None:
    """The keys the model at ``loc`` below ``root`` accepts."""
    tp: Any = root
    for part in loc:
        tp = unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = _field_type(tp, str(part))
            if tp is None:
                return None
            continue
        origin = get_origin(tp)
        if origin is dict:
            tp = get_args(tp)[1]
        elif origin in (list, tuple):
            tp = get_args(tp)[0]
        else:
            return None
    tp = unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_keys(tp)
    return None


def unknown_key(name: object, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(allowed), n=1)
    if close:
        return f"unknown key {name!r}; did you mean {close[0]!r}?"
    if allowed:
        return f"unknown key {name!r}; allowed here: {', '.join(allowed)}"
    return f"unknown key {name!r}"


def message(err: Mapping[str, Any], loc: Loc, root: Any) -> str:
    """A pydantic error at ``loc`` (below the model ``root``) in plain words."""
    kind = err["type"]
    msg = str(err["msg"])
    name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return unknown_key(name, keys_at(root, loc[:-1]) or [])
    if kind in ("model_type", "dict_type"):
        return "expected a mapping (key: value lines)"
    if kind in ("tuple_type", "list_type"):
        return "expected a list ('- item' lines or [a, b])"
    if kind == "missing":
        return f"required key {name!r} is missing"
    if kind == "value_error" and msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    if loc and loc[-1] == "[key]":
        return f"key {err.get('input')!r}: {msg}"
    if kind == "string_type" and isinstance(err.get("input"), Mapping):
        return msg + " (a text starting with '{' must be quoted in YAML)"
    if kind == "string_type" and isinstance(err.get("input"), int | float):
        return msg + " (quote it in YAML to make it text)"
    return msg


def _is_number_type(tp: Any) -> bool:
    """``int``/``float`` (possibly Annotated/Optional), but not ``bool``."""
    tp = unwrap(tp)
    if get_origin(tp) is Union or get_origin(tp) is types.UnionType:
        args = [unwrap(a) for a in get_args(tp)]
        return bool(args) and all(a in (int, float, type(None)) for a in args)
    return tp in (int, float)


def bool_number_issues(data: Any, tp: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """Where ``data`` has a yes/no value (``true``) for a number.

    Pydantic would read ``true`` as 1 (``max_mentions: true`` became 1); the
    rest of the validation stays as lax as before (a YAML int is a fine
    float).  Walks the model types, so it covers every section, profile
    sections included."""
    if isinstance(data, bool):
        if _is_number_type(tp):
            word = "true" if data else "false"
            return [(loc, f"expected a number, found the yes/no value {word}")]
        return []
    tp = unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if not isinstance(data, Mapping):
            return []
        out: list[tuple[Loc, str]] = []
        for key, value in data.items():
            f = _field_type(tp, key) if isinstance(key, str) else None
            if f is not None:
                out.extend(bool_number_issues(value, f, (*loc, key)))
        return out
    origin = get_origin(tp)
    if origin is dict and isinstance(data, Mapping):
        value_tp = get_args(tp)[1]
        return [i for k, v in data.items() for i in bool_number_issues(v, value_tp, (*loc, k))]
    if origin in (list, tuple) and isinstance(data, list):
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return []
        item_tp = args[0] if args else Any
        return [i for n, v in enumerate(data) for i in bool_number_issues(v, item_tp, (*loc, n))]
    return []


def expand(err: Mapping[str, Any], root: Any, base: Loc = ()) -> list[tuple[Loc, str, bool]]:
    """One pydantic error → (location, message, at the key?) triples; a
    :func:`fail_many` error carries several.  ``base`` prefixes every
    location; ``root`` is the model the error's location starts from."""
    loc: Loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    if "issues" in ctx:
        return [((*base, *loc, *at), str(msg), bool(key)) for at, msg, key in ctx["issues"]]
    at_key = err["type"] == "extra_forbidden" or bool(ctx.get("key"))
    return [((*base, *loc, *ctx.get("at", ())), message(err, loc, root), at_key)]
