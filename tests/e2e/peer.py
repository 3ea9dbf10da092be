"""Async driver for the Node test peer (``tests/peer/peer.mjs``).

The peer is a Wechaty puppet service (the real ``wechaty-puppet-service``
gRPC server) in front of a stateful ``PuppetMock``.  The bot connects to
``peer.endpoint`` with ``peer.token`` exactly as it would to a production
gateway; the test drives the "other side" (members talking, joining,
leaving, invitations, injected failures) through :meth:`NodePeer.cmd` and
observes every puppet call the bot makes in :attr:`NodePeer.calls`.

Standard library only.  Protocol: ``tests/peer/README.md``.

    async with NodePeer() as peer:
        await peer.cmd("setup", user={"id": "bot", "name": "Bot"}, contacts=[...], rooms=[...])
        await peer.cmd("login")
        ... start the bot against peer.endpoint / peer.token ...
        mark = peer.mark()
        await peer.cmd("say", **{"from": "alice"}, room="r1@chatroom", text="hi")
        call = await peer.wait_for_call("messageSendText", since=mark)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PEER_DIR = Path(__file__).resolve().parent.parent / "peer"
PEER_JS = PEER_DIR / "peer.mjs"

Call = dict[str, Any]
CallPredicate = Callable[[Call], bool]


class PeerError(Exception):
    """A peer command failed, timed out, or the peer process is gone."""


class PeerStartError(PeerError):
    """The peer could not be started (node or node_modules missing, crash)."""


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _remove_urn_registry(pid: int) -> None:
    # The gRPC server keeps >20 KB FileBoxes in $TMPDIR/file-box-urn-registry.<pid>;
    # it removes it on a clean stop, not after SIGKILL or a crash.
    shutil.rmtree(Path(tempfile.gettempdir()) / f"file-box-urn-registry.{pid}", ignore_errors=True)


class NodePeer:
    """One ``node peer.mjs`` process and its JSON-lines channel."""

    def __init__(
        self,
        *,
        token: str | None = None,
        port: int | None = None,
        node: str = "node",
        log_level: str = "warn",
        heartbeat_ms: int = 0,
        start_timeout: float = 30.0,
        cmd_timeout: float = 10.0,
        stderr_lines: int = 5000,
    ) -> None:
        self.token = token or f"insecure_qunbot_{secrets.token_hex(6)}"
        self.port = port
        self.node = node
        self.log_level = log_level
        self.heartbeat_ms = heartbeat_ms
        self.start_timeout = start_timeout
        self.cmd_timeout = cmd_timeout
        #: every ``{"type": "call", ...}`` report, in arrival order, kept
        #: across restarts (the peer's own list restarts empty).
        self.calls: list[Call] = []
        #: seconds the last start took (spawn → ready line).
        self.start_seconds: float | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=stderr_lines)
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._ready: asyncio.Future[Any] | None = None
        self._calls_changed = asyncio.Condition()
        self._frozen = False
        self._replay: dict[str, dict[str, Any]] = {}  # last `setup` / `login` args

    # ------------------------------------------------------------ properties

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise PeerError("peer not started")
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables for a Python Wechaty client."""
        return {
            "WECHATY_PUPPET_SERVICE_ENDPOINT": self.endpoint,
            "WECHATY_PUPPET_SERVICE_TOKEN": self.token,
        }

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def setup_args(self) -> dict[str, Any]:
        """The arguments of the last ``setup`` (what :meth:`restart` replays)."""
        return dict(self._replay.get("setup", {}))

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._stderr)[-lines:])

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> NodePeer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def start(self) -> None:
        """Spawn the peer and wait for its ``ready`` line."""
        if self.running:
            raise PeerError("peer already running")
        if shutil.which(self.node) is None:
            raise PeerStartError(f"{self.node!r} not found on PATH (Node 18+ is needed)")
        if not (PEER_DIR / "node_modules").is_dir():
            raise PeerStartError(f"{PEER_DIR}/node_modules is missing: run `npm ci` in {PEER_DIR}")
        if self.port is None:
            self.port = free_port()
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        started = time.monotonic()
        env = dict(os.environ)
        env.setdefault("NODE_NO_WARNINGS", "1")
        self._proc = await asyncio.create_subprocess_exec(
            self.node,
            str(PEER_JS),
            "--port",
            str(self.port),
            "--token",
            self.token,
            "--log-level",
            self.log_level,
            "--heartbeat-ms",
            str(self.heartbeat_ms),
            cwd=str(PEER_DIR),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # a `calls` reply or a file report can be long
        )
        self._frozen = False
        proc = self._proc
        self._tasks = [
            asyncio.create_task(self._read_stdout(proc), name="peer-stdout"),
            asyncio.create_task(self._read_stderr(proc), name="peer-stderr"),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self.start_timeout)
        except TimeoutError:
            await self._hard_stop()
            raise PeerStartError(
                f"peer not ready after {self.start_timeout}s\n"
                f"--- peer stderr ---\n{self.stderr_tail()}"
            ) from None
        except PeerError as e:
            await self._hard_stop()
            tail = self.stderr_tail()
            hint = f" (run `npm ci` in {PEER_DIR})" if "ERR_MODULE_NOT_FOUND" in tail else ""
            raise PeerStartError(f"{e} during start{hint}\n--- peer stderr ---\n{tail}") from None
        self.start_seconds = time.monotonic() - started

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Clean shutdown: close stdin (the peer exits on EOF), then TERM, then KILL."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            if self._frozen:
                self.thaw()
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 2)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        await self._finish_tasks()
        self._proc = None
        _remove_urn_registry(proc.pid)

    async def kill(self) -> None:
        """SIGKILL the peer (a gateway crash). The port stays reserved for restart()."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self._frozen = False
        await self._finish_tasks()
        self._proc = None
        _remove_urn_registry(proc.pid)

    async def restart(self) -> None:
        """Kill (if alive) and start again on the same port and token.

        Only the last ``setup`` and ``login`` are replayed: state changed
        afterwards (joins, kicks, topics...) is lost, as after a real gateway
        restart that reloads from WeChat.
        """
        await self.kill()
        await self.start()
        for name in ("setup", "login"):
            if name in self._replay:
                await self.cmd(name, **self._replay[name])

    def freeze(self) -> None:
        """SIGSTOP: the gateway hangs (TCP stays open, nothing answers)."""
        if not self.running:
            raise PeerError("peer not running")
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        if not self.running:
            raise PeerError("peer not running")
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGCONT)
        self._frozen = False

    # -------------------------------------------------------------- commands

    async def cmd(self, name: str, /, _timeout: float | None = None, **args: Any) -> Any:
        """Run one peer command; return its ``result`` or raise :class:`PeerError`.

        Python keywords (``from``) can be passed with ``**{"from": "alice"}``;
        ``sender=`` is accepted as an alias of ``from``.  ``_timeout``
        overrides ``cmd_timeout`` for this command.
        """
        timeout = _timeout
        if not self.running:
            raise PeerError(f"peer not running (command {name})\n{self.stderr_tail(10)}")
        if "sender" in args and "from" not in args:
            args["from"] = args.pop("sender")
        self._next_id += 1
        cid = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._pending[cid] = fut
        line = json.dumps({"id": cid, "cmd": name, **args}, ensure_ascii=False) + "\n"
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(line.encode())
            await self._proc.stdin.drain()
            result = await asyncio.wait_for(fut, timeout or self.cmd_timeout)
        except TimeoutError:
            raise PeerError(
                f"peer command {name} timed out" + (" (peer is frozen)" if self._frozen else "")
            ) from None
        except (BrokenPipeError, ConnectionResetError) as e:
            raise PeerError(f"peer gone during {name}: {e}\n{self.stderr_tail(10)}") from None
        finally:
            self._pending.pop(cid, None)
        if name in ("setup", "login"):
            self._replay[name] = args
        elif name == "logout":
            self._replay.pop("login", None)
        return result

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.cmd("state")
        return state

    async def reset_calls(self) -> None:
        """Forget every call report, here and in the peer."""
        await self.cmd("reset_calls")
        async with self._calls_changed:
            self.calls.clear()

    def mark(self) -> int:
        """An index into :attr:`calls`: pass it as ``since`` to ignore older calls."""
        return len(self.calls)

    def calls_of(self, method: str, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c["method"] == method]

    async def wait_for_call(
        self,
        method: str,
        predicate: CallPredicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the brief's API
        since: int = 0,
    ) -> Call:
        """The first report of ``method`` (at index >= ``since``) matching ``predicate``.

        Returns at once if it is already in :attr:`calls`; otherwise waits
        for new reports (no polling).  Raises ``TimeoutError``.
        """

        def find() -> Call | None:
            for c in self.calls[since:]:
                if c["method"] == method and (predicate is None or predicate(c)):
                    return c
            return None

        found: list[Call] = []

        def check() -> bool:
            c = find()
            if c is not None:
                found.append(c)
                return True
            return False

        async with self._calls_changed:
            try:
                await asyncio.wait_for(self._calls_changed.wait_for(check), timeout)
            except TimeoutError:
                seen = [c["method"] for c in self.calls[since:]]
                raise TimeoutError(
                    f"no {method} call within {timeout}s; calls seen since {since}: {seen}"
                ) from None
        return found[0]

    # -------------------------------------------------------------- internals

    async def _read_stdout(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    break
                try:
                    msg = json.loads(raw)
                except ValueError:
                    self._stderr.append(
                        f"[peer stdout, not JSON] {raw.decode(errors='replace').rstrip()}"
                    )
                    continue
                await self._dispatch(msg)
        finally:
            rc = await proc.wait()
            err = PeerError(f"peer exited (rc={rc})")
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(err)
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(PeerError(f"peer exited (rc={rc})\n{self.stderr_tail(10)}"))

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "call":
            async with self._calls_changed:
                self.calls.append(msg)
                self._calls_changed.notify_all()
        elif kind == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(msg)
        elif "id" in msg:
            fut = self._pending.get(msg["id"])
            if fut is None or fut.done():
                return
            if msg.get("ok"):
                fut.set_result(msg.get("result"))
            else:
                fut.set_exception(PeerError(msg.get("error") or "peer command failed"))
        else:
            self._stderr.append(f"[peer stdout, unknown] {msg}")

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            raw = await proc.stderr.readline()
            if not raw:
                break
            self._stderr.append(raw.decode(errors="replace").rstrip())

    async def _hard_stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                if self._frozen:
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            await proc.wait()
        await self._finish_tasks()
        self._proc = None
        if proc is not None:
            _remove_urn_registry(proc.pid)

    async def _finish_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            try:
                await asyncio.wait_for(t, 5)
            except (TimeoutError, asyncio.CancelledError):
                t.cancel()
            except Exception:  # reader errors show in stderr_tail()
                pass
