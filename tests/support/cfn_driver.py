"""A local CloudFormation that drives the real handler through real lifecycles.

It reads a template that ``cdk synth`` produced, resolves each ``Custom::ForecastExportJob``'s
properties (Refs and GetAtts become plausible names and ARNs), and runs the handler from the
synthesized asset folder with the environment and context Lambda would give it. Responses arrive
on a local HTTPS URL; crhelper's EventBridge rules and Lambda permissions live in moto, and the
driver fires each rule on its schedule, as EventBridge would. All time is virtual.

Each invocation runs in its own thread as a participant of the VirtualClock, so invocations that
overlap in time (five exports polling at once) overlap in virtual time too, deterministically.

AWS behaviour modelled, harsh by default (each with the page it comes from):
- IAM is enforced on every call the handler makes, at the moment of the call, against the policies
  attached to the role whose credentials sign the call (the function's role, or a role the handler
  assumed) in the templates CloudFormation has applied so far
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html; the
  resources and dependent actions per operation from the Service Authorization Reference,
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonforecast.html).
- ``sts:AssumeRole`` (served by moto, which checks nothing) is authorised as IAM does: the caller's
  identity policies must allow ``sts:AssumeRole`` (and ``sts:TagSession`` when Tags are passed) on
  the role, and the role's trust policy, from the applied template of the stack that defines it,
  must allow the caller for both, with its conditions evaluated against the session tags
  (``aws:RequestTag/<key>``, ``aws:TagKeys``)
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required).
  Stricter than AWS in one respect: AWS lets a same-account trust policy that names the caller's
  exact role ARN suffice without an identity policy; the bed requires both. A role in no applied
  template cannot be assumed. The credentials moto returns are mapped to the assumed role: calls
  they sign are evaluated against that role's policies, and stop working when the session expires
  (``session_expiry``; the Expiration returned is on the virtual clock).
- An update applies whole template versions in CloudFormation's order: policies change in
  UPDATE_IN_PROGRESS, Deletes of replaced and removed resources come only in
  UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, a rollback switches the policies back
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes).
- Each function runs the handler its applied template's ``Code`` names (``register_code``: a previous
  release's asset; any other Code runs the session's handler). An update switches it in
  UPDATE_IN_PROGRESS, before the custom resources that depend on the function, and a rollback
  switches it back first: a rule firing after the switch runs the other version on the state the
  first one wrote (tests/test_upgrades.py).
- Another resource failing cancels in-flight custom-resource requests; their later answers are
  ignored (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html,
  FACTS.md "Cancellation").
- Schedule rules fire within the minute, not on its first second, and delivery adds seconds
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html); the
  kind, exact schedule is an opt-in (``exact_schedule``).
- Forecast's state-change events reach the rules whose EventPattern matches them (matching as
  documented, tests/support/event_patterns.py); a rule with both a ScheduleExpression and an
  EventPattern fires on either. Delivery is "best effort" for AWS service events
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html): harsh by
  default, each event reaches its target 0.5-5 s after the change, and a rule created or changed
  less than 1-2 s before an event does not match it yet ("it might take a moment before the rule
  matches events", FACTS.md "EventBridge";
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule.html). Knobs per test:
  ``event_delay``, ``event_loss``, ``event_duplicates``, ``event_late``, ``rule_grace``.
- CloudFormation invokes the function asynchronously: Lambda queues each request before an invocation
  picks it up (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). Harsh default: a
  queue delay of 0-2 s (``cfn_queue_delay``, up to the function's maximum event age), an event older than
  the function's ``MaximumEventAgeInSeconds`` (``AWS::Lambda::EventInvokeConfig`` in the template, else
  6 hours) is discarded and never delivered
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html), and rare duplicate
  deliveries of the same event, CloudFormation requests and schedule firings alike ("it's possible for
  it to receive the same event from Lambda multiple times", invocation-async.html): ``lambda_duplicates``
  (default 2 %), each copy ``duplicate_lag`` (0-10 s) after the first; ``redeliver(record, after=s)``
  scripts one. A killed invocation (below) is retried after 1 and 2 minutes while
  ``MaximumRetryAttempts`` and the event age allow.
- Lambda stops an invocation at the function's ``Timeout``
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html): the invocation's thread
  dies (``InvocationKilled``) the moment it sleeps, calls AWS or answers past that instant; the kill is
  recorded (``cloud.kills``) and nothing it would have sent afterwards is sent. crhelper's own timer
  (``threading.Timer`` 0.5 s before the timeout, real time in crhelper) runs on the virtual clock in
  the invocation's thread, at its moment.
- Every AWS call the handler makes takes time: harsh default 50-200 ms each (``call_latency``), so
  two invocations started at nearly the same moment interleave their reads and writes.
- ``PutTargets``/``RemoveTargets`` "can partially fail if too many requests are made at the same time"
  (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutTargets.html,
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_RemoveTargets.html): HTTP 200 with
  ``FailedEntryCount`` 1. Harsh default: when another change of the same rule is in flight (the calls
  overlap in time), the call fails that way (``concurrent_target_failures``); ``partial_failure(op)``
  injects it.
- IAM is eventually consistent
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency):
  a statement newly attached to a role, and a new role's trust policy, take effect ``iam_propagation``
  (default 1-4 s) after CloudFormation applied them; a statement or role removed stops working at once.
- CloudFormation's read APIs (``DescribeStackResource``, ``DescribeStacks``, ``GetTemplate``,
  ``ListExports``) answer from the driver's own stacks: a custom resource is ``<VERB>_IN_PROGRESS``
  with the request's physical ID while its latest request waits for an answer, then COMPLETE or
  FAILED (cancelled and timed-out ones FAILED), ``LastUpdatedTimestamp`` the moment that status was
  set; the Delete of a replaced physical ID leaves the resource's state alone (the stack is then in
  a cleanup phase) (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html). CloudFormation
  invokes the ServiceToken with the deployer's credentials, which need ``lambda:InvokeFunction``
  (``LocalStack.deployer``); ``start(..., forged_by=policy)`` sends a request someone else invokes
  directly, which must get no answer and make no call beyond reads.
- After a stack's custom resources answered its final Delete (or a create rollback), CloudFormation
  deletes the resources they depend on, the handler's function, role and policies among them
  ("Resource A is deleted before resource B",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html): from that
  moment the stack's IAM is gone (calls get AccessDenied) and its function is no longer invoked, so a
  rule the handler left stays in the account.
- EventBridge's account quotas, on by default (tests/support/eventbridge_quotas.py,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html): 300 rules per event bus, counting
  other tools' rules (``eventbridge.other_rules``), and 50 requests/s across every EventBridge call of the
  account, of which other tools may use part (``eventbridge.others_use``).
- Any call can be throttled (``throttle``/``inject``) or slow (``slow``), the response URL can be
  down (``receiver.store.outage_until``).
- Issue 16's design: the template's ``AWS::DynamoDB::Table`` and ``AWS::Events::Rule`` resources live in moto
  for the stack's life (tests/support/template_resources.py); each function's containers import the handler with
  its own ``Environment``; invocations of no single request (Tick, Forecast events, self-invocations without a
  RequestId) run under the function's ``provider_record``; the handler's ``lambda:Invoke`` of itself is answered
  by the driver and queued (``_invoke_self``); DynamoDB's limits are applied (tests/support/dynamodb_quotas.py).
- Lambda's concurrency, on by default (tests/support/lambda_concurrency.py, ``lambda_concurrency``): an account pool
  of 1,000 (other tools' share: ``others_use``), each function's ``ReservedConcurrentExecutions``; a queued event
  that finds no free execution environment stays queued and is tried again with Lambda's backoff (1 s doubling
  to 5 minutes) until its maximum event age, then discarded (``dropped``); throttles per function in
  ``lambda_throttles``.
- A custom resource's ``DeletionPolicy`` and ``UpdateReplacePolicy`` decide which Deletes are sent
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatereplacepolicy.html):
  ``Retain`` and ``RetainExceptOnCreate`` send none on stack delete or removal from the template;
  ``Retain`` none when the operation that created the resource rolls back either (``RetainExceptOnCreate``
  does send that one); UpdateReplacePolicy ``Retain`` none for the old physical ID of a replacement (the
  new template's policy). The fate of a replacement's new physical ID on
  rollback is not documented: the bed sends its Delete whatever the policies.
Test support code: never shipped.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import importlib.util
import io
import itertools
import json
import os
import random
import re
import string
import sys
import threading
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from math import ceil
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import boto3
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from . import intrinsics, template_resources
from .dynamodb_quotas import DynamoDBQuotas
from .event_patterns import PatternError, matches, validate
from .eventbridge_quotas import EventBridgeQuotas
from .forecast_fake import ALL_SHAPES, FakeForecast, StatusChange
from .https_receiver import HttpsReceiver, Received
from .iam_eval import PolicySet
from .lambda_concurrency import LambdaConcurrency
from .virtual_clock import InvocationKilled, SimulationOver, VirtualClock

ACCOUNT = "111122223333"
REGION = "us-east-1"
RESOURCE_TYPE = "Custom::ForecastExportJob"
# DescribeStackEvents pages (the API documents NextToken but no page size): small, so paging is exercised.
STACK_EVENTS_PAGE = 20
MAX_RESPONSE_BYTES = 4096
DRIVER_STEP = 1.0  # while an invocation runs, the driver looks for new rules and answers this often (virtual s)
DELIVERY_DELAY_MAX = 5.0  # asynchronous invocation of a rule's target adds up to this (eb-scheduled-rule-pattern)
# Calls that only coordinate invocations (reading and writing the request's own rule: its state, its lease)
# or read CloudFormation to confirm a request. Work is what could conflict: Forecast and STS calls, and
# answers. Two invocations that race to claim a rule both write it (EventBridge has no conditional write);
# only one may go on to work.
LOOK_ONLY_CALLS = {
    "cloudformation:DescribeStackResource",
    "cloudformation:DescribeStacks",
    "cloudformation:GetTemplate",
    "cloudformation:ListExports",
    "cloudformation:DescribeStackEvents",
    "events:ListTargetsByRule",
    "events:DescribeRule",
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:DeleteRule",
    # Issue 16: the request's state item in DynamoDB is its lease and claim (conditional writes), and a look
    # invoking itself only hands work on: coordination too.
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:TransactWriteItems",
    "lambda:Invoke",
}
# Forecast's events are delivered "best effort" (eb-service-event.html): the harsh default is a
# delivery 0.5-5 s after the change; a rule created or updated less than 1-2 s before an event does
# not match it yet ("may take a moment before it matches events"). A duplicate comes up to 10 s
# after the first copy (Lambda's asynchronous invocation may deliver an event more than once).
EVENT_DELAY_DEFAULT = (0.5, 5.0)
RULE_GRACE_DEFAULT = (1.0, 2.0)
DUPLICATE_LAG_MAX = 10.0
TRIGGERS = ("cloudformation", "schedule", "event")  # always in usage()["by_trigger"]; "self" and "foreign" when present
# The handler invoking itself (lambda:Invoke, InvocationType Event): the driver answers it, because Lambda cannot
# run here (no Docker for moto). Asynchronous payloads: at most 1 MB, RequestTooLargeException (HTTP 413) beyond
# (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html: "For asynchronous invocations, the maximum
# payload size is 1 MB"; the older 256 KB applies to the deprecated InvokeAsync).
ASYNC_PAYLOAD_MAX = 1024 * 1024
PROVIDER = "Provider"  # RequestRecord.request_type of a function's invocations that belong to no single request
ANSWER_GRACE_SECONDS = 1.0
EXPORT_JOB_ARN = re.compile(r"arn:aws[a-z-]*:forecast:[a-z0-9-]+:\d{12}:forecast-export-job/[^/]+/[^/]+")
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
DEFAULT_SESSION_SECONDS = 3600  # sts:AssumeRole DurationSeconds when the request gives none
# Lambda's asynchronous queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html): a
# CloudFormation request waits 0-2 s by default; MaximumEventAgeInSeconds defaults to 6 hours
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html); the same event may
# arrive twice (invocation-async.html: "the queue itself is eventually consistent"), rarely.
CFN_QUEUE_DELAY_DEFAULT = (0.0, 2.0)
MAX_EVENT_AGE_DEFAULT = 6 * 3600
RETRY_ATTEMPTS_DEFAULT = 2
RETRY_WAITS = (60.0, 120.0)  # invocation-async.html: one minute, then two
LAMBDA_DUPLICATES_DEFAULT = 0.02
# Every call takes time (harsh: enough for two invocations to interleave a read and a write).
CALL_LATENCY_DEFAULT = (0.05, 0.2)
# IAM changes take effect after a delay (troubleshoot_general.html#troubleshoot_general_eventual-consistency).
IAM_PROPAGATION_DEFAULT = (1.0, 4.0)
# On a stack's creation CloudFormation creates the roles and policies first, then what depends on them
# (aws-attribute-dependson.html), the handler's function among them, then the custom resources: the IAM
# resources are applied this long before the first request. An update changes a policy right before the
# custom resource that depends on it (no lead). ``iam_create_lead = 0`` is the right-after case.
IAM_CREATE_LEAD_DEFAULT = 5.0
TARGET_CHANGES = {"events:PutTargets", "events:RemoveTargets"}
RULE_CHANGES = TARGET_CHANGES | {"events:PutRule", "events:DeleteRule"}


class FakeLambdaContext:
    """What Lambda passes the handler; remaining time runs on the virtual clock."""

    def __init__(self, clock: VirtualClock, function_name: str, function_arn: str, timeout_seconds: float) -> None:
        self._clock = clock
        self._deadline = clock.now() + timeout_seconds
        self.function_name = function_name
        self.invoked_function_arn = function_arn
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 256
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - self._clock.now()) * 1000)


@dataclass
class Invocation:
    scheduled: float  # when the rule fired, the event matched (the job's change) or CloudFormation sent the request
    start: float
    end: float | None = None  # None while it runs
    from_rule: str = ""
    calls: list[tuple[float, str]] = field(default_factory=list)  # (time, service:Operation), denied ones too
    sends: list[float] = field(default_factory=list)  # times it PUT an answer to the response URL
    trigger: str = "cloudformation"  # "cloudformation", "schedule", "event", "self" (lambda:Invoke) or "foreign"
    event_id: str = ""  # the Forecast event that triggered it
    memory_mb: int = 128
    call_order: list[int] = field(default_factory=list)  # a global sequence number per call: orders calls made at one instant
    send_order: list[int] = field(default_factory=list)
    killed_at: float | None = None  # Lambda stopped it at the function's timeout
    delivery: Delivery | None = None  # the queued event it runs for (None: invoked directly)
    code: str = ""  # the function's Code (S3Key) in the applied template: which handler ran (LocalCloud.register_code)
    send_targets: list[str] = field(default_factory=list)  # the RequestId each answer in ``sends`` went to
    # The requests whose state it wrote back (a look saves its request's slot naming the RequestId): a Tick that
    # looks at a request within its own invocation is on the provider record, and this says at which.
    looked_at: set[str] = field(default_factory=set)

    @property
    def did_work(self) -> bool:
        """Anything beyond coordinating (LOOK_ONLY_CALLS: reading and writing the request's state, its lease, asking
        for a look with lambda:Invoke) and leaving: a Forecast or STS call, or an answer. A Tick never works."""
        return bool(self.sends) or any(op not in LOOK_ONLY_CALLS for _, op in self.calls)

    def until(self, now: float) -> float:
        return self.end if self.end is not None else now

    def duration(self, now: float) -> float:
        return self.until(now) - self.start

    def gb_seconds(self, now: float) -> float:
        """Lambda bills duration rounded up to the millisecond, times the memory in GB."""
        return ceil(round(self.duration(now) * 1000, 6)) / 1000 * self.memory_mb / 1024

    def _marks(self) -> tuple[list[tuple[float, int, str]], list[tuple[float, int]]]:
        def order(values: list[int], index: int) -> int:
            return values[index] if index < len(values) else index

        calls = [(t, order(self.call_order, i), op) for i, (t, op) in enumerate(self.calls)]
        sends = [(t, order(self.send_order, i)) for i, t in enumerate(self.sends)]
        return calls, sends

    def work_period(self) -> tuple[tuple[float, int], tuple[float, int]] | None:
        """From the first call other than a look (DescribeRule, ListTargetsByRule), or the first answer,
        to the last call or answer: as (time, sequence) pairs, so calls at one instant keep their order.
        None for an invocation that only looked."""
        calls, sends = self._marks()
        working = [(t, o) for t, o, op in calls if op not in LOOK_ONLY_CALLS] + sends
        if not working:
            return None
        return min(working), max([(t, o) for t, o, _ in calls] + sends)


@dataclass
class RequestRecord:
    request_type: str
    logical_id: str
    event: dict[str, Any]
    started_at: float
    service_timeout: float
    invocations: list[Invocation] = field(default_factory=list)
    response: Received | None = None  # the answer CloudFormation used
    timed_out: bool = False
    cancelled: bool = False  # "Resource creation/update cancelled": later answers are ignored
    cancelled_at: float = 0.0
    ignored: list[Received] = field(default_factory=list)  # answers that came after the cancellation
    running: int = 0
    replaced_cleanup: bool = False  # a Delete of a replaced physical ID: the resource already holds its new one
    forged: bool = False  # not CloudFormation's: sent by someone who may invoke the function; must get no answer
    refused: str = ""  # CloudFormation could not invoke the function (the deployer lacks lambda:InvokeFunction)

    @property
    def request_id(self) -> str:
        return str(self.event["RequestId"])

    @property
    def status(self) -> str:
        if self.response:
            return str(self.response.body["Status"])
        if self.refused:
            return "FAILED"
        return "CANCELLED" if self.cancelled else "TIMED_OUT"

    @property
    def reason(self) -> str:
        if self.response:
            return str(self.response.body.get("Reason", ""))
        if self.refused:
            return self.refused
        if self.cancelled:
            return f"Resource {'creation' if self.request_type == 'Create' else self.request_type.lower()} cancelled"
        return "CloudFormation timed out waiting"

    @property
    def answered(self) -> bool:
        return self.response is not None

    @property
    def physical_id(self) -> str:
        if self.response:
            return str(self.response.body["PhysicalResourceId"])
        return str(self.event.get("PhysicalResourceId", self.logical_id))

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.response.body.get("Data") or {}) if self.response else {}

    @property
    def deadline(self) -> float:
        return self.started_at + self.service_timeout

    def usage(self, now: float) -> dict[str, Any]:
        """What a benchmark reports: invocations (by trigger), Lambda seconds and GB-seconds."""
        others = sorted({i.trigger for i in self.invocations} - set(TRIGGERS))
        by_trigger = {t: sum(1 for i in self.invocations if i.trigger == t) for t in (*TRIGGERS, *others)}
        return {
            "invocations": len(self.invocations),
            "by_trigger": by_trigger,
            "seconds": sum(i.duration(now) for i in self.invocations),
            "gb_seconds": sum(i.gb_seconds(now) for i in self.invocations),
            "durations": [(i.trigger, i.duration(now)) for i in self.invocations],
        }


@dataclass
class StackResult:
    status: str
    requests: list[RequestRecord]

    def by_type(self, request_type: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.request_type == request_type]


@dataclass
class Delivery:
    """One event EventBridge handed to a target: a schedule firing or a matched Forecast event."""

    at: float  # when the target is invoked
    seq: int
    rule: str
    target_arn: str
    input: str
    fired: float  # when the rule fired, or when the job changed (the event's moment)
    trigger: str  # "schedule", "event", "cloudformation" or "self" (the handler invoked itself)
    event_id: str = ""
    copy: int = 0  # 1 for the duplicate of an event
    attempt: int = 0  # Lambda's retries of an invocation that failed (killed at the timeout)

    def __lt__(self, other: Delivery) -> bool:
        return (self.at, self.seq) < (other.at, other.seq)


@dataclass
class EmittedEvent:
    """A Forecast state-change event and what EventBridge did with it."""

    change: StatusChange
    body: dict[str, Any]
    matched: list[str] = field(default_factory=list)  # rules whose pattern matched it
    unmatched_new: list[str] = field(default_factory=list)  # rules that would have matched but were too new
    lost: int = 0  # deliveries dropped (event_loss)
    deliveries: list[Delivery] = field(default_factory=list)


def _applies(pattern: str, times: int | None, start: float, until: float | None, operation: str, now: float) -> bool:
    """Whether a scripted fault or slowness applies to this call: uses left, inside its window, matching."""
    if times is not None and times <= 0:
        return False
    if now < start or (until is not None and now >= until):
        return False
    return fnmatchcase(operation, pattern)


@dataclass
class Slowness:
    """Calls to ``operation`` take ``seconds`` (virtual) from ``start`` until ``until``."""

    operation: str
    seconds: float
    start: float
    until: float | None
    times: int | None

    def matches(self, operation: str, now: float) -> bool:
        return _applies(self.operation, self.times, self.start, self.until, operation, now)


@dataclass
class Fault:
    """An error the before-call hook returns instead of calling the service."""

    operation: str  # service:Operation, service:* or *
    code: str
    status: int
    times: int | None  # None: every call in the window
    start: float
    until: float | None  # None: no end (until ``times`` is used up)
    message: str = ""
    partial: bool = False  # HTTP 200 with FailedEntryCount 1 (PutTargets, RemoveTargets) instead of an error

    def matches(self, operation: str, now: float) -> bool:
        return _applies(self.operation, self.times, self.start, self.until, operation, now)


@dataclass(frozen=True)
class Caller:
    """The principal whose credentials sign a call: a role, and the session name it acts under."""

    role_arn: str  # arn:aws:iam::<account>:role/<path><name>
    session_name: str  # the function's name for its own credentials, else RoleSessionName
    expires_at: float | None = None  # virtual time; None for the function's own credentials

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def arn(self) -> str:
        """As AWS names the caller in AccessDenied messages."""
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_name}/{self.session_name}"


class Containers:
    """Warm Lambda containers: each holds its own copy of the handler module (and so its own
    crhelper CfnResource), as concurrent invocations in AWS run in separate containers."""

    def __init__(
        self,
        asset_dir: Path,
        clock: VirtualClock,
        package: str = "forecast_export",
        label: str = "",
        environment: dict[str, str] | None = None,
    ) -> None:
        self._asset_dir = asset_dir
        self._clock = clock
        self._package = package
        self._label = label or package  # module names: unique per pool, so two versions of one package coexist
        self._free: list[Any] = []
        self._count = 0
        self._lock = threading.Lock()
        # Lambda fixes a function's environment per execution environment: each container imports the handler
        # with its function's variables (a module reading os.environ at import sees its own function's table).
        self.environment = dict(environment or {})
        self._parent: Containers | None = None
        self._children: dict[tuple[str, str], Containers] = {}

    def for_function(self, function_name: str, environment: dict[str, str]) -> Containers:
        """The pool of ``function_name``'s containers running this code with ``environment``: a changed
        environment (an update of the function) starts new containers, as Lambda does."""
        key = (function_name, json.dumps(environment, sort_keys=True))
        with self._lock:
            pool = self._children.get(key)
            if pool is None:
                label = f"{self._label}_f{len(self._children) + 1}"
                pool = Containers(self._asset_dir, self._clock, self._package, label, environment)
                pool._parent = self
                self._children[key] = pool
        return pool

    def _load(self) -> Any:
        self._count += 1
        if self._parent is not None:
            self._parent._count += 1  # ``loaded`` of the code's pool counts every function's containers
        package = f"{self._label}_container{self._count}"
        folder = self._asset_dir / self._package
        spec = importlib.util.spec_from_file_location(package, folder / "__init__.py", submodule_search_locations=[str(folder)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        with _ENVIRONMENT_LOCK:
            saved = {key: os.environ.get(key) for key in self.environment}
            os.environ.update(self.environment)
            try:
                sys.modules[package] = module
                spec.loader.exec_module(module)
                return importlib.import_module(f"{package}.app")
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def acquire(self) -> Any:
        with self._lock:
            container = self._free.pop() if self._free else self._load()
        container.RUNTIME.clock = self._clock
        return container

    def release(self, container: Any) -> None:
        with self._lock:
            self._free.append(container)

    @property
    def loaded(self) -> int:
        return self._count


_ENVIRONMENT_LOCK = threading.Lock()  # os.environ is the process's: one container imports at a time

# sys.addaudithook cannot be undone: one hook per process, dispatching to the live LocalCloud.
_AUDIT_TARGETS: list[Any] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "http.client.send" and _AUDIT_TARGETS:
        _AUDIT_TARGETS[-1]._on_http_send(args)


# The IAM hooks go on every botocore session, not only boto3's default one: a handler that builds a
# boto3.Session from assumed credentials must not escape the checks. They dispatch to the live LocalCloud.
def _hook_record_call(**kwargs: Any) -> Any:
    return _AUDIT_TARGETS[-1]._record_call(**kwargs) if _AUDIT_TARGETS else None


def _hook_before_call(**kwargs: Any) -> Any:
    return _AUDIT_TARGETS[-1]._before_call(**kwargs) if _AUDIT_TARGETS else None


def _hook_after_call(**kwargs: Any) -> Any:
    return _AUDIT_TARGETS[-1]._after_call(**kwargs) if _AUDIT_TARGETS else None


def _register_hooks(session: botocore.session.Session) -> None:
    events = session.get_component("event_emitter")
    events.register("before-parameter-build", _hook_record_call, unique_id="localcloud-record-call")
    events.register("before-call", _hook_before_call, unique_id="localcloud-before-call")
    events.register("after-call", _hook_after_call, unique_id="localcloud-after-call")


_ORIGINAL_SESSION_INIT = botocore.session.Session.__init__


class _VirtualTimer:
    """crhelper's ``threading.Timer`` on the virtual clock: it fires in the invocation's own thread at its
    virtual moment (when that thread sleeps or calls past it), as the real timer would fire while the
    invocation waits. Outside an invocation it never fires."""

    def __init__(self, interval: float, function: Any, args: Any = None, kwargs: Any = None) -> None:
        self.interval = float(interval)
        self.function = function
        self._args = list(args or [])
        self._kwargs = dict(kwargs or {})
        self._cloud = _AUDIT_TARGETS[-1] if _AUDIT_TARGETS else None

    def start(self) -> None:
        cloud = self._cloud
        if cloud is None or not threading.current_thread().name.startswith("invocation-"):
            return
        cloud.clock.set_alarm(cloud.clock.now() + self.interval, self._fire, self)

    def _fire(self) -> None:
        cloud = self._cloud
        if cloud is not None:
            invocation = cloud._current()
            if invocation is not None:
                invocation.timer_fired_at = cloud.clock.now()  # type: ignore[attr-defined]
        self.function(*self._args, **self._kwargs)

    def cancel(self) -> None:
        if self._cloud is not None:
            self._cloud.clock.clear_alarm(self)


class _ThreadingWithVirtualTimer:
    """What crhelper.resource_helper sees as ``threading``: the real module, but Timer on the virtual clock."""

    def __getattr__(self, name: str) -> Any:
        return _VirtualTimer if name == "Timer" else getattr(threading, name)


def _virtualize_crhelper_timer() -> None:
    module = sys.modules.get("crhelper.resource_helper")
    if module is not None and not isinstance(getattr(module, "threading", None), _ThreadingWithVirtualTimer):
        module.threading = _ThreadingWithVirtualTimer()  # type: ignore[attr-defined]


def _session_init_with_hooks(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_SESSION_INIT(self, *args, **kwargs)
    _register_hooks(self)


def _signing_access_key(request_signer: Any, context: dict[str, Any] | None) -> str | None:
    """The access key that will sign this request, as botocore picks it: the request's own
    credentials if the signing context carries some (botocore/signers.py RequestSigner.sign passes
    ``signing.request_credentials`` on; get_auth_instance: ``request_credentials or self._credentials``),
    else the client's (RequestSigner._credentials, set in RequestSigner.__init__; the before-call event
    receives the signer in client.py _make_api_call)."""
    signing = (context or {}).get("signing") or {}
    credentials = signing.get("request_credentials") or getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    return str(credentials.get_frozen_credentials().access_key)


def session_tag_context(tags: list[dict[str, str]] | None) -> dict[str, Any]:
    """The request context of sts:AssumeRole's session tags: aws:RequestTag/<key> and aws:TagKeys."""
    if not tags:
        return {}
    context: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": str(t["Value"]) for t in tags}
    context["aws:TagKeys"] = [str(t["Key"]) for t in tags]
    return context


