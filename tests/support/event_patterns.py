"""EventBridge event pattern matching, as documented, for the local EventBridge of the test bed.

What the pages say, and how each point is modelled here:
- A pattern is a JSON object whose leaves are arrays; an event matches when every field the pattern
  names matches (AND across fields), a leaf matching when any value of its array matches (OR).
  Fields the pattern does not name are ignored; matching is exact and case-sensitive
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html).
- A nested object in the pattern matches the same nesting in the event (``detail``...).
- If the event's value is an array, the leaf matches when the two arrays intersect
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html).
- Comparison operators (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html):
  ``prefix`` / ``suffix`` (also with ``equals-ignore-case``), ``equals-ignore-case``,
  ``anything-but`` (a value, a list, or a ``prefix``/``suffix``/``equals-ignore-case``/``wildcard``),
  ``numeric``, ``exists``, ``wildcard``, ``cidr``, null and empty-string values, and ``$or``: a list
  of sub-patterns at any object level, one of which must match (ANDed with the other fields of that
  level). "Comparison operators only work on leaf nodes, with the exception of $or and
  anything-but"; "Exists matching only works on leaf nodes. It does not work on intermediate
  nodes": an object under the key satisfies neither ``exists: true`` nor ``exists: false`` here
  (the reading that cannot over-match).
- Every operator but ``exists: false`` needs the field to be present (``anything-but`` included).

Anything else in a pattern (an unknown operator, a scalar where an array or object belongs)
raises ``PatternError``: the bed must not guess. Test support code: never shipped.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_MISSING = object()


class PatternError(ValueError):
    """The pattern uses something EventBridge would refuse or this model does not cover."""


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Does ``event`` (a whole event: source, detail-type, resources, detail...) match ``pattern``?"""
    if not isinstance(pattern, dict):
        raise PatternError("an event pattern is a JSON object")
    return _match_object(pattern, event)


def validate(pattern: Any) -> None:
    """Raise PatternError for what EventBridge would refuse (or this model does not cover)."""
    if not isinstance(pattern, dict):
        raise PatternError("an event pattern is a JSON object")
    for key, spec in pattern.items():
        if key == "$or":
            if not isinstance(spec, list) or not spec or not all(isinstance(s, dict) for s in spec):
                raise PatternError("$or takes a non-empty list of sub-patterns")
            for sub in spec:
                validate(sub)
        elif isinstance(spec, dict):
            validate(spec)
        elif isinstance(spec, list):
            if not spec:
                raise PatternError(f"{key}: empty arrays are not allowed")
            for item in spec:
                if isinstance(item, dict):
                    _check_operator(key, item)
                elif isinstance(item, list):
                    raise PatternError(f"{key}: an array of arrays is not a pattern")
        else:
            raise PatternError(f"{key!r} must be an object or an array")


_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "wildcard", "cidr"}


def _check_operator(key: str, item: dict[str, Any]) -> None:
    if len(item) != 1:
        raise PatternError(f"{key}: a match expression has exactly one operator, got {sorted(item)}")
    ((name, _),) = item.items()
    if name not in _OPERATORS:
        raise PatternError(f"{key}: unknown operator {name!r}")


def _match_object(pattern: dict[str, Any], event: Any) -> bool:
    for key, spec in pattern.items():
        if key == "$or":
            if not any(_match_object(sub, event) for sub in spec):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(spec, dict):
            if isinstance(value, list):  # an array of objects: one element has to match
                if not any(_match_object(spec, item) for item in value if isinstance(item, dict)):
                    return False
            elif not _match_object(spec, value if isinstance(value, dict) else _MISSING):
                return False
        elif isinstance(spec, list):
            if not _match_leaf(spec, value):
                return False
        else:
            raise PatternError(f"{key!r} must be an object or an array")
    return True


def _match_leaf(spec: list[Any], value: Any) -> bool:
    if isinstance(value, list):
        if not value:  # an empty array holds no value to match; it is there, though
            return any(isinstance(i, dict) and i.get("exists") is True for i in spec)
        return any(_match_leaf(spec, element) for element in value)
    for item in spec:
        if isinstance(item, dict):
            if _match_operator(item, value):
                return True
        elif value is not _MISSING and _same(item, value):
            return True
    return False


def _same(expected: Any, actual: Any) -> bool:
    """JSON equality: 5 == 5.0, but true is not 1 and "5" is not 5."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _number(expected) and _number(actual):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and expected == actual


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _match_operator(item: dict[str, Any], value: Any) -> bool:
    if len(item) != 1:
        raise PatternError(f"a match expression has exactly one operator, got {sorted(item)}")
    ((name, arg),) = item.items()
    if name == "exists":
        if not isinstance(arg, bool):
            raise PatternError("exists takes true or false")
        if isinstance(value, dict):  # an intermediate node: exists does not apply
            return False
        return (value is not _MISSING) == arg
    if value is _MISSING or isinstance(value, dict):
        return False
    if name in ("prefix", "suffix"):
        return _affix(name, arg, value)
    if name == "equals-ignore-case":
        return isinstance(arg, str) and isinstance(value, str) and arg.casefold() == value.casefold()
    if name == "wildcard":
        return isinstance(value, str) and _wildcard(arg, value)
    if name == "numeric":
        return _numeric(arg, value)
    if name == "cidr":
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(str(arg), strict=False)
        except ValueError:
            return False
    if name == "anything-but":
        return _anything_but(arg, value)
    raise PatternError(f"unknown operator {name!r}")


def _affix(name: str, arg: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(arg, dict):
        if set(arg) != {"equals-ignore-case"}:
            raise PatternError(f"{name} takes a string or {{'equals-ignore-case': string}}")
        arg, value = str(arg["equals-ignore-case"]).casefold(), value.casefold()
    if not isinstance(arg, str):
        raise PatternError(f"{name} takes a string")
    return value.startswith(arg) if name == "prefix" else value.endswith(arg)


def _wildcard(pattern: Any, value: str) -> bool:
    if not isinstance(pattern, str):
        raise PatternError("wildcard takes a string")
    parts = re.split(r"(?<!\\)\*", pattern)
    regex = ".*".join(re.escape(part.replace("\\*", "*")) for part in parts)
    return re.fullmatch(regex, value, re.DOTALL) is not None


_COMPARISONS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(arg: Any, value: Any) -> bool:
    if not isinstance(arg, list) or len(arg) % 2:
        raise PatternError("numeric takes [operator, number, ...] pairs")
    if not _number(value):
        return False
    for operator, bound in zip(arg[::2], arg[1::2], strict=True):
        if operator not in _COMPARISONS or not _number(bound):
            raise PatternError(f"numeric: bad comparison {operator!r} {bound!r}")
        if not _COMPARISONS[operator](float(value), float(bound)):
            return False
    return True


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError("anything-but takes one operator")
        ((name, inner),) = arg.items()
        if name in ("prefix", "suffix"):
            return isinstance(value, str) and not _affix(name, inner, value)
        if name == "equals-ignore-case":
            candidates = inner if isinstance(inner, list) else [inner]
            return isinstance(value, str) and all(value.casefold() != str(c).casefold() for c in candidates)
        if name == "wildcard":
            candidates = inner if isinstance(inner, list) else [inner]
            return isinstance(value, str) and not any(_wildcard(c, value) for c in candidates)
        raise PatternError(f"anything-but does not take {name!r}")
    candidates = arg if isinstance(arg, list) else [arg]
    return not any(_same(c, value) for c in candidates)
