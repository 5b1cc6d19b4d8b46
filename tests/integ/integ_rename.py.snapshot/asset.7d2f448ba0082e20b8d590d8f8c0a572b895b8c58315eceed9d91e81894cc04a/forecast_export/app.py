"""Lambda entry point: ``forecast_export.app.handler``.

Thin on purpose: it tells what triggered the invocation (``triggers``), plans a request with
``lifecycle`` (no AWS call), and advances it one look at a time. Everything about the request's slot,
leases and answers lives in ``resource``; the table in ``store``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from . import contract
from .clock import Clock, SystemClock
from .confirmation import CloudFormationCheck, Unconfirmed
from .errors import ExportFailed, InvalidProperties, RetryLater, TransientError
from .jobs import ForecastJobs
from .lifecycle import Lifecycle, PollState
from .naming import JobIdentity
from .resource import (
    ANSWER,
    CLAIM_KEY,
    DEFAULT_RULE_PREFIX,
    NOT_CREATED_SUFFIX,
    SUPERSEDE_KEY,
    ForecastExportResource,
)
from .responses import request_time
from .retries import Budget
from .schedule import unreadable_state
from .sessions import Sessions
from .spec import ExportSpec, parse_spec
from .store import Store
from .triggers import Trigger, Triggers

if TYPE_CHECKING:
    from mypy_boto3_forecast import ForecastServiceClient

logger = logging.getLogger(__name__)

# The handler retries on its own clock, within each look's budget (retries.py); botocore's own
# retries would sleep past it. Short timeouts: a hung call must not eat the invocation.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=10)


DELETION_CHECK_SECONDS = 5.0  # how often a Delete looks at a job Forecast is deleting, within one invocation
ACCESS_ROLE = "AccessRole"  # Data key: the access role of the requesting stack (kept between looks)


@dataclass
class Runtime:
    """What the handler talks to. Tests replace the clock with a virtual one."""

    clock: Clock = field(default_factory=SystemClock)
    # Lambda fixes a function's environment per execution environment: read once, when the module loads.
    table: str = field(default_factory=lambda: os.environ.get(contract.STATE_TABLE_ENVIRONMENT, ""))
    _dynamodb: Any = None
    _events: Any = None
    _lambda: Any = None
    _sts: Any = None
    _cloudformation: Any = None
    sessions: Sessions = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self._sts_client, self._forecast_client, lambda: self.clock)

    def _sts_client(self) -> Any:
        if self._sts is None:
            self._sts = boto3.client("sts", config=CLIENT_CONFIG)
        return self._sts

    @staticmethod
    def _forecast_client(credentials: dict[str, str]) -> ForecastServiceClient:
        return boto3.Session(**credentials).client("forecast", config=CLIENT_CONFIG)  # type: ignore[no-any-return]

    def cloudformation(self) -> Any:
        """CloudFormation's read APIs, as the handler's own role: confirming each request (confirmation.py)."""
        if self._cloudformation is None:
            self._cloudformation = boto3.client("cloudformation", config=CLIENT_CONFIG)
        return self._cloudformation

    def store(self, budget: Budget) -> Store:
        """The request state table, its calls retried within ``budget``."""
        if not self.table:
            raise ExportFailed(
                f"The handler has no {contract.STATE_TABLE_ENVIRONMENT} environment variable: deploy it with its construct"
            )
        if self._dynamodb is None:
            self._dynamodb = boto3.client("dynamodb", config=CLIENT_CONFIG)
        return Store(self._dynamodb, self.table, budget)

    def events(self) -> Any:
        """EventBridge, read-only: the polling rule of a request a previous release left in flight (triggers.py)."""
        if self._events is None:
            self._events = boto3.client("events", config=CLIENT_CONFIG)
        return self._events

    def lambda_client(self) -> Any:
        """Lambda, to invoke this very function asynchronously (a look at one request)."""
        if self._lambda is None:
            self._lambda = boto3.client("lambda", config=CLIENT_CONFIG)
        return self._lambda

    def forecast(self) -> ForecastServiceClient:
        """Forecast as the requesting stack's access role (never as the handler's own role)."""
        role = str(helper.Data.get(ACCESS_ROLE, ""))
        if not role:
            raise ExportFailed("The request has no AccessRoleArn: the handler acts only through the stack's access role")
        return self.sessions.forecast(role, helper.StackId, helper.LogicalResourceId, helper.budget)  # type: ignore[no-any-return]

    def lifecycle(self) -> Lifecycle:
        return Lifecycle(ForecastJobs(self.forecast, helper.budget), self.clock)


RUNTIME = Runtime()
helper = ForecastExportResource(
    clock_of=lambda: RUNTIME.clock,
    rule_prefix_of=lambda: os.environ.get(contract.RULE_PREFIX_ENVIRONMENT, DEFAULT_RULE_PREFIX),
    store_of=lambda budget: RUNTIME.store(budget),
    cloudformation_of=lambda: RUNTIME.cloudformation(),
)


def _still_waited_for(event: dict[str, Any], context: Any) -> bool:
    """CloudFormation still waits for the answer to ``event`` (a request a previous release left in its rule)."""
    clock = RUNTIME.clock
    budget = Budget(clock, clock.now() + float(context.get_remaining_time_in_millis()) / 1000 - 30)
    check = CloudFormationCheck(RUNTIME.cloudformation, budget, str(context.function_name))
    try:
        check.confirm(event)
    except Unconfirmed as why:
        logger.warning("Request %s of a previous release is not taken over: %s", event.get("RequestId"), why)
        return False
    return True


TRIGGERS = Triggers(
    lambda budget: RUNTIME.store(budget),
    lambda: RUNTIME.lambda_client(),
    lambda: RUNTIME.events(),
    lambda: RUNTIME.clock,
    _still_waited_for,
)


def _home(context: Any) -> tuple[str, str]:
    """The handler's own account and region, from its ARN: exports must stay inside them."""
    arn_parts = str(context.invoked_function_arn).split(":")
    return arn_parts[4], arn_parts[3]


