"""The hosting platform's workflow runs what .ci/run runs, on the Python and Node the project is built with."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.apps import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def _steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu-")
    return list(job["steps"])


def test_the_workflow_runs_the_ci_script() -> None:
    assert [step["run"] for step in _steps() if "run" in step] == ["bash .ci/run"]
    assert "\nmake test\n" in (REPO / ".ci" / "run").read_text()


def test_the_workflow_sets_up_python_311_and_a_supported_node() -> None:
    versions = {step["uses"].split("@")[0]: step.get("with", {}) for step in _steps() if "uses" in step}
    assert versions["actions/setup-python"]["python-version"] == "3.11"
    assert versions["actions/setup-node"]["node-version"] in {"20", "22"}
    assert "actions/checkout" in versions


def test_the_workflow_runs_on_every_push_and_pull_request() -> None:
    triggers = yaml.safe_load(WORKFLOW.read_text())[True]  # YAML 1.1 reads the key "on" as True
    assert set(triggers) == {"push", "pull_request"}
