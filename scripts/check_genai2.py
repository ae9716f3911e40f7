"""google-genai 2.x against the emulator: a check that lives outside the test suite.

google-genai 2.x cannot be installed beside the 3.x the tests pin, and it is the last major version that still
generates videos on the Gemini Developer API, so this script runs in an environment of its own (it needs the
package registry once, which is why CI does not run it):

    uv run --frozen --with 'google-genai>=2,<3' python scripts/check_genai2.py

It starts the emulator with its TLS listener (2.x, like 3.x, downloads a generated file only from an https://
URI) and, with the SDK configured and otherwise unmodified, checks: Gemini API create → poll → files.download;
Vertex project mode with OAuth credentials; a filtered and a failed operation; an API error. Every downloaded
video must be byte for byte what the emulator rendered. Prints one line per check; exits 1 if any failed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from veokit.emulator import EmulatorConfig, EmulatorServer

GEMINI_MODEL = "veo-3.1-fast-generate-preview"  # on the Gemini API until 2026-10-22; the emulator is set before
VERTEX_MODEL = "veo-3.1-fast-generate-001"


def main() -> int:
    from google import genai
    from google.genai import errors, types
    from google.oauth2.credentials import Credentials

    version = getattr(genai, "__version__", "?")
    if not version.startswith("2."):
        print(f"expected google-genai 2.x, found {version}: run it with uv run --with 'google-genai>=2,<3'")
        return 2
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EmulatorConfig(latency_s=0.2, as_of=dt.date(2026, 10, 1), storage_dir=Path(tmp))
        with EmulatorServer(cfg, tls=True) as emu:
            os.environ["SSL_CERT_FILE"] = str(emu.ca_file)  # configuration only: trust the emulator's certificate
            options = types.HttpOptions(base_url=emu.base_url + "/")
            gemini = genai.Client(api_key="test-key", http_options=options)
            vertex = genai.Client(
                vertexai=True,
                project="p",
                location="us-central1",
                credentials=Credentials(token="test-token"),  # noqa: S106 - the emulator's default test token
                http_options=options,
            )
            config = types.GenerateVideosConfig(duration_seconds=4, aspect_ratio="16:9")

            def generate(client: Any, model: str, prompt: str, cfg: Any = config) -> Any:
                source = types.GenerateVideosSource(prompt=prompt)
                return wait(client, client.models.generate_videos(model=model, source=source, config=cfg))

            def wait(client: Any, op: Any) -> Any:
                deadline = time.monotonic() + 120
                while not op.done:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{op.name} not done")
                    time.sleep(0.1)
                    op = client.operations.get(op)
                return op

            def rendered(file_id: str) -> bytes:
                stored = emu.state.file(file_id)
                assert stored is not None, file_id
                return stored.file.path.read_bytes()

            def gemini_roundtrip() -> str:
                op = generate(gemini, GEMINI_MODEL, "paper boats")
                video = op.response.generated_videos[0].video
                assert video.uri.startswith("https://"), video.uri
                data = gemini.files.download(file=video)
                assert data == video.video_bytes == rendered(video.uri.split("files/")[1].split(":")[0])
                return f"{len(data)} bytes, unchanged"

            def vertex_roundtrip() -> str:
                op = generate(vertex, VERTEX_MODEL, "a lighthouse")
                data = op.response.generated_videos[0].video.video_bytes
                assert data[4:8] == b"ftyp"
                return f"{len(data)} bytes inline"

            def outcomes() -> str:
                blocked = generate(vertex, VERTEX_MODEL, "[emulate:filtered] x")
                assert blocked.response.rai_media_filtered_count == 1 and not blocked.response.generated_videos
                failed = generate(vertex, VERTEX_MODEL, "[emulate:failed] x")
                assert failed.error["code"] == 13 and "status" not in failed.error
                return "filtered and failed parse"

            def api_error() -> str:
                try:
                    generate(vertex, VERTEX_MODEL, "x", types.GenerateVideosConfig(aspect_ratio="1:1"))
                except errors.ClientError as exc:
                    assert (exc.code, exc.status) == (400, "INVALID_ARGUMENT"), exc
                    return "400 INVALID_ARGUMENT raised"
                raise AssertionError("no error")

            checks: list[tuple[str, Callable[[], str]]] = [
                ("gemini create/poll/files.download", gemini_roundtrip),
                ("vertex project mode", vertex_roundtrip),
                ("operation outcomes", outcomes),
                ("api errors", api_error),
            ]
            for label, check in checks:
                try:
                    print(f"ok    {label}: {check()}")
                except Exception:
                    failures += 1
                    print(f"FAIL  {label}:\n{traceback.format_exc()}")
    print(f"google-genai {version}: {len(checks) - failures}/{len(checks)} checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
