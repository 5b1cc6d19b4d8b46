"""Upgrades from the previous release (issue 19): stacks deployed with its templates and handler asset,
then updated to the current code, with exports idle, an export in flight and a Delete in flight.

The previous release was built from git at its commit and committed under tests/releases/<version>/
(tests/support/releases.py, ``PREVIOUS_RELEASE``, ``make release-artifacts``). The driver
runs each invocation with the handler of the Code the applied template names, switching when the
function is updated (UPDATE_IN_PROGRESS): a rule firing after the switch runs the new handler on the
state the old one wrote, which is what these scenarios check. Every scenario ends with check_invariants().
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import importlib.util
import json
import sys
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_forecast_export._lambda.forecast_export import contract
from cdk_forecast_export._lambda.forecast_export.lifecycle import PollState
from cdk_forecast_export._lambda.forecast_export.schedule import rule_name, unreadable_state
from cdk_forecast_export._lambda.forecast_export.spec import parse_spec
from cdk_forecast_export._lambda.forecast_export.store import DATA, state_text

from tests.support import apps, template_resources
from tests.support.cfn_driver import LocalCloud, LocalStack, RequestRecord, StackResult
from tests.support.forecast_fake import Outcome
from tests.support.releases import PREVIOUS_RELEASE, PREVIOUS_VERSION, Release, function_code_keys, load_release
from tests.support.scenarios import with_props

E2E = pytest.mark.e2e  # the scenarios that run through the driver

SHARED = ("SharedProvider", "TeamExports")


@pytest.fixture(scope="session")
def previous_release() -> Release:
    return load_release(PREVIOUS_VERSION)


@pytest.fixture(scope="module")
def current_shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The shared provider and a team stack, synthesized with the current code, bundled (the asset's hash is its Code)."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("current-shared")), context=apps.cdk_json_context())
    apps.shared_provider_stacks(app)
    assembly = app.synth()
    return {name: dict(assembly.get_stack_by_name(name).template) for name in SHARED}


def _code(template: dict[str, Any]) -> str:
    (key,) = function_code_keys(template)
    return key


def _old(cloud: LocalCloud, release: Release, name: str) -> dict[str, Any]:
    """A template of the previous release; the bed runs its functions with that release's handler."""
    for key, folder in release.assets.items():
        cloud.register_code(key, folder)
    return copy.deepcopy(release.templates[name])


def _codes(record: RequestRecord) -> list[str]:
    return [invocation.code for invocation in record.invocations]


def _ran_across_the_upgrade(record: RequestRecord, old: str, new: str) -> None:
    """The request started under the old handler and was finished by the new one, on the old one's state."""
    codes = _codes(record)
    assert codes[0] == old and codes[-1] == new, f"{record.logical_id} {record.request_type}: {codes}"


def _live(cloud: LocalCloud) -> dict[str, str]:
    return dict(cloud.forecast.live_jobs())


def test_the_previous_release_is_another_handler(previous_release: Release, example_template: dict[str, Any]) -> None:
    """Otherwise the scenarios below would upgrade nothing."""
    assert _code(previous_release.templates["example"]) != _code(example_template)
    assert (next(iter(previous_release.assets.values())) / "forecast_export" / "app.py").is_file()


