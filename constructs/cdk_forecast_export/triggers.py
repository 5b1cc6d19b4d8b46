"""What invokes the handler besides CloudFormation: two static rules and the handler itself.

Made with the handler, in its template: nothing is created, changed or removed in EventBridge or in the
function's resource policy at run time (issue 16).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from constructs import Construct, IConstruct

from ._lambda.forecast_export import contract
from ._lambda.forecast_export.schedule import PASSING_STATUSES, STATUS_FIELDS

# The Tick rule's constant input, which the handler tells from CloudFormation's requests and Forecast's events.
TICK_INPUT = json.dumps({contract.TRIGGER_KEY: contract.TICK})
# Events naming a status on the way to another one (under either spelling of the key) end no wait: not delivered,
# so the account's other export jobs cost fewer invocations. Any other body, one of another shape included, is.
_SKIP_PASSING = [{"anything-but": list(PASSING_STATUSES)}]
FORECAST_EVENT_PATTERN = {
    "source": ["aws.forecast"],
    "detail-type": list(contract.FORECAST_DETAIL_TYPES),
    "detail": {
        "$or": [
            *({field: _SKIP_PASSING} for field in STATUS_FIELDS),
            {field: [{"exists": False}] for field in STATUS_FIELDS},
        ]
    },
}


class HandlerTriggers(Construct):
    """The ForecastEvents rule (Forecast's export-job state changes, any job of the account, delivered as they
    are), the Tick rule (every minute: look at the requests due), each with a permission naming its exact ARN,
    and the policy letting the handler invoke itself (one look per due request)."""

    def __init__(self, scope: Construct, id_: str, *, function: lambda_.Function, role: iam.Role) -> None:
        super().__init__(scope, id_)
        account = cdk.Stack.of(self).account
        self.forecast_events = events.CfnRule(
            self,
            "ForecastEvents",
            description="Forecast's export job state changes, for the cdk-forecast-export handler",
            event_pattern=FORECAST_EVENT_PATTERN,
            state="ENABLED",
            # No input: the handler reads the job's ARN from the event itself.
            targets=[events.CfnRule.TargetProperty(id="Handler", arn=function.function_arn)],
        )
        self.tick = events.CfnRule(
            self,
            "Tick",
            description="Looks at every cdk-forecast-export request due (the net under Forecast's best-effort events)",
            schedule_expression=contract.TICK_SCHEDULE,
            state="ENABLED",
            targets=[events.CfnRule.TargetProperty(id="Handler", arn=function.function_arn, input=TICK_INPUT)],
        )
        self.permissions = [
            lambda_.CfnPermission(
                self,
                f"{rule.node.id}MayInvoke",
                action="lambda:InvokeFunction",
                function_name=function.function_arn,
                principal="events.amazonaws.com",
                source_arn=rule.attr_arn,
                source_account=account,
            )
            for rule in (self.forecast_events, self.tick)
        ]
        # A policy of its own: in the role's default policy, the function's ARN would make a circular dependency
        # (function -> role's policy -> function).
        self.self_invoke_policy = iam.Policy(
            self,
            "SelfInvoke",
            statements=[
                iam.PolicyStatement(
                    sid="LookAtEachDueRequest", actions=["lambda:InvokeFunction"], resources=[function.function_arn]
                )
            ],
            roles=[role],
        )

    @property
    def resources(self) -> list[IConstruct]:
        """Everything a custom resource's request needs in place, and that must stay until its Delete is answered."""
        return [self.forecast_events, self.tick, *self.permissions, self.self_invoke_policy]
