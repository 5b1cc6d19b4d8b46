"""The package, the Lambda asset and the wheel work the way users receive them."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.support.apps import REPO


def test_constructs_still_resolves_to_the_pypi_package() -> None:
    import constructs

    assert not (REPO / "constructs" / "__init__.py").exists()
    assert "site-packages" in str(constructs.__file__)
    assert hasattr(constructs, "Construct")


def test_the_asset_holds_the_handler_and_the_pinned_crhelper_only(asset_dir: Path) -> None:
    top = sorted(p.name for p in asset_dir.iterdir())
    assert top == ["crhelper", "forecast_export"]
    assert (asset_dir / "forecast_export" / "app.py").is_file()
    assert (asset_dir / "crhelper" / "resource_helper.py").is_file()
    assert not list(asset_dir.rglob("__pycache__"))
    pinned = (REPO / "lambda" / "requirements.txt").read_text().strip()
    assert pinned == "crhelper==2.0.12"


def _boto3_only_path(tmp_path: Path) -> Path:
    """A folder exposing boto3 and its dependencies and nothing else, as the Lambda runtime does."""
    site = Path(sysconfig.get_paths()["purelib"])
    only = tmp_path / "boto3-only"
    only.mkdir()
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        (only / name).symlink_to(site / name)
    return only


def test_the_handler_imports_from_the_asset_with_only_boto3_installed(asset_dir: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import forecast_export.app as app, crhelper
        assert app.__file__.startswith(sys.argv[1]), app.__file__
        assert crhelper.__file__.startswith(sys.argv[1]), crhelper.__file__
        for banned in ("aws_cdk", "jsii", "moto", "cdk_forecast_export"):
            try:
                __import__(banned)
            except ImportError:
                continue
            raise SystemExit(banned + " should not be importable here")
        print("handler", app.handler.__name__)
        """
    )
    env = {
        "PYTHONPATH": f"{asset_dir}{os.pathsep}{_boto3_only_path(tmp_path)}",
        "AWS_REGION": "us-east-1",
        "PATH": os.environ["PATH"],
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, str(asset_dir)], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "handler handler"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("cdk_forecast_export-*.whl")
    return built


def test_the_wheel_is_the_file_the_readme_installs(wheel: Path) -> None:
    import cdk_forecast_export

    name = f"cdk_forecast_export-{cdk_forecast_export.__version__}-py3-none-any.whl"
    assert wheel.name == name
    assert f"dist/{name}" in (REPO / "README.md").read_text()


def test_the_wheel_carries_the_handler(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "cdk_forecast_export/py.typed",
        "cdk_forecast_export/_lambda/requirements.txt",
        "cdk_forecast_export/_lambda/forecast_export/app.py",
        "cdk_forecast_export/_lambda/forecast_export/rules.py",
    ):
        assert needed in names
    assert not any(n.startswith(("tests/", "constructs/")) for n in names)


def test_the_wheel_carries_the_license_and_the_metadata_a_user_looks_for(wheel: Path) -> None:
    import zipfile
    from email.parser import Parser

    archive = zipfile.ZipFile(wheel)
    (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    (license_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    license_text = archive.read(license_name).decode()
    assert license_text == (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text and len(license_text.splitlines()) == 202  # the full text
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Repository", "Issues", "Changelog"}
    assert all(u.startswith("https://github.com/cdk-forecast-export/cdk-forecast-export") for u in urls.values())
    assert "Framework :: AWS CDK :: 2" in metadata.get_all("Classifier")
    assert "amazon-forecast" in metadata["Keywords"] and metadata["Author"]
    requirements = metadata.get_all("Requires-Dist")
    assert "aws-cdk-lib<3,>=2.269.0" in requirements and "constructs<11,>=10.5.0" in requirements


def test_the_installed_wheel_synthesizes_three_exports_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    project = tmp_path / "platform-app"
    project.mkdir()
    (project / "app.py").write_text(
        textwrap.dedent(
            """
        import json, sys
        import aws_cdk as cdk
        import cdk_forecast_export
        from cdk_forecast_export import ForecastExport
        assert cdk_forecast_export.__file__.startswith(sys.argv[1]), cdk_forecast_export.__file__
        app = cdk.App(outdir="cdk.out")
        stack = cdk.Stack(app, "Platform", env=cdk.Environment(account="111122223333", region="us-east-1"))
        for name in ("daily", "weekly", "monthly"):
            ForecastExport(stack, name.title(), forecast_arn="arn:aws:forecast:us-east-1:111122223333:forecast/" + name)
        template = app.synth().get_stack_by_name("Platform").template
        kinds = [r["Type"] for r in template["Resources"].values()]
        print(kinds.count("Custom::ForecastExportJob"), kinds.count("AWS::Lambda::Function"))
        """
        )
    )
    # -S: no site processing, so the repository's editable install is invisible; only the wheel
    # and the third-party packages (aws-cdk-lib, jsii, constructs, crhelper) are on the path.
    site_packages = sysconfig.get_paths()["purelib"]
    bootstrap = (
        f"import sys; sys.path[:0] = [{str(target)!r}, {site_packages!r}]; "
        f"sys.argv = ['app.py', {str(target)!r}]; exec(open('app.py').read())"
    )
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-S", "-c", bootstrap], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["3", "1"]
    assets = list((project / "cdk.out").glob("asset.*/forecast_export/app.py"))
    assert len(assets) == 1
    assert (assets[0].parent.parent / "crhelper" / "resource_helper.py").is_file()
