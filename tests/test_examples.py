"""Every example app synthesizes and passes cdk-nag and cfn-lint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from tests.support import apps

EXAMPLES = sorted((apps.REPO / "examples").glob("*.py"))


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_is_an_example_per_common_case() -> None:
    assert {p.stem for p in EXAMPLES} >= {"own_bucket", "shared_bucket_with_kms", "several_exports", "shared_provider"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_synthesizes_cleanly(path: Path, tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context={**apps.cdk_json_context(), **apps.NO_BUNDLING})
    stacks = _load(path).build(app)  # type: ignore[attr-defined]
    assert [v.rule_name for v in AwsSolutionsChecks(app).validate_scope(app).violations] == []
    assembly = app.synth()
    for stack in stacks:
        template = assembly.get_stack_by_name(stack.stack_name).template
        assert any(r["Type"] == "Custom::ForecastExportJob" for r in template["Resources"].values()) or stack.stack_name.endswith(
            "Platform"
        )
        import json

        matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], include_checks=["I"]))
        assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW" or m.rule.id == "I3510"] == []
