"""IAM and CloudFormation quotas, as AWS counts them, at 100 exports with the longest names.

Every policy is resolved with the longest value each intrinsic can take (tests/support/iam_sizes.py)
and counted without whitespace, as IAM stores it. Both layouts (100 exports in one stack; 100 over
10 team stacks on one shared provider) are synthesized with ``@aws-cdk/aws-iam:minimizePolicies``
on and off: a library must not depend on its consumer's feature flags.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import apps, iam_sizes

FLAGS = {"minimizePolicies on": True, "minimizePolicies off": False}


@pytest.fixture(scope="module", params=sorted(FLAGS))
def flag(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _context(flag: str) -> dict[str, Any]:
    # No cdk.json here: only the flag under test (a bare app has it off, as does any app older than it).
    return {**apps.NO_BUNDLING, "@aws-cdk/aws-iam:minimizePolicies": FLAGS[flag]}


@pytest.fixture(scope="module")
def one_stack(flag: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, iam_sizes.StackSizes]:
    templates = iam_sizes.one_stack_app(str(tmp_path_factory.mktemp("one")), _context(flag))
    return {name: iam_sizes.measure(name, template) for name, template in templates.items()}


@pytest.fixture(scope="module")
def shared(flag: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, iam_sizes.StackSizes]:
    templates = iam_sizes.shared_provider_app(str(tmp_path_factory.mktemp("shared")), _context(flag))
    return {name: iam_sizes.measure(name, template) for name, template in templates.items()}


def test_a_hundred_exports_in_one_stack_fit_every_quota(one_stack: dict[str, iam_sizes.StackSizes]) -> None:
    (sizes,) = one_stack.values()
    assert sizes.problems() == []
    assert len(sizes.managed_policies) >= 2  # the packing really spread them
    assert max(sizes.managed_per_role.values()) <= iam_sizes.MANAGED_PER_ROLE_LIMIT


def test_a_hundred_exports_over_ten_teams_on_one_provider_fit_every_quota(shared: dict[str, iam_sizes.StackSizes]) -> None:
    problems = [p for sizes in shared.values() for p in sizes.problems()]
    assert problems == []
    platform = shared["Platform"]
    # Nothing of the teams reaches the provider's stack or its role: no policy there grows with them.
    assert platform.managed_policies == {}
    # A fixed set of statements (logs, the state table and its index, reading the previous release's rules,
    # CloudFormation reads, sts, and the self-invoke policy): the same with 1 team or 10.
    assert max(platform.inline_per_role.values()) < 2500


def test_the_flag_changes_nothing_we_emit(tmp_path_factory: pytest.TempPathFactory) -> None:
    on = iam_sizes.one_stack_app(str(tmp_path_factory.mktemp("on")), _context("minimizePolicies on"), exports=20)
    off = iam_sizes.one_stack_app(str(tmp_path_factory.mktemp("off")), _context("minimizePolicies off"), exports=20)

    def policies(templates: dict[str, Any]) -> dict[str, Any]:
        """The managed policies, with action lists sorted (the flag sorts them; the order changes no size)."""
        (template,) = templates.values()
        found = {}
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                statements = resource["Properties"]["PolicyDocument"]["Statement"]
                found[logical_id] = [
                    {**s, "Action": sorted(s["Action"]) if isinstance(s["Action"], list) else s["Action"]} for s in statements
                ]
        return found

    assert policies(on) == policies(off)


def test_the_measure_counts_like_iam() -> None:
    """Sanity of the yardstick itself: whitespace is not counted, tokens take their longest value."""
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/p/", "AssumeRolePolicyDocument": {"Statement": []}}},
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": "a:b", "Resource": {"Fn::GetAtt": ["Role", "Arn"]}}]
                    },
                },
            },
        }
    }
    sizes = iam_sizes.measure("T", template)
    arn = f"arn:{iam_sizes.PARTITION}:iam::{iam_sizes.ACCOUNT}:role/p/{iam_sizes.ROLE_NAME}"
    assert sizes.managed_policies["Policy"] == len('{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"' + arn + '"}]}')
    assert sizes.managed_per_role == {"Role": 1}


def test_imported_forecast_roles_with_deploy_time_arns_are_packed_for_any_path(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A role imported from a deploy-time ARN may have a 512-character path: the packing must assume it."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from cdk_forecast_export import ForecastExport

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("imported")), context=_context("minimizePolicies off"))
    stack = cdk.Stack(app, "ImportedRoles", env=iam_sizes.WORST_ENV)
    for index in range(40):
        role = iam.Role.from_role_arn(stack, f"Role{index}", cdk.Fn.import_value(f"platform-role-{index}"))
        ForecastExport(stack, f"Export{index:02d}", forecast_arn=iam_sizes.forecast_arn(index), role=role)
    sizes = iam_sizes.measure("ImportedRoles", dict(app.synth().get_stack_by_name("ImportedRoles").template))
    assert sizes.problems() == []
    assert len(sizes.managed_policies) >= 4


def test_more_policies_than_a_role_may_hold_is_a_synth_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    import aws_cdk as cdk
    from cdk_forecast_export import ForecastExport, ForecastExportValidationError

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("too-many")), context=_context("minimizePolicies off"))
    stack = cdk.Stack(app, "TooMany", env=iam_sizes.WORST_ENV)
    path = cdk.CfnParameter(stack, "RolePath").value_as_string  # a deploy-time path counts as 512 characters
    with pytest.raises(ForecastExportValidationError, match="more than 10 managed policies on its access role"):
        for index in range(200):
            ForecastExport(stack, f"Export{index:03d}", forecast_arn=iam_sizes.forecast_arn(index), role_path=path)
