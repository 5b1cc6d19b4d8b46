"""How the handler function, its log group and its state table are configured: memory, reserved concurrency, log
retention, log key, state key.

One handler serves every ForecastExport of a stack (or every export on a ForecastExportProvider). A
provider, or a ForecastExportHandler made by hand, takes these settings as props. The stack's own
handler is made implicitly by the stack's first export, so the exports carry them instead
(``handler_options``): every export of the stack that passes them must pass the same, whatever the
order the exports are made in; an export without them accepts the others'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from ._lambda.forecast_export import rules

MEMORY_SIZE_MIN = 128  # Lambda's range, in MB
MEMORY_SIZE_MAX = 10240
DEFAULT_MEMORY_SIZE = 128  # the handler makes short API calls; 128 MB is Lambda's (and CDK's) default
# Kept three months by default: long enough to explain a quarter's deploys, short enough to cost little.
DEFAULT_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# RetentionInDays for each RetentionDays member (the values aws-cdk-lib's LogGroup writes; a test compares them).
# INFINITE writes no RetentionInDays.
RETENTION_IN_DAYS: dict[str, int | None] = {
    "ONE_DAY": 1,
    "THREE_DAYS": 3,
    "FIVE_DAYS": 5,
    "ONE_WEEK": 7,
    "TWO_WEEKS": 14,
    "ONE_MONTH": 30,
    "TWO_MONTHS": 60,
    "THREE_MONTHS": 90,
    "FOUR_MONTHS": 120,
    "FIVE_MONTHS": 150,
    "SIX_MONTHS": 180,
    "ONE_YEAR": 365,
    "THIRTEEN_MONTHS": 400,
    "EIGHTEEN_MONTHS": 545,
    "TWO_YEARS": 731,
    "THREE_YEARS": 1096,
    "FIVE_YEARS": 1827,
    "SIX_YEARS": 2192,
    "SEVEN_YEARS": 2557,
    "EIGHT_YEARS": 2922,
    "NINE_YEARS": 3288,
    "TEN_YEARS": 3653,
    "INFINITE": None,
}

# What CloudWatch Logs does with a log group's key (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch
# Logs using AWS KMS", step 2: kms:Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey*, Describe*), spelled out.
LOGS_KEY_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
]


@dataclass(frozen=True)
class ForecastExportHandlerOptions:
    """Settings of the handler function and its log group, for the stack's own handler (``handler_options``).

    The same settings are props of ``ForecastExportHandler`` and ``ForecastExportProvider``, with the same names.
    """

    memory_size: int = DEFAULT_MEMORY_SIZE
    """Memory of the handler function in MB, 128-10240. Default 128 (the handler only calls AWS APIs)."""
    reserved_concurrent_executions: int | None = None
    """Concurrency reserved for the handler, at least 1. Default: none, the handler shares the account's
    unreserved concurrency. Reserve some when other functions can saturate the account: CloudFormation's requests
    are then throttled and wait in Lambda's queue, so deploys slow down, and a request still queued at the
    resource's ServiceTimeout fails the deploy (README, "Handler settings")."""
    log_retention: logs.RetentionDays = DEFAULT_LOG_RETENTION
    """How long the handler's log group keeps its logs. Default ``logs.RetentionDays.THREE_MONTHS``."""
    log_encryption_key: kms.IKey | None = None
    """KMS key (same region) for the handler's log group; a key of this app gets a key policy statement letting
    CloudWatch Logs use it for this account's log groups. Default: none (CloudWatch Logs' own encryption)."""
    state_encryption_key: kms.IKey | None = None
    """KMS key (same region) for the handler's DynamoDB state table, which holds each request in flight (its
    CloudFormation response URL included). The handler's role may use it; a key of the handler's stack also gets a
    key policy statement for the role. Default: none (DynamoDB's AWS owned key, free)."""

    def problems(self, stack: cdk.Stack, prop: str = "") -> list[str]:
        """Every invalid setting, each naming the prop (``prop`` is prefixed, e.g. ``handler_options.``)."""
        problems: list[str] = []
        memory = self.memory_size
        if not _is_token(memory) and (
            isinstance(memory, bool) or not isinstance(memory, int) or not MEMORY_SIZE_MIN <= memory <= MEMORY_SIZE_MAX
        ):
            problems.append(
                f"{prop}memory_size {rules.show(memory)} must be a whole number of MB from {MEMORY_SIZE_MIN} to {MEMORY_SIZE_MAX}"
            )
        reserved = self.reserved_concurrent_executions
        if reserved is not None and not _is_token(reserved):
            if isinstance(reserved, bool) or not isinstance(reserved, int):
                problems.append(f"{prop}reserved_concurrent_executions {rules.show(reserved)} must be a whole number")
            elif reserved < 1:
                problems.append(
                    f"{prop}reserved_concurrent_executions {reserved} must be at least 1: 0 would stop the handler, and "
                    "every deploy would wait for CloudFormation's timeout. Leave it out to share the account's "
                    "unreserved concurrency"
                )
        retention: object = self.log_retention  # (typed as RetentionDays; Python callers may pass anything)
        if not isinstance(retention, logs.RetentionDays):
            problems.append(
                f"{prop}log_retention {rules.show(retention)} must be a logs.RetentionDays, e.g. logs.RetentionDays.THREE_MONTHS"
            )
        problems += _key_problems(f"{prop}log_encryption_key", self.log_encryption_key, stack, "a log group")
        problems += _key_problems(f"{prop}state_encryption_key", self.state_encryption_key, stack, "a DynamoDB table")
        return problems

    def differences(self, other: ForecastExportHandlerOptions) -> list[str]:
        """The settings that differ, as ``name this vs other`` phrases."""
        return [
            f"{name} {mine} vs {theirs}"
            for name, mine, theirs in zip(_FIELDS, self._shown(), other._shown(), strict=True)
            if mine != theirs
        ]

    def _shown(self) -> tuple[str, ...]:
        key = self.log_encryption_key
        return (
            str(self.memory_size),
            str(self.reserved_concurrent_executions),
            getattr(self.log_retention, "name", str(self.log_retention)),
            _shown_key(key),
            _shown_key(self.state_encryption_key),
        )


