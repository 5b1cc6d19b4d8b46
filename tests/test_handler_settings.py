"""Handler settings (memory, reserved concurrency, log retention, log key, state key): props of the handler and
the provider, ``handler_options`` of the exports for a stack's own handler, checked at synth."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Annotations, Match, Template
from cdk_forecast_export import (
    ForecastExport,
    ForecastExportHandler,
    ForecastExportHandlerOptions,
    ForecastExportProvider,
    ForecastExportValidationError,
)
from cdk_forecast_export.handler_settings import RETENTION_IN_DAYS

from tests.support.apps import ACCOUNT, ENV, FORECAST_ARN, NO_BUNDLING, REGION
from tests.support.iam_eval import PolicySet
from tests.support.intrinsics import resolve

WEEKLY = FORECAST_ARN.replace("demand_forecast", "weekly_forecast")
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def new_stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(context=NO_BUNDLING), "Exports", env=ENV)


def tuned(key: kms.IKey | None = None, **changes: Any) -> ForecastExportHandlerOptions:
    settings: dict[str, Any] = {
        "memory_size": 512,
        "reserved_concurrent_executions": 5,
        "log_retention": logs.RetentionDays.ONE_YEAR,
        "log_encryption_key": key,
    }
    return ForecastExportHandlerOptions(**{**settings, **changes})


def handler_resources(stack: cdk.Stack) -> dict[str, Any]:
    """The handler's function and log group, and the stack's keys, as synthesized (code left out)."""
    template = Template.from_stack(stack).to_json()
    kept = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::Lambda::Function", "AWS::Logs::LogGroup", "AWS::KMS::Key"):
            resource["Properties"].pop("Code", None)
            kept[logical_id] = resource
    return kept


def test_the_defaults_are_128_mb_unreserved_three_months_and_cloudwatch_logs_encryption() -> None:
    stack = new_stack()
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"MemorySize": 128, "ReservedConcurrentExecutions": Match.absent()})
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90, "KmsKeyId": Match.absent()})


def test_handler_options_of_an_export_reach_the_function_and_its_log_group() -> None:
    stack = new_stack()
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned(key))
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"MemorySize": 512, "ReservedConcurrentExecutions": 5})
    key_id = template.find_resources("AWS::KMS::Key").popitem()[0]
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365, "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})


def test_never_expiring_logs_write_no_retention() -> None:
    stack = new_stack()
    options = ForecastExportHandlerOptions(log_retention=logs.RetentionDays.INFINITE)
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=options)
    Template.from_stack(stack).has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": Match.absent()})


@pytest.mark.parametrize("retention", list(logs.RetentionDays), ids=lambda r: r.name)
def test_retention_days_are_the_ones_aws_cdk_lib_writes(retention: logs.RetentionDays) -> None:
    stack = new_stack()
    logs.LogGroup(stack, "Reference", retention=retention)
    written = Template.from_stack(stack).to_json()["Resources"]
    (group,) = written.values()
    assert group.get("Properties", {}).get("RetentionInDays") == RETENTION_IN_DAYS[retention.name]


def test_the_settings_do_not_depend_on_which_export_is_made_first() -> None:
    """The stack's first export makes the handler; one that brings handler_options later still sets them."""

    def build(order: list[str]) -> dict[str, Any]:
        stack = new_stack()
        key = kms.Key(stack, "LogKey", enable_key_rotation=True)
        for name in order:
            options = tuned(key) if name == "Tuned" else None
            ForecastExport(stack, name, forecast_arn=FORECAST_ARN if name == "Tuned" else WEEKLY, handler_options=options)
        return handler_resources(stack)

    assert build(["Plain", "Tuned"]) == build(["Tuned", "Plain"])


def test_exports_passing_the_same_handler_options_share_one_handler() -> None:
    stack = new_stack()
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned())
    ForecastExport(stack, "Weekly", forecast_arn=WEEKLY, handler_options=tuned())
    Template.from_stack(stack).resource_count_is("AWS::Lambda::Function", 1)


def test_two_exports_with_different_handler_options_are_refused_naming_both() -> None:
    stack = new_stack()
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned())
    with pytest.raises(ForecastExportValidationError) as raised:
        ForecastExport(stack, "Weekly", forecast_arn=WEEKLY, handler_options=tuned(memory_size=1024))
    message = str(raised.value)
    assert "Exports/Weekly" in message and "Exports/Daily" in message
    assert "memory_size 1024 vs 512" in message


