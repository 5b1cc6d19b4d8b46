"""The test bed authorises sts:AssumeRole as IAM does and evaluates assumed credentials against the
assumed role (cfn_driver's before-call hook, iam_eval's trust evaluation).

No handler runs here: boto3 is driven directly from a thread named ``invocation-test`` acting as a
provider's function (``LocalCloud.acting_as``), against small hand-written templates registered as
applied: a provider stack whose handler role may assume ``role/cdk-forecast-export/*``, and team
stacks each with an access role that trusts the handler only for sessions tagged with the team's
own stack ID.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.cfn_driver import ACCOUNT, REGION, LocalCloud, LocalStack, required_permissions, role_policies
from tests.support.iam_eval import PolicySet

T = TypeVar("T")
TAG = "cdk-forecast-export:stack-id"
FUNCTION = "Provider-Handler"  # LocalStack names functions <stack>-<logical ID>
FORECAST = f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast"


def provider_template(actions: tuple[str, ...] = ("sts:AssumeRole", "sts:TagSession")) -> dict[str, Any]:
    return {
        "Resources": {
            "HandlerRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Path": "/platform/",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                        ],
                    },
                },
            },
            "HandlerPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "assume-access-roles",
                    "Roles": [{"Ref": "HandlerRole"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": list(actions),
                                "Resource": {
                                    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-forecast-export/*"
                                },
                            }
                        ],
                    },
                },
            },
            "Handler": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Role": {"Fn::GetAtt": ["HandlerRole", "Arn"]}, "Timeout": 60},
            },
        },
        "Outputs": {
            "HandlerRoleArn": {"Value": {"Fn::GetAtt": ["HandlerRole", "Arn"]}, "Export": {"Name": "Provider-HandlerRoleArn"}}
        },
    }


def access_role(forecast_name: str, path: str = "/cdk-forecast-export/") -> dict[str, Any]:
    """The access role as issue 10 designs it: trusts the handler's role for sessions tagged with this stack's ID."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Path": path,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::ImportValue": "Provider-HandlerRoleArn"}},
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                        "Condition": {"StringEquals": {f"aws:RequestTag/{TAG}": {"Ref": "AWS::StackId"}}},
                    }
                ],
            },
        },
    }


def team_template(forecast_name: str) -> dict[str, Any]:
    job_arn = "arn:${AWS::Partition}:forecast:${AWS::Region}:${AWS::AccountId}:forecast-export-job/" + forecast_name + "/*"
    return {
        "Resources": {
            "AccessRole": access_role(forecast_name),
            "AccessPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Roles": [{"Ref": "AccessRole"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["forecast:DescribeForecastExportJob", "forecast:DeleteForecastExportJob"],
                                "Resource": {"Fn::Sub": job_arn},
                            }
                        ],
                    },
                },
            },
            # Trusts the handler the same way, but outside the path the handler may assume.
            "StrayRole": access_role(forecast_name, path="/"),
        },
        "Outputs": {"AccessRoleArn": {"Value": {"Fn::GetAtt": ["AccessRole", "Arn"]}}},
    }


@pytest.fixture
def stacks(cloud: LocalCloud) -> dict[str, LocalStack]:
    provider = LocalStack(cloud, provider_template(), name="Provider")
    exports = provider.exported_values()
    return {
        "provider": provider,
        "a": LocalStack(cloud, team_template("forecast_a"), name="TeamA", exports=exports),
        "b": LocalStack(cloud, team_template("forecast_b"), name="TeamB", exports=exports),
    }


