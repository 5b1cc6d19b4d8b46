"""Every prop either accepts a deploy-time value (a token: the handler checks it at deploy time) or
refuses it at synth with a message naming the prop. Each case passes a CfnParameter's value."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_forecast_export import ForecastExport, ForecastExportValidationError

from tests.support.apps import ENV, FORECAST_ARN, NO_BUNDLING

Prop = Callable[[cdk.Stack, str], Any]  # (stack, the parameter's value as a string) -> the prop's value

# prop -> (how to pass the parameter, the resource type whose properties must then hold {"Ref": "Value"})
ACCEPTED: dict[str, tuple[Prop, str]] = {
    "forecast_arn": (lambda stack, value: value, "Custom::ForecastExportJob"),
    "format": (lambda stack, value: value, "Custom::ForecastExportJob"),
    "bucket": (lambda stack, value: s3.Bucket.from_bucket_name(stack, "Imported", value), "Custom::ForecastExportJob"),
    "prefix": (lambda stack, value: value, "Custom::ForecastExportJob"),
    "encryption_key": (lambda stack, value: kms.Key.from_key_arn(stack, "Imported", value), "Custom::ForecastExportJob"),
    "tags": (lambda stack, value: {"cost": value}, "Custom::ForecastExportJob"),
    "access_logs_bucket": (lambda stack, value: s3.Bucket.from_bucket_name(stack, "Imported", value), "AWS::S3::Bucket"),
    "role_name": (lambda stack, value: value, "AWS::IAM::Role"),
    "role_path": (lambda stack, value: value, "AWS::IAM::Role"),
    # The handler's permissions no longer depend on the name (naming.py): checked at deploy time (at most 50).
    "export_job_name": (lambda stack, value: value, "Custom::ForecastExportJob"),
    "role": (lambda stack, value: iam.Role.from_role_arn(stack, "Imported", value), "Custom::ForecastExportJob"),
    "run_id": (lambda stack, value: value, "Custom::ForecastExportJob"),
}
# prop -> (how to pass the parameter, what the message says)
REFUSED: dict[str, tuple[Prop, str]] = {
    "timeout": (
        lambda stack, value: cdk.Duration.seconds(cdk.Token.as_number(value)),
        "ServiceTimeout is timeout + 300 s and CloudFormation cannot add numbers",
    ),
    "noncurrent_version_expiration": (
        lambda stack, value: cdk.Duration.days(cdk.Token.as_number(value)),
        "it becomes the bucket's lifecycle rule",
    ),
}
# Types no token can take: an enum of the CDK, a bool, a construct, an options object.
NOT_TOKENS = {"removal_policy", "destroy_bucket_with_stack", "provider", "handler_options"}
# Deprecated, without effect: a token is accepted (with the deprecation warning) and written nowhere.
IGNORED = {"polling"}


def _stack() -> tuple[cdk.App, cdk.Stack, str]:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "DeployTime", env=ENV)
    return app, stack, cdk.CfnParameter(stack, "Value").value_as_string


def test_every_prop_is_classified() -> None:
    parameters = inspect.signature(ForecastExport.__init__).parameters
    keyword_only = {name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keyword_only == set(ACCEPTED) | set(REFUSED) | NOT_TOKENS | IGNORED


@pytest.mark.parametrize("prop", sorted(IGNORED))
def test_a_deploy_time_value_of_a_deprecated_prop_is_accepted_and_written_nowhere(prop: str) -> None:
    app, stack, value = _stack()
    ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, **{prop: value})
    template = app.synth().get_stack_by_name("DeployTime").template
    assert '{"Ref": "Value"}' not in json.dumps(template["Resources"])


@pytest.mark.parametrize("prop", sorted(ACCEPTED))
def test_a_deploy_time_value_is_accepted_and_reaches_the_template(prop: str) -> None:
    app, stack, value = _stack()
    make, resource_type = ACCEPTED[prop]
    props: dict[str, Any] = {"forecast_arn": FORECAST_ARN, prop: make(stack, value)}
    ForecastExport(stack, "Export", **props)
    template = app.synth().get_stack_by_name("DeployTime").template  # runs the synth-time validations too
    holders = [r for r in template["Resources"].values() if r["Type"] == resource_type]
    assert any('{"Ref": "Value"}' in json.dumps(r["Properties"]) for r in holders), (prop, holders)


@pytest.mark.parametrize("prop", sorted(REFUSED))
def test_a_deploy_time_value_is_refused_at_synth_naming_the_prop(prop: str) -> None:
    _, stack, value = _stack()
    make, reason = REFUSED[prop]
    with pytest.raises(ForecastExportValidationError) as raised:
        ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, **{prop: make(stack, value)})
    (problem,) = raised.value.problems
    assert problem.startswith(f"{prop} is a deploy-time value") and reason in problem and "known at synth time" in problem


def test_a_deploy_time_tag_from_the_scope_reaches_the_job() -> None:
    app, stack, value = _stack()
    cdk.Tags.of(stack).add("cost", value)
    ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, tags={"team": "demand"})
    template = app.synth().get_stack_by_name("DeployTime").template
    (job,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::ForecastExportJob"]
    assert job["Properties"]["Tags"] == [{"Key": "cost", "Value": {"Ref": "Value"}}, {"Key": "team", "Value": "demand"}]


def test_known_tags_are_still_checked_next_to_deploy_time_ones() -> None:
    app, stack, value = _stack()
    cdk.Tags.of(stack).add("cost", value)
    cdk.Tags.of(stack).add("team#1", "x")
    ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, tags={f"k{i}": value for i in range(49)})  # fine alone
    with pytest.raises(Exception) as raised:
        app.synth()
    assert "'team#1'" in str(raised.value) and "51 tags; at most 50" in str(raised.value)
