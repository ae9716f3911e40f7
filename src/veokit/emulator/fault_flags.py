"""`--fault ROUTE:KIND[:ARG][@PROBABILITY]` → an admin-API fault rule (the same JSON the endpoint takes).

Without ``@PROBABILITY`` the rule fires once, on the next matching request, then is gone (``times`` 1: a
scripted one-off, like the admin API's default). With it, the rule stays for the emulator's lifetime and fires on
each matching request with that probability (``times`` -1), so ``@1`` means every matching request.
"""

from __future__ import annotations

from typing import Any

from veokit.errors import InvalidRequest


def parse_fault_flag(text: str) -> dict[str, Any]:
    spec, _, prob = text.partition("@")
    parts = spec.split(":")
    if len(parts) < 2:
        raise InvalidRequest(
            f"--fault {text!r}: write ROUTE:KIND[:ARG][@PROBABILITY], e.g. submit:http:429@0.1", field="fault"
        )
    route, kind, arg = parts[0], parts[1], ":".join(parts[2:])
    fault: dict[str, Any] = {"kind": kind}
    try:
        if kind == "http":
            fault["status"] = int(arg)
        elif kind == "reset":
            fault["when"] = arg or "before_body"
        elif kind == "truncate":
            fault["after_bytes"] = int(arg or 0)
        elif kind == "delay":
            fault["seconds"] = float(arg)
        elif kind == "outcome":
            fault["outcome"] = arg
        elif kind == "corrupt" and arg:
            fault["at_fraction"] = float(arg)
    except ValueError:
        raise InvalidRequest(f"--fault {text!r}: {arg!r} is not a number", field="fault") from None
    rule: dict[str, Any] = {"route": route, "fault": fault}
    if prob:
        try:
            rule["probability"] = float(prob)
        except ValueError:
            raise InvalidRequest(f"--fault {text!r}: probability {prob!r} is not a number", field="fault") from None
        rule["times"] = -1  # a rate, not a one-off: it lasts as long as the emulator
    return rule
