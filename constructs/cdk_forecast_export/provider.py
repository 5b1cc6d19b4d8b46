"""ForecastExportProvider: the handler deployed once and shared, by CDK stacks and plain templates."""

from __future__ import annotations

import aws_cdk as cdk

from constructs import Construct

from .handler_function import ForecastExportHandler

DEFAULT_EXPORT_PREFIX = "ForecastExportProvider"


class ForecastExportProvider(Construct):
    """Deploys the custom resource handler once, typically in a stack of its own per account and region.

    It exports ``<export_prefix>-ServiceToken`` (the handler's ARN) and ``<export_prefix>-RoleName``
    (its role, to which each export attaches a policy for its own forecast, job, role and key).
    ``ForecastExport(..., provider=provider)`` uses it from any stack of the same app; a plain
    CloudFormation template uses ``!ImportValue`` (see ``examples/plain-cloudformation.yaml``).
    """

    def __init__(
        self, scope: Construct, id_: str, *, export_prefix: str = DEFAULT_EXPORT_PREFIX, role_path: str | None = None
    ) -> None:
        """
        :param export_prefix: prefix of the CloudFormation export names. Default ``ForecastExportProvider``.
        :param role_path: IAM path of the handler's role. Default ``/``.
        """
        super().__init__(scope, id_)
        self.handler = ForecastExportHandler(self, "Handler", role_path=role_path)
        self.export_prefix = export_prefix
        cdk.CfnOutput(
            self,
            "ServiceToken",
            value=self.handler.service_token,
            export_name=f"{export_prefix}-ServiceToken",
            description="ServiceToken for Custom::ForecastExportJob",
        )
        cdk.CfnOutput(
            self,
            "RoleName",
            value=self.handler.role.role_name,
            export_name=f"{export_prefix}-RoleName",
            description="Attach each export's permissions to this role",
        )

    @property
    def service_token(self) -> str:
        return self.handler.service_token
