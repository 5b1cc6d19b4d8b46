"""The Lambda function behind every ForecastExport in a stack, created once and shared."""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct, IConstruct

from ._lambda.forecast_export import contract
from ._lambda.forecast_export.contract import ACCESS_ROLE_PATH
from .access import ExportAccess
from .bundling import HANDLER_ENTRY, HANDLER_ROOT, LocalHandlerBundling
from .compliance import CHECKOV_FUNCTION_SKIPS, acknowledge_wildcard_resource, skip_checkov
from .errors import ForecastExportValidationError
from .handler_settings import (
    DEFAULT_LOG_RETENTION,
    DEFAULT_MEMORY_SIZE,
    RETENTION_IN_DAYS,
    ForecastExportHandlerOptions,
    logs_may_use_key,
)
from .state_table import grant_table_use, state_table, use_state_key
from .triggers import HandlerTriggers

HANDLER_ID = "ForecastExportHandler"
RUNTIME = lambda_.Runtime.PYTHON_3_14
FUNCTION_TIMEOUT = cdk.Duration.seconds(contract.FUNCTION_TIMEOUT_SECONDS)
# Lambda's maximum (6 h): a request held in a saturated account's queue is still handled while CloudFormation
# waits for it; the handler ignores what CloudFormation no longer confirms (late copies, cancelled requests).
MAX_EVENT_AGE = cdk.Duration.seconds(contract.MAX_EVENT_AGE_SECONDS)