@E2E
def test_upgrade_with_exports_idle_keeps_every_job(
    cloud: LocalCloud, previous_release: Release, example_template: dict[str, Any]
) -> None:
    old_template = _old(cloud, previous_release, "example")
    old_code, new_code = _code(old_template), _code(example_template)
    stack = LocalStack(cloud, old_template)
    assert stack.create().status == "CREATE_COMPLETE"
    ids, jobs = dict(stack.physical_ids), _live(cloud)
    creates = len(cloud.forecast.calls_to("CreateForecastExportJob"))

    upgraded = stack.update(copy.deepcopy(example_template))
    assert upgraded.status == "UPDATE_COMPLETE", [r.reason for r in upgraded.requests]
    assert stack.physical_ids == ids and _live(cloud) == jobs  # same jobs, still ACTIVE: none replaced
    assert cloud.function_code[next(iter(cloud.function_code))] == new_code

    # The next change of settings is handled by the new handler, with the old properties as CloudFormation recorded them.
    retagged = copy.deepcopy(example_template)
    (export,) = (r for r in retagged["Resources"].values() if r["Type"] == "Custom::ForecastExportJob")
    export["Properties"]["Tags"] = [{"Key": "purpose", "Value": "upgraded"}]
    result = stack.update(retagged)
    assert result.status == "UPDATE_COMPLETE", [r.reason for r in result.requests]
    assert stack.physical_ids == ids, "a tag change must not replace the job"
    assert {_codes(r)[0] for r in result.requests} == {new_code}
    (job,) = ids.values()
    assert cloud.forecast.jobs[job].tags == {"purpose": "upgraded"}
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == creates
    assert old_code not in {c for r in result.requests for c in _codes(r)}

    assert stack.delete().status == "DELETE_COMPLETE"
    assert _live(cloud) == {}
    cloud.check_invariants()


def _upgrade(cloud: LocalCloud, provider: LocalStack, template: dict[str, Any], results: list[StackResult]) -> None:
    results.append(provider.update(copy.deepcopy(template)))


def _legacy_rules(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    """The polling rules of the previous release (not a stack's own rule) and the request each one's target holds."""
    found = {}
    for rule in cloud.events.list_rules()["Rules"]:
        if rule["Name"] in cloud.template_rules:
            continue
        for target in cloud.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            if target.get("Input"):
                found[rule["Name"]] = json.loads(target["Input"])
    return found


def _between_invocations(cloud: LocalCloud) -> None:
    """Let time pass until no invocation runs: the code changes between two of 0.2.0's looks (one running
    across the change is test_a_previous_release_invocation_running_at_the_upgrade_loses_its_events_writes)."""
    while any(r.running for r in cloud.all_requests):
        cloud.advance(0.5)


def _remove_legacy_rules(cloud: LocalCloud, names: list[str]) -> None:
    """What the new handler's log asks the operator to do with each leftover rule."""
    for name in names:
        cloud.events.remove_targets(Rule=name, Ids=["1"])
        cloud.events.delete_rule(Name=name)


def _answered_once_by(cloud: LocalCloud, record: RequestRecord, code: str) -> None:
    """CloudFormation received exactly one answer to the request, sent by an invocation running ``code``."""
    received = [r for r in cloud.receiver.store.received if r.request_id == record.request_id]
    invocations = record.invocations + [i for p in cloud.provider_records.values() for i in p.invocations]
    senders = {i.code for i in invocations if record.request_id in i.send_targets}
    assert len(received) == 1 and senders == {code}, f"{record.logical_id}: {len(received)} answers from {senders}"


def _table(stack: LocalStack) -> str:
    """The name of the stack's state table (the handler's ``State`` table, under its CDK logical ID)."""
    (name,) = [name for lid, name in stack.made.items() if stack.kinds.get(lid) == template_resources.TABLE]
    return name


def _slot_items(cloud: LocalCloud, table: str) -> list[dict[str, Any]]:
    items = cloud.dynamodb.scan(TableName=table)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("SLOT#")]


def _slot_versions(cloud: LocalCloud, table: str, rewrite_to: object = None) -> list[object]:
    """The state version of every request in flight in ``table``; ``rewrite_to``: rewrite it to that, as if
    another version of the handler had written the state."""
    found = []
    for item in _slot_items(cloud, table):
        event = json.loads(item["state"]["S"])
        found.append(event[DATA].get(contract.STATE_VERSION_KEY))
        if rewrite_to is not None:
            event[DATA][contract.STATE_VERSION_KEY] = rewrite_to
            cloud.dynamodb.update_item(
                TableName=table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":s": {"S": json.dumps(event)}},
            )
    return found


