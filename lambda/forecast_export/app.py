"""Lambda entry point: ``forecast_export.app.handler``.

Thin on purpose: it parses the event, hands the work to ``lifecycle`` and keeps the poll state in
crhelper's Data. Everything CloudFormation-specific lives in ``resource``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from . import naming, rules
from .clock import Clock, SystemClock
from .jobs import ForecastJobs, TransientError
from .lifecycle import Lifecycle, PollState
from .resource import NOT_CREATED_SUFFIX, POLL_WITHIN_INVOCATION, ForecastExportResource
from .spec import ExportSpec, InvalidProperties, is_retained, parse_spec

if TYPE_CHECKING:
    from mypy_boto3_forecast import ForecastServiceClient

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the handler talks to. Tests replace the clock with a virtual one."""

    clock: Clock = field(default_factory=SystemClock)
    _forecast: Any = None

    def forecast(self) -> ForecastServiceClient:
        if self._forecast is None:
            config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20)
            self._forecast = boto3.client("forecast", config=config)
        return self._forecast  # type: ignore[no-any-return]

    def lifecycle(self) -> Lifecycle:
        return Lifecycle(ForecastJobs(self.forecast(), self.clock), self.clock)


RUNTIME = Runtime()
helper = ForecastExportResource(clock_of=lambda: RUNTIME.clock)


def _home(context: Any) -> tuple[str, str]:
    """The handler's own account and region, from its ARN: exports must stay inside them."""
    arn_parts = str(context.invoked_function_arn).split(":")
    return arn_parts[4], arn_parts[3]


def _keep(state: PollState, spec: ExportSpec | None) -> str:
    helper.Data.update(state.to_data())
    helper.Data[POLL_WITHIN_INVOCATION] = spec.fast_polling if spec is not None else True
    return state.physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    account, region = _home(context)
    spec = parse_spec(event["ResourceProperties"], account=account, region=region)
    return _keep(RUNTIME.lifecycle().begin_create(spec, event["StackId"], event["LogicalResourceId"]), spec)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    account, region = _home(context)
    spec = parse_spec(event["ResourceProperties"], account=account, region=region)
    state = RUNTIME.lifecycle().begin_update(
        spec, event.get("OldResourceProperties", {}), event["PhysicalResourceId"], event["StackId"], event["LogicalResourceId"]
    )
    return _keep(state, spec)


@helper.delete
def delete(event: dict[str, Any], context: Any) -> str:
    props = event.get("ResourceProperties", {})
    physical_id = event["PhysicalResourceId"]
    account, region = _home(context)
    spec: ExportSpec | None
    try:
        spec = parse_spec(props, account=account, region=region)
    except InvalidProperties:
        spec = None  # nothing can have been created from these properties
    job_arn: str | None = None
    if is_retained(props):
        logger.info("RemovalPolicy is Retain: leaving %s in place", physical_id)
    elif rules.parse_export_job_arn(physical_id):
        job_arn = physical_id
    elif physical_id.endswith(NOT_CREATED_SUFFIX):
        logger.info("The Create failed before any job was made; nothing to delete")
    elif spec is not None:
        # A failed Create answered with a made-up ID; look for the job its properties would make.
        job_arn = naming.job_arn(spec.forecast_arn, naming.job_name(spec, event["StackId"], event["LogicalResourceId"]))
    return _keep(RUNTIME.lifecycle().begin_delete(spec, job_arn, physical_id), spec)


@helper.poll_create
@helper.poll_update
@helper.poll_delete
def poll(event: dict[str, Any], context: Any) -> str | None:
    state = PollState.from_data(helper.Data)
    spec: ExportSpec | None = None
    if state.phase == "create" and "ResourceProperties" in event:
        spec = parse_spec(event["ResourceProperties"])
    try:
        result = RUNTIME.lifecycle().step(state, spec)
    except TransientError as error:
        logger.warning("%s; looking again later", error)
        result = None
    finally:
        helper.Data.update(state.to_data())
    if result:
        helper.Data.update(state.outputs())
    return result


def handler(event: dict[str, Any], context: Any) -> None:
    helper(event, context)
