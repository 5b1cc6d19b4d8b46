"""What the synthesized template holds: resources, permissions and custom resource properties."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.support.apps import ACCOUNT, FORECAST_ARN, REGION


@pytest.fixture(scope="module")
def template(every_prop_template: dict[str, Any]) -> Template:
    return Template.from_json(every_prop_template)


def _custom(template: Template, job_name: str) -> dict[str, Any]:
    found = template.find_resources("Custom::ForecastExportJob", {"Properties": {"ForecastExportJobName": job_name}})
    assert len(found) == 1, found
    return next(iter(found.values()))


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
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0, "Qualifier": "$LATEST"})
    # Kept after the stack is deleted, but not left behind by a first deploy that rolls back.
    template.has_resource(
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 90}, "DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"},
    )


def test_custom_resource_properties_mirror_the_create_request(template: Template) -> None:
    resource = _custom(template, "encrypted_daily")
    props = resource["Properties"]
    assert props["ForecastArn"] == FORECAST_ARN
    assert props["Format"] == "PARQUET"
    assert props["Tags"] == [{"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "demand"}]
    s3_config = props["Destination"]["S3Config"]
    assert set(s3_config) == {"Path", "RoleArn", "KMSKeyArn"}
    assert s3_config["Path"]["Fn::Join"][1][-1] == "/forecast-exports/encrypted_daily/"
    assert props["TimeoutSeconds"] == "3000"
    assert props["ServiceTimeout"] == "3300"  # the handler gives up 300 s before CloudFormation would
    assert props["RemovalPolicy"] == "Delete"
    assert props["Polling"] == "Fast"
    assert props["ServiceToken"]["Fn::GetAtt"][1] == "Arn"


def test_retain_timeout_and_prefix_reach_the_handler(template: Template) -> None:
    props = _custom(template, "IntoSharedBucket")["Properties"]
    assert props["RemovalPolicy"] == "Retain"
    assert props["TimeoutSeconds"] == "1200"
    assert props["ServiceTimeout"] == "1500"
    assert props["Destination"]["S3Config"]["Path"]["Fn::Join"][1][-1] == "/exports/weekly/"


def test_default_job_name_comes_from_the_construct_path(template: Template) -> None:
    assert "KMSKeyArn" not in _custom(template, "Plain")["Properties"]["Destination"]["S3Config"]


def test_default_bucket_is_private_tls_only_versioned_encrypted_and_retained_except_on_create(template: Template) -> None:
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {"Status": "Enabled"}}})
    own = {k: v for k, v in buckets.items() if k.startswith(("Plain", "EncryptedOwnBucket"))}
    assert len(own) == 2
    for bucket in own.values():
        # Retained with the files in it; a first deploy that rolls back removes it (RetainExceptOnCreate).
        assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    algorithms = sorted(
        b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        for b in own.values()
    )
    assert algorithms == ["AES256", "aws:kms"]
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_forecast_role_trusts_forecast_with_confused_deputy_conditions(template: Template) -> None:
    roles = template.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Principal": {"Service": "forecast.amazonaws.com"}}]}}},
    )
    assert len(roles) == 3
    for role in roles.values():
        statement = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        assert set(statement["Condition"]) == {"StringEquals", "ArnLike"}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
        assert _arn_text(statement["Condition"]["ArnLike"]["aws:SourceArn"]) == f"arn:aws:forecast:{REGION}:{ACCOUNT}:*"


def _policy_of_role(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    roles = template.find_resources("AWS::IAM::Role")
    for logical_id, role in roles.items():
        if logical_id.startswith(role_prefix + "ForecastRole"):
            (policy,) = role["Properties"]["Policies"]
            return list(policy["PolicyDocument"]["Statement"])
    raise AssertionError(f"no role for {role_prefix}")


def test_forecast_role_may_only_write_under_the_export_path(template: Template) -> None:
    statements = {s["Sid"]: s for s in _policy_of_role(template, "IntoSharedBucket")}
    assert set(statements) == {"WriteExportFiles", "FindExportBucket", "EncryptExportFiles"}
    assert statements["WriteExportFiles"]["Action"] == "s3:PutObject"
    assert statements["WriteExportFiles"]["Resource"]["Fn::Join"][1][-1] == "/exports/weekly/*"
    assert statements["FindExportBucket"]["Action"] == ["s3:GetBucketLocation", "s3:ListBucket"]
    assert statements["EncryptExportFiles"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    plain = {s["Sid"] for s in _policy_of_role(template, "Plain")}
    assert plain == {"WriteExportFiles", "FindExportBucket"}  # no key, no KMS


def test_handler_gets_per_export_forecast_passrole_and_kms_permissions(template: Template) -> None:
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    create = [s for s in statements if s["Action"] == "forecast:CreateForecastExportJob"]
    resources = [r for s in create for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert sorted(resources) == sorted({FORECAST_ARN, FORECAST_ARN.replace("demand_forecast", "weekly_forecast")})
    passrole = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passrole and all(
        s["Condition"] == {"StringEquals": {"iam:PassedToService": "forecast.amazonaws.com"}} for s in passrole
    )
    job_actions = [s for s in statements if "forecast:DescribeForecastExportJob" in s["Action"]]
    job_resources = [r for s in job_actions for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    # One statement for every job the stack makes: scoped by the stack's owner marker, not by an export's
    # settings, so it still covers a job after a rename, a forecast change or the export's removal.
    assert len(job_resources) == 1, job_resources
    # ...:forecast-export-job/*/*_ + the first group of the stack ID's UUID + ????
    parts = job_resources[0]["Fn::Join"][1]
    assert _arn_text({"Fn::Join": ["", parts[:-2]]}).endswith(f":forecast:{REGION}:{ACCOUNT}:forecast-export-job/*/*_")
    assert parts[-2:] == [
        {"Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]},
        "????",
    ]
    assert all("*" != s["Resource"] for s in statements)


def _arn_text(value: Any) -> str:
    """An ARN as text, whether CDK wrote its partition as a literal (recommended flags, known region) or as a Ref."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join("aws" if part == {"Ref": "AWS::Partition"} else str(part) for part in value["Fn::Join"][1])
    return str(value)


