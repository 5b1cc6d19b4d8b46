"""docs/RESOURCE.md documents every property the handler reads, and the plain template writes into per-job folders."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support import apps
from tests.support.cfn_driver import LocalCloud, LocalStack

CONTRACT = apps.REPO / "lambda" / "forecast_export" / "contract.py"
SPEC = apps.REPO / "lambda" / "forecast_export" / "spec.py"
REFERENCE = (apps.REPO / "docs" / "RESOURCE.md").read_text()
PLAIN = apps.REPO / "examples" / "plain-cloudformation.yaml"


def properties_the_handler_reads() -> set[str]:
    """The custom property names of contract.py, and every name spec.py reads from the properties or S3Config."""
    contract = CONTRACT.read_text()
    names = set(re.findall(r'^\w+_PROPERTY = "(\w+)"', contract, re.MULTILINE))
    spec = SPEC.read_text()
    names |= set(re.findall(r'props(?:\.get\(|, )"(\w+)"', spec))  # props.get("X" / _text(props, "X"
    names |= {f"Destination.S3Config.{n}" for n in re.findall(r's3_config(?:\.get\(|, )"(\w+)"', spec)}
    return names


def documented_properties() -> set[str]:
    section = REFERENCE.split("## Properties", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([\w.]+)` \|", section, re.MULTILINE))


def test_the_scan_finds_the_properties_of_the_contract_and_of_the_api() -> None:
    found = properties_the_handler_reads()
    assert {"JobFolder", "RunId", "AccessRoleArn", "ForecastArn", "Tags", "Destination.S3Config.KMSKeyArn"} <= found


def test_every_property_the_handler_reads_is_in_the_reference() -> None:
    missing = properties_the_handler_reads() - documented_properties()
    assert not missing, f"docs/RESOURCE.md does not document {sorted(missing)}"


def test_every_attribute_is_in_the_reference() -> None:
    attributes = re.search(r"^ATTRIBUTES = \((.*)\)$", CONTRACT.read_text(), re.MULTILINE)
    assert attributes is not None
    contract = CONTRACT.read_text()
    for constant in re.findall(r"\w+", attributes.group(1)):
        value = re.search(rf'^{constant} = "(\w+)"', contract, re.MULTILINE)
        assert value is not None and f"| `{value.group(1)}` |" in REFERENCE, constant


def test_the_readme_links_the_reference() -> None:
    assert "(docs/RESOURCE.md)" in (apps.REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def shared_provider(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import aws_cdk as cdk

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("shared")), context={**apps.cdk_json_context(), **apps.NO_BUNDLING})
    apps.shared_provider_stacks(app)
    return dict(app.synth().get_stack_by_name("SharedProvider").template)


@pytest.mark.e2e
def test_the_plain_template_writes_each_job_into_its_own_folder(cloud: LocalCloud, shared_provider: dict[str, Any]) -> None:
    template = apps.load_yaml_template(PLAIN)
    assert template["Resources"]["DailyExport"]["Properties"]["JobFolder"] == "true"
    provider = LocalStack(cloud, shared_provider, name="SharedProvider")
    stack = LocalStack(cloud, template, name="PlainExport", exports=provider.exported_values())
    assert stack.create().status == "CREATE_COMPLETE"
    (job_arn,) = cloud.forecast.live_jobs()
    job_name = job_arn.rsplit("/", 1)[1]
    path = cloud.forecast.jobs[job_arn].destination["S3Config"]["Path"]
    assert re.fullmatch(rf"s3://[^/]+/exports/daily_plain/{job_name}/", path), path
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()


def _plain_export_without_job_folder(cloud: LocalCloud, shared_provider: dict[str, Any]) -> LocalStack:
    """The plain template as it was before it named JobFolder (jobs straight into the path), created."""
    template = apps.load_yaml_template(PLAIN)
    del template["Resources"]["DailyExport"]["Properties"]["JobFolder"]
    provider = LocalStack(cloud, shared_provider, name="SharedProvider")
    stack = LocalStack(cloud, template, name="PlainExport", exports=provider.exported_values())
    assert stack.create().status == "CREATE_COMPLETE"
    return stack


@pytest.mark.e2e
def test_a_job_folder_change_alone_still_lets_the_stack_delete_remove_the_job(
    cloud: LocalCloud, shared_provider: dict[str, Any]
) -> None:
    stack = _plain_export_without_job_folder(cloud, shared_provider)
    with_folder = apps.load_yaml_template(PLAIN)
    assert stack.update(with_folder).status == "UPDATE_COMPLETE"
    assert stack.delete().status == "DELETE_COMPLETE"
    assert cloud.forecast.live_jobs() == {}


@pytest.mark.e2e
def test_a_job_folder_change_with_a_new_run_id_replaces_the_job_into_its_folder(
    cloud: LocalCloud, shared_provider: dict[str, Any]
) -> None:
    stack = _plain_export_without_job_folder(cloud, shared_provider)
    (old_job,) = cloud.forecast.live_jobs()
    assert cloud.forecast.jobs[old_job].destination["S3Config"]["Path"].endswith("/exports/daily_plain/")
    with_folder = apps.load_yaml_template(PLAIN)
    with_folder["Resources"]["DailyExport"]["Properties"]["RunId"] = "with-job-folder"
    assert stack.update(with_folder).status == "UPDATE_COMPLETE"
    (new_job,) = cloud.forecast.live_jobs()
    assert new_job != old_job
    job_name = new_job.rsplit("/", 1)[1]
    assert cloud.forecast.jobs[new_job].destination["S3Config"]["Path"].endswith(f"/exports/daily_plain/{job_name}/")
    assert stack.delete().status == "DELETE_COMPLETE"
    cloud.check_invariants()
