"""Synthesize the integ_*.py apps the way integ-runner does, and write or verify their ``<app>.snapshot`` folders.

``python -m tests.integ.snapshots`` verifies (exit 1 and a diff when a snapshot differs or is missing);
``--update`` rewrites them. Offline: synthesizing needs no AWS account or credentials.

Why not ``integ-runner`` itself: its newest release on the registry (2.197.10) reads cloud assembly schema 53 at
most, and aws-cdk-lib 2.275.0 writes 55 (AssemblyVersionMismatch). The layout, integ.json and the cleanup below
are integ-runner's, so its snapshot check can take over once a release reads schema 55.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

INTEG_DIR = Path(__file__).resolve().parent
REPO = INTEG_DIR.parents[1]
# Machine output that differs between runs and belongs to no snapshot (integ-runner keeps no such report either).
DROPPED_FILES = {"validation-report.json"}
# integ-tests salts each assertion with Date.now(): the snapshot synth runs Node with a fixed clock.
FIXED_CLOCK = INTEG_DIR / "fixed_clock.cjs"
# What integ-runner puts in the environment of a snapshot synth (runner-base.ts, DEFAULT_SYNTH_OPTIONS.env).
SNAPSHOT_ENV = {
    "CDK_INTEG_ACCOUNT": "12345678",
    "CDK_INTEG_REGION": "test-region",
}


def apps() -> list[Path]:
    """The integration tests: integ-runner's Python pattern, ``integ_*.py``."""
    return sorted(INTEG_DIR.glob("integ_*.py"))


def snapshot_dir(app: Path) -> Path:
    return app.with_name(app.name + ".snapshot")


def synth_context() -> dict[str, Any]:
    """The feature flags of cdk.json (those the pinned CLI recommends; integ-runner passes its own recommended
    set), and integ-runner's synth options: no version, path or asset metadata, no creation stack traces."""
    flags = json.loads((REPO / "cdk.json").read_text())["context"]
    context = {key: value for key, value in flags.items() if key.startswith("@")}
    context.update(
        {
            "aws:cdk:version-reporting": False,
            "aws:cdk:enable-path-metadata": False,
            "aws:cdk:enable-asset-metadata": False,
            "aws:cdk:disable-stack-trace": True,
        }
    )
    return context


def synth(app: Path, outdir: Path) -> None:
    """Run ``app`` as the CDK CLI would (context and output folder in the environment), then clean the assembly."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the caller's account may reach a snapshot.
        if not key.startswith(("CDK_DEFAULT_", "CDK_CONTEXT_JSON", "CDK_OUTDIR", "CDK_INTEG_"))
    }
    env.update(SNAPSHOT_ENV)
    env["CDK_OUTDIR"] = str(outdir)
    env["CDK_CONTEXT_JSON"] = json.dumps(synth_context())
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    env["NODE_OPTIONS"] = f"--require {FIXED_CLOCK}"
    result = subprocess.run(
        [sys.executable, app.name], cwd=app.parent, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{app.name} did not synthesize (exit {result.returncode}):\n{result.stderr[-4000:]}")
    clean(outdir)


def clean(outdir: Path) -> None:
    """integ-runner's cleanupSnapshot: drop the assets no snapshot deploy uses (those of the assertion stacks, and of
    test cases without the update workflow), strip trace data from the metadata, drop machine output."""
    for name in DROPPED_FILES:
        (outdir / name).unlink(missing_ok=True)
    shutil.rmtree(outdir / ".cache", ignore_errors=True)
    integ = json.loads((outdir / "integ.json").read_text())
    deployed_from_snapshot = {
        stack for case in integ["testCases"].values() if case.get("stackUpdateWorkflow", True) for stack in case["stacks"]
    }
    kept = {path for stack in deployed_from_snapshot for path in asset_paths(outdir, stack)}
    for entry in outdir.iterdir():
        if entry.name.startswith("asset.") and entry.name not in kept:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for metadata_file in [outdir / "manifest.json", *outdir.glob("*.metadata.json")]:
        data = json.loads(metadata_file.read_text())
        metadata_file.write_text(json.dumps(_without_traces(data), indent=2) + "\n")


def asset_paths(outdir: Path, stack: str) -> set[str]:
    """The file assets (folders and files in the assembly) of one stack artifact."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    artifact = manifest["artifacts"][stack]
    paths: set[str] = set()
    for dependency in artifact.get("dependencies", []):
        dependency_artifact = manifest["artifacts"].get(dependency, {})
        if dependency_artifact.get("type") == "cdk:asset-manifest":
            assets = json.loads((outdir / dependency_artifact["properties"]["file"]).read_text())
            paths |= {asset["source"]["path"] for asset in assets.get("files", {}).values() if "path" in asset["source"]}
    return paths


def _without_traces(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_traces(item) for key, item in value.items() if key != "trace"}
    if isinstance(value, list):
        return [_without_traces(item) for item in value]
    return value


def differences(expected: Path, actual: Path) -> list[str]:
    """Every file that is missing, extra or different in ``actual`` (a unified diff for text files)."""
    if not expected.is_dir():
        return [f"{expected.name}: no snapshot (run make integ-snapshots and commit it)"]
    found: list[str] = []
    comparison = filecmp.dircmp(expected, actual)
    found += _walk(comparison, Path(expected.name))
    return found


def _walk(comparison: filecmp.dircmp[str], prefix: Path) -> list[str]:
    found = [f"{prefix / name}: only in the snapshot" for name in comparison.left_only]
    found += [f"{prefix / name}: not in the snapshot" for name in comparison.right_only]
    for name in comparison.diff_files + comparison.funny_files:
        left, right = Path(comparison.left) / name, Path(comparison.right) / name
        try:
            diff = difflib.unified_diff(
                left.read_text().splitlines(), right.read_text().splitlines(), "snapshot", "synthesized", lineterm="", n=2
            )
            found.append(f"{prefix / name} differs:\n" + "\n".join(list(diff)[:40]))
        except UnicodeDecodeError:
            found.append(f"{prefix / name} differs (binary)")
    for name, sub in comparison.subdirs.items():
        found += _walk(sub, prefix / name)
    return found


def check(app: Path, update: bool) -> list[str]:
    """Synthesize ``app``; write its snapshot (``update``) or return how it differs from the committed one."""
    with tempfile.TemporaryDirectory(prefix="integ-snapshot-") as tmp:
        actual = Path(tmp) / snapshot_dir(app).name
        synth(app, actual)
        leaked = [str(path) for path in actual.rglob("*") if path.is_file() and _mentions_machine(path)]
        if leaked:
            return [f"{app.name}: the assembly names this machine's folders ({', '.join(leaked)})"]
        if update:
            shutil.rmtree(snapshot_dir(app), ignore_errors=True)
            shutil.copytree(actual, snapshot_dir(app))
            return []
        return differences(snapshot_dir(app), actual)


def _mentions_machine(path: Path) -> bool:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return False
    return str(REPO) in text or "/tmp/" in text


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the snapshots instead of verifying them")
    parser.add_argument("apps", nargs="*", help="integ_*.py files (default: all)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    selected = [Path(a).resolve() for a in args.apps] or apps()
    # Two at a time: each synth is one Python and one Node process, mostly waiting on each other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda app: (app, check(app, args.update)), selected))
    failed = 0
    for app, found in results:
        status = "updated" if args.update else ("CHANGED" if found else "unchanged")
        print(f"  {status:9} {app.name}")
        for line in found:
            print("    " + line.replace("\n", "\n    "))
        failed += bool(found)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
