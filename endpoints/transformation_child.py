"""The sandbox process: runs transformations in QuickJS, one request at a time.

Started by ``endpoints.transformation.SandboxProcess`` as ``python -I this_file``; it reads one
JSON request per line on standard input and writes one JSON answer per line. It imports only
the standard library and ``quickjs``, cuts itself off from the network before reading anything
(no socket, no name lookup), caps its own address space, and keeps compiled scripts per key
(endpoint and version), least recently used dropped. A script that outlives its limits in a way
QuickJS cannot interrupt (a backtracking regular expression) is ended by the parent killing
this process; nothing here has to survive that.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
from collections import OrderedDict
from typing import Any

MAX_CONTEXTS = 64
ADDRESS_SPACE = 1024 * 1024 * 1024  # a backstop far above any script's memory limit


def _no_network(*_: Any, **__: Any) -> Any:
    raise OSError("the transformation sandbox has no network")


socket.socket = _no_network  # type: ignore[assignment,misc]
socket.getaddrinfo = _no_network
socket.create_connection = _no_network

import quickjs  # noqa: E402  (after the network is cut off)

# Runs the handler on a JSON text; answers JSON text, or "!" and what came back instead.
RUN = """
(function (input) {
  const out = handler(JSON.parse(input));
  if (out === undefined) return '!returned nothing (undefined): return the webhook object';
  if (out === null || typeof out !== 'object' || Array.isArray(out)) {
    return '!returned ' + (out === null ? 'null' : Array.isArray(out) ? 'an array'
      : 'a ' + typeof out) + ', not the webhook object';
  }
  if (typeof out.then === 'function') {
    return '!returned a Promise: handler must return the webhook object, not be async';
  }
  return JSON.stringify(out);
})
"""


def _js_error(exc: Exception) -> str:
    """The JavaScript error's own line ("TypeError: ..."), without QuickJS's stack."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else exc.__class__.__name__)[:400]


class Scripts:
    def __init__(self) -> None:
        self._contexts: OrderedDict[str, tuple[Any, Any]] = OrderedDict()

    def _compiled(self, key: str, code: str, time_ms: int, memory_mb: int) -> tuple[Any, Any]:
        found = self._contexts.get(key)
        if found is not None:
            self._contexts.move_to_end(key)
            return found
        context = quickjs.Context()
        context.set_memory_limit(memory_mb * 1024 * 1024)
        context.set_max_stack_size(512 * 1024)
        context.set_time_limit(max(time_ms, 200) / 1000)
        try:
            context.eval(code)
        except quickjs.JSException as exc:
            raise ScriptError(_top_level(exc)) from None
        if context.eval("typeof handler") != "function":
            raise ScriptError("the code defines no function handler(webhook)")
        runner = context.eval(RUN)
        self._contexts[key] = (context, runner)
        while len(self._contexts) > MAX_CONTEXTS:
            self._contexts.popitem(last=False)
        return context, runner

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        key, time_ms, memory_mb = request["key"], request["time_ms"], request["memory_mb"]
        try:
            context, runner = self._compiled(key, request["code"], time_ms, memory_mb)
        except ScriptError as exc:
            return {"error": str(exc)}
        if request.get("compile_only"):
            self._contexts.pop(key, None)
            return {"ok": True}
        context.set_time_limit(time_ms / 1000)
        try:
            answer = runner(request["input"])
        except quickjs.JSException as exc:
            self._contexts.pop(key, None)  # a run that hit a limit leaves nothing behind
            return {"error": _run_error(exc, time_ms, memory_mb)}
        except quickjs.StackOverflow:
            self._contexts.pop(key, None)
            return {"error": "transformation overflowed the stack (endless recursion?)"}
        if not isinstance(answer, str):
            return {"error": "transformation returned something that is not JSON"}
        if answer.startswith("!"):
            return {"error": f"transformation {answer[1:]}"}
        return {"answer": answer}


class ScriptError(Exception):
    pass


def _top_level(exc: Exception) -> str:
    text = _js_error(exc)
    if text.startswith("SyntaxError"):
        return f"the code does not compile: {text}"
    if "interrupted" in text:
        return "the code's top level ran past the time limit"
    if "out of memory" in text:
        return "the code's top level ran past the memory limit"
    return f"the code's top level threw {text}"


def _run_error(exc: Exception, time_ms: int, memory_mb: int) -> str:
    text = _js_error(exc)
    if text == "InternalError: interrupted":
        return f"transformation timed out: stopped at its {time_ms} ms CPU time limit"
    if text == "InternalError: out of memory":
        return f"transformation ran out of memory: stopped at its {memory_mb} MiB limit"
    if text == "InternalError: stack overflow":
        return "transformation overflowed the stack (endless recursion?)"
    return f"transformation threw {text}"


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    scripts = Scripts()
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = scripts.run(request)
        except MemoryError:
            reply = {"error": "transformation ran out of memory"}
        except Exception as exc:  # noqa: BLE001  one bad request must not end the process
            reply = {"error": f"sandbox error: {exc.__class__.__name__}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
