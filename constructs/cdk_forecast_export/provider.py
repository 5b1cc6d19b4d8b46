"""ForecastExportProvider: the handler deployed once and shared, by CDK stacks and plain templates."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from constructs import Construct

from .errors import ForecastExportTypeError, ForecastExportValidationError
from .handler_function import ForecastExportHandler
from .prop_types import TEXT, TypeChecks

DEFAULT_EXPORT_PREFIX = "ForecastExportProvider"


class ForecastExportProvider(Construct):
    """Deploys the custom resource handler once, typically in a stack of its own per account and region.

    It exports ``<export_prefix>-ServiceToken`` (the handler's ARN) and ``<export_prefix>-RoleArn``
    (its role: each stack's access role trusts it, bound to that stack by a session tag). Nothing is
    attached to the provider's role, and its stack never changes when teams add exports.
    ``ForecastExport(..., provider=provider)`` uses it from any stack of the same app in the same account and
    region (through those exports); a plain CloudFormation template uses ``!ImportValue`` (see
    ``examples/plain-cloudformation.yaml``). Export names are unique per account and region: a second
    provider there needs another ``export_prefix``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        export_prefix: str = DEFAULT_EXPORT_PREFIX,
        role_path: str | None = None,
        memory_size: int | None = None,
        reserved_concurrent_executions: int | None = None,
        log_retention: logs.RetentionDays | None = None,
        log_encryption_key: kms.IKey | None = None,
        state_encryption_key: kms.IKey | None = None,
    ) -> None:
        """
        :param export_prefix: prefix of the CloudFormation export names (``<prefix>-ServiceToken``,
            ``<prefix>-RoleArn``); unique per account and region. Default ``ForecastExportProvider``.
        :param role_path: IAM path of the handler's role. Default ``/``.
        :param memory_size: memory of the handler function in MB, 128-10240. Default 128.
        :param reserved_concurrent_executions: concurrency reserved for the handler, at least 1. Default: none (the
            account's unreserved concurrency is shared). Worth setting when other functions can saturate the
            account: every team's deploys wait on this one handler (README, "Handler settings").
        :param log_retention: how long the handler's log group keeps its logs. Default
            ``logs.RetentionDays.THREE_MONTHS``.
        :param log_encryption_key: KMS key of the handler's log group (same region); a key of this app gets a key
            policy statement letting CloudWatch Logs use it. Default: none (CloudWatch Logs' own encryption).
        :param state_encryption_key: KMS key of the handler's DynamoDB state table (same region); the handler's role
            may use it, and a key of this stack lets the role use it in its key policy. Default: none (DynamoDB's
            AWS owned key, free).
        """
        super().__init__(scope, id_)
        checks = TypeChecks()
        checks.expect("export_prefix", export_prefix, TEXT)
        checks.expect("role_path", role_path, TEXT, optional=True)
        if checks.problems:
            raise ForecastExportTypeError(self.node.path, checks.problems, construct="ForecastExportProvider")
        self._refuse_a_second_provider_with(export_prefix)
        self.export_prefix = export_prefix
        self.handler = ForecastExportHandler(
            self,
            "Handler",
            role_path=role_path,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrent_executions,
            log_retention=log_retention,
            log_encryption_key=log_encryption_key,
            state_encryption_key=state_encryption_key,
        )
        # Access roles in other stacks trust the handler's role through this named export, not through a
        # reference CDK would export a second time (see ForecastExport).
        self.handler.role_arn_export = self.role_arn_export
        cdk.CfnOutput(
            self,
            "ServiceToken",
            value=self.handler.service_token,
            export_name=f"{export_prefix}-ServiceToken",
            description="ServiceToken for Custom::ForecastExportJob",
        )
        cdk.CfnOutput(
            self,
            "RoleArn",
            value=self.handler.role.role_arn,
            export_name=f"{export_prefix}-RoleArn",
            description="The handler's role: each stack's access role trusts it for that stack only",
        )

    @property
    def service_token(self) -> str:
        """The handler's ARN, for stacks of the same environment (other stacks import ``service_token_export``)."""
        return self.handler.service_token

    @property
    def service_token_export(self) -> str:
        return f"{self.export_prefix}-ServiceToken"

    @property
    def role_arn_export(self) -> str:
        return f"{self.export_prefix}-RoleArn"

    def _refuse_a_second_provider_with(self, export_prefix: str) -> None:
        """CloudFormation export names are unique per account and region: a second provider with the same prefix
        in the same environment would fail to deploy, so say so at synth."""
        environment = cdk.Stack.of(self).environment
        for other in self.node.root.node.find_all():
            if (
                isinstance(other, ForecastExportProvider)
                and other.node.path != self.node.path
                and getattr(other, "export_prefix", None) == export_prefix
                and cdk.Stack.of(other).environment == environment
            ):
                raise ForecastExportValidationError(
                    self.node.path,
                    [
                        f"export_prefix {export_prefix!r} is already used by the ForecastExportProvider {other.node.path} "
                        f"in the same environment ({environment}); both would export {export_prefix}-ServiceToken and "
                        "the second deploy would fail. Share that provider, or give this one another export_prefix",
                    ],
                    construct="ForecastExportProvider",
                )
