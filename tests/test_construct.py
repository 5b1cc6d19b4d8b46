"""What the synthesized template holds: resources, permissions and custom resource properties."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Capture, Match, Template
from cdk_forecast_export import ForecastExport

from tests.support.apps import ACCOUNT, ENV, FORECAST_ARN, NO_BUNDLING, REGION

WEEKLY_FORECAST_ARN = FORECAST_ARN.replace("demand_forecast", "weekly_forecast")
OTHER_ACCOUNT = "444455556666"


@pytest.fixture(scope="module")
def template(every_prop_template: dict[str, Any]) -> Template:
    return Template.from_json(every_prop_template)


def logical_id(prefix: str) -> Any:
    """A logical ID CDK derived from a construct path starting with ``prefix`` (it appends a hash)."""
    return Match.string_like_regexp(rf"^{prefix}[0-9A-F]{{8}}$")


def get_att_arn(prefix: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(prefix), "Arn"]}


def s3_path(bucket: str, key_prefix: str) -> dict[str, Any]:
    """``Destination.S3Config.Path``: ``s3://<bucket>/<key_prefix>/``."""
    return {"Fn::Join": ["", ["s3://", {"Ref": logical_id(bucket)}, f"/{key_prefix}/"]]}


def objects_under(bucket: str, key_prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [get_att_arn(bucket), f"/{key_prefix}/*"]]}


def forecast_role_of(template: Template, job_name: str) -> str:
    """The logical ID of the role the export job named ``job_name`` hands to Forecast."""
    role = Capture()
    template.has_resource_properties(
        "Custom::ForecastExportJob",
        {"ForecastExportJobName": job_name, "Destination": {"S3Config": {"RoleArn": {"Fn::GetAtt": [role, "Arn"]}}}},
    )
    return role.as_string()


def test_three_exports_share_one_handler_function(template: Template) -> None:
    template.resource_count_is("Custom::ForecastExportJob", 3)
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": "forecast_export.app.handler",
            "Timeout": 90,
            "MemorySize": 128,
            "LoggingConfig": {"LogGroup": Match.any_value()},
            "Environment": {"Variables": {"POLL_RULE_PREFIX": Match.string_like_regexp(r"^fcx-[0-9a-f]{8}-$")}},
        },
    )
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 2, "Qualifier": "$LATEST"})
    # Kept after the stack is deleted, but not left behind by a first deploy that rolls back.
    template.has_resource(
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 90}, "DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"},
    )


