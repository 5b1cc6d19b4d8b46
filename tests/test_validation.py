"""Bad input is rejected at synth time with one error naming every prop, value and rule."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_forecast_export import (
    ForecastExport,
    ForecastExportProvider,
    ForecastExportTypeError,
    ForecastExportValidationError,
    PollingMode,
)

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
        "snapshot removal policy",
        {"removal_policy": cdk.RemovalPolicy.SNAPSHOT},
        "removal_policy",
        "RemovalPolicy.SNAPSHOT is not supported",
    ),
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


def test_nested_prefixes_in_one_bucket_are_refused_naming_both() -> None:
    app = _two_exports({"prefix": "exports"}, {"prefix": "exports/returns"})
    with pytest.raises(Exception) as raised:
        app.synth()
    message = str(raised.value)
    assert "ForecastExport Shared/Weekly writes to bucket Shared/Data under prefix 'exports/returns', inside the " in message
    assert "prefix 'exports' of ForecastExport Shared/Daily: grant_read on Shared/Daily would read Shared/Weekly's" in message


def test_an_outer_prefix_registered_after_the_inner_one_is_refused_too() -> None:
    inner_first = r"Shared/Daily writes to .* under prefix 'a/b/c', inside the prefix 'a' of ForecastExport Shared/Weekly"
    with pytest.raises(Exception, match=inner_first):
        _two_exports({"prefix": "a/b/c"}, {"prefix": "a/"}).synth()


def test_an_export_at_the_bucket_root_holds_every_other_prefix() -> None:
    with pytest.raises(Exception, match=r"inside the no prefix \(the whole bucket\) of ForecastExport Shared/Daily"):
        _two_exports({"prefix": ""}, {"prefix": "exports"}).synth()


def test_nested_prefixes_in_one_named_bucket_from_two_stacks_are_refused() -> None:
    app = cdk.App(context=NO_BUNDLING)
    for name, prefix in (("TeamA", "lake"), ("TeamB", "lake/returns")):
        stack = cdk.Stack(app, name, env=ENV)
        bucket = s3.Bucket.from_bucket_name(stack, "Lake", "data-lake")
        ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, bucket=bucket, prefix=prefix)
    with pytest.raises(Exception, match=r"TeamB/Export writes to bucket 'data-lake' under prefix 'lake/returns'"):
        app.synth()


def test_prefixes_that_share_only_leading_characters_are_not_nested() -> None:
    _two_exports({"prefix": "exports"}, {"prefix": "exports2"}).synth()
    _two_exports({"prefix": "exports/daily"}, {"prefix": "exports/daily_returns"}).synth()
    _two_exports({"prefix": "exports"}, {"prefix": "exports/returns", "bucket": None}).synth()  # another bucket


# --- removal_policy ------------------------------------------------------------------------------------


def test_removal_policy_as_a_string_is_refused_naming_the_allowed_values() -> None:
    with pytest.raises(ForecastExportTypeError) as raised:
        build(removal_policy="retain")
    (problem,) = raised.value.problems
    assert problem == (
        "removal_policy must be cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN or "
        "cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE; got str 'retain'"
    )


def test_apply_removal_policy_refuses_snapshot_and_strings() -> None:
    app = cdk.App(context=NO_BUNDLING)
    export = ForecastExport(cdk.Stack(app, "Validation", env=ENV), "Export", forecast_arn=FORECAST_ARN)
    with pytest.raises(ForecastExportValidationError, match=r"removal_policy RemovalPolicy.SNAPSHOT is not supported"):
        export.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)
    with pytest.raises(ForecastExportTypeError, match=r"removal_policy must be cdk.RemovalPolicy.DESTROY, .*; got str 'RETAIN'"):
        export.apply_removal_policy("RETAIN")  # type: ignore[arg-type]


def test_a_snapshot_policy_set_on_the_whole_stack_is_refused_at_synth() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Validation", env=ENV)
    ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN)
    cdk.RemovalPolicies.of(stack).snapshot()
    snapshot = r"removal_policy: the Custom::ForecastExportJob Validation/Export/Resource/Default has a Snapshot"
    with pytest.raises(Exception, match=snapshot):
        app.synth()


# --- types: checked first, as jsii-generated libraries do, naming the prop, the value and the type -----------

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BAD_TYPES = [
    ("timeout", 600, "timeout must be a cdk.Duration, such as cdk.Duration.minutes(50); got int 600"),
    (
        "bucket",
        "my-lake",
        "bucket must be an s3.IBucket (such as s3.Bucket(...) or s3.Bucket.from_bucket_name(...)); got str 'my-lake'",
    ),
    ("tags", {"cost": 42}, "tags['cost'] must be a str; got int 42"),
    ("tags", [("cost", "42")], "tags must be a mapping of str keys to str values; got list [('cost', '42')]"),
    ("tags", {42: "cost"}, "tags key 42 must be a str; got int"),
    ("forecast_arn", None, "forecast_arn must be a str; got NoneType None"),
    ("export_job_name", 7, "export_job_name must be a str; got int 7"),
    ("format", 1, "format must be a str; got int 1"),
    ("prefix", ["exports"], "prefix must be a str; got list ['exports']"),
    (
        "encryption_key",
        KEY_ARN,
        f"encryption_key must be a kms.IKey (such as kms.Key(...) or kms.Key.from_key_arn(...)); got str '{KEY_ARN}'",
    ),
    ("removal_policy", "RETAIN", "removal_policy must be cdk.RemovalPolicy.DESTROY, "),
    ("destroy_bucket_with_stack", "yes", "destroy_bucket_with_stack must be a bool (True or False); got str 'yes'"),
    ("access_logs_bucket", "logs", "access_logs_bucket must be an s3.IBucket"),
    ("provider", "ForecastExportProvider", "provider must be a ForecastExportProvider; got str 'ForecastExportProvider'"),
    ("role_name", 1, "role_name must be a str; got int 1"),
    ("role_path", False, "role_path must be a str; got bool False"),
    ("polling", 5, "polling must be a str; got int 5"),
    (
        "role",
        "arn:aws:iam::111122223333:role/forecast",
        "role must be an iam.IRole (such as iam.Role(...) or iam.Role.from_role_arn(...)); got str",
    ),
    ("run_id", 2, "run_id must be a str; got int 2"),
    ("handler_options", {"memory_size": 256}, "handler_options must be a ForecastExportHandlerOptions; got dict"),
    ("noncurrent_version_expiration", 30, "noncurrent_version_expiration must be a cdk.Duration"),
]


@pytest.mark.parametrize(("prop", "value", "message"), BAD_TYPES, ids=[f"{p}={v!r}" for p, v, _ in BAD_TYPES])
def test_a_prop_of_the_wrong_type_is_a_type_error_naming_it(prop: str, value: object, message: str) -> None:
    with pytest.raises(TypeError) as raised:  # ForecastExportTypeError is a TypeError, as jsii raises
        build(**{prop: value})
    assert isinstance(raised.value, ForecastExportTypeError)
    (problem,) = raised.value.problems
    assert problem.startswith(message), problem


def test_every_prop_has_a_type_check() -> None:
    import inspect

    keyword_only = {n for n, p in inspect.signature(ForecastExport.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert {prop for prop, _, _ in BAD_TYPES} == keyword_only


def test_an_object_of_another_interface_is_refused_naming_its_path() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Validation", env=ENV)
    key = kms.Key(stack, "Key")
    with pytest.raises(ForecastExportTypeError, match=r"bucket must be an s3.IBucket .*; got Key Validation/Key"):
        ForecastExport(stack, "Export", forecast_arn=FORECAST_ARN, bucket=key)  # type: ignore[arg-type]


def test_imported_interfaces_and_enums_pass_the_type_checks() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = cdk.Stack(app, "Validation", env=ENV)
    ForecastExport(
        stack,
        "Export",
        forecast_arn=FORECAST_ARN,
        bucket=s3.Bucket.from_bucket_name(stack, "Lake", "data-lake"),
        encryption_key=kms.Key.from_key_arn(stack, "Key", KEY_ARN),  # jsii hands these out as dynamic proxies
        role=iam.Role.from_role_arn(stack, "Role", f"arn:aws:iam::{ACCOUNT}:role/forecast"),
        polling=PollingMode.ECONOMY,
        tags={"cost": cdk.Token.as_string(cdk.Aws.ACCOUNT_ID)},
    )


def test_every_type_problem_is_reported_at_once() -> None:
    with pytest.raises(ForecastExportTypeError) as raised:
        build(timeout=600, bucket="my-lake", tags={"cost": 42})
    assert [p.split(" ")[0] for p in raised.value.problems] == ["bucket", "tags['cost']", "timeout"]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"export_prefix": 5}, "export_prefix must be a str; got int 5"),
        ({"role_path": ["platform"]}, "role_path must be a str; got list ['platform']"),
    ],
)
def test_a_provider_prop_of_the_wrong_type_is_a_type_error_naming_it(props: dict[str, Any], message: str) -> None:
    app = cdk.App(context=NO_BUNDLING)
    with pytest.raises(ForecastExportTypeError) as raised:
        ForecastExportProvider(cdk.Stack(app, "Platform", env=ENV), "Provider", **props)
    assert raised.value.problems == [message]
    assert str(raised.value).startswith("ForecastExportProvider Platform/Provider has 1 invalid prop(s)")
