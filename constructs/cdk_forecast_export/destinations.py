"""One folder per export: two ForecastExports of one app writing to the same bucket and prefix are refused,
and so are nested prefixes (``exports`` and ``exports/returns``) in one bucket.

Their files would mix, and ``grant_read`` on one (the outer one, when nested) would read the other's. The
check needs the whole app, so every export registers its destination with one registry under the app's
root, and the check runs as a validation when the app is synthesized. Prefixes are compared segment by
segment: ``exports`` holds ``exports/returns`` but not ``exports2``; no prefix (the bucket's root) holds
every other one.
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
        self.bucket_key = bucket.bucket_name
        self.key = (bucket.bucket_name, prefix)
        name = bucket.bucket_name
        self.bucket_shown = rules.show(name) if not cdk.Token.is_unresolved(name) else bucket.node.path
        self.prefix = prefix
        # A deploy-time prefix (a token) is compared only for equality: its segments are unknown.
        self.segments = None if cdk.Token.is_unresolved(prefix) else [s for s in prefix.split("/") if s]

    def holds(self, other: _Destination) -> bool:
        """True when ``other``'s prefix lies strictly inside this one's, in the same bucket."""
        if self.bucket_key != other.bucket_key or self.segments is None or other.segments is None:
            return False
        return len(self.segments) < len(other.segments) and other.segments[: len(self.segments)] == self.segments

    def shown_prefix(self) -> str:
        return f"prefix {rules.show(self.prefix)}" if self.prefix else "no prefix (the whole bucket)"


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
        """Problems with the exports registered before this one (each pair is reported once)."""
        own = self._own
        earlier = self._registry.destinations[: self._registry.destinations.index(own)]
        problems = []
        same = next((d for d in earlier if d.key == own.key), None)
        if same is not None:
            problems.append(
                f"ForecastExport {own.path} and ForecastExport {same.path} both write to bucket {own.bucket_shown} "
                f"under prefix {rules.show(own.prefix)}: their files would mix, and grant_read on one would read the "
                "other's. Give each export its own prefix"
            )
        for other in earlier:
            for outer, inner in ((other, own), (own, other)):
                if outer.holds(inner):
                    problems.append(
                        f"ForecastExport {inner.path} writes to bucket {own.bucket_shown} under "
                        f"{inner.shown_prefix()}, inside the {outer.shown_prefix()} of ForecastExport {outer.path}: "
                        f"grant_read on {outer.path} would read {inner.path}'s files too. Give each export a prefix "
                        "that is not inside another's (siblings such as 'exports/daily' and 'exports/returns')"
                    )
        return problems
