"""IAM and CloudFormation sizes as AWS counts them, at the longest names AWS allows.

IAM measures a policy on the document it stores: intrinsic functions resolved, whitespace not
counted. This module resolves every policy of synthesized templates with worst-case values for
whatever is still a token (partition, region, generated role and bucket names, key IDs, stack
IDs, imported role ARNs) and reports, per stack: each managed policy's size, the inline policies
per role, the managed policies per role, trust policy sizes, resources and template bytes.

Used by tests/test_iam_sizes.py (limits) and `make bench` (headroom). Test support code.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from cdk_forecast_export._lambda.forecast_export.contract import BASE_MAX_LENGTH

from . import intrinsics

MANAGED_POLICY_LIMIT = 6144
INLINE_PER_ROLE_LIMIT = 10240
MANAGED_PER_ROLE_LIMIT = 10
TRUST_POLICY_LIMIT = 2048
RESOURCES_PER_STACK_LIMIT = 500
TEMPLATE_BYTES_LIMIT = 1_000_000

PARTITION = "aws-us-gov"
REGION = "ap-southeast-5"
ACCOUNT = "123456789012"
WORST_ENV = cdk.Environment(account=ACCOUNT, region=REGION)
STACK_NAME = "S" * 128
STACK_ID = f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/12345678-1234-1234-1234-123456789012"
ROLE_NAME = "r" * 64
ROLE_PATH = "/" + "p" * 510 + "/"
KEY_ID = "mrk-" + "0" * 32


def _pseudo(name: str) -> str | None:
    return {
        "AWS::Partition": PARTITION,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackId": STACK_ID,
        "AWS::StackName": STACK_NAME,
        "AWS::URLSuffix": "amazonaws.com",
    }.get(name)


class WorstCaseResolver:
    """Resolves a template's intrinsics with the longest value each one can take."""

    def __init__(self, template: dict[str, Any], imports: dict[str, str] | None = None) -> None:
        self.resources = template.get("Resources", {})
        self.imports = imports or {}

    def _ref(self, name: str) -> str:
        pseudo = _pseudo(name)
        if pseudo is not None:
            return pseudo
        resource = self.resources.get(name, {})
        kind = resource.get("Type", "")
        properties = resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            return str(self.resolve(properties["RoleName"])) if "RoleName" in properties else ROLE_NAME
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{'p' * 128}"
        if kind == "AWS::S3::Bucket":
            return str(self.resolve(properties["BucketName"])) if "BucketName" in properties else "b" * 63
        if kind == "AWS::KMS::Key":
            return KEY_ID
        return "x" * 128

    def _get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name, {})
        kind = resource.get("Type", "")
        properties = resource.get("Properties", {})
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            path = str(self.resolve(properties.get("Path", "/")))
            return f"arn:{PARTITION}:iam::{ACCOUNT}:role{path}{self._ref(name)}"
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:{PARTITION}:s3:::{self._ref(name)}"
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{'g' * 512}:*"
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{'f' * 64}"
        return "x" * 256

    def resolve(self, value: Any) -> Any:
        # An imported value at its longest: a role ARN with a 512-character path.
        return intrinsics.resolve(
            value,
            ref=self._ref,
            get_att=self._get_att,
            import_value=lambda name: self.imports.get(name, f"arn:{PARTITION}:iam::{ACCOUNT}:role{ROLE_PATH}{ROLE_NAME}"),
        )


def iam_length(document: Any) -> int:
    """Characters as IAM counts them: the stored JSON without whitespace."""
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


@dataclass
class StackSizes:
    name: str
    resources: int
    template_bytes: int
    managed_policies: dict[str, int] = field(default_factory=dict)  # logical ID -> chars
    inline_per_role: dict[str, int] = field(default_factory=dict)  # role -> chars of all its inline policies
    managed_per_role: dict[str, int] = field(default_factory=dict)  # role -> managed policies attached here
    trust_policies: dict[str, int] = field(default_factory=dict)  # role logical ID -> chars

    @property
    def largest_managed_policy(self) -> int:
        return max(self.managed_policies.values(), default=0)

    def problems(self) -> list[str]:
        checks = (
            ("managed policy", self.managed_policies, MANAGED_POLICY_LIMIT),
            ("inline policies of role", self.inline_per_role, INLINE_PER_ROLE_LIMIT),
            ("managed policies attached to role", self.managed_per_role, MANAGED_PER_ROLE_LIMIT),
            ("trust policy of role", self.trust_policies, TRUST_POLICY_LIMIT),
        )
        found = [
            f"{self.name}: {what} {key}: {value} > {limit}"
            for what, values, limit in checks
            for key, value in values.items()
            if value > limit
        ]
        if self.resources > RESOURCES_PER_STACK_LIMIT:
            found.append(f"{self.name}: {self.resources} resources > {RESOURCES_PER_STACK_LIMIT}")
        if self.template_bytes > TEMPLATE_BYTES_LIMIT:
            found.append(f"{self.name}: template of {self.template_bytes} bytes > {TEMPLATE_BYTES_LIMIT}")
        return found


