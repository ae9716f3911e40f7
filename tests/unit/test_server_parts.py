"""Parts of `veokit serve` that need no server: errors named as each route's caller names its fields, the studio's
model list, metrics series that exist before their first event, and the service's log."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest

from veokit import errors as E
from veokit.models.catalog import default_catalog
from veokit.server.bridge import BRIDGE_FIELDS
from veokit.server.errors import ApiError, from_veokit, renamed
from veokit.server.metrics import Metrics
from veokit.server.serve import _log_to_stderr
from veokit.server.studio import studio_models
from veokit.service import Meters

TODAY = dt.date(2026, 10, 1)


def test_errors_name_openais_parameters_in_param_and_message() -> None:
    err = from_veokit(E.InvalidRequest("duration_seconds: 5 s is not supported", field="duration_seconds"))
    assert (err.status, err.param, err.message) == (400, "seconds", "seconds: 5 s is not supported")
    err = from_veokit(E.InvalidRequest("aspect_ratio: 1:1 is not offered", field="aspect_ratio"))
    assert (err.param, err.message) == ("size", "size: 1:1 is not offered")
    err = from_veokit(E.InvalidRequest("reference_images.1: not an image", field="reference_images.1"))
    assert (err.param, err.message) == ("reference_images", "reference_images.1: not an image")
    # The bridge's body calls them otherwise.
    bridged = renamed(from_veokit(E.InvalidRequest("image: truncated", field="image")), BRIDGE_FIELDS)
    assert (bridged.param, bridged.message) == ("image", "image: truncated")
    sized = renamed(ApiError(400, "size: '1:1' is not supported", param="size"), BRIDGE_FIELDS)
    assert (sized.param, sized.message) == ("aspectRatio", "aspectRatio: '1:1' is not supported")


def test_an_output_directory_the_service_cannot_write_is_its_problem_not_the_callers() -> None:
    err = from_veokit(
        E.InvalidRequest("out_dir: cannot save videos in /srv/videos (Read-only file system)", field="out_dir")
    )
    assert (err.status, err.type, err.code, err.param) == (503, "server_error", "storage_unavailable", None)
    assert "/srv" not in err.message and "nothing was recorded or paid" in err.message


def test_the_studio_lists_the_rows_a_provider_sells_under_its_own_name() -> None:
    catalog = default_catalog()
    emulated = studio_models(catalog, "emulator", TODAY)  # the emulator sells Vertex's rows
    vertex = studio_models(catalog, "vertex", TODAY)
    assert emulated and [m.model for m in emulated] == [m.model for m in vertex]
    assert {m.provider for m in emulated} == {"emulator"} and {m.provider for m in vertex} == {"vertex"}
    assert len({m.provider for m in studio_models(catalog, "auto", TODAY)}) > 1


def test_every_counter_has_a_series_for_every_provider_in_use() -> None:
    meters = Meters(
        jobs={("succeeded", "vertex"): 1},
        submits={"vertex": 1},
        polls={"vertex": 3},
        retries={},
        rate_limited={},
        download_bytes={"vertex": 10},
        breakers={"vertex": "closed", "fal": "closed"},
        spend_today_usd={"vertex": 0.4},
    )
    text = Metrics().render(meters).decode()
    for line in (
        'veokit_retries_total{provider="vertex"} 0.0',
        'veokit_rate_limited_total{provider="fal"} 0.0',
        'veokit_submits_total{provider="vertex"} 1.0',
    ):
        assert line in text, line


@pytest.fixture
def veokit_logger() -> Iterator[logging.Logger]:
    ours, emulator = logging.getLogger("veokit"), logging.getLogger("veokit.emulator")
    saved = (ours.handlers[:], ours.level, ours.propagate, emulator.level)
    yield ours
    ours.handlers, ours.level, ours.propagate = list(saved[0]), saved[1], saved[2]
    emulator.setLevel(saved[3])


def test_the_service_logs_its_access_lines_whatever_the_cli_set(veokit_logger: logging.Logger) -> None:
    logging.getLogger().setLevel(logging.WARNING)  # as the CLI leaves it without --verbose
    veokit_logger.setLevel(logging.NOTSET)
    _log_to_stderr()
    access = logging.getLogger("veokit.server.access")
    assert access.isEnabledFor(logging.INFO)
    [handler] = veokit_logger.handlers
    assert handler.formatter is not None and "%(asctime)s" in (handler.formatter._fmt or "")
    assert veokit_logger.propagate is False  # not printed twice through the CLI's root handler
    assert not logging.getLogger("veokit.emulator").isEnabledFor(logging.INFO)  # its own per-request lines