class ForecastExportHandler(Construct):
    """The custom resource handler: one per stack, found again with ``ForecastExportHandler.of``.

    It comes with its request state (a DynamoDB table, ``state_table``) and its triggers (a rule for Forecast's
    export-job events, a rule ticking every minute, ``triggers``). Its role holds only what the handler needs
    for itself: its own log group, its own table, invoking itself, reading a previous release's rules, and
    assuming the access roles (``ExportAccess``) of the stacks whose exports it runs. The Forecast, PassRole and
    KMS permissions live in each stack's access role, which the handler assumes with a session tag naming the
    requesting stack.
    """

    @classmethod
    def of(cls, scope: Construct, options: ForecastExportHandlerOptions | None = None) -> ForecastExportHandler:
        """The handler of ``scope``'s stack, created with the stack's first ForecastExport.

        ``options`` are ``scope``'s ``handler_options``: they configure the handler unless another construct
        configured it differently, which is refused (ForecastExportValidationError naming both paths).
        """
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(HANDLER_ID)
        handler = existing if isinstance(existing, ForecastExportHandler) else cls(stack, HANDLER_ID)
        if options is not None:
            handler.configure(options, scope.node.path)
        return handler

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        role_path: str | None = None,
        memory_size: int | None = None,
        reserved_concurrent_executions: int | None = None,
        log_retention: logs.RetentionDays | None = None,
        log_encryption_key: kms.IKey | None = None,
        state_encryption_key: kms.IKey | None = None,
    ) -> None:
        """
        :param role_path: IAM path for the handler's role, to follow the platform's naming conventions.
            Default: ``/``.
        :param memory_size: memory of the function in MB, 128-10240. Default 128.
        :param reserved_concurrent_executions: concurrency reserved for the function, at least 1 (see
            ``ForecastExportHandlerOptions``). Default: none, the account's unreserved concurrency is shared.
        :param log_retention: how long the log group keeps the logs. Default ``logs.RetentionDays.THREE_MONTHS``.
        :param log_encryption_key: KMS key of the log group (same region); a key of this app lets CloudWatch Logs
            use it in its key policy. Default: none (CloudWatch Logs' own encryption).
        :param state_encryption_key: KMS key (same region) of the handler's DynamoDB state table; the handler's role
            may use it, and a key of the handler's stack lets the role use it in its key policy. Default: none
            (DynamoDB's AWS owned key, free).

        Any of the five given here makes them this handler's settings: a ForecastExport whose ``handler_options``
        differ is refused. Otherwise the first export with ``handler_options`` sets them.
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        self.rule_prefix = contract.RULE_PREFIX_ROOT + hashlib.sha256(self.node.path.encode()).hexdigest()[:8] + "-"
        # Set by ForecastExportProvider: the export holding the role's ARN, which other stacks import.
        self.role_arn_export: str | None = None

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            # Retention and key: set by _apply, like the function's memory and concurrency.
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
        # Request state lives in a table of the handler's own (state_table.py); its key, if any, is set by _apply.
        self.state_table = state_table(self)
        grant_table_use(self.state_table, self.role)
        # Read-only, on the handler's legacy rule prefix: a request a previous release left in flight (its state in
        # the target input of a per-request rule) is taken over by reading that rule. Nothing is written to
        # EventBridge at run time: the rules that invoke the handler are in the template (triggers.py).
        own_rules = stack.format_arn(service="events", resource="rule", resource_name=f"{self.rule_prefix}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPreviousReleaseRules",
                actions=["events:ListTargetsByRule"],
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
            timeout=FUNCTION_TIMEOUT,
            # Lambda runs an event again only when the handler fails the invocation on purpose (RetryLater:
            # CloudFormation's reads stayed throttled); every other failure is answered to CloudFormation.
            retry_attempts=2,
            max_event_age=MAX_EVENT_AGE,
            role=self.role,
            log_group=self.log_group,
            environment={
                contract.STATE_TABLE_ENVIRONMENT: self.state_table.table_name,
                # Kept for upgrades: the prefix of a previous release's per-request rules still in flight.
                contract.RULE_PREFIX_ENVIRONMENT: self.rule_prefix,
            },
        )
        function_resource: cdk.CfnResource = self.function.node.default_child  # type: ignore[assignment]
        # aws-cdk-lib's Function adds DependsOn on the role it also references; cfn-lint calls that redundant.
        function_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        # Kept while a previous release's requests may be in flight: their per-request rules (this handler's legacy
        # prefix) still fire until each request is taken over. One permission for all of them.
        self.function.add_permission(
            "PollingRulesMayInvoke",
            principal=iam.ServicePrincipal("events.amazonaws.com"),
            action="lambda:InvokeFunction",
            source_arn=own_rules,
            source_account=stack.account,
        )
        self.polling_permission = self.function.node.find_child("PollingRulesMayInvoke")
        self.triggers = HandlerTriggers(self, "Triggers", function=self.function, role=self.role)

        given = ForecastExportHandlerOptions(
            memory_size=memory_size if memory_size is not None else DEFAULT_MEMORY_SIZE,
            reserved_concurrent_executions=reserved_concurrent_executions,
            log_retention=log_retention if log_retention is not None else DEFAULT_LOG_RETENTION,
            log_encryption_key=log_encryption_key,
            state_encryption_key=state_encryption_key,
        )
        problems = given.problems(stack)
        if problems:
            raise ForecastExportValidationError(self.node.path, problems, construct="ForecastExportHandler")
        self.options = given
        """The settings in force (``ForecastExportHandlerOptions``)."""
        self._apply(given)
        # Who chose the settings: this handler's own props, or the first export with handler_options (None: nobody).
        settings = (memory_size, reserved_concurrent_executions, log_retention, log_encryption_key, state_encryption_key)
        self.configured_by: str | None = self.node.path if any(v is not None for v in settings) else None

    def configure(self, options: ForecastExportHandlerOptions, requested_by: str) -> None:
        """Take ``options`` (a ForecastExport's ``handler_options``) unless other settings were chosen already."""
        if self.configured_by is None:
            self._apply(options)
            self.configured_by = requested_by
            return
        differences = options.differences(self.options)
        if differences:
            raise ForecastExportValidationError(
                requested_by,
                [
                    f"handler_options differ from those of {self.configured_by}, which configure the same handler "
                    f"{self.node.path} ({'; '.join(differences)}): the exports of a stack share one handler. Pass the "
                    "same handler_options to both, or leave them out of one"
                ],
            )

    def _apply(self, options: ForecastExportHandlerOptions) -> None:
        """Write the settings into the function and the log group (at creation, or later for the first export
        that brings handler_options)."""
        function: lambda_.CfnFunction = self.function.node.default_child  # type: ignore[assignment]
        function.memory_size = options.memory_size
        function.reserved_concurrent_executions = options.reserved_concurrent_executions
        function_skips = dict(CHECKOV_FUNCTION_SKIPS)
        if options.reserved_concurrent_executions is not None:
            del function_skips["CKV_AWS_115"]  # concurrency is limited now: nothing to skip
        skip_checkov(function, function_skips)
        log_group: logs.CfnLogGroup = self.log_group.node.default_child  # type: ignore[assignment]
        log_group.retention_in_days = RETENTION_IN_DAYS[options.log_retention.name]
        key = options.log_encryption_key
        log_group.kms_key_id = key.key_arn if key is not None else None
        skip_checkov(log_group, {} if key is not None else {"CKV_AWS_158": "log-group-kms"})
        if key is not None and not logs_may_use_key(key, cdk.Stack.of(self)):
            cdk.Annotations.of(self).add_warning_v2(
                "cdk-forecast-export:log-key-policy",
                f"log_encryption_key {key.node.path} is imported: its key policy must let logs.<region>.amazonaws.com "
                "use it for this account's log groups (README, Handler settings), or the log group cannot be created",
            )
        state_key = options.state_encryption_key
        # Set once: a handler's settings are applied at creation (no key) and at most once more with a key.
        if state_key is not None and not use_state_key(self.state_table, self.role, state_key):
            cdk.Annotations.of(self).add_warning_v2(
                "cdk-forecast-export:state-key-policy",
                f"state_encryption_key {state_key.node.path} is imported or of another stack: its key policy must let "
                f"the handler's role {self.node.path}/Role use it (kms:Decrypt, kms:Encrypt, kms:GenerateDataKey, "
                "kms:DescribeKey; README, Handler settings), or no request can be kept and every deploy fails",
            )
        self.options = options

    @property
    def prerequisites(self) -> list[IConstruct]:
        """What a custom resource of the handler's stack depends on: the role and its policies, the state table, the
        triggers with their permissions, and the legacy rules' permission. Created before the first request
        reaches the handler, deleted only after the last Delete is answered."""
        return [self.role, self.state_table, self.polling_permission, *self.triggers.resources]

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