def _role_key(resolver: WorstCaseResolver, role: Any) -> str:
    """A role as policies name it: a Ref to a role of this template, or an imported name/ARN."""
    if isinstance(role, dict) and "Ref" in role:
        return str(role["Ref"])
    return str(resolver.resolve(role))


def measure(name: str, template: dict[str, Any]) -> StackSizes:
    resolver = WorstCaseResolver(template)
    resources = template.get("Resources", {})
    sizes = StackSizes(name, len(resources), len(json.dumps(template, indent=1).encode()))
    inline: dict[str, int] = defaultdict(int)
    managed: dict[str, int] = defaultdict(int)
    for logical_id, resource in resources.items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::ManagedPolicy":
            sizes.managed_policies[logical_id] = iam_length(resolver.resolve(properties["PolicyDocument"]))
            for role in properties.get("Roles", []):
                managed[_role_key(resolver, role)] += 1
        elif kind == "AWS::IAM::Policy":
            length = iam_length(resolver.resolve(properties["PolicyDocument"]))
            for role in properties.get("Roles", []):
                inline[_role_key(resolver, role)] += length
        elif kind == "AWS::IAM::Role":
            sizes.trust_policies[logical_id] = iam_length(resolver.resolve(properties["AssumeRolePolicyDocument"]))
            for policy in properties.get("Policies", []):
                inline[logical_id] += iam_length(resolver.resolve(policy["PolicyDocument"]))
            managed[logical_id] += len(properties.get("ManagedPolicyArns", []))
    sizes.inline_per_role = dict(inline)
    sizes.managed_per_role = dict(managed)
    return sizes


# --- the worst-case apps ---------------------------------------------------------------------------


def forecast_arn(index: int) -> str:
    return f"arn:{PARTITION}:forecast:{REGION}:{ACCOUNT}:forecast/f{index:02d}{'x' * 60}"


def add_worst_case_exports(stack: cdk.Stack, count: int, *, provider: Any = None, start: int = 0) -> None:
    """``count`` exports with every name at its longest and a KMS key each."""
    from cdk_forecast_export import ForecastExport

    for index in range(start, start + count):
        key = kms.Key.from_key_arn(stack, f"Key{index}", f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/mrk-{index:032d}")
        ForecastExport(
            stack,
            f"Export{index:03d}",
            forecast_arn=forecast_arn(index),
            export_job_name=f"e{index:03d}".ljust(BASE_MAX_LENGTH, "n"),
            encryption_key=key,
            role_name=f"role{index:03d}" + "R" * 57,
            provider=provider,
        )


def one_stack_app(outdir: str, context: dict[str, Any], exports: int = 100) -> dict[str, dict[str, Any]]:
    app = cdk.App(outdir=outdir, context=context)
    stack = cdk.Stack(app, "HundredExports", env=WORST_ENV)
    add_worst_case_exports(stack, exports)
    assembly = app.synth()
    return {"HundredExports": dict(assembly.get_stack_by_name("HundredExports").template)}


def shared_provider_app(outdir: str, context: dict[str, Any], teams: int = 10, per_team: int = 10) -> dict[str, dict[str, Any]]:
    from cdk_forecast_export import ForecastExportProvider

    app = cdk.App(outdir=outdir, context=context)
    platform = cdk.Stack(app, "Platform", env=WORST_ENV)
    provider = ForecastExportProvider(platform, "Provider", role_path="/platform/")
    names = ["Platform"]
    for team in range(teams):
        stack = cdk.Stack(app, f"Team{team:02d}", env=WORST_ENV)
        add_worst_case_exports(stack, per_team, provider=provider, start=team * per_team)
        names.append(stack.stack_name)
    assembly = app.synth()
    return {name: dict(assembly.get_stack_by_name(name).template) for name in names}
