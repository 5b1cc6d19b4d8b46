"""Acknowledged cdk-nag findings and checkov skips, each with the reason it is safe.

The README lists every entry of ``REASONS``; a test keeps the two in step.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk

from constructs import Construct

from ._lambda.forecast_export.contract import KEY_LENGTH, OWNER_LENGTH

REASONS: dict[str, str] = {
    "export-files-wildcard": (
        "Forecast names the export files <job>_<timestamp>_part<N> at run time, so the role may put objects under "
        "this export's prefix and nowhere else."
    ),
    "export-files-read-wildcard": (
        "grant_read lets the grantee read the export's files, whose names Forecast chooses at run time; only objects "
        "under this export's prefix are readable."
    ),
    "export-job-wildcard": (
        f"Export job names end in the stack's owner marker (the first {OWNER_LENGTH} characters of the stack ID's "
        f"UUID) and a {KEY_LENGTH}-character key the handler computes at deploy time; the pattern admits only this "
        "stack's jobs, under any forecast, so a job stays reachable after a rename, a forecast change or its "
        "export's removal until its Delete is answered."
    ),
    "access-role-wildcard": (
        "The handler assumes the access role of the stack that sent the request; those roles are created under the "
        "/cdk-forecast-export/ path with generated names, and each one's trust policy accepts only a session "
        "tagged with its own stack's ID."
    ),
    "polling-rule-wildcard": (
        "Read-only (events:ListTargetsByRule): a request a previous release left in flight is taken over by reading "
        "its per-request rule; every such rule name starts with this handler's own prefix, so no other rule in the "
        "account is readable."
    ),
    "stack-read-wildcard": (
        "The handler confirms each request with CloudFormation's read APIs before acting on it; a shared provider "
        "serves any stack of its account and region, whose names are not known when the provider is deployed. "
        "Read-only: DescribeStackResource, DescribeStackEvents."
    ),
    "bucket-access-logs": (
        "Server access logs need a second bucket: pass access_logs_bucket to turn them on. Only Forecast's role "
        "writes to this bucket, and CloudTrail data events can audit reads."
    ),
    "log-group-kms": (
        "The handler logs job names, ARNs and statuses, never data or secrets; CloudWatch Logs encrypts every log "
        "group at rest by default. Pass log_encryption_key to use a KMS key of yours (then nothing is skipped)."
    ),
    "lambda-dlq": (
        "CloudFormation invokes the handler asynchronously; every failure is answered to CloudFormation and logged, "
        "and Lambda retries only an invocation the handler fails on purpose; a dead-letter queue would only hold "
        "copies of stack events."
    ),
    "lambda-vpc": (
        "The handler calls only AWS APIs (Forecast, DynamoDB, Lambda, CloudFormation, STS) and reaches no private resource."
    ),
    "lambda-concurrency": (
        "Reserving concurrency takes it from every other function of the account, so it is an opt-in: pass "
        "reserved_concurrent_executions where other functions can saturate the account (then nothing is skipped)."
    ),
    "lambda-env-encryption": (
        "The environment holds only the state table's name and the legacy polling-rule name prefix, neither a secret."
    ),
    "state-table-kms": (
        "DynamoDB encrypts the state table at rest with its AWS owned key by default; the table's items expire within "
        "days of their answer. Pass state_encryption_key to use a KMS key of yours (then nothing is skipped)."
    ),
    "auto-delete-provider": (
        "aws-cdk-lib's auto-delete-objects function exists only with destroy_bucket_with_stack=True and runs once, "
        "when the stack is deleted; it calls only S3 on that bucket."
    ),
}

CHECKOV_FUNCTION_SKIPS = {
    "CKV_AWS_116": "lambda-dlq",
    "CKV_AWS_117": "lambda-vpc",
    "CKV_AWS_115": "lambda-concurrency",
    "CKV_AWS_173": "lambda-env-encryption",
}


def annotate_auto_delete_provider(scope: Construct) -> None:
    """Skip the function checks on aws-cdk-lib's auto-delete-objects provider (created by the opt-in)."""
    provider = cdk.Stack.of(scope).node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
    handler = provider.node.try_find_child("Handler") if provider is not None else None
    if isinstance(handler, cdk.CfnResource):
        skip_checkov(handler, {check: "auto-delete-provider" for check in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117")})
        handler.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})


def flatten_cfn_reference(value: Any) -> str:
    """The text cdk-nag uses for a resource in a finding ID (its utils/flatten-cfn-reference)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::Join":
            return str(argument[0]).join(flatten_cfn_reference(item) for item in argument[1])
        if key == "Fn::Sub":
            return flatten_cfn_reference(argument)
        if key == "Fn::GetAtt":
            return f"<{flatten_cfn_reference(argument[0])}.{flatten_cfn_reference(argument[1])}>"
        if key == "Fn::ImportValue":
            return flatten_cfn_reference(argument)
        if key == "Ref":
            return f"<{flatten_cfn_reference(argument)}>"
    return json.dumps(value, separators=(",", ":"))


def acknowledge_wildcard_resource(scope: Construct, resource: str, reason_key: str) -> None:
    """Acknowledge cdk-nag's AwsSolutions-IAM5 for exactly this resource pattern, below ``scope``."""
    flattened = flatten_cfn_reference(cdk.Stack.of(scope).resolve(resource))
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{flattened}]", reason=REASONS[reason_key])
    )


def acknowledge(scope: Construct, rule_id: str, reason_key: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=REASONS[reason_key]))


def skip_checkov(resource: cdk.CfnResource, skips: dict[str, str]) -> None:
    """Record checkov skips in the resource's metadata, where checkov reads them (no skips: none recorded)."""
    if not skips:
        metadata = dict(resource.cfn_options.metadata or {})
        metadata.pop("checkov", None)
        resource.cfn_options.metadata = metadata
        return
    resource.add_metadata("checkov", {"skip": [{"id": check, "comment": REASONS[key]} for check, key in sorted(skips.items())]})