def test_custom_resource_properties_mirror_the_create_request(template: Template) -> None:
    template.has_resource_properties(
        "Custom::ForecastExportJob",
        {
            "ForecastExportJobName": "encrypted_daily",
            "ForecastArn": FORECAST_ARN,
            "Format": "PARQUET",
            "Tags": [{"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "demand"}],
            "Destination": {
                "S3Config": Match.object_equals(
                    {
                        "Path": s3_path("EncryptedOwnBucket", "forecast-exports/encrypted_daily"),
                        "RoleArn": get_att_arn("EncryptedOwnBucketForecastRole"),
                        "KMSKeyArn": get_att_arn("ExportKey"),
                    }
                )
            },
            "TimeoutSeconds": "3000",
            "ServiceTimeout": "3300",  # the handler gives up 300 s before CloudFormation would
            "RemovalPolicy": "Delete",
            "Polling": Match.absent(),  # deprecated: no longer written (the handler still accepts it)
            "ServiceToken": get_att_arn("ForecastExportHandlerFunction"),
        },
    )


def test_retain_timeout_and_prefix_reach_the_handler(template: Template) -> None:
    template.has_resource_properties(
        "Custom::ForecastExportJob",
        {
            "ForecastExportJobName": "IntoSharedBucket",
            "RemovalPolicy": "Retain",
            "TimeoutSeconds": "1200",
            "ServiceTimeout": "1500",
            "Destination": {"S3Config": {"Path": s3_path("SharedBucket", "exports/weekly")}},
        },
    )


def test_default_job_name_comes_from_the_construct_path(template: Template) -> None:
    template.has_resource_properties(
        "Custom::ForecastExportJob",
        {
            "ForecastExportJobName": "Plain",
            "Destination": {"S3Config": {"Path": s3_path("PlainBucket", "forecast-exports/Plain")}},
        },
    )


def test_an_export_without_a_key_names_no_kms_key_in_its_destination(template: Template) -> None:
    template.has_resource_properties(
        "Custom::ForecastExportJob",
        {"ForecastExportJobName": "Plain", "Destination": {"S3Config": {"KMSKeyArn": Match.absent()}}},
    )


@pytest.mark.parametrize(
    ("bucket", "encryption"),
    [
        ("PlainBucket", {"SSEAlgorithm": "AES256"}),
        ("EncryptedOwnBucket", {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": get_att_arn("ExportKey")}),
    ],
)
def test_default_bucket_is_private_tls_only_versioned_encrypted_and_retained_except_on_create(
    template: Template, bucket: str, encryption: dict[str, Any]
) -> None:
    found = template.find_resources(
        "AWS::S3::Bucket",
        {
            # Retained with the files in it; a first deploy that rolls back removes it (RetainExceptOnCreate).
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": Match.object_equals(encryption)}]
                },
            },
        },
    )
    (bucket_id,) = found
    assert re.fullmatch(rf"{bucket}[0-9A-F]{{8}}", bucket_id)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )


def test_forecast_role_trusts_forecast_with_confused_deputy_conditions(template: Template) -> None:
    trusts_forecast = {"Principal": {"Service": "forecast.amazonaws.com"}}
    guarded = {
        **trusts_forecast,
        "Condition": Match.object_equals(
            {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:forecast:{REGION}:{ACCOUNT}:*"},
            }
        ),
    }
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"AssumeRolePolicyDocument": {"Statement": [trusts_forecast]}}}
    )
    assert len(roles) == 3
    guarded_roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"AssumeRolePolicyDocument": {"Statement": [guarded]}}}
    )
    assert guarded_roles.keys() == roles.keys()


def forecast_role_statements(template: Template, *statements: dict[str, Any]) -> Mapping[str, Any]:
    """Roles whose one inline policy holds exactly ``statements``."""
    return template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Policies": [{"PolicyDocument": {"Statement": list(statements)}}]}}
    )


