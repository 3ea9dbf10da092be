"""bot/compat.py: every import-time patch is needed, and together they suffice.

Each case runs a fresh interpreter (``sys.executable``, cwd = repo root) so the
import of ``wechaty`` really happens from scratch: apply every patch but one,
import the SDK, and check it fails with exactly the error that patch exists
for; with all patches it imports.  ``telnetlib`` still exists on 3.11/3.12, so
its absence (Python 3.13) is simulated with ``sys.modules['telnetlib'] = None``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import compat

REPO = Path(__file__).resolve().parents[2]

# What ``import wechaty`` raises when the named patch is left out.
# (exception type name, substrings of the message)
EXPECTED_FAILURE: dict[str, tuple[str, tuple[str, ...]]] = {
    "_patch_puppet_options_hash": ("ValueError", ("mutable default", "PuppetOptions")),
    "_patch_pyee": ("ImportError", ("AsyncIOEventEmitter",)),
    "_patch_urllib3_get_host": ("ImportError", ("get_host",)),
    "_patch_telnetlib": ("ModuleNotFoundError", ("telnetlib",)),
}

# Applies every patch in compat.PATCHES except argv[1] ("" = none skipped),
# optionally simulating a Python without telnetlib, then imports wechaty and
# prints one JSON line describing the outcome.
SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
skip, no_telnetlib = sys.argv[1], sys.argv[2] == "no-telnetlib"
if no_telnetlib:
    sys.modules["telnetlib"] = None  # what `import telnetlib` meets on 3.13
from bot import compat
names = [p.__name__ for p in compat.PATCHES]
if skip and skip not in names:
    raise SystemExit(f"no patch {skip!r} in {names}")
for patch in compat.PATCHES:
    if patch.__name__ != skip:
        patch()
try:
    import wechaty
except BaseException as exc:
    print(json.dumps({"ok": False, "type": type(exc).__name__,
                      "mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}))
    raise SystemExit(0)
telnet = sys.modules.get("telnetlib")
stub_raises = None
if no_telnetlib:
    try:
        telnet.Telnet("127.0.0.1", 9)
    except OSError as exc:
        stub_raises = str(exc)
print(json.dumps({"ok": True, "wechaty": wechaty.Wechaty.__name__,
                  "telnetlib": getattr(telnet, "__file__", None), "stub_raises": stub_raises}))
"""


def run_import(skip: str = "", *, no_telnetlib: bool = False) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, skip, "no-telnetlib" if no_telnetlib else "real"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result line; stdout={proc.stdout!r} stderr={proc.stderr!r}"
    result: dict[str, object] = json.loads(lines[-1])
    return result


def test_every_patch_has_a_removal_test() -> None:
    assert {p.__name__ for p in compat.PATCHES} == set(EXPECTED_FAILURE)


@pytest.mark.parametrize("patch_name", sorted(EXPECTED_FAILURE))
def test_import_fails_without_each_patch(patch_name: str) -> None:
    # telnetlib is only missing on 3.13+; simulate that for its own case.
    result = run_import(patch_name, no_telnetlib=patch_name == "_patch_telnetlib")
    exc_type, fragments = EXPECTED_FAILURE[patch_name]
    assert not result["ok"], f"wechaty imported although {patch_name} was left out"
    assert exc_type in result["mro"], result  # e.g. ModuleNotFoundError is an ImportError
    for fragment in fragments:
        assert fragment in str(result["message"]), result


def test_import_succeeds_with_all_patches() -> None:
    result = run_import()
    assert result["ok"], result
    assert result["wechaty"] == "Wechaty"


def test_import_succeeds_without_telnetlib() -> None:
    """As on Python 3.13: the stub stands in, and refuses to connect."""
    result = run_import(no_telnetlib=True)
    assert result["ok"], result
    assert result["telnetlib"] is None, "expected the in-memory stub, not the stdlib module"
    assert result["stub_raises"] == "telnetlib is not available on this Python"


# urllib3 1.x ``get_host`` results (from urllib3 1.x's own test table).
URLLIB3_1_GET_HOST = [
    ("http://google.com/mail", ("http", "google.com", None)),
    ("google.com/mail", ("http", "google.com", None)),
    ("http://google.com:8000/mail/", ("http", "google.com", 8000)),
    ("https://google.com:8000", ("https", "google.com", 8000)),
    ("http://user:password@127.0.0.1:1234", ("http", "127.0.0.1", 1234)),
    ("http://google.com?foo=http://bar:42/baz", ("http", "google.com", None)),
    ("173.194.35.7", ("http", "173.194.35.7", None)),
    ("http://[2a00:1450:4001:c01::67]:80/test", ("http", "[2a00:1450:4001:c01::67]", 80)),
    ("HTTP://GoOgLe.CoM:8000/mail/", ("http", "google.com", 8000)),
    ("abOut://eXamPlE.com?info=1", ("about", "eXamPlE.com", None)),
    ("https://mp.weixin.qq.com/s/abc?x=1", ("https", "mp.weixin.qq.com", None)),
]


@pytest.mark.parametrize(("url", "expected"), URLLIB3_1_GET_HOST)
def test_get_host_matches_urllib3_1(url: str, expected: tuple[str, str, int | None]) -> None:
    assert compat._get_host(url) == expected


def test_get_host_is_what_the_sdk_imports() -> None:
    compat.load()
    import urllib3
    from wechaty.user import url_link

    assert url_link.get_host is urllib3.get_host
    if not hasattr(urllib3.util, "get_host"):  # urllib3 2: ours, not a leftover
        assert urllib3.get_host is compat._get_host


def test_load_is_idempotent() -> None:
    first = compat.load()
    import pyee
    import urllib3
    from wechaty_puppet.schemas.puppet import PuppetOptions

    before = (
        pyee.AsyncIOEventEmitter,
        urllib3.get_host,
        PuppetOptions.__hash__,
        sys.modules["telnetlib"],
    )
    assert compat.load() is first
    for patch in compat.PATCHES:  # each patch is guarded on its own, too
        patch()
    after = (
        pyee.AsyncIOEventEmitter,
        urllib3.get_host,
        PuppetOptions.__hash__,
        sys.modules["telnetlib"],
    )
    assert after == before


def test_apply_runs_the_patches_once() -> None:
    script = (
        "from bot import compat\n"
        "compat.load()\n"
        "def boom():\n"
        "    raise AssertionError('patches applied twice')\n"
        "compat.PATCHES = (boom,)\n"
        "compat.apply(); m = compat.load()\n"
        "print(m.__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["wechaty"]
