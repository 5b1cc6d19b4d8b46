"""The documentation keeps up with the code: failure reasons, version, changelog, scenarios, diagrams."""

from __future__ import annotations

import ast
import re

import cdk_forecast_export

from tests.support.apps import REPO

HANDLER = REPO / "lambda" / "forecast_export"
TROUBLESHOOTING = (REPO / "docs" / "TROUBLESHOOTING.md").read_text()

# Fragments of every FAILED reason the handler can produce, as they appear in its source.
REASON_FRAGMENTS = [
    "Invalid properties:",
    "could not be handled later: the properties were too large to keep",
    "already exists for this forecast with another destination",
    "could not start within",
    "CreateForecastExportJob refused",
    "disappeared while it was being created",
    "was not ACTIVE within",
    "stopped or deleted outside CloudFormation",
    "to answer before CloudFormation's",
    "The handler ran out of time before the request finished",
    "The handler failed unexpectedly",
    "The handler has no {contract.STATE_TABLE_ENVIRONMENT} environment variable",
    "the table keeps at most",
    "Forecast refuses to delete the stopped job",
    "Forecast could not delete export job",
    "are taken by jobs that can",
]


def test_every_failure_reason_in_the_handler_is_documented() -> None:
    source = "".join(p.read_text() for p in HANDLER.glob("*.py"))
    raised = re.findall(r"raise (?:ExportFailed|RuntimeError|TransientError|InvalidProperties)\(", source)
    assert len(raised) >= 9
    for fragment in REASON_FRAGMENTS:
        assert fragment in source, f"the handler no longer says {fragment!r}: update this list and the doc"
        assert fragment.split(" {")[0] in TROUBLESHOOTING, f"docs/TROUBLESHOOTING.md does not explain {fragment!r}"


def test_the_version_is_the_same_everywhere() -> None:
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert cdk_forecast_export.__version__ == version
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[?(\d+\.\d+\.\d+)", changelog, re.MULTILINE).group(1) == version  # type: ignore[union-attr]


def test_the_changelog_keeps_an_unreleased_section_above_the_current_release() -> None:
    headings = re.findall(r"^## (.+)$", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings[0] == "Unreleased", headings[:2]
    assert re.fullmatch(rf"{re.escape(cdk_forecast_export.__version__)} \(\d{{4}}-\d{{2}}-\d{{2}}\)", headings[1]), headings[:2]


def _expected_failures(path: str) -> set[str]:
    """Tests of a module marked xfail, directly or through a module-level marker (``ANSWERED_COPY = ...xfail(...)``)."""
    tree = ast.parse((REPO / path).read_text())

    def is_xfail(node: ast.expr) -> bool:
        return "xfail" in ast.unparse(node)

    markers = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and is_xfail(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(is_xfail(d) or (isinstance(d, ast.Name) and d.id in markers) for d in node.decorator_list)
    }


def test_the_scenarios_table_is_one_table_that_names_the_expected_failures() -> None:
    lines = (REPO / "docs" / "SCENARIOS.md").read_text().rstrip("\n").split("\n")
    start = lines.index("| scenario | what it proves |")
    rows = lines[start + 2 :]
    broken = [line for line in rows if not re.fullmatch(r"\| `test_\w+(?:\[\.\.\.\])?` \| .+ \|", line)]
    assert not broken, f"every line after the table's header must be one of its rows: {broken[:3]}"
    names = [re.match(r"\| `(\w+)", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    expected = _expected_failures("tests/test_lifecycle_matrix.py")
    marked = {name for name, row in zip(names, rows, strict=True) if "**strict xfail**" in row}
    assert marked == expected, "docs/SCENARIOS.md marks other scenarios **strict xfail** than the matrix does"


def test_the_diagrams_exist_with_their_source() -> None:
    assert (REPO / "docs" / "diagrams.py").is_file()
    for name in ("architecture.png", "lifecycle.png", "detection-latency.png"):
        image = REPO / "docs" / name
        assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"docs/{name}" in (REPO / "README.md").read_text(), f"README does not show {name}"
