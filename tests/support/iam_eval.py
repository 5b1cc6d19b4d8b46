"""A small IAM evaluator for the statements this project writes (Allow only; String/Arn Equals and Like).

moto does not enforce IAM, so the least-privilege test evaluates the synthesized policies itself:
an action/resource pair is allowed when an Allow statement matches the action, the resource and
every condition. Test support code: never shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(value: str, pattern: str) -> bool:
    return fnmatchcase(value, pattern)


@dataclass
class PolicySet:
    statements: list[dict[str, Any]] = field(default_factory=list)

    def allows(self, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        context = context or {}
        for statement in self.statements:
            if statement.get("Effect") != "Allow":
                continue
            if not any(_like(action.lower(), str(a).lower()) for a in _list(statement["Action"])):
                continue
            if not any(_like(resource, str(r)) for r in _list(statement["Resource"])):
                continue
            if self._conditions_hold(statement.get("Condition", {}), context):
                return True
        return False

    @staticmethod
    def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
        for operator, pairs in conditions.items():
            for key, expected in pairs.items():
                actual = context.get(key)
                if actual is None:
                    return False
                if operator in ("StringEquals", "ArnEquals"):
                    ok = any(actual == e for e in _list(expected))
                elif operator in ("StringLike", "ArnLike"):
                    ok = any(_like(actual, e) for e in _list(expected))
                else:
                    raise ValueError(f"condition operator {operator} is not modelled")
                if not ok:
                    return False
        return True
