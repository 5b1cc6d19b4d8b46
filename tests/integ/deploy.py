"""make integ: deploy the integ_*.py apps to a real account, with integ-runner's update workflow, and destroy them.

Needs CDK_INTEG_FORECAST_ARN (an ACTIVE forecast of the account; the stacks go to its region) and AWS credentials
(any source the CDK CLI and boto3 read). ``--dry-run`` prints the steps (from the committed snapshots) and changes
nothing. Nothing here runs in ``make test``: Amazon Forecast takes no new customers, and the test machines have no
account.

For each test case of an app, in integ.json's order, as integ-runner runs it (runner/integ-test-runner.ts):

1. update workflow (unless the case turns it off): deploy the case's stacks from the committed snapshot;
2. deploy the case's stacks from the current code (a stack update after 1.; a deploy expected to fail must fail
   with the expected message);
3. deploy the assertion stack without rollback and read its AssertionResults outputs;
4. run the postDeploy hooks, then destroy every stack of the app (unless the case turns destroy off) and run the
   postDestroy hooks.

integ-runner itself cannot do this with aws-cdk-lib 2.275.0 (tests/integ/snapshots.py says why): the steps use
the CDK CLI pinned in package.json, which reads the assembly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integ.forecast_parameter import FORECAST_ARN_PARAMETER
from tests.integ.snapshots import REPO, apps, snapshot_dir

ARN_VARIABLE = "CDK_INTEG_FORECAST_ARN"
FORECAST_ARN = re.compile(r"arn:aws[a-z-]*:forecast:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):forecast/[a-zA-Z][a-zA-Z0-9_]*")
CDK = ["npx", "--no-install", "cdk"]
CLI_OPTIONS = ["--require-approval", "never", "--no-version-reporting", "--no-path-metadata", "--no-asset-metadata"]


class Refused(Exception):
    """make integ cannot start: the message says what is missing."""


@dataclass
class Step:
    """One command of the plan; ``expect_error`` is a regular expression the command's output must match."""

    title: str
    command: list[str]
    cwd: Path = REPO
    expect_error: str | None = None
    assertion_stack: str | None = None
    outputs_file: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        where = "" if self.cwd == REPO else f"(cd {self.cwd.relative_to(REPO)}) "
        return f"{self.title}: {where}{shlex.join(self.command)}"


def forecast_from_environment(environ: Mapping[str, str]) -> re.Match[str]:
    """The forecast ARN make integ exports, or Refused naming the variable."""
    value = environ.get(ARN_VARIABLE, "")
    if not value:
        raise Refused(
            f"{ARN_VARIABLE} is not set: export the ARN of an ACTIVE forecast of the account to test in, "
            f"e.g. {ARN_VARIABLE}=arn:aws:forecast:eu-west-1:123456789012:forecast/my_forecast make integ"
        )
    match = FORECAST_ARN.fullmatch(value)
    if match is None:
        raise Refused(f"{ARN_VARIABLE}={value!r} is not a forecast ARN (arn:aws:forecast:<region>:<account>:forecast/<name>)")
    return match


def check_credentials(environ: Mapping[str, str]) -> None:
    """Refused unless boto3 finds credentials (no call to AWS: only the places credentials are read from)."""
    import botocore.session

    session = botocore.session.Session()
    if environ.get("AWS_PROFILE"):
        session.set_config_variable("profile", environ["AWS_PROFILE"])
    try:
        credentials = session.get_credentials()
    except Exception as error:  # a named profile that does not exist, a broken config file
        raise Refused(f"AWS credentials cannot be read: {error}") from error
    if credentials is None:
        raise Refused(
            "no AWS credentials found: make integ deploys to a real account. Set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY (the account of the forecast, bootstrapped with cdk bootstrap)"
        )


def integ_manifest(assembly: Path) -> dict[str, Any]:
    return dict(json.loads((assembly / "integ.json").read_text()))


def assertion_outputs(assembly: Path, stack_name: str) -> list[str]:
    """The AssertionResults outputs of an assertion stack's template (none: nothing to deploy or check)."""
    template = json.loads((assembly / f"{stack_name}.template.json").read_text())
    return sorted(key for key in template.get("Outputs", {}) if key.startswith("AssertionResults"))


