"""crhelper's CfnResource, with its limits fixed in a subclass (crhelper itself is not forked).

What changes, and why:
- Polling rules get names that always fit EventBridge's 64 characters (crhelper uses the logical
  ID, which can be 255), and are scoped under a prefix the handler's IAM policy names.
- The rule target's input leaves out OldResourceProperties (and, if still too big, the
  properties), so it fits EventBridge's 8192-character cap.
- Each invocation keeps polling every few seconds until just before the next rule firing, so a
  job is seen ACTIVE within seconds instead of within crhelper's minutes; quick results (adopted
  jobs, tag updates, deletes of gone jobs) never create a rule at all.
- No Lambda permission per request: one permission, made by CloudFormation, lets this handler's
  rules (by name prefix) invoke it. crhelper's statement per request would pass Lambda's 20 KB
  resource-policy limit with ~60 exports polling at once.
- A rule named after the request works as a marker: a duplicate delivery of the same request finds
  it and does not start a second poller.
- Poll state that changes (a job created after a LimitExceededException, a cleanup started) is
  written back into the rule target, because crhelper freezes it when polling starts.
- Exactly one answer per invocation, at most 4096 bytes, with a non-empty physical ID, sent with
  bounded retries; on Delete only a short wait for logs instead of 120 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError
from crhelper import CfnResource

from . import responses
from .clock import Clock

logger = logging.getLogger(__name__)

RULE_NAME_MAX = 64
TARGET_INPUT_MAX = 8192
RULE_PERIOD_SECONDS = 60
RULE_GUARD_SECONDS = 10  # stop polling this long before the rule fires again: invocations never overlap
LAMBDA_SAFETY_SECONDS = 15  # and this long before the Lambda's own timeout
PUBLIC_DATA_KEYS = ("ForecastExportJobArn", "ForecastExportJobName", "DestinationPath")
DEFAULT_RULE_PREFIX = "fcx-"
NOT_CREATED_SUFFIX = "-not-created"  # physical ID of a Create that failed before planning a job
POLL_WITHIN_INVOCATION = "PollWithinInvocation"  # Data key: False leaves each look to the next rule firing


def _is_not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("ResourceNotFoundException", "ResourceNotFound")


class ForecastExportResource(CfnResource):
    if TYPE_CHECKING:  # crhelper internals this subclass builds on (crhelper's stubs declare only its public API)
        _event: dict[str, Any]
        _context: Any
        _response_url: str
        _sleep_on_delete: int
        _events_client: Any
        _send_response: bool
        RequestType: str

        def _wrap_function(self, func: Any) -> None: ...

    def __init__(self, clock_of: Callable[[], Clock], poll_interval_seconds: float = 5.0, sleep_on_delete: int = 2) -> None:
        super().__init__(
            json_logging=True, log_level="INFO", boto_level="WARNING", polling_interval=1, sleep_on_delete=sleep_on_delete
        )
        self._clock_of = clock_of
        self._poll_interval = poll_interval_seconds
        self._rule_prefix = DEFAULT_RULE_PREFIX
        self._send_lock = threading.Lock()
        self._answered = False
        self._saved_state = ""
        self.poll_invocation_steps = 0

    # --- per-invocation bookkeeping ---------------------------------------------------------------

    def _crhelper_init(self, event: dict[str, Any], context: Any) -> bool:
        self._answered = False
        self._rule_prefix = os.environ.get("POLL_RULE_PREFIX", DEFAULT_RULE_PREFIX)
        self._saved_state = json.dumps(event.get("CrHelperData", {}), sort_keys=True)
        return bool(cast(Any, super())._crhelper_init(event, context))

    def _clock(self) -> Clock:
        return self._clock_of()

    def _done(self) -> bool:
        return bool(self.PhysicalResourceId) or self.Status == "FAILED"

    def _poll_func(self) -> Any:
        return getattr(self, f"_poll_{self._event['RequestType'].lower()}_func")

    # --- polling ------------------------------------------------------------------------------------

    def _polling_init(self, event: dict[str, Any]) -> None:
        first = "CrHelperPoll" not in event
        if first and self.Status != "FAILED":
            self.Data["PhysicalResourceId"] = self.PhysicalResourceId
            self._event["CrHelperData"] = self.Data
            self.PhysicalResourceId = ""
            self._wrap_function(self._poll_func())  # a quick result needs no rule
            if not self._done():
                if not self._setup_polling():
                    return  # a duplicate delivery: the first one polls and answers
                self._poll_until_window_end()
        elif not first and not self._done():
            self._poll_until_window_end()
        if self._done():
            if "CrHelperRule" in self._event:
                self._remove_polling()
            self._send_response = True
        elif json.dumps(self.Data, sort_keys=True) != self._saved_state:
            self._put_targets(self._context.function_name)

    def _window_end(self) -> float:
        now = self._clock().now()
        by_lambda = now + float(self._context.get_remaining_time_in_millis()) / 1000 - LAMBDA_SAFETY_SECONDS
        epoch = float(self.Data.get("PollEpoch", now))
        next_firing = epoch + RULE_PERIOD_SECONDS * (math.floor((now - epoch) / RULE_PERIOD_SECONDS) + 1)
        return min(by_lambda, next_firing - RULE_GUARD_SECONDS)

    def _poll_until_window_end(self) -> None:
        if not self.Data.get(POLL_WITHIN_INVOCATION, True):
            return
        clock = self._clock()
        end = self._window_end()
        while not self._done() and clock.now() + self._poll_interval <= end:
            clock.sleep(self._poll_interval)
            self._wrap_function(self._poll_func())

    def rule_name(self) -> str:
        """Deterministic per request, at most 64 characters, under the prefix IAM allows."""
        event = self._event
        digest = hashlib.sha256(f"{event['StackId']}|{event['LogicalResourceId']}|{event['RequestId']}".encode()).hexdigest()[:12]
        room = RULE_NAME_MAX - len(self._rule_prefix) - len(digest) - 1
        return f"{self._rule_prefix}{event['LogicalResourceId'][:room]}-{digest}"

    def _already_polled(self, name: str) -> bool:
        try:
            self._events_client.describe_rule(Name=name)
        except ClientError as error:
            if _is_not_found(error):
                return False
            raise
        return True

    def _setup_polling(self) -> bool:
        name = self.rule_name()
        if self._already_polled(name):
            logger.warning("Request %s is already being polled by rule %s; this delivery stays silent", self.RequestId, name)
            return False
        rule_arn = self._events_client.put_rule(
            Name=name,
            ScheduleExpression="rate(1 minute)",
            State="ENABLED",
            Description=f"Polls export job for {self._event['LogicalResourceId'][:400]}",
        )["RuleArn"]
        self.Data["PollEpoch"] = self._clock().now()
        self._event["CrHelperData"] = self.Data
        self._event["CrHelperPoll"] = True
        self._event["CrHelperRule"] = rule_arn
        self._put_targets(self._context.function_name)
        return True

    def target_input(self) -> str:
        """The event the rule sends back: no old properties, and no properties if still too big."""
        event = {k: v for k, v in self._event.items() if k != "OldResourceProperties"}
        text = json.dumps(event)
        if len(text) > TARGET_INPUT_MAX:
            event.pop("ResourceProperties", None)
            text = json.dumps(event)
        if len(text) > TARGET_INPUT_MAX:
            raise RuntimeError(f"The polling state is {len(text)} characters; EventBridge allows {TARGET_INPUT_MAX}")
        return text

    def _put_targets(self, func_name: str) -> None:
        rule_arn = self._event["CrHelperRule"]
        function_arn = self._context.invoked_function_arn.split(":function:")[0] + f":function:{func_name}"
        self._events_client.put_targets(
            Rule=rule_arn.split("/")[-1], Targets=[{"Id": "1", "Arn": function_arn, "Input": self.target_input()}]
        )
        self._saved_state = json.dumps(self.Data, sort_keys=True)

    def _remove_polling(self) -> None:
        """Remove target and rule; each step tolerates what is already gone."""
        self._event.pop("CrHelperData", None)
        self.Data.pop("PhysicalResourceId", None)
        rule_name = self._event["CrHelperRule"].split("/")[-1]
        for remove, arguments in (
            (self._events_client.remove_targets, {"Rule": rule_name, "Ids": ["1"]}),
            (self._events_client.delete_rule, {"Name": rule_name}),
        ):
            try:
                remove(**arguments)
            except ClientError as error:
                if not _is_not_found(error):
                    logger.error("Could not remove polling resource of %s: %s", rule_name, error)

    # --- answering ------------------------------------------------------------------------------------

    def generate_physical_id(self, event: dict[str, Any]) -> str:
        """For a failed Create: the job ARN when one was planned, so the rollback Delete finds it."""
        state = self.Data.get("State") or {}
        return str(state.get("job_arn") or f"{event['LogicalResourceId'][:200]}{NOT_CREATED_SUFFIX}")

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        with self._send_lock:
            if self._answered:
                logger.warning("An answer was already sent for request %s; not sending another", self.RequestId)
                return
            self._answered = True
        final_status = status or self.Status
        physical_id = self.PhysicalResourceId or self._event.get("PhysicalResourceId") or self.generate_physical_id(self._event)
        body = {
            "Status": final_status,
            "Reason": reason if status else str(self.Reason),
            "PhysicalResourceId": str(physical_id),
            "StackId": self.StackId,
            "RequestId": self.RequestId,
            "LogicalResourceId": self.LogicalResourceId,
            "NoEcho": self.NoEcho,
            "Data": {k: v for k, v in self.Data.items() if k in PUBLIC_DATA_KEYS} if final_status == "SUCCESS" else {},
        }
        time_left = self._context.get_remaining_time_in_millis() / 1000 - 1 if self._context else 10.0
        responses.send(self._response_url, responses.fit_response(body), self._clock(), time_left)

    def _timeout(self) -> None:
        logger.error("The Lambda is about to time out; answering FAILED and removing the polling rule")
        if "CrHelperRule" in self._event:
            self._remove_polling()
        self._send("FAILED", "The handler ran out of time before the request finished (Lambda timeout)")

    def _wait_for_cwlogs(self, sleep: Any = None) -> None:
        time_left = self._context.get_remaining_time_in_millis() / 1000 - 15
        self._clock().sleep(min(float(self._sleep_on_delete), max(0.0, time_left)))
