"""The handler's request state: one on-demand DynamoDB table per handler, and the handler role's use of it.

The handler (lambda/forecast_export) keeps every request in flight, and a record of every answered request, in this
table; the names of keys, index and TTL attribute are the handler's (``contract``), imported here, never retyped.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct

from ._lambda.forecast_export import contract
from .compliance import skip_checkov

# What the handler does with its items (conditional claim, lease and version writes, the due-index query): named,
# no BatchWrite or Scan.
TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
]
# What a DynamoDB table encrypted with a customer managed key needs from the principal that reads and writes it
# (DynamoDB Developer Guide, "Authorizing use of your customer managed key"), spelled out (no GenerateDataKey*).
STATE_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


def state_table(scope: Construct) -> dynamodb.Table:
    """The table "State": keys pk/sk, the sparse ``due`` index, TTL on ``expires_at``, point-in-time recovery.

    Encrypted with DynamoDB's AWS owned key (``SSEEnabled: false`` is how CloudFormation names it; free) until
    ``use_state_key`` sets a customer managed key. Deleted with the stack: it holds nothing once every request is
    answered, and the stack is deleted only after the last custom resource's Delete was."""
    table = dynamodb.Table(
        scope,
        "State",
        partition_key=dynamodb.Attribute(name=contract.TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=contract.TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,  # costs nothing while nothing is in flight
        encryption=dynamodb.TableEncryption.DEFAULT,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
        time_to_live_attribute=contract.TABLE_TTL_ATTRIBUTE,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    table.add_global_secondary_index(
        index_name=contract.DUE_INDEX,
        partition_key=dynamodb.Attribute(name=contract.DUE_SHARD_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=contract.DUE_AT_ATTRIBUTE, type=dynamodb.AttributeType.NUMBER),
        projection_type=dynamodb.ProjectionType.INCLUDE,
        non_key_attributes=list(contract.DUE_INDEX_PROJECTED),
    )
    cfn_table: dynamodb.CfnTable = table.node.default_child  # type: ignore[assignment]
    cfn_table.sse_specification = dynamodb.CfnTable.SSESpecificationProperty(sse_enabled=False)
    skip_checkov(cfn_table, {"CKV_AWS_119": "state-table-kms"})
    return table


def grant_table_use(table: dynamodb.Table, role: iam.Role) -> None:
    """The handler's items and its due index, with the named actions only."""
    role.add_to_policy(
        iam.PolicyStatement(
            sid="KeepRequestStateInOwnTable",
            actions=TABLE_ACTIONS,
            resources=[table.table_arn, f"{table.table_arn}/index/{contract.DUE_INDEX}"],
        )
    )


def use_state_key(table: dynamodb.Table, role: iam.Role, key: kms.IKey) -> bool:
    """Encrypt ``table`` with ``key`` and let ``role`` use the key, in its policy and, for a key of the handler's
    stack, in the key policy (explicit actions, no grant helper's wildcards).

    False when the key policy cannot be edited here (an imported key, or one of another stack, whose policy naming
    this role would make the two stacks depend on each other): its policy must then let the role use it."""
    cfn_table: dynamodb.CfnTable = table.node.default_child  # type: ignore[assignment]
    cfn_table.sse_specification = dynamodb.CfnTable.SSESpecificationProperty(
        sse_enabled=True, sse_type="KMS", kms_master_key_id=key.key_arn
    )
    skip_checkov(cfn_table, {})  # a customer managed key: CKV_AWS_119 passes
    role.add_to_policy(iam.PolicyStatement(sid="UseStateTableKey", actions=STATE_KEY_ACTIONS, resources=[key.key_arn]))
    if not isinstance(key, kms.Key) or cdk.Stack.of(key) is not cdk.Stack.of(table):
        return False
    result = key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="ForecastExportHandlerUsesStateTable",
            principals=[iam.ArnPrincipal(role.role_arn)],
            actions=STATE_KEY_ACTIONS,
            resources=["*"],
        )
    )
    return bool(result.statement_added)