def plan(app: Path, actual: Path, expected: Path | None, outputs_dir: Path, *, manifest_from: Path | None = None) -> list[Step]:
    """The steps for one app: ``actual`` is its freshly synthesized assembly, ``expected`` the committed snapshot
    (None or missing: no update workflow). ``manifest_from`` reads integ.json and the templates from another
    assembly than ``actual`` (the dry run, which synthesizes nothing)."""
    source = manifest_from or actual
    cases = integ_manifest(source)["testCases"]
    expected_cases = integ_manifest(expected)["testCases"] if expected is not None and expected.is_dir() else {}
    hooks_cwd = app.parent
    steps: list[Step] = []
    for name, case in cases.items():
        label = f"{app.name} {name}"
        options = case.get("cdkCommandOptions", {})
        hooks = case.get("hooks", {})
        if case.get("stackUpdateWorkflow", True) and name in expected_cases and expected is not None:
            stacks = expected_cases[name]["stacks"]
            steps.append(
                Step(f"{label}: deploy the committed snapshot", [*CDK, "deploy", "--app", str(expected), *CLI_OPTIONS, *stacks])
            )
        steps += [Step(f"{label}: preDeploy hook", shlex.split(hook), cwd=hooks_cwd) for hook in hooks.get("preDeploy", [])]
        deploy = options.get("deploy", {})
        if deploy.get("enabled", True):
            expect_error = (deploy.get("expectedMessage") or ".") if deploy.get("expectError") else None
            command = [*CDK, "deploy", "--app", str(actual), *CLI_OPTIONS, *case["stacks"]]
            steps.append(Step(f"{label}: deploy", command, expect_error=expect_error))
        stack_name = case.get("assertionStackName")
        if stack_name and not deploy.get("expectError") and assertion_outputs(source, stack_name):
            outputs = outputs_dir / f"{stack_name}.json"
            command = [*CDK, "deploy", "--app", str(actual), *CLI_OPTIONS, "--no-rollback", "--exclusively"]
            command += ["--outputs-file", str(outputs), case["assertionStack"]]
            steps.append(Step(f"{label}: assertions", command, assertion_stack=stack_name, outputs_file=outputs))
        steps += [Step(f"{label}: postDeploy hook", shlex.split(hook), cwd=hooks_cwd) for hook in hooks.get("postDeploy", [])]
        if options.get("destroy", {}).get("enabled", True):
            steps += [Step(f"{label}: preDestroy hook", shlex.split(hook), cwd=hooks_cwd) for hook in hooks.get("preDestroy", [])]
            steps.append(Step(f"{label}: destroy", [*CDK, "destroy", "--app", str(actual), "--all", "--force"]))
            steps += [
                Step(f"{label}: postDestroy hook", shlex.split(hook), cwd=hooks_cwd) for hook in hooks.get("postDestroy", [])
            ]
    return steps


def failed_assertions(outputs_file: Path, stack_name: str) -> list[str]:
    """The AssertionResults outputs of the assertion stack whose status is not success (a missing one fails too)."""
    outputs = json.loads(outputs_file.read_text()).get(stack_name, {}) if outputs_file.exists() else {}
    results = {key: json.loads(value) for key, value in outputs.items() if key.startswith("AssertionResults")}
    if not results:
        return [f"{stack_name}: no AssertionResults outputs"]
    return [f"{key}: {result.get('message', result)}" for key, result in results.items() if result.get("status") != "success"]


def run_step(step: Step, environ: Mapping[str, str]) -> list[str]:
    """Run one step; the problems it found (empty: it did what it should)."""
    print(f"==> {step.render()}", flush=True)
    result = subprocess.run(step.command, cwd=step.cwd, env={**environ, **step.env}, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if step.expect_error is not None:
        if result.returncode == 0:
            return [f"{step.title}: expected to fail with {step.expect_error!r}, but it succeeded"]
        if not re.search(step.expect_error, output):
            return [f"{step.title}: failed, but not with {step.expect_error!r}:\n{output[-3000:]}"]
        return []
    if result.returncode != 0:
        return [f"{step.title}: exit {result.returncode}:\n{output[-3000:]}"]
    if step.assertion_stack is not None and step.outputs_file is not None:
        return failed_assertions(step.outputs_file, step.assertion_stack)
    return []


def synthesize(app: Path, outdir: Path, environ: Mapping[str, str]) -> None:
    """The app's assembly with cdk.json's feature flags (the snapshots' flags), from the repository's root."""
    subprocess.run(
        [*CDK, "synth", "--app", f"python {app.relative_to(REPO)}", "--output", str(outdir), "--quiet", *CLI_OPTIONS[2:]],
        cwd=REPO,
        env=dict(environ),
        check=True,
    )


def store_forecast_arn(forecast: re.Match[str]) -> None:
    """The stacks read the ARN from SSM at deploy time (tests/integ/common.py)."""
    import boto3

    boto3.client("ssm", region_name=forecast.group("region")).put_parameter(
        Name=FORECAST_ARN_PARAMETER, Value=forecast.group(0), Type="String", Overwrite=True
    )


def main(argv: Iterable[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the steps (from the committed snapshots); change nothing")
    parser.add_argument("apps", nargs="*", help="integ_*.py files (default: all)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    env = dict(os.environ if environ is None else environ)
    selected = [Path(a).resolve() for a in args.apps] or apps()
    if args.dry_run:
        for app in selected:
            fresh = Path(f"<the synth of {app.name}>")
            for step in plan(app, fresh, snapshot_dir(app), Path("<outputs>"), manifest_from=snapshot_dir(app)):
                print(step.render())
        return 0
    try:
        forecast = forecast_from_environment(env)
        check_credentials(env)
    except Refused as refusal:
        print(f"make integ: {refusal}", file=sys.stderr)
        return 2
    env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = forecast.group("region")
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    store_forecast_arn(forecast)
    problems: list[str] = []
    failed_apps = 0
    for app in selected:
        with tempfile.TemporaryDirectory(prefix=f"{app.stem}-") as tmp:
            actual = Path(tmp) / "cdk.out"
            synthesize(app, actual, env)
            found: list[str] = []
            for step in plan(app, actual, snapshot_dir(app), Path(tmp)):
                found = run_step(step, env)
                if found:
                    if "destroy" not in step.title:
                        # Like integ-runner: a failed step ends the app's run, and its stacks are destroyed.
                        subprocess.run(
                            [*CDK, "destroy", "--app", str(actual), "--all", "--force"], cwd=REPO, env=env, check=False
                        )
                    break
            problems += found
            failed_apps += bool(found)
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    print(f"{len(selected) - failed_apps} passed, {failed_apps} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