def as_handler(cloud: LocalCloud, work: Callable[[], T]) -> T:
    """Run ``work`` in a thread the bed treats as an invocation of the provider's function."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with cloud.acting_as(FUNCTION):
                outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001  (re-raised in the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=run, name="invocation-test", daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the bed hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def role_arn(stack: LocalStack, logical_id: str = "AccessRole") -> str:
    return str(stack.resolve({"Fn::GetAtt": [logical_id, "Arn"]}))


def assume(role: str, tags: dict[str, str] | None) -> dict[str, Any]:
    sts = boto3.client("sts", region_name=REGION)
    kwargs: dict[str, Any] = {"RoleArn": role, "RoleSessionName": "export"}
    if tags is not None:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return sts.assume_role(**kwargs)["Credentials"]


def forecast_with(credentials: dict[str, Any]) -> Any:
    return boto3.client(
        "forecast",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


# --- assuming the access role ---------------------------------------------------------------------


def test_the_access_role_is_an_arn_with_its_path(stacks: dict[str, LocalStack]) -> None:
    assert role_arn(stacks["a"]) == f"arn:aws:iam::{ACCOUNT}:role/cdk-forecast-export/TeamA-AccessRole"
    assert stacks["provider"].bed.function_role_arns[FUNCTION] == f"arn:aws:iam::{ACCOUNT}:role/platform/Provider-HandlerRole"


def test_a_session_tagged_with_its_own_stack_acts_with_the_access_roles_permissions(
    cloud: LocalCloud, stacks: dict[str, LocalStack]
) -> None:
    team = stacks["a"]
    own_job = cloud.forecast.add_job(f"{FORECAST}/forecast_a", "daily_0a1b2c3d")
    other_job = cloud.forecast.add_job(f"{FORECAST}/forecast_b", "daily_4e5f6a7b")

    def work() -> tuple[Any, Any, tuple[str, int]]:
        credentials = assume(role_arn(team), {TAG: team.stack_id})
        forecast = forecast_with(credentials)
        described = forecast.describe_forecast_export_job(ForecastExportJobArn=own_job)
        denied = error_of(lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=other_job))
        return credentials, described, denied

    credentials, described, denied = as_handler(cloud, work)
    assert described["ForecastExportJobArn"] == own_job
    assert denied == ("AccessDeniedException", 400)
    assert cloud.sessions[credentials["AccessKeyId"]].role_arn == role_arn(team)
    principals = [(principal, operation) for principal, operation, _ in cloud.signed_calls]
    handler_role = cloud.function_role_arns[FUNCTION]
    assert principals == [
        (handler_role, "sts:AssumeRole"),
        (role_arn(team), "forecast:DescribeForecastExportJob"),
        (role_arn(team), "forecast:DescribeForecastExportJob"),
    ]
    assert any("assumed-role/TeamA-AccessRole/export" in d and other_job in d for d in cloud.denied)
    # The expiry the handler sees is on the virtual clock.
    assert credentials["Expiration"].timestamp() == pytest.approx(cloud.clock.now() + 3600, abs=5)


def test_a_boto3_session_built_from_assumed_credentials_is_checked_too(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    team = stacks["a"]
    other_job = cloud.forecast.add_job(f"{FORECAST}/forecast_b", "daily_4e5f6a7b")

    def work() -> tuple[str, int]:
        credentials = assume(role_arn(team), {TAG: team.stack_id})
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        forecast = session.client("forecast")
        return error_of(lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=other_job))

    assert as_handler(cloud, work) == ("AccessDeniedException", 400)


def test_the_functions_own_credentials_are_checked_against_its_role(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    own_job = cloud.forecast.add_job(f"{FORECAST}/forecast_a", "daily_0a1b2c3d")

    def work() -> tuple[str, int]:
        forecast = boto3.client("forecast", region_name=REGION)
        return error_of(lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=own_job))

    assert as_handler(cloud, work) == ("AccessDeniedException", 400)  # the handler role holds no Forecast rights
    assert cloud.signed_calls[-1][0] == cloud.function_role_arns[FUNCTION]


@pytest.mark.parametrize(
    "case",
    ["another stack's ID", "no tags", "another tag key", "a second role's trust", "outside the allowed path", "no such role"],
)
def test_assuming_is_denied_unless_identity_and_trust_both_allow(
    cloud: LocalCloud, stacks: dict[str, LocalStack], case: str
) -> None:
    a, b = stacks["a"], stacks["b"]
    role, tags = {
        # Team A's template names team B's access role: the session tag carries A's stack ID.
        "another stack's ID": (role_arn(b), {TAG: a.stack_id}),
        "no tags": (role_arn(a), None),
        "another tag key": (role_arn(a), {"stack-id": a.stack_id}),
        "a second role's trust": (role_arn(b), {TAG: b.stack_id + "x"}),
        "outside the allowed path": (role_arn(a, "StrayRole"), {TAG: a.stack_id}),
        "no such role": (f"arn:aws:iam::{ACCOUNT}:role/cdk-forecast-export/Nobody", {TAG: a.stack_id}),
    }[case]
    sessions_before = dict(cloud.sessions)
    code = as_handler(cloud, lambda: error_of(lambda: assume(role, tags)))
    assert code == ("AccessDenied", 403)
    assert cloud.sessions == sessions_before  # moto was never asked: no credentials were issued
    reason = cloud.denied[-1]
    if case == "outside the allowed path":
        assert "sts:AssumeRole on" in reason and "trust" not in reason  # the handler's own policy refuses
    elif case == "no such role":
        assert "no applied template" in reason
    else:
        assert "trust policy does not allow" in reason


def test_the_stray_role_is_refused_only_by_the_identity_policy(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    a = stacks["a"]
    trust = cloud.trust_policy(role_arn(a, "StrayRole"))
    assert trust is not None
    context = {f"aws:RequestTag/{TAG}": a.stack_id, "aws:TagKeys": [TAG]}
    assert trust.trusts(cloud.function_role_arns[FUNCTION], "sts:AssumeRole", context)


def test_tag_session_must_be_allowed_by_the_callers_own_policy(cloud: LocalCloud) -> None:
    LocalStack(cloud, provider_template(actions=("sts:AssumeRole",)), name="Provider")
    exports = {"Provider-HandlerRoleArn": cloud.function_role_arns[FUNCTION]}
    team = LocalStack(cloud, team_template("forecast_a"), name="TeamA", exports=exports)
    code = as_handler(cloud, lambda: error_of(lambda: assume(role_arn(team), {TAG: team.stack_id})))
    assert code == ("AccessDenied", 403)
    assert "sts:TagSession" in cloud.denied[-1] and "trust" not in cloud.denied[-1]


def test_a_role_removed_by_an_update_can_no_longer_be_assumed_nor_used(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    team = stacks["a"]
    arn = role_arn(team)
    own_job = cloud.forecast.add_job(f"{FORECAST}/forecast_a", "daily_0a1b2c3d")
    credentials = as_handler(cloud, lambda: assume(arn, {TAG: team.stack_id}))
    without_role = copy.deepcopy(team.template)
    for logical_id in ("AccessRole", "AccessPolicy"):
        del without_role["Resources"][logical_id]
    del without_role["Outputs"]
    assert team.update(without_role).status == "UPDATE_COMPLETE"
    assert cloud.trust_policy(arn) is None
    assert as_handler(cloud, lambda: error_of(lambda: assume(arn, {TAG: team.stack_id}))) == ("AccessDenied", 403)
    assert "no applied template" in cloud.denied[-1]
    # The session issued before stops working too: its role has no policies any more.
    forecast_call = lambda: forecast_with(credentials).describe_forecast_export_job(ForecastExportJobArn=own_job)  # noqa: E731
    assert as_handler(cloud, lambda: error_of(forecast_call)) == ("AccessDeniedException", 400)


def test_sessions_expire_on_the_virtual_clock(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    team = stacks["a"]
    own_job = cloud.forecast.add_job(f"{FORECAST}/forecast_a", "daily_0a1b2c3d")

    def assume_short() -> dict[str, Any]:
        sts = boto3.client("sts", region_name=REGION)
        tags = [{"Key": TAG, "Value": team.stack_id}]
        return sts.assume_role(RoleArn=role_arn(team), RoleSessionName="export", Tags=tags, DurationSeconds=900)["Credentials"]

    credentials = as_handler(cloud, assume_short)
    describe = lambda: forecast_with(credentials).describe_forecast_export_job(ForecastExportJobArn=own_job)  # noqa: E731
    as_handler(cloud, describe)
    cloud.advance(901)
    assert as_handler(cloud, lambda: error_of(describe)) == ("ExpiredTokenException", 400)
    cloud.session_expiry = False
    assert as_handler(cloud, describe)["ForecastExportJobArn"] == own_job


def test_unknown_access_keys_are_refused(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    credentials = {"AccessKeyId": "ASIAUNKNOWN000000000", "SecretAccessKey": "x", "SessionToken": "y"}
    job = f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast-export-job/forecast_a/daily_0a1b2c3d"
    call = lambda: forecast_with(credentials).describe_forecast_export_job(ForecastExportJobArn=job)  # noqa: E731
    assert as_handler(cloud, lambda: error_of(call)) == ("UnrecognizedClientException", 400)


# --- what IAM checks for sts:AssumeRole ------------------------------------------------------------


@pytest.mark.parametrize("rules", [required_permissions])
def test_assume_role_needs_tag_session_only_with_tags(rules: Callable[..., Any]) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/cdk-forecast-export/x"
    assert rules("sts:AssumeRole", {"RoleArn": role, "RoleSessionName": "s"}) == [("sts:AssumeRole", role, {})]
    tagged = rules("sts:AssumeRole", {"RoleArn": role, "RoleSessionName": "s", "Tags": [{"Key": "k", "Value": "v"}]})
    context = {"aws:RequestTag/k": "v", "aws:TagKeys": ["k"]}
    assert tagged == [("sts:AssumeRole", role, context), ("sts:TagSession", role, context)]


# --- iam_eval: principals and multivalued keys -----------------------------------------------------

CALLER = f"arn:aws:iam::{ACCOUNT}:role/platform/Provider-HandlerRole"


@pytest.mark.parametrize(
    ("principal", "trusted"),
    [
        ({"AWS": CALLER}, True),
        ({"AWS": [f"arn:aws:iam::{ACCOUNT}:role/other", CALLER]}, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, True),
        ({"AWS": ACCOUNT}, True),
        ("*", True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Provider-HandlerRole"}, False),  # path differs
        ({"AWS": "arn:aws:iam::444455556666:root"}, False),
        ({"Service": "lambda.amazonaws.com"}, False),
    ],
)
def test_trust_matches_the_exact_role_arn_or_the_account(principal: Any, trusted: bool) -> None:
    trust = PolicySet([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}])
    assert trust.trusts(CALLER, "sts:AssumeRole") is trusted
    assert not trust.trusts(CALLER, "sts:TagSession")


def test_trust_deny_wins_and_not_principal_excludes() -> None:
    allow = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:*"}
    deny = {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/only-this"}, "Action": "sts:AssumeRole"}
    trust = PolicySet([allow, deny])
    assert not trust.trusts(CALLER, "sts:AssumeRole")
    assert trust.trusts(f"arn:aws:iam::{ACCOUNT}:role/only-this", "sts:AssumeRole")


def test_conditions_on_request_tags_and_tag_keys() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": CALLER},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {
            "StringEquals": {f"aws:RequestTag/{TAG}": "stack-1"},
            "ForAllValues:StringEquals": {"aws:TagKeys": [TAG]},
        },
    }
    trust = PolicySet([statement])
    assert trust.trusts(CALLER, "sts:TagSession", {f"aws:RequestTag/{TAG}": "stack-1", "aws:TagKeys": [TAG]})
    assert not trust.trusts(CALLER, "sts:TagSession", {f"aws:RequestTag/{TAG}": "stack-2", "aws:TagKeys": [TAG]})
    assert not trust.trusts(CALLER, "sts:TagSession", {f"aws:RequestTag/{TAG}": "stack-1", "aws:TagKeys": [TAG, "extra"]})
    assert not trust.trusts(CALLER, "sts:AssumeRole", {})
    any_value = PolicySet([{**statement, "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": "cdk-*"}}}])
    assert any_value.trusts(CALLER, "sts:AssumeRole", {"aws:TagKeys": ["other", TAG]})
    assert not any_value.trusts(CALLER, "sts:AssumeRole", {"aws:TagKeys": ["other"]})
    assert not any_value.trusts(CALLER, "sts:AssumeRole", {})


def test_role_policies_gathers_what_the_templates_attach(cloud: LocalCloud, stacks: dict[str, LocalStack]) -> None:
    policies = role_policies(role_arn(stacks["a"]), *stacks.values())
    job = f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast-export-job"
    assert policies.allows("forecast:DescribeForecastExportJob", f"{job}/forecast_a/daily_0a1b2c3d")
    assert not policies.allows("forecast:DescribeForecastExportJob", f"{job}/forecast_b/daily_0a1b2c3d")