def test_handler_options_differing_from_a_handler_made_with_props_are_refused_naming_both() -> None:
    stack = new_stack()
    ForecastExportHandler(stack, "ForecastExportHandler", memory_size=256)
    with pytest.raises(ForecastExportValidationError) as raised:
        ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned())
    message = str(raised.value)
    assert "Exports/Daily" in message and "Exports/ForecastExportHandler" in message


def test_handler_options_with_a_provider_are_refused() -> None:
    stack = new_stack()
    provider = ForecastExportProvider(stack, "Provider")
    with pytest.raises(ForecastExportValidationError, match=r"handler_options configure the stack's own handler.*Provider"):
        ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, provider=provider, handler_options=tuned())


def test_provider_props_configure_its_handler() -> None:
    stack = new_stack()
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    ForecastExportProvider(
        stack,
        "Provider",
        memory_size=256,
        reserved_concurrent_executions=2,
        log_retention=logs.RetentionDays.ONE_MONTH,
        log_encryption_key=key,
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"MemorySize": 256, "ReservedConcurrentExecutions": 2})
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30, "KmsKeyId": Match.any_value()})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"memory_size": 127}, r"handler_options.memory_size 127 must be a whole number of MB from 128 to 10240"),
        ({"memory_size": 10241}, r"memory_size 10241 must be a whole number of MB from 128 to 10240"),
        ({"memory_size": 256.5}, r"memory_size 256.5 must be a whole number"),
        ({"reserved_concurrent_executions": 0}, r"reserved_concurrent_executions 0 must be at least 1: 0 would stop"),
        ({"reserved_concurrent_executions": -1}, r"reserved_concurrent_executions -1 must be at least 1"),
        ({"reserved_concurrent_executions": "5"}, r"reserved_concurrent_executions '5' must be a whole number"),
        ({"log_retention": 90}, r"log_retention 90 must be a logs.RetentionDays"),
    ],
    ids=["memory-below-128", "memory-above-10240", "memory-fraction", "no-concurrency", "negative-concurrency",
         "concurrency-text", "retention-number"],
)  # fmt: skip
def test_bad_handler_options_are_refused_naming_the_setting(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ForecastExportValidationError, match=expected):
        ForecastExport(new_stack(), "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned(**changes))


def test_a_kms_alias_as_the_log_key_is_refused() -> None:
    stack = new_stack()
    alias = kms.Alias.from_alias_name(stack, "Alias", "alias/logs")
    with pytest.raises(ForecastExportValidationError, match=r"log_encryption_key is a KMS alias"):
        ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned(alias))


def test_a_log_key_in_another_region_is_refused() -> None:
    stack = new_stack()
    key = kms.Key.from_key_arn(stack, "Key", KEY_ARN.replace(REGION, "eu-west-1"))
    with pytest.raises(ForecastExportValidationError, match=r"log_encryption_key .*eu-west-1"):
        ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned(key))


def test_bad_provider_props_are_refused_naming_the_prop() -> None:
    with pytest.raises(ForecastExportValidationError, match=r"(?s)Provider/Handler .*reserved_concurrent_executions 0"):
        ForecastExportProvider(new_stack(), "Provider", reserved_concurrent_executions=0)


def _logs_may(stack: cdk.Stack, action: str, log_group_arn: str) -> bool:
    """Evaluate the key policy for CloudWatch Logs of the stack's region, for a log group's encryption context."""
    template = Template.from_stack(stack).to_json()
    (key,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    policy = resolve(key["Properties"]["KeyPolicy"], lambda name: {"AWS::Partition": "aws"}[name], None, None)  # type: ignore[arg-type]
    for_logs = [s for s in policy["Statement"] if s.get("Principal", {}).get("Service") == f"logs.{REGION}.amazonaws.com"]
    return PolicySet(for_logs).allows(action, KEY_ARN, {"kms:EncryptionContext:aws:logs:arn": log_group_arn})


def test_the_log_key_policy_lets_cloudwatch_logs_use_it_for_this_accounts_log_groups_only() -> None:
    stack = new_stack()
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned(key))
    own_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:Exports-ForecastExportHandlerLogGroup-AbCdEf"
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"):
        assert _logs_may(stack, action, own_group), action
    assert not _logs_may(stack, "kms:Decrypt", own_group.replace(ACCOUNT, "444455556666"))
    assert not _logs_may(stack, "kms:Decrypt", own_group.replace(REGION, "eu-west-1"))
    assert not _logs_may(stack, "kms:CreateGrant", own_group)


