"""One folder per export: two ForecastExports of one app writing to the same bucket and prefix are refused.

Their files would mix, and ``grant_read`` on one would read the other's. The check needs the whole app,
so every export registers its destination with one registry under the app's root, and the check runs
as a validation when the app is synthesized.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_s3 as s3

import constructs
from constructs import Construct

from ._lambda.forecast_export import rules

REGISTRY_ID = "ForecastExportDestinations"


class _Destination:
    def __init__(self, path: str, bucket: s3.IBucket, prefix: str) -> None:
        self.path = path
        # The same bucket has the same name: a literal, or the same token for the same bucket object.
        self.key = (bucket.bucket_name, prefix)
        name = bucket.bucket_name
        self.bucket_shown = rules.show(name) if not cdk.Token.is_unresolved(name) else bucket.node.path
        self.prefix = prefix


class DestinationRegistry(Construct):
    """Every export's bucket and prefix in this app (a construct without resources, under the app's root)."""

    @classmethod
    def of(cls, scope: Construct) -> DestinationRegistry:
        root = scope.node.root
        found = root.node.try_find_child(REGISTRY_ID)
        if isinstance(found, DestinationRegistry):
            return found
        assert isinstance(root, Construct)  # an App, or a Stack made without one
        return cls(root, REGISTRY_ID)

    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_)
        self.destinations: list[_Destination] = []

    def register(self, export: Construct, bucket: s3.IBucket, prefix: str) -> None:
        destination = _Destination(export.node.path, bucket, prefix)
        self.destinations.append(destination)
        export.node.add_validation(_SharedDestinationCheck(self, destination))


@jsii.implements(constructs.IValidation)
class _SharedDestinationCheck:
    def __init__(self, registry: DestinationRegistry, own: _Destination) -> None:
        self._registry = registry
        self._own = own

    def validate(self) -> list[str]:
        first = next(d for d in self._registry.destinations if d.key == self._own.key)
        if first is self._own:
            return []
        return [
            f"ForecastExport {self._own.path} and ForecastExport {first.path} both write to bucket {self._own.bucket_shown} "
            f"under prefix {rules.show(self._own.prefix)}: their files would mix, and grant_read on one would read the "
            "other's. Give each export its own prefix"
        ]
