"""Act only on requests CloudFormation confirms: its read APIs must show the request's resource in the
state the request implies.

Whoever may invoke the handler (every team that deploys with a shared provider needs
``lambda:InvokeFunction`` on it) could otherwise send it a request naming another team's stack,
resource, access role and jobs. So before its first call to Forecast, STS or the response URL, the
handler asks CloudFormation:

- ``DescribeStackResource`` (StackId, LogicalResourceId): the resource exists, is a
  ``Custom::ForecastExportJob``, and is in the state CloudFormation sets before it invokes the
  function: Create ``CREATE_IN_PROGRESS``; Update (and rollback Update) ``UPDATE_IN_PROGRESS`` with the
  event's PhysicalResourceId; Delete ``DELETE_IN_PROGRESS`` with the event's PhysicalResourceId. A
  Delete of a *replaced* physical ID comes while the resource already holds its new ID: then the stack
  must be in one of the two cleanup phases and the resource's ID must differ from the event's
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html).
- ``GetTemplate``: the resource's ServiceToken in the stack's template is this function, and its
  AccessRoleArn the request's access role (the role decides whose permissions the handler uses), each
  resolved from a literal, ``Fn::GetAtt [<resource>, Arn]`` (``DescribeStackResource``: the function's
  or role's name), ``Fn::ImportValue`` (``ListExports``) or ``Ref`` to a parameter (``DescribeStacks``).
  CloudFormation refuses to change a custom resource's ServiceToken, so every template version names
  the same one. A resource removed by an update is no longer in the template; its cleanup Delete is
  confirmed by the state checks alone.

A request CloudFormation does not confirm gets no answer and changes nothing; the log says why. A
copy of a request that arrives after CloudFormation moved on (answered, cancelled, timed out) fails the
state check too, and so does nothing. Throttled reads are retried within the invocation's budget.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from . import contract, responses
from .retries import Budget, call_with_retries, error_code

logger = logging.getLogger(__name__)

IN_PROGRESS = {"Create": "CREATE_IN_PROGRESS", "Update": "UPDATE_IN_PROGRESS", "Delete": "DELETE_IN_PROGRESS"}
CLEANUP_PHASES = ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9:]+)\}")
MAX_EXPORT_PAGES = 20
# X-Amz-Date has whole seconds, and CloudFormation's order of "set the status, sign the URL" is not
# documented to the millisecond: a request signed up to this long before the status change still counts.
SIGNING_SLACK_SECONDS = 5.0  # ListExports pages (100 exports each) read to resolve an imported ServiceToken


class Unconfirmed(Exception):
    """CloudFormation does not confirm the request; the message says why (it is logged, never answered)."""


def _last_segment(arn_or_name: str) -> str:
    """A role's name from its ARN (``arn:aws:iam::<account>:role/<path>/<name>``), or the name itself."""
    return arn_or_name.rsplit("/", 1)[-1]


def _function_name(arn_or_name: str) -> str:
    """``my-fn`` from ``arn:aws:lambda:<region>:<account>:function:my-fn[:qualifier]`` (or the name itself)."""
    parts = arn_or_name.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn_or_name


