"""The sandbox puppet's record of what the bot did: every call, in order.

Each action the bot takes on the :class:`~bot.transport.sandbox_puppet.SandboxPuppet`
is recorded as a :class:`PuppetCall` (``calls``, ``on_call``, ``wait_for_call``);
``fail_next`` makes the next calls of a method fail, as risk control would.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.transport.sandbox_world_types import SandboxPuppetError

log = logging.getLogger("bot.transport.sandbox_puppet")


@dataclass
class PuppetCall:
    """One call the bot made on the puppet."""

    seq: int
    method: str
    args: dict[str, Any]
    result: Any = None
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Waiter:
    method: str
    predicate: Callable[[PuppetCall], bool] | None
    future: asyncio.Future[PuppetCall]


class CallRecorder:
    """Recording, injected failures and waiting for calls (a mixin of the puppet)."""

    calls: list[PuppetCall]
    on_call: list[Callable[[PuppetCall], object]]
    _consumed: set[int]
    _waiters: list[_Waiter]
    _failures: dict[str, deque[str]]
    _login_user_id: str | None
    _now: Callable[[], datetime]

    def _init_recorder(self) -> None:
        self.calls = []
        self.on_call = []
        self._consumed = set()
        self._waiters = []
        self._failures = {}

    def _record(self, method: str, args: dict[str, Any], result: Any, error: str | None) -> None:
        call = PuppetCall(len(self.calls), method, args, result, error, self._now())
        self.calls.append(call)
        for callback in list(self.on_call):
            try:
                callback(call)
            except Exception:
                log.exception("SandboxPuppet on_call callback failed for %s", method)
        for waiter in self._waiters:
            if not waiter.future.done() and self._matches(waiter.method, waiter.predicate, call):
                self._consumed.add(call.seq)
                waiter.future.set_result(call)
                break

    def _injected_failure(self, method: str, args: dict[str, Any]) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        message = queue.popleft()
        if not queue:
            del self._failures[method]
        self._record(method, args, None, message)
        raise SandboxPuppetError(message)

    def _act(self, method: str, args: dict[str, Any], action: Callable[[], Any]) -> Any:
        """Run and record one recorded call (an action or an interesting read).

        Like a real puppet, nothing works while logged out.
        """
        self._injected_failure(method, args)
        try:
            if self._login_user_id is None:
                raise SandboxPuppetError("not logged in")
            result = action()
        except Exception as exc:
            self._record(method, args, None, str(exc))
            raise
        self._record(method, args, result, None)
        return result

    def _read(self, method: str, args_fn: Callable[[], dict[str, Any]]) -> None:
        """Unrecorded reads still honour ``fail_next`` (the failure is recorded)."""
        if self._failures and method in self._failures:
            self._injected_failure(method, args_fn())

    @staticmethod
    def _matches(
        method: str, predicate: Callable[[PuppetCall], bool] | None, call: PuppetCall
    ) -> bool:
        if call.method != method:
            return False
        if predicate is None:
            return True
        try:
            return bool(predicate(call))
        except Exception:
            log.exception("wait_for_call predicate failed on %s", call)
            return False

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[PuppetCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109  (the driver API is timeout-first, like wait_for)
    ) -> PuppetCall:
        """The next not-yet-awaited call to ``method`` (matching ``predicate``).

        Calls already recorded count; each call is handed out once, so successive
        waits walk through successive calls.  Event-driven: a future resolved by
        the recording itself, no polling.  Failed calls match too (check ``.ok``).
        """
        for call in self.calls:
            if call.seq not in self._consumed and self._matches(method, predicate, call):
                self._consumed.add(call.seq)
                return call
        waiter = _Waiter(method, predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            recent = ", ".join(c.method for c in self.calls[-10:]) or "none"
            raise TimeoutError(
                f"no {method} call within {timeout}s (last calls: {recent})"
            ) from None
        finally:
            self._waiters.remove(waiter)

    def calls_to(self, method: str) -> list[PuppetCall]:
        return [c for c in self.calls if c.method == method]

    def fail_next(self, method_name: str, times: int = 1, message: str = "操作过于频繁") -> None:
        """The next ``times`` calls of ``method_name`` raise ``SandboxPuppetError(message)``."""
        if not callable(getattr(self, method_name, None)) or method_name.startswith("_"):
            raise ValueError(f"SandboxPuppet has no method {method_name!r}")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._failures.setdefault(method_name, deque()).extend([message] * times)
