"""ExportAccess: the role a handler assumes to act for one stack's exports, and only for them.

Why a role per stack instead of policies on the handler's role:
- With a shared ForecastExportProvider, every team's permissions on one role meant that a team
  naming another team's forecast, job, role or key acted with that team's permissions, and each
  team needed ``iam:AttachRolePolicy`` on the shared role. Here each stack defines its own access
  role; the handler assumes it with a session tag carrying the requesting stack's ID (which
  CloudFormation sets in the event), and the role's trust policy accepts only its own stack's ID.
  A template that names another stack's access role gets AccessDenied from STS.
- The provider's stack never changes when teams add exports, and nothing is attached to its role.
- Sizes do not depend on the consumer's feature flags: the statements are written here already
  merged (one statement per action group with a growing resource list), so
  ``@aws-cdk/aws-iam:minimizePolicies`` has nothing left to merge. The ARNs are packed into managed
  policies by their worst-case resolved length, so none passes IAM's 6,144 characters.
"""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct

from ._lambda.forecast_export.contract import ACCESS_ROLE_PATH, STACK_ID_TAG
from ._lambda.forecast_export.naming import JOB_PATTERN_AFTER_OWNER, JOB_PATTERN_BEFORE_OWNER
from .compliance import acknowledge_wildcard_resource
from .errors import ForecastExportValidationError
from .policy_size import MANAGED_POLICY_MAX, POLICY_OVERHEAD, forecast_arn_cost, key_arn_cost, role_arn_cost

MANAGED_POLICIES_PER_ROLE = 10  # IAM's default quota of managed policies attached to one role
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


class _PolicyShard:
    """One managed policy with one merged statement per action group, filled up to a size budget."""

    def __init__(self, scope: Construct, id_: str, role: iam.IRole, jobs: str | None) -> None:
        self.policy = iam.ManagedPolicy(scope, id_, roles=[role])
        self.cost = POLICY_OVERHEAD
        self._create = iam.PolicyStatement(sid="CreateExportJobs", actions=["forecast:CreateForecastExportJob"])
        self._pass = iam.PolicyStatement(
            sid="PassForecastRoles",
            actions=["iam:PassRole"],
            conditions={"StringEquals": {"iam:PassedToService": "forecast.amazonaws.com"}},
        )
        self._keys = iam.PolicyStatement(sid="UseExportKeys", actions=["kms:Decrypt", "kms:GenerateDataKey"])
        self._seen: set[str] = set()
        self._added: set[str] = set()
        if jobs is not None:
            # Every job of the stack, past and present: named <base>_<owner><key> (naming.py).
            self.policy.add_statements(iam.PolicyStatement(sid="ManageStackJobs", actions=FORECAST_JOB_ACTIONS, resources=[jobs]))
            acknowledge_wildcard_resource(self.policy, jobs, "export-job-wildcard")

    def holds(self, key: str) -> bool:
        return key in self._seen

    def add(self, statement: str, arn: str, key: str, cost: int) -> None:
        target = {"create": self._create, "pass": self._pass, "keys": self._keys}[statement]
        target.add_resources(arn)
        if statement not in self._added:
            self._added.add(statement)
            self.policy.add_statements(target)
        self._seen.add(key)
        self.cost += cost


class ExportAccess(Construct):
    """The access role of one stack for one handler; found again with ``ExportAccess.of``."""

    @classmethod
    def of(cls, stack: cdk.Stack, handler_path: str, handler_role_arn: str) -> ExportAccess:
        """The stack's access role for the handler at ``handler_path``, whose role is ``handler_role_arn``."""
        construct_id = f"ForecastExportAccess{hashlib.sha256(handler_path.encode()).hexdigest()[:8]}"
        existing = stack.node.try_find_child(construct_id)
        if isinstance(existing, ExportAccess):
            return existing
        return cls(stack, construct_id, handler_role_arn=handler_role_arn)

    def __init__(self, scope: Construct, id_: str, *, handler_role_arn: str) -> None:
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description="Assumed by the cdk-forecast-export handler to run this stack's Forecast exports",
            path=ACCESS_ROLE_PATH,
            assumed_by=iam.SessionTagsPrincipal(iam.ArnPrincipal(handler_role_arn)).with_conditions(
                {"StringEquals": {f"aws:RequestTag/{STACK_ID_TAG}": stack.stack_id}}
            ),
        )
        self._jobs = stack.format_arn(
            service="forecast",
            resource="forecast-export-job",
            resource_name=f"*/{JOB_PATTERN_BEFORE_OWNER}{stack_owner_marker(stack)}{JOB_PATTERN_AFTER_OWNER}",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        self._shards: list[_PolicyShard] = []

    @property
    def policies(self) -> list[iam.ManagedPolicy]:
        return [shard.policy for shard in self._shards]

    def _place(self, statement: str, arn: str, cost: int) -> iam.ManagedPolicy:
        key = f"{statement}|{cdk.Token.as_string(cdk.Stack.of(self).to_json_string(arn))}"
        for shard in self._shards:
            if shard.holds(key):
                return shard.policy
        if not self._shards or self._shards[-1].cost + cost > MANAGED_POLICY_MAX:
            if len(self._shards) == MANAGED_POLICIES_PER_ROLE:
                raise ForecastExportValidationError(
                    self.node.path,
                    [
                        f"the exports of this stack need more than {MANAGED_POLICIES_PER_ROLE} managed policies on its "
                        "access role (IAM's default quota per role): split them over more stacks, or use shorter role "
                        "paths (a deploy-time role_path or role ARN counts as 512 characters)"
                    ],
                    construct="ForecastExport access role",
                )
            jobs = self._jobs if not self._shards else None
            self._shards.append(_PolicyShard(self, f"Policy{len(self._shards)}", self.role, jobs))
        self._shards[-1].add(statement, arn, key, cost)
        return self._shards[-1].policy

    def grant_export(self, *, forecast_arn: str, role: iam.IRole, key: kms.IKey | None) -> list[iam.ManagedPolicy]:
        """Allow one export: create jobs of its forecast, pass its Forecast role, use its key.

        Returns the policies the export's custom resource must wait for.
        """
        policies = [
            self._place("create", forecast_arn, forecast_arn_cost(forecast_arn)),
            self._place("pass", role.role_arn, role_arn_cost(role)),
        ]
        if key is not None:
            # Forecast checks that the caller, too, may use the key.
            policies.append(self._place("keys", key.key_arn, key_arn_cost(key.key_arn)))
        return list({id(p): p for p in [self._shards[0].policy, *policies]}.values())