@E2E
def test_provider_upgraded_while_a_team_export_is_in_flight(
    cloud: LocalCloud, previous_release: Release, current_shared: dict[str, dict[str, Any]]
) -> None:
    """The realistic in-flight upgrade: the platform team upgrades the shared provider while a team's
    10-minute exports are being created. Each request's 0.2.0 rule keeps firing at the new handler, which reads
    the rule's state (ListTargetsByRule) and moves the request into its table, then finishes it from there:
    one answer per request, from the new handler, and no second job. The rules are left (the role has no
    events write action): exactly those of the requests in flight at the upgrade."""
    provider = LocalStack(cloud, _old(cloud, previous_release, "SharedProvider"), name="SharedProvider")
    old_code, new_code = _code(provider.template), _code(current_shared["SharedProvider"])
    team = LocalStack(cloud, _old(cloud, previous_release, "TeamExports"), name="TeamExports", exports=provider.exported_values())
    cloud.forecast.default_outcome = Outcome("active", 600)
    upgrades: list[StackResult] = []
    in_flight: dict[str, dict[str, Any]] = {}

    def upgrade() -> None:
        _between_invocations(cloud)
        in_flight.update(_legacy_rules(cloud))
        _upgrade(cloud, provider, current_shared["SharedProvider"], upgrades)

    created = team.create(meanwhile=(120, upgrade))
    assert [u.status for u in upgrades] == ["UPDATE_COMPLETE"]
    assert created.status == "CREATE_COMPLETE", [r.reason for r in created.requests]
    assert sorted(e["RequestId"] for e in in_flight.values()) == sorted(r.request_id for r in created.requests)
    assert [e[DATA].get(contract.STATE_VERSION_KEY) for e in in_flight.values()] == [None, None]  # 0.2.0's state
    for record in created.requests:
        _ran_across_the_upgrade(record, old_code, new_code)
        _answered_once_by(cloud, record, new_code)
    assert set(_live(cloud)) == set(team.physical_ids.values())
    assert set(_live(cloud).values()) == {"ACTIVE"}
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == len(team.physical_ids)  # adopted, no second job
    assert _slot_items(cloud, _table(provider)) == []  # nothing in flight any more
    left = sorted(in_flight)
    assert left == ["fcx-0e2980fc-DailyF2158A89-e42afabaa384", "fcx-0e2980fc-WeeklyFFAEA5C6-60b4c247d14b"]
    assert sorted(cloud.leftovers()) == [f"rule {name} with 1 target(s)" for name in left]
    cloud.advance(180)  # the rules keep firing: the requests' records make every later firing do nothing
    assert len(cloud.receiver.store.received) == len(created.requests)
    _remove_legacy_rules(cloud, left)

    # The team then upgrades its own stack: nothing is replaced.
    ids = dict(team.physical_ids)
    assert team.update(copy.deepcopy(current_shared["TeamExports"])).status == "UPDATE_COMPLETE"
    assert team.physical_ids == ids
    assert team.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