def test_an_imported_log_key_gets_a_warning_that_its_policy_must_admit_cloudwatch_logs() -> None:
    stack = new_stack()
    key = kms.Key.from_key_arn(stack, "Key", KEY_ARN)
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=tuned(key))
    Annotations.from_stack(stack).has_warning(
        "/Exports/ForecastExportHandler", Match.string_like_regexp(r"log_encryption_key .* logs\.<region>\.amazonaws\.com")
    )


def test_checkov_skips_follow_the_settings() -> None:
    """A log key and reserved concurrency make CKV_AWS_158 and CKV_AWS_115 pass: their skips go."""

    def skipped(stack: cdk.Stack, resource_type: str) -> set[str]:
        (resource,) = Template.from_stack(stack).find_resources(resource_type).values()
        return {skip["id"] for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}

    plain = new_stack()
    ForecastExport(plain, "Daily", forecast_arn=FORECAST_ARN)
    assert "CKV_AWS_158" in skipped(plain, "AWS::Logs::LogGroup")
    assert "CKV_AWS_115" in skipped(plain, "AWS::Lambda::Function")
    configured = new_stack()
    ForecastExport(
        configured,
        "Daily",
        forecast_arn=FORECAST_ARN,
        handler_options=tuned(kms.Key(configured, "LogKey", enable_key_rotation=True)),
    )
    assert skipped(configured, "AWS::Logs::LogGroup") == set()
    assert skipped(configured, "AWS::Lambda::Function") == {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}


def _table(stack: cdk.Stack) -> dict[str, Any]:
    (table,) = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table").values()
    return dict(table)


def _role_statement(stack: cdk.Stack, sid: str) -> dict[str, Any]:
    (statement,) = [
        statement
        for policy in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == sid
    ]
    return dict(statement)


def test_without_a_state_key_the_table_uses_dynamodbs_aws_owned_key_and_the_role_no_kms() -> None:
    stack = new_stack()
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN)
    assert _table(stack)["Properties"]["SSESpecification"] == {"SSEEnabled": False}
    with pytest.raises(ValueError):
        _role_statement(stack, "UseStateTableKey")


def test_a_state_key_of_the_stack_encrypts_the_table_and_the_role_may_use_it_with_named_actions() -> None:
    stack = new_stack()
    key = kms.Key(stack, "StateKey", enable_key_rotation=True)
    ForecastExport(
        stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=key)
    )
    template = Template.from_stack(stack)
    (key_id,) = template.find_resources("AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    assert _table(stack)["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    statement = _role_statement(stack, "UseStateTableKey")
    expected = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    assert sorted(statement["Action"]) == expected and statement["Resource"] == key_arn
    (key_resource,) = template.find_resources("AWS::KMS::Key").values()
    (for_role,) = [
        s for s in key_resource["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "ForecastExportHandlerUsesStateTable"
    ]
    assert sorted(for_role["Action"]) == expected  # spelled out: no kms:GenerateDataKey* or kms:ReEncrypt*
    assert for_role["Principal"]["AWS"]["Fn::GetAtt"][0].startswith("ForecastExportHandlerRole")
    Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("state_encryption_key"))


def test_an_imported_state_key_gets_a_warning_that_its_policy_must_admit_the_handlers_role() -> None:
    stack = new_stack()
    key = kms.Key.from_key_arn(stack, "Key", KEY_ARN)
    ForecastExport(
        stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=key)
    )
    assert _table(stack)["Properties"]["SSESpecification"]["KMSMasterKeyId"] == KEY_ARN
    assert _role_statement(stack, "UseStateTableKey")["Resource"] == KEY_ARN
    Annotations.from_stack(stack).has_warning(
        "/Exports/ForecastExportHandler",
        Match.string_like_regexp(
            r"state_encryption_key .* must let the handler's role /?Exports/ForecastExportHandler/Role use it"
        ),
    )


def test_a_kms_alias_as_the_state_key_is_refused() -> None:
    stack = new_stack()
    alias = kms.Alias.from_alias_name(stack, "Alias", "alias/state")
    with pytest.raises(
        ForecastExportValidationError, match=r"handler_options.state_encryption_key is a KMS alias .*DynamoDB table"
    ):
        ForecastExport(
            stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=alias)
        )


