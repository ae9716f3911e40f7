"""`schemathesis` over the service's own `/openapi.json`, with a valid key: every operation, generated inputs,
no server error and no response outside the documented schema."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from veokit.emulator import EmulatorServer

from .conftest import settings_for
from .service_fixtures import InProcessService, make_key


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(emu: EmulatorServer, tmp_path: Path) -> None:
    # Jobs are recorded, never run (no worker): the fuzzer checks the API, not the provider, and stays cheap.
    settings = settings_for(emu, tmp_path, server_key_max_in_flight=10_000)
    svc = InProcessService(settings, run_jobs=False, deliver_webhooks=False).start()
    try:
        key = make_key(settings, "fuzz").secret
        st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
        run = subprocess.run(
            [
                st,
                "run",
                f"{svc.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {key}",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
                # Per operation in the fuzzing phase. The coverage phase (boundary and invalid values of every
                # parameter, deterministic: the bulk of the ~1000 cases) and the stateful phase do not depend on it.
                "--max-examples",
                "5",
                "--seed",
                "1",
                "--generation-deterministic",
                "--request-timeout",
                "30",
                "--exclude-path",
                # A stream that lasts until its job ends (never, here): test_server_streams covers it.
                "/v1/videos/{video_id}/events",
            ],
            capture_output=True,
            text=True,
            timeout=240,  # under the test timeout, so a stuck run fails with its output
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        # Not vacuous: it tested every operation it selected, and with the key (it made videos, not only 401s).
        selected = re.search(r"Selected:\s+(\d+)/\d+", run.stdout)
        tested = re.search(r"Tested:\s+(\d+)", run.stdout)
        assert selected and tested and int(tested[1]) == int(selected[1]) >= 15, run.stdout[-3000:]
        made = httpx.get(f"{svc.url}/v1/videos", headers={"Authorization": f"Bearer {key}"}).json()["data"]
        assert made, "schemathesis created no video with the key"
    finally:
        svc.stop()
