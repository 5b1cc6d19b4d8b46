"""Synth-time checks of ForecastExport props: the same rules the handler applies at deploy time.

Values that are still tokens (known only at deploy time, such as a CfnParameter) are skipped here;
the handler checks them. One prop must be known at synth time and refuses a token: ``timeout``
(``ServiceTimeout`` is ``timeout`` + 300 s, and CloudFormation cannot add numbers).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from ._lambda.forecast_export import rules
from ._lambda.forecast_export.naming import BASE_MAX_LENGTH


def _known(value: str | None) -> str | None:
    """The value when synth knows it, None for tokens (an account or ARN resolved at deploy time)."""
    if value is None or cdk.Token.is_unresolved(value):
        return None
    return value


def known_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags with deploy-time keys and values replaced by valid stand-ins, for the synth-time check.

    Every tag still counts towards the limit of 50; a key or value that is a token is checked by the
    handler at deploy time."""
    known: dict[str, str] = {}
    for index, (key, value) in enumerate(tags.items()):
        known[key if _known(key) is not None else f"deploy-time-key-{index}"] = value if _known(value) is not None else ""
    return known


def _is_alias(key: kms.IKey) -> bool:
    """kms.Alias and kms.Alias.from_alias_name(...) are IKeys too, but their key_arn is an alias ARN."""
    return hasattr(key, "alias_name")


def collect_problems(
    stack: cdk.Stack,
    *,
    forecast_arn: str,
    export_job_name: str | None,
    format_value: str,
    prefix: str,
    bucket: s3.IBucket | None,
    encryption_key: kms.IKey | None,
    tags: Mapping[str, str],
    timeout: cdk.Duration,
    polling: str | None,
) -> list[str]:
    account = _known(stack.account)
    region = _known(stack.region)
    problems: list[str] = []
    if export_job_name is not None and _known(export_job_name) is not None:
        problems += rules.check_job_name("export_job_name", export_job_name, max_length=BASE_MAX_LENGTH)
    if _known(forecast_arn) is not None:
        problems += rules.check_forecast_arn("forecast_arn", forecast_arn, account=account, region=region)
    if _known(format_value) is not None:
        problems += rules.check_format("format", format_value)
    if _known(prefix) is not None:
        problems += rules.check_prefix("prefix", prefix)
    if encryption_key is not None and _is_alias(encryption_key):
        cfn_alias = encryption_key.node.default_child  # a kms.Alias made in this app holds its literal name here
        alias_name = (
            _known(getattr(encryption_key, "alias_name", None))
            or _known(getattr(cfn_alias, "alias_name", None))
            or encryption_key.node.path
        )
        problems.append(
            f"encryption_key is the KMS alias {rules.show(alias_name)}, not a key: Forecast accepts only a key ARN "
            "(arn:aws:kms:<region>:<account>:key/<key-id>). Pass the key itself: the kms.Key, or "
            "kms.Key.from_key_arn(scope, id, <key ARN>) for a key defined elsewhere"
        )
    elif encryption_key is not None:
        key_arn = _known(encryption_key.key_arn)
        if key_arn is not None:
            problems += rules.check_kms_key_arn("encryption_key", key_arn, account=account, region=region)
        else:
            key_account = _known(encryption_key.env.account)
            if account and key_account and key_account != account:
                problems.append(f"encryption_key is in account {key_account}, not in the stack's account {account}")
    if bucket is not None:
        bucket_account = _known(bucket.env.account)
        if account and bucket_account and bucket_account != account:
            problems.append(
                f"bucket {rules.show(_known(bucket.bucket_name) or bucket.node.path)} is in account {bucket_account}, "
                f"not in the stack's account {account}: Forecast's role may only write to buckets of its own account"
            )
    problems += rules.check_tags("tags", known_tags(tags))
    if timeout.is_unresolved():
        problems.append(
            "timeout is a deploy-time value (a token, such as a CfnParameter); it must be known at synth time because "
            f"the custom resource's ServiceTimeout is timeout + {rules.CLEANUP_MARGIN_SECONDS} s and CloudFormation "
            "cannot add numbers: pass cdk.Duration.minutes(<n>)"
        )
    else:
        problems += rules.check_timeout("timeout", timeout.to_seconds())
    if _known(polling) is not None and polling not in rules.POLLING_MODES:
        problems.append(f"polling {rules.show(polling)} must be PollingMode.FAST or PollingMode.ECONOMY")
    return problems


def environment_agnostic_values(
    stack: cdk.Stack, *, forecast_arn: str, encryption_key: kms.IKey | None
) -> tuple[list[str], list[str]]:
    """What the stack does not know (``account``, ``region``), and the props whose fixed ARNs name them.

    An environment-agnostic stack (no ``env``, or only an account) resolves its account and region at deploy
    time, so a literal forecast ARN or key ARN can be checked against them only by the handler."""
    unknown = [name for name, value in (("account", stack.account), ("region", stack.region)) if _known(value) is None]
    fixed = []
    if _known(forecast_arn) is not None:
        fixed.append("forecast_arn")
    if encryption_key is not None and not _is_alias(encryption_key) and _known(encryption_key.key_arn) is not None:
        fixed.append("encryption_key")
    return unknown, fixed