def test_a_state_key_in_another_region_is_refused_naming_the_prop_and_the_key() -> None:
    stack = new_stack()
    other = KEY_ARN.replace(REGION, "eu-west-1")
    key = kms.Key.from_key_arn(stack, "Key", other)
    expected = rf"handler_options.state_encryption_key '{re.escape(other)}' is in region eu-west-1, not in the stack's region"
    with pytest.raises(ForecastExportValidationError, match=expected):
        ForecastExport(
            stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=key)
        )


def test_a_state_key_in_another_region_is_refused_as_a_provider_prop() -> None:
    stack = new_stack()
    key = kms.Key.from_key_arn(stack, "Key", KEY_ARN.replace(REGION, "eu-west-1"))
    with pytest.raises(ForecastExportValidationError, match=r"(?s)Provider/Handler .*state_encryption_key .*eu-west-1"):
        ForecastExportProvider(stack, "Provider", state_encryption_key=key)


def test_two_exports_with_different_state_keys_are_refused_naming_both() -> None:
    stack = new_stack()
    one, two = (
        kms.Key.from_key_arn(stack, name, KEY_ARN.replace("1234abcd", prefix))
        for name, prefix in (("A", "aaaa1111"), ("B", "bbbb2222"))
    )
    ForecastExport(
        stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=one)
    )
    with pytest.raises(ForecastExportValidationError) as raised:
        ForecastExport(
            stack, "Weekly", forecast_arn=WEEKLY, handler_options=ForecastExportHandlerOptions(state_encryption_key=two)
        )
    message = str(raised.value)
    assert "Exports/Weekly" in message and "Exports/Daily" in message
    assert f"state_encryption_key {two.key_arn} vs {one.key_arn}" in message


def test_the_state_key_does_not_depend_on_which_export_is_made_first() -> None:
    def build(order: list[str]) -> dict[str, Any]:
        stack = new_stack()
        key = kms.Key(stack, "StateKey", enable_key_rotation=True)
        for name in order:
            options = ForecastExportHandlerOptions(state_encryption_key=key) if name == "Keyed" else None
            ForecastExport(stack, name, forecast_arn=FORECAST_ARN if name == "Keyed" else WEEKLY, handler_options=options)
        template = Template.from_stack(stack).to_json()["Resources"]
        return {k: r for k, r in template.items() if r["Type"] in ("AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::IAM::Policy")}

    first, later = build(["Keyed", "Plain"]), build(["Plain", "Keyed"])
    assert first == later
    (table,) = [r for r in first.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True


def test_provider_props_carry_the_state_key() -> None:
    stack = new_stack()
    key = kms.Key(stack, "StateKey", enable_key_rotation=True)
    ForecastExportProvider(stack, "Provider", state_encryption_key=key)
    (key_id,) = Template.from_stack(stack).find_resources("AWS::KMS::Key")
    assert _table(stack)["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_a_state_key_makes_checkov_ckv_aws_119_pass_so_its_skip_goes() -> None:
    plain = new_stack()
    ForecastExport(plain, "Daily", forecast_arn=FORECAST_ARN)
    skips = {s["id"] for s in _table(plain).get("Metadata", {}).get("checkov", {}).get("skip", [])}
    assert skips == {"CKV_AWS_119"}
    keyed = new_stack()
    key = kms.Key(keyed, "StateKey", enable_key_rotation=True)
    ForecastExport(
        keyed, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=key)
    )
    assert "checkov" not in _table(keyed).get("Metadata", {})


def test_a_state_key_of_another_stack_is_not_edited_and_gets_the_warning() -> None:
    """Naming the handler's role in another stack's key policy would make the two stacks depend on each other."""
    app = cdk.App(context=NO_BUNDLING)
    keys = cdk.Stack(app, "Keys", env=ENV)
    key = kms.Key(keys, "StateKey", enable_key_rotation=True)
    stack = cdk.Stack(app, "Exports", env=ENV)
    ForecastExport(
        stack, "Daily", forecast_arn=FORECAST_ARN, handler_options=ForecastExportHandlerOptions(state_encryption_key=key)
    )
    app.synth()  # no cyclic reference between the stacks
    (key_resource,) = Template.from_stack(keys).find_resources("AWS::KMS::Key").values()
    assert "ForecastExportHandlerUsesStateTable" not in json.dumps(key_resource)
    Annotations.from_stack(stack).has_warning(
        "/Exports/ForecastExportHandler", Match.string_like_regexp(r"state_encryption_key .*another stack")
    )