@E2E
def test_provider_upgraded_while_a_delete_is_in_flight(
    cloud: LocalCloud, previous_release: Release, current_shared: dict[str, dict[str, Any]]
) -> None:
    """A busy account throttles the Delete for minutes; the provider is upgraded meanwhile (between two of
    0.2.0's invocations). The new handler takes over from the rules and deletes the jobs the old one was
    deleting, and answers each Delete once."""
    provider = LocalStack(cloud, _old(cloud, previous_release, "SharedProvider"), name="SharedProvider")
    old_code, new_code = _code(provider.template), _code(current_shared["SharedProvider"])
    team = LocalStack(cloud, _old(cloud, previous_release, "TeamExports"), name="TeamExports", exports=provider.exported_values())
    assert team.create().status == "CREATE_COMPLETE"
    cloud.throttle("forecast:DeleteForecastExportJob", seconds=150)
    upgrades: list[StackResult] = []
    in_flight: dict[str, dict[str, Any]] = {}

    def upgrade() -> None:
        _between_invocations(cloud)
        in_flight.update(_legacy_rules(cloud))
        _upgrade(cloud, provider, current_shared["SharedProvider"], upgrades)

    deleted = team.delete(meanwhile=(40, upgrade))
    assert [u.status for u in upgrades] == ["UPDATE_COMPLETE"]
    assert deleted.status == "DELETE_COMPLETE", [r.reason for r in deleted.requests]
    assert sorted(e["RequestId"] for e in in_flight.values()) == sorted(r.request_id for r in deleted.requests)
    for record in deleted.requests:
        _ran_across_the_upgrade(record, old_code, new_code)
        _answered_once_by(cloud, record, new_code)
    assert _live(cloud) == {}
    left = sorted(in_flight)
    assert left == ["fcx-0e2980fc-DailyF2158A89-e42afabaa384", "fcx-0e2980fc-WeeklyFFAEA5C6-60b4c247d14b"]
    assert sorted(cloud.leftovers()) == [f"rule {name} with 1 target(s)" for name in left]
    _remove_legacy_rules(cloud, left)
    cloud.check_invariants()


@E2E
def test_a_previous_release_invocation_running_at_the_upgrade_loses_its_events_writes(
    cloud: LocalCloud, previous_release: Release, current_shared: dict[str, dict[str, Any]]
) -> None:
    """The upgrade's one hazard: CloudFormation applies the new role policy (no events write action) while a
    0.2.0 invocation still runs (it started before the function's code changed). Its PutTargets is denied and
    0.2.0 answers that Delete FAILED (README "Upgrades in flight"). The new handler neither works on the request
    while 0.2.0's lease is live nor adopts it once CloudFormation has its answer: one answer, no second delete
    attempt; the next stack delete completes."""
    provider = LocalStack(cloud, _old(cloud, previous_release, "SharedProvider"), name="SharedProvider")
    old_code, new_code = _code(provider.template), _code(current_shared["SharedProvider"])
    team = LocalStack(cloud, _old(cloud, previous_release, "TeamExports"), name="TeamExports", exports=provider.exported_values())
    assert team.create().status == "CREATE_COMPLETE"
    cloud.throttle("forecast:DeleteForecastExportJob", seconds=150)
    upgrades: list[StackResult] = []
    deleted = team.delete(meanwhile=(60, lambda: _upgrade(cloud, provider, current_shared["SharedProvider"], upgrades)))
    assert [u.status for u in upgrades] == ["UPDATE_COMPLETE"]
    assert deleted.status == "DELETE_FAILED"
    (failed,) = [r for r in deleted.requests if r.status == "FAILED"]
    assert "events:put_targets: AccessDeniedException" in failed.reason
    _answered_once_by(cloud, failed, old_code)
    (other,) = [r for r in deleted.requests if r is not failed]
    _answered_once_by(cloud, other, new_code)
    assert not any(op.startswith("forecast:") for i in failed.invocations if i.code == new_code for _, op in i.calls), (
        "the new handler acted on a request 0.2.0 had answered"
    )
    assert team.delete().status == "DELETE_COMPLETE"  # the operator's retry, on the new handler
    assert _live(cloud) == {}
    _remove_legacy_rules(cloud, sorted(_legacy_rules(cloud)))
    cloud.check_invariants()


