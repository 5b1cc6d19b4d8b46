"""Type checks of the props, run before any other check (which would otherwise fail with a raw AttributeError).

jsii-generated libraries check every argument's type on entry; a Python construct has to do it itself.
Interfaces (``s3.IBucket``, ``kms.IKey``, ``iam.IRole``) are checked the way jsii accepts them, by their
members: imported resources are proxies of no common Python class. Tokens pass wherever they did: a
deploy-time string is a ``str``, a deploy-time bucket is still an ``IBucket``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aws_cdk as cdk

import constructs

from ._lambda.forecast_export import rules


@dataclass(frozen=True)
class Expected:
    """What a prop accepts: said in words for the message, and the test."""

    description: str
    accepts: Callable[[object], bool]


def interface(name: str, example: str, *members: str, article: str = "an") -> Expected:
    """An object with the interface's members (jsii hands out proxies of several interfaces at once, whose
    members exist only on the instance)."""
    return Expected(f"{article} {name} ({example})", lambda value: all(hasattr(value, member) for member in members))


def instance_of(kind: type, description: str) -> Expected:
    return Expected(description, lambda value: isinstance(value, kind))


TEXT = instance_of(str, "a str")
BOOL = instance_of(bool, "a bool (True or False)")
DURATION = instance_of(cdk.Duration, "a cdk.Duration, such as cdk.Duration.minutes(50)")
BUCKET = interface(
    "s3.IBucket", "such as s3.Bucket(...) or s3.Bucket.from_bucket_name(...)", "bucket_arn", "bucket_name", "arn_for_objects"
)
KEY = interface("kms.IKey", "such as kms.Key(...) or kms.Key.from_key_arn(...)", "key_arn", "key_id", "grant", article="a")
ROLE = interface("iam.IRole", "such as iam.Role(...) or iam.Role.from_role_arn(...)", "role_arn", "role_name", "grant_pass_role")


def describe(value: object) -> str:
    """The given value for a message: its type, and its path for a construct, else its shortened repr."""
    kind = type(value).__name__
    if isinstance(value, constructs.Construct):
        return f"{kind} {value.node.path}"
    return f"{kind} {rules.show(value)}"


class TypeChecks:
    """Collects the props of the wrong type; ``problems`` lists them, one message per prop."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def expect(self, prop: str, value: object, expected: Expected, *, optional: bool = False) -> bool:
        """True when ``value`` (None allowed if ``optional``) is what ``prop`` accepts; else a problem is noted."""
        if (value is None and optional) or expected.accepts(value):
            return True
        self.problems.append(f"{prop} must be {expected.description}; got {describe(value)}")
        return False

    def expect_tags(self, prop: str, value: object) -> None:
        """A mapping of str keys to str values (a token is a str too)."""
        if value is None:
            return
        if not isinstance(value, Mapping):
            self.problems.append(f"{prop} must be a mapping of str keys to str values; got {describe(value)}")
            return
        for key, tag_value in value.items():
            if not isinstance(key, str):
                self.problems.append(f"{prop} key {rules.show(key)} must be a str; got {type(key).__name__}")
            elif not isinstance(tag_value, str):
                self.problems.append(f"{prop}[{key!r}] must be a str; got {describe(tag_value)}")
