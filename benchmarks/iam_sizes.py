"""`make bench` (IAM part): resolved policy sizes and quotas at 100 exports, with their headroom.

Synthesizes 100 exports with the longest names AWS allows and a KMS key each, in one stack and over
10 team stacks on one shared provider, with ``@aws-cdk/aws-iam:minimizePolicies`` on and off;
resolves every policy at its worst case and counts it as IAM does (tests/support/iam_sizes.py).
Prints the table and writes docs/iam-sizes.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.bed import go_offline  # noqa: E402

go_offline()

from cdk_forecast_export._lambda.forecast_export.contract import BASE_MAX_LENGTH  # noqa: E402

from tests.support import apps, iam_sizes  # noqa: E402


def _row(figure: str, value: int, limit: int) -> str:
    return f"| {figure} | {value} | {limit} | {limit - value} ({100 * (limit - value) / limit:.0f} %) |"


def main() -> None:
    lines = [
        "# IAM and CloudFormation sizes at 100 exports (`make bench`)",
        "",
        "Every policy resolved with the longest names AWS allows (role names 64, forecast names 63, base",
        f"names {BASE_MAX_LENGTH}, a KMS key on every export, partition `aws-us-gov`, region `ap-southeast-5`), counted",
        "without whitespace as IAM stores it.",
        "",
        "| figure | value | limit | headroom |",
        "|---|---|---|---|",
    ]
    for flag in (True, False):
        context = {**apps.NO_BUNDLING, "@aws-cdk/aws-iam:minimizePolicies": flag}
        label = f"minimizePolicies {'on' if flag else 'off'}"
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as shared:
            layouts = {
                "100 exports in one stack": iam_sizes.one_stack_app(one, context),
                "100 exports over 10 team stacks, one provider": iam_sizes.shared_provider_app(shared, context),
            }
        for layout, templates in layouts.items():
            measured = [iam_sizes.measure(name, template) for name, template in templates.items()]
            prefix = f"{label}, {layout}:"
            lines += [
                _row(
                    f"{prefix} largest managed policy (chars)",
                    max(s.largest_managed_policy for s in measured),
                    iam_sizes.MANAGED_POLICY_LIMIT,
                ),
                _row(
                    f"{prefix} most managed policies on one role",
                    max((v for s in measured for v in s.managed_per_role.values()), default=0),
                    iam_sizes.MANAGED_PER_ROLE_LIMIT,
                ),
                _row(
                    f"{prefix} largest inline policies of one role (chars)",
                    max((v for s in measured for v in s.inline_per_role.values()), default=0),
                    iam_sizes.INLINE_PER_ROLE_LIMIT,
                ),
                _row(
                    f"{prefix} largest trust policy (chars)",
                    max((v for s in measured for v in s.trust_policies.values()), default=0),
                    iam_sizes.TRUST_POLICY_LIMIT,
                ),
                _row(
                    f"{prefix} most resources in one stack",
                    max(s.resources for s in measured),
                    iam_sizes.RESOURCES_PER_STACK_LIMIT,
                ),
                _row(
                    f"{prefix} largest template (bytes)", max(s.template_bytes for s in measured), iam_sizes.TEMPLATE_BYTES_LIMIT
                ),
            ]
            problems = [p for s in measured for p in s.problems()]
            if problems:
                lines.append(f"| {prefix} OVER A LIMIT | {'; '.join(problems)} | | |")
    text = "\n".join(lines) + "\n"
    (REPO / "docs" / "iam-sizes.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
