"""Transformations: an endpoint's JavaScript that reshapes what it receives, run in a sandbox.

The contract is Svix's: the script defines ``function handler(webhook)``, which receives
``{method, url, payload, eventType}`` and returns it changed; ``webhook.cancel = true`` sends
nothing.

Scripts run in QuickJS (the ``quickjs`` binding) inside sandbox processes
(``transformation_child``), never in the worker itself. Both engines were measured
(docs/benchmarks.md, "Transformations"); neither can be trusted in-process: V8 (mini-racer)
aborts the whole process on ``new Array(2 ** 28).fill(0)`` ("Fatal JavaScript out of memory")
and QuickJS cannot interrupt a backtracking regular expression. So each worker keeps a few
sandbox processes; the parent gives each run its time limit plus a grace and kills the process
past it, and a process that dies is replaced. Inside, QuickJS won on every measured count: a
context in 0.24 ms (V8: 2.3 ms), a call in 0.01 ms (V8: 0.15 ms), and a memory limit checked
at every allocation, ArrayBuffers included (V8's covers its heap only), with a CPU time limit
(its own process's clock, which in a sandbox process is the script's).

What a script can reach: the ECMAScript built-ins and nothing else: no ``process``, ``require``,
``fetch``, timers, file system or network (the sandbox process has no sockets either).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from . import url_safety

METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_CODE_BYTES = 64 * 1024
# Wall-clock time a run may take past its limit before its sandbox process is killed: room for
# a loaded machine to schedule it (the limit itself is CPU time, counted inside).
KILL_GRACE_SECONDS = 1.0
START_SECONDS = 30.0
ERROR_MAX = 400
_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transformation_child.py")


class TransformationError(Exception):
    """The script failed: the message says how, for the attempt log and the simulate answer."""


@dataclass(frozen=True)
class Shaped:
    """What a run made of the request: to send, or ``cancelled``."""

    method: str
    url: str
    body: str  # the JSON text to send (signed as is)
    payload: Any
    cancelled: bool = False


@dataclass(frozen=True)
class Limits:
    time_ms: int = 50
    memory_mb: int = 32


def code_check(code: str, *, limits: Limits | None = None) -> None:
    """A clear ``TransformationError`` for code that cannot be a transformation (on save)."""
    if not isinstance(code, str) or not code.strip():
        raise TransformationError("the code is empty")
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise TransformationError(f"the code is over {MAX_CODE_BYTES // 1024} KiB")
    if "\x00" in code:
        raise TransformationError("the code contains a NUL character")
    sandbox().compile(code=code, limits=limits or Limits())


class SandboxProcess:
    """One sandbox process and its pipes; used by one caller at a time (``Sandbox`` sees to it)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(  # noqa: S603  (our own interpreter and file)
                [sys.executable, "-I", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                close_fds=True,
            )
            # Its start (an interpreter, QuickJS) is not a script's time: wait for it apart.
            ready, _, _ = select.select([self._proc.stdout], [], [], START_SECONDS)
            line = self._proc.stdout.readline() if ready and self._proc.stdout else ""
            if line.strip() != '{"ready": true}':
                self.kill()
                raise TransformationError("the sandbox process did not start")
        return self._proc

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def ask(self, request: dict[str, Any], *, wait: float) -> dict[str, Any]:
        proc = self._started()
        if proc.stdin is None or proc.stdout is None:  # never: both are PIPE above
            return {"killed": "died"}
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], wait)
            line = proc.stdout.readline() if ready else None
        except (BrokenPipeError, OSError, ValueError):
            line = ""
        if line is None:
            self.kill()
            return {"killed": "time"}
        if not line:
            self.kill()
            return {"killed": "died"}
        return json.loads(line)


