"""The Lambda function behind every ForecastExport in a stack, created once and shared."""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct

from ._lambda.forecast_export import contract
from ._lambda.forecast_export.contract import ACCESS_ROLE_PATH
from .access import ExportAccess
from .bundling import HANDLER_ENTRY, HANDLER_ROOT, LocalHandlerBundling
from .compliance import CHECKOV_FUNCTION_SKIPS, acknowledge_wildcard_resource, skip_checkov

HANDLER_ID = "ForecastExportHandler"
RUNTIME = lambda_.Runtime.PYTHON_3_14
FUNCTION_TIMEOUT = cdk.Duration.seconds(contract.FUNCTION_TIMEOUT_SECONDS)
# Lambda's maximum (6 h): a request held in a saturated account's queue is still handled while CloudFormation
# waits for it; the handler ignores what CloudFormation no longer confirms (late copies, cancelled requests).
MAX_EVENT_AGE = cdk.Duration.seconds(contract.MAX_EVENT_AGE_SECONDS)


class ForecastExportHandler(Construct):
    """The custom resource handler: one per stack, found again with ``ForecastExportHandler.of``.

    Its role holds only what the handler needs for itself: its own log group, its own EventBridge
    rules, and assuming the access roles (``ExportAccess``) of the stacks whose exports it runs. The
    Forecast, PassRole and KMS permissions live in each stack's access role, which the handler
    assumes with a session tag naming the requesting stack.
    """

    @classmethod
    def of(cls, scope: Construct) -> ForecastExportHandler:
        """The handler of ``scope``'s stack, created with the stack's first ForecastExport."""
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(HANDLER_ID)
        if isinstance(existing, ForecastExportHandler):
            return existing
        return cls(stack, HANDLER_ID)

    def __init__(self, scope: Construct, id_: str, *, role_path: str | None = None) -> None:
        """
        :param role_path: IAM path for the handler's role, to follow the platform's naming conventions.
            Default: ``/``.
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        self.rule_prefix = contract.RULE_PREFIX_ROOT + hashlib.sha256(self.node.path.encode()).hexdigest()[:8] + "-"
        # Set by ForecastExportProvider: the export holding the role's ARN, which other stacks import.
        self.role_arn_export: str | None = None

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=logs.RetentionDays.THREE_MONTHS,
            # Kept after the stack is gone: the logs of the final Delete are what explains it. A first deploy that
            # rolls back removes it (RetainExceptOnCreate); its reasons are in the stack events.
            removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), path=role_path)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        own_rules = stack.format_arn(service="events", resource="rule", resource_name=f"{self.rule_prefix}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageOwnPollingRules",
                actions=[
                    "events:ListTargetsByRule",
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                ],
                resources=[own_rules],
            )
        )
        acknowledge_wildcard_resource(self.role, own_rules, "polling-rule-wildcard")
        # Read-only, on the account's stacks: the handler acts only on requests CloudFormation confirms
        # (lambda/forecast_export/confirmation.py).
        stacks = stack.format_arn(service="cloudformation", resource="stack", resource_name="*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ConfirmRequestsWithCloudFormation",
                actions=["cloudformation:DescribeStackResource", "cloudformation:DescribeStackEvents"],
                resources=[stacks],
            )
        )
        acknowledge_wildcard_resource(self.role, stacks, "stack-read-wildcard")
        access_roles = stack.format_arn(
            service="iam", region="", resource="role", resource_name=f"{ACCESS_ROLE_PATH.strip('/')}/*"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ActForRequestingStack",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[access_roles],
            )
        )
        acknowledge_wildcard_resource(self.role, access_roles, "access-role-wildcard")
        skip_checkov(self.log_group.node.default_child, {"CKV_AWS_158": "log-group-kms"})  # type: ignore[arg-type]
        self.function = lambda_.Function(
            self,
            "Function",
            description="Creates, waits for and deletes Amazon Forecast export jobs (cdk-forecast-export)",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER_ENTRY,
            code=lambda_.Code.from_asset(
                str(HANDLER_ROOT),
                exclude=["**/__pycache__", "**/*.pyc"],
                bundling=cdk.BundlingOptions(image=RUNTIME.bundling_image, local=LocalHandlerBundling()),
            ),
            memory_size=128,
            timeout=FUNCTION_TIMEOUT,
            # Lambda runs an event again only when the handler fails the invocation on purpose (RetryLater:
            # CloudFormation's reads stayed throttled); every other failure is answered to CloudFormation.
            retry_attempts=2,
            max_event_age=MAX_EVENT_AGE,
            role=self.role,
            log_group=self.log_group,
            environment={contract.RULE_PREFIX_ENVIRONMENT: self.rule_prefix},
        )
        function_resource: cdk.CfnResource = self.function.node.default_child  # type: ignore[assignment]
        skip_checkov(function_resource, CHECKOV_FUNCTION_SKIPS)
        # aws-cdk-lib's Function adds DependsOn on the role it also references; cfn-lint calls that redundant.
        function_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        # One permission for all of this handler's polling rules, instead of crhelper's statement per
        # request, which would overflow Lambda's 20 KB resource policy with many exports in flight.
        self.function.add_permission(
            "PollingRulesMayInvoke",
            principal=iam.ServicePrincipal("events.amazonaws.com"),
            action="lambda:InvokeFunction",
            source_arn=own_rules,
            source_account=stack.account,
        )
        self.polling_permission = self.function.node.find_child("PollingRulesMayInvoke")

    @property
    def service_token(self) -> str:
        """The handler function's ARN: the custom resources' ``ServiceToken``."""
        return self.function.function_arn

    def role_arn_seen_from(self, stack: cdk.Stack) -> str:
        """The handler role's ARN for a trust policy in ``stack``: a reference in its own stack, the
        provider's named export elsewhere (no reference that CDK would export a second time)."""
        if stack is cdk.Stack.of(self) or self.role_arn_export is None:
            return self.role.role_arn
        return cdk.Fn.import_value(self.role_arn_export)

    def access_for(self, stack: cdk.Stack) -> ExportAccess:
        """The access role this handler assumes for ``stack``'s exports (created with the first export)."""
        return ExportAccess.of(stack, self.node.path, self.role_arn_seen_from(stack))
