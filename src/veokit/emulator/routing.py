"""Small helpers every route module shares: the state, JSON bodies, and firing scripted faults."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from veokit.emulator.errors import invalid_argument
from veokit.emulator.faults import Fault
from veokit.emulator.keepalive import on_reused_connection
from veokit.emulator.state import EmulatorState

log = logging.getLogger("veokit.emulator")


def emulator_state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_argument("Invalid JSON payload received. Unexpected token.") from None


async def fire_fault(
    state: EmulatorState, route: str, model: str | None, *capabilities: str, request: Request | None = None
) -> tuple[Fault | None, Response | None]:
    """Consume the next matching fault rule; returns it and, if it answers instead of the route, the answer.

    The ``pre`` stage (a request just arrived) and the ``after`` stage (a submit accepted) are also where a
    request hold parks the request until the test releases it (see ``holds.py``).
    """
    if "pre" in capabilities:
        await state.holds.park(route, model, "before_body")
        if request is not None and on_reused_connection(request):
            capabilities = (*capabilities, "reused")
    elif "after" in capabilities:
        await state.holds.park(route, model, "after_body")
    fault = state.faults.take(route, model, frozenset(capabilities))
    if fault is None:
        return None, None
    state.stats_counters.fault()
    # One line per scripted fault, so a console shows why a request misbehaved (expected, not an error).
    details = ", ".join(f"{k}={v}" for k, v in fault.describe().items() if k != "kind")
    where = f"{route} ({model})" if model else route
    log.info("fault: %s on %s%s", fault.kind, where, f": {details}" if details else "")
    return fault, await fault.intercept(request)