def test_one_permission_lets_only_this_handlers_rules_invoke_it(template: Template) -> None:
    (permission,) = template.find_resources("AWS::Lambda::Permission").values()
    props = permission["Properties"]
    assert (props["Action"], props["Principal"], props["SourceAccount"]) == (
        "lambda:InvokeFunction",
        "events.amazonaws.com",
        ACCOUNT,
    )
    rule_pattern = re.compile(rf"arn:aws:events:{REGION}:{ACCOUNT}:rule/fcx-[0-9a-f]{{8}}-\*")
    assert rule_pattern.fullmatch(_arn_text(props["SourceArn"]))
    statements = [
        s for p in template.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (polling,) = [s for s in statements if s.get("Sid") == "ManageOwnPollingRules"]
    assert rule_pattern.fullmatch(_arn_text(polling["Resource"]))
    assert not [s for s in statements if "lambda:AddPermission" in str(s["Action"])]


def test_custom_resource_waits_for_every_permission_it_needs(template: Template) -> None:
    depends_on = _custom(template, "encrypted_daily")["DependsOn"]
    for needed in (
        "ForecastExportAccess",  # the access role's policy holding this export's permissions
        "ForecastExportHandlerFunctionPollingRulesMayInvoke",
        "EncryptedOwnBucketPolicy",
    ):
        assert any(d.startswith(needed) for d in depends_on), (needed, depends_on)


def test_grant_read_gives_get_and_prefix_scoped_list_and_decrypt(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    (reader,) = [p for k, p in policies.items() if k.startswith("ReaderDefaultPolicy")]
    actions = sorted(str(s["Action"]) for s in reader["Properties"]["PolicyDocument"]["Statement"])
    assert actions == ["kms:Decrypt", "s3:GetObject", "s3:ListBucket"]
