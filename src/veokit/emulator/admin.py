"""The admin API under ``/_emulator`` (no auth: it only exists on the emulator).

- ``GET  /_emulator/stats``        counters; credentials appear only as ids, never as secrets
- ``GET  /_emulator/operations``   every Google operation with its state, times and the parameters it was sent
- ``GET  /_emulator/tasks``        every Kie, fal and Replicate task with its state and the inputs it was sent
- ``POST /_emulator/reset``        forget operations, files, objects, faults and counters
- ``GET|POST /_emulator/clock``    read / advance / freeze the clock: ``{"advance_s": 172800}``,
  ``{"freeze": true}`` (time stands still but for ``advance_s``), ``{"freeze": false}``
- ``GET|POST /_emulator/config``   read / change latency: ``{"latency_s": 0.1}``, ``{"latency_range_s": [1, 3]}``
- ``GET|POST|DELETE /_emulator/faults``  list / append rules (a list, or ``{"rules": [...]}``) / clear
- ``GET|POST|DELETE /_emulator/holds``   list / add a hold (``{"target": "operation", "prompt": "slow"}``) / release
  all; ``DELETE /_emulator/holds/{id}`` releases one (see holds.py)
- ``GET  /_emulator/health``
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.clock import rfc3339
from veokit.emulator.errors import invalid_argument, not_found
from veokit.emulator.faults import FaultSpecError, parse_rule
from veokit.emulator.holds import HoldSpecError, parse_hold
from veokit.emulator.routing import emulator_state, read_json


async def stats(request: Request) -> Response:
    return JSONResponse(emulator_state(request).stats())


async def operations(request: Request) -> Response:
    return JSONResponse({"operations": emulator_state(request).describe_operations()})


async def tasks(request: Request) -> Response:
    return JSONResponse({"tasks": emulator_state(request).tasks.describe_all()})


async def reset(request: Request) -> Response:
    emulator_state(request).reset()
    return JSONResponse({"ok": True})


async def clock(request: Request) -> Response:
    state = emulator_state(request)
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict) or not body or set(body) - {"advance_s", "freeze"}:
            raise invalid_argument('expected {"advance_s": seconds} and/or {"freeze": true|false}')
        advance = body.get("advance_s", 0)
        if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
            raise invalid_argument("advance_s must be a number >= 0")
        freeze = body.get("freeze")
        if freeze is not None and not isinstance(freeze, bool):
            raise invalid_argument("freeze must be true or false")
        if freeze is True:
            state.clock.freeze()
        state.clock.advance(float(advance))
        if freeze is False:
            state.clock.resume()
    now = state.clock.now()
    return JSONResponse(
        {"now": rfc3339(now), "epoch_s": now, "offset_s": state.clock.offset_s, "frozen": state.clock.frozen}
    )


async def config(request: Request) -> Response:
    state = emulator_state(request)
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise invalid_argument("expected an object")
        unknown = set(body) - {"latency_s", "latency_range_s"}
        if unknown:
            raise invalid_argument(f"only latency_s and latency_range_s can change at runtime, not {sorted(unknown)}")
        rng: Any = body.get("latency_range_s", False)
        if rng not in (None, False) and not (isinstance(rng, list) and len(rng) == 2):
            raise invalid_argument("latency_range_s must be [lo, hi] or null")
        try:
            state.set_latency(body.get("latency_s"), tuple(rng) if isinstance(rng, list) else rng)
        except (ValueError, TypeError) as e:
            raise invalid_argument(str(e)) from None
    cfg = state.config
    return JSONResponse(
        {
            "latency_s": cfg.latency_s,
            "latency_range_s": cfg.latency_range_s,
            "retention_s": cfg.retention_s,
            "as_of": cfg.today().isoformat(),
            "token_lifetime_s": cfg.token_lifetime_s,
        }
    )


async def faults(request: Request) -> Response:
    state = emulator_state(request)
    if request.method == "DELETE":
        state.faults.clear()
    elif request.method == "POST":
        body = await read_json(request)
        docs = body.get("rules") if isinstance(body, dict) else body
        if not isinstance(docs, list):
            raise invalid_argument('expected a list of fault rules (or {"rules": [...]})')
        try:
            rules = [parse_rule(d) for d in docs]
        except FaultSpecError as e:
            raise invalid_argument(str(e)) from None
        state.faults.add(rules)  # all or nothing: one bad rule adds none
    return JSONResponse({"rules": state.faults.describe()})


async def holds(request: Request) -> Response:
    state = emulator_state(request)
    if request.method == "DELETE":
        return JSONResponse({"released": [h.describe() for h in state.holds.release()]})
    if request.method == "POST":
        try:
            hold = state.holds.add(**parse_hold(await read_json(request)))
        except HoldSpecError as e:
            raise invalid_argument(str(e)) from None
        return JSONResponse(hold.describe())
    return JSONResponse({"holds": state.holds.describe()})


async def release_hold(request: Request) -> Response:
    released = emulator_state(request).holds.release(request.path_params["hold_id"])
    if not released:
        raise not_found(f"no hold named {request.path_params['hold_id']!r}")
    return JSONResponse({"released": [h.describe() for h in released]})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


routes = [
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/operations", operations, methods=["GET"]),
    Route("/_emulator/tasks", tasks, methods=["GET"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/clock", clock, methods=["GET", "POST"]),
    Route("/_emulator/config", config, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/holds", holds, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/holds/{hold_id}", release_hold, methods=["DELETE"]),
    Route("/_emulator/health", health, methods=["GET"]),
]
