"""The template's DynamoDB tables and EventBridge rules, made in moto as CloudFormation makes them.

A stack's ``AWS::DynamoDB::Table`` and ``AWS::Events::Rule`` resources exist in the account from the stack's
creation (before its function and custom resources, which depend on them) until CloudFormation deletes them
after the custom resources' last Delete answered (aws-attribute-dependson.html: "resource A is deleted before
resource B"). Without a name property CloudFormation generates one, ``<stack>-<LogicalId>-<random upper alnum>``
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html), at most 255
characters for a table and 64 for a rule. ``Ref`` is the name; ``Fn::GetAtt Arn`` is
``arn:aws:dynamodb:<region>:<account>:table/<name>`` or ``arn:aws:events:<region>:<account>:rule/<name>``
(aws-resource-dynamodb-table.html, aws-resource-events-rule.html, "Return values").

A rule the stack makes counts toward the event bus's 300 rules like every other rule of the account
(eventbridge_quotas.py): on a full bus CloudFormation cannot create it and the bed raises ``StackResourceFailed``.

Test support code: never shipped.
"""

from __future__ import annotations

import json
import string
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from .cfn_driver import LocalStack

TABLE = "AWS::DynamoDB::Table"
RULE = "AWS::Events::Rule"
MADE = (TABLE, RULE)
NAME_PROPERTY = {TABLE: "TableName", RULE: "Name"}
NAME_MAX = {TABLE: 255, RULE: 64}
SUFFIX_LENGTH = 12
TARGET_KEYS = ("Id", "Arn", "Input", "InputPath", "RoleArn", "InputTransformer", "RetryPolicy", "DeadLetterConfig")


class StackResourceFailed(RuntimeError):
    """CloudFormation could not create a table or rule of the template (the stack would roll back)."""


def generated_name(stack: LocalStack, logical_id: str, kind: str) -> str:
    """CloudFormation's name for a resource without a name property: stack, logical ID, a random suffix."""
    if logical_id not in stack.generated_names:
        suffix = "".join(stack.bed.rng.choice(string.ascii_uppercase + string.digits) for _ in range(SUFFIX_LENGTH))
        prefix = f"{stack.name}-{logical_id}"[: NAME_MAX[kind] - SUFFIX_LENGTH - 1]
        stack.generated_names[logical_id] = f"{prefix}-{suffix}"
    return stack.generated_names[logical_id]


def physical_name(stack: LocalStack, logical_id: str, template: dict[str, Any]) -> str:
    resource = template["Resources"][logical_id]
    given = resource.get("Properties", {}).get(NAME_PROPERTY[resource["Type"]])
    if given is not None:
        return str(stack.resolve(given, template))
    return generated_name(stack, logical_id, resource["Type"])


def arn(stack: LocalStack, logical_id: str, template: dict[str, Any]) -> str:
    from .cfn_driver import ACCOUNT, REGION

    kind = template["Resources"][logical_id]["Type"]
    service, noun = ("dynamodb", "table") if kind == TABLE else ("events", "rule")
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{noun}/{physical_name(stack, logical_id, template)}"


def made_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] in MADE}


def apply(stack: LocalStack, template: dict[str, Any]) -> None:
    """Create the template's tables and rules that the stack does not have yet, and put each rule's
    current configuration (a changed schedule, pattern or target). Tables are not changed in place."""
    for logical_id, resource in made_resources(template).items():
        name = physical_name(stack, logical_id, template)
        if resource["Type"] == TABLE:
            if stack.made.get(logical_id) != name:
                if logical_id in stack.made:  # a new TableName replaces the table (the bed deletes the old one at once)
                    remove(stack, only=[logical_id])
                _create_table(stack, name, stack.resolve(resource.get("Properties", {}), template))
        else:
            _put_rule(stack, logical_id, name, stack.resolve(resource.get("Properties", {}), template))
        stack.made[logical_id] = name
        stack.kinds[logical_id] = resource["Type"]


def remove(stack: LocalStack, keep: dict[str, Any] | None = None, only: list[str] | None = None) -> None:
    """Delete the tables and rules the stack made (``only`` these logical IDs), except those ``keep`` (a
    template) still has under the same name."""
    kept = made_resources(keep) if keep is not None else {}
    for logical_id, name in list(stack.made.items()):
        if only is not None and logical_id not in only:
            continue
        if logical_id in kept and physical_name(stack, logical_id, keep or {}) == name:
            continue
        kind = stack.kinds.get(logical_id, RULE)
        policy = stack.template["Resources"].get(logical_id, {}).get("DeletionPolicy", "Delete")
        if keep is None and only is None and policy in ("Retain", "RetainExceptOnCreate", "Snapshot"):
            del stack.made[logical_id]  # CloudFormation leaves it in the account (aws-attribute-deletionpolicy.html)
            continue
        if kind == TABLE:
            try:
                stack.bed.dynamodb.delete_table(TableName=name)
            except ClientError:
                pass
            stack.bed.table_keys.pop(name, None)
        else:
            targets = stack.bed.events.list_targets_by_rule(Rule=name).get("Targets", [])
            if targets:
                stack.bed.events.remove_targets(Rule=name, Ids=[t["Id"] for t in targets])
            stack.bed.events.delete_rule(Name=name)
            stack.bed.template_rules.discard(name)
        del stack.made[logical_id]


def _create_table(stack: LocalStack, name: str, props: dict[str, Any]) -> None:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if params["BillingMode"] == "PROVISIONED":
        params["ProvisionedThroughput"] = props.get("ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    indexes = props.get("GlobalSecondaryIndexes") or []
    if indexes:
        params["GlobalSecondaryIndexes"] = indexes
    stack.bed.dynamodb.create_table(**params)
    ttl = props.get("TimeToLiveSpecification") or {}
    if str(ttl.get("Enabled", "false")).lower() == "true":
        spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
        stack.bed.dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    hash_of = {"": next(k["AttributeName"] for k in props["KeySchema"] if k["KeyType"] == "HASH")}
    for index in indexes:
        hash_of[index["IndexName"]] = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
    stack.bed.table_keys[name] = hash_of


def _put_rule(stack: LocalStack, logical_id: str, name: str, props: dict[str, Any]) -> None:
    bed = stack.bed
    quotas = bed.eventbridge
    if name not in bed.live_rules and len(bed.live_rules) + quotas.other_rules >= quotas.rules_per_bus:
        quotas.refusals.append(f"CloudFormation PutRule {name}: {quotas.rules_per_bus} rules on the bus")
        raise StackResourceFailed(f"{logical_id}: LimitExceededException, {quotas.rules_per_bus} rules per event bus")
    params: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    for key in ("ScheduleExpression", "Description"):
        if key in props:
            params[key] = props[key]
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        params["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    bed.events.put_rule(**params)
    targets = [{k: v for k, v in t.items() if k in TARGET_KEYS} for t in props.get("Targets", [])]
    old = bed.events.list_targets_by_rule(Rule=name).get("Targets", [])
    gone = [t["Id"] for t in old if t["Id"] not in {n["Id"] for n in targets}]
    if gone:
        bed.events.remove_targets(Rule=name, Ids=gone)
    if targets:
        bed.events.put_targets(Rule=name, Targets=targets)
    bed.template_rules.add(name)
