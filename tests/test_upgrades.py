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
from cdk_forecast_export._lambda.forecast_export.schedule import DATA, rule_name, target_input, unreadable_state
from cdk_forecast_export._lambda.forecast_export.spec import parse_spec

from tests.support import apps
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


@E2E
def test_provider_upgraded_while_a_team_export_is_in_flight(
    cloud: LocalCloud, previous_release: Release, current_shared: dict[str, dict[str, Any]]
) -> None:
    """The realistic in-flight upgrade: the platform team upgrades the shared provider while a team's
    10-minute exports are being created. The new handler finishes them from the old one's state."""
    provider = LocalStack(cloud, _old(cloud, previous_release, "SharedProvider"), name="SharedProvider")
    old_code, new_code = _code(provider.template), _code(current_shared["SharedProvider"])
    team = LocalStack(cloud, _old(cloud, previous_release, "TeamExports"), name="TeamExports", exports=provider.exported_values())
    cloud.forecast.default_outcome = Outcome("active", 600)
    upgrades: list[StackResult] = []
    found: list[object] = []

    def upgrade() -> None:
        found.extend(_state_versions(cloud))
        _upgrade(cloud, provider, current_shared["SharedProvider"], upgrades)

    created = team.create(meanwhile=(120, upgrade))
    assert found == [None, None]  # 0.2.0's state, unversioned, in both exports' rules
    assert [u.status for u in upgrades] == ["UPDATE_COMPLETE"]
    assert created.status == "CREATE_COMPLETE", [r.reason for r in created.requests]
    for record in created.requests:
        _ran_across_the_upgrade(record, old_code, new_code)
    assert set(_live(cloud)) == set(team.physical_ids.values())
    assert set(_live(cloud).values()) == {"ACTIVE"}
    assert len(cloud.forecast.calls_to("CreateForecastExportJob")) == len(team.physical_ids)  # no second job

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
    """A busy account throttles the Delete for minutes; the provider is upgraded meanwhile. The new handler
    deletes the job the old one was deleting, and answers the Delete."""
    provider = LocalStack(cloud, _old(cloud, previous_release, "SharedProvider"), name="SharedProvider")
    old_code, new_code = _code(provider.template), _code(current_shared["SharedProvider"])
    team = LocalStack(cloud, _old(cloud, previous_release, "TeamExports"), name="TeamExports", exports=provider.exported_values())
    assert team.create().status == "CREATE_COMPLETE"
    cloud.throttle("forecast:DeleteForecastExportJob", seconds=150)
    upgrades: list[StackResult] = []

    deleted = team.delete(meanwhile=(60, lambda: _upgrade(cloud, provider, current_shared["SharedProvider"], upgrades)))
    assert [u.status for u in upgrades] == ["UPDATE_COMPLETE"]
    assert deleted.status == "DELETE_COMPLETE", [r.reason for r in deleted.requests]
    for record in deleted.requests:
        _ran_across_the_upgrade(record, old_code, new_code)
    assert _live(cloud) == {}
    cloud.check_invariants()


@E2E
def test_provider_rolled_back_while_an_export_is_in_flight(
    cloud: LocalCloud, previous_release: Release, current_shared: dict[str, dict[str, Any]]
) -> None:
    """The other way: the new handler wrote versioned state, then the provider went back to the previous
    release (a rolled-back upgrade); 0.2.0 reads version 1 (it ignores the version key)."""
    old_provider = _old(cloud, previous_release, "SharedProvider")
    old_code, new_code = _code(old_provider), _code(current_shared["SharedProvider"])
    provider = LocalStack(cloud, copy.deepcopy(current_shared["SharedProvider"]), name="SharedProvider")
    team = LocalStack(cloud, copy.deepcopy(current_shared["TeamExports"]), name="TeamExports", exports=provider.exported_values())
    cloud.forecast.default_outcome = Outcome("active", 600)
    downgrades: list[StackResult] = []
    found: list[object] = []

    def downgrade() -> None:
        found.extend(_state_versions(cloud))
        _upgrade(cloud, provider, old_provider, downgrades)

    created = team.create(meanwhile=(120, downgrade))
    assert found == [contract.STATE_VERSION] * 2
    assert [d.status for d in downgrades] == ["UPDATE_COMPLETE"]
    assert created.status == "CREATE_COMPLETE", [r.reason for r in created.requests]
    for record in created.requests:
        _ran_across_the_upgrade(record, new_code, old_code)
    assert team.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


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


def _state_versions(cloud: LocalCloud, rewrite_to: object = None) -> list[object]:
    """The state version of every polling rule's request (None: none written); ``rewrite_to``: rewrite it to
    that, as if another version of the handler had written the state."""
    found = []
    for rule in cloud.events.list_rules()["Rules"]:
        for target in cloud.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            event = json.loads(target["Input"])
            found.append(event["CrHelperData"].get(contract.STATE_VERSION_KEY))
            if rewrite_to is not None:
                event["CrHelperData"][contract.STATE_VERSION_KEY] = rewrite_to
                cloud.events.put_targets(Rule=rule["Name"], Targets=[{**target, "Input": json.dumps(event)}])
    return found


@E2E
def test_state_of_a_newer_handler_is_answered_failed_at_once_not_read(
    cloud: LocalCloud, current_shared: dict[str, dict[str, Any]]
) -> None:
    """A newer handler's state (its upgrade rolled back while the export ran) may mean something else:
    the handler does not act on it, and answers FAILED at the next firing instead of leaving
    CloudFormation waiting for code that no longer runs."""
    provider = LocalStack(cloud, copy.deepcopy(current_shared["SharedProvider"]), name="SharedProvider")
    team = LocalStack(cloud, copy.deepcopy(current_shared["TeamExports"]), name="TeamExports", exports=provider.exported_values())
    cloud.forecast.default_outcome = Outcome("active", 600)
    found: list[object] = []

    created = team.create(meanwhile=(90, lambda: found.extend(_state_versions(cloud, rewrite_to=contract.STATE_VERSION + 1))))
    assert found == [contract.STATE_VERSION] * 2  # the state this handler writes carries its version
    assert created.status == "ROLLBACK_COMPLETE"
    creates = created.by_type("Create")
    assert {r.status for r in creates} == {"FAILED"}
    assert all(f"state version {contract.STATE_VERSION + 1}" in r.reason for r in creates), [r.reason for r in creates]
    assert all(r.response is not None and r.response.at - r.started_at < 200 for r in creates)  # the next firing
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
    assert json.loads(target_input(event))[DATA][contract.STATE_VERSION_KEY] == contract.STATE_VERSION


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
