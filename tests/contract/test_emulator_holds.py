"""Contract: the emulator's holds keep an operation running, or a request parked, until the test releases it.

These are what the rest of the suite uses instead of "the emulator takes N seconds, so by then it will...":
a held state lasts however slow the machine is, and ends exactly when the test says.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from veokit.emulator import EmulatorServer

from .test_emulator_fal import APP
from .test_emulator_fal import AUTH as FAL_AUTH
from .test_emulator_fal import submit as fal_submit
from .test_emulator_fal import wait as fal_wait
from .test_emulator_vertex import body, poll, submit, wait_done


def until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait for a condition the test does not control the timing of (a request reaching the server)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def holds(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get("/_emulator/holds").json()["holds"]
    return found


class Background:
    """A blocking call on a thread: the request a hold parks."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        self.result = fn()

    def join(self) -> Any:
        self._thread.join(30)
        assert not self._thread.is_alive()
        return self.result


def test_an_operation_hold_keeps_matching_operations_running_until_released(
    emulator: EmulatorServer, emu_http: httpx.Client
) -> None:
    hold = emu_http.post("/_emulator/holds", json={"prompt": "slow"}).json()
    assert hold == {"id": "hold-1", "target": "operation", "model": None, "prompt": "slow", "held": 0}
    held = submit(emu_http, body("a slow sunrise"))
    free = submit(emu_http, body("a quick sunset"))
    wait_done(emu_http, free)  # the hold selects by prompt: the other operation finishes as usual
    emulator.state.clock.advance(86400)  # however much time passes
    for _ in range(3):
        assert "done" not in poll(emu_http, held).json()
    assert holds(emu_http)[0]["held"] == 1
    released = emu_http.delete(f"/_emulator/holds/{hold['id']}").json()["released"]
    assert [h["id"] for h in released] == ["hold-1"] and holds(emu_http) == []
    assert "videos" in wait_done(emu_http, held)["response"]
    assert emu_http.delete("/_emulator/holds/hold-1").status_code == 404  # gone once released


def test_a_hold_by_model_also_keeps_reseller_tasks_running(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    emu_http.post("/_emulator/holds", json={"model": "fal-ai/veo3.1/fast"}).raise_for_status()
    rid = fal_submit(emu_http)["request_id"]
    emulator.state.clock.advance(3600)
    status = emu_http.get(f"/{APP}/requests/{rid}/status", headers=FAL_AUTH).json()["status"]
    assert status in ("IN_QUEUE", "IN_PROGRESS")
    assert emu_http.delete("/_emulator/holds").json()["released"][0]["held"] == 1
    assert fal_wait(emu_http, rid)["status"] == "COMPLETED"


def test_a_submit_held_before_its_body_is_read_has_not_been_accepted(
    emulator: EmulatorServer, emu_http: httpx.Client
) -> None:
    emu_http.post("/_emulator/holds", json={"target": "submit", "id": "gate"}).raise_for_status()
    call = Background(lambda: submit(emu_http, body("parked")))
    until(lambda: holds(emu_http)[0]["waiting"] == 1)
    assert emulator.stats()["submits_total"] == 0 and emulator.stats()["operations"] == 0
    emu_http.delete("/_emulator/holds/gate").raise_for_status()
    name = call.join()
    assert emulator.stats()["submits_total"] == 1 and name.rpartition("/")[2] in emulator.state.operations


def test_a_submit_held_after_it_was_accepted_is_a_paid_call_in_flight(
    emulator: EmulatorServer, emu_http: httpx.Client
) -> None:
    emu_http.post("/_emulator/holds", json={"target": "submit", "when": "after_body"}).raise_for_status()
    call = Background(lambda: submit(emu_http, body("in flight")))
    until(lambda: holds(emu_http)[0]["waiting"] == 1)
    [op_id] = list(emulator.state.operations)  # accepted and billed; the client has no answer yet
    assert emulator.stats()["submits_total"] == 1
    emu_http.delete("/_emulator/holds").raise_for_status()
    assert call.join().endswith(op_id)


def test_a_poll_hold_parks_polls_and_reset_releases_everything(
    emulator: EmulatorServer, emu_http: httpx.Client
) -> None:
    name = submit(emu_http, body("watched"))
    emu_http.post("/_emulator/holds", json={"target": "poll"}).raise_for_status()
    call = Background(lambda: poll(emu_http, name).status_code)
    until(lambda: holds(emu_http)[0]["waiting"] == 1)
    emu_http.post("/_emulator/reset").raise_for_status()  # a reset never leaves a request parked forever
    assert call.join() in (200, 404)  # answered (the operation itself was forgotten by the reset)
    assert holds(emu_http) == []


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"target": "everything"}, "target must be one of"),
        ({"target": "poll", "prompt": "x"}, "prompt can only select operations"),
        ({"target": "poll", "when": "after_body"}, "after_body only for target: submit"),
        ({"model": ""}, "model must be a non-empty string"),
        ({"for": "ever"}, "unknown fields ['for']"),
        ([], "expected an object"),
    ],
)
def test_a_bad_hold_is_refused_with_the_field_named(emu_http: httpx.Client, doc: Any, needle: str) -> None:
    r = emu_http.post("/_emulator/holds", json=doc)
    assert r.status_code == 400 and needle in r.json()["error"]["message"]
    assert holds(emu_http) == []


def test_hold_ids_are_unique(emu_http: httpx.Client) -> None:
    assert emu_http.post("/_emulator/holds", json={"id": "mine"}).status_code == 200
    r = emu_http.post("/_emulator/holds", json={"id": "mine"})
    assert r.status_code == 400 and "in place already" in r.json()["error"]["message"]


def test_a_frozen_clock_stands_still_until_advanced(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    frozen = emu_http.post("/_emulator/clock", json={"freeze": True}).json()
    assert frozen["frozen"] is True
    name = submit(emu_http, body("frozen in time"))  # latency 0.3 s, on a clock that does not move
    time.sleep(0.5)  # real time passing changes nothing (this sleep can only make the test stricter)
    assert "done" not in poll(emu_http, name).json()
    assert emu_http.get("/_emulator/clock").json()["epoch_s"] == frozen["epoch_s"]
    moved = emu_http.post("/_emulator/clock", json={"advance_s": 0.3}).json()
    assert moved["epoch_s"] == pytest.approx(frozen["epoch_s"] + 0.3) and moved["frozen"] is True
    assert "videos" in wait_done(emu_http, name)["response"]  # ready by the emulator's clock
    resumed = emu_http.post("/_emulator/clock", json={"freeze": False}).json()
    assert resumed["frozen"] is False and resumed["epoch_s"] >= moved["epoch_s"]  # never back
    for bad in ({"freeze": "yes"}, {}, {"rewind_s": 3}):
        assert emu_http.post("/_emulator/clock", json=bad).status_code == 400


def test_reset_leaves_no_clock_frozen(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    emu_http.post("/_emulator/clock", json={"freeze": True}).raise_for_status()
    emu_http.post("/_emulator/reset").raise_for_status()
    assert emu_http.get("/_emulator/clock").json()["frozen"] is False