def role_policies(role_arn: str, *stacks: LocalStack) -> PolicySet:
    """Every statement attached to the role with this ARN by the templates these stacks applied last
    (inline Policies, AWS::IAM::Policy, AWS::IAM::ManagedPolicy). With ``cloud.signed_calls`` (the
    role ARN whose credentials signed each call), each call can be checked against its own role."""
    name = role_arn.rsplit("/", 1)[-1]
    return PolicySet([s for stack in stacks for s in stack.applied_statements(name)])


def required_permissions(service_operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """What IAM checks for one API call: (action, resource ARN, condition context).

    From the Service Authorization Reference (resource types and dependent actions per action) and
    Forecast's own rule that the caller must be able to use the export's KMS key. sts:AssumeRole is
    authorised on the role, plus sts:TagSession when session tags are passed. Unmapped calls
    (CloudWatch Logs, anything else) return [] and are allowed. These are the caller's identity
    policies only; the driver checks the role's trust policy for sts:AssumeRole on its own.
    """
    service, operation = service_operation.split(":")
    action = f"{service}:{operation}"
    if service == "sts" and operation == "AssumeRole":
        role = str(params.get("RoleArn", ""))
        context = session_tag_context(params.get("Tags"))
        return [(action, role, context)] + ([("sts:TagSession", role, context)] if params.get("Tags") else [])
    if service == "forecast":
        if operation == "CreateForecastExportJob":
            s3 = params.get("Destination", {}).get("S3Config", {})
            needed = [(action, str(params.get("ForecastArn", "")), {})]
            if s3.get("RoleArn"):
                needed.append(("iam:PassRole", s3["RoleArn"], {"iam:PassedToService": "forecast.amazonaws.com"}))
            if s3.get("KMSKeyArn"):
                needed += [("kms:Decrypt", s3["KMSKeyArn"], {}), ("kms:GenerateDataKey", s3["KMSKeyArn"], {})]
            if params.get("Tags"):
                forecast = str(params.get("ForecastArn", "")).rsplit("/", 1)[-1]
                job_name = params.get("ForecastExportJobName", "")
                job = f"arn:aws:forecast:{REGION}:{ACCOUNT}:forecast-export-job/{forecast}/{job_name}"
                needed.append(("forecast:TagResource", job, {}))
            return needed
        arn = params.get("ForecastExportJobArn") or params.get("ResourceArn")
        if arn:
            return [(action, str(arn), {})]
        return [(action, "*", {})]  # List* operations: resource "*"
    if service == "events":
        name = str(params.get("Name") or params.get("Rule") or "")
        if not name:
            return [(action, "*", {})]
        name = name.split("rule/", 1)[-1] if name.startswith("arn:") else name
        return [(action, f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}", {})]
    if service == "cloudformation":
        stack = str(params.get("StackName", ""))
        if stack.startswith("arn:"):
            return [(action, stack, {})]
        if stack:
            return [(action, f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/*", {})]
        return [(action, "*", {})]  # ListExports: no resource-level permissions
    if service == "lambda" and params.get("FunctionName"):
        name = function_name_of(str(params["FunctionName"]))
        # Invoke is authorised as lambda:InvokeFunction (list_awslambda.html).
        return [
            (
                "lambda:InvokeFunction" if operation == "Invoke" else action,
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
                {},
            )
        ]
    if service == "dynamodb":
        return _dynamodb_permissions(operation, params)
    return []


def _table_arn(name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _dynamodb_permissions(operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """DynamoDB's item actions are authorised on the table, a Query of an index on ``table/<t>/index/<i>``;
    TransactWriteItems on each action it contains, on that action's table (list_amazondynamodb.html: the
    transaction needs the permissions of the operations in it, dynamodb:ConditionCheckItem for a ConditionCheck)."""
    if operation == "TransactWriteItems":
        actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
        needed = []
        for item in params.get("TransactItems") or []:
            for kind, body in item.items():
                needed.append((f"dynamodb:{actions.get(kind, kind)}", _table_arn(str(body.get("TableName", ""))), {}))
        return needed
    table = str(params.get("TableName", ""))
    if not table:
        return [(f"dynamodb:{operation}", "*", {})]
    resource = _table_arn(table)
    if params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    return [(f"dynamodb:{operation}", resource, {})]


def function_name_of(name_or_arn: str) -> str:
    """A function's name from its name, ARN or partial ARN (``123456789012:function:name``), without a qualifier."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[-1]


class LocalCloud:
    """The servers one test session shares: local Forecast, moto, the response receiver."""

    def __init__(
        self, clock: VirtualClock, forecast: FakeForecast, receiver: HttpsReceiver, moto_url: str, asset_dir: Path
    ) -> None:
        self.clock = clock
        self.forecast = forecast
        self.receiver = receiver
        self.moto_url = moto_url
        self.containers = Containers(asset_dir, clock)  # the handler of every function whose code was not registered
        # Upgrades: the handler folder of each registered function Code (S3Key), and the Code each function has in
        # the template applied now. The code switches when CloudFormation updates the function, in UPDATE_IN_PROGRESS
        # before the custom resources (FACTS.md "Order within an update"); a rollback switches it back.
        self.code_containers: dict[str, Containers] = {}
        self.function_code: dict[str, str] = {}
        self.aws_calls: list[tuple[str, dict[str, Any]]] = []  # (service:Operation, params) made by the handler
        self.denied: list[str] = []  # calls the IAM check refused, with time, action and resource
        self.unmapped: list[str] = []  # handler calls no IAM rule covers (allowed)
        self.faults: list[Fault] = []
        # EventBridge's rules-per-bus quota and its 50 requests/s, shared with other tools (on by default).
        self.eventbridge = EventBridgeQuotas(clock)
        self.rule_created_at: dict[str, float] = {}  # schedule epoch: the PutRule that created the rule
        self._put_rule_times: dict[str, float] = {}
        self._live_rules: set[str] = set()
        self.exact_schedule = False  # kindness, opt-in: fire at epoch + N * period exactly, deliver at once
        # Adversary, opt-in: (second of its last minute each period fires at, delivery delay), cycled over the periods.
        self.schedule_script: list[tuple[float, float]] | None = None
        self.rng = random.Random(0)
        self.stacks: dict[str, LocalStack] = {}  # stack name -> stack; each holds its applied template
        self.stacks_by_id: dict[str, LocalStack] = {}  # every stack of the test, deleted ones included
        self.function_roles: dict[str, str] = {}  # function name -> role name
        self.function_role_arns: dict[str, str] = {}  # function name -> role ARN (path included)
        # Access key -> the role session it belongs to, for every AssumeRole the bed allowed. Kept
        # across tests: a warm container may still hold credentials (they are checked against the
        # templates applied now, and expire).
        self.sessions: dict[str, Caller] = {}
        self.session_expiry = True  # calls signed with an expired session's credentials fail (ExpiredTokenException)
        self.signed_calls: list[tuple[str, str, dict[str, Any]]] = []  # (role ARN that signed, service:Operation, params)
        self._policy_cache: dict[str, PolicySet] = {}
        self._local = threading.local()
        if botocore.session.Session.__init__ is not _session_init_with_hooks:
            botocore.session.Session.__init__ = _session_init_with_hooks
        if not _AUDIT_TARGETS:
            sys.addaudithook(_audit)
        _AUDIT_TARGETS.append(self)
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        _register_hooks(boto3.DEFAULT_SESSION._session)  # already there through __init__; unique_id makes this a no-op
        self.events = boto3.client("events", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.iam = boto3.client("iam", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        # DynamoDB's item size, transaction size and per-partition throughput (on by default), and the tables the
        # stacks made (name -> {"": hash key, "<index>": its hash key}: the partitions the quotas are kept per).
        self.dynamodb_quotas = DynamoDBQuotas(clock)
        self.table_keys: dict[str, dict[str, str]] = {}
        self.template_rules: set[str] = set()  # rules of the stacks' templates (not leftovers while the stack lives)
        # Invocations that belong to no single request (a Tick, a Forecast event, a self-invocation without a
        # RequestId): one record per function, apart from CloudFormation's requests (``provider_record``).
        self.provider_records: dict[str, RequestRecord] = {}
        self.foreign_records: list[RequestRecord] = []  # invoke_foreign's
        self.self_invocations: list[Delivery] = []  # every lambda:Invoke the handler made of itself, as queued
        self.function_environment: dict[str, dict[str, str]] = {}  # function name -> its applied Environment
        self.violations: list[str] = []
        self.all_requests: list[RequestRecord] = []
        self._periods: dict[str, tuple[int, float]] = {}  # rule -> (period index, firing time in it)
        self._deliveries: list[tuple[float, int, str, str, str, float]] = []  # (at, seq, rule, target ARN, input, fired)
        self._seq = 0
        self._rules_cache: dict[str, dict[str, Any]] = {}
        self._dirty = True
        self.template_permissions: dict[str, list[str]] = {}  # function name -> SourceArn patterns (AWS::Lambda::Permission)
        self.functions: dict[str, float] = {}  # function name -> timeout
        self.function_memory: dict[str, int] = {}  # function name -> MemorySize (MB)
        self.receiver_port = int(receiver.url_for("x").split(":")[2].split("/")[0])
        self._order = itertools.count()
        self.slowness: list[Slowness] = []
        # Forecast events through EventBridge (see EVENT_DELAY_DEFAULT); reset per test.
        self.event_rng = random.Random(1)
        self.event_delay: tuple[float, float] = EVENT_DELAY_DEFAULT
        self.event_loss = 0.0  # probability that a matched event never reaches the target
        self.event_duplicates = 0.0  # probability that it reaches it twice (the copy up to 10 s later)
        self.event_late: tuple[float, float] | None = None  # extra lateness of every event, in minutes
        self.rule_grace: tuple[float, float] = RULE_GRACE_DEFAULT
        self.emitted: list[EmittedEvent] = []
        self.deliveries_log: list[Delivery] = []  # every delivery made, schedule and event alike
        self._rule_configs: dict[str, list[tuple[float, dict[str, Any] | None]]] = {}  # rule -> (in force from, pattern)
        # Lambda's asynchronous queue, timeouts, call latency, IAM propagation (see the module docstring).
        self.cfn_queue_delay: tuple[float, float] = CFN_QUEUE_DELAY_DEFAULT
        self.lambda_duplicates = LAMBDA_DUPLICATES_DEFAULT
        self.duplicate_lag: tuple[float, float] = (0.0, DUPLICATE_LAG_MAX)
        self.call_latency: tuple[float, float] = CALL_LATENCY_DEFAULT
        self.concurrent_target_failures = True
        self.iam_propagation: tuple[float, float] = IAM_PROPAGATION_DEFAULT
        self.iam_create_lead = IAM_CREATE_LEAD_DEFAULT
        self.queue_rng = random.Random(2)
        self.latency_rng = random.Random(3)
        self.iam_rng = random.Random(4)
        self.function_max_age: dict[str, float] = {}  # function name -> MaximumEventAgeInSeconds
        self.function_retries: dict[str, int] = {}  # function name -> MaximumRetryAttempts
        self.deleted_functions: set[str] = set()  # deleted with their stack: EventBridge and Lambda no longer run them
        self.dropped: list[Delivery] = []  # events Lambda discarded (older than the maximum event age, or function gone)
        # The account's concurrency pool and each function's reservation: throttled events wait in the queue.
        self.lambda_concurrency = LambdaConcurrency(clock)
        self.kills: list[str] = []  # invocations Lambda stopped at the function's timeout
        self.killed: list[Invocation] = []
        self.function_errors: list[Invocation] = []  # invocations the handler failed on purpose (RetryLater)
        self.partial_failures: list[str] = []  # PutTargets/RemoveTargets answered with FailedEntryCount > 0
        self._rule_changes: dict[str, list[tuple[float, float, int]]] = {}  # rule -> in-flight changes (start, end, id)
        self.iam_stamps: dict[tuple[str, ...], float] = {}  # statement or trust key -> in force from (virtual)
        self._iam_pending_until = 0.0
        _virtualize_crhelper_timer()

    # --- hooks on the handler's calls ----------------------------------------------------------------

    def _current(self) -> Invocation | None:
        if not threading.current_thread().name.startswith("invocation-"):
            return None
        return getattr(self._local, "invocation", None)

    def _record_call(self, model: Any, params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
        invocation = threading.current_thread().name.startswith("invocation-")
        if invocation:
            operation = f"{model.service_model.signing_name}:{model.name}"
            self.aws_calls.append((operation, dict(params)))
            current = self._current()
            saved = (params.get("ExpressionAttributeValues") or {}).get(":rid", {}).get("S")
            if current is not None and operation == "dynamodb:UpdateItem" and saved:
                current.looked_at.add(str(saved))
        # Rule changes are followed from any thread (the handler's or a test's own client).
        if context is not None and (invocation or model.service_model.signing_name == "events"):
            context["localcloud_params"] = copy.deepcopy(params)

    def _error(self, code: str, message: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return AWSResponse("https://local.invalid/", status, {}, None), parsed

    def _before_call(self, model: Any, request_signer: Any = None, context: dict[str, Any] | None = None, **_: Any) -> Any:
        """Faults, then IAM. Returning (http, parsed) short-circuits botocore's request
        (botocore client._make_api_call: emit_until_response('before-call...')); a status >= 300
        raises the ClientError the service would have caused. botocore's retry handler never sees
        these answers: each attempt the handler makes counts once."""
        invocation = self._current()
        if invocation is None:
            return None
        self.clock.check_alive()  # a killed invocation makes no call
        operation = f"{model.service_model.signing_name}:{model.name}"
        now = self.clock.now()
        invocation.calls.append((now, operation))
        invocation.call_order.append(next(self._order))
        params = (context or {}).get("localcloud_params", {})
        latency = next((slow for slow in self.slowness if slow.matches(operation, now)), None)
        if latency is not None:
            if latency.times is not None:
                latency.times -= 1
            seconds = latency.seconds
        else:
            seconds = self.latency_rng.uniform(*self.call_latency)
        change = self._begin_rule_change(operation, params, now, seconds)
        self.clock.sleep(seconds)  # the call is sent (and answered) that much later; a kill lands here
        now = self.clock.now()
        for fault in self.faults:
            if fault.matches(operation, now):
                if fault.times is not None:
                    fault.times -= 1
                if fault.partial:
                    return self._partial_failure(operation, params, now, "injected")
                return self._error(fault.code, fault.message or f"Rate exceeded ({fault.code}, injected)", fault.status)
        refused = self.eventbridge.refuse(operation, params, now, self._live_rules)
        if refused is None:
            refused = self.dynamodb_quotas.refuse(operation, params, now, self.table_keys)
        if refused is not None:
            return self._error(*refused)
        if change is not None and self._rule_change_collides(change):
            return self._partial_failure(operation, params, now, "another change of the rule was in flight")
        function = getattr(self._local, "function", "")
        access_key = _signing_access_key(request_signer, context)
        caller = self.sessions.get(access_key or "")
        if caller is None:
            own_key = os.environ.get("AWS_ACCESS_KEY_ID")
            if access_key is not None and access_key != own_key:
                self.denied.append(f"t={now - self._t0:.0f} {operation} signed with unknown access key {access_key}")
                return self._error("UnrecognizedClientException", "The security token included in the request is invalid.", 400)
            role_arn = self.function_role_arns.get(function)
            if role_arn is None:
                self.violations.append(f"no role known for function {function}: IAM not checked for {operation}")
                return None
            caller = Caller(role_arn, function)
        elif self.session_expiry and caller.expires_at is not None and now >= caller.expires_at:
            self.denied.append(f"t={now - self._t0:.0f} {operation} with the expired session {caller.arn}")
            return self._error("ExpiredTokenException", "The security token included in the request is expired", 400)
        self.signed_calls.append((caller.role_arn, operation, params))
        needed = required_permissions(operation, params)
        if not needed:
            self.unmapped.append(f"{now:.0f} {operation}")
        policies = self.policies_for_role(caller.role_name)
        for action, resource, condition in needed:
            if not policies.allows(action, resource, condition):
                self.denied.append(f"t={now - self._t0:.0f} {action} on {resource} by {caller.arn}")
                return self._access_denied(
                    operation, caller, action, resource, f"because no identity-based policy allows the {action} action"
                )
        if operation == "sts:AssumeRole":
            return self._check_trust(caller, params, now)
        if operation.startswith("cloudformation:"):
            return self._cloudformation_read(operation.split(":", 1)[1], params)
        if operation in ("forecast:DeleteForecastExportJob", "forecast:StopResource"):
            self._check_held_job(operation, params, now)
        if operation == "lambda:Invoke":
            return self._invoke_self(params, function, now)
        return None

    def _invoke_self(self, params: dict[str, Any], caller_function: str, now: float) -> Any:
        """lambda:Invoke, answered by the driver (mocked: moto cannot run a Lambda function without Docker).
        InvocationType Event queues the payload like any asynchronous event (queue delay, rare duplicates,
        MaximumEventAgeInSeconds, retries of a RetryLater failure) and answers 202; the handler must never
        wait on itself, so RequestResponse is a violation."""
        name = function_name_of(str(params.get("FunctionName", "")))
        payload = params.get("Payload") or b"{}"
        text = (
            payload.decode()
            if isinstance(payload, bytes)
            else payload.read().decode()
            if hasattr(payload, "read")
            else str(payload)
        )
        if name not in self.functions or name in self.deleted_functions:
            message = f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            return self._error("ResourceNotFoundException", message, 404)
        invocation_type = params.get("InvocationType", "RequestResponse")
        if invocation_type != "Event":
            self.violations.append(
                f"t={now - self._t0:.1f} {caller_function} invoked {name} with InvocationType {invocation_type}"
            )
            return self._error("InvalidParameterValueException", "the test bed runs only asynchronous invocations", 400)
        if len(text.encode()) > ASYNC_PAYLOAD_MAX:
            size = len(text.encode())
            return self._error(
                "RequestTooLargeException", f"Request must be smaller than {ASYNC_PAYLOAD_MAX} bytes ({size})", 413
            )
        self._seq += 1
        delay = self.queue_rng.uniform(*self.cfn_queue_delay)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        delivery = Delivery(now + delay, self._seq, "", arn, text, now, "self")
        self.self_invocations.append(delivery)
        self.enqueue(delivery)
        parsed = {"StatusCode": 202, "Payload": StreamingBody(io.BytesIO(b""), 0)}
        return self._ok(parsed)

    def _begin_rule_change(
        self, operation: str, params: dict[str, Any], now: float, seconds: float
    ) -> tuple[str, str, float, float, int] | None:
        if operation not in RULE_CHANGES:
            return None
        rule = str(params.get("Rule") or params.get("Name") or "")
        ident = next(self._order)
        self._rule_changes.setdefault(rule, []).append((now, now + seconds, ident))
        return (operation, rule, now, now + seconds, ident)

    def _rule_change_collides(self, change: tuple[str, str, float, float, int]) -> bool:
        """A PutTargets/RemoveTargets whose time in flight overlapped another change of the same rule."""
        operation, rule, start, end, ident = change
        if not self.concurrent_target_failures or operation not in TARGET_CHANGES:
            return False
        return any(i != ident and a < end and start < b for a, b, i in self._rule_changes.get(rule, []))

    def _partial_failure(self, operation: str, params: dict[str, Any], now: float, why: str) -> Any:
        """HTTP 200 with FailedEntryCount 1: the target was not put or removed (API_PutTargets, API_RemoveTargets)."""
        if operation not in TARGET_CHANGES:
            return None
        ids = [t.get("Id", "") for t in params.get("Targets", [])] or list(params.get("Ids", []))
        self.partial_failures.append(f"t={now - self._t0:.2f} {operation} on {params.get('Rule')} ({why})")
        parsed = {
            "FailedEntryCount": len(ids),
            "FailedEntries": [
                {
                    "TargetId": i,
                    "ErrorCode": "ConcurrentModificationException",
                    "ErrorMessage": "Too many requests at the same time",
                }
                for i in ids
            ],
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return AWSResponse("https://local.invalid/", 200, {}, None), parsed

    def _check_held_job(self, operation: str, params: dict[str, Any], now: float) -> None:
        """A job that CloudFormation holds as a resource's physical ID may be stopped or deleted only by a
        Delete of that very physical ID (a rollback that removes its own resource's job is a bug)."""
        arn = str(params.get("ForecastExportJobArn") or params.get("ResourceArn") or "")
        record: RequestRecord | None = getattr(self._local, "record", None)
        if not arn or record is None or record.request_type == PROVIDER:
            return  # a provider invocation (Tick, Forecast event) acts for requests the bed cannot tell apart
        if record.request_type == "Delete" and record.event.get("PhysicalResourceId") == arn:
            return
        made_up_delete = record.request_type == "Delete" and not EXPORT_JOB_ARN.fullmatch(
            str(record.event.get("PhysicalResourceId"))
        )
        for stack in list(self.stacks.values()):
            for logical_id, physical_id in stack.physical_ids.items():
                if made_up_delete and logical_id == record.logical_id:
                    continue  # a test drove a made-up-ID Delete of a resource the stack holds (CloudFormation never does)
                if physical_id == arn:
                    self.violations.append(
                        f"t={now - self._t0:.0f} {record.logical_id} {record.request_type}: {operation} on {arn}, which stack "
                        f"{stack.name} holds as the physical ID of {logical_id}"
                    )

    def _access_denied(self, operation: str, caller: Caller, action: str, resource: str, why: str) -> Any:
        """AccessDenied as the service says it: STS and IAM (query protocol) answer ``AccessDenied``
        with HTTP 403, JSON services ``AccessDeniedException`` with 400."""
        code, status = ("AccessDenied", 403) if operation.split(":")[0] in ("sts", "iam") else ("AccessDeniedException", 400)
        message = f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}"
        return self._error(code, message, status)

    def _check_trust(self, caller: Caller, params: dict[str, Any], now: float) -> Any:
        """The assumed role's trust policy must allow the caller sts:AssumeRole, and sts:TagSession
        when tags are passed, under the session-tag context."""
        role_arn = str(params.get("RoleArn", ""))
        context = session_tag_context(params.get("Tags"))
        actions = ["sts:AssumeRole"] + (["sts:TagSession"] if params.get("Tags") else [])
        trust = self.trust_policy(role_arn)
        refused = actions if trust is None else [a for a in actions if not trust.trusts(caller.role_arn, a, context)]
        if not refused:
            return None
        why = "because the role is in no applied template" if trust is None else "because its trust policy does not allow it"
        self.denied.append(f"t={now - self._t0:.0f} {refused[0]} on {role_arn} by {caller.arn} ({why})")
        return self._access_denied("sts:AssumeRole", caller, refused[0], role_arn, why)

    def trust_policy(self, role_arn: str) -> PolicySet | None:
        """The trust policy of the role with this ARN in the templates in force, or None if no stack defines
        it. A new role, or a changed trust statement, is in force only once it has propagated."""
        for stack in list(self.stacks.values()):
            document = stack.trust_policy(role_arn)
            if document is not None:
                statements = _statements(document)
                now = self.clock.now()
                in_force = [st for st in statements if self.iam_in_force(("trust", stack.name, role_arn, _key(st)), now)]
                if not in_force and statements:
                    return None  # the role itself has not propagated yet: as if it did not exist
                return PolicySet(in_force)
        return None

    # --- IAM propagation (eventual consistency) -----------------------------------------------------

    def stamp_iam(self, keys: list[tuple[str, ...]], lead: float = 0.0) -> None:
        """Statements (and trust statements) CloudFormation applied ``lead`` seconds ago: each new one takes
        effect ``iam_propagation`` after that; ones already in force keep their moment."""
        now = self.clock.now() - lead
        for key in keys:
            if key not in self.iam_stamps:
                at = now + self.iam_rng.uniform(*self.iam_propagation)
                self.iam_stamps[key] = at
                self._iam_pending_until = max(self._iam_pending_until, at)
        self._policy_cache.clear()

    def iam_in_force(self, key: tuple[str, ...], now: float) -> bool:
        stamp = self.iam_stamps.get(key)
        return stamp is None or stamp <= now

    @contextlib.contextmanager
    def acting_as(self, function_name: str) -> Iterator[Invocation]:
        """Let the current thread (named ``invocation-...``) call AWS as ``function_name`` does inside
        an invocation: its calls are recorded, faulted and IAM-checked. For tests of the bed itself."""
        if not threading.current_thread().name.startswith("invocation-"):
            raise RuntimeError("acting_as needs a thread whose name starts with 'invocation-'")
        now = self.clock.now()
        invocation = Invocation(now, now)
        self._local.invocation, self._local.function = invocation, function_name
        try:
            yield invocation
        finally:
            invocation.end = self.clock.now()
            self._local.invocation, self._local.function = None, ""

    def _after_call(
        self, http_response: Any, model: Any, parsed: Any = None, context: dict[str, Any] | None = None, **_: Any
    ) -> None:
        """Sessions the handler assumes (STS), and rule changes, from the handler or from a test: when a
        rule was created (its schedule's epoch) and since when each EventPattern is in force (after the
        new-rule grace)."""
        if model.service_model.signing_name == "sts" and model.name == "AssumeRole":
            if threading.current_thread().name.startswith("invocation-"):
                self._record_session(http_response, parsed, context)
            return
        if model.service_model.signing_name != "events":
            return
        if model.name in ("PutRule", "DeleteRule", "PutTargets", "RemoveTargets", "EnableRule", "DisableRule"):
            self._dirty = True
        if http_response is None or http_response.status_code >= 300:
            return
        params = (context or {}).get("localcloud_params", {})
        name = str(params.get("Name", ""))
        now = self.clock.now()
        if model.name == "PutRule":
            if name not in self._live_rules:
                self._live_rules.add(name)
                self._put_rule_times[name] = now
            pattern = json.loads(params["EventPattern"]) if params.get("EventPattern") else None
            if pattern is not None:
                try:
                    validate(pattern)
                except PatternError as error:
                    self.violations.append(f"rule {name}: EventPattern {error}")
            # PutRule replaces the whole rule: a PutRule without EventPattern removes it.
            self._rule_configs.setdefault(name, []).append((now + self.event_rng.uniform(*self.rule_grace), pattern))
        elif model.name == "DeleteRule":
            self._live_rules.discard(name)
            self._rule_configs.pop(name, None)

    def _record_session(self, http_response: Any, parsed: Any, context: dict[str, Any] | None) -> None:
        """Map the credentials moto returned to the assumed role, and put their expiry on the virtual
        clock (moto's is wall-clock time, years before the virtual now)."""
        if http_response is None or http_response.status_code >= 300 or not isinstance(parsed, dict):
            return
        credentials = parsed.get("Credentials") or {}
        params = (context or {}).get("localcloud_params", {})
        if not credentials.get("AccessKeyId"):
            return
        expires_at = self.clock.now() + int(params.get("DurationSeconds") or DEFAULT_SESSION_SECONDS)
        self.sessions[str(credentials["AccessKeyId"])] = Caller(
            str(params["RoleArn"]), str(params.get("RoleSessionName", "")), expires_at
        )
        credentials["Expiration"] = datetime.fromtimestamp(expires_at, tz=timezone.utc)

    def _on_http_send(self, args: tuple[Any, ...]) -> None:
        """An answer PUT by the handler (seen through the http.client.send audit event)."""
        connection, data = args
        if getattr(connection, "port", None) != self.receiver_port or not bytes(data[:4]) == b"PUT ":
            return
        invocation = self._current()
        if invocation is not None:
            self.clock.check_alive()  # a killed invocation sends nothing (raises out of http.client)
            invocation.sends.append(self.clock.now())
            invocation.send_order.append(next(self._order))
            line = bytes(data[: bytes(data).find(b"\r\n")]).decode(errors="replace")  # PUT <path>?<query> HTTP/1.1
            invocation.send_targets.append(line.split(" ")[1].split("?")[0].rsplit("/", 1)[-1] if " " in line else "")

    # --- scripting -----------------------------------------------------------------------------------

    def inject(
        self,
        operation: str,
        code: str = "ThrottlingException",
        status: int = 400,
        *,
        times: int | None = None,
        seconds: float | None = None,
        after: float = 0.0,
        message: str = "",
    ) -> Fault:
        """Answer the handler's calls to ``operation`` ("events:PutTargets", "forecast:*", "*") with an
        error: ``times`` calls, or every call for ``seconds`` starting ``after`` seconds from now."""
        now = self.clock.now()
        if times is None and seconds is None:
            times = 1
        fault = Fault(operation, code, status, times, now + after, None if seconds is None else now + after + seconds, message)
        self.faults.append(fault)
        return fault

    def partial_failure(
        self, operation: str = "events:PutTargets", *, times: int | None = None, seconds: float | None = None, after: float = 0.0
    ) -> Fault:
        """Answer ``events:PutTargets`` or ``events:RemoveTargets`` with HTTP 200 and FailedEntryCount 1
        (nothing changed), as EventBridge does when "too many requests are made at the same time"."""
        fault = self.inject(operation, "ConcurrentModificationException", 200, times=times, seconds=seconds, after=after)
        fault.partial = True
        return fault

    def throttle(self, operation: str, *, times: int | None = None, seconds: float | None = None, after: float = 0.0) -> Fault:
        return self.inject(operation, "ThrottlingException", 400, times=times, seconds=seconds, after=after)

    def slow(
        self, operation: str, latency: float, *, times: int | None = None, seconds: float | None = None, after: float = 0.0
    ) -> Slowness:
        """Make the handler's calls to ``operation`` take ``latency`` virtual seconds: ``times`` calls, or
        every call for ``seconds`` starting ``after`` seconds from now (neither: every call from now on)."""
        now = self.clock.now()
        slowness = Slowness(operation, latency, now + after, None if seconds is None else now + after + seconds, times)
        self.slowness.append(slowness)
        return slowness

    # --- Forecast events, for tests and benchmarks ----------------------------------------------------

    @property
    def events_emitted(self) -> int:
        """Forecast state-change events put on the default bus (whether or not a rule matched them)."""
        return len(self.emitted)

    @property
    def events_delivered(self) -> int:
        """Matched Forecast events handed to a target (duplicates count twice)."""
        return sum(1 for d in self.deliveries_log if d.trigger == "event")

    def event_deliveries(self, request_id: str | None = None) -> list[Delivery]:
        """Event deliveries made so far; with ``request_id``, those that reached that request: an input naming it
        (a rule-based release's polling rule), or, issue 16's ForecastEvents rule delivering the event itself, an
        event about the request's job (its physical ID) handed to the request's function."""
        found = [d for d in self.deliveries_log if d.trigger == "event"]
        if request_id is None:
            return found
        record = next((r for r in self.all_requests if r.request_id == request_id), None)
        function = function_name_of(str(record.event.get("ServiceToken", ""))) if record is not None else None
        job_of = {e.body["id"]: e.change.arn for e in self.emitted}
        return [
            d
            for d in found
            if _request_id_of(d.input) == request_id
            or (
                record is not None
                and not _request_id_of(d.input)
                and function_name_of(d.target_arn) == function
                and job_of.get(d.event_id) == record.physical_id
            )
        ]

    def detection(
        self, record: RequestRecord, statuses: tuple[str, ...] = ("ACTIVE", "CREATE_FAILED", "CREATE_STOPPED")
    ) -> dict[str, Any] | None:
        """Detection latency of an answered request: its job's last change to one of ``statuses``
        before the answer was accepted, the arrival of that change's event at this request (if any),
        and the answer. None when the request was not answered or no such change happened."""
        if record.response is None:
            return None
        job = record.physical_id
        answered = record.response.at
        changes = [c for c in self.forecast.changes_of(job) if c.status in statuses and c.at <= answered]
        if not changes:
            return None
        change = changes[-1]
        ids = {e.body["id"] for e in self.emitted if e.change == change}
        # Issue 16's rule delivers the event itself (no RequestId) to the request's function.
        function = function_name_of(str(record.event.get("ServiceToken", "")))
        arrivals = sorted(
            d.at
            for d in self.event_deliveries()
            if d.event_id in ids
            and (
                _request_id_of(d.input) == record.request_id
                or (not _request_id_of(d.input) and function_name_of(d.target_arn) == function)
            )
        )
        return {
            "status": change.status,
            "changed_at": change.at,
            "answered_at": answered,
            "latency": answered - change.at,
            "event_arrived_at": arrivals[0] if arrivals else None,
            "after_event": answered - arrivals[0] if arrivals else None,
        }

    def advance(self, seconds: float) -> None:
        """Let time pass (rules keep firing, invocations keep running) without waiting for anything."""
        self.run([], horizon=self.clock.now() + seconds, wait_for_horizon=True)

    # --- IAM ----------------------------------------------------------------------------------------------

    def register_stack(self, stack: LocalStack) -> None:
        self.stacks[stack.name] = stack
        self.stacks_by_id[stack.stack_id] = stack  # kept after deletion: CloudFormation describes deleted stacks by ID
        self._policy_cache.clear()

    def unregister_stack(self, stack: LocalStack) -> None:
        if self.stacks.get(stack.name) is stack:
            del self.stacks[stack.name]
        self._policy_cache.clear()

    def iam_changed(self) -> None:
        self._policy_cache.clear()

    def policies_for_role(self, role_name: str) -> PolicySet:
        now = self.clock.now()
        propagating = now < self._iam_pending_until
        cached = None if propagating else self._policy_cache.get(role_name)
        if cached is None:
            statements: list[dict[str, Any]] = []
            for stack in list(self.stacks.values()):
                statements += [
                    st
                    for st in stack.applied_statements(role_name)
                    if self.iam_in_force(("policy", stack.name, role_name, _key(st)), now)
                ]
            cached = PolicySet(statements)
            if not propagating:
                self._policy_cache[role_name] = cached
        return cached

    # --- lifecycle of the test bed --------------------------------------------------------------------

    def reset(self) -> None:
        urlopen(Request(self.moto_url + "/moto-api/reset", method="POST")).read()
        self.forecast.reset()
        self.receiver.store.reset()
        self.receiver.legacy_signing = False
        self.violations.clear()
        self.all_requests.clear()
        self.functions.clear()
        self.aws_calls.clear()
        self.denied.clear()
        self.unmapped.clear()
        self.faults.clear()
        self.eventbridge.reset()
        self.dynamodb_quotas.reset()
        self.table_keys.clear()
        self.template_rules.clear()
        self.provider_records.clear()
        self.foreign_records.clear()
        self.self_invocations.clear()
        self.function_environment.clear()
        self.rule_created_at.clear()
        self._put_rule_times.clear()
        self._live_rules.clear()
        self._periods.clear()
        self._deliveries.clear()
        self._rules_cache.clear()
        self.stacks.clear()
        self.stacks_by_id.clear()
        self.function_roles.clear()
        self.function_role_arns.clear()
        self.signed_calls.clear()
        self.session_expiry = True
        self.template_permissions.clear()
        self._policy_cache.clear()
        self.exact_schedule = False
        self.schedule_script = None
        self.slowness.clear()
        self.function_memory.clear()
        self.function_code.clear()
        self.emitted.clear()
        self.deliveries_log.clear()
        self._rule_configs.clear()
        self.event_delay = EVENT_DELAY_DEFAULT
        self.event_loss = 0.0
        self.event_duplicates = 0.0
        self.event_late = None
        self.rule_grace = RULE_GRACE_DEFAULT
        self.cfn_queue_delay = CFN_QUEUE_DELAY_DEFAULT
        self.lambda_duplicates = LAMBDA_DUPLICATES_DEFAULT
        self.duplicate_lag = (0.0, DUPLICATE_LAG_MAX)
        self.call_latency = CALL_LATENCY_DEFAULT
        self.concurrent_target_failures = True
        self.iam_propagation = IAM_PROPAGATION_DEFAULT
        self.iam_create_lead = IAM_CREATE_LEAD_DEFAULT
        self.function_max_age.clear()
        self.function_retries.clear()
        self.deleted_functions.clear()
        self.dropped.clear()
        self.lambda_concurrency.reset()
        self.kills.clear()
        self.killed.clear()
        self.function_errors.clear()
        self.partial_failures.clear()
        self._rule_changes.clear()
        self.iam_stamps.clear()
        self._iam_pending_until = 0.0
        # Deterministic per test, different between tests. Events draw from their own generator, so
        # the schedule's jitter does not depend on how many events a test sees.
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        self.rng = random.Random(zlib.crc32(test.encode()))
        self.event_rng = random.Random(zlib.crc32(b"events " + test.encode()))
        self.queue_rng = random.Random(zlib.crc32(b"queue " + test.encode()))
        self.latency_rng = random.Random(zlib.crc32(b"latency " + test.encode()))
        self.iam_rng = random.Random(zlib.crc32(b"iam " + test.encode()))
        self.forecast.event_shape = self.event_rng.choice(ALL_SHAPES)  # the body's shape is unknown: vary it
        self._t0 = self.clock.now()

    def ensure_function(self, name: str, timeout: float, memory_mb: int = 128) -> None:
        """moto needs the function to exist before crhelper can add permissions to it."""
        self.function_memory[name] = memory_mb
        if name in self.functions:
            return
        try:
            role = self.iam.create_role(RoleName="handler-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        except ClientError:
            role = self.iam.get_role(RoleName="handler-role")["Role"]["Arn"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("index.py", "")
        try:
            self.lambda_.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="forecast_export.app.handler",
                Code={"ZipFile": buffer.getvalue()},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceConflictException":
                raise
        self.functions[name] = timeout

    def register_code(self, s3_key: str, asset_dir: Path) -> None:
        """Run functions whose applied template names ``s3_key`` as their Code with the handler in ``asset_dir``
        (a previous release's asset); other functions run the session's handler."""
        if s3_key not in self.code_containers:
            label = f"forecast_export_{s3_key[:12]}"
            self.code_containers[s3_key] = Containers(asset_dir, self.clock, label=label)

    def containers_for(self, function_name: str) -> Containers:
        """The warm containers of ``function_name``: its code's handler, imported with its environment."""
        code = self.code_containers.get(self.function_code.get(function_name, ""), self.containers)
        environment = self.function_environment.get(function_name)
        return code if environment is None else code.for_function(function_name, environment)

    @property
    def lambda_throttles(self) -> Counter[str]:
        """Throttled tries of queued events per function (no free concurrency when they were due); 0 if none."""
        return Counter(self.lambda_concurrency.throttles)

    @property
    def live_rules(self) -> set[str]:
        """Names of the rules on the default bus now (the handler's, the stacks', a test's)."""
        return set(self._live_rules)

    def provider_record(self, function_name: str) -> RequestRecord:
        """The record of ``function_name``'s invocations that belong to no single request: Tick firings,
        Forecast events, self-invocations without a RequestId. Kept apart from CloudFormation's requests
        (``all_requests``); a benchmark adds its ``usage(now)["gb_seconds"]`` to the requests'."""
        record = self.provider_records.get(function_name)
        if record is None:
            event = {"RequestId": f"provider-{function_name}"}
            record = RequestRecord(PROVIDER, f"provider:{function_name}", event, self.clock.now(), float("inf"))
            self.provider_records[function_name] = record
        return record

    def looks_at(self, record: RequestRecord) -> list[Invocation]:
        """Every invocation that looked at ``record`` (wrote its state back), its own and the provider's (a Tick
        looks at the first request due within its own invocation), in the order they started."""
        provider = [i for r in self.provider_records.values() for i in r.invocations if record.request_id in i.looked_at]
        own = [i for i in record.invocations if i.trigger != "cloudformation" or record.request_id in i.looked_at]
        return sorted(own + provider, key=lambda i: i.start)

    def provider_usage(self) -> dict[str, Any]:
        """Invocations, seconds and GB-seconds of every function's provider record, summed."""
        now = self.clock.now()
        usages = [r.usage(now) for r in self.provider_records.values()]
        return {
            "invocations": sum(u["invocations"] for u in usages),
            "seconds": sum(u["seconds"] for u in usages),
            "gb_seconds": sum(u["gb_seconds"] for u in usages),
        }

    # --- invoking ----------------------------------------------------------------------------------

    def begin_test(self) -> None:
        """The test's own thread takes part in virtual time: time moves only while it waits in run()."""
        self.clock.abandon_all()
        self.clock.enlist()
        self.clock.join_as_participant()
        self._t0 = self.clock.now()

    def end_test(self) -> None:
        self.clock.abandon_all()

    def invoke(
        self,
        record: RequestRecord,
        event: dict[str, Any],
        function_arn: str,
        scheduled: float,
        rule: str = "",
        *,
        trigger: str = "cloudformation",
        event_id: str = "",
        delivery: Delivery | None = None,
    ) -> None:
        """Run one invocation in its own thread; return once it has finished or is waiting in virtual time."""
        record.running += 1
        memory = self.function_memory.get(function_arn.split(":")[-1], 128)
        invocation = Invocation(scheduled, self.clock.now(), from_rule=rule, trigger=trigger, event_id=event_id, memory_mb=memory)
        invocation.delivery = delivery
        record.invocations.append(invocation)
        self.lambda_concurrency.started(function_arn.split(":")[-1], invocation)  # holds an execution environment
        self.clock.enlist()
        thread = threading.Thread(
            target=self._invocation,
            args=(record, invocation, copy.deepcopy(event), function_arn),
            name=f"invocation-{record.logical_id[:40]}",
            daemon=True,
        )
        thread.start()
        self.clock.wait_until_quiet()

    def _invocation(self, record: RequestRecord, invocation: Invocation, event: dict[str, Any], function_arn: str) -> None:
        self.clock.join_as_participant()
        function_name = function_arn.split(":")[-1]
        self._local.invocation = invocation
        self._local.function = function_name
        self._local.record = record
        timeout = self.functions[function_name]
        context = FakeLambdaContext(self.clock, function_name, function_arn, timeout)
        invocation.code = self.function_code.get(function_name, "")
        containers = self.containers_for(function_name)
        container = containers.acquire()
        _virtualize_crhelper_timer()  # crhelper is imported after the bed starts (from the asset folder)
        self.clock.set_kill_deadline(invocation.start + timeout)
        try:
            container.handler(event, context)
        except SimulationOver:
            return  # the test ended while this invocation waited; the container is dropped
        except InvocationKilled as killed:
            # Lambda stopped it (configuration-timeout.html): the execution environment is reset, so the
            # container is dropped; Lambda retries the event while MaximumRetryAttempts and its age allow.
            invocation.killed_at = killed.deadline
            self.killed.append(invocation)
            self.kills.append(
                f"t={killed.deadline - self._t0:.1f} {record.logical_id} {record.request_type}: {invocation.trigger} "
                f"invocation started at t={invocation.start - self._t0:.1f} killed at the {timeout:.0f} s Lambda timeout"
            )
            self._retry_after_failure(invocation, function_name)
            container = None
        except Exception as error:  # noqa: BLE001  (Lambda reports it; the test bed must not hang)
            if type(error).__name__ == "RetryLater":
                # A function error the handler raises on purpose: Lambda runs the event again after 1, then 2
                # minutes, while MaximumRetryAttempts and the event's age allow (invocation-async-retain-records).
                self.function_errors.append(invocation)
                self._retry_after_failure(invocation, function_name)
            else:
                self.violations.append(f"{record.logical_id}: the handler raised {error!r}")
        finally:
            self.clock.set_kill_deadline(None)
            self._local.record = None
        if container is not None:
            containers.release(container)
        invocation.end = invocation.killed_at if invocation.killed_at is not None else self.clock.now()
        record.running -= 1
        self._dirty = True
        self.clock.leave()

    # --- CloudFormation's read APIs, from the driver's own stacks ------------------------------------

    def _ok(self, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        parsed["ResponseMetadata"] = {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}
        return AWSResponse("https://local.invalid/", 200, {}, None), parsed

    def _stack_named(self, name: str) -> LocalStack | None:
        """By ID any stack, deleted ones included; by name only a live one (DescribeStacks, StackName)."""
        if name in self.stacks_by_id:
            return self.stacks_by_id[name]
        return self.stacks.get(name)

    def _cloudformation_read(self, operation: str, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        """DescribeStackResource, DescribeStacks, GetTemplate and ListExports answered from the stacks'
        state now: what CloudFormation shows while it waits for a custom resource
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html,
        status codes: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html)."""
        if operation == "ListExports":
            exports = [
                {"ExportingStackId": stack.stack_id, "Name": name, "Value": value}
                for stack in self.stacks.values()
                for name, value in stack.exported_values().items()
            ]
            return self._ok({"Exports": exports})
        stack = self._stack_named(str(params.get("StackName", "")))
        if stack is None:
            return self._error("ValidationError", f"Stack with id {params.get('StackName')} does not exist", 400)
        if operation == "DescribeStacks":
            parameters = [
                {"ParameterKey": key, "ParameterValue": str(spec.get("Default", ""))}
                for key, spec in stack.template.get("Parameters", {}).items()
            ]
            return self._ok(
                {
                    "Stacks": [
                        {
                            "StackId": stack.stack_id,
                            "StackName": stack.name,
                            "StackStatus": stack.status,
                            "Parameters": parameters,
                        }
                    ]
                }
            )
        if operation == "GetTemplate":
            return self._ok({"TemplateBody": json.dumps(stack.template), "StagesAvailable": ["Original", "Processed"]})
        if operation == "DescribeStackEvents":
            events = stack.stack_events()
            start = int(params.get("NextToken") or 0)
            page = events[start : start + STACK_EVENTS_PAGE]
            answer: dict[str, Any] = {"StackEvents": page}
            if start + STACK_EVENTS_PAGE < len(events):
                answer["NextToken"] = str(start + STACK_EVENTS_PAGE)
            return self._ok(answer)
        if operation == "DescribeStackResource":
            logical_id = str(params.get("LogicalResourceId", ""))
            view = stack.resource_view(logical_id)
            if view is None:
                return self._error("ValidationError", f"Resource {logical_id} does not exist for stack {stack.name}", 400)
            return self._ok({"StackResourceDetail": view})
        raise AssertionError(f"cloudformation:{operation} is not modelled")

    def invoke_foreign(self, event: Any, function_arn: str) -> RequestRecord:
        """An invocation that is not CloudFormation's (a console test event, a mis-targeted rule), run in a
        warm container like any other. It answers nothing: check_invariants flags any answer to a request
        CloudFormation did not send, and a second answer to one it did."""
        record = RequestRecord("Foreign", "foreign-invocation", {"RequestId": f"foreign-{uuid.uuid4()}"}, self.clock.now(), 900)
        self.foreign_records.append(record)  # run() waits for it like any invocation
        self.invoke(record, event, function_arn, self.clock.now(), trigger="foreign")
        return record

    # --- EventBridge ----------------------------------------------------------------------------------

    def _refresh_rules(self) -> None:
        self._dirty = False
        now = self.clock.now()
        current = {rule["Name"]: rule for rule in self.events.list_rules().get("Rules", [])}
        for name in current:
            # The schedule starts at the PutRule that created the rule (not at later PutRules).
            created = self._put_rule_times.get(name, self.rule_created_at.get(name, now))
            if self.rule_created_at.get(name) != created:
                self.rule_created_at[name] = created
                self._periods.pop(name, None)
        for name in list(self._rules_cache):
            if name not in current:
                self._periods.pop(name, None)
                self.rule_created_at.pop(name, None)
        self._rules_cache = current

    @staticmethod
    def _period(expression: str) -> float:
        match = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", expression or "")
        if not match:
            raise AssertionError(f"schedule {expression!r} is not modelled")
        unit = {"m": 60.0, "h": 3600.0, "d": 86400.0}[match[2][0]]
        return int(match[1]) * unit

    def _firing_time(self, name: str, index: int) -> float:
        """Period ``index`` (0 = the one that starts at creation) fires at a random second of its
        last minute: 'within that minute, not on its first second' (eb-scheduled-rule-pattern)."""
        period = self._period(self._rules_cache[name].get("ScheduleExpression", ""))
        epoch = self.rule_created_at[name]
        end = epoch + (index + 1) * period
        if self.exact_schedule:
            return end
        if self.schedule_script:
            return end - min(period, 60.0) + self.schedule_script[index % len(self.schedule_script)][0]
        return end - min(period, 60.0) + self.rng.uniform(0.0, min(period, 60.0))

    def _next_firing(self, name: str) -> float:
        if name not in self._periods:
            self._periods[name] = (0, self._firing_time(name, 0))
        return self._periods[name][1]

    def _scheduled_rules(self) -> list[str]:
        return [name for name, rule in self._rules_cache.items() if rule.get("ScheduleExpression")]

    def _fire_due_rules(self, now: float) -> None:
        for name in self._scheduled_rules():
            while (fire_at := self._next_firing(name)) <= now:
                index = self._periods[name][0]
                self._periods[name] = (index + 1, self._firing_time(name, index + 1))
                try:  # the target as it is at firing time; a rule without a target sends nothing
                    targets = self.events.list_targets_by_rule(Rule=name).get("Targets", [])
                except ClientError:
                    targets = []
                for target in targets:
                    self._check_rule(name, self._rules_cache[name]["Arn"], target)
                    delay = 0.0 if self.exact_schedule else self.rng.uniform(0.0, DELIVERY_DELAY_MAX)
                    if self.schedule_script:
                        delay = self.schedule_script[index % len(self.schedule_script)][1]
                    self._seq += 1
                    text = target.get("Input", "{}")
                    delivery = Delivery(fire_at + delay, self._seq, name, target["Arn"], text, fire_at, "schedule")
                    self.enqueue(delivery, duplicates=not self.exact_schedule)
        self._deliveries.sort()

    def _pattern_at(self, name: str, moment: float) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the rule's EventPattern in force at ``moment``, the newest one even if not in force yet)."""
        configs = self._rule_configs.get(name)
        if configs is None:  # a rule the hooks did not see being made: moto's pattern, in force
            text = self._rules_cache.get(name, {}).get("EventPattern")
            pattern = json.loads(text) if text else None
            return pattern, pattern
        in_force = [p for since, p in configs if since <= moment]
        return (in_force[-1] if in_force else None), configs[-1][1]

    def _emit_events(self, now: float) -> None:
        """Forecast's status changes up to now become events on the default bus; each is matched,
        at its own moment, against the rules in force then, and handed to their targets later."""
        for change in self.forecast.take_changes(now):
            event_id = str(uuid.UUID(int=self.event_rng.getrandbits(128), version=4))
            body = change.event(self.forecast.event_shape, ACCOUNT, REGION, event_id)
            emitted = EmittedEvent(change, body)
            self.emitted.append(emitted)
            for name, rule in list(self._rules_cache.items()):
                if rule.get("State", "ENABLED") != "ENABLED":
                    continue
                in_force, newest = self._pattern_at(name, change.at)
                try:
                    if in_force is None or not matches(in_force, body):
                        if newest is not None and newest is not in_force and matches(newest, body):
                            emitted.unmatched_new.append(name)
                        continue
                except PatternError as error:
                    self.violations.append(f"rule {name}: EventPattern {error}")
                    continue
                emitted.matched.append(name)
                try:  # the target as it is when the event matched
                    targets = self.events.list_targets_by_rule(Rule=name).get("Targets", [])
                except ClientError:
                    targets = []
                for target in targets:
                    self._check_rule(name, rule["Arn"], target)
                    if self.event_rng.random() < self.event_loss:
                        emitted.lost += 1
                        continue
                    delay = self.event_rng.uniform(*self.event_delay)
                    if self.event_late is not None:
                        delay += 60.0 * self.event_rng.uniform(*self.event_late)
                    text = target["Input"] if "Input" in target else json.dumps(body)
                    copies = 2 if self.event_rng.random() < self.event_duplicates else 1
                    at = max(change.at + delay, now)  # a change the driver saw late (see run) is delivered at once
                    for index in range(copies):
                        self._seq += 1
                        delivery = Delivery(at, self._seq, name, target["Arn"], text, change.at, "event", event_id, index)
                        emitted.deliveries.append(delivery)
                        self._deliveries.append(delivery)
                        at += self.event_rng.uniform(0.0, DUPLICATE_LAG_MAX)
        self._deliveries.sort()

    def _deliver_due_events(self, now: float) -> None:
        while self._deliveries and self._deliveries[0].at <= now:
            delivery = self._deliveries.pop(0)
            function_name = delivery.target_arn.split(":")[-1]
            if function_name in self.deleted_functions:
                self.dropped.append(delivery)  # the function was deleted with its stack: nothing runs
                continue
            if delivery.trigger != "event" and delivery.at - delivery.fired > self._max_age(function_name):
                self.dropped.append(delivery)  # older than MaximumEventAgeInSeconds: Lambda discards it
                continue
            gone = self.deleted_functions
            throttled = self.lambda_concurrency.admit(function_name, delivery, now, self._max_age(function_name), gone)
            if throttled is not None:  # no free concurrency: the event stays queued (lambda_concurrency.py)
                if throttled.retry_at is None:
                    self.dropped.append(delivery)  # throttled until its maximum event age: Lambda discards it
                else:
                    self._deliveries.append(dataclasses.replace(delivery, at=throttled.retry_at))
                    self._deliveries.sort()
                continue
            self.deliveries_log.append(delivery)
            event = json.loads(delivery.input)
            request_id = event.get("RequestId") if isinstance(event, dict) else None
            owner = next((r for r in self.all_requests if r.request_id == request_id), None) if request_id else None
            if function_name not in self.functions:
                self.violations.append(f"rule {delivery.rule} polls an unknown request: {function_name} is no stack's function")
                continue
            if owner is None and request_id and delivery.trigger != "self":
                self.violations.append(f"rule {delivery.rule} polls an unknown request")  # a polling rule left behind
                continue
            if owner is None:
                owner = self.provider_record(function_name)  # a Tick, a Forecast event, a look with no RequestId
            # already sent: a deleted rule does not recall it
            self.invoke(
                owner,
                event,
                delivery.target_arn,
                delivery.fired,
                rule=delivery.rule,
                trigger=delivery.trigger,
                event_id=delivery.event_id,
                delivery=delivery,
            )

    def enqueue(self, delivery: Delivery, *, duplicates: bool = True) -> None:
        """Hand an event to the function's asynchronous queue; rarely Lambda delivers it twice."""
        self._deliveries.append(delivery)
        if duplicates and self.queue_rng.random() < self.lambda_duplicates:
            self._seq += 1
            lag = self.queue_rng.uniform(*self.duplicate_lag)
            self._deliveries.append(dataclasses.replace(delivery, at=delivery.at + lag, seq=self._seq, copy=1))
        self._deliveries.sort()

    def send_request(self, record: RequestRecord, *, after: float | None = None, duplicates: bool = True) -> Delivery:
        """CloudFormation invokes the function asynchronously: the request waits in Lambda's queue
        (``cfn_queue_delay``, or ``after`` seconds) before an invocation picks it up."""
        delay = self.queue_rng.uniform(*self.cfn_queue_delay) if after is None else after
        self._seq += 1
        delivery = Delivery(
            self.clock.now() + delay,
            self._seq,
            "",
            str(record.event["ServiceToken"]),
            json.dumps(record.event),
            record.started_at,
            "cloudformation",
            copy=0 if after is None else 1,
        )
        self.enqueue(delivery, duplicates=duplicates)
        return delivery

    def _max_age(self, function_name: str) -> float:
        return self.function_max_age.get(function_name, MAX_EVENT_AGE_DEFAULT)

    def _retry_after_failure(self, invocation: Invocation, function_name: str) -> None:
        delivery = invocation.delivery
        if delivery is None or delivery.attempt >= self.function_retries.get(function_name, RETRY_ATTEMPTS_DEFAULT):
            return
        self._seq += 1
        retry = dataclasses.replace(
            delivery, at=self.clock.now() + RETRY_WAITS[min(delivery.attempt, 1)], seq=self._seq, attempt=delivery.attempt + 1
        )
        self.enqueue(retry, duplicates=False)

    def _check_rule(self, name: str, arn: str, target: dict[str, Any]) -> None:
        if len(name) > 64:
            self.violations.append(f"rule name {name} is {len(name)} characters; EventBridge allows 64")
        if len(target.get("Input", "")) > 8192:
            self.violations.append(f"rule {name}: target input is {len(target['Input'])} characters; EventBridge allows 8192")
        function_name = target["Arn"].split(":")[-1]
        try:
            policy = json.loads(self.lambda_.get_policy(FunctionName=function_name)["Policy"])
        except ClientError:
            policy = {"Statement": []}
        allowed = [s for s in policy["Statement"] if json.dumps(s).find(arn) >= 0]
        allowed += [p for p in self.template_permissions.get(function_name, []) if fnmatchcase(arn, p)]
        if not allowed:
            self.violations.append(f"rule {name} fired but no Lambda permission lets it invoke {function_name}")
        for statement in policy["Statement"]:
            if len(statement.get("Sid", "")) > 100:
                self.violations.append(f"permission statement id {statement['Sid']} is over 100 characters")

    # --- running ----------------------------------------------------------------------------------------

    def _collect_answers(self, pending: dict[str, RequestRecord]) -> None:
        for request_id, record in list(pending.items()):
            accepted = self.receiver.store.accepted(request_id)
            if accepted:
                record.response = accepted[0]
                del pending[request_id]

    def run(
        self,
        records: list[RequestRecord],
        *,
        horizon: float | None = None,
        wait_for_horizon: bool = False,
        until_answered: bool = False,
    ) -> None:
        """Let virtual time pass, firing rules as EventBridge would, until every request is answered
        (or CloudFormation gave up on it), then until no invocation is still running and no fired
        event waits for delivery. Stops at ``horizon``; with ``wait_for_horizon`` only there; with
        ``until_answered`` as soon as every request is answered (CloudFormation moves on then)."""
        pending = {r.request_id: r for r in records if not (r.answered or r.timed_out or r.cancelled or r.refused or r.forged)}
        self._dirty = True
        while True:
            self._collect_answers(pending)
            now = self.clock.now()
            for record in [r for r in pending.values() if r.deadline <= now]:
                record.timed_out = True
                del pending[record.request_id]
            if horizon is not None and now >= horizon:
                return
            if until_answered and not pending:
                return
            if self._dirty:
                self._refresh_rules()
            # Changes on Forecast's own timeline (ACTIVE, CREATE_FAILED, CREATE_STOPPED, the end of a
            # deletion) are seen at their moment: the driver wakes for them. Changes the handler causes
            # (Create, StopResource, Delete) are seen at the next step, at most DRIVER_STEP later.
            self._emit_events(now)
            self._fire_due_rules(now)
            self._deliver_due_events(now)
            others = [*self.provider_records.values(), *self.foreign_records]
            running = any(r.running for r in self.all_requests) or any(r.running for r in others)
            if not wait_for_horizon and not pending and not running and not self._deliveries:
                return
            wakes = [now + DRIVER_STEP] if running or self._dirty else []
            wakes += [self._next_firing(name) for name in self._scheduled_rules()]
            wakes += [d.at for d in self._deliveries[:1]]
            next_change = self.forecast.next_change_after(now)
            if next_change is not None:
                wakes.append(next_change)
            wakes += [r.deadline for r in pending.values()]
            if horizon is not None:
                wakes.append(horizon)
            if not wakes:
                return
            self.clock.sleep(max(min(wakes) - now, 0.001))

    # --- invariants --------------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """Polling rules (with their targets) and Lambda permissions still in the account."""
        left = []
        for rule in self.events.list_rules().get("Rules", []):
            if rule["Name"] in self.template_rules:
                continue  # the stack's own rule (Tick, ForecastEvents): CloudFormation deletes it with the stack
            targets = self.events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
            left.append(f"rule {rule['Name']}" + (f" with {len(targets)} target(s)" if targets else ""))
        for name in self.functions:
            try:
                policy = json.loads(self.lambda_.get_policy(FunctionName=name)["Policy"])
                left += [f"permission {s['Sid']}" for s in policy.get("Statement", [])]
            except ClientError:
                pass
        return left + self.state_leftovers()

    def state_leftovers(self) -> list[str]:
        """Items of the stacks' state tables still due (``due_shard`` set) past their ``expires_at``: a request the
        handler left in flight (ISSUE16-CONTRACT.md, "Table items")."""
        left = []
        now = self.clock.now()
        for stack in list(self.stacks.values()):
            for logical_id, name in stack.made.items():
                if stack.kinds.get(logical_id) != template_resources.TABLE:
                    continue
                try:
                    pages = self.dynamodb.get_paginator("scan").paginate(TableName=name)
                    items = [item for page in pages for item in page.get("Items", [])]
                except ClientError:
                    continue
                for item in items:
                    expires = float(item.get("expires_at", {}).get("N", "inf"))
                    if "due_shard" in item and expires <= now:
                        left.append(
                            f"state item {item['pk'].get('S')} in {name}, still due {now - expires:.0f} s past its expiry"
                        )
        return left

    def look_only_overlaps(self) -> int:
        """Pairs of overlapping invocations of one request where at least one only looked and left. Counts the
        request's own invocations (CloudFormation's, the looks the Tick asked for); a Forecast event's or a Tick's
        invocation runs on the function's ``provider_record`` and is not counted here."""
        count = 0
        now = self.clock.now()
        for record in self.all_requests:
            for i, a in enumerate(record.invocations):
                for b in record.invocations[i + 1 :]:
                    if a.start < b.until(now) and b.start < a.until(now) and not (a.did_work and b.did_work):
                        count += 1
        return count

    def look_only_invocations(self) -> int:
        """The requests' invocations that only coordinated (LOOK_ONLY_CALLS) and left: a look the Tick asked for
        that found its request answered, or another invocation's lease held. Provider invocations not counted."""
        return sum(1 for r in self.all_requests for i in r.invocations if not i.did_work)

    def _held_jobs_problems(self) -> list[str]:
        """Every physical ID a stack still holds (after a create, an update or its rollback) names a live
        job that is not being deleted, or, for an ID that is no job ARN (made up), nothing."""
        problems = []
        live = self.forecast.kept_jobs()
        for stack in list(self.stacks.values()):
            if stack.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
                continue
            deletes = [
                r
                for r in self.all_requests
                if r.request_type == "Delete" and r.event.get("StackId") == stack.stack_id and not r.forged
            ]
            deleting = {(r.logical_id, r.event.get("PhysicalResourceId")) for r in deletes}
            made_up = {r.logical_id for r in deletes if not EXPORT_JOB_ARN.fullmatch(str(r.event.get("PhysicalResourceId")))}
            for logical_id, physical_id in stack.physical_ids.items():
                if (logical_id, physical_id) in deleting or logical_id in made_up:
                    continue  # a test drove a Delete of it by hand
                if EXPORT_JOB_ARN.fullmatch(physical_id) and physical_id not in live:
                    state = self.forecast.live_jobs().get(physical_id, "gone")
                    problems.append(
                        f"stack {stack.name} ({stack.status}) holds {physical_id} as the physical ID of {logical_id}, "
                        f"but that job is {state}"
                    )
        return problems

    def _invocation_problems(self, record: RequestRecord) -> list[str]:
        problems = []
        name = f"{record.logical_id} {record.request_type}"
        invocations = record.invocations
        for a, b in working_overlaps(invocations):
            (a1, _), (a2, _) = a.work_period()  # type: ignore[misc]
            (b1, _), (b2, _) = b.work_period()  # type: ignore[misc]
            problems.append(
                f"{name}: two invocations work at once ({a.trigger} working {a1 - self._t0:.1f}-{a2 - self._t0:.1f} s, "
                f"{b.trigger} working {b1 - self._t0:.1f}-{b2 - self._t0:.1f} s)"
            )
        for inv in invocations:
            strays = sorted({target for target in inv.send_targets if target != record.request_id})
            if strays:
                problems.append(f"{name}: a {inv.trigger} invocation of this request answered other requests {strays}")
        # Provider invocations (a Tick, a Forecast event) may answer the requests of their own function.
        helpers = [inv for p in self.provider_records.values() for inv in p.invocations if record.request_id in inv.send_targets]
        invocations = invocations + helpers
        accepted = self.receiver.store.accepted(record.request_id)
        first = accepted[0] if accepted else None
        sender = None
        if first is not None:
            sender = next(
                (inv for inv in invocations if any(abs(t - first.at) < 1e-6 for t in _sends_to(inv, record.request_id))), None
            )
        # Repeating the very answer CloudFormation accepted changes nothing (a copy of the request answering again).
        same = [
            r.at
            for r in self.receiver.store.received
            if first is not None and r.request_id == record.request_id and r.body == first.body
        ]
        for inv in invocations:
            sends = [t for t in _sends_to(inv, record.request_id) if not any(abs(t - at) < 1e-6 for at in same)]
            calls = [] if inv in helpers else [(t, op) for t, op in inv.calls if op.startswith("forecast:")]
            acts = calls + [(t, "an answer") for t in sends]
            for t, what in sorted(acts):
                if t > record.deadline:
                    problems.append(
                        f"{name}: {what} at {t - self._t0:.0f} s, after ServiceTimeout ({record.deadline - self._t0:.0f} s)"
                    )
                    break
                if first is not None and t > first.at and not (inv is sender and t <= first.at + ANSWER_GRACE_SECONDS):
                    problems.append(
                        f"{name}: {what} at {t - self._t0:.0f} s, after the answer was accepted at {first.at - self._t0:.0f} s"
                    )
                    break
        return problems

    def _provider_problems(self) -> list[str]:
        """A provider invocation may answer only requests sent to its own function."""
        problems = []
        by_id = {r.request_id: r for r in self.all_requests}
        for function_name, provider in self.provider_records.items():
            for inv in provider.invocations:
                for target in inv.send_targets:
                    owner = by_id.get(target)
                    if owner is not None and function_name_of(str(owner.event.get("ServiceToken", ""))) != function_name:
                        problems.append(
                            f"a {inv.trigger} invocation of {function_name} answered {owner.logical_id} {owner.request_type}, "
                            f"a request of another function"
                        )
        return problems

    def _genuine_answer_of(self, forged: RequestRecord, body: dict[str, Any]) -> RequestRecord | None:
        """The request CloudFormation sent for the same resource and request type whose accepted answer is
        ``body`` but for its RequestId: the one a forged copy of the same stack event joined (resource.py)."""
        for record in self.all_requests:
            if record.forged or record.request_type != forged.request_type or record.logical_id != forged.logical_id:
                continue
            if record.event.get("StackId") != forged.event.get("StackId"):
                continue
            accepted = self.receiver.store.accepted(record.request_id)
            if accepted and {**accepted[0].body, "RequestId": forged.request_id} == body:
                return record
        return None

    def check_invariants(
        self, *, allowed_jobs: int = 0, allowed_stopped: int = 0, expect_unanswered: int = 0, allowed_kills: int = 0
    ) -> None:
        """``allowed_jobs``: jobs (ACTIVE, failed, running, DELETE_FAILED) that may be left;
        ``allowed_stopped``: jobs left in CREATE_STOPPING/CREATE_STOPPED (Forecast refuses to delete them);
        ``allowed_kills``: invocations Lambda may have stopped at the function's timeout.

        A forged request gets no answer and acts on nothing, with one exception: a copy that confirms the very
        stack event of a genuine request (CloudFormation's properties: a replay) is joined with it (README
        Limitations). It may then receive the SAME answer body as the genuine request (only its RequestId
        differs), and its invocations may do that request's work (it may have come first and hold the slot,
        the genuine one joining it): one request's work, answered once, to both URLs. Any other answer to a
        forged request, or any call of one not joined, is a problem."""
        problems = list(self.violations)
        if len(self.kills) > allowed_kills:
            problems += [f"killed at the Lambda timeout: {k}" for k in self.kills]
        problems += self._held_jobs_problems()
        unanswered = 0
        for record in self.all_requests:
            accepted = self.receiver.store.accepted(record.request_id)
            if record.forged:
                sent = [r for r in self.receiver.store.received if r.request_id == record.request_id]
                joined = bool(sent) and all(self._genuine_answer_of(record, r.body) for r in sent)
                if sent and not joined:
                    problems.append(f"{record.logical_id}: a forged {record.request_type} was answered {sent[0].body['Status']}")
                reads = ("cloudformation:", "logs:", "events:ListTargetsByRule", "dynamodb:GetItem", "dynamodb:Query")
                # Joined: a replay of the genuine request's very stack event (the properties the handler reads are
                # CloudFormation's), so its calls are that request's own work, whichever delivery came first.
                acted = [] if joined else [op for i in record.invocations for _, op in i.calls if not op.startswith(reads)]
                if acted:
                    problems.append(f"{record.logical_id}: a forged {record.request_type} made calls {sorted(set(acted))}")
                continue
            if not accepted and not record.cancelled and not record.refused:
                unanswered += 1
            if len(accepted) > 1:
                bodies = {json.dumps(a.body, sort_keys=True) for a in accepted}
                if len(bodies) > 1:
                    problems.append(f"{record.logical_id} {record.request_type}: {len(accepted)} different answers")
            for answer in accepted:
                if answer.size > MAX_RESPONSE_BYTES:
                    problems.append(f"{record.logical_id}: response of {answer.size} bytes")
                if answer.at - record.started_at > record.service_timeout:
                    problems.append(f"{record.logical_id}: answered after ServiceTimeout")
                if not answer.body.get("PhysicalResourceId"):
                    problems.append(f"{record.logical_id}: empty PhysicalResourceId")
                if answer.body["Status"] == "FAILED" and len(answer.body.get("Reason", "")) < 20:
                    problems.append(f"{record.logical_id}: FAILED without a useful reason: {answer.body.get('Reason')!r}")
            problems += self._invocation_problems(record)
        problems += self._provider_problems()
        known = {record.request_id for record in self.all_requests}
        problems += [
            f"an answer was sent to request {r.request_id}, which CloudFormation never sent"
            for r in self.receiver.store.received
            if r.request_id not in known
        ]
        if unanswered != expect_unanswered:
            problems.append(f"{unanswered} request(s) never answered (expected {expect_unanswered})")
        problems += [f"left behind: {item}" for item in self.leftovers()]
        # A job Forecast is deleting counts as gone: failures answer once the deletion is accepted.
        others = self.forecast.other_kept_jobs()
        if len(others) > allowed_jobs:
            problems.append(f"jobs left in Forecast: {others} (allowed {allowed_jobs})")
        stopped = self.forecast.stopped_jobs()
        if len(stopped) > allowed_stopped:
            problems.append(f"stopped jobs left in Forecast: {stopped} (allowed {allowed_stopped})")
        if problems and self.denied:
            problems.append("(IAM denied: " + "; ".join(self.denied[:6]) + (" ..." if len(self.denied) > 6 else "") + ")")
        assert not problems, "\n".join(problems)


Meanwhile = tuple[float, Callable[[], None]]  # (seconds after the operation started, what happens then)


class LocalStack:
    """One stack's custom resources, driven through CloudFormation's request sequences.

    ``template`` is the template CloudFormation has applied; its IAM policies are the ones in
    force (``iam_sources`` adds, during cleanup and rollback, the policy resources of the other
    version that CloudFormation has not deleted yet)."""

    def __init__(
        self,
        bed: LocalCloud,
        template: dict[str, Any],
        name: str = "ForecastExportExample",
        exports: dict[str, str] | None = None,
    ) -> None:
        self.bed = bed
        self.template = template
        self.name = name
        self.stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
        self.exports = exports or {}
        self.physical_ids: dict[str, str] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        # Tables and rules of the template, made in moto (tests/support/template_resources.py): logical ID ->
        # generated name, -> the name made, -> resource type.
        self.generated_names: dict[str, str] = {}
        self.made: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        # Whoever deploys the stack: CloudFormation invokes the ServiceToken function with their credentials,
        # which need lambda:InvokeFunction on it (FACTS.md "A busy account"; crpg-ref-requests.html).
        self.deployer = PolicySet([{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}])
        self.during: Callable[[str], None] | None = None  # called as the stack enters each *_IN_PROGRESS phase
        self._status = ""
        self.status = "CREATE_IN_PROGRESS"
        self.created_at = bed.clock.now()
        self.iam_sources: list[tuple[dict[str, Any], set[str] | None]] = [(template, None)]
        self._learn_functions(template)
        try:
            template_resources.apply(self, template)  # tables and rules exist before the function is invoked
        except template_resources.StackResourceFailed:
            template_resources.remove(self)  # CloudFormation rolls back what it made
            raise
        bed.register_stack(self)
        self._stamp_iam(bed.iam_create_lead)  # created before the function and the custom resources; they propagate

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        if value.endswith("_IN_PROGRESS") and self.during is not None:
            self.during(value)

    def functions(self, template: dict[str, Any] | None = None) -> list[str]:
        resources = (template or self.template)["Resources"]
        return [self._function_name(k) for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"]

    def _learn_functions(self, template: dict[str, Any]) -> None:
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
                props = resource["Properties"]
                function_name = str(self.resolve(props["FunctionName"], template)).split(":")[-1]
                if "MaximumEventAgeInSeconds" in props:
                    self.bed.function_max_age[function_name] = float(props["MaximumEventAgeInSeconds"])
                if "MaximumRetryAttempts" in props:
                    self.bed.function_retries[function_name] = int(props["MaximumRetryAttempts"])
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                function_name = self._function_name(logical_id)
                self.bed.deleted_functions.discard(function_name)
                self.bed.ensure_function(
                    function_name,
                    float(resource["Properties"].get("Timeout", 3)),
                    int(resource["Properties"].get("MemorySize", 128)),
                )
                self._apply_code(logical_id, resource)
                reserved = resource["Properties"].get("ReservedConcurrentExecutions")
                refused = self.bed.lambda_concurrency.reserve(
                    function_name, None if reserved is None else int(reserved), self.bed.deleted_functions
                )
                if refused is not None:
                    self.bed.violations.append(f"CloudFormation could not create the function: {refused}")
                role = self.resolve(resource["Properties"]["Role"], template)
                self.bed.function_roles[function_name] = str(role).rsplit("/", 1)[-1]
                self.bed.function_role_arns[function_name] = str(role)
                variables = resource["Properties"].get("Environment", {}).get("Variables", {})
                environment = {key: str(self.resolve(value, template)) for key, value in variables.items()}
                # Each function's containers import the handler with its own environment (Containers.for_function);
                # the process environment keeps the last one too, for handlers that read it at call time.
                self.bed.function_environment[function_name] = environment
                os.environ.update(environment)
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Lambda::Permission" and resource["Properties"]["Principal"] == "events.amazonaws.com":
                function_name = str(self.resolve(resource["Properties"]["FunctionName"], template)).split(":")[-1]
                patterns = self.bed.template_permissions.setdefault(function_name, [])
                source = str(self.resolve(resource["Properties"]["SourceArn"], template))
                if source not in patterns:
                    patterns.append(source)

    def _apply_code(self, logical_id: str, resource: dict[str, Any]) -> None:
        """The function runs the code its resource names from now on (its S3Key, ``<asset hash>.zip``)."""
        key = resource["Properties"].get("Code", {}).get("S3Key")
        self.bed.function_code[self._function_name(logical_id)] = key if isinstance(key, str) else ""

    # --- IAM in force -------------------------------------------------------------------------------

    def _set_iam(self, *sources: tuple[dict[str, Any], set[str] | None]) -> None:
        self.iam_sources = list(sources)
        self.bed.iam_changed()
        self._stamp_iam()

    def _stamp_iam(self, lead: float = 0.0) -> None:
        """Tell the bed which statements and trust policies CloudFormation has applied now (new ones
        propagate for ``iam_propagation``; removed ones stop at once, as they are no longer applied)."""
        keys: list[tuple[str, ...]] = []
        roles: set[str] = set()
        for template, only in self.iam_sources:
            for logical_id, resource in template["Resources"].items():
                if only is not None and logical_id not in only:
                    continue
                props = resource.get("Properties", {})
                if resource["Type"] == "AWS::IAM::Role":
                    roles.add(str(self._ref(logical_id, template)))
                    arn = str(self._get_att(logical_id, "Arn", template))
                    document = self.resolve(props.get("AssumeRolePolicyDocument", {}), template)
                    keys += [("trust", self.name, arn, _key(st)) for st in _statements(document)]
                elif resource["Type"] in POLICY_TYPES:
                    roles.update(str(self.resolve(r, template)).rsplit("/", 1)[-1] for r in props.get("Roles", []))
        for role in sorted(roles):
            keys += [("policy", self.name, role, _key(st)) for st in self.applied_statements(role)]
        self.bed.stamp_iam(keys, lead)

    def _resources_deleted(self) -> None:
        """The custom resources answered: CloudFormation deletes what they depended on, the handler's
        function, role and policies among them. From now on the stack's IAM is gone and its function
        is never invoked again."""
        self.bed.unregister_stack(self)  # its statements and trust policies are no longer evaluated
        self.bed.deleted_functions.update(self.functions())
        template_resources.remove(self)  # its tables and rules (the function depended on them)

    def physical_name(self, logical_id: str) -> str:
        """The name of a table or rule of the applied template (what ``Ref`` returns), e.g. the state table's."""
        return template_resources.physical_name(self, logical_id, self.template)

    def applied_statements(self, role_name: str) -> list[dict[str, Any]]:
        """Statements attached to ``role_name`` by the policies of this stack that are in force."""
        statements: list[dict[str, Any]] = []
        for template, only in self.iam_sources:
            resources = template["Resources"]
            for logical_id, resource in resources.items():
                if only is not None and logical_id not in only:
                    continue
                props = resource.get("Properties", {})
                if resource["Type"] == "AWS::IAM::Role" and self._ref(logical_id, template) == role_name:
                    for policy in props.get("Policies", []):
                        statements += _statements(self.resolve(policy["PolicyDocument"], template))
                    for arn in self.resolve(props.get("ManagedPolicyArns", []), template):
                        for other_id, other in resources.items():
                            if other["Type"] == "AWS::IAM::ManagedPolicy" and self._ref(other_id, template) == arn:
                                statements += _statements(self.resolve(other["Properties"]["PolicyDocument"], template))
                elif resource["Type"] in POLICY_TYPES:
                    roles = [str(self.resolve(r, template)).rsplit("/", 1)[-1] for r in props.get("Roles", [])]
                    if role_name in roles:
                        statements += _statements(self.resolve(props["PolicyDocument"], template))
        return statements

    def trust_policy(self, role_arn: str) -> dict[str, Any] | None:
        """The resolved AssumeRolePolicyDocument of this stack's role with that ARN, if a template in
        force defines it (during cleanup and rollback, a role of the other version not deleted yet too)."""
        for template, only in self.iam_sources:
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] != "AWS::IAM::Role" or (only is not None and logical_id not in only):
                    continue
                if self._get_att(logical_id, "Arn", template) == role_arn:
                    return dict(self.resolve(resource.get("Properties", {}).get("AssumeRolePolicyDocument", {}), template))
        return None

    def _policies_depended_on(self, template: dict[str, Any], logical_ids: list[str], candidates: set[str]) -> set[str]:
        """The policy resources among ``candidates`` that these resources depend on (DependsOn, Ref,
        GetAtt): CloudFormation deletes those only after the resources that depend on them."""
        found: set[str] = set()
        for logical_id in logical_ids:
            resource = template["Resources"].get(logical_id, {})
            depends = resource.get("DependsOn", [])
            text = json.dumps(resource.get("Properties", {}))
            for candidate in candidates:
                if candidate in _list(depends) or f'"{candidate}"' in text:
                    found.add(candidate)
        return found

    @staticmethod
    def _policy_ids(template: dict[str, Any]) -> set[str]:
        return {k for k, v in template["Resources"].items() if v["Type"] in (*POLICY_TYPES, "AWS::IAM::Role")}

    # --- resolving the template --------------------------------------------------------------------

    def _function_name(self, logical_id: str) -> str:
        return f"{self.name}-{logical_id}"[:64]

    def _ref(self, logical_id: str, template: dict[str, Any] | None = None) -> Any:
        template = template or self.template
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
            "AWS::StackId": self.stack_id,
            "AWS::NoValue": None,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if logical_id in template.get("Parameters", {}):
            return template["Parameters"][logical_id].get("Default", "")
        resource = template["Resources"][logical_id]
        kind = resource["Type"]
        if kind == "AWS::S3::Bucket":
            return f"{self.name}-{logical_id}".lower()[:63]
        if kind == "AWS::KMS::Key":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, self.name + logical_id))
        if kind == "AWS::Lambda::Function":
            return self._function_name(logical_id)
        if kind == "AWS::IAM::Role" and "RoleName" in resource.get("Properties", {}):
            return str(self.resolve(resource["Properties"]["RoleName"], template))
        if kind == "AWS::IAM::ManagedPolicy":  # Ref of a managed policy is its ARN
            return f"arn:aws:iam::{ACCOUNT}:policy/{self.name}-{logical_id}"
        if kind in template_resources.MADE:
            return template_resources.physical_name(self, logical_id, template)
        return f"{self.name}-{logical_id}"

    def _get_att(self, logical_id: str, attribute: str, template: dict[str, Any] | None = None) -> Any:
        template = template or self.template
        kind = template["Resources"][logical_id]["Type"]
        ref = self._ref(logical_id, template)
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            path = str(self.resolve(template["Resources"][logical_id].get("Properties", {}).get("Path", "/"), template))
            return f"arn:aws:iam::{ACCOUNT}:role{path}{ref}"[:200]
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ref}"
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ref}"
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{ref}"
        if kind == "AWS::IAM::ManagedPolicy" and attribute == "PolicyArn":
            return ref
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{ref}:*"
        if kind in template_resources.MADE and attribute == "Arn":
            return template_resources.arn(self, logical_id, template)
        if kind == RESOURCE_TYPE:
            return self.physical_ids.get(logical_id, f"{self.name}-{logical_id}")
        raise KeyError(f"GetAtt {logical_id}.{attribute} ({kind}) is not modelled")

    def resolve(self, value: Any, template: dict[str, Any] | None = None) -> Any:
        template = template or self.template
        return intrinsics.resolve(
            value,
            ref=lambda name: self._ref(name, template),
            get_att=lambda name, attribute: self._get_att(name, attribute, template),
            import_value=lambda name: self.exports[name],
        )

    def exported_values(self) -> dict[str, str]:
        """The stack's Outputs that carry an Export name, resolved: what Fn::ImportValue returns elsewhere."""
        return {
            str(self.resolve(output["Export"]["Name"])): str(self.resolve(output["Value"]))
            for output in self.template.get("Outputs", {}).values()
            if "Export" in output
        }

    @staticmethod
    def _sends_delete(template: dict[str, Any], logical_id: str, *, on_create_rollback: bool = False) -> bool:
        """Whether CloudFormation sends this resource's Delete under its DeletionPolicy (stack delete, removal
        from the template; ``on_create_rollback``: the rollback of the operation that created it)."""
        policy = template["Resources"].get(logical_id, {}).get("DeletionPolicy", "Delete")
        return policy == "Delete" or (on_create_rollback and policy == "RetainExceptOnCreate")

    @staticmethod
    def _replaced_gets_delete(template: dict[str, Any], logical_id: str) -> bool:
        """Whether the old physical ID of a replacement gets a Delete (UpdateReplacePolicy of the new template)."""
        return template["Resources"].get(logical_id, {}).get("UpdateReplacePolicy", "Delete") != "Retain"

    def custom_resources(self, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        resources = (template or self.template)["Resources"]
        return {k: v for k, v in resources.items() if v["Type"] == RESOURCE_TYPE}

    def _props(self, resource: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, Any]:
        props = self.resolve(resource["Properties"], template)
        return json.loads(json.dumps(props, default=str))  # CloudFormation sends strings

    # --- requests ----------------------------------------------------------------------------------

    def start(
        self,
        request_type: str,
        logical_id: str,
        props: dict[str, Any],
        *,
        old_props: dict[str, Any] | None = None,
        physical_id: str | None = None,
        event_override: dict[str, Any] | None = None,
        replaced_cleanup: bool = False,
        forged_by: PolicySet | None = None,
        after: float | None = None,
    ) -> RequestRecord:
        """Send one request (``forged_by``: not CloudFormation but someone with these rights invokes the
        function directly, claiming to be this stack; ``after``: it reaches Lambda that many seconds from now)."""
        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": props["ServiceToken"],
            "ResponseURL": self.bed.receiver.url_for(request_id),
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": RESOURCE_TYPE,
            "ResourceProperties": props,
        }
        if old_props is not None:
            event["OldResourceProperties"] = old_props
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        event.update(event_override or {})
        record = RequestRecord(request_type, logical_id, event, self.bed.clock.now(), float(props.get("ServiceTimeout", 3600)))
        record.replaced_cleanup = replaced_cleanup
        record.forged = forged_by is not None
        self.bed.all_requests.append(record)
        invoker = forged_by or self.deployer
        if not invoker.allows("lambda:InvokeFunction", str(props["ServiceToken"])):
            record.refused = f"not authorized to perform: lambda:InvokeFunction on resource: {props['ServiceToken']}"
            return record  # CloudFormation reports it; Lambda never sees the request
        self.bed.send_request(record, after=after)  # into Lambda's asynchronous queue
        return record

    def resource_view(self, logical_id: str) -> dict[str, Any] | None:
        """What DescribeStackResource shows for ``logical_id`` now. A custom resource's state follows the last
        request CloudFormation sent for it: ``<VERB>_IN_PROGRESS`` while it waits for the answer (with the
        request's physical ID), then COMPLETE or FAILED (cancelled and timed-out requests are FAILED). The
        Delete of a replaced physical ID is not the resource's state: it keeps its new ID meanwhile."""
        records = [
            r
            for r in self.bed.all_requests
            if r.event.get("StackId") == self.stack_id and r.logical_id == logical_id and not r.forged and not r.replaced_cleanup
        ]
        base = {"StackId": self.stack_id, "StackName": self.name, "LogicalResourceId": logical_id}
        if not records:
            resource = self.template["Resources"].get(logical_id)
            if resource is None or resource["Type"] == RESOURCE_TYPE:
                return None
            physical = str(self._ref(logical_id))
            return {
                **base,
                "PhysicalResourceId": physical,
                "ResourceType": resource["Type"],
                "ResourceStatus": "CREATE_COMPLETE",
                "LastUpdatedTimestamp": datetime.fromtimestamp(self.created_at, timezone.utc),
            }
        latest = records[-1]
        verb = latest.request_type.upper()
        changed = latest.started_at  # the status changes, then CloudFormation signs the URL and sends the request
        if not (latest.answered or latest.timed_out or latest.cancelled):
            status, physical = f"{verb}_IN_PROGRESS", str(latest.event.get("PhysicalResourceId", ""))
        elif latest.answered and latest.status == "SUCCESS":
            status, physical = f"{verb}_COMPLETE", latest.physical_id
        else:
            status = f"{verb}_FAILED"
            physical = str(latest.event.get("PhysicalResourceId") or (latest.physical_id if latest.answered else ""))
        if latest.response is not None:
            changed = latest.response.at
        elif latest.cancelled:
            changed = latest.cancelled_at
        elif latest.timed_out:
            changed = latest.deadline
        view = {
            **base,
            "ResourceType": RESOURCE_TYPE,
            "ResourceStatus": status,
            "LastUpdatedTimestamp": datetime.fromtimestamp(changed, timezone.utc),
        }
        if physical:
            view["PhysicalResourceId"] = physical
        return view

    def stack_events(self) -> list[dict[str, Any]]:
        """DescribeStackEvents, newest first: for each request CloudFormation sent, the ``<VERB>_IN_PROGRESS``
        it records before sending it (with the request's physical ID and properties), then COMPLETE or FAILED
        once answered, cancelled or timed out (with the answered physical ID)
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html)."""
        events: list[tuple[float, int, dict[str, Any]]] = []
        mine = [r for r in self.bed.all_requests if r.event.get("StackId") == self.stack_id and not r.forged]
        for index, record in enumerate(mine):
            verb = record.request_type.upper()
            base = {"StackId": self.stack_id, "StackName": self.name, "LogicalResourceId": record.logical_id}
            base["ResourceType"] = RESOURCE_TYPE
            started = {
                **base,
                "EventId": f"{record.logical_id}-{record.request_id}-start",
                "ResourceStatus": f"{verb}_IN_PROGRESS",
                "PhysicalResourceId": str(record.event.get("PhysicalResourceId", "")),
                "ResourceProperties": json.dumps(record.event["ResourceProperties"]),
                "Timestamp": datetime.fromtimestamp(record.started_at, timezone.utc),
            }
            events.append((record.started_at, 2 * index, started))
            ended_at = None
            if record.response is not None:
                ended_at, status = record.response.at, f"{verb}_{'COMPLETE' if record.status == 'SUCCESS' else 'FAILED'}"
            elif record.cancelled:
                ended_at, status = record.cancelled_at, f"{verb}_FAILED"
            elif record.timed_out or record.refused:
                ended_at, status = (record.deadline if record.timed_out else record.started_at), f"{verb}_FAILED"
            if ended_at is not None:
                ended = {
                    **base,
                    "EventId": f"{record.logical_id}-{record.request_id}-end",
                    "ResourceStatus": status,
                    "PhysicalResourceId": record.physical_id if record.response is not None else started["PhysicalResourceId"],
                    "Timestamp": datetime.fromtimestamp(ended_at, timezone.utc),
                }
                events.append((ended_at, 2 * index + 1, ended))
        return [e for _, _, e in sorted(events, key=lambda item: (item[0], item[1]), reverse=True)]

    def redeliver(self, record: RequestRecord, after: float = 0.0) -> None:
        """Lambda's at-least-once delivery: the same event arrives again ``after`` seconds from now (it is
        discarded if it is then older than the function's maximum event age)."""
        self.bed.send_request(record, after=after, duplicates=False)

    def made_up_physical_id(self, logical_id: str) -> str:
        """What CloudFormation puts in the Delete of a resource that never answered its Create."""
        suffix = "".join(self.bed.rng.choice(string.ascii_uppercase + string.digits) for _ in range(12))
        return f"{self.name}-{logical_id}-{suffix}"

    def _phase(self, records: list[RequestRecord], fails_at: float | None) -> bool:
        """Run one phase; with ``fails_at`` another resource fails then: every unanswered request is
        cancelled (its later answers ignored) and True is returned at that moment."""
        if fails_at is None:
            self.bed.run(records)
            return False
        self.bed.run(records, horizon=fails_at)
        if self.bed.clock.now() < fails_at:
            self.bed.run([], horizon=fails_at, wait_for_horizon=True)
        self.bed._collect_answers({r.request_id: r for r in records if not r.answered and not r.timed_out})
        for record in records:
            if not record.answered and not record.timed_out:
                record.cancelled = True
                record.cancelled_at = self.bed.clock.now()
        return True

    def _cfn_physical_id(self, record: RequestRecord) -> str:
        """The physical ID CloudFormation holds after a Create: the answered one, else made up."""
        return record.physical_id if record.answered else self.made_up_physical_id(record.logical_id)

    def _meanwhile(self, records: list[RequestRecord], t0: float, meanwhile: Meanwhile | None) -> None:
        """Let the requests run until ``meanwhile``'s moment (seconds after ``t0``), then do its action."""
        if meanwhile is not None:
            seconds, action = meanwhile
            self.bed.run(records, horizon=t0 + seconds)
            action()

    def create(
        self,
        *,
        another_resource_fails: bool = False,
        another_resource_fails_at: float | None = None,
        meanwhile: Meanwhile | None = None,
    ) -> StackResult:
        """Create every custom resource; ``another_resource_fails_at`` (seconds after the start) makes
        another resource of the stack fail then, cancelling whatever has not answered yet; ``meanwhile``
        (seconds, action): something else happens then, another stack's update for instance."""
        t0 = self.bed.clock.now()
        records = [self.start("Create", lid, self._props(res)) for lid, res in self.custom_resources().items()]
        self._meanwhile(records, t0, meanwhile)
        fails_at = None if another_resource_fails_at is None else t0 + another_resource_fails_at
        cancelled = self._phase(records, fails_at)
        for record in records:
            self.properties[record.logical_id] = record.event["ResourceProperties"]
        if not (another_resource_fails or cancelled) and all(r.status == "SUCCESS" for r in records):
            self.physical_ids = {r.logical_id: r.physical_id for r in records}
            self.status = "CREATE_COMPLETE"
            return StackResult(self.status, records)
        self.status = "ROLLBACK_IN_PROGRESS"
        rollback = [
            self.start("Delete", r.logical_id, r.event["ResourceProperties"], physical_id=self._cfn_physical_id(r))
            for r in records
            if self._sends_delete(self.template, r.logical_id, on_create_rollback=True)
        ]
        self.bed.run(rollback, until_answered=True)
        self.physical_ids = {}
        self.status = "ROLLBACK_COMPLETE" if all(r.status == "SUCCESS" for r in rollback) else "ROLLBACK_FAILED"
        if self.status == "ROLLBACK_COMPLETE":
            self._resources_deleted()
        self.bed.run([])  # invocations still running carry on, without the stack's IAM
        return StackResult(self.status, records + rollback)

    def update(
        self,
        new_template: dict[str, Any],
        *,
        another_resource_fails: bool = False,
        another_resource_fails_at: float | None = None,
    ) -> StackResult:
        """Apply a whole new template version in CloudFormation's order (FACTS.md "Order within an
        update", "Rollback", "Cancellation")."""
        old_template = self.template
        t0 = self.bed.clock.now()
        # UPDATE_IN_PROGRESS: the policies change in place first (the custom resources depend on them).
        self.status = "UPDATE_IN_PROGRESS"
        self.template = new_template
        new_policies = self._policy_ids(new_template) - self._policy_ids(old_template)
        old_policies = self._policy_ids(old_template) - self._policy_ids(new_template)
        self._set_iam((new_template, None), (old_template, old_policies))  # removed ones go only in cleanup
        self._learn_functions(new_template)
        template_resources.apply(self, new_template)  # new tables and rules, changed rules; removed ones go in cleanup
        new_custom = self.custom_resources(new_template)
        updates: list[RequestRecord] = []
        creates: list[RequestRecord] = []
        for logical_id, resource in new_custom.items():
            props = self._props(resource, new_template)
            if logical_id in self.physical_ids:
                if props != self.properties[logical_id]:
                    updates.append(
                        self.start(
                            "Update",
                            logical_id,
                            props,
                            old_props=self.properties[logical_id],
                            physical_id=self.physical_ids[logical_id],
                        )
                    )
            else:
                creates.append(self.start("Create", logical_id, props))
        removed = [lid for lid in self.physical_ids if lid not in new_custom]
        fails_at = None if another_resource_fails_at is None else t0 + another_resource_fails_at
        cancelled = self._phase(updates + creates, fails_at)
        failed = another_resource_fails or cancelled or any(r.status != "SUCCESS" for r in updates + creates)
        if not failed:
            # UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: new policies in force; a removed policy stays until
            # the removed resources that depend on it are deleted.
            keep = self._policies_depended_on(old_template, removed, old_policies)
            self._set_iam((new_template, None), (old_template, keep))
            self.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
            cleanup = [
                self.start(
                    "Delete",
                    r.logical_id,
                    r.event["OldResourceProperties"],
                    physical_id=r.event["PhysicalResourceId"],
                    replaced_cleanup=True,
                )
                for r in updates
                if r.physical_id != r.event["PhysicalResourceId"] and self._replaced_gets_delete(new_template, r.logical_id)
            ]
            cleanup += [
                self.start("Delete", lid, self.properties[lid], physical_id=self.physical_ids[lid])
                for lid in removed
                if self._sends_delete(old_template, lid)
            ]
            self.bed.run(cleanup)  # a FAILED Delete in cleanup is ignored: the stack is UPDATE_COMPLETE anyway
            for r in updates + creates:
                self.physical_ids[r.logical_id] = r.physical_id
                self.properties[r.logical_id] = r.event["ResourceProperties"]
            for lid in removed:
                self.physical_ids.pop(lid, None)
                self.properties.pop(lid, None)
            template_resources.remove(self, keep=new_template)  # removed from the template: deleted in cleanup
            self._set_iam((new_template, None))
            self.status = "UPDATE_COMPLETE"
            return StackResult(self.status, updates + creates + cleanup)
        # UPDATE_ROLLBACK_IN_PROGRESS: changed policies switch back; policies the update added stay
        # until the resources it added are deleted in cleanup.
        self.template = old_template
        for logical_id, resource in old_template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                self._apply_code(logical_id, resource)  # the function's code is rolled back first (it comes before)
        self.status = "UPDATE_ROLLBACK_IN_PROGRESS"
        self._set_iam((old_template, None), (new_template, new_policies))
        rollbacks: list[tuple[RequestRecord, RequestRecord]] = []
        for r in updates:
            # A successful Update's physical ID is what CloudFormation holds; a failed, cancelled or
            # timed-out one leaves the old physical ID in place.
            physical = r.physical_id if r.status == "SUCCESS" else r.event["PhysicalResourceId"]
            rollback = self.start(
                "Update",
                r.logical_id,
                r.event["OldResourceProperties"],
                old_props=r.event["ResourceProperties"],
                physical_id=physical,
            )
            rollbacks.append((r, rollback))
        self.bed.run([rb for _, rb in rollbacks])
        for r, rb in rollbacks:
            if rb.status == "SUCCESS":
                self.physical_ids[r.logical_id] = rb.physical_id
                self.properties[r.logical_id] = r.event["OldResourceProperties"]
        if any(rb.status != "SUCCESS" for _, rb in rollbacks):
            self.status = "UPDATE_ROLLBACK_FAILED"
            return StackResult(self.status, updates + creates + [rb for _, rb in rollbacks])
        # UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS: new physical IDs of replaced resources and the
        # resources the update created are deleted ("removal of new resources", stack status codes).
        self.status = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
        cleanup = [
            self.start(
                "Delete",
                r.logical_id,
                r.event["ResourceProperties"],
                physical_id=rb.event["PhysicalResourceId"],
                replaced_cleanup=True,
            )
            for r, rb in rollbacks
            if rb.event["PhysicalResourceId"] != rb.physical_id
        ]
        cleanup += [
            self.start("Delete", r.logical_id, r.event["ResourceProperties"], physical_id=self._cfn_physical_id(r))
            for r in creates
            if self._sends_delete(new_template, r.logical_id, on_create_rollback=True)
        ]
        self.bed.run(cleanup)
        template_resources.remove(self, keep=old_template)  # what the update added
        template_resources.apply(self, old_template)  # rules the update changed switch back
        self._learn_functions(old_template)
        self._set_iam((old_template, None))
        self.status = "UPDATE_ROLLBACK_COMPLETE"
        return StackResult(self.status, updates + creates + [rb for _, rb in rollbacks] + cleanup)

    def delete(self, *, meanwhile: Meanwhile | None = None) -> StackResult:
        """Delete the stack with the applied template (custom resources before the policies they use);
        ``meanwhile`` as for ``create``."""
        self.status = "DELETE_IN_PROGRESS"
        t0 = self.bed.clock.now()
        records = [
            self.start("Delete", lid, self.properties[lid], physical_id=pid)
            for lid, pid in self.physical_ids.items()
            if self._sends_delete(self.template, lid)
        ]
        self._meanwhile(records, t0, meanwhile)
        self.bed.run(records, until_answered=True)
        self.status = "DELETE_COMPLETE" if all(r.status == "SUCCESS" for r in records) else "DELETE_FAILED"
        if self.status == "DELETE_COMPLETE":
            self.physical_ids = {}
            self._resources_deleted()
        self.bed.run([])  # invocations still running carry on, without the stack's IAM
        return StackResult(self.status, records)


def working_overlaps(invocations: list[Invocation]) -> list[tuple[Invocation, Invocation]]:
    """Pairs of invocations of one request whose work periods (``Invocation.work_period``) intersect.
    An invocation that waits without calls while another works, and works after it, is no overlap."""
    found = []
    periods = [(inv, inv.work_period()) for inv in invocations]
    for i, (a, pa) in enumerate(periods):
        for b, pb in periods[i + 1 :]:
            if pa is not None and pb is not None and pa[0] < pb[1] and pb[0] < pa[1]:
                found.append((a, b))
    return found


def _sends_to(invocation: Invocation, request_id: str) -> list[float]:
    """The times ``invocation`` answered ``request_id`` (an answer whose target was not seen counts as its own)."""
    targets = invocation.send_targets
    return [t for i, t in enumerate(invocation.sends) if i >= len(targets) or targets[i] == request_id]


def _request_id_of(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return ""
    return str(value.get("RequestId", "")) if isinstance(value, dict) else ""


def _key(statement: dict[str, Any]) -> str:
    return json.dumps(statement, sort_keys=True, default=str)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: Any) -> list[dict[str, Any]]:
    return [dict(s) for s in _list(document.get("Statement", []))] if isinstance(document, dict) else []
