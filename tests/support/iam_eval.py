"""A small IAM evaluator for the statements this project writes.

moto does not enforce IAM, so the test bed evaluates the policies attached to the handler's role
itself, on every call the handler makes (cfn_driver's before-call hook) and in the least-privilege
test. Semantics follow the IAM policy evaluation logic
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, otherwise an Allow whose action, resource and every condition match is
needed; nothing matching means an implicit deny. Wildcards ``*`` and ``?`` in actions (case
insensitive) and resources (case sensitive); Action/NotAction, Resource/NotResource; condition
operators String*/Arn*/Bool/Null, with ``...IfExists``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
A condition key missing from the request context makes a non-IfExists operator false.
Test support code: never shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(value: str, pattern: str) -> bool:
    # fnmatch also treats [..] as a class; IAM has no such thing, so escape brackets.
    return fnmatchcase(value, pattern.replace("[", "[[]"))


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_like(action.lower(), str(a).lower()) for a in _list(statement["NotAction"]))
    return any(_like(action.lower(), str(a).lower()) for a in _list(statement.get("Action", [])))


def _resource_matches(statement: dict[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_like(resource, str(r)) for r in _list(statement["NotResource"]))
    return any(_like(resource, str(r)) for r in _list(statement.get("Resource", [])))


def _compare(base: str, actual: str, expected: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return _like(actual, expected)
    if base == "Bool":
        return actual.lower() == str(expected).lower()
    raise ValueError(f"condition operator {base} is not modelled")


@dataclass
class PolicySet:
    statements: list[dict[str, Any]] = field(default_factory=list)

    def _matching(self, effect: str, action: str, resource: str, context: dict[str, str]) -> bool:
        for statement in self.statements:
            if statement.get("Effect") != effect:
                continue
            if not _action_matches(statement, action) or not _resource_matches(statement, resource):
                continue
            if self._conditions_hold(statement.get("Condition", {}), context):
                return True
        return False

    def allows(self, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        context = context or {}
        if self._matching("Deny", action, resource, context):
            return False
        return self._matching("Allow", action, resource, context)

    @staticmethod
    def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
        for operator, pairs in conditions.items():
            if_exists = operator.endswith("IfExists")
            base = operator.removesuffix("IfExists")
            for key, expected in pairs.items():
                actual = context.get(key)
                if base == "Null":
                    ok = (actual is None) == (str(expected).lower() == "true")
                elif actual is None:
                    ok = if_exists
                elif base.startswith(("StringNot", "ArnNot")):
                    positive = base.replace("StringNot", "String").replace("ArnNot", "Arn")
                    ok = not any(_compare(positive, actual, str(e)) for e in _list(expected))
                else:
                    ok = any(_compare(base, actual, str(e)) for e in _list(expected))
                if not ok:
                    return False
        return True