class CloudFormationCheck:
    """The reads that confirm one request, on a CloudFormation client with the handler's own role."""

    def __init__(self, client_of: Callable[[], Any], budget: Budget, function_name: str) -> None:
        self._client_of = client_of
        self._budget = budget
        self._function_name = function_name
        self._stack_variables: dict[str, str] | None = None

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client_of(), operation)
        return call_with_retries(f"cloudformation:{operation}", lambda: method(**kwargs), self._budget)

    def confirm(self, event: dict[str, Any]) -> None:
        """Raise Unconfirmed unless CloudFormation shows ``event`` as a request it is waiting for now
        (TransientError when its reads stay throttled past the budget)."""
        stack_id, logical_id = str(event["StackId"]), str(event["LogicalResourceId"])
        request_type = str(event["RequestType"])
        if event.get("ResourceType") != contract.RESOURCE_TYPE:
            raise Unconfirmed(f"the request's ResourceType is {event.get('ResourceType')!r}, not {contract.RESOURCE_TYPE}")
        resource = self._resource(stack_id, logical_id)
        if resource is None:
            raise Unconfirmed(f"stack {stack_id} has no resource {logical_id}")
        if resource.get("ResourceType") != contract.RESOURCE_TYPE:
            raise Unconfirmed(
                f"{logical_id} in stack {stack_id} is a {resource.get('ResourceType')}, not {contract.RESOURCE_TYPE}"
            )
        self._check_state(event, request_type, resource)
        self._check_not_older(event, resource)
        self._check_template(stack_id, logical_id, request_type, dict(event.get("ResourceProperties") or {}))

    def _resource(self, stack_id: str, logical_id: str) -> dict[str, Any] | None:
        try:
            answer = self._call("describe_stack_resource", StackName=stack_id, LogicalResourceId=logical_id)
        except ClientError as error:
            if error_code(error) == "ValidationError":  # no such stack, or no such resource in it
                return None
            raise
        return dict(answer.get("StackResourceDetail") or {})

    def _check_state(self, event: dict[str, Any], request_type: str, resource: dict[str, Any]) -> None:
        status = str(resource.get("ResourceStatus", ""))
        physical = str(resource.get("PhysicalResourceId") or "")
        expected = IN_PROGRESS[request_type]
        if request_type == "Create":
            if status != expected:
                raise Unconfirmed(f"a Create, but CloudFormation shows the resource {status}")
            return
        asked = str(event.get("PhysicalResourceId", ""))
        if status == expected and physical == asked:
            return
        if request_type == "Delete" and physical != asked:
            stack_status = self._stack_status(str(event["StackId"]))
            if stack_status in CLEANUP_PHASES:
                return  # the cleanup of a replaced physical ID: the resource already holds its new one
            raise Unconfirmed(
                f"a Delete of {asked}, but the resource is {physical or 'unnamed'} ({status}) and the stack is {stack_status}"
            )
        raise Unconfirmed(f"a {request_type} of {asked}, but CloudFormation shows {physical or 'no physical ID'} {status}")

    def _check_not_older(self, event: dict[str, Any], resource: dict[str, Any]) -> None:
        """CloudFormation sets the resource's status, then sends the request: a request signed before the
        status last changed is a late copy of an earlier request (say, a cancelled Update whose rollback
        Update is now in progress with the same physical ID)."""
        changed = resource.get("LastUpdatedTimestamp")
        signed = responses.request_time(str(event.get("ResponseURL", "")))
        if changed is None or signed is None:
            return
        changed_at = changed.timestamp() if hasattr(changed, "timestamp") else float(changed)
        if signed < changed_at - SIGNING_SLACK_SECONDS:
            raise Unconfirmed(
                f"the request was sent {changed_at - signed:.0f} s before the resource's status last changed: a late copy"
            )

    def _stack(self, stack_id: str) -> dict[str, Any]:
        stacks = self._call("describe_stacks", StackName=stack_id).get("Stacks") or [{}]
        return dict(stacks[0])

    def _stack_status(self, stack_id: str) -> str:
        return str(self._stack(stack_id).get("StackStatus", ""))

    def _check_template(self, stack_id: str, logical_id: str, request_type: str, props: dict[str, Any]) -> None:
        """The stack's template names this function as the resource's ServiceToken, and the request's
        access role as its AccessRoleArn."""
        body = self._call("get_template", StackName=stack_id, TemplateStage="Processed").get("TemplateBody") or {}
        template = json.loads(body) if isinstance(body, str) else dict(body)
        definition = (template.get("Resources") or {}).get(logical_id)
        if definition is None:
            if request_type == "Delete":
                return  # removed by an update: its Delete comes in cleanup, checked by state alone
            raise Unconfirmed(f"{logical_id} is not in stack {stack_id}'s template")
        properties = definition.get("Properties") or {}
        token = self._resolve(stack_id, properties.get("ServiceToken"))
        if token is None:
            raise Unconfirmed(
                f"the ServiceToken of {logical_id} is not a form the handler can check (a literal ARN, "
                "Fn::GetAtt of a function, Fn::ImportValue or a parameter)"
            )
        if _function_name(token) != self._function_name:
            raise Unconfirmed(f"{logical_id}'s ServiceToken names {token}, not this function")
        role = self._resolve(stack_id, properties.get(contract.ACCESS_ROLE_PROPERTY))
        asked = str(props.get(contract.ACCESS_ROLE_PROPERTY, ""))
        if role is None or _last_segment(role) != _last_segment(asked):
            raise Unconfirmed(f"the request's access role {asked} is not the one {logical_id} names in stack {stack_id}")

    def _resolve(self, stack_id: str, value: Any) -> str | None:
        """A template value as a name or ARN, for the forms a ServiceToken or AccessRoleArn takes: a literal,
        ``Ref`` (a parameter or pseudo parameter), ``Fn::Sub``, ``Fn::Join``, ``Fn::ImportValue`` of any of
        these, and ``Fn::GetAtt [X, Arn]``, which resolves to X's physical ID (a function's or role's
        name). None for anything else."""
        if isinstance(value, str):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            return None
        (function, argument), *_ = value.items()
        if function == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2 and argument[1] == "Arn":
            resource = self._resource(stack_id, str(argument[0]))
            return str(resource.get("PhysicalResourceId", "")) if resource else None
        if function == "Fn::ImportValue":
            name = self._resolve(stack_id, argument)
            return self._export(name) if name else None
        if function == "Ref" and isinstance(argument, str):
            return self._variables(stack_id).get(argument)
        if function == "Fn::Sub" and isinstance(argument, str):
            variables = self._variables(stack_id)
            names = _SUB_VARIABLE.findall(argument)
            if any(name not in variables for name in names):
                return None
            return _SUB_VARIABLE.sub(lambda match: variables[match.group(1)], argument)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
            parts = [self._resolve(stack_id, part) for part in argument[1]]
            return None if any(part is None for part in parts) else str(argument[0]).join(str(part) for part in parts)
        return None

    def _variables(self, stack_id: str) -> dict[str, str]:
        """The stack's parameters and the pseudo parameters a ServiceToken or role ARN may use."""
        if self._stack_variables is None:
            arn = stack_id.split(":")
            variables = {"AWS::Partition": arn[1], "AWS::Region": arn[3], "AWS::AccountId": arn[4], "AWS::StackId": stack_id}
            stack = self._stack(stack_id)
            variables["AWS::StackName"] = str(stack.get("StackName", ""))
            for parameter in stack.get("Parameters") or []:
                value = parameter.get("ResolvedValue") or parameter.get("ParameterValue", "")
                variables[str(parameter.get("ParameterKey"))] = str(value)
            self._stack_variables = variables
        return self._stack_variables

    def _export(self, name: str) -> str | None:
        token: str | None = None
        for _ in range(MAX_EXPORT_PAGES):
            page = self._call("list_exports", **({"NextToken": token} if token else {}))
            for export in page.get("Exports") or []:
                if export.get("Name") == name:
                    return str(export.get("Value", ""))
            token = page.get("NextToken")
            if not token:
                return None
        return None
