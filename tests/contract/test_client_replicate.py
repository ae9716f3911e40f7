"""Conformance: the official ``replicate`` Python client, unmodified, against the emulator.

Configuration only: ``Client(api_token=..., base_url=emulator)``, a short ``poll_interval`` and, because the client
wraps only ``https:`` outputs in ``FileOutput``, the emulator's TLS listener trusted through ``SSL_CERT_FILE``.
Create, poll, list and fetch go through the client (``run()`` with its blocking ``Prefer: wait`` create, and
``predictions.create`` + ``wait()``); the MP4 it hands back must be byte for byte the one the emulator rendered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput

from veokit.emulator import EmulatorServer
from veokit.emulator import replicate as emulator_replicate
from veokit.media.probe import first_frame_rgb, probe_mp4

TOKEN = "test-replicate-token"
MODEL = "google/veo-3.1-fast"
INPUT = {"prompt": "a red fox trotting through snow", "duration": 4, "resolution": "720p", "seed": 7}


@pytest.fixture
def emulator(tls_emulator: EmulatorServer) -> EmulatorServer:
    return tls_emulator


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[replicate.Client]:
    c = replicate.Client(api_token=TOKEN, base_url=emulator.base_url)
    c.poll_interval = 0.02  # the client's own knob (also REPLICATE_POLL_INTERVAL)
    yield c


def rendered_bytes(emulator: EmulatorServer, prediction_id: str) -> bytes:
    task = emulator.state.tasks.get(prediction_id, "replicate")
    assert task is not None
    return task.renders["main"].result().path.read_bytes()


def assert_video(data: bytes, tmp_path: Path, size: tuple[int, int] = (1280, 720), seconds: float = 4) -> None:
    path = tmp_path / f"{hashlib.sha256(data).hexdigest()[:12]}.mp4"
    path.write_bytes(data)
    info = probe_mp4(path)
    assert (info.width, info.height) == size
    assert info.duration_s == pytest.approx(seconds, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


def test_models_get_parses_and_counts_runs(client: replicate.Client, emulator: EmulatorServer) -> None:
    model = client.models.get(MODEL)
    assert (model.owner, model.name, model.visibility) == ("google", "veo-3.1-fast", "public")
    assert model.run_count == 0
    assert model.latest_version is not None
    schema = model.latest_version.openapi_schema["components"]["schemas"]["Input"]
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["duration"]["enum"] == [4, 6, 8]
    assert "reference_images" not in schema["properties"]  # the Fast model takes none
    assert (
        "reference_images"
        in client.models.get("google/veo-3.1").latest_version.openapi_schema["components"]["schemas"]["Input"][
            "properties"
        ]
    )
    client.models.predictions.create(model=MODEL, input=INPUT)
    assert client.models.get(MODEL).run_count == 1
    with pytest.raises(ReplicateError) as missing:
        client.models.get("google/veo-9")
    assert missing.value.status == 404


def test_run_blocks_with_prefer_wait_and_returns_the_rendered_file(
    client: replicate.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    output = client.run(MODEL, input=INPUT)  # a blocking create ("Prefer: wait"), then the file output
    assert isinstance(output, FileOutput) and output.url.startswith("https://")
    data = output.read()
    assert_video(data, tmp_path)
    [task] = emulator.state.tasks.all()
    assert data == rendered_bytes(emulator, task.id)
    stats = emulator.stats()
    assert stats["submits_total"] == 1 and stats["polls"] == 0  # the held create answered with the result


def test_create_poll_and_fetch_without_waiting(
    client: replicate.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.state.set_latency(3600.0)  # queued until the clock moves: the client must poll
    prediction = client.models.predictions.create(model=MODEL, input={**INPUT, "aspect_ratio": "9:16"})
    assert prediction.status == "starting"
    prediction.reload()
    assert prediction.status == "starting"
    emulator.state.clock.advance(3600)
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert isinstance(prediction.output, str)
    data = FileOutput(prediction.output, client).read()
    assert_video(data, tmp_path, size=(720, 1280))
    assert data == rendered_bytes(emulator, prediction.id)
    assert emulator.stats()["submits_total"] == 1


def test_filtered_prediction_raises_model_error_with_e005(client: replicate.Client) -> None:
    with pytest.raises(ModelError) as exc:
        client.run(MODEL, input={**INPUT, "prompt": "x [emulate:filtered]"})
    assert exc.value.prediction.status == "failed"
    assert "(E005)" in str(exc.value.prediction.error)


def test_cancel_through_the_client(client: replicate.Client, emulator: EmulatorServer) -> None:
    emulator.state.set_latency(3600.0)
    prediction = client.models.predictions.create(model=MODEL, input=INPUT)
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "canceled"


def test_image_input_sent_inline_by_the_client(
    client: replicate.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A local image as the client sends it with ``file_encoding_strategy="base64"`` (a data URI). The default
    strategy uploads it to ``POST /v1/files`` first, which the emulator does not serve."""
    image = tmp_path / "first.png"
    Image.new("RGB", (1280, 720), (200, 30, 40)).save(image)
    with image.open("rb") as f:
        output = client.run(MODEL, input={**INPUT, "image": f}, file_encoding_strategy="base64")
    assert isinstance(output, FileOutput)
    video = tmp_path / "i2v.mp4"
    video.write_bytes(output.read())
    frame = first_frame_rgb(video).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12


def test_predictions_list_pages_newest_first(
    client: replicate.Client, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``predictions.list()`` and ``paginate`` follow the ``next`` URL as given; running predictions are listed."""
    monkeypatch.setattr(emulator_replicate, "PAGE_SIZE", 2)  # 100 on Replicate; two pages from three here
    emulator.state.set_latency(3600.0)
    created = []
    for seed in (1, 2, 3):
        created.append(client.models.predictions.create(model=MODEL, input={**INPUT, "seed": seed}))
        emulator.state.clock.advance(1)
    first = client.predictions.list()
    assert [p.id for p in first.results] == [created[2].id, created[1].id] and first.next and first.previous is None
    newest = first.results[0]
    assert (newest.status, newest.model, newest.input) == ("starting", MODEL, {**INPUT, "seed": 3})
    assert newest.created_at and newest.created_at > first.results[1].created_at
    second = client.predictions.list(first.next)
    assert [p.id for p in second.results] == [created[0].id] and second.next is None and second.previous
    everything = [p.id for page in replicate.paginate(client.predictions.list) for p in page]
    assert everything == [c.id for c in reversed(created)]
