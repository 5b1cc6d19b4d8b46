"""Act only on requests CloudFormation confirms: its read APIs must show that it sent this very request
and still waits for the answer.

Whoever may invoke the handler (every team that deploys with a shared provider needs
``lambda:InvokeFunction`` on it) could otherwise send it a request naming another team's stack,
resource, access role and jobs. So before its first call to Forecast, STS or the response URL, the
handler asks CloudFormation (read-only):

- ``DescribeStackResource`` (StackId, LogicalResourceId): the resource exists and is a
  ``Custom::ForecastExportJob``; a Create finds it ``CREATE_IN_PROGRESS``, an Update (or rollback
  Update) ``UPDATE_IN_PROGRESS`` with the event's PhysicalResourceId
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html).
  A Delete is checked by its stack event alone: the Delete of a replaced physical ID comes while the
  resource already holds its new ID, and after a Create that never answered, the ID is one
  CloudFormation made up.
- ``DescribeStackEvents``: the newest event of this resource *for the event's physical ID* (any, for
  a Create) is the ``<VERB>_IN_PROGRESS`` CloudFormation records before it sends the request, with no
  COMPLETE or FAILED after it; the request was signed (its response URL's date) no earlier than
  SIGNING_SLACK_SECONDS before that event; and the event's ``ResourceProperties`` are the request's
  (ServiceToken and AccessRoleArn included), so nobody can send CloudFormation's request with other
  properties, another access role, or to another function
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html,
  status codes: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html).

``confirm`` returns that stack event's ID: a request's *episode*. Two requests for one episode (a copy
CloudFormation did not send, with the same properties) never take over from each other
(resource.py). A request CloudFormation does not confirm gets no answer and changes nothing; the log
says why. A copy of a request delivered after CloudFormation moved on (answered, cancelled, rolled back,
timed out) is not confirmed either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from . import contract, responses
from .retries import Budget, call_with_retries, error_code

logger = logging.getLogger(__name__)

IN_PROGRESS = {"Create": "CREATE_IN_PROGRESS", "Update": "UPDATE_IN_PROGRESS", "Delete": "DELETE_IN_PROGRESS"}
# CloudFormation documents no order between recording the IN_PROGRESS event and signing the URL: a request
# signed up to this long before it counts. Generous, because a wrong refusal hangs the stack; a late copy
# with the very properties of a newer request of the same state comes minutes later, if ever.
SIGNING_SLACK_SECONDS = 60.0
# Events older than the request's signing time minus this are not read: its IN_PROGRESS event is newer.
LOOKBACK_SECONDS = 300.0
MAX_EVENT_PAGES = 50
# Nothing documents that the read APIs show the new status by the time Lambda runs the function (it can
# start within milliseconds): a missing event or status is read again after these pauses before refusing.
REREAD_PAUSES_SECONDS = (1.0, 2.0, 4.0, 8.0)


class Unconfirmed(Exception):
    """CloudFormation does not confirm the request; the message says why (it is logged, never answered)."""


def _function_name(arn_or_name: str) -> str:
    """``my-fn`` from ``arn:aws:lambda:<region>:<account>:function:my-fn[:qualifier]`` (or the name itself)."""
    parts = arn_or_name.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn_or_name


def _as_sent(value: Any) -> Any:
    """Properties as CloudFormation sends them to a custom resource: every scalar a string."""
    if isinstance(value, dict):
        return {str(k): _as_sent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_sent(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _timestamp(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


class CloudFormationCheck:
    """The reads that confirm one request, on a CloudFormation client with the handler's own role."""

    def __init__(self, client_of: Callable[[], Any], budget: Budget, function_name: str) -> None:
        self._client_of = client_of
        self._budget = budget
        self._function_name = function_name
        self.replaced = False  # a Delete of a physical ID the resource no longer holds (set by confirm)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client_of(), operation)
        return call_with_retries(f"cloudformation:{operation}", lambda: method(**kwargs), self._budget)

    def confirm(self, event: dict[str, Any]) -> str:
        """The ID of the stack event that records this request; Unconfirmed unless CloudFormation shows
        it as a request it sent and still waits for (TransientError when its reads stay throttled)."""
        if event.get("ResourceType") != contract.RESOURCE_TYPE:
            raise Unconfirmed(f"the request's ResourceType is {event.get('ResourceType')!r}, not {contract.RESOURCE_TYPE}")
        if _function_name(str(event.get("ServiceToken", ""))) != self._function_name:
            raise Unconfirmed(f"the request's ServiceToken {event.get('ServiceToken')} is not this function")
        for pause in (*REREAD_PAUSES_SECONDS, None):
            try:
                return self._confirm_once(event)
            except Unconfirmed:
                if pause is None or not self._may_be_lagging(event) or not self._budget.allows(pause):
                    raise
            self._budget.clock.sleep(pause)
        raise AssertionError("unreachable")

    def _may_be_lagging(self, event: dict[str, Any]) -> bool:
        """Signed moments ago: CloudFormation's reads may not show the request's status yet."""
        signed = responses.request_time(str(event.get("ResponseURL", "")))
        return signed is not None and self._budget.clock.now() - signed < 30.0

    def _confirm_once(self, event: dict[str, Any]) -> str:
        stack_id, logical_id = str(event["StackId"]), str(event["LogicalResourceId"])
        request_type = str(event["RequestType"])
        resource = self._resource(stack_id, logical_id)
        if resource is None:
            raise Unconfirmed(f"stack {stack_id} has no resource {logical_id}")
        if resource.get("ResourceType") != contract.RESOURCE_TYPE:
            raise Unconfirmed(
                f"{logical_id} in stack {stack_id} is a {resource.get('ResourceType')}, not {contract.RESOURCE_TYPE}"
            )
        status, physical = str(resource.get("ResourceStatus", "")), str(resource.get("PhysicalResourceId") or "")
        asked = str(event.get("PhysicalResourceId", ""))
        if request_type == "Create" and status != IN_PROGRESS["Create"]:
            raise Unconfirmed(f"a Create, but CloudFormation shows the resource {status}")
        if request_type == "Update" and (status != IN_PROGRESS["Update"] or physical != asked):
            raise Unconfirmed(f"an Update of {asked}, but CloudFormation shows {physical or 'no physical ID'} {status}")
        episode = self._episode(event, stack_id, logical_id, request_type, asked)
        self.replaced = request_type == "Delete" and bool(physical) and bool(asked) and physical != asked
        return str(episode.get("EventId", ""))

    def _resource(self, stack_id: str, logical_id: str) -> dict[str, Any] | None:
        try:
            answer = self._call("describe_stack_resource", StackName=stack_id, LogicalResourceId=logical_id)
        except ClientError as error:
            if error_code(error) == "ValidationError":  # no such stack, or no such resource in it
                return None
            raise
        return dict(answer.get("StackResourceDetail") or {})

    def _episode(self, event: dict[str, Any], stack_id: str, logical_id: str, request_type: str, asked: str) -> dict[str, Any]:
        """The stack event recording this request: the newest event of the resource (for the asked physical
        ID; a Delete after a Create that never answered may carry none) must be its IN_PROGRESS, with the
        request's properties (a Delete's may also be those CloudFormation recorded earlier for that ID)."""
        signed = responses.request_time(str(event.get("ResponseURL", "")))
        if signed is None:
            raise Unconfirmed("the response URL carries no signing date (X-Amz-Date or Expires)")
        expected = IN_PROGRESS[request_type]
        episode: dict[str, Any] | None = None
        for stack_event in self._resource_events(stack_id, logical_id, signed):
            physical = str(stack_event.get("PhysicalResourceId") or "")
            if request_type != "Create" and physical not in (asked, ""):
                continue  # another physical ID of this logical ID (the replacement, or the replaced one)
            if episode is None:
                status = str(stack_event.get("ResourceStatus", ""))
                if status != expected:
                    raise Unconfirmed(
                        f"a {request_type} of {asked or logical_id}, but CloudFormation's last event for it is {status}"
                    )
                if request_type == "Update" and physical != asked:
                    raise Unconfirmed(f"an Update of {asked}, but CloudFormation's {status} names no physical ID")
                changed = _timestamp(stack_event.get("Timestamp", 0))
                if signed < changed - SIGNING_SLACK_SECONDS:
                    raise Unconfirmed(
                        f"the request was sent {changed - signed:.0f} s before CloudFormation's {status}: a late copy"
                    )
                episode = stack_event
            match = self._properties_match(event, stack_event)
            if match is None and stack_event is episode:
                logger.warning("CloudFormation's event %s carries no ResourceProperties; not compared", episode.get("EventId"))
                return episode
            if match:
                return episode
            if request_type != "Delete":
                break  # only a Delete may match a record older than its own
        if episode is None:
            raise Unconfirmed(f"CloudFormation records no {expected} of {asked or logical_id} in stack {stack_id}")
        raise Unconfirmed("the request's properties differ from those CloudFormation recorded for it")

    def _resource_events(self, stack_id: str, logical_id: str, signed: float) -> Iterator[dict[str, Any]]:
        """This resource's stack events, newest first (read page by page, only as far as needed), back to a
        little before the request was signed."""
        oldest_wanted = signed - SIGNING_SLACK_SECONDS - LOOKBACK_SECONDS
        token: str | None = None
        for _ in range(MAX_EVENT_PAGES):
            page = self._call("describe_stack_events", StackName=stack_id, **({"NextToken": token} if token else {}))
            events = page.get("StackEvents") or []
            yield from (e for e in events if e.get("LogicalResourceId") == logical_id)
            token = page.get("NextToken")
            if not token or (events and _timestamp(events[-1].get("Timestamp", 0)) < oldest_wanted):
                return

    @staticmethod
    def _properties_match(event: dict[str, Any], stack_event: dict[str, Any]) -> bool | None:
        """Whether the properties CloudFormation recorded on ``stack_event`` are the request's, on the keys the
        handler reads (None when the event records none). A value CloudFormation records as an unresolved
        dynamic reference (``{{resolve:...}}``) is not compared."""
        recorded = stack_event.get("ResourceProperties")
        if recorded is None or "ResourceProperties" not in event:
            # A request a 0.2.x rule kept without its properties (too large for the rule, or an answer kept for a
            # retry) carries none to compare: its state was read from the rule itself, never from an invocation.
            return None
        try:
            sent = json.loads(recorded) if isinstance(recorded, str) else recorded
        except ValueError:
            return False
        theirs, mine = _as_sent(sent), _as_sent(event.get("ResourceProperties") or {})
        differing = [
            key
            for key in contract.PROPERTIES_READ
            if theirs.get(key) != mine.get(key) and not str(theirs.get(key, "")).startswith("{{resolve:")
        ]
        if differing:
            logger.warning("Properties differ from CloudFormation's event %s: %s", stack_event.get("EventId"), differing)
        return not differing
