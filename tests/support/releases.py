"""The previous release: its synthesized templates and its handler asset.

Upgrade tests (tests/test_upgrades.py) deploy a stack with these, then update it with the current code,
as a user does who upgrades the library. They are built from git once per release and committed under
tests/releases/<version>/ (``python -m tests.support.releases <commit> <version>``, or
``make release-artifacts``): ``git archive`` of the release's commit is synthesized in a subprocess (the
old construct must not meet the current one in this process), with the aws-cdk-lib of the current
environment. Committed, so that a clone without that history (a shallow CI checkout) runs them too.
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

# The release users upgrade from, and its commit. Bump both at each release and rebuild the artifacts.
PREVIOUS_VERSION = "0.2.0"
PREVIOUS_RELEASE = "e50524f"
RELEASES = REPO / "tests" / "releases"

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


def load_release(version: str = PREVIOUS_VERSION) -> Release:
    """The committed artifacts of release ``version`` (tests/releases/<version>/)."""
    folder = RELEASES / version
    meta = json.loads((folder / "release.json").read_text())
    templates: dict[str, dict[str, Any]] = json.loads((folder / "templates.json").read_text())
    assets = {key: folder / "assets" / key.removesuffix(".zip") for key in meta["assets"]}
    return Release(str(meta["ref"]), templates, assets)


def vendor_release(ref: str, version: str, workdir: Path) -> Path:
    """Build release ``ref`` and commit-ready copy its templates and handler assets to tests/releases/<version>/."""
    import shutil

    release = build_release(ref, workdir)
    folder = RELEASES / version
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "assets").mkdir(parents=True)
    (folder / "templates.json").write_text(json.dumps(release.templates, indent=1, sort_keys=True) + "\n")
    for key, source in release.assets.items():
        shutil.copytree(source, folder / "assets" / key.removesuffix(".zip"), ignore=shutil.ignore_patterns("__pycache__"))
    meta = {"ref": ref, "version": version, "assets": sorted(release.assets)}
    (folder / "release.json").write_text(json.dumps(meta, indent=1) + "\n")
    return folder


if __name__ == "__main__":
    import tempfile

    commit, label = sys.argv[1:3] if len(sys.argv) >= 3 else (PREVIOUS_RELEASE, PREVIOUS_VERSION)
    with tempfile.TemporaryDirectory() as scratch:
        print(vendor_release(commit, label, Path(scratch)))