_FIELDS = ("memory_size", "reserved_concurrent_executions", "log_retention", "log_encryption_key", "state_encryption_key")


def _shown_key(key: kms.IKey | None) -> str:
    return "none" if key is None else (key.key_arn if not _is_token(key.key_arn) else key.node.path)


def _key_problems(prop: str, key: kms.IKey | None, stack: cdk.Stack, takes: str) -> list[str]:
    """A key ARN of the stack's region (a log group and a DynamoDB table take a key ARN, not an alias)."""
    if key is None:
        return []
    if hasattr(key, "alias_name"):
        return [
            f"{prop} is a KMS alias ({key.node.path}), not a key: {takes} takes a key ARN. "
            "Pass the kms.Key, or kms.Key.from_key_arn(scope, id, <key ARN>)"
        ]
    if _is_token(key.key_arn):
        return []
    region = stack.region if not _is_token(stack.region) else None
    return rules.check_kms_key_arn(prop, key.key_arn, region=region)


def _is_token(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool) and cdk.Token.is_unresolved(value)


def logs_may_use_key(key: kms.IKey, stack: cdk.Stack) -> bool:
    """Let CloudWatch Logs use ``key`` for this account's log groups in this region (the key policy statement
    the CloudWatch Logs guide asks for). False when the key's policy cannot be edited here (an imported key).

    The condition names the account's log groups, not the handler's: the log group's name is generated by
    CloudFormation and the log group references the key, so naming it in the key policy would be circular."""
    log_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )
    result = key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsForecastExportHandlerLogs",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=LOGS_KEY_ACTIONS,
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        )
    )
    return bool(result.statement_added)
