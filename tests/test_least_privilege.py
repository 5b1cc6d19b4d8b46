"""Every AWS call the handler makes is allowed by the synthesized policies, and nothing more is.

The calls are recorded (botocore's before-call hook, handler threads only) with the role whose
credentials signed each one, while the every-prop stack (three exports: own and passed-in buckets,
with and without a KMS key) runs through the lifecycle, then evaluated against that role's
policies as synthesized.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.cfn_driver import ACCOUNT, REGION, LocalCloud, LocalStack, required_permissions, role_policies
from tests.support.forecast_fake import Outcome

STACK = "EveryProp"


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


def _signed_by(cloud: LocalCloud, role_fragment: str) -> list[tuple[str, dict[str, Any]]]:
    return [(call, params) for role, call, params in cloud.signed_calls if role_fragment in role]


def test_every_call_the_handler_makes_is_allowed(cloud: LocalCloud, exercised: LocalStack) -> None:
    """Each call is checked against the role whose credentials signed it: Forecast calls against the
    stack's access role (the handler assumes it), EventBridge and STS calls against the handler's own."""
    operations = {call for _, call, _ in cloud.signed_calls}
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
        "sts:AssumeRole",
    ):
        assert needed in operations, f"the scenario never exercised {needed}"
    denied = [
        (role, action, resource)
        for role, call, params in cloud.signed_calls
        for action, resource, context in required_permissions(call, params)
        if not role_policies(role, exercised).allows(action, resource, context)
    ]
    assert denied == [] and cloud.denied == []
    forecast_signers = {role for role, call, _ in cloud.signed_calls if call.startswith("forecast:")}
    assert forecast_signers and all("/cdk-forecast-export/" in role for role in forecast_signers)  # never the handler's own
    assert any(a == "kms:GenerateDataKey" for _, c, p in cloud.signed_calls for a, _, _ in required_permissions(c, p))


def test_calls_outside_the_stacks_exports_are_denied(cloud: LocalCloud, exercised: LocalStack) -> None:
    (access_role,) = {role for role, call, _ in cloud.signed_calls if call.startswith("forecast:")}
    (handler_role,) = set(cloud.function_role_arns.values())
    access, handler = role_policies(access_role, exercised), role_policies(handler_role, exercised)
    base = f"arn:aws:forecast:{REGION}:{ACCOUNT}"
    own_job = next(p["ForecastExportJobArn"] for _, c, p in cloud.signed_calls if c == "forecast:DescribeForecastExportJob")
    assert access.allows("forecast:DescribeForecastExportJob", own_job)
    own_role = next(
        p["Destination"]["S3Config"]["RoleArn"] for _, c, p in cloud.signed_calls if c == "forecast:CreateForecastExportJob"
    )
    owner = own_job.rsplit("_", 1)[-1][:8]
    outsiders = [
        ("forecast:DescribeForecastExportJob", f"{base}:forecast-export-job/demand_forecast/someone_else_0a1b2c3dABCD", {}),
        ("forecast:DeleteForecastExportJob", f"{base}:forecast-export-job/other_forecast/Plain_{owner}ABCDE", {}),
        ("forecast:CreateForecastExportJob", f"{base}:forecast/other_forecast", {}),
        ("forecast:CreateForecastExportJob", f"arn:aws:forecast:eu-west-1:{ACCOUNT}:forecast/demand_forecast", {}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/SomeOtherRole", {"iam:PassedToService": "forecast.amazonaws.com"}),
        ("iam:PassRole", own_role, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000", {}),
        ("events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule", {}),
        ("lambda:AddPermission", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:another-function", {}),
        ("forecast:ListForecastExportJobs", "*", {}),
        ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/AdminRole", {}),
    ]
    assert [o for o in outsiders if access.allows(*o)] == []
    assert [o for o in outsiders if handler.allows(*o)] == []
    # The handler's own role reaches Forecast only through an access role.
    assert not handler.allows("forecast:DescribeForecastExportJob", own_job)
    assert not handler.allows("forecast:CreateForecastExportJob", f"{base}:forecast/demand_forecast")