class Sandbox:
    """The sandbox processes of this worker: ``size`` of them, one run each at a time.

    A caller takes an idle process (waiting for one if all are busy), so at most ``size``
    scripts run at once in the process, beside the sender, whatever the number of tenants.
    """

    def __init__(self, size: int = 2) -> None:
        self._idle: list[SandboxProcess] = [SandboxProcess() for _ in range(max(1, size))]
        self._all = list(self._idle)
        self._cond = threading.Condition()

    @property
    def size(self) -> int:
        return len(self._all)

    def _ask(self, request: dict[str, Any], limits: Limits, wait: float = 0) -> dict[str, Any]:
        with self._cond:
            while not self._idle:
                self._cond.wait()
            process = self._idle.pop()
        try:
            return process.ask(request, wait=wait or limits.time_ms / 1000 + KILL_GRACE_SECONDS)
        finally:
            with self._cond:
                self._idle.append(process)
                self._cond.notify()

    def compile(self, *, code: str, limits: Limits) -> None:
        reply = self._ask(
            {
                "key": "compile-check",
                "code": code,
                "input": "",
                "time_ms": limits.time_ms,
                "memory_mb": limits.memory_mb,
                "compile_only": True,
            },
            limits,
            # The top level may take 200 ms at least (transformation_child), plus the grace.
            wait=max(limits.time_ms, 200) / 1000 + KILL_GRACE_SECONDS,
        )
        if reply.get("killed") == "time":
            raise TransformationError("the code's top level ran past the time limit")
        _raise_for(reply, limits)

    def run(
        self, *, key: str, code: str, webhook: dict[str, Any], limits: Limits
    ) -> dict[str, Any]:
        """The handler's answer as a dict; ``TransformationError`` saying why there is none.
        ``key`` names the compiled code (endpoint and version): the same key, the same code."""
        reply = self._ask(
            {
                "key": key,
                "code": code,
                "input": json.dumps(webhook),
                "time_ms": limits.time_ms,
                "memory_mb": limits.memory_mb,
            },
            limits,
        )
        _raise_for(reply, limits)
        answer = json.loads(reply["answer"])
        if not isinstance(answer, dict):
            raise TransformationError("transformation returned something other than an object")
        return answer

    def close(self) -> None:
        for process in self._all:
            process.kill()


def _raise_for(reply: dict[str, Any], limits: Limits) -> None:
    killed = reply.get("killed")
    if killed == "time":
        raise TransformationError(
            f"transformation timed out: still running {limits.time_ms} ms + "
            f"{KILL_GRACE_SECONDS:g} s after it started, so its sandbox was stopped"
        )
    if killed:
        raise TransformationError(
            "transformation stopped: its sandbox process ended (out of memory?)"
        )
    if "error" in reply:
        raise TransformationError(str(reply["error"])[:ERROR_MAX])


def shaped(answer: dict[str, Any], *, require_https: bool, max_body_bytes: int) -> Shaped:
    """The request a handler's answer describes, checked: a method we send, a URL that passes
    the same shape checks as a configured one (its addresses are checked on every attempt by
    the transport), a JSON payload within the size limit."""
    if answer.get("cancel") is True:
        return Shaped(method="", url="", body="", payload=None, cancelled=True)
    if "cancel" in answer and answer["cancel"] not in (False, None):
        raise TransformationError("transformation set cancel to something other than true/false")
    method = answer.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise TransformationError(
            f"transformation returned method {json.dumps(method)[:40]}: use one of "
            + ", ".join(METHODS)
        )
    url = answer.get("url")
    if not isinstance(url, str) or not url:
        raise TransformationError("transformation returned no url (a string)")
    try:
        url_safety.check_url_shape(url, require_https=require_https)
    except url_safety.UnsafeURL as exc:
        raise TransformationError(f"transformation returned url {url[:200]!r}: {exc}") from None
    if "payload" not in answer:
        raise TransformationError("transformation returned no payload")
    payload = answer["payload"]
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(body.encode("utf-8")) > max_body_bytes:
        raise TransformationError(
            f"transformation returned a payload over the {max_body_bytes}-byte limit"
        )
    return Shaped(method=method.upper(), url=url, body=body, payload=payload)


def webhook_input(*, url: str, body: str, event_type: str) -> dict[str, Any]:
    """What ``handler`` receives: the request as it would be sent without a transformation."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body
    return {"method": "POST", "url": url, "payload": payload, "eventType": event_type}


_shared: Sandbox | None = None
_shared_lock = threading.Lock()


def sandbox(size: int | None = None) -> Sandbox:
    """This process's sandbox (the engine's and the simulate routes'); ``size``: how many
    sandbox processes when it is first made (``WEBHOOKS_TRANSFORM_PROCESSES``)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sandbox(size or 2)
        return _shared
