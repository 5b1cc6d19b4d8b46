"""Platform use: a shared provider, plain CloudFormation templates, and CDK-native tags and boundaries."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

from tests.support import apps
from tests.support.cfn_driver import ACCOUNT, REGION, LocalCloud, LocalStack, required_permissions, role_policies

PLAIN = apps.REPO / "examples" / "plain-cloudformation.yaml"


@pytest.fixture(scope="module")
def shared_assembly(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("shared")), context={**apps.cdk_json_context(), **apps.NO_BUNDLING})
    apps.shared_provider_stacks(app)
    assembly = app.synth()
    return {name: dict(assembly.get_stack_by_name(name).template) for name in ("SharedProvider", "TeamExports")}


def test_the_plain_template_passes_cfn_lint() -> None:
    matches = lint(PLAIN.read_text(), config=ManualArgs(regions=["us-east-1"], include_checks=["I"]))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW" or m.rule.id == "I3510"] == []


def test_a_plain_cloudformation_template_runs_through_the_whole_lifecycle(
    cloud: LocalCloud, shared_assembly: dict[str, Any]
) -> None:
    provider = LocalStack(cloud, shared_assembly["SharedProvider"], name="SharedProvider")
    plain_template = apps.load_yaml_template(PLAIN)
    stack = LocalStack(cloud, plain_template, name="PlainExport", exports=provider.exported_values())
    created = stack.create()
    assert created.status == "CREATE_COMPLETE", [r.reason for r in created.requests]
    (job_arn,) = cloud.forecast.live_jobs()
    assert "/demand_forecast/daily_plain_" in job_arn
    assert cloud.forecast.jobs[job_arn].tags == {"source": "plain-cloudformation"}
    retagged = apps.load_yaml_template(PLAIN)
    retagged["Resources"]["DailyExport"]["Properties"]["Tags"] = [{"Key": "source", "Value": "changed"}]
    assert stack.update(retagged).status == "UPDATE_COMPLETE"
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()
    assert cloud.denied == []  # every call allowed by the role that signed it, as the bed checked at the moment of the call
    (access_role,) = {role for role, call, _ in cloud.signed_calls if call.startswith("forecast:")}
    assert "/cdk-forecast-export/" in access_role and access_role.startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    policies = role_policies(access_role, stack)
    other_job = f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast-export-job/demand_forecast/someone_else_0a1b2c3dABCD"
    assert not policies.allows("forecast:DeleteForecastExportJob", other_job)


def test_exports_in_another_stack_use_the_shared_provider_with_least_privilege(
    cloud: LocalCloud, shared_assembly: dict[str, Any]
) -> None:
    provider = LocalStack(cloud, shared_assembly["SharedProvider"], name="SharedProvider")
    team = LocalStack(cloud, shared_assembly["TeamExports"], name="TeamExports", exports=provider.exported_values())
    assert team.create().status == "CREATE_COMPLETE"
    assert team.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()
    assert cloud.denied == []
    (access_role,) = {role for role, call, _ in cloud.signed_calls if call.startswith("forecast:")}
    needed = [n for role, call, params in cloud.signed_calls if role == access_role for n in required_permissions(call, params)]
    assert any(action == "kms:GenerateDataKey" for action, _, _ in needed)
    policies = role_policies(access_role, team)
    assert [n for n in needed if not policies.allows(*n)] == []
    assert not policies.allows("forecast:CreateForecastExportJob", f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast/other_forecast")
    # The provider's role itself holds no Forecast permission at all.
    provider_role = role_policies(next(iter(cloud.function_role_arns.values())), provider, team)
    assert not provider_role.allows(
        "forecast:CreateForecastExportJob", f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast/demand_forecast"
    )


def _team(cloud: LocalCloud, template: dict[str, Any], name: str, provider: LocalStack) -> LocalStack:
    return LocalStack(cloud, copy.deepcopy(template), name=name, exports=provider.exported_values())


def _daily(stack: LocalStack) -> dict[str, Any]:
    (logical_id,) = [k for k, v in stack.custom_resources().items() if v["Properties"]["ForecastExportJobName"] == "Daily"]
    return dict(stack.template["Resources"][logical_id]["Properties"])


@pytest.mark.parametrize("borrowed", ["access role", "forecast role", "key"])
def test_a_team_cannot_act_with_another_teams_permissions_on_a_shared_provider(
    cloud: LocalCloud, shared_assembly: dict[str, Any], borrowed: str
) -> None:
    """Team B's template names team A's access role, Forecast role or key: STS or IAM refuses, B's
    export fails clearly, and nothing of A's is touched."""
    provider = LocalStack(cloud, shared_assembly["SharedProvider"], name="SharedProvider")
    team_a = _team(cloud, shared_assembly["TeamExports"], "TeamA", provider)
    assert team_a.create().status == "CREATE_COMPLETE"
    jobs_of_a = dict(cloud.forecast.live_jobs())
    a_daily = team_a.resolve(_daily(team_a))
    team_b = _team(cloud, shared_assembly["TeamExports"], "TeamB", provider)
    (b_daily_id,) = [k for k, v in team_b.custom_resources().items() if v["Properties"]["ForecastExportJobName"] == "Daily"]
    properties = team_b.template["Resources"][b_daily_id]["Properties"]
    if borrowed == "access role":
        properties["AccessRoleArn"] = a_daily["AccessRoleArn"]
    elif borrowed == "forecast role":
        properties["Destination"]["S3Config"]["RoleArn"] = a_daily["Destination"]["S3Config"]["RoleArn"]
    else:
        properties["Destination"]["S3Config"]["KMSKeyArn"] = a_daily["Destination"]["S3Config"]["KMSKeyArn"].replace(
            a_daily["Destination"]["S3Config"]["KMSKeyArn"].rsplit("/", 1)[-1], "00000000-aaaa-bbbb-cccc-000000000000"
        )
    result = team_b.create()
    assert result.status == "ROLLBACK_COMPLETE"
    (failed,) = [r for r in result.by_type("Create") if r.logical_id == b_daily_id]
    expected = {
        "access role": "Could not assume the access role",
        "forecast role": "AccessDenied",
        "key": "AccessDenied",
    }[borrowed]
    assert expected in failed.reason, failed.reason
    for arn, status in jobs_of_a.items():  # A's jobs are exactly as they were
        assert cloud.forecast.live_jobs().get(arn) == status
    assert not [
        c for c in cloud.forecast.calls if c.operation == "CreateForecastExportJob" and "Daily_" in str(c.params) and not c.error
    ][1:]
    assert team_a.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def test_a_team_cannot_delete_another_teams_job_through_its_physical_id(
    cloud: LocalCloud, shared_assembly: dict[str, Any]
) -> None:
    provider = LocalStack(cloud, shared_assembly["SharedProvider"], name="SharedProvider")
    team_a = _team(cloud, shared_assembly["TeamExports"], "TeamA", provider)
    assert team_a.create().status == "CREATE_COMPLETE"
    jobs_of_a = dict(cloud.forecast.live_jobs())
    team_b = _team(cloud, shared_assembly["TeamExports"], "TeamB", provider)
    assert team_b.create().status == "CREATE_COMPLETE"
    team_b.physical_ids = dict(team_a.physical_ids)  # B's resources now claim A's jobs
    assert team_b.delete().status == "DELETE_COMPLETE"
    assert {arn: s for arn, s in cloud.forecast.live_jobs().items() if arn in jobs_of_a} == jobs_of_a
    assert team_a.delete().status == "DELETE_COMPLETE"
    cloud.forecast.jobs = {k: v for k, v in cloud.forecast.jobs.items() if k in jobs_of_a}  # B's own jobs were left to it
    cloud.check_invariants()


