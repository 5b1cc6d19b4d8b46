"""The previous release, built from git: its synthesized templates and its handler asset.

Upgrade tests (tests/test_upgrades.py) deploy a stack with these, then update it with the current code,
as a user does who upgrades the library. Nothing is downloaded: ``git archive`` of the release's commit
is synthesized in a subprocess (the old construct must not meet the current one in this process), with
the aws-cdk-lib of the current environment.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# The commit of the 0.2.0 release, the one users upgrade from. Bump it at each release.
PREVIOUS_RELEASE = "5d4506e"

# Run in the archived tree: its own app.py and tests/support/apps.py, with bundling (the asset is the point).
_SYNTH = """
import json, sys
from pathlib import Path
import aws_cdk as cdk

root, out = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(root))
import cdk_forecast_export
assert Path(cdk_forecast_export.__file__).is_relative_to(root), cdk_forecast_export.__file__  # the old construct
from app import build_app
from tests.support import apps

context = json.loads((root / "cdk.json").read_text())["context"]
templates = {}
example = cdk.App(outdir=str(out / "example"), context=context)
stack = build_app(example)
templates["example"] = example.synth().get_stack_by_name(stack.stack_name).template
shared = cdk.App(outdir=str(out / "shared"), context=context)
apps.shared_provider_stacks(shared)
assembly = shared.synth()
for name in ("SharedProvider", "TeamExports"):
    templates[name] = assembly.get_stack_by_name(name).template
(out / "templates.json").write_text(json.dumps(templates))
"""


@dataclass(frozen=True)
class Release:
    """A built release: its templates by name (``example``, ``SharedProvider``, ``TeamExports``) and the
    handler asset folder each function's ``Code`` names (S3Key -> folder)."""

    ref: str
    templates: dict[str, dict[str, Any]]
    assets: dict[str, Path]


def function_code_keys(template: dict[str, Any]) -> set[str]:
    """The S3Keys of the Lambda functions of ``template`` (``<asset hash>.zip``)."""
    return {
        str(resource["Properties"]["Code"]["S3Key"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def build_release(ref: str, workdir: Path) -> Release:
    """Synthesize release ``ref`` of this repository under ``workdir``."""
    source = workdir / "source"
    source.mkdir(parents=True)
    archived = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=False)
    if archived.returncode != 0:
        raise RuntimeError(
            f"release {ref} is not in this clone ({archived.stderr.decode().strip()}): a shallow clone lacks it; "
            f"fetch it with 'git fetch --unshallow' (CI: check out with full history)"
        )
    archive = archived.stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    # The wheel's layout: the handler is the construct package's ``_lambda`` (pyproject.toml's package-dir).
    (source / "constructs" / "cdk_forecast_export" / "_lambda").symlink_to(source / "lambda", target_is_directory=True)
    out = workdir / "cdk.out"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source / "constructs"), str(source / "lambda")])}
    synth = subprocess.run(
        [sys.executable, "-c", _SYNTH, str(source), str(out)], cwd=source, env=environment, capture_output=True, text=True
    )
    if synth.returncode != 0:
        raise RuntimeError(f"synthesizing release {ref} failed:\n{synth.stderr[-3000:]}")
    templates: dict[str, dict[str, Any]] = json.loads((out / "templates.json").read_text())
    assets: dict[str, Path] = {}
    for template in templates.values():
        for key in function_code_keys(template):
            folder = next(out.glob(f"*/asset.{key.removesuffix('.zip')}"))
            assets[key] = folder
    return Release(ref, templates, assets)
