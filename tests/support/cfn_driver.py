"""A local CloudFormation that drives the real handler through real lifecycles.

It reads a template that ``cdk synth`` produced, resolves each ``Custom::ForecastExportJob``'s
properties (Refs and GetAtts become plausible names and ARNs), and runs the handler from the
synthesized asset folder with the environment and context Lambda would give it. Responses arrive
on a local HTTPS URL; crhelper's EventBridge rules and Lambda permissions live in moto, and the
driver fires each rule on its schedule, as EventBridge would. All time is virtual.

Each invocation runs in its own thread as a participant of the VirtualClock, so invocations that
overlap in time (five exports polling at once) overlap in virtual time too, deterministically.
Test support code: never shipped.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import io
import json
import math
import os
import re
import sys
import threading
import uuid
import zipfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import boto3
from botocore.exceptions import ClientError

from .forecast_fake import FakeForecast
from .https_receiver import HttpsReceiver, Received
from .virtual_clock import SimulationOver, VirtualClock

ACCOUNT = "111122223333"
REGION = "us-east-1"
RESOURCE_TYPE = "Custom::ForecastExportJob"
MAX_RESPONSE_BYTES = 4096
DRIVER_STEP = 5.0  # how often (virtual seconds) the driver looks for new rules and answers


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
    scheduled: float
    start: float
    end: float
    from_rule: str = ""


@dataclass
class RequestRecord:
    request_type: str
    logical_id: str
    event: dict[str, Any]
    started_at: float
    service_timeout: float
    invocations: list[Invocation] = field(default_factory=list)
    response: Received | None = None
    timed_out: bool = False
    running: int = 0

    @property
    def request_id(self) -> str:
        return str(self.event["RequestId"])

    @property
    def status(self) -> str:
        return self.response.body["Status"] if self.response else "TIMED_OUT"

    @property
    def reason(self) -> str:
        return str(self.response.body.get("Reason", "")) if self.response else "CloudFormation timed out waiting"

    @property
    def physical_id(self) -> str:
        return str(self.response.body["PhysicalResourceId"]) if self.response else self.logical_id

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.response.body.get("Data") or {}) if self.response else {}


@dataclass
class StackResult:
    status: str
    requests: list[RequestRecord]

    def by_type(self, request_type: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.request_type == request_type]


class Containers:
    """Warm Lambda containers: each holds its own copy of the handler module (and so its own
    crhelper CfnResource), as concurrent invocations in AWS run in separate containers."""

    def __init__(self, asset_dir: Path, clock: VirtualClock, package: str = "forecast_export") -> None:
        self._asset_dir = asset_dir
        self._clock = clock
        self._package = package
        self._free: list[Any] = []
        self._count = 0
        self._lock = threading.Lock()

    def _load(self) -> Any:
        self._count += 1
        package = f"{self._package}_container{self._count}"
        folder = self._asset_dir / self._package
        spec = importlib.util.spec_from_file_location(package, folder / "__init__.py", submodule_search_locations=[str(folder)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        spec.loader.exec_module(module)
        return importlib.import_module(f"{package}.app")

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


class LocalCloud:
    """The servers one test session shares: local Forecast, moto, the response receiver."""

    def __init__(
        self, clock: VirtualClock, forecast: FakeForecast, receiver: HttpsReceiver, moto_url: str, asset_dir: Path
    ) -> None:
        self.clock = clock
        self.forecast = forecast
        self.receiver = receiver
        self.moto_url = moto_url
        self.containers = Containers(asset_dir, clock)
        self.aws_calls: list[tuple[str, dict[str, Any]]] = []  # (service:Operation, params) made by the handler
        self.rule_created_at: dict[str, float] = {}
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", self._record_call)
        self.events = boto3.client("events", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.iam = boto3.client("iam", region_name=REGION)
        self.violations: list[str] = []
        self.all_requests: list[RequestRecord] = []
        self._last_fire: dict[str, float] = {}
        self._dirty = True
        self.template_permissions: dict[str, list[str]] = {}  # function name -> SourceArn patterns (AWS::Lambda::Permission)
        self.functions: dict[str, float] = {}  # function name -> timeout

    def _record_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if threading.current_thread().name.startswith("invocation-"):
            operation = f"{model.service_model.signing_name}:{model.name}"
            self.aws_calls.append((operation, dict(params)))
            if operation == "events:PutRule":
                self.rule_created_at[params["Name"]] = self.clock.now()  # a re-created rule starts a new schedule
                self._last_fire.pop(params["Name"], None)

    def reset(self) -> None:
        urlopen(Request(self.moto_url + "/moto-api/reset", method="POST")).read()
        self.forecast.reset()
        self.receiver.store.reset()
        self.violations.clear()
        self.all_requests.clear()
        self._last_fire.clear()
        self.functions.clear()
        self.aws_calls.clear()
        self.rule_created_at.clear()

    def ensure_function(self, name: str, timeout: float) -> None:
        """moto needs the function to exist before crhelper can add permissions to it."""
        if name in self.functions:
            return
        try:
            role = self.iam.create_role(RoleName="handler-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        except ClientError:
            role = self.iam.get_role(RoleName="handler-role")["Role"]["Arn"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("index.py", "")
        self.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="forecast_export.app.handler",
            Code={"ZipFile": buffer.getvalue()},
        )
        self.functions[name] = timeout

    # --- invoking ----------------------------------------------------------------------------------

    def begin_test(self) -> None:
        """The test's own thread takes part in virtual time: time moves only while it waits in run()."""
        self.clock.abandon_all()
        self.clock.enlist()
        self.clock.join_as_participant()

    def end_test(self) -> None:
        self.clock.abandon_all()

    def invoke(self, record: RequestRecord, event: dict[str, Any], function_arn: str, scheduled: float, rule: str = "") -> None:
        """Run one invocation in its own thread; return once it has finished or is waiting in virtual time."""
        if record.running:
            self.violations.append(
                f"{record.logical_id}: a new invocation started at {scheduled:.0f} while another was still running"
            )
        record.running += 1
        self.clock.enlist()
        thread = threading.Thread(
            target=self._invocation,
            args=(record, copy.deepcopy(event), function_arn, scheduled, rule),
            name=f"invocation-{record.logical_id[:40]}",
            daemon=True,
        )
        thread.start()
        self.clock.wait_until_quiet()

    def _invocation(self, record: RequestRecord, event: dict[str, Any], function_arn: str, scheduled: float, rule: str) -> None:
        self.clock.join_as_participant()
        function_name = function_arn.split(":")[-1]
        timeout = self.functions[function_name]
        context = FakeLambdaContext(self.clock, function_name, function_arn, timeout)
        start = self.clock.now()
        container = self.containers.acquire()
        try:
            container.handler(event, context)
        except SimulationOver:
            return  # the test ended while this invocation waited; the container is dropped
        self.containers.release(container)
        end = self.clock.now()
        record.invocations.append(Invocation(scheduled, start, end, rule))
        if end - start > timeout:
            self.violations.append(
                f"{record.logical_id}: an invocation ran {end - start:.0f} s, past the Lambda timeout {timeout:.0f} s"
            )
        record.running -= 1
        self._dirty = True
        self.clock.leave()

    def _rules(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(rule, target) for every scheduled rule with a target."""
        found = []
        for rule in self.events.list_rules().get("Rules", []):
            for target in self.events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
                found.append((rule, target))
        return found

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

    def _schedule(self) -> list[tuple[float, str, str, dict[str, Any], dict[str, Any]]]:
        due = []
        for rule, target in self._rules():
            name = rule["Name"]
            amount, unit = re.fullmatch(r"rate\((\d+) (minutes?|hours?)\)", rule["ScheduleExpression"]).groups()  # type: ignore[union-attr]
            period = int(amount) * (60.0 if unit.startswith("minute") else 3600.0)
            event = json.loads(target["Input"])
            epoch = self.rule_created_at.get(name, float(event.get("CrHelperData", {}).get("PollEpoch", self.clock.now())))
            last = self._last_fire.get(name, epoch)
            fire_at = epoch + period * (math.floor((last - epoch) / period + 1e-9) + 1)
            due.append((fire_at, name, rule["Arn"], target, event))
        return sorted(due, key=lambda item: item[0])

    def run(self, records: list[RequestRecord], *, horizon: float | None = None) -> None:
        """Let virtual time pass, firing rules as EventBridge would, until every request is answered
        (or CloudFormation gave up on it), then until no invocation is still running."""
        pending = {r.request_id: r for r in records}
        self._dirty = True
        schedule: list[tuple[float, str, str, dict[str, Any], dict[str, Any]]] = []
        while pending or any(r.running for r in self.all_requests):
            for request_id, record in list(pending.items()):
                accepted = self.receiver.store.accepted(request_id)
                if accepted:
                    record.response = accepted[0]
                    del pending[request_id]
            now = self.clock.now()
            for record in [r for r in pending.values() if r.started_at + r.service_timeout <= now]:
                record.timed_out = True
                del pending[record.request_id]
            if horizon is not None and now >= horizon:
                return
            if self._dirty:
                self._dirty = False
                schedule = self._schedule()
            while schedule and schedule[0][0] <= now:
                fire_at, name, arn, target, event = schedule.pop(0)
                self._last_fire[name] = fire_at
                self._check_rule(name, arn, target)
                owner = next((r for r in self.all_requests if r.request_id == event["RequestId"]), None)
                if owner is None:
                    self.violations.append(f"rule {name} polls an unknown request")
                    continue
                self.invoke(owner, event, target["Arn"], fire_at, rule=name)
                self._dirty = True
            if not pending and not any(r.running for r in self.all_requests):
                break
            wake = now + DRIVER_STEP
            if schedule:
                wake = min(wake, schedule[0][0])
            if pending:
                wake = min(wake, min(r.started_at + r.service_timeout for r in pending.values()))
            if horizon is not None:
                wake = min(wake, horizon)
            self.clock.sleep(max(wake - now, 0.001))

    # --- invariants --------------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """Polling rules and Lambda permissions still in the account."""
        left = [f"rule {r['Name']}" for r in self.events.list_rules().get("Rules", [])]
        for name in self.functions:
            try:
                policy = json.loads(self.lambda_.get_policy(FunctionName=name)["Policy"])
                left += [f"permission {s['Sid']}" for s in policy.get("Statement", [])]
            except ClientError:
                pass
        return left

    def check_invariants(self, *, allowed_jobs: int = 0, expect_unanswered: int = 0) -> None:
        problems = list(self.violations)
        unanswered = 0
        for record in self.all_requests:
            accepted = self.receiver.store.accepted(record.request_id)
            if not accepted:
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
        if unanswered != expect_unanswered:
            problems.append(f"{unanswered} request(s) never answered (expected {expect_unanswered})")
        problems += [f"left behind: {item}" for item in self.leftovers()]
        # A job Forecast is deleting counts as gone: failures answer once the deletion is accepted.
        live = self.forecast.kept_jobs()
        if len(live) > allowed_jobs:
            problems.append(f"jobs left in Forecast: {live} (allowed {allowed_jobs})")
        assert not problems, "\n".join(problems)


class LocalStack:
    """One stack's custom resources, driven through CloudFormation's request sequences."""

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
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                bed.ensure_function(self._function_name(logical_id), float(resource["Properties"].get("Timeout", 3)))
                for key, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items():
                    os.environ[key] = str(self.resolve(value))
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Lambda::Permission" and resource["Properties"]["Principal"] == "events.amazonaws.com":
                function_name = str(self.resolve(resource["Properties"]["FunctionName"])).split(":")[-1]
                bed.template_permissions.setdefault(function_name, []).append(
                    str(self.resolve(resource["Properties"]["SourceArn"]))
                )

    # --- resolving the template --------------------------------------------------------------------

    def _function_name(self, logical_id: str) -> str:
        return f"{self.name}-{logical_id}"[:64]

    def _ref(self, logical_id: str) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
            "AWS::StackId": self.stack_id,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if logical_id in self.template.get("Parameters", {}):
            return self.template["Parameters"][logical_id].get("Default", "")
        kind = self.template["Resources"][logical_id]["Type"]
        if kind == "AWS::S3::Bucket":
            return f"{self.name}-{logical_id}".lower()[:63]
        if kind == "AWS::KMS::Key":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, self.name + logical_id))
        if kind == "AWS::Lambda::Function":
            return self._function_name(logical_id)
        return f"{self.name}-{logical_id}"

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self.template["Resources"][logical_id]["Type"]
        ref = self._ref(logical_id)
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{ref}"[:200]
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ref}"
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ref}"
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{ref}"
        if kind == "AWS::IAM::ManagedPolicy" and attribute == "PolicyArn":
            return f"arn:aws:iam::{ACCOUNT}:policy/{ref}"
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{ref}:*"
        raise KeyError(f"GetAtt {logical_id}.{attribute} ({kind}) is not modelled")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self._get_att(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::ImportValue":
                return self.exports[self.resolve(arg)]
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name and not name.startswith("AWS::"):
                        return str(self._get_att(*name.split(".", 1)))
                    return str(self._ref(name))

                return re.sub(r"\$\{([^}]+)\}", substitute, text)
        return {k: self.resolve(v) for k, v in value.items()}

    def exported_values(self) -> dict[str, str]:
        """The stack's Outputs that carry an Export name, resolved: what Fn::ImportValue returns elsewhere."""
        return {
            str(self.resolve(output["Export"]["Name"])): str(self.resolve(output["Value"]))
            for output in self.template.get("Outputs", {}).values()
            if "Export" in output
        }

    def custom_resources(self, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        resources = (template or self.template)["Resources"]
        return {k: v for k, v in resources.items() if v["Type"] == RESOURCE_TYPE}

    def _props(self, resource: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(resource["Properties"])
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
    ) -> RequestRecord:
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
        self.bed.all_requests.append(record)
        self.bed.invoke(record, event, props["ServiceToken"], self.bed.clock.now())
        return record

    def redeliver(self, record: RequestRecord) -> None:
        """Lambda's at-least-once delivery: the same event arrives again, while the first may still run."""
        running, record.running = record.running, 0  # a duplicate delivery is allowed to overlap
        self.bed.invoke(record, record.event, record.event["ServiceToken"], self.bed.clock.now())
        record.running += running

    def create(self) -> StackResult:
        records = [self.start("Create", lid, self._props(res)) for lid, res in self.custom_resources().items()]
        self.bed.run(records)
        for record in records:
            self.properties[record.logical_id] = record.event["ResourceProperties"]
        if all(r.status == "SUCCESS" for r in records):
            self.physical_ids = {r.logical_id: r.physical_id for r in records}
            return StackResult("CREATE_COMPLETE", records)
        rollback = [self.start("Delete", r.logical_id, r.event["ResourceProperties"], physical_id=r.physical_id) for r in records]
        self.bed.run(rollback)
        self.physical_ids = {}
        return StackResult("ROLLBACK_COMPLETE", records + rollback)

    def update(self, new_template: dict[str, Any], *, another_resource_fails: bool = False) -> StackResult:
        old_template, self.template = self.template, new_template
        updates: list[RequestRecord] = []
        for logical_id, resource in self.custom_resources().items():
            props = self._props(resource)
            if logical_id in self.physical_ids and props != self.properties[logical_id]:
                updates.append(
                    self.start(
                        "Update",
                        logical_id,
                        props,
                        old_props=self.properties[logical_id],
                        physical_id=self.physical_ids[logical_id],
                    )
                )
        self.bed.run(updates)
        failed = another_resource_fails or any(r.status != "SUCCESS" for r in updates)
        if not failed:
            cleanup = [
                self.start("Delete", r.logical_id, r.event["OldResourceProperties"], physical_id=r.event["PhysicalResourceId"])
                for r in updates
                if r.physical_id != r.event["PhysicalResourceId"]
            ]
            self.bed.run(cleanup)
            for r in updates:
                self.physical_ids[r.logical_id] = r.physical_id
                self.properties[r.logical_id] = r.event["ResourceProperties"]
            return StackResult("UPDATE_COMPLETE", updates + cleanup)
        self.template = old_template
        rollbacks = []
        for r in updates:
            new_physical = r.physical_id if r.status == "SUCCESS" else r.event["PhysicalResourceId"]
            rollbacks.append(
                (
                    r,
                    self.start(
                        "Update",
                        r.logical_id,
                        r.event["OldResourceProperties"],
                        old_props=r.event["ResourceProperties"],
                        physical_id=new_physical,
                    ),
                )
            )
        self.bed.run([rb for _, rb in rollbacks])
        cleanup = [
            self.start("Delete", r.logical_id, r.event["ResourceProperties"], physical_id=rb.event["PhysicalResourceId"])
            for r, rb in rollbacks
            if rb.event["PhysicalResourceId"] != rb.physical_id
        ]
        self.bed.run(cleanup)
        for r, rb in rollbacks:
            self.physical_ids[r.logical_id] = rb.physical_id
        return StackResult("UPDATE_ROLLBACK_COMPLETE", updates + [rb for _, rb in rollbacks] + cleanup)

    def delete(self) -> StackResult:
        records = [self.start("Delete", lid, self.properties[lid], physical_id=pid) for lid, pid in self.physical_ids.items()]
        self.bed.run(records)
        status = "DELETE_COMPLETE" if all(r.status == "SUCCESS" for r in records) else "DELETE_FAILED"
        return StackResult(status, records)