def test_forecast_role_may_only_write_under_the_export_path(template: Template) -> None:
    weekly = forecast_role_statements(
        template,
        {"Sid": "WriteExportFiles", "Action": "s3:PutObject", "Resource": objects_under("SharedBucket", "exports/weekly")},
        {"Sid": "FindExportBucket", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": get_att_arn("SharedBucket")},
        {"Sid": "EncryptExportFiles", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": get_att_arn("ExportKey")},
    )
    assert list(weekly) == [forecast_role_of(template, "IntoSharedBucket")]
    plain = forecast_role_statements(template, {"Sid": "WriteExportFiles"}, {"Sid": "FindExportBucket"})  # no key, no KMS
    assert list(plain) == [forecast_role_of(template, "Plain")]


def test_handler_gets_per_export_forecast_passrole_and_kms_permissions(template: Template) -> None:
    template.resource_count_is("AWS::IAM::ManagedPolicy", 1)
    stack_owner_marker = {
        "Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
    }
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                # Exactly these statements: none on "*", none for a forecast or role the stack does not use.
                "Statement": [
                    # One statement for every job the stack makes: scoped by the stack's owner marker, not by an
                    # export's settings, so it still covers a job after a rename, a forecast change or the export's
                    # removal. ...:forecast-export-job/*/*_ + the first group of the stack ID's UUID + ????
                    Match.object_like(
                        {
                            "Action": Match.array_with(["forecast:DescribeForecastExportJob"]),
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast-export-job/*/*_",
                                        stack_owner_marker,
                                        "????",
                                    ],
                                ]
                            },
                        }
                    ),
                    Match.object_like(
                        {"Action": "forecast:CreateForecastExportJob", "Resource": [FORECAST_ARN, WEEKLY_FORECAST_ARN]}
                    ),
                    Match.object_like(
                        {
                            "Action": "iam:PassRole",
                            "Condition": {"StringEquals": {"iam:PassedToService": "forecast.amazonaws.com"}},
                            "Resource": [
                                get_att_arn("EncryptedOwnBucketForecastRole"),
                                get_att_arn("IntoSharedBucketForecastRole"),
                                get_att_arn("PlainForecastRole"),
                            ],
                        }
                    ),
                    Match.object_like({"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": get_att_arn("ExportKey")}),
                ]
            }
        },
    )


def test_the_legacy_permission_lets_only_this_handlers_previous_rules_invoke_it(template: Template) -> None:
    """Kept while a previous release's per-request rules may be in flight; the role may only read those rules."""
    template.resource_count_is("AWS::Lambda::Permission", 3)  # the legacy prefix, ForecastEvents, Tick
    rule_prefix = Capture(Match.string_like_regexp(r"^fcx-[0-9a-f]{8}-$"))
    template.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": {"POLL_RULE_PREFIX": rule_prefix}}})
    rules = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_prefix.as_string()}*"
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "SourceAccount": ACCOUNT,
            "SourceArn": rules,
            "FunctionName": get_att_arn("ForecastExportHandlerFunction"),
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Sid": "ReadPreviousReleaseRules", "Action": "events:ListTargetsByRule", "Resource": rules}
                        )
                    ]
                )
            }
        },
    )


def test_the_state_table_is_on_demand_encrypted_recoverable_expiring_and_deleted_with_the_stack(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": Match.array_equals(
                    [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                        {"AttributeName": "due_shard", "AttributeType": "S"},
                        {"AttributeName": "due_at", "AttributeType": "N"},
                    ]
                ),
                "BillingMode": "PAY_PER_REQUEST",
                # false: DynamoDB's AWS owned key (encrypted at rest, free); true would mean the AWS managed key.
                "SSESpecification": {"SSEEnabled": False},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "due",
                        "KeySchema": [
                            {"AttributeName": "due_shard", "KeyType": "HASH"},
                            {"AttributeName": "due_at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["request_id"]},
                    }
                ],
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"STATE_TABLE": {"Ref": logical_id("ForecastExportHandlerState")}}}},
    )


def test_the_table_names_come_from_the_handlers_contract() -> None:
    from cdk_forecast_export._lambda.forecast_export import contract

    assert (contract.TABLE_PARTITION_KEY, contract.TABLE_SORT_KEY, contract.DUE_INDEX) == ("pk", "sk", "due")
    assert (contract.TABLE_TTL_ATTRIBUTE, contract.STATE_TABLE_ENVIRONMENT) == ("expires_at", "STATE_TABLE")


def _rule(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical, resource)
        for logical, resource in template.find_resources("AWS::Events::Rule").items()
        if re.fullmatch(rf"ForecastExportHandlerTriggers{name}[0-9A-F]{{8}}", logical)
    ]
    return found


def test_the_forecast_events_rule_delivers_every_export_job_state_change_to_the_handler(template: Template) -> None:
    template.resource_count_is("AWS::Events::Rule", 2)
    _, rule = _rule(template, "ForecastEvents")
    properties = rule["Properties"]
    pattern = properties["EventPattern"]
    assert pattern["source"] == ["aws.forecast"]
    assert pattern["detail-type"] == ["Forecast Forecast Export Job State Change", "Forecast Export Job State Change"]
    assert set(pattern) == {"source", "detail-type", "detail"}  # no per-job ARN list: any export job of the account
    assert "anything-but" in json.dumps(pattern["detail"])  # statuses on the way to another one: tests/test_event_pattern.py
    assert "EventBusName" not in properties and "ScheduleExpression" not in properties  # the default bus
    assert properties["State"] == "ENABLED"
    (target,) = properties["Targets"]
    assert set(target) == {"Id", "Arn"}  # no Input: the event itself is delivered
    assert Match.object_like({"Arn": get_att_arn("ForecastExportHandlerFunction")}).test(target)  # type: ignore[attr-defined]


def test_the_tick_rule_invokes_the_handler_every_minute_with_its_constant_input(template: Template) -> None:
    _, rule = _rule(template, "Tick")
    properties = rule["Properties"]
    assert properties["ScheduleExpression"] == "rate(1 minute)" and properties["State"] == "ENABLED"
    assert "EventPattern" not in properties
    (target,) = properties["Targets"]
    assert json.loads(target["Input"]) == {"cdk-forecast-export": "tick"}
    assert target["Arn"]["Fn::GetAtt"][0].startswith("ForecastExportHandlerFunction")


@pytest.mark.parametrize("name", ["ForecastEvents", "Tick"])
def test_each_template_rule_may_invoke_the_handler_through_a_permission_naming_its_exact_arn(
    template: Template, name: str
) -> None:
    logical, _ = _rule(template, name)
    found = template.find_resources("AWS::Lambda::Permission", {"Properties": {"SourceArn": {"Fn::GetAtt": [logical, "Arn"]}}})
    (permission,) = found.values()
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": permission["Properties"]["FunctionName"],
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [logical, "Arn"]},
        "SourceAccount": ACCOUNT,
    }
    assert permission["Properties"]["FunctionName"]["Fn::GetAtt"][0].startswith("ForecastExportHandlerFunction")


def test_the_handler_keeps_its_state_in_its_own_table_with_named_actions_only(template: Template) -> None:
    (table,) = template.find_resources("AWS::DynamoDB::Table")
    (statement,) = [
        statement
        for logical, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical.startswith("ForecastExportHandlerRoleDefaultPolicy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("dynamodb:") for action in _actions(statement))
    ]
    assert statement["Sid"] == "KeepRequestStateInOwnTable" and statement["Effect"] == "Allow"
    assert sorted(_actions(statement)) == [
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    table_arn = {"Fn::GetAtt": [table, "Arn"]}
    assert statement["Resource"] == [table_arn, {"Fn::Join": ["", [table_arn, "/index/due"]]}]


def test_the_handler_may_invoke_itself_only_through_a_policy_of_its_own(template: Template) -> None:
    """In the role's default policy, the function's ARN would make function -> policy -> function circular."""
    found = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("^ForecastExportHandlerTriggersSelfInvoke")}}
    )
    (policy,) = found.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "LookAtEachDueRequest",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {
                "Fn::GetAtt": [policy["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]["Fn::GetAtt"][0], "Arn"]
            },
        }
    ]
    function = policy["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]["Fn::GetAtt"][0]
    assert template.to_json()["Resources"][function]["Type"] == "AWS::Lambda::Function"
    assert policy["Properties"]["Roles"][0]["Ref"].startswith("ForecastExportHandlerRole")
    # Nothing else grants lambda:InvokeFunction to the handler's role.
    invoking = [
        logical
        for logical, resource in template.find_resources("AWS::IAM::Policy").items()
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in _actions(statement)
    ]
    assert invoking == list(found)


def _actions(statement: Mapping[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


@pytest.mark.parametrize(
    "needed",
    [
        "ForecastExportAccess",  # the access role's policy holding this export's permissions
        "ForecastExportHandlerFunctionPollingRulesMayInvoke",
        "EncryptedOwnBucketPolicy",
    ],
)
def test_custom_resource_waits_for_every_permission_it_needs(template: Template, needed: str) -> None:
    template.has_resource(
        "Custom::ForecastExportJob",
        {
            "Properties": {"ForecastExportJobName": "encrypted_daily"},
            "DependsOn": Match.array_with([Match.string_like_regexp(rf"^{needed}")]),
        },
    )


def _depends_on(resources: Mapping[str, Any], logical: str) -> set[str]:
    """Every resource ``logical`` waits for, through DependsOn and references (Ref, Fn::GetAtt), transitively."""

    def direct(name: str) -> set[str]:
        resource = resources[name]
        found = set(resource.get("DependsOn", []))
        text = json.dumps(resource.get("Properties", {}))
        found |= {m for m in re.findall(r'"(?:Ref|Fn::GetAtt)": \[?"([A-Za-z0-9]+)"', text) if m in resources}
        return found

    seen: set[str] = set()
    todo = [logical]
    while todo:
        for name in direct(todo.pop()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


@pytest.mark.parametrize(
    "needed",
    [
        "ForecastExportHandlerState",
        "ForecastExportHandlerTriggersForecastEvents",
        "ForecastExportHandlerTriggersTick",
        "ForecastExportHandlerTriggersForecastEventsMayInvoke",
        "ForecastExportHandlerTriggersTickMayInvoke",
        "ForecastExportHandlerTriggersSelfInvoke",
        "ForecastExportHandlerRoleDefaultPolicy",
    ],
)
def test_every_custom_resource_is_answered_before_the_handlers_table_rules_and_policies_go(
    every_prop_template: dict[str, Any], needed: str
) -> None:
    """CloudFormation creates what a resource depends on first and deletes it last: the table, the rules, their
    permissions and the self-invoke policy outlive every custom resource's Delete."""
    resources = every_prop_template["Resources"]
    (target,) = [name for name in resources if re.fullmatch(rf"{needed}[0-9A-F]{{8}}", name)]
    customs = [name for name, r in resources.items() if r["Type"] == "Custom::ForecastExportJob"]
    assert len(customs) == 3
    for custom in customs:
        assert target in _depends_on(resources, custom), custom


READ_STATEMENTS = [
    {"Action": "s3:GetObject", "Resource": objects_under("SharedBucket", "exports/weekly")},
    {
        "Action": "s3:ListBucket",
        "Resource": get_att_arn("SharedBucket"),
        "Condition": {"StringLike": {"s3:prefix": ["exports/weekly/*", "exports/weekly"]}},
    },
    {"Action": "kms:Decrypt", "Resource": get_att_arn("ExportKey")},
]


def test_grant_read_gives_get_and_prefix_scoped_list_and_decrypt(template: Template) -> None:
    # Exactly these statements, each with one explicit action: no s3:GetObject*, no s3:List*.
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {"Roles": [{"Ref": logical_id("Reader")}], "PolicyDocument": {"Statement": READ_STATEMENTS}},
    )


def grant_read_stack(*, key: bool = True, prefix: str = "exports/weekly") -> tuple[cdk.Stack, iam.Grant]:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "GrantRead", env=ENV)
    export = ForecastExport(
        stack,
        "Export",
        forecast_arn=FORECAST_ARN,
        encryption_key=kms.Key(stack, "ExportKey") if key else None,
        bucket=s3.Bucket(stack, "SharedBucket"),
        prefix=prefix,
    )
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    return stack, export.grant_read(reader)


def principal_statements(stack: cdk.Stack, grant: iam.Grant) -> Any:
    return stack.resolve([statement.to_statement_json() for statement in grant.principal_statements])


def assert_matches(pattern: Any, actual: Any) -> None:
    result = Match.exact(pattern).test(actual)
    assert not result.has_failed(), result.render_mismatch()


def test_grant_read_returns_one_grant_holding_every_statement_it_added() -> None:
    stack, grant = grant_read_stack()
    assert grant.success
    assert_matches([Match.object_like(statement) for statement in READ_STATEMENTS], principal_statements(stack, grant))
    assert grant.resource_statements == []  # the key trusts the account's identities: no key policy statement


def test_grant_read_without_a_key_grants_no_kms_action() -> None:
    stack, grant = grant_read_stack(key=False)
    assert grant.success
    assert [statement["Action"] for statement in principal_statements(stack, grant)] == ["s3:GetObject", "s3:ListBucket"]
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {"Roles": [{"Ref": logical_id("Reader")}], "PolicyDocument": {"Statement": READ_STATEMENTS[:2]}},
    )


def test_grant_read_of_an_export_at_the_bucket_root_reads_and_lists_the_whole_bucket() -> None:
    stack, _ = grant_read_stack(key=False, prefix="")
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": logical_id("Reader")}],
            "PolicyDocument": {
                "Statement": [
                    {"Action": "s3:GetObject", "Resource": {"Fn::Join": ["", [get_att_arn("SharedBucket"), "/*"]]}},
                    Match.object_equals({"Action": "s3:ListBucket", "Effect": "Allow", "Resource": get_att_arn("SharedBucket")}),
                ]
            },
        },
    )


def test_grant_read_to_another_account_lets_the_key_admit_the_reader_in_its_key_policy() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Exports", env=ENV)
    key = kms.Key(stack, "ExportKey")
    bucket = s3.Bucket(stack, "SharedBucket", bucket_name="shared-exports", encryption_key=key)
    export = ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, encryption_key=key, bucket=bucket, prefix="weekly")
    readers = cdk.Stack(app, "Readers", env=cdk.Environment(account=OTHER_ACCOUNT, region=REGION))
    reader = iam.Role(readers, "Reader", assumed_by=iam.AccountRootPrincipal(), role_name="export-reader")

    assert export.grant_read(reader).success

    reader_arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{OTHER_ACCOUNT}:role/export-reader"]]}
    Template.from_stack(stack).has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "kms:Decrypt", "Principal": {"AWS": reader_arn}, "Resource": "*"})]
                )
            }
        },
    )
    Template.from_stack(readers).has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({"Action": "kms:Decrypt"})])}},
    )


def test_the_handler_keeps_queued_requests_for_lambdas_maximum_event_age(template: Template) -> None:
    """A saturated account holds CloudFormation's request in Lambda's queue; the handler must still get it
    while CloudFormation waits (issue 16, sequence 6): Lambda's maximum, 6 hours. Lambda retries only what
    the handler fails on purpose (CloudFormation's reads throttled), twice."""
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig", {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 2}
    )


def test_the_handler_reads_cloudformation_only_to_confirm_requests(template: Template) -> None:
    """Issue 17: read-only CloudFormation actions on the account's stacks."""
    found = [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("cloudformation:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))
    ]
    actions = sorted(a for s in found for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))
    assert actions == ["cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResource"]
    assert all("stack/*" in str(s["Resource"]) for s in found)


# --- removal_policy: CloudFormation's policies, and the handler's property in step with them -------------

# removal_policy -> (DeletionPolicy, UpdateReplacePolicy, the RemovalPolicy property the handler reads)
REMOVAL_POLICIES = {
    cdk.RemovalPolicy.DESTROY: ("Delete", "Delete", "Delete"),
    cdk.RemovalPolicy.RETAIN: ("Retain", "Retain", "Retain"),
    # CloudFormation sends a Delete only when the creating operation rolls back: the handler must delete then.
    cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE: ("RetainExceptOnCreate", "Retain", "Delete"),
}


def removal_policy_stack(**props: Any) -> tuple[cdk.Stack, ForecastExport]:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Removal", env=ENV)
    return stack, ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, **props)


def assert_job_policies(stack: cdk.Stack, deletion: str, update_replace: str, prop: str) -> None:
    Template.from_stack(stack).has_resource(
        "Custom::ForecastExportJob",
        {
            "DeletionPolicy": deletion,
            "UpdateReplacePolicy": update_replace,
            "Properties": Match.object_like({"RemovalPolicy": prop}),
        },
    )


@pytest.mark.parametrize("policy", list(REMOVAL_POLICIES), ids=lambda p: p.name)
def test_removal_policy_sets_cloudformations_policies_and_the_handlers_property(policy: cdk.RemovalPolicy) -> None:
    stack, _ = removal_policy_stack(removal_policy=policy)
    assert_job_policies(stack, *REMOVAL_POLICIES[policy])


def test_the_default_removal_policy_deletes_the_job() -> None:
    stack, _ = removal_policy_stack()
    assert_job_policies(stack, "Delete", "Delete", "Delete")


@pytest.mark.parametrize("policy", list(REMOVAL_POLICIES), ids=lambda p: p.name)
def test_apply_removal_policy_does_what_the_prop_does(policy: cdk.RemovalPolicy) -> None:
    stack, export = removal_policy_stack(removal_policy=cdk.RemovalPolicy.RETAIN)
    export.apply_removal_policy(policy)
    assert_job_policies(stack, *REMOVAL_POLICIES[policy])


def test_removal_policies_of_a_scope_keep_the_handlers_property_in_step() -> None:
    stack, _ = removal_policy_stack()
    cdk.RemovalPolicies.of(stack).retain()  # an aspect that sets the CfnResource's policies directly
    assert_job_policies(stack, "Retain", "Retain", "Retain")


# --- polling: deprecated, written nowhere ------------------------------------------------------------------


def test_polling_warns_that_it_is_deprecated_and_reaches_no_template() -> None:
    stack, _ = removal_policy_stack(polling="Economy")
    Annotations.from_stack(stack).has_warning(
        "/Removal/Export", Match.string_like_regexp(r"ForecastExport#polling is deprecated: .*no effect")
    )
    Template.from_stack(stack).has_resource_properties("Custom::ForecastExportJob", {"Polling": Match.absent()})


def test_without_polling_there_is_no_deprecation_warning() -> None:
    stack, _ = removal_policy_stack()
    Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("deprecated"))


# --- an environment-agnostic stack: the account and region checks wait for the handler -----------------


def agnostic_stack(env: cdk.Environment | None, **props: Any) -> cdk.Stack:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Agnostic", env=env)
    ForecastExport(stack, "Export", **{"forecast_arn": FORECAST_ARN, **props})
    return stack


AGNOSTIC = r"cannot be checked against the stack's {} at synth: the stack is environment-agnostic"


def test_a_fixed_forecast_arn_in_a_stack_without_env_warns_that_its_checks_wait_for_deploy() -> None:
    stack = agnostic_stack(None)
    Annotations.from_stack(stack).has_warning(
        "/Agnostic/Export", Match.string_like_regexp("^forecast_arn " + AGNOSTIC.format("account and region"))
    )


def test_a_stack_with_only_an_account_warns_about_the_region() -> None:
    stack = agnostic_stack(cdk.Environment(account=ACCOUNT))
    message = Match.string_like_regexp("^forecast_arn " + AGNOSTIC.format("region"))
    Annotations.from_stack(stack).has_warning("/Agnostic/Export", message)


def test_a_fixed_key_arn_in_a_stack_without_env_warns_too() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Agnostic")
    key = kms.Key.from_key_arn(stack, "Key", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    ForecastExport(stack, "Export", forecast_arn=cdk.CfnParameter(stack, "ForecastArn").value_as_string, encryption_key=key)
    Annotations.from_stack(stack).has_warning(
        "/Agnostic/Export", Match.string_like_regexp("^encryption_key " + AGNOSTIC.format("account and region"))
    )


def test_a_stack_with_env_or_deploy_time_arns_gets_no_environment_warning() -> None:
    app = cdk.App(context=NO_BUNDLING)
    deploy_time = cdk.Stack(app, "DeployTime")
    ForecastExport(deploy_time, "Export", forecast_arn=cdk.CfnParameter(deploy_time, "ForecastArn").value_as_string)
    for stack in (agnostic_stack(ENV), deploy_time):
        Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("environment-agnostic"))
