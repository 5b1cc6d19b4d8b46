"""A hand-written stack as issue 16's construct will make it (ISSUE16-CONTRACT.md), with a tiny probe handler in
place of the real one: for tests of the bed's tables, template rules, self-invocations and environments.

The probe handler (``probe_asset``) records every invocation in ``SEEN`` (this module: the asset imports it
at call time) with its function, the ``STATE_TABLE`` it read at import, the event and the virtual time; an
event ``{"probe": "invoke-self", "payload": ...}`` makes it invoke itself asynchronously, as the handler's Tick
does, and returns the error it got (in ``SEEN`` too).

Test support code: never shipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdk_forecast_export._lambda.forecast_export import contract

SEEN: list[dict[str, Any]] = []
ITEM_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query")  # contract item 5
LAMBDA = "lambda.amazonaws.com"
PROBE_CODE = "probe-handler.zip"  # the function's Code S3Key: LocalCloud.register_code runs the probe for it

PROBE_APP = """
import json
import os

import boto3
from botocore.exceptions import ClientError

STATE_TABLE = os.environ.get("STATE_TABLE", "")  # read once, at import: as the handler does
VERSION = os.environ.get("PROBE_VERSION", "")


class RetryLater(Exception):  # a function error on purpose: Lambda runs the event again (known by its name)
    pass


class _Runtime:
    clock = None


RUNTIME = _Runtime()


def handler(event, context):
    from tests.support.template_triggers import SEEN

    seen = {"function": context.function_name, "table": STATE_TABLE, "version": VERSION, "event": event}
    seen["at"] = RUNTIME.clock.now()
    SEEN.append(seen)
    if isinstance(event, dict) and event.get("fail"):
        raise RetryLater("asked to fail")
    if isinstance(event, dict) and event.get("probe") == "invoke-self":
        try:
            answer = boto3.client("lambda").invoke(
                FunctionName=context.invoked_function_arn,
                InvocationType=event.get("type", "Event"),
                Payload=json.dumps(event["payload"]),
            )
            seen["status"] = answer["StatusCode"]
        except ClientError as error:
            seen["error"] = error.response["Error"]["Code"]
"""


def probe_asset(folder: Path) -> Path:
    """An asset folder holding the probe handler as the package ``forecast_export`` (what Containers load)."""
    package = folder / "forecast_export"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(PROBE_APP)
    return folder


def _permission(rule: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": ["Handler", "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule, "Arn"]},
            "SourceAccount": {"Ref": "AWS::AccountId"},
        },
    }


def stack_template(*, may_invoke_itself: bool = True, tick: bool = True, version: str = "") -> dict[str, Any]:
    """Table "State", rules "ForecastEvents" and "Tick" with their permissions, the function "Handler" (probe code;
    ``version``: its PROBE_VERSION variable)."""
    table_arn = {"Fn::GetAtt": ["State", "Arn"]}
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": [f"dynamodb:{a}" for a in ITEM_ACTIONS],
            "Resource": [table_arn, {"Fn::Join": ["", [table_arn, f"/index/{contract.DUE_INDEX}"]]}],
        }
    ]
    resources: dict[str, Any] = {
        "HandlerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": LAMBDA}, "Action": "sts:AssumeRole"}],
                }
            },
        },
        "HandlerPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "state",
                "Roles": [{"Ref": "HandlerRole"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        },
        "State": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "KeySchema": [
                    {"AttributeName": contract.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": contract.TABLE_SORT_KEY, "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": contract.TABLE_PARTITION_KEY, "AttributeType": "S"},
                    {"AttributeName": contract.TABLE_SORT_KEY, "AttributeType": "S"},
                    {"AttributeName": contract.DUE_SHARD_ATTRIBUTE, "AttributeType": "S"},
                    {"AttributeName": contract.DUE_AT_ATTRIBUTE, "AttributeType": "N"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": contract.DUE_INDEX,
                        "KeySchema": [
                            {"AttributeName": contract.DUE_SHARD_ATTRIBUTE, "KeyType": "HASH"},
                            {"AttributeName": contract.DUE_AT_ATTRIBUTE, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(contract.DUE_INDEX_PROJECTED)},
                    }
                ],
                "TimeToLiveSpecification": {"AttributeName": contract.TABLE_TTL_ATTRIBUTE, "Enabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        },
        "Handler": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": ["HandlerPolicy", "State", "ForecastEvents", "ForecastEventsMayInvoke"],
            "Properties": {
                "Code": {"S3Bucket": "assets", "S3Key": PROBE_CODE},
                "Role": {"Fn::GetAtt": ["HandlerRole", "Arn"]},
                "Timeout": 90,
                "Environment": {"Variables": {contract.STATE_TABLE_ENVIRONMENT: {"Ref": "State"}, "PROBE_VERSION": version}},
            },
        },
        "ForecastEvents": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["aws.forecast"], "detail-type": list(contract.FORECAST_DETAIL_TYPES)},
                "State": "ENABLED",
                "Targets": [{"Arn": {"Fn::GetAtt": ["Handler", "Arn"]}, "Id": "Target0"}],
            },
        },
        "ForecastEventsMayInvoke": _permission("ForecastEvents"),
    }
    if tick:
        resources["Tick"] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": contract.TICK_SCHEDULE,
                "State": "ENABLED",
                "Targets": [
                    {
                        "Arn": {"Fn::GetAtt": ["Handler", "Arn"]},
                        "Id": "Target0",
                        "Input": json.dumps({contract.TRIGGER_KEY: contract.TICK}),
                    }
                ],
            },
        }
        resources["TickMayInvoke"] = _permission("Tick")
    if may_invoke_itself:
        resources["InvokeItself"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "invoke-itself",
                "Roles": [{"Ref": "HandlerRole"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["Handler", "Arn"]}}
                    ],
                },
            },
        }
    return {"Resources": resources}