def test_the_provider_stack_holds_the_only_handler_and_exports_its_token(shared_assembly: dict[str, Any]) -> None:
    provider = Template.from_json(shared_assembly["SharedProvider"])
    team = Template.from_json(shared_assembly["TeamExports"])
    provider.resource_count_is("AWS::Lambda::Function", 1)
    team.resource_count_is("AWS::Lambda::Function", 0)
    outputs = shared_assembly["SharedProvider"]["Outputs"]
    # Its two named exports and nothing else: the team stack imports those, so CDK adds no exports of its own.
    assert sorted(o["Export"]["Name"] for o in outputs.values()) == [
        "ForecastExportProvider-RoleArn",
        "ForecastExportProvider-ServiceToken",
    ]
    provider.has_resource_properties("AWS::IAM::Role", {"Path": "/platform/"})
    # The exports' permissions live in the team's own access role, which trusts the provider's role only
    # for sessions tagged with the team stack's ID. Nothing is attached to the provider's role.
    team.has_resource_properties(
        "AWS::IAM::Role",
        {
            "Path": "/cdk-forecast-export/",
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                        "Condition": {"StringEquals": {"aws:RequestTag/cdk-forecast-export:stack-id": {"Ref": "AWS::StackId"}}},
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::ImportValue": "ForecastExportProvider-RoleArn"}},
                    }
                ],
                "Version": "2012-10-17",
            },
        },
    )
    for policy in team.find_resources("AWS::IAM::ManagedPolicy").values():
        assert "ImportValue" not in json.dumps(policy["Properties"].get("Roles", []))
    team.has_resource_properties(
        "Custom::ForecastExportJob", {"ServiceToken": {"Fn::ImportValue": "ForecastExportProvider-ServiceToken"}}
    )


def test_tags_of_scope_reach_the_job_and_the_prop_wins(shared_assembly: dict[str, Any]) -> None:
    team = Template.from_json(shared_assembly["TeamExports"])
    jobs = team.find_resources("Custom::ForecastExportJob")
    tags = sorted((k, tuple((t["Key"], t["Value"]) for t in v["Properties"]["Tags"])) for k, v in jobs.items())
    assert tags[0][1] == (("costcenter", "42"), ("team", "demand"))  # Daily: its own tag wins
    assert tags[1][1] == (("costcenter", "42"), ("team", "from-scope"))  # Weekly: only the scope's tags


