"""The Lambda function behind every ForecastExport in a stack, created once and shared."""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct

from ._lambda.forecast_export.naming import JOB_PATTERN_AFTER_OWNER, JOB_PATTERN_BEFORE_OWNER
from .bundling import LocalHandlerBundling
from .compliance import CHECKOV_FUNCTION_SKIPS, acknowledge_wildcard_resource, skip_checkov
from .handler_source import HANDLER_ENTRY, HANDLER_ROOT

HANDLER_ID = "ForecastExportHandler"
# A policy shard holds the statements of this many exports, so that no managed policy passes
# IAM's 6,144-character limit however many exports a stack has.
EXPORTS_PER_POLICY = 12
RUNTIME = lambda_.Runtime.PYTHON_3_14
FUNCTION_TIMEOUT = cdk.Duration.seconds(90)

FORECAST_JOB_ACTIONS = [
    "forecast:DescribeForecastExportJob",
    "forecast:DeleteForecastExportJob",
    "forecast:StopResource",
    "forecast:TagResource",
    "forecast:UntagResource",
    "forecast:ListTagsForResource",
]


def stack_owner_marker(stack: cdk.Stack) -> str:
    """CloudFormation's own value of naming.owner_marker: the first group of the stack ID's UUID."""
    return cdk.Fn.select(0, cdk.Fn.split("-", cdk.Fn.select(2, cdk.Fn.split("/", stack.stack_id))))


class ForecastExportHandler(Construct):
    """The custom resource handler: one per stack, found again with ``ForecastExportHandler.of``.

    Its role starts with only what crhelper's polling needs (its own log group, its own
    EventBridge rules and its own Lambda permissions); each ForecastExport adds the Forecast,
    PassRole and KMS permissions for its own forecast, job, role and key.
    """

    @classmethod
    def of(cls, scope: Construct) -> ForecastExportHandler:
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
        self.rule_prefix = "fcx-" + hashlib.sha256(self.node.path.encode()).hexdigest()[:8] + "-"
        self._exports_per_holder: dict[str, int] = {}
        self._stacks_with_job_statement: set[str] = set()
        # Set by ForecastExportProvider: the export holding the role's name, which other stacks import.
        self.role_name_export: str | None = None

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
            retry_attempts=0,
            role=self.role,
            log_group=self.log_group,
            environment={"POLL_RULE_PREFIX": self.rule_prefix},
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
        return self.function.function_arn

    def _policy_for_next_export(self, export: Construct) -> iam.ManagedPolicy:
        """The managed policy (12 exports each) that holds this export's statements.

        It lives in the export's own stack: with a shared provider in another stack, the policy
        names the export's forecast, role and key where they are defined, and is attached to the
        provider's role there (no reference from the provider's stack back to the export's).
        """
        stack = cdk.Stack.of(export)
        if stack is cdk.Stack.of(self):
            holder: Construct = self
        else:
            holder_id = f"ForecastExportPermissions{cdk.Names.unique_id(self)}"
            found = stack.node.try_find_child(holder_id)
            holder = found if isinstance(found, Construct) else Construct(stack, holder_id)
        shards = [c for c in holder.node.children if isinstance(c, iam.ManagedPolicy)]
        count = self._exports_per_holder.get(holder.node.path, 0)
        if count % EXPORTS_PER_POLICY == 0:
            shards.append(iam.ManagedPolicy(holder, f"ExportPermissions{len(shards)}", roles=[self._role_seen_from(holder)]))
        self._exports_per_holder[holder.node.path] = count + 1
        return shards[-1]

    def _grant_stack_jobs(self, stack: cdk.Stack, policy: iam.ManagedPolicy) -> None:
        """Once per stack: the jobs of every export the stack has (or had).

        Scoped by the stack's owner marker (the first 8 characters of its ID's UUID), which no
        template change alters: a job made before a rename, a forecast change or the removal of its
        export stays reachable until its Delete is answered (naming.py explains the names).
        """
        if stack.node.path in self._stacks_with_job_statement:
            return
        self._stacks_with_job_statement.add(stack.node.path)
        jobs = stack.format_arn(
            service="forecast",
            resource="forecast-export-job",
            resource_name=f"*/{JOB_PATTERN_BEFORE_OWNER}{stack_owner_marker(stack)}{JOB_PATTERN_AFTER_OWNER}",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        policy.add_statements(iam.PolicyStatement(actions=FORECAST_JOB_ACTIONS, resources=[jobs]))
        acknowledge_wildcard_resource(policy, jobs, "export-job-wildcard")

    def _role_seen_from(self, holder: Construct) -> iam.IRole:
        """The role, or in another stack the role named by the provider's export (no reference CDK would export again)."""
        if cdk.Stack.of(holder) is cdk.Stack.of(self) or self.role_name_export is None:
            return self.role
        found = holder.node.try_find_child("ProviderRole")
        if found is not None:
            return found  # type: ignore[return-value]
        return iam.Role.from_role_name(holder, "ProviderRole", cdk.Fn.import_value(self.role_name_export))

    def grant_export(self, export: Construct, *, forecast_arn: str, role: iam.IRole, key: kms.IKey | None) -> iam.ManagedPolicy:
        """Allow the handler to run one export; returns the policy the custom resource must wait for."""
        policy = self._policy_for_next_export(export)
        self._grant_stack_jobs(cdk.Stack.of(export), policy)
        policy.add_statements(
            iam.PolicyStatement(actions=["forecast:CreateForecastExportJob"], resources=[forecast_arn]),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "forecast.amazonaws.com"}},
            ),
        )
        if key is not None:
            # Forecast checks that the caller, too, may use the key.
            policy.add_statements(iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]))
        return policy
