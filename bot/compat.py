"""Import the Wechaty SDK on Python 3.11+.

The last releases of python-wechaty (0.10.7) and its puppet packages (2022)
do not import on a current interpreter.  Every import-time patch lives here,
applied once, before the first ``import wechaty``; the rest of the project
imports the SDK only through :func:`load`.  Each patch is guarded so it is a
no-op where upstream (or the environment) already does the right thing, and
each has a test in ``tests/unit/test_compat.py`` that fails without it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_applied = False


def _patch_puppet_options_hash() -> None:
    # python-wechaty #385 / #422: ``WechatyOptions.puppet_options`` defaults to
    # a ``PuppetOptions()`` instance.  Since 3.11 a dataclass refuses an
    # unhashable default ("mutable default ... is not allowed").  Making the
    # class hashable by identity lets the dataclass be created.  Side effect:
    # all ``WechatyOptions()`` share one default; the transport always passes
    # its own ``PuppetOptions``.
    from wechaty_puppet.schemas.puppet import PuppetOptions

    if PuppetOptions.__hash__ is None:
        PuppetOptions.__hash__ = object.__hash__


def _patch_pyee() -> None:
    # python-wechaty #430: pyee >= 12 moved ``AsyncIOEventEmitter`` to
    # ``pyee.asyncio``; the SDK imports it from the top level.
    import pyee

    if not hasattr(pyee, "AsyncIOEventEmitter"):
        from pyee.asyncio import AsyncIOEventEmitter

        pyee.AsyncIOEventEmitter = AsyncIOEventEmitter  # type: ignore[attr-defined]


def _get_host(url: str) -> tuple[str, str | None, int | None]:
    from urllib3.util import parse_url

    parsed = parse_url(url)
    return (parsed.scheme or "http", parsed.host, parsed.port)


def _patch_urllib3_get_host() -> None:
    # python-wechaty #437: urllib3 2 removed ``get_host`` (used by
    # ``wechaty/user/url_link.py``); rebuild it from ``parse_url`` rather than
    # pinning urllib3 < 2.
    import urllib3

    if not hasattr(urllib3, "get_host"):
        urllib3.get_host = _get_host  # type: ignore[attr-defined]


def _patch_telnetlib() -> None:
    # python-wechaty #419: Python 3.13 removed ``telnetlib``; the SDK imports
    # ``Telnet`` only to probe ports, which the project never asks it to do.
    if sys.modules.get("telnetlib") is not None:
        return
    try:
        importlib.import_module("telnetlib")
    except ImportError:
        stub = types.ModuleType("telnetlib")

        class Telnet:  # pragma: no cover - only reached if the SDK probes
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise OSError("telnetlib is not available on this Python")

        stub.Telnet = Telnet  # type: ignore[attr-defined]
        sys.modules["telnetlib"] = stub


PATCHES = (
    _patch_telnetlib,
    _patch_pyee,
    _patch_urllib3_get_host,
    _patch_puppet_options_hash,
)


def apply() -> None:
    """Apply every import-time patch (idempotent)."""
    global _applied
    if _applied:
        return
    import warnings

    with warnings.catch_warnings():
        # telnetlib's own DeprecationWarning on 3.11/3.12 is not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        for patch in PATCHES:
            patch()
    _applied = True


def load() -> types.ModuleType:
    """Return the ``wechaty`` module, patched and imported."""
    apply()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("wechaty")
