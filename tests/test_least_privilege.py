"""Every AWS call the handler makes is allowed by the synthesized policies, and nothing more is.

The calls are recorded (botocore's before-call hook, handler threads only) while the every-prop
stack (three exports: own and passed-in buckets, with and without a KMS key) runs through the
lifecycle, then evaluated against the handler role's policies as synthesized.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.cfn_driver import ACCOUNT, REGION, LocalCloud, LocalStack, session_tag_context
from tests.support.forecast_fake import Outcome
from tests.support.iam_eval import PolicySet

STACK = "EveryProp"


def handler_role_policies(*stacks: LocalStack) -> PolicySet:
    """Every statement attached, in any of the stacks, to the handler's role (defined in the first)."""
    home = stacks[0]
    function = next(r for r in home.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    role_name = home.resolve({"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]})
    statements: list[dict[str, Any]] = []
    for stack in stacks:
        for resource in stack.template["Resources"].values():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            if role_name in [stack.resolve(role) for role in resource["Properties"].get("Roles", [])]:
                statements += stack.resolve(resource["Properties"]["PolicyDocument"])["Statement"]
    return PolicySet(statements)


def role_policies(role_arn: str, *stacks: LocalStack) -> PolicySet:
    """Every statement attached to the role with this ARN by the templates these stacks applied last
    (inline Policies, AWS::IAM::Policy, AWS::IAM::ManagedPolicy). With ``cloud.signed_calls`` (the
    role ARN whose credentials signed each call), each call can be checked against its own role."""
    name = role_arn.rsplit("/", 1)[-1]
    return PolicySet([s for stack in stacks for s in stack.applied_statements(name)])


def required_permissions(service_operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """What IAM checks for one API call: (action, resource ARN, condition context).

    sts:AssumeRole is checked on the role, with sts:TagSession too when session tags are passed
    (both under the aws:RequestTag/<key> and aws:TagKeys context). That is the caller's side; the
    role's trust policy is the bed's check (cfn_driver)."""
    service, operation = service_operation.split(":")
    action = f"{service}:{operation}"
    if service_operation == "sts:AssumeRole":
        context = session_tag_context(params.get("Tags"))
        needed = [(action, params["RoleArn"], context)]
        return needed + ([("sts:TagSession", params["RoleArn"], context)] if params.get("Tags") else [])
    if service == "forecast":
        if operation == "CreateForecastExportJob":
            s3 = params["Destination"]["S3Config"]
            needed = [
                (action, params["ForecastArn"], {}),
                ("iam:PassRole", s3["RoleArn"], {"iam:PassedToService": "forecast.amazonaws.com"}),
            ]
            if s3.get("KMSKeyArn"):
                needed += [("kms:Decrypt", s3["KMSKeyArn"], {}), ("kms:GenerateDataKey", s3["KMSKeyArn"], {})]
            return [n for n in needed if n[1]]
        assert "ForecastExportJobArn" in params or "ResourceArn" in params, (service_operation, params)
        return [(action, params.get("ForecastExportJobArn") or params["ResourceArn"], {})]
    if service == "events":
        name = params.get("Name") or params["Rule"]
        return [(action, f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}", {})]
    if service == "lambda":
        return [(action, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{params['FunctionName']}", {})]
    raise AssertionError(f"unexpected call {service_operation}")


@pytest.fixture
def exercised(cloud: LocalCloud, every_prop_template: dict[str, Any]) -> LocalStack:
    stack = LocalStack(cloud, every_prop_template, name=STACK)
    assert stack.create().status == "CREATE_COMPLETE"
    retagged = copy.deepcopy(every_prop_template)
    for resource in stack.custom_resources(retagged).values():
        resource["Properties"]["Tags"] = [{"Key": "stage", "Value": "prod"}]
    assert stack.update(retagged).status == "UPDATE_COMPLETE"
    cloud.forecast.default_outcome = Outcome("never")
    for resource in stack.custom_resources(retagged).values():
        resource["Properties"]["Format"] = "PARQUET"
        resource["Properties"]["TimeoutSeconds"] = "600"
    assert stack.update(retagged).status == "UPDATE_ROLLBACK_COMPLETE"  # new jobs time out: stop, delete
    assert stack.delete().status == "DELETE_COMPLETE"
    return stack


def test_every_call_the_handler_makes_is_allowed(cloud: LocalCloud, exercised: LocalStack) -> None:
    policies = handler_role_policies(exercised)
    operations = {call for call, _ in cloud.aws_calls}
    for needed in (
        "forecast:CreateForecastExportJob",
        "forecast:DescribeForecastExportJob",
        "forecast:DeleteForecastExportJob",
        "forecast:StopResource",
        "forecast:TagResource",
        "forecast:UntagResource",
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:DeleteRule",
        "events:ListTargetsByRule",
    ):
        assert needed in operations, f"the scenario never exercised {needed}"
    denied = [
        (action, resource, context)
        for call, params in cloud.aws_calls
        for action, resource, context in required_permissions(call, params)
        if not policies.allows(action, resource, context)
    ]
    assert denied == []
    assert any(a == "kms:GenerateDataKey" for call, p in cloud.aws_calls for a, _, _ in required_permissions(call, p))


def test_calls_outside_the_stacks_exports_are_denied(cloud: LocalCloud, exercised: LocalStack) -> None:
    policies = handler_role_policies(exercised)
    base = f"arn:aws:forecast:{REGION}:{ACCOUNT}"
    own_job = next(p["ForecastExportJobArn"] for c, p in cloud.aws_calls if c == "forecast:DescribeForecastExportJob")
    assert policies.allows("forecast:DescribeForecastExportJob", own_job)
    own_role = next(
        p["Destination"]["S3Config"]["RoleArn"] for c, p in cloud.aws_calls if c == "forecast:CreateForecastExportJob"
    )
    outsiders = [
        ("forecast:DescribeForecastExportJob", f"{base}:forecast-export-job/demand_forecast/someone_else_0a1b2c3d", {}),
        ("forecast:DeleteForecastExportJob", f"{base}:forecast-export-job/other_forecast/Plain_0a1b2c3d", {}),
        ("forecast:CreateForecastExportJob", f"{base}:forecast/other_forecast", {}),
        ("forecast:CreateForecastExportJob", f"arn:aws:forecast:eu-west-1:{ACCOUNT}:forecast/demand_forecast", {}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/SomeOtherRole", {"iam:PassedToService": "forecast.amazonaws.com"}),
        ("iam:PassRole", own_role, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000", {}),
        ("events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule", {}),
        ("lambda:AddPermission", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:another-function", {}),
        ("forecast:ListForecastExportJobs", "*", {}),
    ]
    allowed = [o for o in outsiders if policies.allows(*o)]
    assert allowed == []