@E2E
def test_a_forged_legacy_event_plants_nothing(cloud: LocalCloud, current_shared: dict[str, dict[str, Any]]) -> None:
    """Whoever may invoke the shared provider sends what looks like a 0.2.0 rule's firing, with a state of its
    choosing: the handler reads state only from the rule itself, so an event naming no such rule, or a rule
    that holds no such request, moves nothing into the table and answers nobody."""
    provider = LocalStack(cloud, copy.deepcopy(current_shared["SharedProvider"]), name="SharedProvider")
    assert provider.create().status == "CREATE_COMPLETE"
    (function,) = provider.functions()
    arn = f"arn:aws:lambda:{apps.REGION}:{apps.ACCOUNT}:function:{function}"
    table = _table(provider)
    base = f"arn:aws:events:{apps.REGION}:{apps.ACCOUNT}:rule/"
    (tick,) = [name for name in cloud.template_rules if "Tick" in name]
    forged = {
        "RequestType": "Create",
        "RequestId": "forged-1",
        "ResponseURL": "https://attacker.invalid/answer",
        "StackId": f"arn:aws:cloudformation:{apps.REGION}:{apps.ACCOUNT}:stack/Other/0",
        "LogicalResourceId": "Daily",
        "ResourceType": contract.RESOURCE_TYPE,
        "ResourceProperties": _properties("true"),
        "CrHelperPoll": True,
        DATA: {"State": {"op": "Delete", "physical_id": "arn:aws:forecast:x"}},
    }
    records = [
        cloud.invoke_foreign({**forged, "CrHelperRule": base + "fcx-0e2980fc-Forged-000000000000"}, arn),  # no such rule
        cloud.invoke_foreign({**forged, "CrHelperRule": base + tick}, arn),  # a rule holding no request
    ]
    cloud.run([])
    assert cloud.dynamodb.scan(TableName=table)["Items"] == []
    reads = ("events:ListTargetsByRule", "logs:")
    assert all(op.startswith(reads) for r in records for i in r.invocations for _, op in i.calls)
    assert cloud.receiver.store.received == []
    cloud.check_invariants()


@E2E
def test_provider_rolled_back_while_an_export_is_in_flight(
    cloud: LocalCloud, previous_release: Release, current_shared: dict[str, dict[str, Any]]
) -> None:
    """The other way: the new handler keeps the request in its table, then the provider goes back to the
    previous release (a rolled-back upgrade, or a deploy of the old version). 0.2.0 cannot read the table and
    no rule of its own holds the request: nothing looks at it again, so CloudFormation waits until the
    ServiceTimeout, answers the Create FAILED itself and rolls back; 0.2.0's rollback Delete finds the jobs by
    name and deletes them (README "Upgrades in flight")."""
    old_provider = _old(cloud, previous_release, "SharedProvider")
    old_code, new_code = _code(old_provider), _code(current_shared["SharedProvider"])
    provider = LocalStack(cloud, copy.deepcopy(current_shared["SharedProvider"]), name="SharedProvider")
    team = LocalStack(cloud, copy.deepcopy(current_shared["TeamExports"]), name="TeamExports", exports=provider.exported_values())
    cloud.forecast.default_outcome = Outcome("active", 600)
    downgrades: list[StackResult] = []
    found: list[object] = []
    table = _table(provider)

    def downgrade() -> None:
        found.extend(_slot_versions(cloud, table))
        _upgrade(cloud, provider, old_provider, downgrades)

    created = team.create(meanwhile=(120, downgrade))
    assert found == [contract.STATE_VERSION] * 2
    assert [d.status for d in downgrades] == ["UPDATE_COMPLETE"]
    assert created.status == "ROLLBACK_COMPLETE", [r.reason for r in created.requests]
    for record in created.by_type("Create"):
        assert record.timed_out and not cloud.receiver.store.accepted(record.request_id)
        assert set(_codes(record)) == {new_code}  # 0.2.0 never ran for it: nothing of its own fires
    for record in created.by_type("Delete"):
        assert record.status == "SUCCESS" and set(_codes(record)) == {old_code}
    assert _live(cloud) == {}
    cloud.check_invariants(expect_unanswered=2)