def test_permissions_boundary_applies_to_every_role_the_construct_creates(shared_assembly: dict[str, Any]) -> None:
    for name in ("SharedProvider", "TeamExports"):
        roles = shared_assembly[name]["Resources"]
        for logical_id, resource in roles.items():
            if resource["Type"] == "AWS::IAM::Role":
                assert "platform-boundary" in str(resource["Properties"].get("PermissionsBoundary")), (name, logical_id)
    team_roles = Template.from_json(shared_assembly["TeamExports"]).find_resources(
        "AWS::IAM::Role", {"Properties": {"Path": "/platform/"}}
    )
    assert len(team_roles) == 1  # Daily asked for the platform path; Weekly kept the default


def test_merged_tags_are_still_checked() -> None:
    app = cdk.App(context=apps.NO_BUNDLING)
    stack = cdk.Stack(app, "TooManyTags", env=apps.ENV)
    for index in range(30):
        cdk.Tags.of(stack).add(f"scope{index}", "x")
    from cdk_forecast_export import ForecastExport

    ForecastExport(stack, "Export", forecast_arn=apps.FORECAST_ARN, tags={f"own{i}": "y" for i in range(30)})
    with pytest.raises(Exception, match="60 tags; at most 50"):
        app.synth()


def _provider_app(tmp_path: Path, *, team_env: cdk.Environment = apps.ENV, prefix: str = "ForecastExportProvider") -> cdk.App:
    from cdk_forecast_export import ForecastExport, ForecastExportProvider

    app = cdk.App(outdir=str(tmp_path), context=apps.NO_BUNDLING)
    provider = ForecastExportProvider(cdk.Stack(app, "Platform", env=apps.ENV), "Provider", export_prefix=prefix)
    team = cdk.Stack(app, "Team", env=team_env)
    ForecastExport(team, "Daily", forecast_arn=f"arn:aws:forecast:{team.region}:{team.account}:forecast/x", provider=provider)
    return app


def test_the_team_stack_waits_for_the_provider_and_no_reference_warning_is_left(tmp_path: Path) -> None:
    assembly = _provider_app(tmp_path, prefix="DemandPlatform").synth()
    # (Templates first: once listed as a dependency, jsii hands the Platform artifact back as a plain CloudArtifact.)
    outputs = assembly.get_stack_by_name("Platform").template["Outputs"]
    team = assembly.get_stack_by_name("Team")
    assert "DemandPlatform-ServiceToken" in str(team.template)
    assert sorted(o["Export"]["Name"] for o in outputs.values()) == ["DemandPlatform-RoleArn", "DemandPlatform-ServiceToken"]
    assert "Platform" in [d.id for d in team.dependencies]  # CloudFormation deploys the provider's exports first
    messages = [m for s in assembly.stacks for m in s.messages]
    assert not [m for m in messages if "cross-stack" in str(m.entry.data) or "crossStack" in str(m.entry.data)]


@pytest.mark.parametrize(
    "team_env",
    [cdk.Environment(account=apps.ACCOUNT, region="eu-west-1"), cdk.Environment(account="444455556666", region=apps.REGION)],
    ids=["another region", "another account"],
)
def test_a_provider_in_another_environment_is_refused_at_synth(team_env: cdk.Environment, tmp_path: Path) -> None:
    from cdk_forecast_export import ForecastExportValidationError

    with pytest.raises(ForecastExportValidationError) as raised:
        _provider_app(tmp_path, team_env=team_env)
    (problem,) = raised.value.problems
    assert problem.startswith("provider Platform/Provider is in aws://111122223333/us-east-1")
    assert f"aws://{team_env.account}/{team_env.region}" in problem and "account and region" in problem


def test_two_providers_with_one_export_prefix_in_one_environment_are_refused(tmp_path: Path) -> None:
    from cdk_forecast_export import ForecastExportProvider, ForecastExportValidationError

    app = cdk.App(outdir=str(tmp_path), context=apps.NO_BUNDLING)
    ForecastExportProvider(cdk.Stack(app, "PlatformA", env=apps.ENV), "Provider")
    ForecastExportProvider(cdk.Stack(app, "Elsewhere", env=cdk.Environment(account=apps.ACCOUNT, region="eu-west-1")), "P")
    with pytest.raises(ForecastExportValidationError) as raised:
        ForecastExportProvider(cdk.Stack(app, "PlatformB", env=apps.ENV), "Provider")
    message = str(raised.value)
    assert message.startswith("ForecastExportProvider PlatformB/Provider has 1 invalid prop(s)")
    assert "export_prefix 'ForecastExportProvider' is already used by the ForecastExportProvider PlatformA/Provider" in message
    ForecastExportProvider(cdk.Stack(app, "PlatformC", env=apps.ENV), "Provider", export_prefix="Second")  # another prefix
