"""Handler sources shipped inside the wheel as ``cdk_forecast_export._lambda``.

In the repository this folder is ``lambda/``; the construct bundles ``forecast_export/`` from it
together with crhelper (pinned in ``requirements.txt``) into the Lambda asset.
"""