@E2E
def test_upgrade_rolled_back_while_its_replacement_runs(
    cloud: LocalCloud, previous_release: Release, example_template: dict[str, Any]
) -> None:
    """An upgrade that also replaces the job fails elsewhere while the new job runs: CloudFormation rolls the
    function's code back first, so the previous release's handler rolls the replacement back from the state
    the new handler wrote (version 1), and keeps the original job."""
    old_template = _old(cloud, previous_release, "example")
    old_code, new_code = _code(old_template), _code(example_template)
    stack = LocalStack(cloud, old_template)
    assert stack.create().status == "CREATE_COMPLETE"
    (original,) = stack.physical_ids.values()
    cloud.forecast.default_outcome = Outcome("active", 900)  # the replacement job takes 15 minutes

    result = stack.update(with_props(example_template, Format="PARQUET"), another_resource_fails_at=120)
    assert result.status == "UPDATE_ROLLBACK_COMPLETE", [r.reason for r in result.requests]
    replacing, rollback = result.by_type("Update")
    assert replacing.status == "CANCELLED" and _codes(replacing)[0] == new_code
    assert rollback.status == "SUCCESS" and set(_codes(rollback)) == {old_code}
    assert stack.physical_ids == {replacing.logical_id: original}
    cloud.advance(3600)
    assert cloud.forecast.other_kept_jobs() == {original: "ACTIVE"}  # the new job is gone (or stopped)
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants(allowed_stopped=1)  # the stopped replacement job, which Forecast keeps


@E2E
def test_state_of_a_newer_handler_is_answered_failed_at_once_not_read(
    cloud: LocalCloud, current_shared: dict[str, dict[str, Any]]
) -> None:
    """A newer handler's state (its upgrade rolled back while the export ran, both versions reading the table)
    may mean something else: the handler does not act on it, and answers FAILED at the next look instead of
    leaving CloudFormation waiting for code that no longer runs."""
    provider = LocalStack(cloud, copy.deepcopy(current_shared["SharedProvider"]), name="SharedProvider")
    team = LocalStack(cloud, copy.deepcopy(current_shared["TeamExports"]), name="TeamExports", exports=provider.exported_values())
    cloud.forecast.default_outcome = Outcome("active", 600)
    found: list[object] = []
    table = _table(provider)

    created = team.create(
        meanwhile=(90, lambda: found.extend(_slot_versions(cloud, table, rewrite_to=contract.STATE_VERSION + 1)))
    )
    assert found == [contract.STATE_VERSION] * 2  # the state this handler writes carries its version
    assert created.status == "ROLLBACK_COMPLETE"
    creates = created.by_type("Create")
    assert {r.status for r in creates} == {"FAILED"}
    assert all(f"state version {contract.STATE_VERSION + 1}" in r.reason for r in creates), [r.reason for r in creates]
    assert all(r.response is not None and r.response.at - r.started_at < 200 for r in creates)  # the next look
    # The jobs that version started are left as they are (ACTIVE later): said in the reason, counted here.
    cloud.check_invariants(allowed_jobs=2)


def test_the_committed_release_is_the_pinned_one(previous_release: Release) -> None:
    previous = previous_release
    assert previous.ref == PREVIOUS_RELEASE and all(folder.is_dir() for folder in previous.assets.values())


@pytest.mark.parametrize(
    ("data", "readable"),
    [
        ({}, True),  # 0.2.0 wrote no version
        ({contract.STATE_VERSION_KEY: 0}, True),
        ({contract.STATE_VERSION_KEY: contract.STATE_VERSION}, True),
        ({contract.STATE_VERSION_KEY: contract.STATE_VERSION + 1}, False),
        ({contract.STATE_VERSION_KEY: str(contract.STATE_VERSION)}, False),
        ({contract.STATE_VERSION_KEY: True}, False),
        ({contract.STATE_VERSION_KEY: -1}, False),
    ],
)
def test_the_handler_reads_its_state_version_and_older_ones_only(data: dict[str, Any], readable: bool) -> None:
    assert (unreadable_state(data) == "") is readable


@pytest.mark.parametrize("data", [{"State": {"op": "Create"}}, {contract.STATE_VERSION_KEY: 0}, None])
def test_every_state_the_handler_writes_carries_its_version(data: dict[str, Any] | None) -> None:
    event: dict[str, Any] = {"RequestId": "r", **({DATA: data} if data is not None else {})}
    assert json.loads(state_text(event))[DATA][contract.STATE_VERSION_KEY] == contract.STATE_VERSION


