"""Apps the tests synthesize: the example app and a stack that uses every prop."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_forecast_export import ExportFormat, ForecastExport, ForecastExportHandlerOptions

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "111122223333"
REGION = "us-east-1"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)
FORECAST_ARN = f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast/demand_forecast"
NO_BUNDLING = {"aws:cdk:bundling-stacks": []}


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((REPO / "cdk.json").read_text())["context"])


def synth(
    build: Callable[[cdk.App], cdk.Stack], outdir: Path, *, bundle: bool = False, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Synthesize one stack and return its template as CloudFormation would read it."""
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), **(context or {}), **({} if bundle else NO_BUNDLING)})
    stack = build(app)
    assembly = app.synth()
    return dict(assembly.get_stack_by_name(stack.stack_name).template)


EVERY_PROP_STACK = "EveryProp"


def every_prop_stack(app: cdk.App, name: str = EVERY_PROP_STACK) -> cdk.Stack:
    """Own bucket and passed-in bucket, with and without a key, tags, PARQUET and RETAIN."""
    stack = cdk.Stack(app, name, env=ENV)
    key = kms.Key(stack, "ExportKey", enable_key_rotation=True)
    shared_bucket = s3.Bucket(
        stack,
        "SharedBucket",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        versioned=True,
        server_access_logs_prefix="access-logs/",
    )
    ForecastExport(stack, "Plain", forecast_arn=FORECAST_ARN)
    ForecastExport(
        stack,
        "EncryptedOwnBucket",
        forecast_arn=FORECAST_ARN,
        export_job_name="encrypted_daily",
        encryption_key=key,
        format=ExportFormat.PARQUET,
        tags={"team": "demand", "cost-center": "42"},
    )
    retained = ForecastExport(
        stack,
        "IntoSharedBucket",
        forecast_arn=f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast/weekly_forecast",
        bucket=shared_bucket,
        prefix="exports/weekly",
        encryption_key=key,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        timeout=cdk.Duration.minutes(20),
    )
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    retained.grant_read(reader)
    return stack


def opt_in_stack(app: cdk.App, name: str = "OptIns") -> cdk.Stack:
    """The explicit opt-ins: access logs for the new bucket, destroying it with the stack, a longer expiry of old
    versions, and handler settings (memory, reserved concurrency, log retention, a log key)."""
    stack = cdk.Stack(app, name, env=ENV)
    logs_bucket = s3.Bucket(
        stack,
        "AccessLogs",
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        versioned=True,
    )
    # A log bucket does not log to another bucket; this is the test app's own bucket, not the construct's.
    logs_bucket.node.default_child.add_metadata(  # type: ignore[union-attr]
        "checkov", {"skip": [{"id": "CKV_AWS_18", "comment": "the access-log bucket itself"}]}
    )
    log_key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    ForecastExport(
        stack,
        "Scratch",
        forecast_arn=FORECAST_ARN,
        destroy_bucket_with_stack=True,
        access_logs_bucket=logs_bucket,
        noncurrent_version_expiration=cdk.Duration.days(90),
        handler_options=ForecastExportHandlerOptions(
            memory_size=256,
            reserved_concurrent_executions=5,
            log_retention=logs.RetentionDays.ONE_YEAR,
            log_encryption_key=log_key,
        ),
    )
    return stack


def shared_provider_stacks(app: cdk.App) -> cdk.Stack:
    """A provider stack and a team stack whose exports use it; returns the team stack."""
    from aws_cdk import aws_iam as iam
    from cdk_forecast_export import ForecastExportProvider

    shared = cdk.Stack(app, "SharedProvider", env=ENV)
    provider = ForecastExportProvider(shared, "Provider", role_path="/platform/")
    team = cdk.Stack(app, "TeamExports", env=ENV)
    cdk.Tags.of(team).add("costcenter", "42")
    cdk.Tags.of(team).add("team", "from-scope")
    iam.PermissionsBoundary.of(app).apply(iam.ManagedPolicy.from_managed_policy_name(team, "Boundary", "platform-boundary"))
    key = kms.Key(team, "Key", enable_key_rotation=True)
    ForecastExport(
        team,
        "Daily",
        forecast_arn=FORECAST_ARN,
        tags={"team": "demand"},
        provider=provider,
        encryption_key=key,
        role_path="/platform/",
    )
    ForecastExport(team, "Weekly", forecast_arn=FORECAST_ARN.replace("demand_forecast", "weekly_forecast"), provider=provider)
    return team


def load_yaml_template(path: Path) -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, problems = decode_str(path.read_text())
    assert not problems, problems
    return json.loads(json.dumps(template))


def example_variant(outdir: Path, **context: Any) -> dict[str, Any]:
    """The example app synthesized (without bundling) with other settings, as a user would with
    ``cdk synth -c exportJobName=...``: the handler's policies change along with the properties."""
    sys_path = str(REPO)
    import sys

    sys.path.insert(0, sys_path)
    try:
        from app import build_app
    finally:
        sys.path.remove(sys_path)
    return synth(build_app, outdir, context=context)


def exports_stack(names: list[str], name: str = "ForecastExportExample") -> Callable[[cdk.App], cdk.Stack]:
    """A build function: the example's stack with one export per name (same handler, same policy shard)."""

    def build(app: cdk.App) -> cdk.Stack:
        stack = cdk.Stack(app, name, env=ENV)
        for export_name in names:
            ForecastExport(
                stack,
                f"Export{export_name.title().replace('_', '')}",
                forecast_arn=FORECAST_ARN,
                export_job_name=export_name,
                tags={"purpose": "example"},
            )
        return stack

    return build
