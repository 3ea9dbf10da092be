"""Reading ``bot.yaml``: limits, YAML, and every problem at file:line:column:field.

Admins edit ``bot.yaml`` by hand, so every mistake is reported the way a
compiler would: ``bot.yaml:12:5: groups.r1@chatroom.profile: <message>``, one
line per problem, all problems at once (see :class:`ConfigError`).  The file
is bounded before it is built (size, line length, nesting, aliases).

Old key names (``tiers``, ``tier``) are still read, with one warning per
place (:attr:`BotConfig.warnings`, also logged by :func:`load_config`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.config.errors import (
    ConfigError,
    ConfigIssue,
    Loc,
    Problem,
    bool_number_issues,
    expand,
)
from bot.config.profiles import resolve
from bot.config.schema import RENAMED_KEYS, BotConfig

log = logging.getLogger(__name__)

#: Limits on the config file, checked before the YAML is built: a file is
#: read only if it is a regular file of at most ``MAX_CONFIG_BYTES``; its
#: nesting and its node count (with every alias expanded) are bounded.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 50_000
#: The YAML scanner builds a comment one character at a time, which can cost
#: time quadratic in the line's length: long lines are refused up front.
MAX_LINE_CHARS = 16_384


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((k for test, k in _FILE_KINDS if test(mode)), "not a file")
    return f"is {kind}, not a regular file; give the path of a bot.yaml file"


def _too_big(size: int) -> str:
    return (
        f"is {size:,} bytes; a config file may be at most {MAX_CONFIG_BYTES:,} bytes "
        f"({MAX_CONFIG_BYTES // 1024} KiB)"
    )


def _read_config_bytes(p: Path, name: str) -> bytes:
    """The file's bytes, if it is a regular file within the size limit.

    Checked before opening (a FIFO would block the open, a device never
    ends), and again on the open descriptor (the path may have changed)."""

    def issue(message: str) -> ConfigError:
        return ConfigError([ConfigIssue(name, None, None, "", message)])

    try:
        st = p.stat()
    except FileNotFoundError:
        raise issue("config file not found") from None
    except OSError as exc:
        raise issue(f"cannot read config file: {exc.strerror or exc}") from None
    problem = _not_regular(st.st_mode) or (
        _too_big(st.st_size) if st.st_size > MAX_CONFIG_BYTES else None
    )
    if problem:
        raise issue(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise issue(f"cannot read config file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        problem = _not_regular(os.fstat(f.fileno()).st_mode)
        if problem:
            raise issue(problem)
        try:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise issue(f"cannot read config file: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise issue(_too_big(len(raw)) + " (it grew while being read)")
    return raw


def load_config(path: str | os.PathLike[str]) -> BotConfig:
    """Read and validate a config file; raise :class:`ConfigError` on any problem.

    Only a regular file of at most ``MAX_CONFIG_BYTES`` is read."""
    p = Path(path)
    name = str(path)
    raw = _read_config_bytes(p, name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigIssue(name, line, None, "", "not valid UTF-8; save the file as UTF-8")]
        ) from None
    cfg = validate_config_text(text, name)
    cfg._source = p.absolute()
    for warning in cfg.warnings:
        log.warning("%s", warning)
    return cfg


def validate_config_text(text: str, filename: str = "bot.yaml") -> BotConfig:
    """Validate config text; ``filename`` only labels the issues."""
    import handlers.features  # noqa: F401  (registers every feature's section first)

    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue(filename, None, None, "", _too_big(len(text.encode())))])
    _check_line_lengths(text, filename)
    _check_yaml_shape(text, filename)
    tree = _parse_yaml(text, filename)
    data = _to_plain(tree)
    early = bool_number_issues(_with_new_names(data), BotConfig, ())
    try:
        cfg = BotConfig.model_validate(data)
    except ValidationError as exc:
        issues = _issues_from_validation(exc, tree, filename)
        issues += _more_profile_issues(data, tree, filename, issues)
    else:
        issues = []
    if early:  # replaces what pydantic said of the same value (e.g. "false": below 1)
        fields = {_format_field(loc, tree) for loc, _ in early}
        issues = [i for i in issues if i.field not in fields]
        for loc, msg in early:
            line, col = _locate(tree, loc, at_key=False)
            issues.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
    if issues:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise ConfigError(issues)
    cfg._warnings = (
        *_old_name_warnings(tree, filename),
        *located(_calendar_warnings(cfg), tree, filename),
    )
    return cfg


def _calendar_warnings(cfg: BotConfig) -> list[Problem]:
    from sop.targets import target_warnings

    return target_warnings(cfg)


def located(problems: list[Problem], tree: CommentedMap, filename: str) -> list[ConfigIssue]:
    """Problems found beside the models (warnings), at their place in the file."""
    out: list[ConfigIssue] = []
    for loc, msg, *key in problems:
        line, col = _locate(tree, loc, at_key=bool(key and key[0]))
        out.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
    return out


def locate_in_file(
    path: str | os.PathLike[str], problems: list[Problem], filename: str | None = None
) -> list[ConfigIssue]:
    """Like :func:`located`, reading the (already validated) file again."""
    name = filename or str(path)
    try:
        tree = _parse_yaml(_read_config_bytes(Path(path), name).decode("utf-8-sig"), name)
    except (ConfigError, UnicodeDecodeError):
        return [ConfigIssue(name, None, None, _format_field(p[0]), p[1]) for p in problems]
    return located(problems, tree, name)


def _with_new_names(data: Any) -> Any:
    """``tiers`` read as ``profiles`` and ``groups.*.tier`` as ``profile``
    (as the models do), for the checks that run beside the models."""
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    if "tiers" in out and "profiles" not in out:
        out["profiles"] = out.pop("tiers")
    groups = out.get("groups")
    if isinstance(groups, Mapping):
        renamed: dict[Any, Any] = {}
        for room, g in groups.items():
            if isinstance(g, Mapping) and "tier" in g and "profile" not in g:
                g = {("profile" if k == "tier" else k): v for k, v in g.items()}
            renamed[room] = g
        out["groups"] = renamed
    return out


def _more_profile_issues(
    data: Any, tree: CommentedMap, filename: str, found: list[ConfigIssue]
) -> list[ConfigIssue]:
    """Profile problems in a file that failed validation elsewhere: all
    problems at once, not one round of fixes per section."""
    data = _with_new_names(data)
    profiles, groups = data.get("profiles"), data.get("groups")

    def mappings(x: Any) -> dict[str, Mapping[str, Any]]:
        if not isinstance(x, Mapping):
            return {}
        return {k: v for k, v in x.items() if isinstance(k, str) and isinstance(v, Mapping)}

    seen = {(i.field, i.message) for i in found}
    out: list[ConfigIssue] = []
    for loc, msg, *key in resolve(mappings(profiles), mappings(groups)).problems:
        line, col = _locate(tree, loc, at_key=bool(key and key[0]))
        issue = ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg)
        if (issue.field, issue.message) not in seen:
            seen.add((issue.field, issue.message))
            out.append(issue)
    return out


def _old_name_warnings(tree: CommentedMap, filename: str) -> list[ConfigIssue]:
    """One warning per old key name in the file, at the key."""
    out: list[ConfigIssue] = []

    def warn(node: CommentedMap, key: str, path: Loc) -> None:
        new = RENAMED_KEYS[key]
        line, col = _locate(node, (key,), at_key=True)
        msg = f"'{key}' is deprecated: rename it to '{new}' (read as '{new}' for now)"
        out.append(ConfigIssue(filename, line + 1, col + 1, _format_field((*path, key)), msg))

    if "tiers" in tree:
        warn(tree, "tiers", ())
    groups = tree.get("groups")
    if isinstance(groups, CommentedMap):
        for room, group in groups.items():
            if isinstance(group, CommentedMap) and "tier" in group:
                warn(group, "tier", ("groups", room))
    return out


def _check_line_lengths(text: str, filename: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE_CHARS:
            msg = (
                f"line is {len(line):,} characters long; at most {MAX_LINE_CHARS:,} are allowed "
                "(break a long list over several '- item' lines, a long text into a | block)"
            )
            raise ConfigError([ConfigIssue(filename, number, MAX_LINE_CHARS + 1, "", msg)])


def _check_yaml_shape(text: str, filename: str) -> None:
    """Refuse YAML too deep or too big once aliases are expanded ("billion
    laughs"), reading parser events only: nothing is built, and the parser
    stops at the first node past a limit."""
    yaml = YAML(typ="rt")
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)
    # One frame per open collection: [nodes inside, height of tallest child, anchor]
    stack: list[list[Any]] = []
    total = 0

    def refuse(event: Any, message: str) -> NoReturn:
        mark = event.start_mark
        raise ConfigError([ConfigIssue(filename, mark.line + 1, mark.column + 1, "", message)])

    def add(nodes: int, height: int) -> None:
        if stack:
            stack[-1][0] += nodes
            stack[-1][1] = max(stack[-1][1], height)

    try:
        for event in yaml.parse(text):
            if isinstance(event, CollectionStartEvent):
                if len(stack) + 1 > MAX_YAML_DEPTH:
                    refuse(event, f"nested more than {MAX_YAML_DEPTH} levels deep")
                stack.append([1, 0, event.anchor])
                total += 1
            elif isinstance(event, CollectionEndEvent):
                nodes, height, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = (nodes, height + 1)
                add(nodes, height + 1)
            elif isinstance(event, AliasEvent):
                nodes, height = anchors.get(event.anchor, (1, 1))
                if len(stack) + height > MAX_YAML_DEPTH:
                    refuse(
                        event, f"alias *{event.anchor} nests more than {MAX_YAML_DEPTH} levels deep"
                    )
                total += nodes
                if total > MAX_YAML_NODES:
                    refuse(
                        event,
                        f"aliases expand the file to more than {MAX_YAML_NODES:,} values "
                        f"(alias *{event.anchor} alone is {nodes:,}); write the values out "
                        "or use fewer aliases",
                    )
                add(nodes, height)
            elif isinstance(event, ScalarEvent):
                if event.anchor:
                    anchors[event.anchor] = (1, 1)
                total += 1
                add(1, 1)
            if total > MAX_YAML_NODES and not isinstance(event, AliasEvent):
                refuse(event, f"more than {MAX_YAML_NODES:,} values; is this the right file?")
    except YAMLError:
        return  # a syntax error: the loader reports it with its place


def _parse_yaml(text: str, filename: str) -> CommentedMap:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except DuplicateKeyError:
        raise ConfigError(_duplicate_key_issues(text, filename)) from None
    except MarkedYAMLError as exc:
        raise ConfigError([_yaml_issue(exc, text, filename)]) from None
    except YAMLError as exc:
        raise ConfigError([ConfigIssue(filename, None, None, "", f"YAML: {exc}")]) from None
    if tree is None:
        raise ConfigError(
            [ConfigIssue(filename, 1, 1, "", "the file is empty; expected a mapping of sections")]
        )
    if not isinstance(tree, CommentedMap):
        line, col = (tree.lc.line + 1, tree.lc.col + 1) if hasattr(tree, "lc") else (1, 1)
        kind = "a list" if isinstance(tree, CommentedSeq) else f"a {type(tree).__name__}"
        msg = f"expected a mapping of sections (bot:, transport:, …), found {kind}"
        raise ConfigError([ConfigIssue(filename, line, col, "", msg)])
    return tree


_UNQUOTED_BRACES_RE = re.compile(r":\s*\{[^}]*\}\s*[^\s,}#]")


def _yaml_issue(exc: MarkedYAMLError, text: str, filename: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    col = mark.column + 1 if mark is not None else None
    msg = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if "\t" in msg or "\\t" in msg:
        msg += " (indent with spaces, not tabs)"
    ctx = exc.context_mark
    if exc.context and exc.problem and ctx is not None and ctx is not mark:
        msg += f" ({exc.context} started at line {ctx.line + 1}, column {ctx.column + 1})"
    if mark is not None:
        lines = text.splitlines()
        nearby = lines[max(0, mark.line - 1) : mark.line + 1]
        if any(_UNQUOTED_BRACES_RE.search(x) for x in nearby):
            msg += "; a text starting with '{' must be quoted or written as a | block"
    return ConfigIssue(filename, line, col, "", msg)


def _duplicate_key_issues(text: str, filename: str) -> list[ConfigIssue]:
    """Every repeated key, with its path: the parser stops at the first."""
    issues: list[ConfigIssue] = []

    def walk(node: Node, path: Loc) -> None:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if key is not None and key in seen:
                    m = key_node.start_mark
                    msg = (
                        f"duplicate key {key!r} (first at line {seen[key] + 1}); "
                        "a key may appear only once in a mapping"
                    )
                    issues.append(
                        ConfigIssue(
                            filename, m.line + 1, m.column + 1, _format_field((*path, key)), msg
                        )
                    )
                elif key is not None:
                    seen[key] = key_node.start_mark.line
                walk(value_node, (*path, key if key is not None else "?"))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError:
        root = None
    if root is not None:
        walk(root, ())
    return issues or [ConfigIssue(filename, None, None, "", "YAML: duplicate key")]


def _to_plain(node: Any) -> Any:
    """ruamel's round-trip types → plain Python (positions stay in the tree)."""
    if isinstance(node, Mapping):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            key = _to_plain(k)
            out[str(key) if isinstance(key, dict | list) else key] = _to_plain(v)
        return out
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


_OLD_NAMES = {new: old for old, new in RENAMED_KEYS.items()}


def _locate(root: CommentedMap, loc: Loc, *, at_key: bool) -> tuple[int, int]:
    """0-based (line, column) in the YAML of the value (or key) at ``loc``.

    A path that leaves the document (a missing key) points at the deepest
    existing parent's key; pydantic's internal parts ('[key]', union tags)
    are followed or skipped."""
    node: Any = root
    pos = key_pos = (root.lc.line, root.lc.col)
    for part in loc:
        if part == "[key]":
            return key_pos
        if isinstance(node, CommentedMap):
            if part not in node:
                part = _OLD_NAMES.get(part, part)  # type: ignore[arg-type]
            if part not in node:
                return key_pos  # missing: point at the parent mapping
            data = (getattr(node.lc, "data", None) or {}).get(part)
            if data is not None:
                key_pos, pos = (data[0], data[1]), (data[2], data[3])
            node = node[part]
        elif isinstance(node, CommentedSeq):
            if not isinstance(part, int) or not 0 <= part < len(node):
                continue
            item = (getattr(node.lc, "data", None) or {}).get(part)
            if item is not None:
                key_pos = pos = (item[0], item[1])
            node = node[part]
        # else: a scalar; remaining parts are pydantic's, not the document's
    return key_pos if at_key else pos


def _format_field(loc: Loc, root: Any = None) -> str:
    """``groups.r1@chatroom.admins[0]``: mapping keys dotted, list indexes in
    brackets (an int is a key where the document has a mapping)."""
    out = ""
    node = root
    for part in loc:
        if part == "[key]":
            continue
        old = _OLD_NAMES.get(part) if isinstance(part, str) else None
        if old is not None and isinstance(node, Mapping) and part not in node and old in node:
            part = old  # the name the file uses
        shown = part if not isinstance(part, str) or part.isprintable() else repr(part)
        if isinstance(part, int) and not isinstance(node, Mapping):
            out += f"[{part}]"
        else:
            out += f".{shown}" if out else str(shown)
        try:
            node = node[part] if node is not None else None
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _issues_from_validation(
    exc: ValidationError, tree: CommentedMap, filename: str, model: Any = BotConfig
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors():
        for loc, msg, at_key in expand(err, model):
            line, col = _locate(tree, loc, at_key=at_key)
            issues.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
    issues.sort(key=lambda i: (i.line or 0, i.column or 0))
    return issues
