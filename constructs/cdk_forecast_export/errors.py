"""Errors the construct raises at synth time."""

from __future__ import annotations


class ForecastExportValidationError(ValueError):
    """Every problem found in a ForecastExport's (or ForecastExportProvider's) props, raised once with all of them."""

    def __init__(self, path: str, problems: list[str], *, construct: str = "ForecastExport") -> None:
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{construct} {path} has {len(problems)} invalid prop(s):\n{listing}")


class ForecastExportTypeError(ForecastExportValidationError, TypeError):
    """Props of the wrong Python type (a TypeError, as jsii-generated libraries raise, and a validation error),
    raised before any other check with every such prop, what was given and what is expected."""
