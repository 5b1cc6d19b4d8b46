"""Synth-time checks of ForecastExport props: the same rules the handler applies at deploy time.

Values that are still tokens (known only at deploy time) are skipped here; the handler checks them.
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
    if encryption_key is not None:
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
    if all(_known(k) is not None and _known(v) is not None for k, v in tags.items()):
        problems += rules.check_tags("tags", dict(tags))
    if not timeout.is_unresolved():
        problems += rules.check_timeout("timeout", timeout.to_seconds())
    return problems
