"""What ``removal_policy`` does to the export job, and the RemovalPolicy property that tells the handler.

CloudFormation applies the policy, as for every resource CDK makes (``CfnResource.apply_removal_policy``):

- ``DESTROY`` (default): DeletionPolicy and UpdateReplacePolicy ``Delete``. CloudFormation sends a Delete
  when the stack is deleted, the export leaves the template, a replacement succeeds (for the old job) or a
  create or replacement rolls back (for the new one): the job is deleted each time.
- ``RETAIN``: both ``Retain``. CloudFormation sends no Delete: the job stays, also after a replacement
  and after a first deploy that rolls back.
- ``RETAIN_ON_UPDATE_OR_DELETE``: DeletionPolicy ``RetainExceptOnCreate``, UpdateReplacePolicy ``Retain``.
  As RETAIN, except when the stack operation that created the job rolls back: then the job is deleted.

The handler deletes the job on every Delete it receives unless the RemovalPolicy property is
``Retain``. Only ``RETAIN`` writes ``Retain`` (so the one Delete CloudFormation may still send, for the
new job of a replacement that rolls back, keeps it as well); ``RETAIN_ON_UPDATE_OR_DELETE`` writes
``Delete``, since the only Delete CloudFormation sends then, the creating operation's rollback, must
remove the job. The property is read from the resource's DeletionPolicy when the template is written,
so ``RemovalPolicies.of(scope)`` and escape hatches keep the two in agreement.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii

import constructs

from ._lambda.forecast_export import contract
from .prop_types import Expected, instance_of

SUPPORTED = (cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN, cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
ALLOWED = "cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN or cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE"
REMOVAL_POLICY: Expected = instance_of(cdk.RemovalPolicy, ALLOWED)
RETAIN = "Retain"
DELETE = "Delete"


def check_supported(prop: str, value: cdk.RemovalPolicy) -> list[str]:
    """SNAPSHOT is a RemovalPolicy, but an export job has no snapshot."""
    if value in SUPPORTED:
        return []
    return [f"{prop} {value} is not supported: an export job has no snapshot. Use {ALLOWED}"]


def _policies(resource: cdk.CfnResource) -> tuple[cdk.CfnDeletionPolicy | None, cdk.CfnDeletionPolicy | None]:
    options = resource.cfn_options
    return options.deletion_policy, options.update_replace_policy


@jsii.implements(cdk.IStableStringProducer)
class RemovalPolicyProperty:
    """The RemovalPolicy property, produced from the custom resource's DeletionPolicy when the template is written."""

    def __init__(self, resource: cdk.CfnResource) -> None:
        self._resource = resource

    def produce(self) -> str:
        deletion, _ = _policies(self._resource)
        return RETAIN if deletion == cdk.CfnDeletionPolicy.RETAIN else DELETE


@jsii.implements(constructs.IValidation)
class SnapshotCheck:
    """``RemovalPolicies.of(scope).snapshot()`` or an escape hatch can still set Snapshot: refused at synth."""

    def __init__(self, resource: cdk.CfnResource) -> None:
        self._resource = resource

    def validate(self) -> list[str]:
        if cdk.CfnDeletionPolicy.SNAPSHOT not in _policies(self._resource):
            return []
        return [
            f"removal_policy: the {contract.RESOURCE_TYPE} {self._resource.node.path} has a Snapshot DeletionPolicy or "
            f"UpdateReplacePolicy (from RemovalPolicies.of(...).snapshot() or an escape hatch), but an export job has "
            f"no snapshot. Use {ALLOWED}"
        ]
