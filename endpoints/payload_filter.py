"""Payload filters: which events an endpoint receives, by what their body holds.

Pure functions, no Django. A filter is a JSON object evaluated at fan-out against the JSON body
the endpoint would receive (the envelope ``{"type", "timestamp", "data"}``, or the payload itself
on the Svix message format), as in Convoy:

    {"data.amount": {"$gte": 1000}, "data.currency": {"$in": ["EUR", "USD"]}}

Every key must hold. A key is a dotted path into the body (``items.0.sku`` indexes a list) whose
condition is a value (equal to it) or an object of operators, all of which must hold: ``$eq
$neq $gt $gte $lt $lte $in $nin $exist $regex``. ``$and`` and ``$or`` take a list of filters.
A missing field matches only ``$neq``, ``$nin`` and ``$exist: false``. Ordering operators compare
numbers with numbers and strings with strings; anything else cannot be evaluated
(``FilterUnevaluable``), which the fan-out treats as no match and logs. ``$regex`` runs on RE2.

RE2 has no backtracking, but its work still grows with the pattern: at worst (when its DFA gives
up and the NFA runs) a search costs about the bytes searched times the size of the compiled
program, and a pattern such as ``\\pL{380}\\pN`` compiles to 450,000 instructions. So the cost
is bounded twice. On save: at most ``MAX_PATTERNS`` ``$regex`` per filter, each compiling to at
most ``MAX_PROGRAM`` instructions (RE2's own program size). On every evaluation: a pattern
searches only strings of at most ``MAX_REGEX_INPUT`` bytes, and one evaluation spends at most
``MAX_REGEX_WORK`` (bytes searched × program size, summed over its searches). An evaluation that
would go beyond either raises ``FilterOverBudget`` (a ``FilterUnevaluable``) before searching, so
a filter stored before these limits, or a large event, costs no more than the budget.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import re2

MAX_BYTES = 4096
MAX_DEPTH = 8
MAX_PATH = 256
MAX_LIST = 256
MAX_PATTERN = 512
MAX_PATTERNS = 10
MAX_PROGRAM = 2048
MAX_REGEX_INPUT = 16 * 1024
MAX_REGEX_WORK = 64 * 1024 * 1024
# The dashboard's "test a payload filter" page: the tenant's latest events it runs a filter on,
# and how many characters of their bodies it reads and parses in all.
TEST_EVENTS = 20
TEST_MAX_CHARS = 1024 * 1024
# The memory RE2 may use to compile a pattern while it is checked: a pattern far beyond
# MAX_PROGRAM fails to compile in a millisecond instead of building its whole program.
_PROBE_MEM = 256 * 1024
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$neq", *COMPARISONS, "$in", "$nin", "$exist", "$regex")
_MISSING = object()


class FilterError(ValueError):
    """A filter that is not valid, with what is wrong and where."""


class FilterUnevaluable(ValueError):  # noqa: N818  (a condition, not a failure of ours)
    """A filter that cannot be evaluated on this body (e.g. ``$gt`` between a string and a
    number): the endpoint is skipped for the event, and the fan-out says so in its log."""


class FilterOverBudget(FilterUnevaluable):
    """A filter whose ``$regex`` work on this body would exceed the evaluation budget."""


def filter_validate(value: Any) -> dict[str, Any] | None:
    """The filter to store: ``None`` for none (null or ``{}``), else the object, checked."""
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping):
        raise FilterError('a filter is a JSON object, such as {"data.amount": {"$gte": 1000}}')
    try:
        size = len(json.dumps(value, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise FilterError("a filter holds JSON values only") from exc
    if size > MAX_BYTES:
        raise FilterError(f"a filter is at most {MAX_BYTES} bytes of JSON ({size} given)")
    _check_text(value)
    # Counted before any pattern is compiled: compiling is the costly part of a check.
    patterns = list(_regexes(value, where="filter"))
    if len(patterns) > MAX_PATTERNS:
        raise FilterError(
            f"{patterns[MAX_PATTERNS]}.$regex: a filter holds at most {MAX_PATTERNS} $regex "
            f"patterns ({len(patterns)} given)"
        )
    _check_filter(value, where="filter", depth=1)
    return dict(value)


def _check_text(value: Any) -> None:
    """No NUL anywhere, keys included: PostgreSQL's jsonb cannot store one."""
    stack: list[tuple[str, Any]] = [("filter", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            raise FilterError(f"{where}: a NUL character (\\u0000) is not allowed in a filter")
        if isinstance(item, Mapping):
            for key, inner in item.items():
                if "\x00" in key:
                    raise FilterError(
                        f"{where}: the key {key!r} holds a NUL character (\\u0000), which is "
                        "not allowed in a filter"
                    )
                stack.append((f"{where}.{key}", inner))
        elif isinstance(item, list):
            stack.extend((f"{where}[{number}]", inner) for number, inner in enumerate(item))


def _regexes(spec: Any, *, where: str, depth: int = 1) -> Iterator[str]:
    """Where each ``$regex`` of a filter is, in order (``_check_filter`` judges the rest)."""
    if not isinstance(spec, Mapping) or depth > MAX_DEPTH:
        return
    for key, condition in spec.items():
        if key in ("$and", "$or") and isinstance(condition, list):
            for number, item in enumerate(condition):
                yield from _regexes(item, where=f"{where}.{key}[{number}]", depth=depth + 1)
        elif isinstance(condition, Mapping) and "$regex" in condition:
            yield f"{where}.{key}"


def _check_filter(value: Any, *, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FilterError(f"{where}: filters nest at most {MAX_DEPTH} deep")
    if not isinstance(value, Mapping) or not value:
        raise FilterError(f"{where}: a filter is a non-empty JSON object")
    for key, condition in value.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise FilterError(f"{where}.{key}: give a non-empty list of filters")
            for number, item in enumerate(condition):
                _check_filter(item, where=f"{where}.{key}[{number}]", depth=depth + 1)
        elif key.startswith("$"):
            raise FilterError(
                f"{where}: {key} is not allowed here; operators go under a field, "
                'e.g. {"data.amount": {"$gte": 1000}}; $and and $or take a list of filters'
            )
        else:
            _check_path(key, where=where)
            _check_condition(condition, where=f"{where}.{key}")


def _check_path(path: str, *, where: str) -> None:
    if not path or len(path) > MAX_PATH or any(not part for part in path.split(".")):
        raise FilterError(
            f"{where}: {path[:MAX_PATH]!r} is not a field path (dotted names, 1 to {MAX_PATH} "
            "characters, no empty part)"
        )


def _check_condition(condition: Any, *, where: str) -> None:
    if not (isinstance(condition, Mapping) and any(k.startswith("$") for k in condition)):
        return  # a plain value: equality
    for op, operand in condition.items():
        if op not in OPERATORS:
            raise FilterError(f"{where}: unknown operator {op!r}; use {', '.join(OPERATORS)}")
        if op in COMPARISONS and (
            isinstance(operand, bool) or not isinstance(operand, int | float | str)
        ):
            raise FilterError(f"{where}.{op}: compare with a number or a string")
        if op in ("$in", "$nin") and (not isinstance(operand, list) or len(operand) > MAX_LIST):
            raise FilterError(f"{where}.{op}: give a list of at most {MAX_LIST} values")
        if op == "$exist" and not isinstance(operand, bool):
            raise FilterError(f"{where}.$exist: give true or false")
        if op == "$regex":
            if not isinstance(operand, str) or not 0 < len(operand) <= MAX_PATTERN:
                raise FilterError(
                    f"{where}.$regex: give a pattern of 1 to {MAX_PATTERN} characters"
                )
            try:
                compiled, size = _pattern(operand)
            except re2.error as exc:
                raise FilterError(f"{where}.$regex: not a valid RE2 pattern ({exc})") from exc
            if compiled is None:
                raise FilterError(
                    f"{where}.$regex: the pattern is too complex (its RE2 program is over "
                    f"{size} instructions, at most {MAX_PROGRAM}); use smaller repetitions "
                    "({n} copies what it repeats) and fewer Unicode classes such as \\pL"
                )


@functools.lru_cache(maxsize=1024)
def _pattern(source: str) -> tuple[Any | None, int]:
    """The compiled pattern and its program size, or ``(None, bound)`` for a pattern whose
    program is over ``MAX_PROGRAM`` (``bound`` then is what it is known to exceed). Raises
    ``re2.error`` for a pattern that is not valid."""
    probe = re2.Options()
    probe.log_errors = False
    probe.max_mem = _PROBE_MEM
    try:
        size = re2.compile(source, probe).programsize
    except re2.error as exc:
        if "pattern too large" not in str(exc):
            raise
        return None, MAX_PROGRAM
    if size > MAX_PROGRAM:
        return None, MAX_PROGRAM
    options = re2.Options()
    options.log_errors = False
    return re2.compile(source, options), size


class _Budget:
    """What one evaluation may still spend on ``$regex``: bytes searched × program size."""

    def __init__(self) -> None:
        self.left = MAX_REGEX_WORK

    def search(self, source: str, value: str, path: str) -> bool:
        compiled, size = _pattern(source)
        if compiled is None:
            raise FilterOverBudget(
                f"{path}: $regex pattern too complex to run (its RE2 program is over "
                f"{MAX_PROGRAM} instructions)"
            )
        if len(value) > MAX_REGEX_INPUT:  # characters: at least as many bytes
            raise FilterOverBudget(
                f"{path}: $regex runs on strings of at most {MAX_REGEX_INPUT} bytes, the body "
                f"has {len(value)} characters"
            )
        data = value.encode("utf-8", "surrogatepass")
        if len(data) > MAX_REGEX_INPUT:
            raise FilterOverBudget(
                f"{path}: $regex runs on strings of at most {MAX_REGEX_INPUT} bytes, the body "
                f"has {len(data)}"
            )
        cost = max(len(data), 1) * size
        if cost > self.left:
            raise FilterOverBudget(
                f"{path}: over the evaluation budget of the filter's $regex patterns "
                f"({MAX_REGEX_WORK} bytes searched × RE2 program size per event)"
            )
        self.left -= cost
        return compiled.search(data) is not None


def filter_matches(spec: Mapping[str, Any], body: Any) -> bool:
    """Whether ``body`` (the parsed JSON the endpoint would receive) passes ``spec``; raises
    ``FilterUnevaluable`` when a condition cannot be evaluated on it, ``FilterOverBudget`` when
    its ``$regex`` work would exceed the budget."""
    return _matches(spec, body, _Budget())


def _matches(spec: Mapping[str, Any], body: Any, budget: _Budget) -> bool:
    for key, condition in spec.items():
        if key == "$and":
            if not all(_matches(item, body, budget) for item in condition):
                return False
        elif key == "$or":
            if not any(_matches(item, body, budget) for item in condition):
                return False
        elif not _holds(condition, _lookup(body, key), key, budget):
            return False
    return True


def filter_verdicts(
    spec: Mapping[str, Any] | None, events: Iterable[tuple[str, str, Any, str | None]]
) -> list[dict[str, Any]]:
    """What ``spec`` (checked; None: no filter) decides for each of ``events`` — (id, type,
    published, body, None for a body left unread by the page's limit) — as ``match``, ``no
    match``, ``cannot evaluate`` or ``over budget`` (with why), or ``not tested``."""
    verdicts = []
    for event_id, type_name, at, body in events:
        verdict, reason = "match", ""
        if spec and body is None:
            verdict = "not tested"
            reason = f"the test reads at most {TEST_MAX_CHARS:,} characters of event bodies"
        elif spec:
            try:
                if not filter_matches(spec, json.loads(body)):
                    verdict = "no match"
            except FilterOverBudget as exc:
                verdict, reason = "over budget", str(exc)
            except FilterUnevaluable as exc:
                verdict, reason = "cannot evaluate", str(exc)
            except ValueError:
                verdict, reason = "cannot evaluate", "the body is not JSON"
        verdicts.append(
            {"id": event_id, "type": type_name, "at": at, "verdict": verdict, "why": reason}
        )
    return verdicts


def _lookup(body: Any, path: str) -> Any:
    value = body
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _holds(condition: Any, value: Any, path: str, budget: _Budget) -> bool:
    if not (isinstance(condition, Mapping) and any(k.startswith("$") for k in condition)):
        return value is not _MISSING and _equal(value, condition)
    return all(_operator(op, operand, value, path, budget) for op, operand in condition.items())


def _operator(op: str, operand: Any, value: Any, path: str, budget: _Budget) -> bool:  # noqa: PLR0911
    if op == "$exist":
        return (value is not _MISSING) == operand
    if op == "$neq":
        return value is _MISSING or not _equal(value, operand)
    if op == "$nin":
        return value is _MISSING or not any(_equal(value, item) for item in operand)
    if value is _MISSING:
        return False
    if op == "$eq":
        return _equal(value, operand)
    if op == "$in":
        return any(_equal(value, item) for item in operand)
    if op == "$regex":
        if not isinstance(value, str):
            raise FilterUnevaluable(f"{path}: $regex needs a string, the body has {_kind(value)}")
        return budget.search(operand, value, path)
    if not _comparable(value, operand):
        raise FilterUnevaluable(
            f"{path}: {op} needs {_kind(operand)} to compare with, the body has {_kind(value)}"
        )
    if op == "$gt":
        return value > operand
    if op == "$gte":
        return value >= operand
    if op == "$lt":
        return value < operand
    return value <= operand


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(value: Any, operand: Any) -> bool:
    return (_is_number(value) and _is_number(operand)) or (
        isinstance(value, str) and isinstance(operand, str)
    )


def _equal(value: Any, other: Any) -> bool:
    """JSON equality: true is not 1, and 1 equals 1.0."""
    if isinstance(value, bool) or isinstance(other, bool):
        return isinstance(value, bool) and isinstance(other, bool) and value == other
    return value == other


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"
