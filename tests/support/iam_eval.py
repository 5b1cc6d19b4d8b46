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

Request context values are strings, or lists of strings for multivalued keys (``aws:TagKeys``).
The set qualifiers ``ForAnyValue:`` (some value matches) and ``ForAllValues:`` (every value matches;
true when the key is missing or empty) apply to them
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html);
an unqualified operator on a list is read as ForAnyValue.

Resource-based policies (a role's trust policy) are evaluated with ``PolicySet.trusts``: statements
match on Principal/NotPrincipal instead of Resource
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
An ``AWS`` principal matches the caller's exact ARN (a role ARN, path included), ``*``, or the
caller's account as ``arn:<partition>:iam::<account>:root`` or the bare 12-digit account ID.
Service and Federated principals never match an AWS caller.
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


Context = dict[str, Any]  # condition key -> str, or list[str] for multivalued keys


def _principal_matches(statement: dict[str, Any], principal_arn: str) -> bool:
    """Whether the statement's Principal (or NotPrincipal) covers the AWS principal ``principal_arn``."""
    key = "NotPrincipal" if "NotPrincipal" in statement else "Principal"
    value = statement.get(key)
    if value == "*":
        named = True
    elif isinstance(value, dict):
        parts = principal_arn.split(":")
        partition, account = parts[1], parts[4]
        accepted = {"*", principal_arn, account, f"arn:{partition}:iam::{account}:root"}
        named = any(str(p) in accepted for p in _list(value.get("AWS", [])))
    else:
        named = False
    return not named if key == "NotPrincipal" else named


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

    def _matching(self, effect: str, action: str, context: Context, target: Any) -> bool:
        """``target(statement)`` says whether the statement covers the resource (identity policies)
        or the principal (resource-based policies)."""
        for statement in self.statements:
            if statement.get("Effect") != effect:
                continue
            if not _action_matches(statement, action) or not target(statement):
                continue
            if self._conditions_hold(statement.get("Condition", {}), context):
                return True
        return False

    def allows(self, action: str, resource: str, context: Context | None = None) -> bool:
        """Identity-based policies: may the holder perform ``action`` on ``resource``?"""
        context = context or {}

        def covers(statement: dict[str, Any]) -> bool:
            return _resource_matches(statement, resource)

        if self._matching("Deny", action, context, covers):
            return False
        return self._matching("Allow", action, context, covers)

    def trusts(self, principal_arn: str, action: str, context: Context | None = None) -> bool:
        """A resource-based policy (a role's trust policy): does it let ``principal_arn`` perform
        ``action`` on the resource it is attached to? Resource elements are ignored."""
        context = context or {}

        def covers(statement: dict[str, Any]) -> bool:
            return _principal_matches(statement, principal_arn)

        if self._matching("Deny", action, context, covers):
            return False
        return self._matching("Allow", action, context, covers)

    @staticmethod
    def _conditions_hold(conditions: dict[str, dict[str, Any]], context: Context) -> bool:
        for operator, pairs in conditions.items():
            qualifier, _, rest = operator.rpartition(":")
            if qualifier not in ("", "ForAnyValue", "ForAllValues"):
                raise ValueError(f"condition operator {operator} is not modelled")
            if_exists = rest.endswith("IfExists")
            base = rest.removesuffix("IfExists")
            for key, expected in pairs.items():
                actual = context.get(key)
                if base == "Null":
                    ok = (actual is None) == (str(expected).lower() == "true")
                elif qualifier == "ForAllValues":
                    ok = all(_one_holds(base, str(a), expected) for a in _list(actual if actual is not None else []))
                elif actual is None:
                    ok = if_exists
                else:
                    ok = any(_one_holds(base, str(a), expected) for a in _list(actual))
                if not ok:
                    return False
        return True


def _one_holds(base: str, actual: str, expected: Any) -> bool:
    """One context value against the condition's value(s): any match, or none for the negated operators."""
    if base.startswith(("StringNot", "ArnNot")):
        positive = base.replace("StringNot", "String").replace("ArnNot", "Arn")
        return not any(_compare(positive, actual, str(e)) for e in _list(expected))
    return any(_compare(base, actual, str(e)) for e in _list(expected))
