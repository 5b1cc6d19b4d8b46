"""Every AWS call the handler makes is allowed by the synthesized policies, and nothing more is.

The calls are recorded (botocore's before-call hook, handler threads only) with the role whose
credentials signed each one, while the every-prop stack (three exports: own and passed-in buckets,
with and without a KMS key) runs through the lifecycle, then evaluated against that role's
policies as synthesized.
"""

from __future__ import annotations

import copy
import fnmatch
from typing import Any

import aws_cdk as cdk
import pytest

from tests.support import apps
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
    stack's access role (the handler assumes it), DynamoDB, Lambda and STS calls against the handler's own."""
    operations = {call for _, call, _ in cloud.signed_calls}
    for needed in (
        "forecast:CreateForecastExportJob",
        "forecast:DescribeForecastExportJob",
        "forecast:DeleteForecastExportJob",
        "forecast:StopResource",
        "forecast:TagResource",
        "forecast:UntagResource",
        "dynamodb:TransactWriteItems",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "lambda:Invoke",
        "sts:AssumeRole",
    ):
        assert needed in operations, f"the scenario never exercised {needed}"
    assert not [call for call in operations if call.startswith("events:")]  # triggers are template resources
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
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:another-function", {}),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/another-table", {}),
        ("dynamodb:Scan", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*", {}),
        ("forecast:ListForecastExportJobs", "*", {}),
        ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/AdminRole", {}),
    ]
    assert [o for o in outsiders if access.allows(*o)] == []
    assert [o for o in outsiders if handler.allows(*o)] == []
    # The handler's own role reaches Forecast only through an access role.
    assert not handler.allows("forecast:DescribeForecastExportJob", own_job)
    assert not handler.allows("forecast:CreateForecastExportJob", f"{base}:forecast/demand_forecast")


# What no policy of the construct may allow (issue 16): the triggers are template resources, so nothing changes
# EventBridge or the handler's resource policy at run time.
FORBIDDEN = (
    "events:PutRule",
    "events:DeleteRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:EnableRule",
    "events:DisableRule",
    "lambda:AddPermission",
    "lambda:RemovePermission",
)


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every role's inline policies, every policy and every managed policy of ``template``."""
    found = []
    for logical, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [properties["PolicyDocument"]]
        found += [(logical, statement) for document in documents for statement in document["Statement"]]
    return found


def _allowed_forbidden(template: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for logical, statement in _statements(template):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            problems.append((logical, f"NotAction {statement['NotAction']}"))
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        problems += [
            (logical, action)
            for action in actions
            for forbidden in FORBIDDEN
            if fnmatch.fnmatchcase(forbidden.lower(), action.lower())
        ]
    return problems


@pytest.fixture(scope="module")
def provider_app_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("provider")), context={**apps.cdk_json_context(), **apps.NO_BUNDLING})
    apps.shared_provider_stacks(app)
    assembly = app.synth()
    return {stack.stack_name: dict(stack.template) for stack in assembly.stacks}


def test_no_policy_of_the_example_app_allows_an_events_write_or_a_resource_policy_change(
    example_template: dict[str, Any],
) -> None:
    assert len(_statements(example_template)) >= 8
    assert _allowed_forbidden(example_template) == []


def test_no_policy_of_a_provider_app_allows_an_events_write_or_a_resource_policy_change(
    provider_app_templates: dict[str, dict[str, Any]],
) -> None:
    assert set(provider_app_templates) == {"SharedProvider", "TeamExports"}
    for name, template in provider_app_templates.items():
        assert _statements(template), name
        assert _allowed_forbidden(template) == [], name


def test_the_forbidden_action_check_catches_wildcards() -> None:
    """The check above can fail: an action pattern that covers a forbidden action is reported."""
    for action in ("events:PutRule", "events:*", "events:Put*", "lambda:Add*", "*"):
        template = {
            "Resources": {
                "P": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}},
                }
            }
        }
        assert _allowed_forbidden(template), action
    assert _allowed_forbidden({"Resources": {}}) == []


def test_the_handler_role_may_read_only_its_previous_releases_rules_and_invoke_only_itself(
    provider_app_templates: dict[str, dict[str, Any]],
) -> None:
    template = provider_app_templates["SharedProvider"]
    statements = [s for logical, s in _statements(template) if logical.startswith("ProviderHandler")]
    events_actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]) if a.startswith("events:")
    }
    assert events_actions == {"events:ListTargetsByRule"}
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction" or "lambda:InvokeFunction" in s["Action"]]
    function = invoke["Resource"]["Fn::GetAtt"][0]
    assert template["Resources"][function]["Type"] == "AWS::Lambda::Function" and invoke["Resource"]["Fn::GetAtt"][1] == "Arn"
