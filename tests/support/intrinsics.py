"""CloudFormation's intrinsic functions, resolved with callbacks for what a template cannot know.

The local CloudFormation driver (plausible names and ARNs) and the IAM size measure (the longest
values AWS allows) resolve templates the same way and differ only in what a Ref, a GetAtt or an
import stands for. Test support code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def resolve(
    value: Any,
    ref: Callable[[str], Any],
    get_att: Callable[[str, str], Any],
    import_value: Callable[[str], Any],
) -> Any:
    """``value`` with Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::ImportValue and Fn::Sub resolved."""

    def again(inner: Any) -> Any:
        return resolve(inner, ref, get_att, import_value)

    if isinstance(value, list):
        return [again(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return ref(arg)
        if key == "Fn::GetAtt":
            return get_att(*(arg if isinstance(arg, list) else arg.split(".", 1)))
        if key == "Fn::Join":
            return arg[0].join(str(again(v)) for v in again(arg[1]))
        if key == "Fn::Select":
            return again(arg[1])[int(again(arg[0]))]
        if key == "Fn::Split":
            return str(again(arg[1])).split(arg[0])
        if key == "Fn::ImportValue":
            return import_value(str(again(arg)))
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], again(arg[1]))

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return str(variables[name])
                if "." in name and not name.startswith("AWS::"):
                    return str(get_att(*name.split(".", 1)))
                return str(ref(name))

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    return {k: again(v) for k, v in value.items()}