def _spec_or_none(props: Any, context: Any) -> ExportSpec | None:
    if not isinstance(props, dict):
        return None
    account, region = _home(context)
    try:
        return parse_spec(props, account=account, region=region)
    except InvalidProperties:
        return None


def _identity(spec: ExportSpec | None, event: dict[str, Any]) -> JobIdentity | None:
    return spec.identity(event["StackId"], event["LogicalResourceId"]) if spec is not None else None


def _plan(state: PollState, spec: ExportSpec | None, identity: JobIdentity | None) -> str:
    helper.Data.update(state.to_data())
    helper.Data[CLAIM_KEY] = identity.settings_key() if identity is not None else ""
    helper.Data[ACCESS_ROLE] = spec.access_role_arn if spec is not None else ""
    return ""  # the answer comes from the looks that follow


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    account, region = _home(context)
    spec = parse_spec(event["ResourceProperties"], account=account, region=region)
    identity = spec.identity(event["StackId"], event["LogicalResourceId"])
    return _plan(RUNTIME.lifecycle().plan_create(spec, identity, request_time(event["ResponseURL"])), spec, identity)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    account, region = _home(context)
    spec = parse_spec(event["ResourceProperties"], account=account, region=region)
    identity = spec.identity(event["StackId"], event["LogicalResourceId"])
    old_spec = _spec_or_none(event.get("OldResourceProperties"), context)
    old_identity = _identity(old_spec, event)
    old_tags = old_spec.tags if old_spec is not None else None
    state = RUNTIME.lifecycle().plan_update(
        spec, identity, old_identity, event["PhysicalResourceId"], old_tags, request_time(event["ResponseURL"])
    )
    result = _plan(state, spec, identity)
    if old_identity is not None and old_identity.settings_key() != identity.settings_key():
        helper.Data[SUPERSEDE_KEY] = old_identity.settings_key()  # the rule of the update being rolled back
    return result


@helper.delete
def delete(event: dict[str, Any], context: Any) -> str:
    physical_id = str(event["PhysicalResourceId"])
    spec = _spec_or_none(event.get("ResourceProperties"), context)
    if physical_id.endswith(NOT_CREATED_SUFFIX):
        logger.info("The Create failed before any job was made; nothing to delete")
        spec = None
    identity = _identity(spec, event)
    state = RUNTIME.lifecycle().plan_delete(
        spec, identity, physical_id, request_time(event["ResponseURL"]), replaced=helper.deletes_a_replaced_id
    )
    return _plan(state, spec, identity)


@helper.superseded
def superseded(other_data: dict[str, Any]) -> None:
    """This request stopped another one's polling: take over the job it was working on."""
    state = PollState.from_data(helper.Data)
    # A newer handler's state is not read: this request then looks for its jobs by name only.
    other = PollState.from_data(other_data) if "State" in other_data and not unreadable_state(other_data) else None
    identity = _identity(_spec_or_none(helper._event.get("ResourceProperties"), helper._context), helper._event)
    if state.op == "Update":
        names = list(state.scan)  # only the jobs of the settings being rolled back, never this resource's own
    else:
        names = identity.job_arns() if identity is not None else []
    RUNTIME.lifecycle().supersede(state, other, names)
    helper.Data.update(state.to_data())


@helper.watched
def watched(data: dict[str, Any]) -> list[str]:
    """The jobs whose Forecast events should trigger a look (the rule's EventPattern)."""
    return PollState.from_data(data).watched() if "State" in data and not unreadable_state(data) else []


@helper.poll_create
@helper.poll_update
@helper.poll_delete
def poll(event: dict[str, Any], context: Any) -> str | None:
    if ANSWER in helper.Data:
        return None  # only the answer is left to deliver
    problem = unreadable_state(helper.Data)
    if problem:
        raise ExportFailed(problem)  # answered FAILED at once: misread, it could adopt or delete the wrong job
    state = PollState.from_data(helper.Data)
    lifecycle = RUNTIME.lifecycle()
    try:
        spec = _spec_or_none(event.get("ResourceProperties"), context)
        result = lifecycle.step(state, spec, _identity(spec, event))
        # No event marks the end of a deletion: look again every few seconds while this invocation may.
        while result is None and lifecycle.only_deletions_pending(state):
            helper.Data.update(state.to_data())  # what a lease extension writes back is this look's state
            if not helper.may_keep_looking(DELETION_CHECK_SECONDS):
                break
            RUNTIME.clock.sleep(DELETION_CHECK_SECONDS)
            result = lifecycle.step(state, spec, _identity(spec, event))
    except TransientError as error:
        logger.warning("%s; looking again later", error)
        result = None
    finally:
        helper.Data.update(state.to_data())
    if result:
        helper.Data.update(state.outputs())
    return result


def _run(event: dict[str, Any], context: Any) -> None:
    """One CloudFormation request, or one look at a request in flight (``event``: the state its slot holds)."""
    if helper.begin_invocation(event):
        prepared = helper.prepare(event, context)
        if prepared is not None:
            helper(prepared, context)


def handler(event: Any, context: Any) -> None:
    trigger = TRIGGERS.kind(event)
    if trigger is Trigger.REQUEST:
        _run(event, context)
    else:
        TRIGGERS.run(trigger, event, context, _run)
    if helper.retry_later:  # CloudFormation's reads stayed throttled: fail the invocation so Lambda runs it again
        raise RetryLater(f"request {event.get('RequestId')} could not be confirmed with CloudFormation yet")
