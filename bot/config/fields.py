"""Field types of ``bot.yaml``: ids, endpoints, time zones, database URLs, texts.

A text the bot says is declared with the placeholders it may use, in the
field's own type::

    template: Annotated[str, Template(placeholders={"group", "rules"})]

and checked at load (unknown or positional placeholders, broken braces).
:func:`template_placeholders` reads the set back from a model's field.
"""

from __future__ import annotations

import re
import string
import unicodedata
import zoneinfo
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from bot.config.errors import fail

TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
DATABASE_URL_ENV = "DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/qunbot.db"

#: Placeholders of the texts the bot says in a group (welcome, reminder,
#: ``bot.intro``, the command replies): filled from the group's policy by
#: ``bot.vocab.texts.render``.
WELCOME_PLACEHOLDERS = frozenset(
    {"group", "rules", "name_card_format", "self_intro_prompt", "bot_name"}
)

_CONTACT_ID_RE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
_ROOM_ID_RE = re.compile(r"^[^\s@]+@[^\s@]+$")
ENDPOINT_RE = re.compile(r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
DB_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

# Characters nobody can see in a terminal or an editor: controls (C0, C1),
# format characters (zero-width, bidi controls), separators, unassigned.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})


def _invisible(value: str) -> str | None:
    """The first invisible or control character of an id, described; or None."""
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            name = unicodedata.name(ch, "control character")
            return f"U+{ord(ch):04X} {name} at position {i + 1}"
    return None


def _check_visible(value: str, what: str = "ids are copied from WeChat as plain text") -> None:
    found = _invisible(value)
    if found is not None:
        fail(f"{value!r} contains an invisible or control character ({found}); {what}: retype it")


def _check_contact_id(value: str) -> str:
    if not value:
        fail("empty account id")
    _check_visible(value)
    if value.endswith("@chatroom"):
        fail(f"{value!r} is a room id, not a WeChat account id")
    if not _CONTACT_ID_RE.match(value):
        fail(
            f"{value!r} is not a WeChat account id (wxid): ids are ASCII without spaces. "
            "Display names cannot be used: anyone can change theirs to impersonate an admin"
        )
    return value


def _check_room_id(value: str) -> str:
    _check_visible(value)
    if not _ROOM_ID_RE.match(value):
        fail(
            f"{value!r} is not a WeChat room id: room ids look like '12345678@chatroom' "
            "(the group's name goes in 'name', not in the id)"
        )
    return value


def check_endpoint(value: str) -> str:
    m = ENDPOINT_RE.match(value)
    if not m or not 1 <= int(m["port"]) <= 65535:
        fail(f"{value!r} is not a 'host:port' endpoint, e.g. '127.0.0.1:8788'")
    return value


def check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        fail(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Shanghai'")
    return value


def check_db_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep:
        fail(f"{value!r} is not a database URL, e.g. '{DEFAULT_DATABASE_URL}'")
    if scheme not in DB_SCHEMES:
        fail(
            f"unsupported database driver {scheme!r}: use 'sqlite+aiosqlite:///path/to/file.db' "
            "or 'postgresql+asyncpg://user@host/dbname'"
        )
    if scheme.startswith("sqlite") and _sqlite_in_memory(rest):
        fail(
            f"{value!r} is an in-memory database: it keeps nothing when the bot stops, so "
            "the outbox's crash safety and the risk-control pauses would vanish; "
            f"use a file, e.g. '{DEFAULT_DATABASE_URL}'"
        )
    return value


def _sqlite_in_memory(rest: str) -> bool:
    """``rest``: what follows ``sqlite+aiosqlite://`` (``/path?query``)."""
    path, _, query = rest.partition("?")
    database = path[1:] if path.startswith("/") else path
    return (
        database in ("", ":memory:", "file::memory:")
        or "mode=memory" in query
        or "mode=memory" in path
    )


_NAME_RE = re.compile(r"^[^\s.,:{}\[\]#&*!|>'\"%@`]{1,32}$")


def _check_name(value: str) -> str:
    """Profile names and tags: a word (Chinese is fine), no spaces or YAML signs."""
    if not _NAME_RE.match(value):
        fail(
            f"{value!r} is not a usable name: 1 to 32 characters, no spaces, "
            "no punctuation such as . , : # @ or brackets"
        )
    _check_visible(value, "names are typed by hand")
    return value


ContactId = Annotated[str, AfterValidator(_check_contact_id)]
RoomId = Annotated[str, AfterValidator(_check_room_id)]
#: A profile's name (``super``, ``vip``, ``品牌A``) or a group's tag (``上海``).
Name = Annotated[str, AfterValidator(_check_name)]
NonEmptyText = Annotated[str, Field(min_length=1)]


# --------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------


def check_template(value: str, allowed: frozenset[str]) -> str:
    names = ", ".join("{" + n + "}" for n in sorted(allowed)) or "none (write {{ and }} for braces)"
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        fail(f"broken braces in template ({exc}); write {{{{ and }}}} for a literal brace")
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            fail(f"empty or positional placeholder '{{{field}}}'; use one of {names}")
        if field not in allowed:
            fail(f"unknown placeholder '{{{field}}}'; use one of {names}")
        if spec or conversion:
            fail(f"placeholder '{{{field}}}' takes no format spec or conversion")
    return value


class Template:
    """Marks a text field as a ``str.format`` template with these placeholders.

    ``Annotated[str, Template(placeholders={"group", "rules"})]``: checked when
    the config is loaded; the JSON Schema lists them (``x-placeholders``)."""

    __slots__ = ("placeholders",)

    def __init__(self, placeholders: Iterable[str]) -> None:
        self.placeholders = frozenset(placeholders)

    def __repr__(self) -> str:
        return f"Template(placeholders={sorted(self.placeholders)!r})"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        allowed = self.placeholders
        return core_schema.no_info_after_validator_function(
            lambda v: check_template(v, allowed), handler(source)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["x-placeholders"] = sorted(self.placeholders)
        return out


#: A text the bot says in a group: the group's placeholders.
GroupText = Annotated[str, Field(min_length=1), Template(placeholders=WELCOME_PLACEHOLDERS)]


def template_placeholders(model: type[BaseModel], field: str) -> frozenset[str]:
    """The placeholders ``model.field`` declares (empty if it is no template)."""
    for meta in model.model_fields[field].metadata:
        if isinstance(meta, Template):
            return meta.placeholders
    return frozenset()


def placeholders_text(model: type[BaseModel], field: str) -> str:
    return ", ".join("{" + n + "}" for n in sorted(template_placeholders(model, field)))
