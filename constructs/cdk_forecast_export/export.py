"""ForecastExport: one Amazon Forecast export job as a CloudFormation resource."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

import constructs
from constructs import Construct

from ._lambda.forecast_export import contract, rules
from ._lambda.forecast_export.naming import BASE_MAX_LENGTH
from .bucket_lifecycle import DEFAULT_NONCURRENT_VERSION_EXPIRATION, check_noncurrent_version_expiration, lifecycle_rules
from .compliance import acknowledge, acknowledge_wildcard_resource, annotate_auto_delete_provider, skip_checkov
from .destinations import DestinationRegistry
from .errors import ForecastExportTypeError, ForecastExportValidationError
from .handler_function import ForecastExportHandler
from .handler_settings import ForecastExportHandlerOptions
from .prop_types import BOOL, BUCKET, DURATION, KEY, ROLE, TEXT, TypeChecks, instance_of
from .provider import ForecastExportProvider
from .removal import REMOVAL_POLICY, RemovalPolicyProperty, SnapshotCheck, check_supported
from .validation import collect_problems, environment_agnostic_values, known_tags


class ExportFormat(str, Enum):
    """The format of the exported files (CreateForecastExportJob's ``Format``)."""

    CSV = "CSV"
    """Comma-separated values (Forecast's default)."""
    PARQUET = "PARQUET"
    """Apache Parquet."""


class PollingMode(str, Enum):
    """Deprecated. Kept so existing code and deployed templates keep working; both values now mean
    the same. The handler makes one short look per Forecast state-change event of the job (the answer
    goes out within seconds of ACTIVE) plus one a minute as the fallback for lost events: as fast as
    ``FAST`` was and as cheap as ``ECONOMY`` was. ``FAST`` no longer polls inside each invocation."""

    FAST = "Fast"
    """Deprecated: the same as ECONOMY now (one look per Forecast event, plus one a minute)."""
    ECONOMY = "Economy"
    """Deprecated: the same as FAST now."""


RESOURCE_TYPE = contract.RESOURCE_TYPE
DEFAULT_TIMEOUT = cdk.Duration.seconds(rules.TIMEOUT_DEFAULT_SECONDS)
POLLING_DEPRECATION = "cdk-forecast-export.ForecastExport#polling"
ENVIRONMENT_AGNOSTIC_WARNING = "cdk-forecast-export:environmentAgnostic"
PROVIDER = instance_of(ForecastExportProvider, "a ForecastExportProvider")
HANDLER_OPTIONS = instance_of(ForecastExportHandlerOptions, "a ForecastExportHandlerOptions")


def default_job_name(scope: Construct) -> str:
    """A valid base name from the construct's path inside its stack, e.g. ``Reports_DailyExport``."""
    stack_path = cdk.Stack.of(scope).node.path
    relative = scope.node.path[len(stack_path) :].strip("/")
    name = re.sub(r"[^a-zA-Z0-9_]", "_", relative)
    if not name or not name[0].isalpha():
        name = "export_" + name
    return name[:BASE_MAX_LENGTH]


@jsii.implements(cdk.IStableAnyProducer)
class _JobTags:
    """The job's Tags property: tags from ``Tags.of(scope).add(...)`` merged with the ``tags`` prop (prop wins)."""

    def __init__(self, manager: cdk.TagManager, own: Mapping[str, str]) -> None:
        self._manager = manager
        self._own = dict(own)

    def merged(self) -> dict[str, str]:
        inherited = {str(t["Key"]): str(t["Value"]) for t in (self._manager.render_tags() or [])}
        return {**inherited, **self._own}

    def produce(self) -> Any:
        merged = self.merged()
        return [{"Key": k, "Value": v} for k, v in sorted(merged.items())] or None


@jsii.implements(constructs.IValidation)
class _MergedTagsCheck:
    def __init__(self, tags: _JobTags) -> None:
        self._tags = tags

    def validate(self) -> list[str]:
        # Keys and values known only at deploy time (a CfnParameter) are left to the handler.
        return rules.check_tags("tags (with those from Tags.of)", known_tags(self._tags.merged()))


@jsii.implements(cdk.ITaggable)
class ForecastExport(Construct):
    """An Amazon Forecast export job that exists once its files are in S3.

    ``cdk deploy`` creates the job and waits until it is ACTIVE (failing, with Forecast's message,
    when it is not); ``cdk destroy`` deletes it (a job still running is stopped and kept: Forecast does
    not delete stopped jobs). The exported files stay in the bucket.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        forecast_arn: str,
        export_job_name: str | None = None,
        format: ExportFormat | str = ExportFormat.CSV,  # noqa: A002 - mirrors the API's Format
        bucket: s3.IBucket | None = None,
        prefix: str | None = None,
        encryption_key: kms.IKey | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        timeout: cdk.Duration = DEFAULT_TIMEOUT,
        destroy_bucket_with_stack: bool = False,
        access_logs_bucket: s3.IBucket | None = None,
        provider: ForecastExportProvider | None = None,
        role_name: str | None = None,
        role_path: str | None = None,
        polling: PollingMode | str | None = None,
        role: iam.IRole | None = None,
        run_id: str | None = None,
        handler_options: ForecastExportHandlerOptions | None = None,
        noncurrent_version_expiration: cdk.Duration | None = DEFAULT_NONCURRENT_VERSION_EXPIRATION,
    ) -> None:
        """
        :param forecast_arn: ARN of the forecast to export (same account and region as the stack).
        :param export_job_name: base name of the export job: 1-50 characters, a letter first, then
            letters, digits, underscores (a longer name is refused, not cut). The handler appends
            ``_<owner><key>`` (13 characters: the stack's 8-character owner marker and a 4-character key
            for the settings that need a new job), reaching Forecast's 63. May be a token (checked at
            deploy time). Default: this construct's path in the stack, other characters turned into
            ``_``, cut to 50 characters.
        :param format: ``ExportFormat.CSV`` (default) or ``ExportFormat.PARQUET``.
        :param bucket: where the files go. Default: a new bucket with public access blocked,
            TLS-only access, versioning, S3-managed encryption (or ``encryption_key``), retained
            when the stack is deleted (``RetainExceptOnCreate``: removed if the stack's first deploy rolls back).
            Two exports of one app may not share a bucket and prefix.
        :param prefix: key prefix under the bucket. Default: ``forecast-exports/<export job name>``.
        :param encryption_key: KMS key for the exported files. Forecast's role and the handler may
            use it; a new bucket is encrypted with it. A key, not a ``kms.Alias``. Default: none (S3-managed
            encryption).
        :param tags: tags for the export job (at most 50). Default: none.
        :param removal_policy: what happens to the job when CloudFormation would remove it, as for any CDK
            resource (the custom resource's DeletionPolicy and UpdateReplacePolicy): ``DESTROY`` (default)
            deletes it on stack delete, replacement and rollback; ``RETAIN`` keeps it always;
            ``RETAIN_ON_UPDATE_OR_DELETE`` keeps it except when the deploy that created it rolls back.
            ``SNAPSHOT`` is refused. Exported files are never deleted by this.
        :param timeout: how long to wait for ACTIVE before stopping the job and failing the deploy;
            60 s to 3300 s so the handler always answers before CloudFormation's 3600 s. Must be known at synth
            time (no token): ``ServiceTimeout`` is ``timeout`` + 300 s. Default 50 minutes.
        :param destroy_bucket_with_stack: only for a new bucket: delete the bucket *and every
            exported file in it* when the stack is deleted. Default False: the bucket is retained.
        :param noncurrent_version_expiration: only for a new bucket: how long an exported file's old version is
            kept after the file is overwritten or deleted (the bucket is versioned); whole days. ``None`` keeps old
            versions for good. Default 30 days.
        :param access_logs_bucket: only for a new bucket: where S3 server access logs go. Default:
            none (cdk-nag's S1 and checkov's CKV_AWS_18 are acknowledged with the reason).
        :param provider: a shared ``ForecastExportProvider`` (same stack or another stack of the same
            account and region). Default: one handler per stack, shared by every ForecastExport in it.
        :param role_name: name of the role Forecast assumes. Default: generated by CloudFormation.
        :param role_path: IAM path of that role. Default ``/``.
        :param role: a role Forecast assumes that your platform made (same account). It must trust
            ``forecast.amazonaws.com`` and allow ``s3:PutObject`` under the export's prefix,
            ``s3:ListBucket`` and ``s3:GetBucketLocation`` on the bucket, and with a key
            ``kms:GenerateDataKey`` and ``kms:Decrypt`` on it. If it is an ``iam.Role`` of this app, the
            construct adds those statements (as a policy of this export); an imported role is left
            untouched. Default: a new role with exactly those permissions.
        :param run_id: change it to run the export again (a new job, in a new folder) without changing its
            name or destination; at most 128 characters. Default: none.
        :param handler_options: memory, reserved concurrency, log retention and log key of the stack's own
            handler, which every export of the stack shares: exports that pass them must pass the same (a
            conflict is refused, naming both exports). Not with ``provider`` (set them on the provider). Default:
            whatever another export of the stack passed, else ``ForecastExportHandlerOptions()`` (128 MB, no
            reserved concurrency, logs kept three months, CloudWatch Logs' own encryption).
        :param polling: deprecated and without effect (a deprecation warning at synth; nothing reaches the
            template): the handler makes one look per Forecast state-change event plus one a minute (the
            fallback for lost events). Default: none.
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        checks = TypeChecks()
        checks.expect("forecast_arn", forecast_arn, TEXT)
        checks.expect("export_job_name", export_job_name, TEXT, optional=True)
        checks.expect("format", format, TEXT)  # an ExportFormat is a str
        checks.expect("bucket", bucket, BUCKET, optional=True)
        checks.expect("prefix", prefix, TEXT, optional=True)
        checks.expect("encryption_key", encryption_key, KEY, optional=True)
        checks.expect_tags("tags", tags)
        checks.expect("removal_policy", removal_policy, REMOVAL_POLICY)
        checks.expect("timeout", timeout, DURATION)
        checks.expect("destroy_bucket_with_stack", destroy_bucket_with_stack, BOOL)
        checks.expect("access_logs_bucket", access_logs_bucket, BUCKET, optional=True)
        checks.expect("provider", provider, PROVIDER, optional=True)
        checks.expect("role_name", role_name, TEXT, optional=True)
        checks.expect("role_path", role_path, TEXT, optional=True)
        checks.expect("polling", polling, TEXT, optional=True)  # a PollingMode is a str
        checks.expect("role", role, ROLE, optional=True)
        checks.expect("run_id", run_id, TEXT, optional=True)
        checks.expect("handler_options", handler_options, HANDLER_OPTIONS, optional=True)
        checks.expect("noncurrent_version_expiration", noncurrent_version_expiration, DURATION, optional=True)
        if checks.problems:  # the checks below would fail on them with raw errors
            raise ForecastExportTypeError(self.node.path, checks.problems)

        format_value = format.value if isinstance(format, ExportFormat) else str(format)
        polling_value = polling.value if isinstance(polling, PollingMode) else polling
        base_name = export_job_name if export_job_name is not None else default_job_name(self)
        key_prefix = prefix if prefix is not None else f"forecast-exports/{base_name}"
        tag_map = dict(tags or {})

        problems = collect_problems(
            stack,
            forecast_arn=forecast_arn,
            export_job_name=export_job_name,
            format_value=format_value,
            prefix=key_prefix,
            bucket=bucket,
            encryption_key=encryption_key,
            tags=tag_map,
            timeout=timeout,
            polling=polling_value,
        )
        problems += check_supported("removal_policy", removal_policy)
        if bucket is not None and destroy_bucket_with_stack:
            problems.append(
                "destroy_bucket_with_stack applies only to the bucket this construct creates, not to a passed-in bucket"
            )
        if provider is not None and cdk.Stack.of(provider).environment != stack.environment:
            problems.append(
                f"provider {provider.node.path} is in {cdk.Stack.of(provider).environment}, this export's stack in "
                f"{stack.environment}: the handler runs in the export's account and region. Use a "
                "ForecastExportProvider in a stack of that account and region (or no provider: one handler per stack)"
            )
        if run_id is not None and not cdk.Token.is_unresolved(run_id) and not 1 <= len(run_id) <= 128:
            problems.append(f"run_id {rules.show(run_id)} is {len(run_id)} characters; it must be 1-128")
        if role is not None and (role_name is not None or role_path is not None):
            problems.append("role_name and role_path name the role this construct creates; with role, leave them out")
        if bucket is not None and access_logs_bucket is not None:
            problems.append(
                "access_logs_bucket applies only to the bucket this construct creates; configure logging on your own bucket"
            )
        problems += check_noncurrent_version_expiration(noncurrent_version_expiration, bucket_given=bucket is not None)
        if handler_options is not None:
            problems += handler_options.problems(stack, "handler_options.")
            if provider is not None:
                problems.append(
                    f"handler_options configure the stack's own handler; this export uses the provider {provider.node.path}: "
                    "set memory_size, reserved_concurrent_executions, log_retention and log_encryption_key on it"
                )
        if problems:
            raise ForecastExportValidationError(self.node.path, problems)
        if polling is not None:
            cdk.Annotations.of(self).add_deprecation(
                POLLING_DEPRECATION,
                "the handler looks at every job once per Forecast state-change event and once a minute, so polling has "
                "no effect (and is no longer written to the template); remove it",
            )
        self._warn_if_environment_agnostic(stack, forecast_arn, encryption_key)

        key_prefix = key_prefix.rstrip("/")
        self.encryption_key = encryption_key
        """The KMS key of the exported files, or None (S3-managed encryption)."""
        self.bucket: s3.IBucket = (
            bucket
            if bucket is not None
            else self._new_bucket(encryption_key, destroy_bucket_with_stack, access_logs_bucket, noncurrent_version_expiration)
        )
        """The bucket the files go to: the one passed in, or the one this construct created."""
        self.prefix = key_prefix
        """The key prefix under the bucket (no trailing slash); each job writes into ``<prefix>/<job name>/``."""
        DestinationRegistry.of(self).register(self, self.bucket, key_prefix)
        prefix_path = f"s3://{self.bucket.bucket_name}/{key_prefix}/" if key_prefix else f"s3://{self.bucket.bucket_name}/"
        self.prefix_path: str = prefix_path
        """``s3://<bucket>/<prefix>/``: every job of this export writes into a folder of its own below it."""
        self.role: iam.IRole = (
            self._forecast_role(stack, key_prefix, encryption_key, role_name, role_path) if role is None else role
        )
        """The role Forecast assumes to write the files: the one passed in, or the one this construct created."""
        if isinstance(role, iam.Role):
            role.attach_inline_policy(
                iam.Policy(self, "ForecastRolePolicy", statements=self._export_statements(key_prefix, encryption_key))
            )

        self.handler = provider.handler if provider is not None else ForecastExportHandler.of(self, handler_options)
        """The ForecastExportHandler that runs this export (the stack's own, or the shared provider's)."""
        access = self.handler.access_for(stack)
        access_policies = access.grant_export(forecast_arn=forecast_arn, role=self.role, key=encryption_key)
        self.access_role: iam.IRole = access.role
        """The stack's access role, which the handler assumes to act for this stack (README, IAM permissions)."""

        s3_config: dict[str, str] = {"Path": prefix_path, "RoleArn": self.role.role_arn}
        if encryption_key is not None:
            s3_config["KMSKeyArn"] = encryption_key.key_arn
        properties: dict[str, object] = {
            "ForecastExportJobName": base_name,
            "ForecastArn": forecast_arn,
            "Destination": {"S3Config": s3_config},
            "Format": format_value,
            "TimeoutSeconds": str(int(timeout.to_seconds())),
            # The role the handler assumes to act for this stack (see access.py).
            contract.ACCESS_ROLE_PROPERTY: access.role.role_arn,
            # Each job writes into <prefix>/<job name>/: a replacement's files never mix with the previous job's.
            contract.JOB_FOLDER_PROPERTY: "true",
        }
        if run_id is not None:
            properties[contract.RUN_ID_PROPERTY] = run_id
        self._tag_manager = cdk.TagManager(cdk.TagType.KEY_VALUE, RESOURCE_TYPE)
        job_tags = _JobTags(self._tag_manager, tag_map)
        properties["Tags"] = cdk.Lazy.any(job_tags)
        self.node.add_validation(_MergedTagsCheck(job_tags))
        service_token = self.handler.service_token
        if provider is not None and cdk.Stack.of(provider) is not stack:
            # The provider's own export, not a reference that CDK would export a second time (strongly).
            service_token = cdk.Fn.import_value(provider.service_token_export)
            stack.add_stack_dependency(cdk.Stack.of(provider), "ForecastExport uses the provider's exports")
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            service_timeout=cdk.Duration.seconds(timeout.to_seconds() + rules.CLEANUP_MARGIN_SECONDS),
            removal_policy=removal_policy,
        )
        """The ``Custom::ForecastExportJob`` resource (physical ID: the export job's ARN)."""
        cfn_resource = self.resource.node.default_child
        assert isinstance(cfn_resource, cdk.CfnResource)
        # Written from the DeletionPolicy when the template is, so the handler and CloudFormation agree (removal.py).
        cfn_resource.add_property_override(contract.REMOVAL_POLICY_PROPERTY, cdk.Lazy.string(RemovalPolicyProperty(cfn_resource)))
        self.node.add_validation(SnapshotCheck(cfn_resource))
        # The handler needs its permissions, state table and triggers, and Forecast the bucket policy, before the job
        # starts; CloudFormation deletes them only after this resource's Delete is answered. (Forecast's role, with
        # its inline policy, and the bucket are referenced already.)
        prerequisites: list[constructs.IConstruct] = list(access_policies)  # (the access role is referenced already)
        if cdk.Stack.of(self.handler) is stack:  # across stacks, CloudFormation orders the stacks instead
            prerequisites += self.handler.prerequisites
        if self.bucket.policy is not None:
            prerequisites.append(self.bucket.policy)
        for prerequisite in prerequisites:
            self.resource.node.add_dependency(prerequisite)

        self.export_job_arn: str = self.resource.get_att_string(contract.JOB_ARN_ATTRIBUTE)
        """The export job's ARN (the custom resource's physical ID), known at deploy time."""
        self.export_job_name: str = self.resource.get_att_string(contract.JOB_NAME_ATTRIBUTE)
        """The job's actual name, ``<base>_<owner><key>``, known at deploy time."""
        self.destination_path: str = self.resource.get_att_string(contract.DESTINATION_ATTRIBUTE)
        """``s3://<bucket>/<prefix>/<job name>/``: exactly this job's files, known at deploy time."""
        self.log_group = self.handler.log_group
        """The handler's log group: one line per look at the job (status, elapsed, deadline)."""

    def apply_removal_policy(self, policy: cdk.RemovalPolicy) -> None:
        """Set what CloudFormation does with the export job on delete and replacement (see ``removal_policy``).

        Sets the custom resource's DeletionPolicy and UpdateReplacePolicy; the RemovalPolicy property the
        handler reads follows them. ``SNAPSHOT``, or anything that is not a ``cdk.RemovalPolicy``, is refused.
        """
        checks = TypeChecks()
        if not checks.expect("removal_policy", policy, REMOVAL_POLICY):
            raise ForecastExportTypeError(self.node.path, checks.problems)
        problems = check_supported("removal_policy", policy)
        if problems:
            raise ForecastExportValidationError(self.node.path, problems)
        self.resource.apply_removal_policy(policy)

    def _warn_if_environment_agnostic(self, stack: cdk.Stack, forecast_arn: str, key: kms.IKey | None) -> None:
        """Fixed ARNs in a stack without a known account or region: their checks wait for the handler."""
        unknown, fixed = environment_agnostic_values(stack, forecast_arn=forecast_arn, encryption_key=key)
        if not (unknown and fixed):
            return
        cdk.Annotations.of(self).add_warning_v2(
            ENVIRONMENT_AGNOSTIC_WARNING,
            f"{' and '.join(fixed)} cannot be checked against the stack's {' and '.join(unknown)} at synth: the stack is "
            "environment-agnostic (no env, or only part of it). The handler checks them at deploy time and fails "
            "the deploy on a mismatch. Give the stack env=cdk.Environment(account=..., region=...) to check them at synth",
        )

    @property
    def tags(self) -> cdk.TagManager:
        """ITaggable: ``Tags.of(scope).add(...)`` reaches the export job's Tags through this."""
        return self._tag_manager

    def _new_bucket(
        self, key: kms.IKey | None, destroy: bool, access_logs: s3.IBucket | None, old_versions: cdk.Duration | None
    ) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            encryption=s3.BucketEncryption.KMS if key is not None else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=key is not None,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Kept for the files in it, except when the stack's first deploy rolls back (nothing was exported).
            removal_policy=cdk.RemovalPolicy.DESTROY if destroy else cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            auto_delete_objects=destroy,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="forecast-export-access-logs/" if access_logs is not None else None,
            lifecycle_rules=lifecycle_rules(old_versions),
        )
        if destroy:
            annotate_auto_delete_provider(self)
        if access_logs is None:
            acknowledge(bucket, "AwsSolutions-S1", "bucket-access-logs")
            skip_checkov(bucket.node.default_child, {"CKV_AWS_18": "bucket-access-logs"})  # type: ignore[arg-type]
        return bucket

    def _forecast_role(
        self, stack: cdk.Stack, key_prefix: str, key: kms.IKey | None, role_name: str | None, role_path: str | None
    ) -> iam.Role:
        source_arn = stack.format_arn(service="forecast", resource="*", arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)
        statements = self._export_statements(key_prefix, key)
        role = iam.Role(
            self,
            "ForecastRole",
            description="Lets Amazon Forecast write one export job's files",
            role_name=role_name,
            path=role_path,
            assumed_by=iam.ServicePrincipal(
                "forecast.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": source_arn},
                },
            ),
            # Inline in the role: one resource less per export (CloudFormation allows 500 per stack),
            # and the policy exists as soon as the role does.
            inline_policies={"ExportFiles": iam.PolicyDocument(statements=statements)},
        )
        return role

    def _export_statements(self, key_prefix: str, key: kms.IKey | None) -> list[iam.PolicyStatement]:
        """What Forecast's role needs for this export: write under the prefix, find the bucket, use the key."""
        objects = self.bucket.arn_for_objects(f"{key_prefix}/*" if key_prefix else "*")
        acknowledge_wildcard_resource(self, objects, "export-files-wildcard")
        statements = [
            iam.PolicyStatement(sid="WriteExportFiles", actions=["s3:PutObject"], resources=[objects]),
            iam.PolicyStatement(
                sid="FindExportBucket", actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[self.bucket.bucket_arn]
            ),
        ]
        if key is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="EncryptExportFiles", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]
                )
            )
        return statements

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list and read the exported files, and decrypt them when there is a key.

        Grants ``s3:GetObject`` on the objects under the prefix, ``s3:ListBucket`` on the bucket limited to the
        prefix (an ``s3:prefix`` condition), and with ``encryption_key`` ``kms:Decrypt``, which the key grants
        itself (its key policy too, for a grantee in another account). Explicit actions only, no ``s3:Get*``.

        :returns: one grant holding all of these statements (``Grant.combine``).
        """
        files = self.bucket.arn_for_objects(f"{self.prefix}/*" if self.prefix else "*")
        if isinstance(grantee, Construct):
            acknowledge_wildcard_resource(grantee, files, "export-files-read-wildcard")
        # An export at the bucket's root owns the whole bucket: nothing to limit the listing to.
        listing = {"StringLike": {"s3:prefix": [f"{self.prefix}/*", self.prefix]}} if self.prefix else None
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=["s3:GetObject"], resource_arns=[files]).combine(
            iam.Grant.add_to_principal(
                grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn], conditions=listing
            )
        )
        if self.encryption_key is not None:
            grant = grant.combine(self.encryption_key.grant(grantee, "kms:Decrypt"))
        return grant
