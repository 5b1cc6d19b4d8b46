"""The lowest versions pyproject.toml allows, and a script that synthesizes the examples with them.

``python tests/support/floor.py requirements`` prints the pins (``aws-cdk-lib==<floor> ...``) that
``make`` installs into ``.venv-floor``; ``tests/test_floor.py`` runs the examples in that venv.
Plain ``re`` instead of ``tomllib`` so that it runs on every Python the project supports.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def floor_pins(pyproject: str | None = None) -> dict[str, str]:
    """``{"aws-cdk-lib": "2.269.0", ...}``: the ``>=`` or ``==`` bound of every runtime dependency."""
    text = pyproject if pyproject is not None else (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    assert block is not None, "pyproject.toml has no dependencies list"
    pins = {}
    lines = (line.split("#", 1)[0] for line in block.group(1).splitlines())
    for requirement in re.findall(r'"([^"]+)"', "\n".join(lines)):
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:>=|==)\s*([0-9][0-9.]*)\s*(?:,.*)?", requirement)
        assert match is not None, f"no lower bound in {requirement!r}"
        pins[match.group(1)] = match.group(2)
    return pins


def wheel_layout(root: Path) -> Path:
    """The package as the wheel lays it out (handler sources as cdk_forecast_export._lambda), under ``root``."""
    package = root / "cdk_forecast_export"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "constructs" / "cdk_forecast_export", package, ignore=ignore)
    shutil.copytree(REPO / "lambda", package / "_lambda", ignore=ignore)
    return package


# Run by the floor venv's Python (nothing from .venv on its path): synthesize every example app.
SYNTH_EXAMPLES = """
import importlib.metadata, importlib.util, json, sys, tempfile
from pathlib import Path
import aws_cdk as cdk
import cdk_forecast_export
repo, outdir = Path(sys.argv[1]), Path(sys.argv[2])
report = {
    "package": cdk_forecast_export.__file__,
    "versions": {n: importlib.metadata.version(n) for n in ("aws-cdk-lib", "constructs", "crhelper")},
    "stacks": {},
}
for path in sorted((repo / "examples").glob("*.py")):
    spec = importlib.util.spec_from_file_location("example_" + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = cdk.App(outdir=str(outdir / path.stem))
    stacks = module.build(app)
    assembly = app.synth()
    for stack in stacks:
        template = assembly.get_stack_by_name(stack.stack_name).template
        report["stacks"][stack.stack_name] = sorted({r["Type"] for r in template["Resources"].values()})
print(json.dumps(report))
"""

if __name__ == "__main__":
    if sys.argv[1:] == ["requirements"]:
        print(" ".join(f"{name}=={version}" for name, version in floor_pins().items()))
    else:
        raise SystemExit("usage: python tests/support/floor.py requirements")
