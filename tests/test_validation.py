"""Bad input is rejected at synth time with one error naming every prop, value and rule."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_forecast_export import ForecastExport, ForecastExportValidationError

from tests.support.apps import ACCOUNT, ENV, FORECAST_ARN, NO_BUNDLING, REGION

OTHER_ACCOUNT = "444455556666"
TAGS_51 = {f"k{i}": "v" for i in range(51)}


def build(**props: Any) -> cdk.Stack:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Validation", env=ENV)
    kms_arn = props.pop("kms_arn", None)
    if kms_arn:
        props["encryption_key"] = kms.Key.from_key_arn(stack, "Key", kms_arn)
    alias_name = props.pop("alias_name", None)
    if alias_name:
        props["encryption_key"] = kms.Alias.from_alias_name(stack, "Alias", alias_name)
    if props.pop("alias_construct", False):
        props["encryption_key"] = kms.Key(stack, "NamedKey").add_alias("alias/exports")
    bucket_account = props.pop("bucket_account", None)
    if bucket_account:
        props["bucket"] = s3.Bucket.from_bucket_attributes(stack, "Bucket", bucket_name="their-bucket", account=bucket_account)
    ForecastExport(stack, "Export", **{"forecast_arn": FORECAST_ARN, **props})
    return stack


BAD_INPUTS = [
    ("empty job name", {"export_job_name": ""}, "export_job_name", "must not be empty"),
    ("64-character job name", {"export_job_name": "a" * 64}, "export_job_name", "64 characters"),
    ("51-character job name (the handler appends 13)", {"export_job_name": "a" * 51}, "export_job_name", "at most 50"),
    ("job name with a leading digit", {"export_job_name": "1daily"}, "export_job_name", "'1daily'"),
    ("job name with a hyphen", {"export_job_name": "daily-export"}, "export_job_name", "'daily-export'"),
    ("job name with spaces", {"export_job_name": "daily export"}, "export_job_name", "'daily export'"),
    ("job name with non-ASCII", {"export_job_name": "prévision"}, "export_job_name", "'prévision'"),
    (
        "forecast ARN of another service",
        {"forecast_arn": f"arn:aws:s3:{REGION}:{ACCOUNT}:forecast/x"},
        "forecast_arn",
        "not a forecast ARN",
    ),
    (
        "forecast ARN of another resource type",
        {"forecast_arn": f"arn:aws:forecast:{REGION}:{ACCOUNT}:dataset/x"},
        "forecast_arn",
        "dataset/x",
    ),
    ("malformed forecast ARN", {"forecast_arn": "demand_forecast"}, "forecast_arn", "'demand_forecast'"),
    (
        "forecast in another account",
        {"forecast_arn": f"arn:aws:forecast:{REGION}:{OTHER_ACCOUNT}:forecast/x"},
        "forecast_arn",
        "account 444455556666",
    ),
    (
        "forecast in another region",
        {"forecast_arn": f"arn:aws:forecast:eu-west-1:{ACCOUNT}:forecast/x"},
        "forecast_arn",
        "region eu-west-1",
    ),
    ("over-long forecast ARN", {"forecast_arn": FORECAST_ARN + "x" * 250}, "forecast_arn", "at most 256"),
    ("prefix with a leading slash", {"prefix": "/exports"}, "prefix", "must not start with '/'"),
    ("prefix with empty segments", {"prefix": "exports//daily"}, "prefix", "empty segments"),
    ("prefix with spaces", {"prefix": "my exports"}, "prefix", "printable ASCII"),
    ("over-long prefix", {"prefix": "p" * 4100}, "prefix", "4096"),
    ("lower-case format", {"format": "csv"}, "format", "'csv'"),
    ("unknown format", {"format": "JSON"}, "format", "'JSON'"),
    (
        "KMS alias instead of a key",
        {"kms_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/exports"},
        "encryption_key",
        "not an alias",
    ),
    ("KMS alias object", {"alias_name": "alias/exports"}, "encryption_key", "the KMS alias 'alias/exports'"),
    ("KMS alias object, pass the key", {"alias_name": "alias/exports"}, "encryption_key", "kms.Key.from_key_arn("),
    ("KMS alias construct", {"alias_construct": True}, "encryption_key", "the KMS alias 'alias/exports'"),
    ("polling mode in lower case", {"polling": "fast"}, "polling", "'fast' must be PollingMode.FAST or PollingMode.ECONOMY"),
    (
        "KMS key in another account",
        {"kms_arn": f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        "encryption_key",
        "account 444455556666",
    ),
    (
        "KMS key in another region",
        {"kms_arn": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        "encryption_key",
        "region eu-west-1",
    ),
    ("51 tags", {"tags": TAGS_51}, "tags", "51 tags"),
    ("129-character tag key", {"tags": {"k" * 129: "v"}}, "tags", "129 characters"),
    ("257-character tag value", {"tags": {"k": "v" * 257}}, "tags", "257 characters"),
    ("tag key with aws: prefix", {"tags": {"aws:team": "x"}}, "tags", "'aws:team'"),
    ("tag key with AWS: prefix", {"tags": {"AWS:team": "x"}}, "tags", "'AWS:team'"),
    ("tag key with forbidden characters", {"tags": {"team#1": "x"}}, "tags", "'team#1'"),
    ("tag value with forbidden characters", {"tags": {"team": "a*b"}}, "tags", "'a*b'"),
    ("empty tag key", {"tags": {"": "x"}}, "tags", "1-128"),
    ("zero timeout", {"timeout": cdk.Duration.seconds(0)}, "timeout", "timeout 0 seconds"),
    # CDK's Duration cannot be negative; the handler tests cover TimeoutSeconds "-300".
    ("timeout under the minimum", {"timeout": cdk.Duration.seconds(30)}, "timeout", "timeout 30 seconds"),
    ("timeout over the maximum", {"timeout": cdk.Duration.minutes(56)}, "timeout", "3360"),
    ("bucket in another account", {"bucket_account": OTHER_ACCOUNT}, "bucket", "account 444455556666"),
    (
        "destroying a passed-in bucket",
        {"bucket_account": ACCOUNT, "destroy_bucket_with_stack": True},
        "destroy_bucket_with_stack",
        "passed-in",
    ),
]


@pytest.mark.parametrize(("prop", "fragment"), [(p, f) for _, _, p, f in BAD_INPUTS], ids=[i for i, *_ in BAD_INPUTS])
def test_bad_input_is_a_synth_error_naming_the_prop_and_value(prop: str, fragment: str, request: pytest.FixtureRequest) -> None:
    props = next(p for i, p, *_ in BAD_INPUTS if i == request.node.callspec.id)
    with pytest.raises(ForecastExportValidationError) as raised:
        build(**dict(props))
    message = str(raised.value)
    assert prop in message and fragment in message, message
    assert "Validation/Export" in message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ForecastExportValidationError) as raised:
        build(export_job_name="bad-name", format="csv", prefix="/x", tags={"aws:x": "y"})
    assert len(raised.value.problems) == 4
    assert "4 invalid prop(s)" in str(raised.value)


def test_values_known_only_at_deploy_time_are_left_to_the_handler() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Tokens")  # environment-agnostic: account and region are tokens
    parameter = cdk.CfnParameter(stack, "ForecastArn")
    ForecastExport(stack, "Export", forecast_arn=parameter.value_as_string)  # no error at synth


def test_a_maximal_valid_configuration_synthesizes() -> None:
    build(
        export_job_name="a" * 50, tags={f"k{i}": "v" * 256 for i in range(50)}, timeout=cdk.Duration.seconds(3300), prefix="a/b/c"
    )


def _two_exports(first: dict[str, Any], second: dict[str, Any], *, second_stack: str | None = None) -> cdk.App:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Shared", env=ENV)
    data = s3.Bucket(stack, "Data")
    other = cdk.Stack(app, second_stack, env=ENV) if second_stack else stack
    for scope, name, props in ((stack, "Daily", first), (other, "Weekly", second)):
        bucket = props.pop("bucket", data)
        ForecastExport(scope, name, forecast_arn=FORECAST_ARN, bucket=bucket, **props)
    return app


def test_two_exports_into_one_bucket_and_prefix_are_refused_naming_both() -> None:
    app = _two_exports({"prefix": "exports/demand"}, {"prefix": "exports/demand/"})
    with pytest.raises(Exception) as raised:
        app.synth()
    message = str(raised.value)
    assert "ForecastExport Shared/Weekly and ForecastExport Shared/Daily both write to bucket Shared/Data" in message
    assert "under prefix 'exports/demand'" in message and "Give each export its own prefix" in message


def test_two_exports_into_one_named_bucket_from_two_stacks_are_refused() -> None:
    app = cdk.App(context=NO_BUNDLING)
    for name in ("TeamA", "TeamB"):
        stack = cdk.Stack(app, name, env=ENV)
        ForecastExport(
            stack, "Export", forecast_arn=FORECAST_ARN, bucket=s3.Bucket.from_bucket_name(stack, "Lake", "data-lake"), prefix="x"
        )
    with pytest.raises(Exception, match=r"TeamB/Export and ForecastExport TeamA/Export both write to bucket 'data-lake'"):
        app.synth()


def test_exports_into_one_bucket_with_their_own_prefixes_synthesize() -> None:
    _two_exports({"prefix": "exports/daily"}, {"prefix": "exports/weekly"}).synth()
    _two_exports({}, {}, second_stack="Other").synth()  # default prefixes differ: forecast-exports/<job name>
