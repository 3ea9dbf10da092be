"""The domain packages never see the Wechaty SDK.

``handlers``, ``sop`` and ``storage`` work on the project's own events and
actions; only ``bot.transport`` (through ``bot.compat``) imports Wechaty.
Checked twice: at run time (import every module in a fresh interpreter, then
look at ``sys.modules``) and statically (no import of the SDK in any file,
including function-level imports the run-time check cannot reach).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOMAIN = ("handlers", "sop", "storage")
SDK = ("wechaty", "wechaty_puppet", "wechaty_puppet_service")
# The project's own doors to the SDK: off limits to the domain packages as well.
GATEWAYS = ("bot.transport", "bot.compat")

SCRIPT = r"""
import importlib, json, pkgutil, sys
imported = []
for name in sys.argv[1].split(","):
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
sdk = set(sys.argv[2].split(","))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in sdk)
print(json.dumps({"imported": imported, "leaked": leaked}))
"""


def importable_modules() -> set[str]:
    """Every module pkgutil can reach: .py files whose directories all have __init__.py."""
    found = set()
    for package in DOMAIN:
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO)
            dirs = [REPO.joinpath(*rel.parts[:i]) for i in range(1, len(rel.parts))]
            if all((d / "__init__.py").exists() for d in dirs):
                parts = rel.with_suffix("").parts
                found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_importing_the_domain_packages_does_not_load_wechaty() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(DOMAIN), ",".join(SDK)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    # The walk really covered the packages (the check is not vacuous).
    assert set(result["imported"]) == importable_modules()
    assert {"handlers.welcome", "sop.calendar", "storage.repo"} <= set(result["imported"])
    assert result["leaked"] == [], f"the SDK was imported: {result['leaked']}"


def _is_sdk(name: object) -> bool:
    if not isinstance(name, str):
        return False
    return name.split(".")[0] in SDK or any(
        name == gate or name.startswith(gate + ".") for gate in GATEWAYS
    )


def _imports_sdk(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(_is_sdk(alias.name) for alias in node.names)
    if isinstance(node, ast.ImportFrom):  # also `from bot import compat`
        return node.level == 0 and (
            _is_sdk(node.module) or any(_is_sdk(f"{node.module}.{a.name}") for a in node.names)
        )
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("import_module", "__import__") and _is_sdk(node.args[0].value)
    return False


def sdk_imports(path: Path, root: Path = REPO) -> list[str]:
    """``file:line`` of every import of the SDK (or of ``bot.transport`` /
    ``bot.compat``) in ``path``: import statements anywhere
    (also inside functions and ``if TYPE_CHECKING``) and
    ``importlib.import_module("wechaty...")`` / ``__import__("wechaty...")``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        f"{path.relative_to(root)}:{node.lineno}" for node in ast.walk(tree) if _imports_sdk(node)
    ]


@pytest.mark.parametrize("package", DOMAIN)
def test_no_file_imports_wechaty_or_its_gateways(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    hits = [hit for path in files for hit in sdk_imports(path)]
    assert hits == [], f"SDK imported at {hits}"


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("import wechaty\n", 1),
        ("import os, wechaty.user\n", 1),
        ("from wechaty_puppet.schemas.puppet import PuppetOptions\n", 1),
        ("def f():\n    import wechaty_puppet_service as s\n", 2),
        ("import importlib\nimportlib.import_module('wechaty.user')\n", 2),
        ("from bot.transport.adapter import WechatyTransport\n", 1),
        ("from bot import compat\n", 1),
    ],
)
def test_the_static_check_catches_sdk_imports(tmp_path: Path, source: str, line: int) -> None:
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    assert sdk_imports(path, tmp_path) == [f"mod.py:{line}"]


def test_the_static_check_ignores_look_alikes(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        '"""Never import wechaty here."""\n'
        "import wechaty_like\n"
        "from bot import clock, transports\n"
        "from bot.transportation import x\n"
        'y = "import wechaty"\n',
        encoding="utf-8",
    )
    assert sdk_imports(path, tmp_path) == []


# --------------------------------------------------------------- the leaf

LEAF = "bot.vocab"
PROJECT = ("bot", "handlers", "sop", "storage")

LEAF_SCRIPT = r"""
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [info.name for info in pkgutil.walk_packages(package.__path__, sys.argv[1] + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def project_imports(path: Path) -> list[str]:
    """Modules of the project (outside the leaf) that ``path`` imports anywhere."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [n for n in names if n.split(".")[0] in PROJECT and not n.startswith(LEAF)]
    return found


def test_the_shared_vocabulary_imports_no_other_package_of_the_project() -> None:
    files = sorted((REPO / "bot" / "vocab").glob("*.py"))
    assert len(files) >= 6, files  # events, actions, clock, keys, policy, texts
    hits = {str(p.relative_to(REPO)): project_imports(p) for p in files}
    assert {k: v for k, v in hits.items() if v} == {}
    proc = subprocess.run(
        [sys.executable, "-c", LEAF_SCRIPT, LEAF],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert {f"{LEAF}.events", f"{LEAF}.policy", f"{LEAF}.texts"} <= set(result["imported"])
    outside = [
        m
        for m in result["loaded"]
        if m.split(".")[0] in PROJECT and m not in ("bot", LEAF) and not m.startswith(LEAF + ".")
    ]
    assert outside == []


def test_the_leaf_check_sees_an_import_of_another_package(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        "from bot.vocab.clock import Clock\nimport storage.repo\nfrom bot.config import X\n",
        encoding="utf-8",
    )
    assert project_imports(path) == ["storage.repo", "bot.config"]