def test_the_previous_release_wrote_the_fields_version_1_reads() -> None:
    """Version 1 is 0.2.0's state with a version: the same PollState fields. A change of fields must bump
    STATE_VERSION and read the previous one (this test then needs the reader of version 1 instead)."""
    source = (next(iter(load_release().assets.values())) / "forecast_export" / "lifecycle.py").read_text()
    (poll_state,) = (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "PollState")
    old_fields = [n.target.id for n in poll_state.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    assert contract.STATE_VERSION == 1
    assert old_fields == [f.name for f in dataclasses.fields(PollState)]


def _previous_module(release: Release, name: str) -> Any:
    """A module of the previous release's handler, imported under its own package name."""
    folder = next(iter(release.assets.values())) / "forecast_export"
    package = "forecast_export_previous_release"
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, folder / "__init__.py", submodule_search_locations=[str(folder)])
        assert spec is not None and spec.loader is not None
        sys.modules[package] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[package])
    return importlib.import_module(f"{package}.{name}")


def _properties(job_folder: str | None) -> dict[str, Any]:
    """Resource properties as CloudFormation sends them (strings), as the construct writes them."""
    account = apps.ACCOUNT
    props: dict[str, Any] = {
        "ServiceToken": f"arn:aws:lambda:us-east-1:{account}:function:Handler",
        "ForecastExportJobName": "daily_export",
        "ForecastArn": apps.FORECAST_ARN,
        "Destination": {
            "S3Config": {"Path": "s3://bucket/forecast-exports/daily_export/", "RoleArn": f"arn:aws:iam::{account}:role/fc"}
        },
        "Format": "CSV",
        "Tags": [{"Key": "purpose", "Value": "example"}],
        "ServiceTimeout": "3300",
        "TimeoutSeconds": "3000",
        "RemovalPolicy": "Delete",
        "AccessRoleArn": f"arn:aws:iam::{account}:role/cdk-forecast-export/access",
    }
    if job_folder is not None:
        props["JobFolder"] = job_folder
    return props


@pytest.mark.parametrize("job_folder", ["true", "false", None])  # the construct writes "true"; plain templates may omit it
@pytest.mark.parametrize("run_id", ["", "2"])
def test_the_previous_release_names_rules_and_jobs_as_this_one(
    previous_release: Release, job_folder: str | None, run_id: str
) -> None:
    """Jobs and rules are found again by computing their names from the properties CloudFormation sends: part
    of the state's schema. A stack of the previous release must map to the same names, or its jobs are
    replaced at the next change and left behind at delete. A change of names must keep recognizing the previous
    ones (the job_arns the handler looks at); a rule is found by the same name (a rollback stops it by name)."""
    old_spec_module = _previous_module(previous_release, "spec")
    old_schedule = _previous_module(previous_release, "schedule")
    props = _properties(job_folder) | ({"RunId": run_id} if run_id else {})
    stack_id = f"arn:aws:cloudformation:us-east-1:{apps.ACCOUNT}:stack/S/0f1e2d3c-0000-4000-8000-000000000000"
    where = {"account": apps.ACCOUNT, "region": apps.REGION}
    new = parse_spec(props, **where).identity(stack_id, "DailyExport1A2B3C4D")
    old = old_spec_module.parse_spec(props, **where).identity(stack_id, "DailyExport1A2B3C4D")
    assert set(old.job_arns()) <= set(new.job_arns()), "a job of the previous release would not be recognized"
    assert rule_name("fcx-0a1b2c3d-", stack_id, "DailyExport1A2B3C4D", new.settings_key()) == old_schedule.rule_name(
        "fcx-0a1b2c3d-", stack_id, "DailyExport1A2B3C4D", old.settings_key()
    )
