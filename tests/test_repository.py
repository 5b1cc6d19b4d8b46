"""What a user adopting the repository finds: the license it declares, and a cdk.json like `cdk init` makes."""

from __future__ import annotations

import json

from tests.support.apps import REPO

OWN_CONTEXT = {"forecastArn", "exportJobName", "exportFormat", "timeoutMinutes"}


def test_the_license_file_is_the_apache_license_the_package_declares() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()


def test_cdk_json_holds_the_recommended_feature_flags_of_the_pinned_cli() -> None:
    # The flags `npx cdk init` writes with the CLI pinned in package.json; with all of them set, synth no
    # longer prints "N feature flags are not configured". The library itself does not rely on any of them:
    # the floor test and the bare-App tests synthesize without them.
    recommended = json.loads(
        (REPO / "node_modules" / "aws-cdk" / "lib" / "init-templates" / ".recommended-feature-flags.json").read_text()
    )
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    assert {k: v for k, v in context.items() if k not in OWN_CONTEXT} == recommended
    assert set(context) - set(recommended) == OWN_CONTEXT
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert json.loads((REPO / "node_modules" / "aws-cdk" / "package.json").read_text())["version"] == pinned
