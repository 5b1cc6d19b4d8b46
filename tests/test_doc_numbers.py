"""Every job-name length, suffix and limit the docs state is the one in the contract module.

The numbers live once, in ``lambda/forecast_export/contract.py``; the README, docs/*.md, the diagrams'
labels and the docstrings of both packages repeat them in prose. Each rule below finds one way the
prose states a number and names the constant it must equal; a rule that finds nothing fails too,
so rewording a doc cannot switch its check off unnoticed. Phrases of designs that are gone (the
``<base>_<hash>`` names, polling every few seconds, per-export policies, deleting stopped jobs,
``export_job_name`` refusing tokens) fail wherever they appear.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cdk_forecast_export._lambda.forecast_export import contract
from cdk_forecast_export._lambda.forecast_export.naming import JobIdentity

from tests.support.apps import REPO

STACK_ID = "arn:aws:cloudformation:us-east-1:111122223333:stack/Reports/0f1e2d3c-aaaa-bbbb-cccc-123456789012"
FORECAST_ARN = "arn:aws:forecast:us-east-1:111122223333:forecast/demand"


def _diagram_labels() -> list[str]:
    spec = importlib.util.spec_from_file_location("docs_diagrams", REPO / "docs" / "diagrams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    labels: list[str] = module.labels()
    return labels


def _docstrings(folder: str) -> Iterator[tuple[str, str]]:
    """Module, class, function and attribute docstrings: every string that stands alone as a statement."""
    for path in sorted((REPO / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                yield f"{path.relative_to(REPO)}:{node.lineno}", node.value.value


def _corpus() -> list[tuple[str, str]]:
    """(where, text) with line breaks and docstring indentation folded into single spaces."""
    texts = [("README.md", (REPO / "README.md").read_text())]
    texts += [(str(p.relative_to(REPO)), p.read_text()) for p in sorted((REPO / "docs").glob("*.md"))]
    texts += [("docs/diagrams.py (label)", label) for label in _diagram_labels()]
    texts += list(_docstrings("constructs/cdk_forecast_export")) + list(_docstrings("lambda/forecast_export"))
    return [(where, re.sub(r"\s+", " ", text)) for where, text in texts]


CORPUS = _corpus()


@dataclass(frozen=True)
class Statement:
    """A way the prose states a number, and the value the contract gives it."""

    name: str
    pattern: str
    expected: int

    def values(self, text: str) -> Iterator[tuple[int, str]]:
        for match in re.finditer(self.pattern, text, re.IGNORECASE):
            value = match.group(1)
            count = len(value) if set(value) == {"?"} else int(value)  # ``????`` states the key's length too
            yield count, text[max(0, match.start() - 40) : match.end() + 20]


OWNER, KEY, SUFFIX = contract.OWNER_LENGTH, contract.KEY_LENGTH, contract.SUFFIX_LENGTH
BASE, JOB_MAX, ATTEMPTS = contract.BASE_MAX_LENGTH, contract.JOB_NAME_MAX_LENGTH, contract.MAX_ATTEMPTS
# A part of the name as the prose introduces it ("`owner` is", "``key`` (", "owner:"), not inside "<owner><key>".
NAME_PART = r"(?<![<\w])`{{0,2}}{}`{{0,2}}(?![>\w])(?:\s+is\s+|:\s*|\s+\(|\s+)"
STATEMENTS = [
    # owner marker: "`owner` is the first 8 characters", "``owner`` (8 hex characters)", "owner: 8 hex"
    Statement("owner length", rf"{NAME_PART.format('owner')}(?:the first\s+)?(\d+)[ -](?:hex|char)", OWNER),
    Statement("owner length", r"first (\d+) (?:hex )?characters of the stack", OWNER),
    Statement("owner length", r"(\d+)-character owner", OWNER),
    # key: "`key` is 4 letters or digits", "``key`` (4 letters", "a 4-character key", "key: 4 chars", "<owner>????"
    Statement("key length", rf"{NAME_PART.format('key')}(\d+)[ -](?:letters|char)", KEY),
    Statement("key length", r"(\d+)-character key", KEY),
    Statement("key length", r"<owner>(\?+)", KEY),
    # the suffix: "`_<owner><key>` (13 chars)", "takes 13 characters", "a 13-character suffix"
    Statement("suffix length", r"_<owner><key>`*\s*\((\d+) char", SUFFIX),
    Statement("suffix length", r"suffix `*_<owner><key>`* takes (\d+)", SUFFIX),
    Statement("suffix length", r"(\d+)-character suffix", SUFFIX),
    # the base: "1-50 characters, a letter", "cut to 50", "base names 50", "base: ≤ 50 chars", "the base its 50"
    Statement("base length", r"\b1-(\d+) char(?:acter)?s,? a letter", BASE),
    Statement("base length", r"(?:default|construct(?:'s)? path|base)[^.|]{0,120}?\bcut to (?:its first )?(\d+)", BASE),
    Statement("base length", r"\bbase names (\d+)", BASE),
    Statement("base length", r"\bbase: ≤ (\d+)", BASE),
    Statement("base length", r"leaves the base its (\d+)", BASE),
    Statement("base length", r"\bbase names? (?:are|is) 1-(\d+)", BASE),
    # Forecast's limit on job names
    Statement("job name length", r"reach(?:ing)? Forecast's (\d+)", JOB_MAX),
    Statement("job name length", r"at most (\d+) characters \(Forecast's limit\)", JOB_MAX),
    Statement("job name length", r"ForecastExportJobName` \((\d+)", JOB_MAX),
    # attempts: "after 10 names", "the 9 names before it", "10 exports of this resource in a row"
    Statement("attempts", r"after (\d+) names", ATTEMPTS),
    Statement("attempts", r"the (\d+) names before it", ATTEMPTS - 1),
    Statement("attempts", r"(\d+) exports of this resource in a row", ATTEMPTS),
]

# What the docs said of designs that are gone.
STALE = {
    r"<base>_<(?!owner><key>)": "job names are <base>_<owner><key>",
    r"\bDescribe every\b|\bpolls? every \d+ s inside": "one look per invocation: per event, and once a minute",
    r"per-export managed polic": "one access role per stack, its ARNs packed into managed policies",
    r"\bstops? (?:\([^)]*\) )?and deletes?\b|\bstopped,? (?:and |then )deleted\b|StopResource[^|]{0,30}→ ?Delete": (
        "Forecast refuses to delete stopped jobs: they are reported and kept"
    ),
    r"never cut": "a default base name from the construct path is cut to the base length",
    r"\d+-character hash": "the name ends in an owner marker and a key",
}
TOKEN_REFUSAL = r"no token|refuses? (?:a )?tokens?|must be known at synth"


def test_the_contract_numbers_are_the_ones_the_names_have() -> None:
    assert contract.SUFFIX_LENGTH == 1 + contract.OWNER_LENGTH + contract.KEY_LENGTH
    assert contract.BASE_MAX_LENGTH + contract.SUFFIX_LENGTH == contract.JOB_NAME_MAX_LENGTH
    identity = JobIdentity(STACK_ID, "Export", "b" * 80, FORECAST_ARN, "s3://bucket/p/", "role", "", "CSV")
    names = identity.job_names()
    assert len(names) == len(set(names)) == contract.MAX_ATTEMPTS
    for name in names:
        assert len(name) == contract.JOB_NAME_MAX_LENGTH
        base, suffix = name.rsplit("_", 1)
        assert base == "b" * contract.BASE_MAX_LENGTH
        assert re.fullmatch(rf"0f1e2d3c[0-9A-Za-z]{{{contract.KEY_LENGTH}}}", suffix), name
        assert len("_" + suffix) == contract.SUFFIX_LENGTH


@pytest.mark.parametrize("name", sorted({s.name for s in STATEMENTS}))
def test_every_stated_number_is_the_contracts(name: str) -> None:
    found = 0
    wrong = []
    for statement in (s for s in STATEMENTS if s.name == name):
        for where, text in CORPUS:
            for value, context in statement.values(text):
                found += 1
                if value != statement.expected:
                    wrong.append(f"{where}: {value} (contract: {statement.expected}) in ...{context}...")
    assert not wrong, "\n".join(wrong)
    assert found, f"no doc states the {name} any more: update the patterns in {__name__}"


@pytest.mark.parametrize("pattern", sorted(STALE))
def test_no_doc_describes_a_design_that_is_gone(pattern: str) -> None:
    hits = [f"{where}: {m.group(0)!r}" for where, text in CORPUS for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert not hits, f"{STALE[pattern]}:\n" + "\n".join(hits)


def test_no_doc_says_export_job_name_refuses_tokens() -> None:
    passages = []
    for where, text in CORPUS:
        passages += [(where, p) for p in re.findall(r":param export_job_name:.*?(?=:param |$)", text)]
        passages += [(where, s) for s in re.split(r"(?<=[.;])\s", text) if "export_job_name" in s]
    assert passages
    wrong = [f"{where}: {p}" for where, p in passages if re.search(TOKEN_REFUSAL, p, re.IGNORECASE)]
    assert not wrong, "export_job_name may be a token (the handler checks it at deploy time):\n" + "\n".join(wrong)


def test_the_readme_sections_the_docs_point_to_exist() -> None:
    readme = (REPO / "README.md").read_text()
    headings = set(re.findall(r"^#+ (.+?)\s*$", readme, re.MULTILINE))
    headings |= set(re.findall(r"^\*\*(.+?)\*\*:", readme, re.MULTILINE))  # a paragraph that starts "**Its name**:"
    pointers = [(where, ref) for where, text in CORPUS for ref in re.findall(r'\bsee "([^"]+)"', text, re.IGNORECASE)]
    assert pointers
    missing = [f"{where}: {ref!r}" for where, ref in pointers if ref not in headings]
    assert not missing, f"README has no such section (headings: {sorted(headings)}):\n" + "\n".join(missing)
