"""The polling schedule: one EventBridge rule per resource and settings, holding the request's state.

- The rule's name follows from the stack, the logical ID and the settings that name the job
  (``naming.JobIdentity.settings_key``), not from the request. So a request that must stop another
  one (the rollback Delete of a cancelled Create, the rollback Update of a cancelled replacement)
  finds that request's rule, reads its state, and removes it: nothing fires for the cancelled
  request any more.
- The rule target's input is the request's live state; every invocation reads it back with
  ``ListTargetsByRule`` (the event an invocation receives may be older than the state).
- The rule fires on two things: Forecast's state-change events for the jobs the request watches
  (its ``EventPattern``, ``event_pattern``) and, as the safety net for lost events, a
  ``rate(1 minute)`` schedule. Either delivers the same constant target input: an event only
  triggers a look, it is never read (Forecast's event body is not published).
- A lease in that state keeps two invocations of one request from working at the same time: it
  lasts one look, and an invocation that finds it taken waits for its release (resource.py).
- The state carries ``contract.STATE_VERSION`` (every write stamps it): the handler reads its own version
  and the older ones (0.2.0 wrote none), never a newer one (``unreadable_state``).
- Names fit EventBridge's 64 characters and start with the prefix the handler's IAM policy allows;
  the input fits EventBridge's 8192 characters.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import contract
from .errors import TransientError
from .retries import Budget, call_with_retries, error_code

logger = logging.getLogger(__name__)

RULE_NAME_MAX = 64
TARGET_INPUT_MAX = 8192
RULE_PERIOD_SECONDS = 60
SCHEDULE = "rate(1 minute)"
# EventBridge's default quota for an event pattern (adjustable, so the handler keeps to the default):
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
EVENT_PATTERN_MAX = 2048
# The Forecast developer guide names the first; the EventBridge reference lists the second.
FORECAST_DETAIL_TYPES = ("Forecast Forecast Export Job State Change", "Forecast Export Job State Change")
# Where the job's ARN may be: the body is unpublished, so each documented place is matched.
ARN_FIELDS = ("ForecastExportJobArn", "ResourceArn")
# Statuses on the way to another one: no wait of the handler ends on them, so an event that names one
# of them (under either spelling of the key) triggers no look. Any other event, a body of another
# shape included, does; the look decides, and the schedule covers an event skipped wrongly.
PASSING_STATUSES = ("CREATE_PENDING", "CREATE_IN_PROGRESS", "DELETE_PENDING", "DELETE_IN_PROGRESS")
STATUS_FIELDS = ("Status", "status")
TARGET_ID = "1"
DATA = "CrHelperData"  # crhelper's keys in the event it sends itself
POLL = "CrHelperPoll"
RULE = "CrHelperRule"
LEASE = "Lease"


def rule_name(prefix: str, stack_id: str, logical_id: str, settings_key: str) -> str:
    """Deterministic per resource and settings, at most 64 characters, under the prefix IAM allows."""
    digest = hashlib.sha256(f"{stack_id}|{logical_id}|{settings_key}".encode()).hexdigest()[:12]
    room = RULE_NAME_MAX - len(prefix) - len(digest) - 1
    readable = "".join(ch for ch in logical_id if ch.isalnum())[:room]
    return f"{prefix}{readable}-{digest}"


def event_pattern(job_arns: list[str]) -> str | None:
    """The EventPattern matching Forecast's state changes of ``job_arns`` (most important first), their
    ARN in ``resources`` or in the detail. ARNs that would take the pattern past EventBridge's size
    quota are left out (the schedule still looks at them); None when there is nothing to watch."""
    watched: list[str] = []
    text = None
    for arn in dict.fromkeys(a for a in job_arns if a):
        candidate = _pattern_text([*watched, arn])
        if len(candidate) > EVENT_PATTERN_MAX:
            logger.warning("Not watching events of %s: the event pattern would pass %d characters", arn, EVENT_PATTERN_MAX)
            continue
        watched.append(arn)
        text = candidate
    return text


def _pattern_text(arns: list[str]) -> str:
    skip = [{"anything-but": list(PASSING_STATUSES)}]
    return json.dumps(
        {
            "source": ["aws.forecast"],
            "detail-type": list(FORECAST_DETAIL_TYPES),
            "$or": [{"resources": arns}, *({"detail": {field: arns}} for field in ARN_FIELDS)],
            "detail": {
                "$or": [
                    *({field: skip} for field in STATUS_FIELDS),
                    {field: [{"exists": False}] for field in STATUS_FIELDS},
                ]
            },
        },
        separators=(",", ":"),
    )


def unreadable_state(data: Mapping[str, Any]) -> str:
    """Why this handler must not read the state ``data`` (a request's ``CrHelperData``), or "" if it may.

    No version: written by 0.2.0, whose fields are those of version 1. A newer version was written by a
    newer handler whose code CloudFormation has since rolled back; its fields may mean something else,
    so nothing in it is trusted (the caller answers FAILED at once rather than misread it, or leave
    CloudFormation waiting until its ServiceTimeout for code that no longer runs)."""
    version = data.get(contract.STATE_VERSION_KEY, 0)
    if isinstance(version, int) and not isinstance(version, bool) and 0 <= version <= contract.STATE_VERSION:
        return ""
    return (
        f"The request's state was written by another version of the handler (state version {str(version)[:20]}; "
        f"this handler reads versions 0 to {contract.STATE_VERSION}): its code changed while the request was in flight. "
        "This handler did not act on it (any export job that version started is left as it is); deploy again"
    )


def target_input(event: dict[str, Any]) -> str:
    """The event the rule sends back, its state stamped with this handler's state version: no old
    properties, and no properties if still too big."""
    kept = {k: v for k, v in event.items() if k != "OldResourceProperties"}
    kept[DATA] = {**(kept.get(DATA) or {}), contract.STATE_VERSION_KEY: contract.STATE_VERSION}
    text = json.dumps(kept)
    if len(text) > TARGET_INPUT_MAX:
        kept.pop("ResourceProperties", None)
        text = json.dumps(kept)
    if len(text) > TARGET_INPUT_MAX:
        raise RuntimeError(f"The polling state is {len(text)} characters; EventBridge allows {TARGET_INPUT_MAX}")
    return text


@dataclass
class Claim:
    """What ``claim`` found: a duplicate delivery of this very request, or another request's state it stopped."""

    duplicate: bool = False
    stale: bool = False  # a newer request (or a Delete) holds the rule: this one must do nothing
    superseded: dict[str, Any] | None = None  # the stopped request's Data


def _not_found(error: ClientError) -> bool:
    return error_code(error) in ("ResourceNotFoundException", "ResourceNotFound")


class Schedule:
    def __init__(self, events_client: Any, budget: Budget, function_arn: str) -> None:
        self._events = events_client
        self._budget = budget
        self._clock = budget.clock
        self._function_arn = function_arn
        self.took_over = False  # this claim removed another request's rule (its state lives only in memory now)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        method = getattr(self._events, operation)
        return call_with_retries(f"events:{operation}", lambda: method(**kwargs), self._budget)

    def read(self, name: str) -> dict[str, Any] | None:
        """The event the rule holds now, or None when the rule or its target is gone."""
        try:
            targets = self._call("list_targets_by_rule", Rule=name).get("Targets", [])
        except ClientError as error:
            if _not_found(error):
                return None
            raise
        for target in targets:
            if target.get("Id") == TARGET_ID and target.get("Input"):
                return dict(json.loads(target["Input"]))
        return None

    def claim(
        self, name: str, event: dict[str, Any], may_take_over: Callable[[dict[str, Any]], bool], pattern: str | None = None
    ) -> Claim:
        """Create the request's rule (firing on ``pattern``'s events and every minute); stop (and report)
        an older request's rule of the same name."""
        held = self.read(name)
        if held is not None and held.get("RequestId") == event["RequestId"]:
            return Claim(duplicate=True)
        if held is not None and not may_take_over(held):
            return Claim(stale=True)
        claim = Claim(superseded=dict(held.get(DATA) or {}) if held is not None else None)
        if held is not None:
            logger.warning("Request %s takes over from request %s: its polling stops", event["RequestId"], held["RequestId"])
        if held is not None and not self.remove(name, quiet=True):
            raise TransientError(f"could not remove the polling rule {name} of an earlier request; trying again")
        if held is not None:
            self.took_over = True  # another request's state is gone now: a failure from here must not be retried blind
        arn = self.put_rule(name, event, pattern)
        event[POLL] = True
        event[RULE] = arn
        try:
            self.save(name, event)
        except BaseException:
            self.remove(name, quiet=True)  # a rule without its target would stay forever
            raise
        # Two deliveries of one request may claim at nearly the same moment: both read no rule, both write.
        # EventBridge has no conditional write, so look again after writing; the last writer keeps the rule.
        # (If both still go on, both adopt the same job and send the same answer.) No pause: a pause here
        # is paid by every request, and the look itself covers the bed's 50-200 ms interleavings.
        held = self.read(name)
        if held is not None and (held.get(DATA) or {}).get(LEASE) != (event.get(DATA) or {}).get(LEASE):
            return Claim(duplicate=held.get("RequestId") == event["RequestId"], stale=held.get("RequestId") != event["RequestId"])
        return claim

    def put_rule(self, name: str, event: dict[str, Any], pattern: str | None) -> str:
        """Create or replace the rule (PutRule replaces it whole: schedule and pattern both given)."""
        arguments: dict[str, Any] = {
            "Name": name,
            "ScheduleExpression": SCHEDULE,
            "State": "ENABLED",
            "Description": f"Watches export jobs for {event['LogicalResourceId'][:400]}",
        }
        if pattern:
            arguments["EventPattern"] = pattern
        return str(self._call("put_rule", **arguments)["RuleArn"])

    def save(self, name: str, event: dict[str, Any]) -> None:
        answer = self._call(
            "put_targets", Rule=name, Targets=[{"Id": TARGET_ID, "Arn": self._function_arn, "Input": target_input(event)}]
        )
        if answer.get("FailedEntryCount"):  # PutTargets can fail partially, with HTTP 200
            raise TransientError(f"PutTargets on {name} failed: {answer.get('FailedEntries')}")

    def remove(self, name: str, *, quiet: bool = False) -> bool:
        """Remove target and rule, tolerating what is already gone; False if something is left."""
        for operation, arguments in (
            ("remove_targets", {"Rule": name, "Ids": [TARGET_ID]}),
            ("delete_rule", {"Name": name}),
        ):
            try:
                answer = self._call(operation, **arguments)
                if answer.get("FailedEntryCount"):  # RemoveTargets can fail partially, with HTTP 200
                    logger.error("Could not remove the target of polling rule %s: %s", name, answer.get("FailedEntries"))
                    return False
            except ClientError as error:
                if not _not_found(error):
                    logger.error("Could not remove polling rule %s (%s): %s", name, operation, error)
                    return False
            except TransientError as error:
                logger.error("Could not remove polling rule %s: %s", name, error)
                return False
        if not quiet:
            logger.info("Removed polling rule %s", name)
        return True
